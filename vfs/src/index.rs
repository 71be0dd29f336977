//! The typed metadata index over a [`MetaStore`]: one record per object, keyed `bucket/key`.
//!
//! The index is authoritative for what the remote cannot hold (user metadata, content headers,
//! ETags) and a cache for the rest, checked against the file's fingerprint. Writes go through one
//! writer thread that commits whatever has queued up in one durable transaction (group commit), so
//! that many small PUTs share one fsync.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::error::{Result, VfsError};
use crate::meta::{Edit, Entries, MetaStore, Step, StoreError, Tree};
use crate::remote::Fingerprint;

/// Content headers S3 stores with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// What the client set on an object: content headers, `x-amz-meta-*` pairs (names in lower
/// case, values as sent) and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttrs {
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_meta: Vec<(String, MetaValue)>,
    /// The additional checksum the client asked for, verified when the object was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    /// The object's tags (S3's object tagging), sorted by key. Changed in place by
    /// `Vfs::set_object_tags`, without a new version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The object's ACL; none: the bucket owner's full control. Set with the object, never
    /// copied from a copy's source, changed in place by
    /// `Vfs::set_object_acl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<crate::acl::Acl>,
    /// The version's object lock (retention, legal hold), changed in place by
    /// `Vfs::set_object_lock`; never copied to a copy.
    #[serde(
        default,
        skip_serializing_if = "crate::retention::ObjectLock::is_unset"
    )]
    pub lock: crate::retention::ObjectLock,
}

impl ObjectAttrs {
    /// Takes what a fleet's object carries (`envelope.rs`) in place of what these attributes
    /// say of it; the checksums of a multipart object's parts stay where the checksum is the
    /// same and the object does not carry them.
    pub(crate) fn take_carried(&mut self, carried: ObjectAttrs) {
        self.headers = carried.headers;
        self.user_meta = carried.user_meta;
        self.tags = carried.tags;
        self.acl = carried.acl;
        self.lock = carried.lock;
        let same = |a: &Checksum, b: &Checksum| a.kind == b.kind && a.value == b.value;
        match (&self.checksum, &carried.checksum) {
            (Some(a), Some(b)) if same(a, b) && b.parts.is_empty() => {}
            _ => self.checksum = carried.checksum,
        }
    }
}

/// A user metadata value: the bytes the client sent, which need not be UTF-8 (a header value
/// may hold any byte but controls; Latin-1 is common). Stored as a JSON string when it is text,
/// as every record written before held it, and as an array of bytes otherwise, so that nothing
/// is replaced on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetaValue(pub Vec<u8>);

impl MetaValue {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for MetaValue {
    fn from(s: &str) -> MetaValue {
        MetaValue(s.as_bytes().to_vec())
    }
}

impl Serialize for MetaValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_bytes(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for MetaValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<MetaValue, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Text(String),
            Bytes(Vec<u8>),
        }
        Ok(MetaValue(match Stored::deserialize(d)? {
            Stored::Text(t) => t.into_bytes(),
            Stored::Bytes(b) => b,
        }))
    }
}

/// Which additional checksum (S3's `x-amz-checksum-*`) an object or upload carries, and whether
/// it covers the whole content or is a checksum of part checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumType {
    /// S3's name: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    #[serde(default)]
    pub full_object: bool,
}

/// A checksum value. The S3 layer computes and verifies it; the VFS keeps it with the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    #[serde(flatten)]
    pub kind: ChecksumType,
    /// Base64, as it travels in headers (`-N` appended for a composite of N parts).
    pub value: String,
    /// For an object assembled from a multipart upload: the checksums of its parts, in order,
    /// which `value` was computed from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

/// Where a request body leaves the checksum it computed, once the whole body checked out.
pub type ChecksumSlot = Arc<std::sync::OnceLock<Checksum>>;

/// A digest the caller wants computed over bytes the VFS moves by itself (a copied part).
pub trait BodyHasher: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(self: Box<Self>) -> Checksum;
}

/// One object's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The file this record describes; a record whose fingerprint no longer matches the file is
    /// stale (another program replaced the file) and is rebuilt.
    pub fingerprint: Fingerprint,
    /// Hex digest without quotes; empty until computed (files written by other programs).
    #[serde(default)]
    pub etag: String,
    /// The version this is, in a bucket that keeps versions; none for an object written while
    /// versioning was never on (its `null` version). Written before the attributes, where the
    /// quick read of a listing ([`ListedMeta`]) never looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<crate::version_id::VersionId>,
    #[serde(default)]
    pub attrs: ObjectAttrs,
    /// Sizes of the parts of an object assembled from a multipart upload, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// When the object was written, where that is not the file's modification time (a copy
    /// shares its source's file), in nanoseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ns: Option<i64>,
    /// The bytes are in the write cache, waiting to be uploaded; `fingerprint` is the cached
    /// file's. Stored as `cached`, the name records were written with.
    #[serde(default, rename = "cached", skip_serializing_if = "std::ops::Not::not")]
    pub in_write_cache: bool,
    /// Where the file is when the key cannot be a plain file (`a` beside `a/b`, `a//b`, ...):
    /// its place in the store of keys (`stored.rs`); none for a key at its own path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) store: Option<String>,
}

impl ObjectMeta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        // A record is a handful of short strings: JSON keeps the format evolvable and debuggable.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<ObjectMeta> {
        serde_json::from_slice(bytes)
            .map_err(|e| VfsError::Store(StoreError(format!("corrupt index record: {e}"))))
    }

    /// When the object was written, in nanoseconds since the Unix epoch.
    pub(crate) fn written_ns(&self) -> i64 {
        self.modified_ns.unwrap_or(self.fingerprint.mtime_ns)
    }

    /// The record of a file another program put at a key's path, as the rescan makes it: no
    /// version id, and a content hash not known yet (computed at its first read).
    pub(crate) fn unhashed(fp: Fingerprint) -> ObjectMeta {
        ObjectMeta {
            fingerprint: fp,
            etag: String::new(),
            version: None,
            attrs: ObjectAttrs::default(),
            parts: Vec::new(),
            modified_ns: None,
            in_write_cache: false,
            store: None,
        }
    }
}

/// The fields of a record that a listing shows, read without the rest: a listing page decodes
/// a thousand records, and user metadata and part sizes were most of that work. The ETag is
/// borrowed from the record's bytes when it can be: a page copies it once, into its answer.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct ListedMeta<'a> {
    pub fingerprint: Fingerprint,
    #[serde(default, borrow)]
    pub etag: Cow<'a, str>,
    #[serde(default)]
    pub modified_ns: Option<i64>,
    /// The version, for a listing of versions.
    #[serde(default)]
    pub(crate) version: Option<crate::version_id::VersionId>,
}

impl From<ObjectMeta> for ListedMeta<'static> {
    fn from(m: ObjectMeta) -> ListedMeta<'static> {
        ListedMeta {
            fingerprint: m.fingerprint,
            etag: Cow::Owned(m.etag),
            modified_ns: m.modified_ns,
            version: m.version,
        }
    }
}

impl<'a> ListedMeta<'a> {
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<ListedMeta<'a>> {
        if let Some(m) = ListedMeta::read_known_layout(bytes) {
            return Ok(m);
        }
        serde_json::from_slice(bytes)
            .map_err(|e| VfsError::Store(StoreError(format!("corrupt index record: {e}"))))
    }

    /// Reads a record laid out as [`ObjectMeta::encode`] writes it, without a JSON parse: the
    /// fingerprint and the ETag open it, and the write time, when there is one, is the last
    /// number before an optional `cached` flag. Parsing the rest (content headers, user
    /// metadata) was about a tenth of a listing page's time. `None` for anything else, which then
    /// takes the full parse.
    pub(crate) fn read_known_layout(b: &'a [u8]) -> Option<ListedMeta<'a>> {
        let rest = b.strip_prefix(br#"{"fingerprint":{"size":"#)?;
        let (size, rest) = number(rest)?;
        let (mtime_ns, rest) = number(rest.strip_prefix(br#","mtime_ns":"#)?)?;
        let (id, rest) = number(rest.strip_prefix(br#","id":"#)?)?;
        let rest = rest.strip_prefix(br#"},"etag":""#)?;
        let len = rest.iter().position(|&c| c == b'"')?;
        let etag = std::str::from_utf8(&rest[..len]).ok()?;
        if !etag.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            return None;
        }
        let (version, rest) = Self::read_version(&rest[len + 1..])?;
        // What follows ends with `}` (attrs), `]` (parts) or the write time's digits.
        let tail = rest.strip_suffix(b"}")?;
        let tail = tail.strip_suffix(br#","cached":true"#).unwrap_or(tail);
        let modified_ns = match tail.last()? {
            b'}' | b']' => None,
            _ => {
                let at = tail.iter().rposition(|&c| c == b':')?;
                if !tail[..at].ends_with(br#","modified_ns""#) {
                    return None;
                }
                match number(&tail[at + 1..])? {
                    (n, []) => Some(i64::try_from(n).ok()?),
                    _ => return None,
                }
            }
        };
        Some(ListedMeta {
            fingerprint: Fingerprint {
                size: u64::try_from(size).ok()?,
                mtime_ns: i64::try_from(mtime_ns).ok()?,
                id: u64::try_from(id).ok()?,
            },
            etag: Cow::Borrowed(etag),
            modified_ns,
            version,
        })
    }

    /// The version that may follow the ETag (`,"version":{"seq":N,"ms":N}`, `"null":true`
    /// last when it is the `null` one), and what follows it.
    fn read_version(b: &[u8]) -> Option<(Option<crate::version_id::VersionId>, &[u8])> {
        match b.strip_prefix(br#","version":"#) {
            None => Some((None, b)),
            Some(rest) => {
                let (id, rest) = Self::read_version_id(rest)?;
                Some((Some(id), rest))
            }
        }
    }

    /// A version id as serde_json writes one (`{"seq":N,"ms":N}`, `"null":true` last when it
    /// is the `null` one), and what follows it.
    fn read_version_id(b: &[u8]) -> Option<(crate::version_id::VersionId, &[u8])> {
        let (seq, rest) = number(b.strip_prefix(br#"{"seq":"#)?)?;
        let (ms, rest) = number(rest.strip_prefix(br#","ms":"#)?)?;
        let (null, rest) = match rest.strip_prefix(br#","null":true}"#) {
            Some(rest) => (true, rest),
            None => (false, rest.strip_prefix(b"}")?),
        };
        let id = crate::version_id::VersionId {
            seq: u64::try_from(seq).ok()?,
            ms: u64::try_from(ms).ok()?,
            null,
        };
        Some((id, rest))
    }

    pub(crate) fn written_ns(&self) -> i64 {
        self.modified_ns.unwrap_or(self.fingerprint.mtime_ns)
    }
}

/// A JSON integer at the start of `b` (as serde_json writes one), and what follows it.
fn number(b: &[u8]) -> Option<(i128, &[u8])> {
    let (neg, digits) = match b.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, b),
    };
    let len = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || len > 20 {
        return None;
    }
    // At most 20 digits: no i128 overflows.
    let n = digits[..len]
        .iter()
        .fold(0i128, |n, d| n * 10 + i128::from(d - b'0'));
    Some((if neg { -n } else { n }, &digits[len..]))
}

/// Queues prepared index changes, built from what the change learned (the fingerprint of the
/// object it published, by default); see [`Index::prepare`].
pub(crate) type Submit<A = Fingerprint> = Box<dyn FnOnce(A) + Send>;

struct Batch {
    ops: Vec<Edit>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

pub(crate) struct Index {
    /// `None` once closed: the store is released even while requests still hold the VFS.
    store: RwLock<Option<Arc<dyn MetaStore>>>,
    writer: Mutex<Option<(mpsc::Sender<Batch>, JoinHandle<()>)>>,
    /// Groups committed that touched a bucket record (see `bucket/records.rs`).
    buckets_changed: Arc<AtomicU64>,
    /// Run by the writer after each commit: the power-cut shadow's copy (shadow.rs).
    after_commit: AfterCommit,
    /// Edits that wait for the next commit instead of making one ([`Index::defer`]).
    deferred: Deferred,
}

type Deferred = Arc<Mutex<Vec<Edit>>>;

type AfterCommit = Arc<std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>>;

/// The most batches the writer folds into one transaction.
const MAX_GROUP: usize = 256;

impl Index {
    pub(crate) fn new(store: Box<dyn MetaStore>) -> Index {
        let store: Arc<dyn MetaStore> = Arc::from(store);
        let (tx, rx) = mpsc::channel::<Batch>();
        let writer_store = store.clone();
        let buckets_changed = Arc::new(AtomicU64::new(0));
        let counter = buckets_changed.clone();
        let after_commit = AfterCommit::default();
        let after = after_commit.clone();
        let deferred = Deferred::default();
        let waiting = deferred.clone();
        let handle = std::thread::Builder::new()
            .name("s3gate-index".into())
            .spawn(move || write_loop(&*writer_store, rx, &counter, &after, &waiting))
            .expect("spawning the index writer thread");
        Index {
            store: RwLock::new(Some(store)),
            writer: Mutex::new(Some((tx, handle))),
            buckets_changed,
            after_commit,
            deferred,
        }
    }

    /// Has the writer run `f` after each commit, before telling the commit's writers (once).
    pub(crate) fn after_commit(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.after_commit.set(f);
    }

    fn store(&self) -> Result<Arc<dyn MetaStore>> {
        self.store
            .read()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(closed)
    }

    pub(crate) fn get(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        match self.get_in(Tree::Objects, &crate::key::index_key(bucket, key))? {
            Some(v) => Ok(Some(ObjectMeta::decode(&v)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn range(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Entries> {
        self.range_in(Tree::Objects, start, end, limit)
    }

    /// Visits object records from `start` (see [`MetaStore::scan`]).
    pub(crate) fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        mut each: impl FnMut(&[u8], &[u8]) -> Step,
    ) -> Result<()> {
        Ok(self.store()?.scan(Tree::Objects, start, end, &mut each)?)
    }

    /// Visits two trees' entries from `start` as one sequence (see [`MetaStore::scan_merged`]).
    pub(crate) fn scan_merged(
        &self,
        trees: [Tree; 2],
        start: &[u8],
        end: Option<&[u8]>,
        mut each: impl FnMut(usize, &[u8], &[u8]) -> Step,
    ) -> Result<()> {
        Ok(self.store()?.scan_merged(trees, start, end, &mut each)?)
    }

    pub(crate) fn get_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_in(Tree::State, key)
    }

    /// How many committed groups touched a bucket record so far.
    pub(crate) fn buckets_changed(&self) -> u64 {
        self.buckets_changed.load(Ordering::Acquire)
    }

    pub(crate) fn get_in(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.store()?.get(tree, key)?)
    }

    pub(crate) fn range_in(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries> {
        Ok(self.store()?.range(tree, start, end, limit)?)
    }

    /// Visits the entries of `tree` in key order, a page at a time, while `each` says to go on.
    pub(crate) fn visit_in(
        &self,
        tree: Tree,
        mut each: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        const PAGE: usize = 1024;
        let mut start = Vec::new();
        loop {
            let batch = self.range_in(tree, &start, None, PAGE)?;
            for (k, v) in &batch {
                if !each(k, v) {
                    return Ok(());
                }
            }
            match batch.last() {
                Some((k, _)) if batch.len() == PAGE => {
                    start = k.clone();
                    start.push(0);
                }
                _ => return Ok(()),
            }
        }
    }

    /// Commits `ops` durably (grouped with whatever else is queued).
    pub(crate) async fn apply(&self, ops: Vec<Edit>) -> Result<()> {
        let (tx, done, wait) = self.channel()?;
        // A closed writer drops `done`, which the waiting side reports.
        let _ = tx.send(Batch { ops, done });
        wait.await
    }

    /// Queues `ops` to be committed with the next group, without waiting: for changes a crash
    /// may lose harmlessly.
    pub(crate) fn queue(&self, ops: Vec<Edit>) -> Result<()> {
        let (tx, done, _) = self.channel()?;
        let _ = tx.send(Batch { ops, done });
        Ok(())
    }

    /// Has `ops` committed with the next group, without making a commit for them: for edits a
    /// crash may lose because the next start does them again (a finished change's intent). They
    /// commit before or with any batch sent after this returns, never after it.
    pub(crate) fn defer(&self, ops: Vec<Edit>) {
        if let Ok(mut deferred) = self.deferred.lock() {
            deferred.extend(ops);
        }
    }

    /// Drops what waits for the next commit, as a kill before that commit does.
    #[cfg(test)]
    pub(crate) fn forget_deferred(&self) {
        if let Ok(mut d) = self.deferred.lock() {
            d.clear();
        }
    }

    /// Splits [`Index::apply`] in two: a synchronous `submit` that queues the ops `build` makes
    /// from what the change learned, such as the fingerprint of the object just published (to
    /// be run where cancelling cannot separate it from the change it records), and the wait for
    /// them to be durable.
    pub(crate) fn prepare<A, F>(
        &self,
        build: F,
    ) -> Result<(Submit<A>, impl Future<Output = Result<()>>)>
    where
        F: FnOnce(A) -> Vec<Edit> + Send + 'static,
    {
        let (tx, done, wait) = self.channel()?;
        let submit = Box::new(move |fp| {
            let _ = tx.send(Batch {
                ops: build(fp),
                done,
            });
        });
        Ok((submit, wait))
    }

    #[allow(clippy::type_complexity)]
    fn channel(
        &self,
    ) -> Result<(
        mpsc::Sender<Batch>,
        oneshot::Sender<Result<(), StoreError>>,
        impl Future<Output = Result<()>>,
    )> {
        let (done, wait) = oneshot::channel::<Result<(), StoreError>>();
        let tx = {
            let writer = self.writer.lock().map_err(|_| closed())?;
            writer.as_ref().ok_or_else(closed)?.0.clone()
        };
        let wait = async move { wait.await.map_err(|_| closed())?.map_err(VfsError::from) };
        Ok((tx, done, wait))
    }

    pub(crate) async fn put(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> Result<()> {
        self.apply(vec![Edit::Put(
            Tree::Objects,
            crate::key::index_key(bucket, key),
            meta.encode(),
        )])
        .await
    }

    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.apply(vec![Edit::Delete(
            Tree::Objects,
            crate::key::index_key(bucket, key),
        )])
        .await
    }

    /// Waits for queued writes, stops the writer and releases the store (its file lock with it).
    /// A read that took the store just before is waited for (reads are short and never wait on
    /// anything), so that once this returns the store can be opened again in this process.
    pub(crate) fn close(&self) {
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some((tx, handle)) = writer {
            drop(tx);
            let _ = handle.join();
        }
        let Some(store) = self.store.write().ok().and_then(|mut s| s.take()) else {
            return;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&store) > 1 {
            if std::time::Instant::now() > deadline {
                tracing::warn!("the index is still being read; it closes when that read ends");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.close();
    }
}

fn closed() -> VfsError {
    VfsError::Store(StoreError("the index is closed".into()))
}

/// Commits queued batches in groups. `buckets_changed` counts the groups that touched a bucket
/// record, raised before their writers are told, so that no request after a change is answered
/// from a record decoded before it (`Core::bucket_record`). Deferred edits are taken after the
/// group is gathered, and go first in it: each was deferred before any batch sent after it.
fn write_loop(
    store: &dyn MetaStore,
    rx: mpsc::Receiver<Batch>,
    buckets_changed: &AtomicU64,
    after_commit: &AfterCommit,
    deferred: &Deferred,
) {
    let take_deferred = || deferred.lock().map(|mut d| std::mem::take(&mut *d));
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(b) => group.push(b),
                Err(_) => break,
            }
        }
        let mut ops = take_deferred().unwrap_or_default();
        ops.extend(group.iter().flat_map(|b| b.ops.iter().cloned()));
        let result = store.apply(&ops);
        if let (Ok(()), Some(after)) = (&result, after_commit.get()) {
            after();
        }
        // Raised whatever the outcome: a record read again costs little, one served stale is wrong.
        if ops.iter().any(|op| {
            matches!(
                op,
                Edit::Put(Tree::Buckets, ..) | Edit::Delete(Tree::Buckets, _)
            )
        }) {
            buckets_changed.fetch_add(1, Ordering::Release);
        }
        for b in group {
            let _ = b.done.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| StoreError(e.0.clone())),
            );
        }
    }
    // What is still deferred commits before the writer stops: a clean shutdown leaves no
    // finished change's intent for the next start.
    match take_deferred() {
        Ok(ops) if !ops.is_empty() => {
            if let (Ok(()), Some(after)) = (store.apply(&ops), after_commit.get()) {
                after();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_record_marked_cached_reads_as_waiting_in_the_write_cache() {
        let written = br#"{"fingerprint":{"size":1,"mtime_ns":2,"id":3},"etag":"e","cached":true}"#;
        let meta = ObjectMeta::decode(written).unwrap();
        assert!(meta.in_write_cache);
        assert!(meta.encode().ends_with(br#","cached":true}"#));
    }

    /// Strings that look like the record's own fields, beside arbitrary ones.
    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,16}",
            Just("modified_ns".to_string()),
            Just(r#""modified_ns":5}"#.to_string()),
            Just(r#","cached":true}"#.to_string()),
            Just("-12".to_string()),
        ]
    }

    /// Text values, and byte values that are not UTF-8 (stored another way).
    fn meta_value() -> impl Strategy<Value = MetaValue> {
        prop_oneof![
            tricky().prop_map(|t| MetaValue::from(t.as_str())),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(MetaValue),
        ]
    }

    fn meta() -> impl Strategy<Value = ObjectMeta> {
        (
            (any::<u64>(), any::<i64>(), any::<u64>()),
            prop_oneof![
                "[0-9a-f]{32}",
                "[0-9a-f]{32}-[0-9]{1,5}",
                "[0-9a-f]{64}",
                "",
                tricky()
            ],
            proptest::option::of(tricky()),
            proptest::collection::vec((tricky(), meta_value()), 0..3),
            proptest::collection::vec((tricky(), tricky()), 0..3),
            proptest::collection::vec(any::<u64>(), 0..3),
            proptest::option::of(any::<i64>()),
            any::<bool>(),
            proptest::option::of((any::<u64>(), any::<u64>(), any::<bool>())),
        )
            .prop_map(
                |(
                    (size, mtime_ns, id),
                    etag,
                    content_type,
                    user_meta,
                    tags,
                    parts,
                    modified_ns,
                    in_write_cache,
                    version,
                )| {
                    ObjectMeta {
                        fingerprint: Fingerprint { size, mtime_ns, id },
                        etag,
                        version: version.map(|(seq, ms, null)| crate::version_id::VersionId {
                            seq,
                            ms,
                            null,
                        }),
                        attrs: ObjectAttrs {
                            headers: ContentHeaders {
                                content_type,
                                ..Default::default()
                            },
                            user_meta,
                            checksum: None,
                            tags,
                            acl: None,
                            lock: Default::default(),
                        },
                        parts,
                        modified_ns,
                        in_write_cache,
                        store: None,
                    }
                },
            )
    }

    /// Records written before values were bytes read as they were; a value that is not text
    /// survives the round trip byte for byte.
    #[test]
    fn metadata_values_keep_their_bytes() {
        let old = br#"{"fingerprint":{"size":1,"mtime_ns":2,"id":3},"etag":"e","attrs":{"headers":{},"user_meta":[["x","plain"]]}}"#;
        let m = ObjectMeta::decode(old).unwrap();
        assert_eq!(
            m.attrs.user_meta,
            vec![("x".into(), MetaValue::from("plain"))]
        );
        assert_eq!(m.encode(), old.to_vec(), "text is written as before");
        let mut latin1 = m.clone();
        latin1.attrs.user_meta = vec![("x".into(), MetaValue(b"caf\xe9".to_vec()))];
        let back = ObjectMeta::decode(&latin1.encode()).unwrap();
        assert_eq!(back, latin1);
        assert_eq!(
            ListedMeta::read_known_layout(&latin1.encode())
                .unwrap()
                .etag,
            "e"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..Default::default() })]

        /// The quick read of a record agrees with the full parse, and takes every record whose
        /// ETag is a digest.
        #[test]
        fn the_quick_read_agrees_with_the_parse(m in meta()) {
            let bytes = m.encode();
            let parsed: ListedMeta = serde_json::from_slice(&bytes).unwrap();
            let quick = ListedMeta::read_known_layout(&bytes);
            if let Some(q) = &quick {
                prop_assert_eq!(q, &parsed);
            }
            if m.etag.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                prop_assert!(quick.is_some(), "not read quickly: {}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    /// A deferred edit makes no commit of its own: it commits ahead of the next batch sent
    /// (so a later batch's edit of the same key wins), or when the index closes.
    #[tokio::test]
    async fn deferred_edits_ride_the_next_commit_or_the_close() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Index::new(crate::meta::open(Default::default(), dir.path()).unwrap());
        let index = open();
        index.defer(vec![Edit::Put(
            Tree::State,
            b"a".to_vec(),
            b"deferred".to_vec(),
        )]);
        assert_eq!(index.get_state(b"a").unwrap(), None, "no commit of its own");
        index.defer(vec![Edit::Delete(Tree::State, b"b".to_vec())]);
        index
            .apply(vec![Edit::Put(
                Tree::State,
                b"b".to_vec(),
                b"later".to_vec(),
            )])
            .await
            .unwrap();
        assert_eq!(
            index.get_state(b"a").unwrap().as_deref(),
            Some(&b"deferred"[..])
        );
        assert_eq!(
            index.get_state(b"b").unwrap().as_deref(),
            Some(&b"later"[..])
        );
        index.defer(vec![Edit::Put(
            Tree::State,
            b"c".to_vec(),
            b"at close".to_vec(),
        )]);
        index.close();
        drop(index);
        let index = open();
        assert_eq!(
            index.get_state(b"c").unwrap().as_deref(),
            Some(&b"at close"[..])
        );
    }
}
