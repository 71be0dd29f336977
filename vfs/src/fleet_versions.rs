//! Versions in a fleet (`--fleet`): kept on the store, where every gateway finds them, and in
//! each gateway's index only as a cache of what the store holds.
//!
//! The current version stays the plain object at its path and carries its version id (with its
//! attributes, `envelope.rs`). A version that stops being current is copied on the store's side
//! into `.s3gate/versions/BUCKET/NAME`, with what it carries; a delete marker is an empty object
//! there. `NAME` is the key, escaped so that it is one segment (`%`, `~`, `/`, `\` and control
//! bytes as `%XX`, which keeps prefixes: a key's prefix escapes to a prefix of its name), then
//! `~`, the version id (`v`, or `n` for a `null` one), `~`, and `m` for a marker or `o` and the
//! object's ETag. So one listing of the store by prefix says every kept version's key, id,
//! kind, ETag, size and (from the id) time, with no read of any of them, and the versions of a
//! key or of a prefix are one listing of just their names.
//!
//! Before a gateway answers from its rows of a key's versions (a read or delete by id, a
//! change that replaces the current version, a GET that may meet a delete marker) it brings
//! them in line with that listing under the key's lock; a ListObjectVersions does so for its
//! prefix at most once a second, re-listing under its lock each key whose rows differ.
//!
//! Writes are pinned to what the gateway saw at the key's path (`fleet::pin`): a version is
//! published only while the store still holds the version it replaces, which was copied to the
//! store first. Two gateways replacing one version at once both copy it to the same name (its
//! id names it); the store lets one of them write, and refuses the other, answered `409
//! OperationAborted` to be sent again. So no acknowledged version is lost: each is the object
//! at the path, or a copy under the reserved folder.
//!
//! A version's object lock travels in the same value as its other attributes: a change of it is
//! made on the store (the current object's value, or its kept copy's, [`Vfs::edit_kept`]), and
//! the guard of a removal reads it there ([`Vfs::kept_lock`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::clock::now_ns;
use crate::commit::At;
use crate::envelope::seal_version;
use crate::error::{Result, VfsError};
use crate::fleet::FleetIds;
use crate::index::{ObjectAttrs, ObjectMeta};
use crate::key::{self, RESERVED_DIR};
use crate::meta::{Edit, Tree};
use crate::remote::Fingerprint;
use crate::retention::ObjectLock;
use crate::version_id::VersionId;
use crate::version_row::{row_key, rows, VersionRecord};
use crate::vfs::Vfs;

/// A key's bytes as one segment of a name: prefix-preserving and reversible.
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '%' | '~' | '/' | '\\' | '\u{0}'..='\u{20}' | '\u{7f}' => {
                out.push_str(&format!("%{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

fn unescape(name: &str) -> Option<String> {
    let mut out = Vec::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = name.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The folder of `bucket`'s kept versions, with what starts the names of `prefix`'s.
fn folder_of(bucket: &str, prefix: &str) -> String {
    format!("{RESERVED_DIR}/versions/{bucket}/{}", escape(prefix))
}

/// Where version `id` of `bucket/key` is kept: an object with ETag `etag`, or a delete marker.
pub(crate) fn kept_path(bucket: &str, key: &str, id: &VersionId, etag: Option<&str>) -> String {
    let null = if id.null { 'n' } else { 'v' };
    let kind = match etag {
        Some(etag) => format!("o{etag}"),
        None => "m".to_string(),
    };
    format!("{}~{}{null}~{kind}", folder_of(bucket, key), id.unique())
}

/// A kept version as the store's listing names it.
#[derive(Debug, PartialEq)]
struct Kept {
    key: String,
    id: VersionId,
    /// `None` for a delete marker.
    etag: Option<String>,
    file: String,
    fingerprint: Fingerprint,
}

/// What a name in a bucket's folder of versions says; `None` for anything else there.
fn parse(bucket: &str, name: &str, fingerprint: Fingerprint) -> Option<Kept> {
    let (escaped, rest) = name.split_once('~')?;
    let (id, kind) = rest.split_once('~')?;
    if id.len() != 29 || !id.is_char_boundary(28) {
        return None;
    }
    let (unique, null) = id.split_at(28);
    let seq = u64::from_str_radix(&unique[..16], 16).ok()?;
    let ms = u64::from_str_radix(&unique[16..], 16).ok()?;
    let null = match null {
        "n" => true,
        "v" => false,
        _ => return None,
    };
    let etag = match kind.split_at_checked(1)? {
        ("m", "") => None,
        ("o", etag) if !etag.is_empty() => Some(etag.to_string()),
        _ => return None,
    };
    Some(Kept {
        key: unescape(escaped)?,
        id: VersionId { seq, ms, null },
        etag,
        file: format!("{RESERVED_DIR}/versions/{bucket}/{name}"),
        fingerprint,
    })
}

fn same_id(a: &VersionId, b: &VersionId) -> bool {
    a.seq == b.seq && a.ms == b.ms
}

/// The row a kept version lists as, noncurrent since `noncurrent_ns`. Its content headers and
/// metadata are what its object carries, read when it is opened.
fn row_of(kept: &Kept, noncurrent_ns: i64) -> VersionRecord {
    let made_ns = made_ns(&kept.id);
    VersionRecord {
        id: kept.id,
        object: kept.etag.as_ref().map(|etag| ObjectMeta {
            fingerprint: kept.fingerprint,
            etag: etag.clone(),
            version: Some(kept.id),
            attrs: Default::default(),
            parts: Vec::new(),
            modified_ns: Some(made_ns),
            in_write_cache: false,
            store: None,
        }),
        file: Some(kept.file.clone()),
        made_ns,
        noncurrent_ns,
    }
}

/// When a version was made: from a fleet's id; the original `null` version's is unknown.
fn made_ns(id: &VersionId) -> i64 {
    match id.seq {
        0 => 0,
        _ => FleetIds::made_ns(id),
    }
}

impl Vfs {
    /// In a fleet, a new version id for a write to a bucket that keeps versions (`null`
    /// while Suspended), made before the write begins so that the object carries it; `None`
    /// elsewhere.
    pub(crate) fn fleet_version(&self, bucket: &str) -> Result<Option<VersionId>> {
        let Some(fleet) = &self.fleet else {
            return Ok(None);
        };
        let null = match self.versioning_of(bucket)? {
            crate::bucket::Versioning::Unversioned => return Ok(None),
            crate::bucket::Versioning::Enabled => false,
            crate::bucket::Versioning::Suspended => true,
        };
        Ok(Some(fleet.ids.next(null, None)))
    }

    /// The kept versions of the keys under `prefix` of `bucket`, as the store lists them.
    async fn kept_under(&self, bucket: &str, prefix: &str) -> Result<Vec<Kept>> {
        let entries = self
            .core
            .remote
            .list_prefix(&folder_of(bucket, prefix))
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| parse(bucket, &e.name, e.fingerprint))
            .filter(|k| k.key.starts_with(prefix))
            .collect())
    }

    /// In a fleet, brings the rows of `bucket/key`'s kept versions in line with the store, its
    /// current version being `current` as just read from the store; the caller holds the key's
    /// lock. A copy of the current version (left by a write that never replaced it) is not a
    /// kept version.
    pub(crate) async fn sync_versions_locked(
        &self,
        bucket: &str,
        key: &str,
        current: Option<&ObjectMeta>,
    ) -> Result<()> {
        if self.fleet.is_none() {
            return Ok(());
        }
        let kept: Vec<Kept> = self
            .kept_under(bucket, key)
            .await?
            .into_iter()
            .filter(|k| k.key == key)
            .collect();
        let ops = self.row_edits(bucket, key, current, kept)?;
        if !ops.is_empty() {
            self.core.index.apply(ops).await?;
        }
        Ok(())
    }

    /// What makes the rows of `bucket/key` say what `kept` does, the current record being
    /// `current`. Rows without a file (a folder marker's versions) are this gateway's own.
    fn row_edits(
        &self,
        bucket: &str,
        key: &str,
        current: Option<&ObjectMeta>,
        mut kept: Vec<Kept>,
    ) -> Result<Vec<Edit>> {
        let current_id = current.and_then(|m| m.version);
        kept.retain(|k| current_id.is_none_or(|c| !same_id(&c, &k.id)));
        kept.sort_by_key(|k| std::cmp::Reverse(k.id.seq));
        let have = rows(&self.core.index, bucket, key, usize::MAX)?;
        let mut ops = Vec::new();
        for row in have.iter().filter(|r| r.file.is_some()) {
            if !kept.iter().any(|k| same_id(&k.id, &row.id)) {
                ops.push(Edit::Delete(
                    Tree::Versions,
                    row_key(bucket, key, row.id.seq),
                ));
            }
        }
        // Each version stopped being current when the one above it was made.
        let mut newer = current_id.map_or_else(now_ns, |id| made_ns(&id));
        for k in &kept {
            let known = have.iter().any(|r| {
                same_id(&r.id, &k.id)
                    && r.file.as_deref() == Some(k.file.as_str())
                    && r.object.as_ref().map(|m| m.fingerprint)
                        == k.etag.as_ref().map(|_| k.fingerprint)
            });
            if !known {
                let row = row_of(k, newer.max(made_ns(&k.id)));
                ops.push(Edit::Put(
                    Tree::Versions,
                    row_key(bucket, key, k.id.seq),
                    row.encode(),
                ));
            }
            newer = made_ns(&k.id);
        }
        Ok(ops)
    }

    /// The current version of `bucket/key` as the store holds it now, its rows of kept versions
    /// brought in line with the store in a fleet; the caller holds the key's lock.
    pub(crate) async fn current_and_versions_locked(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectMeta>> {
        let path = self.change_path(bucket, key)?;
        let at = At {
            bucket,
            key,
            path: &path,
        };
        let current = self.current_locked(at).await?;
        self.sync_versions_locked(bucket, key, current.as_ref())
            .await?;
        Ok(current)
    }

    /// In a fleet, brings the rows of the kept versions under `prefix` of `bucket` in line with
    /// the store before a listing is served from them, unless that was done less than a second
    /// ago: one listing of the store's names under the prefix, and, for each key whose rows
    /// differ from it, that key's again under its lock.
    pub(crate) async fn check_versions(&self, bucket: &str, prefix: &str) -> Result<()> {
        let Some(fleet) = &self.fleet else {
            return Ok(());
        };
        if fleet.versions_checked.fresh_under(bucket, prefix) {
            return Ok(());
        }
        // Taken before the store is read: what the check shows is at least this recent.
        let read_from = Instant::now();
        let mut listed: BTreeMap<String, Vec<Kept>> = BTreeMap::new();
        for k in self.kept_under(bucket, prefix).await? {
            listed.entry(k.key.clone()).or_default().push(k);
        }
        let mut keys: BTreeSet<String> = listed.keys().cloned().collect();
        let start = key::index_key(bucket, prefix);
        let end = key::prefix_end(&start);
        let base = key::index_key(bucket, "").len();
        for (row, _) in
            self.core
                .index
                .range_in(Tree::Versions, &start, end.as_deref(), usize::MAX)?
        {
            // A row's key is the record's, then NUL and the counter.
            if let Some(k) = row.get(base..row.len().saturating_sub(9)) {
                keys.insert(String::from_utf8_lossy(k).into_owned());
            }
        }
        for key in keys {
            let kept = listed.remove(&key).unwrap_or_default();
            let current = self.core.index.get(bucket, &key)?;
            if self
                .row_edits(bucket, &key, current.as_ref(), kept)?
                .is_empty()
            {
                continue;
            }
            let lock = format!("{bucket}/{key}");
            self.core
                .key_locks
                .with(&lock, self.current_and_versions_locked(bucket, &key))
                .await?;
        }
        fleet
            .versions_checked
            .note((bucket.to_string(), prefix.to_string()), read_from);
        Ok(())
    }

    /// In a fleet, keeps the current version of `at` (`current`, made as `id`) by a copy on the
    /// store's side under the reserved folder, leaving it at its path until what replaces it is
    /// published there; the row to commit with that. `None` when the object is no longer the
    /// one recorded (another gateway replaced it: the write pinned to it will be refused).
    pub(crate) async fn keep_copy(
        &self,
        at: At<'_>,
        current: &ObjectMeta,
        id: VersionId,
    ) -> Result<Option<Edit>> {
        let file = kept_path(at.bucket, at.key, &id, Some(&current.etag));
        let copied = match self
            .core
            .remote
            .copy(at.path, &file, current.fingerprint)
            .await
        {
            Ok(copied) => copied,
            Err(e) if e.raw_os_error() == Some(libc::ESTALE) => None,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                return Err(VfsError::VersionsUnsupported(
                    "in a fleet a version is kept by one copy on the store's side, which takes \
                     at most 5 GiB",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let Some(fingerprint) = copied else {
            return Ok(None);
        };
        let mut object = current.clone();
        object.version = Some(id);
        object.fingerprint = fingerprint;
        object.store = None;
        let row = VersionRecord {
            id,
            object: Some(object),
            file: Some(file),
            made_ns: current.written_ns(),
            noncurrent_ns: now_ns(),
        };
        Ok(Some(Edit::Put(
            Tree::Versions,
            row_key(at.bucket, at.key, id.seq),
            row.encode(),
        )))
    }

    /// In a fleet, keeps the current version of `at` (`current`, made as `id`) by
    /// [`Vfs::keep_copy`]: the row to commit, and the fingerprint of the object copied, which
    /// the change replaces. The object may have been given new metadata meanwhile by the
    /// gateway that wrote it (a checksum known at the end of its body, a tag): the same version
    /// with a new fingerprint, copied as it is now. Another version there refuses the change
    /// (`409`, to be sent again): the write pinned to the version seen would be refused anyway,
    /// and one pinned only by its ETag must never replace a version left uncopied.
    pub(crate) async fn keep_current(
        &self,
        at: At<'_>,
        mut current: ObjectMeta,
        id: VersionId,
    ) -> Result<(Edit, Fingerprint)> {
        let changed = || {
            VfsError::ConflictingChange(
                "another gateway wrote this key at the same moment: this change was not made, \
                 send it again"
                    .into(),
            )
        };
        for _ in 0..3 {
            if let Some(row) = self.keep_copy(at, &current, id).await? {
                return Ok((row, current.fingerprint));
            }
            match self.current_locked(at).await? {
                Some(now) if now.version == current.version && now.etag == current.etag => {
                    current = now
                }
                _ => return Err(changed()),
            }
        }
        Err(changed())
    }

    /// In a fleet, a delete marker `id` of `at`, as an empty object under the reserved folder;
    /// the row to commit with the removal of the current record, and the marker's object.
    pub(crate) async fn put_marker(&self, at: At<'_>, id: VersionId) -> Result<(Edit, String)> {
        let file = kept_path(at.bucket, at.key, &id, None);
        let mut upload = self.core.remote.create(&file).await?;
        upload.finish(true).await?;
        upload.commit(&file, true, Box::new(|_| {})).await?;
        let row = VersionRecord {
            id,
            object: None,
            file: Some(file.clone()),
            made_ns: now_ns(),
            noncurrent_ns: 0,
        };
        let row = Edit::Put(
            Tree::Versions,
            row_key(at.bucket, at.key, id.seq),
            row.encode(),
        );
        Ok((row, file))
    }

    /// In a fleet, `edit` made to the kept version `row` of `at`: what its copy carries
    /// (read first: the row made from a listing knows only its name) is replaced on the store,
    /// pinned to that copy; the row saying so, to commit.
    pub(crate) async fn edit_kept(
        &self,
        at: At<'_>,
        row: &VersionRecord,
        edit: impl FnOnce(&mut ObjectAttrs) -> Result<()>,
    ) -> Result<Vec<Edit>> {
        let (Some(meta), Some(file)) = (&row.object, &row.file) else {
            return Err(VfsError::VersionIsDeleteMarker);
        };
        let mut meta = meta.clone();
        let reader = self
            .core
            .remote
            .open(file)
            .await?
            .filter(|r| r.fingerprint() == meta.fingerprint)
            .ok_or(VfsError::NoSuchVersion)?;
        if let Some(c) = self.carried(at, &*reader).await? {
            meta.attrs.take_carried(c.attrs);
            if meta.parts.is_empty() {
                meta.parts = c.parts;
            }
            meta.modified_ns = c.modified_ns.or(meta.modified_ns);
        }
        edit(&mut meta.attrs)?;
        let value = seal_version(
            &meta.attrs,
            &meta.parts,
            Some(&meta.etag),
            Some(meta.written_ns()),
            Some(row.id),
        )
        .ok_or_else(|| {
            VfsError::MetadataTooLarge(
                "in a fleet a version's headers, metadata, tags, ACL and lock travel with it \
                 in the store's metadata, and these take more than it holds"
                    .into(),
            )
        })?;
        match self
            .core
            .remote
            .replace_meta(file, &value, meta.fingerprint)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(VfsError::VersionsUnsupported(
                    "in a fleet a version's attributes travel in the store's metadata, which \
                     this remote does not keep",
                ))
            }
            Err(e) if e.raw_os_error() == Some(libc::ESTALE) => {
                return Err(VfsError::NoSuchVersion)
            }
            Err(e) => return Err(e.into()),
        }
        meta.fingerprint = self
            .core
            .remote
            .stat(file)
            .await?
            .filter(|e| !e.is_dir)
            .ok_or(VfsError::NoSuchVersion)?
            .fingerprint;
        let row = VersionRecord {
            object: Some(meta),
            ..row.clone()
        };
        Ok(vec![Edit::Put(
            Tree::Versions,
            row_key(at.bucket, at.key, row.id.seq),
            row.encode(),
        )])
    }

    /// The lock of the kept version `row`: in a fleet what its copy carries (another gateway
    /// may have changed it), else its row's.
    pub(crate) async fn kept_lock(&self, at: At<'_>, row: &VersionRecord) -> Result<ObjectLock> {
        let Some(meta) = &row.object else {
            return Ok(ObjectLock::default());
        };
        let (Some(_), Some(file)) = (&self.fleet, &row.file) else {
            return Ok(meta.attrs.lock);
        };
        let Some(reader) = self.core.remote.open(file).await? else {
            return Ok(meta.attrs.lock);
        };
        Ok(self
            .carried(at, &*reader)
            .await?
            .map_or(meta.attrs.lock, |c| c.attrs.lock))
    }

    /// Why a fleet cannot keep versions on this remote, when it cannot.
    pub(crate) fn fleet_versions_unsupported(&self) -> Option<&'static str> {
        (self.fleet.is_some() && !self.core.remote.copies_carrying()).then_some(
            "in a fleet versions are copied on the store's side with their metadata: this \
             remote cannot do that",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_prefixes_and_read_back() {
        let fp = Fingerprint {
            size: 3,
            mtime_ns: 0,
            id: 1,
        };
        for key in ["a", "a/b", "a~b%c!", "d/ e\u{e9}/", "\\x\u{1}"] {
            let id = VersionId {
                seq: 0x1234,
                ms: 0xabc,
                null: key.len() % 2 == 0,
            };
            for etag in [Some("0123-4"), None] {
                let path = kept_path("bkt", key, &id, etag);
                let (dir, name) = path.rsplit_once('/').expect("a folder");
                assert_eq!(dir, format!("{RESERVED_DIR}/versions/bkt"));
                let kept = parse("bkt", name, fp).expect("ours");
                assert_eq!(
                    (kept.key.as_str(), kept.id, kept.etag.as_deref(), kept.file),
                    (key, id, etag, path.clone())
                );
            }
        }
        // A key's prefix names a prefix of its versions' names, and only of its own keys'.
        assert!(
            kept_path("b", "a/b~c", &VersionId::ORIGINAL, None).starts_with(&folder_of("b", "a/b"))
        );
        assert!(
            !kept_path("b", "a%b", &VersionId::ORIGINAL, None).starts_with(&folder_of("b", "a/"))
        );
        assert!(parse("b", "a~nothex0000000000000000000000v~m", fp).is_none());
    }

    #[test]
    fn fleet_ids_are_ordered_and_later_than_what_they_follow() {
        let ids = FleetIds::default();
        let a = ids.next(false, None);
        let b = ids.next(false, None);
        assert!(b.seq > a.seq && a.ms == b.ms);
        let other = FleetIds::default();
        let ahead = VersionId {
            seq: b.seq + (1000 << 23),
            ..other.next(false, None)
        };
        let c = ids.next(true, Some(ahead));
        assert!(c.seq > ahead.seq && c.null && !same_id(&c, &ahead));
        assert!((made_ns(&a) - now_ns()).abs() < 5_000_000_000);
    }

    /// Past the 64 ids of a millisecond, ids go on in the next, still each later than the last.
    #[test]
    fn fleet_ids_made_faster_than_64_a_millisecond_stay_ordered() {
        let ids = FleetIds::default();
        let made: Vec<u64> = (0..1000).map(|_| ids.next(false, None).seq).collect();
        assert!(made.windows(2).all(|w| w[1] > w[0]));
        // Every id keeps this gateway's tag in its row key.
        let tag = (made[0] >> 6) & ((1 << 17) - 1);
        assert!(made.iter().all(|s| (s >> 6) & ((1 << 17) - 1) == tag));
    }
}
