//! What an object carries on the remote for the other gateways of a fleet (`--fleet`): its
//! content headers and user metadata, its tags, ACL and additional checksum (and a multipart
//! object's ETag), which a file alone cannot hold and which each gateway's index otherwise keeps
//! for its own writes only. One ASCII value (JSON, then base64url) that the remote keeps as its
//! own metadata of the object (`x-amz-meta-s3gate` on S3), so that the stat that opens an object
//! for reading brings it at no extra request.
//!
//! What changes after the object was written (its tags and ACL, an additional checksum known
//! only at the end of the body) is carried by replacing the store's metadata of the object
//! (`Remote::replace_meta`: on S3 a copy of the object onto itself, on the store's side). The
//! store then holds a new version of the same bytes with a time of its own, so the value also
//! carries the object's ETag and Last-Modified, which stay those of the write.
//!
//! What does not fit in the store's metadata goes to a sidecar the object names
//! (`sidecar.rs`): all of it where the attributes are too long, or the ETag of a PUT the store
//! received in parts, known only once the body is over.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::commit::At;
use crate::error::{Result, VfsError};
use crate::index::{Checksum, ContentHeaders, MetaValue, ObjectAttrs, ObjectMeta};
use crate::object::ObjectInfo;
use crate::remote::{StoreCond, Upload};
use crate::retention::ObjectLock;
use crate::version_id::VersionId;
use crate::vfs::Vfs;

/// The longest value carried: S3 takes 2 KB of user metadata per object (name and value), and
/// stores in front of which other gateways run refuse a write over their limit. Attributes that
/// do not fit go to a sidecar the object names (`sidecar.rs`).
const MAX_CARRIED: usize = 1800;

/// How often a change of attributes is tried again when another gateway wrote the object
/// between the read of it and the replacement of its metadata.
const RESTAMP_TRIES: usize = 3;

#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(default)]
    headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    user_meta: Vec<(String, MetaValue)>,
    /// Where the store's ETag is not the object's (a multipart object's, made of its parts, or
    /// any object whose metadata was replaced on the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acl: Option<Acl>,
    /// With the checksums of a multipart object's parts while they fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<Checksum>,
    /// A multipart object's part sizes, as runs of one size (`[size, count]`): every part but
    /// the last is usually the same size, so thousands of parts take a few characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<(u64, u32)>,
    /// When the object was written, where the store's time is that of a later replacement of
    /// its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    modified_ns: Option<i64>,
    /// The sidecar this object names (`sidecar.rs`), where it may need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sidecar: Option<String>,
    /// All the object carries is in its sidecar: it would not fit here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    spilled: bool,
    /// Its version id, in a bucket that keeps versions (fleet_versions.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<VersionId>,
    /// Its retention and legal hold, in a bucket with object lock.
    #[serde(default, skip_serializing_if = "is_unlocked")]
    lock: ObjectLock,
}

fn is_unlocked(lock: &ObjectLock) -> bool {
    *lock == ObjectLock::default()
}

/// A write whose object names a sidecar, and what it still has to put there before the object
/// is visible.
pub(crate) struct Pending {
    id: String,
    /// The attributes did not fit in the store's metadata: the sidecar must be written.
    spilled: bool,
    /// The object's version id, which the sidecar carries too.
    version: Option<VersionId>,
}

/// What the version a reader opened carries.
pub(crate) struct Carried {
    /// Its content headers, user metadata, tags, ACL and checksum.
    pub(crate) attrs: ObjectAttrs,
    /// A multipart object's part sizes, where they fitted.
    pub(crate) parts: Vec<u64>,
    pub(crate) etag: Option<String>,
    pub(crate) modified_ns: Option<i64>,
    pub(crate) version: Option<VersionId>,
}

/// The most parts an upload has (S3's limit), and so the most a carried value may expand to.
const MAX_PARTS: usize = 10_000;

/// The value an object written with `attrs` (a multipart object's with its part sizes
/// `parts`, and `etag`, where the store's is not the object's, and the time it was written,
/// where the store's is not that) carries, when it fits. What the object itself answers comes
/// first: where all would not fit, the parts' checksums are left out, then their sizes, and
/// the gateways other than the writer answer the object without them; where it still does not
/// fit, all goes to a sidecar ([`Vfs::seal_spilling`]).
#[cfg(test)]
fn seal(
    attrs: &ObjectAttrs,
    parts: &[u64],
    etag: Option<&str>,
    modified_ns: Option<i64>,
) -> Option<String> {
    fit(envelope(attrs, parts, etag, modified_ns, None))
}

/// [`seal`], with the object's version id where its bucket keeps versions, where it fits.
pub(crate) fn seal_version(
    attrs: &ObjectAttrs,
    parts: &[u64],
    etag: Option<&str>,
    modified_ns: Option<i64>,
    version: Option<VersionId>,
) -> Option<String> {
    fit(envelope(attrs, parts, etag, modified_ns, version))
}

fn envelope(
    attrs: &ObjectAttrs,
    parts: &[u64],
    etag: Option<&str>,
    modified_ns: Option<i64>,
    version: Option<VersionId>,
) -> Envelope {
    Envelope {
        headers: attrs.headers.clone(),
        user_meta: attrs.user_meta.clone(),
        etag: etag.map(str::to_string),
        tags: attrs.tags.clone(),
        acl: attrs.acl.clone(),
        checksum: attrs.checksum.clone(),
        parts: runs(parts),
        modified_ns,
        sidecar: None,
        spilled: false,
        version,
        lock: attrs.lock,
    }
}

/// A new sidecar name (`sidecar.rs`): new for every write, so that a sidecar is never taken
/// for another version's.
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The value of the object whose attributes are all in the sidecar `id`.
fn spilled_to(id: &str) -> String {
    let stub = serde_json::json!({ "sidecar": id, "spilled": true });
    URL_SAFE_NO_PAD.encode(stub.to_string())
}

/// What a sidecar holds: all of the envelope, nothing left out.
fn sidecar_content(envelope: &Envelope) -> Result<Vec<u8>> {
    serde_json::to_vec(envelope).map_err(|e| VfsError::Io(std::io::Error::other(e)))
}

/// `envelope` as the value of the store's metadata, when it fits there (the parts' checksums,
/// then their sizes, left out where needed).
fn fit(mut envelope: Envelope) -> Option<String> {
    loop {
        let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).ok()?);
        if value.len() <= MAX_CARRIED {
            return Some(value);
        }
        match envelope.checksum.as_mut() {
            Some(c) if !c.parts.is_empty() => c.parts.clear(),
            _ if !envelope.parts.is_empty() => envelope.parts.clear(),
            _ => return None,
        }
    }
}

/// Part sizes as runs of one size.
fn runs(parts: &[u64]) -> Vec<(u64, u32)> {
    let mut runs: Vec<(u64, u32)> = Vec::new();
    for &size in parts {
        match runs.last_mut() {
            Some((last, count)) if *last == size => *count += 1,
            _ => runs.push((size, 1)),
        }
    }
    runs
}

/// Part sizes from their runs; none from runs that would make more parts than an upload has.
fn sizes(runs: &[(u64, u32)]) -> Vec<u64> {
    let total: usize = runs.iter().map(|&(_, n)| n as usize).sum();
    if total > MAX_PARTS {
        return Vec::new();
    }
    runs.iter()
        .flat_map(|&(size, n)| std::iter::repeat_n(size, n as usize))
        .collect()
}

/// What a carried value gives back; `None` when it is not one of ours.
#[cfg(test)]
fn unseal(value: &str) -> Option<Carried> {
    open(value).map(Carried::from)
}

/// The envelope a value of the store's metadata holds; `None` when it is not one of ours.
fn open(value: &str) -> Option<Envelope> {
    let json = URL_SAFE_NO_PAD.decode(value).ok()?;
    serde_json::from_slice(&json).ok()
}

/// What the remote keeps of a folder marker's attributes (`sidecar.rs`).
pub(crate) fn marker_content(attrs: &ObjectAttrs) -> Result<Vec<u8>> {
    sidecar_content(&envelope(attrs, &[], None, None, None))
}

/// A folder marker's attributes from what the remote keeps of them; `None` when not ours.
pub(crate) fn marker_attrs(content: &[u8]) -> Option<ObjectAttrs> {
    let envelope: Envelope = serde_json::from_slice(content).ok()?;
    Some(Carried::from(envelope).attrs)
}

/// The sidecar the version `reader` opened names, if any.
pub(crate) fn sidecar_of(reader: &dyn crate::remote::Reader) -> Option<String> {
    reader.store_meta().and_then(open)?.sidecar
}

impl From<Envelope> for Carried {
    fn from(envelope: Envelope) -> Carried {
        Carried {
            attrs: ObjectAttrs {
                headers: envelope.headers,
                user_meta: envelope.user_meta,
                tags: envelope.tags,
                acl: envelope.acl,
                checksum: envelope.checksum,
                lock: envelope.lock,
            },
            parts: sizes(&envelope.parts),
            etag: envelope.etag,
            modified_ns: envelope.modified_ns,
            version: envelope.version,
        }
    }
}

/// Whether `a` and `b` say the same of what an object carries (a checksum by its algorithm
/// and value: the parts' checksums are not always carried).
fn same_carried(a: &ObjectAttrs, b: &ObjectAttrs) -> bool {
    let checksum = |c: &Option<Checksum>| c.as_ref().map(|c| (c.kind.clone(), c.value.clone()));
    a.headers == b.headers
        && a.user_meta == b.user_meta
        && a.tags == b.tags
        && a.acl == b.acl
        && a.lock == b.lock
        && checksum(&a.checksum) == checksum(&b.checksum)
}

impl Vfs {
    /// A new upload at `at` for an object with `attrs` (and `version`, where its bucket keeps
    /// versions): in a fleet it carries them, so that every gateway answers them, and is
    /// published only while `cond` holds, where given. In a fleet the object may name a
    /// sidecar, which [`Vfs::fill_sidecar`] writes (or not) once the body is over.
    pub(crate) async fn create_carrying(
        &self,
        at: At<'_>,
        attrs: &ObjectAttrs,
        version: Option<VersionId>,
        cond: Option<StoreCond>,
    ) -> Result<(Box<dyn Upload>, Option<Pending>)> {
        let store = self.store();
        let (carried, pending) = match &self.fleet {
            Some(_) => {
                let mut envelope = envelope(attrs, &[], None, None, version);
                // Named where the store may make an ETag of parts, so that the MD5 can follow.
                let id = new_id();
                let remote = &self.core.remote;
                let keeps = remote.keeps_meta();
                let may_need = keeps && remote.parts_etag_above() < u64::MAX;
                envelope.sidecar = may_need.then(|| id.clone());
                match fit(envelope) {
                    Some(value) => (
                        Some(value),
                        may_need.then_some(Pending {
                            id,
                            spilled: false,
                            version,
                        }),
                    ),
                    None if keeps => (
                        Some(spilled_to(&id)),
                        Some(Pending {
                            id,
                            spilled: true,
                            version,
                        }),
                    ),
                    // Nothing carried on this remote: no sidecar either.
                    None => (None, None),
                }
            }
            None => (None, None),
        };
        let path = at.path;
        let upload = match (carried, cond) {
            (carried, Some(cond)) => store.create_if(path, carried.as_deref(), cond).await?,
            (Some(value), None) => store.create_with_meta(path, &value).await?,
            (None, None) => store.create(path).await?,
        };
        Ok((upload, pending))
    }

    /// Before the object of a write begun by [`Vfs::create_carrying`] is made visible, with its
    /// body over: writes its sidecar, with all the object carries (`attrs`, and `etag`, the
    /// MD5 the client is answered), where its attributes did not fit in the store's metadata
    /// or where the store received `size` bytes in parts. Whether it did: every gateway then
    /// reads all the object carries from the sidecar, its checksum too.
    pub(crate) async fn fill_sidecar(
        &self,
        at: At<'_>,
        pending: Option<&Pending>,
        attrs: &ObjectAttrs,
        etag: &str,
        size: u64,
    ) -> Result<bool> {
        let Some(pending) = pending else {
            return Ok(false);
        };
        if !pending.spilled && size <= self.core.remote.parts_etag_above() {
            return Ok(false);
        }
        let content = sidecar_content(&envelope(attrs, &[], Some(etag), None, pending.version))?;
        self.write_sidecar(at.bucket, at.key, &pending.id, content)
            .await?;
        Ok(true)
    }

    /// A write begun by [`Vfs::create_carrying`] that failed: its sidecar goes, if written.
    pub(crate) async fn forget_pending(&self, at: At<'_>, pending: Option<&Pending>) {
        if let Some(p) = pending {
            self.drop_sidecar(at.bucket, at.key, &p.id).await;
        }
    }

    /// The value an object of `bucket`/`key` not yet visible carries on the store, where all it
    /// carries is known before it is written (a Complete, a change of its attributes): in the
    /// store's metadata, or in a sidecar written now, which is then named too.
    pub(crate) async fn seal_spilling(
        &self,
        bucket: &str,
        key: &str,
        envelope_of: (
            &ObjectAttrs,
            &[u64],
            Option<&str>,
            Option<i64>,
            Option<VersionId>,
        ),
    ) -> Result<(String, Option<String>)> {
        let (attrs, parts, etag, modified_ns, version) = envelope_of;
        let full = envelope(attrs, parts, etag, modified_ns, version);
        if let Some(value) = fit(envelope(attrs, parts, etag, modified_ns, version)) {
            return Ok((value, None));
        }
        let id = new_id();
        if !self.core.remote.keeps_meta() {
            // The remote drops the value: no sidecar for it to name.
            return Ok((spilled_to(&id), None));
        }
        self.write_sidecar(bucket, key, &id, sidecar_content(&full)?)
            .await?;
        Ok((spilled_to(&id), Some(id)))
    }

    /// Whether the record `meta` agrees with what the version a reader opened carries (always,
    /// outside a fleet): another gateway may write the same bytes again with other headers or
    /// metadata within the precision of the store's times, leaving the version's fingerprint
    /// unchanged; and a record made without the object's parts (by a listing) lacks what the
    /// object carries of them.
    pub(crate) async fn agrees_with_carried(
        &self,
        at: At<'_>,
        reader: &dyn crate::remote::Reader,
        meta: &ObjectMeta,
    ) -> bool {
        let lacks_part_checksums = |c: &Carried| {
            let parts = |a: &ObjectAttrs| a.checksum.as_ref().is_some_and(|c| !c.parts.is_empty());
            parts(&c.attrs) && !parts(&meta.attrs)
        };
        // A sidecar that cannot be read (gone with its object) is a record to make again.
        let Ok(carried) = self.carried(at, reader).await else {
            return false;
        };
        carried.is_none_or(|c| {
            same_carried(&c.attrs, &meta.attrs)
                && (c.version.is_none() || c.version == meta.version)
                && (c.parts.is_empty() || !meta.parts.is_empty())
                && !lacks_part_checksums(&c)
        })
    }

    /// Gives the current version of the object at `at`, whose record `meta` is up to date with
    /// the remote, the attributes `meta` holds, on the store too where it keeps them, leaving
    /// its bytes, ETag and Last-Modified as they are; the caller holds the key's lock. `false`
    /// when another gateway wrote or deleted the object since `meta` was read: nothing changed.
    pub(crate) async fn carry_locked(&self, at: At<'_>, meta: ObjectMeta) -> Result<bool> {
        // The sidecar the version being replaced names goes once the new one is in place.
        let old_sidecar = self.sidecar_at(at.path).await;
        let (value, sidecar) = self
            .seal_spilling(
                at.bucket,
                at.key,
                (
                    &meta.attrs,
                    &meta.parts,
                    Some(&meta.etag),
                    Some(meta.written_ns()),
                    meta.version,
                ),
            )
            .await?;
        let replaced = self
            .core
            .remote
            .replace_meta(at.path, &value, meta.fingerprint)
            .await;
        let unused = match &replaced {
            Ok(true) => old_sidecar.filter(|old| sidecar.as_ref() != Some(old)),
            _ => sidecar,
        };
        if let Some(id) = unused {
            self.drop_sidecar(at.bucket, at.key, &id).await;
        }
        let replaced = match replaced {
            Ok(replaced) => replaced,
            Err(e) if e.raw_os_error() == Some(libc::ESTALE) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if !replaced {
            // Nothing carried on this remote: the record is all there is.
            self.core.index.put(at.bucket, at.key, &meta).await?;
            return Ok(true);
        }
        // The store's new version, read back with what it now carries; the part sizes are
        // this gateway's to keep while the bytes are the same.
        let now = self.record_locked(at.bucket, at.key, at.path).await?;
        if let Some(mut now) = now.filter(|n| {
            n.etag == meta.etag && n.fingerprint.size == meta.fingerprint.size && n.parts.is_empty()
        }) {
            if !meta.parts.is_empty() {
                now.parts = meta.parts;
                self.core.index.put(at.bucket, at.key, &now).await?;
            }
        }
        Ok(true)
    }

    /// In a fleet, `edit` made to the attributes of the object at `at` (its current version),
    /// on the store too; the caller holds the key's lock. Tried again when another gateway
    /// wrote the object in between, so that the change lands on what is there.
    pub(crate) async fn restamp_carried(
        &self,
        at: At<'_>,
        edit: impl Fn(&mut ObjectAttrs),
    ) -> Result<()> {
        for _ in 0..RESTAMP_TRIES {
            let mut meta = self.current_locked(at).await?.ok_or(VfsError::NoSuchKey)?;
            edit(&mut meta.attrs);
            if self.carry_locked(at, meta).await? {
                return Ok(());
            }
        }
        Err(VfsError::Io(std::io::Error::other(format!(
            "{}/{} keeps changing while its attributes are changed",
            at.bucket, at.key
        ))))
    }

    /// After a write in a fleet whose object was sent carrying `sent`: where what it must carry
    /// (`info`'s attributes) is more (an additional checksum known at the end of the body), the
    /// store's metadata of it is replaced before the write is answered. Left as it is when
    /// another write came first.
    pub(crate) async fn carry_published(
        &self,
        at: At<'_>,
        sent: &ObjectAttrs,
        info: ObjectInfo,
    ) -> Result<ObjectInfo> {
        if same_carried(sent, &info.attrs) {
            return Ok(info);
        }
        let lock = crate::key::lock_name(at.bucket, at.key, at.path);
        self.core
            .key_locks
            .with(&lock, async {
                let meta = self.core.index.get(at.bucket, at.key)?;
                let Some(meta) =
                    meta.filter(|m| m.etag == info.etag && same_carried(&m.attrs, &info.attrs))
                else {
                    return Ok(());
                };
                self.carry_locked(at, meta).await.map(drop)
            })
            .await?;
        Ok(info)
    }

    /// In a fleet, the sidecar the object now at `path` names, if any (one request: a stat).
    pub(crate) async fn sidecar_at(&self, path: &str) -> Option<String> {
        self.fleet.as_ref()?;
        if !self.core.remote.keeps_meta() {
            return None;
        }
        match self.core.remote.open(path).await {
            Ok(Some(reader)) => sidecar_of(&*reader),
            _ => None,
        }
    }

    /// In a fleet, what the object a reader opened carries: from its sidecar where all is there,
    /// or where the store's ETag does not tell the MD5 the object's sidecar holds (a PUT the
    /// store received in parts; one without a sidecar is read to hash it). `NoSuchKey` when the
    /// sidecar holding all is gone: the object was replaced or deleted since it was opened.
    pub(crate) async fn carried(
        &self,
        at: At<'_>,
        reader: &dyn crate::remote::Reader,
    ) -> Result<Option<Carried>> {
        if self.fleet.is_none() {
            return Ok(None);
        }
        let Some(envelope) = reader.store_meta().and_then(open) else {
            return Ok(None);
        };
        let wanted = envelope.spilled || (envelope.etag.is_none() && reader.known_md5().is_none());
        let Some(id) = envelope.sidecar.as_deref().filter(|_| wanted) else {
            return Ok(Some(envelope.into()));
        };
        match self.read_sidecar(at.bucket, at.key, id).await? {
            Some(content) => {
                let full: Envelope = serde_json::from_slice(&content)
                    .map_err(|e| VfsError::Io(std::io::Error::other(e)))?;
                Ok(Some(full.into()))
            }
            None if envelope.spilled => Err(VfsError::NoSuchKey),
            None => Ok(Some(envelope.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_survive_the_envelope() {
        let attrs = ObjectAttrs {
            tags: vec![("k".into(), "v\u{e9}".into())],
            acl: Some(Acl {
                owner: "owner".into(),
                grants: Vec::new(),
            }),
            headers: ContentHeaders {
                content_type: Some("text/plain; charset=\u{e9}".into()),
                ..Default::default()
            },
            user_meta: vec![("k".into(), MetaValue(vec![0, 0xff, b'"']))],
            ..Default::default()
        };
        let value = seal(&attrs, &[], Some("0123-2"), Some(7)).expect("fits");
        assert!(value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back = unseal(&value).expect("ours");
        assert_eq!(
            (back.attrs, back.etag.as_deref(), back.modified_ns),
            (attrs, Some("0123-2"), Some(7))
        );
        assert!(unseal("not ours").is_none());
        let big = ObjectAttrs {
            user_meta: vec![("k".into(), MetaValue(vec![b'v'; 1500]))],
            ..Default::default()
        };
        assert_eq!(seal(&big, &[], None, None), None, "over what a store takes");
    }

    #[test]
    fn what_does_not_fit_is_named_and_kept_whole_in_a_sidecar() {
        let big = ObjectAttrs {
            user_meta: vec![("k".into(), MetaValue(vec![b'v'; 2000]))],
            tags: vec![("t".into(), "w".repeat(256)); 10],
            ..Default::default()
        };
        let full = envelope(&big, &[], Some("0123-2"), None, None);
        let stub = open(&spilled_to("ab12")).expect("ours");
        assert!(stub.spilled);
        assert_eq!(stub.sidecar.as_deref(), Some("ab12"));
        assert!(spilled_to("ab12").len() < 100);
        let content = sidecar_content(&full).expect("json");
        let back: Envelope = serde_json::from_slice(&content).expect("a sidecar");
        let back = Carried::from(back);
        assert_eq!((back.attrs, back.etag.as_deref()), (big, Some("0123-2")));
    }

    fn with_part_checksums(n: usize) -> ObjectAttrs {
        ObjectAttrs {
            checksum: Some(Checksum {
                kind: crate::index::ChecksumType {
                    algorithm: "SHA256".into(),
                    full_object: false,
                },
                value: format!("{}-{n}", "A".repeat(43) + "="),
                parts: (0..n).map(|i| format!("{i:043}=")).collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn part_sizes_and_checksums_travel_while_they_fit() {
        let attrs = with_part_checksums(2);
        let parts = [5 << 20, 7];
        let back = unseal(&seal(&attrs, &parts, None, None).expect("fits")).expect("ours");
        assert_eq!((back.attrs, back.parts), (attrs, parts.to_vec()));
        // Thousands of parts of one size are one run; their checksums do not fit, and are
        // left out before anything else.
        let many = with_part_checksums(3000);
        let mut lengths = vec![8 << 20; 2999];
        lengths.push(1);
        let back = unseal(&seal(&many, &lengths, None, None).expect("fits")).expect("ours");
        assert_eq!(back.parts, lengths);
        let checksum = back.attrs.checksum.clone().expect("a checksum");
        assert!(checksum.parts.is_empty());
        assert!(same_carried(&back.attrs, &many));
        // Taken back over a record that knows the parts' checksums, they stay.
        let mut known = many.clone();
        known.take_carried(back.attrs);
        assert_eq!(known, many);
        // Sizes all different do not fit either: the object itself still travels.
        let varied: Vec<u64> = (0..3000).map(|i| (5 << 20) + i).collect();
        let back = unseal(&seal(&many, &varied, None, None).expect("fits")).expect("ours");
        assert!(back.parts.is_empty());
        assert!(
            sizes(&[(1, 6000), (2, 6000)]).is_empty(),
            "more parts than an upload has"
        );
    }
}
