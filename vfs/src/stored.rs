//! The store of keys: S3 keys that a file tree cannot hold as plain files (`a` beside `a/b`,
//! content under `x/`, `a//b`, `.` and `..` segments, a segment over 255 bytes, a leading `/`)
//! keep their file under `.s3gate/keys/<bucket>/<xx>/<id>`, named by a fresh id, and their
//! record says where (`ObjectMeta::store`). Everything that reads or changes a key asks its
//! record first, so such keys are served exactly as others; the plain-file view holds every key
//! that fits.
//!
//! Where a key lives is decided when it is written and it stays there: a key kept in the store
//! is written again at the same place (so an overwrite, a demotion into the version store and
//! its undoing work as at a plain path), and a key that stops conflicting does not move.
//!
//! Crash safety: a fresh place is named by an intent (`Tree::State`, `keyput/` + place → index
//! key) committed before the file is published there, and dropped in the batch of the record
//! that names it. An intent found at start is a file published without its record (never
//! acknowledged): the file goes. Deletes and demotions are the ones of every key, under their
//! own intents.

use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::path_claims::Place;
use crate::remote::Remote;
use crate::vfs::Vfs;

/// Where the intents of fresh places live in `Tree::State`.
const INTENT: &[u8] = b"keyput/";

fn intent_key(place: &str) -> Vec<u8> {
    [INTENT, place.as_bytes()].concat()
}

/// The intent to publish a key's file at a fresh `place`, and its removal, which commits with
/// the key's record.
pub(crate) fn fresh_intent(place: &str, bucket: &str, key: &str) -> (Edit, Edit) {
    (
        Edit::Put(Tree::State, intent_key(place), key::index_key(bucket, key)),
        Edit::Delete(Tree::State, intent_key(place)),
    )
}

/// A key kept in the store, as the admin command lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

impl Core {
    /// The place in the store of the current version of `bucket/key`, when it is kept there.
    pub(crate) fn stored_path(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        Ok(self.index.get(bucket, key)?.and_then(|m| m.store))
    }

    /// Where the file of `bucket/key` is: its place in the store, or its own path when the key
    /// fits a file tree; `None` for a key that can name no file (a `dir/` marker's folder is
    /// [`key::marker_path`]'s).
    pub(crate) fn path_of(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        key::validate_bucket(bucket)?;
        let record = self.index.get(bucket, key)?;
        Ok(key::path_in(
            bucket,
            key,
            record.as_ref().and_then(|m| m.store.as_deref()),
        ))
    }
}

/// [`Vfs::in_the_way`] on one file tree.
async fn in_the_way_on(tree: &dyn Remote, path: &str) -> Result<bool> {
    if tree.stat(path).await?.is_some_and(|e| e.is_dir) {
        return Ok(true);
    }
    // Up from the file's folder to the first one there; the bucket itself is.
    let mut dir = path;
    while let Some((up, _)) = dir.rsplit_once('/') {
        if !up.contains('/') {
            return Ok(false);
        }
        match tree.stat(up).await? {
            Some(e) => return Ok(!e.is_dir),
            None => dir = up,
        }
    }
    Ok(false)
}

impl Vfs {
    /// The path a change of `bucket/key` that makes no file (a delete, a delete marker, a
    /// lock) names: where its file is, a folder marker's folder, or a fresh place for a key
    /// that has none now and cannot be a plain file. [`Core::commit`] follows the record under
    /// the key's lock anyway.
    pub(crate) fn change_path(&self, bucket: &str, key: &str) -> Result<String> {
        key::validate_s3_key(key)?;
        if let Some(path) = self.core.path_of(bucket, key)? {
            return Ok(path);
        }
        Ok(match key::marker_path(bucket, key) {
            Some(Ok(folder)) => folder,
            _ => key::new_store_path(bucket),
        })
    }

    /// Whether `key` names a folder marker (`dir/` with no content): a key ending in `/` that
    /// is not kept in the store with content of its own.
    pub fn is_folder_marker(&self, bucket: &str, key: &str) -> Result<bool> {
        Ok(key.ends_with('/') && self.core.stored_path(bucket, key)?.is_none())
    }

    /// Why this server cannot keep keys in the store, when it cannot: an object store holds
    /// `a` beside `a/b` anyway, and names no path by its keys for the rest to be kept apart
    /// from. Any remote with folders (a local directory, WebDAV, SFTP, FTP) keeps them under
    /// its own `.s3gate/keys`, written by its own upload, as its versions are; the write cache
    /// holds them at the same places in its folder until they are uploaded there.
    fn stored_keys_unsupported(&self) -> Option<&'static str> {
        self.core.remote.folders_are_prefixes().then_some(
            "keys that cannot be plain files (content under a key ending in '/', empty, \
             '.' or '..' segments, segments over 255 bytes) are kept only on a remote \
             with folders (a local directory, WebDAV, SFTP, FTP), not on an object store",
        )
    }

    /// Where a write of `bucket/key` goes: the key's place in the store when it is kept there;
    /// else its own path when it fits a file tree and nothing there is in the way (a folder
    /// at the path, a file at a folder above it), nor will be: no other write holds a claim
    /// on a path that conflicts with it (path_claims.rs); else a fresh place in the store. The
    /// claim on the own path is held as long as the [`Place`] is, until the file is there.
    pub(crate) async fn place_for(&self, bucket: &str, key: &str) -> Result<Place<'_>> {
        key::validate_bucket(bucket)?;
        key::validate_s3_key(key)?;
        if let Some(place) = self.core.stored_path(bucket, key)? {
            return Ok(Place::unclaimed(place));
        }
        let plain = match key::object_path(bucket, key) {
            Ok(path) if self.core.remote.folders_are_prefixes() => {
                return Ok(Place::unclaimed(path))
            }
            // Claimed before the look: a write deciding later meets the claim.
            Ok(path) => match self.core.plain_claims.claim(&path) {
                Some(claim) if !self.in_the_way(&path).await? => {
                    return Ok(Place::claimed(path, claim))
                }
                _ => Ok(path),
            },
            plain => plain,
        };
        match (self.stored_keys_unsupported(), plain) {
            (None, _) => Ok(Place::unclaimed(key::new_store_path(bucket))),
            (Some(why), Err(VfsError::InvalidKey(m))) => {
                Err(VfsError::InvalidKey(format!("{m}: {why}")))
            }
            (Some(_), plain) => plain.map(Place::unclaimed),
        }
    }

    /// Whether a file tree cannot hold a file at `path`, on the remote or in the write cache
    /// (whose files are uploaded to the same paths): a folder is there, or a file stands where
    /// one of the folders above it would be.
    async fn in_the_way(&self, path: &str) -> Result<bool> {
        if let Some(cache) = &self.write_back.cache {
            if in_the_way_on(&*cache.fs, path).await? {
                return Ok(true);
            }
        }
        in_the_way_on(&*self.core.remote, path).await
    }

    /// Removes the files published at fresh places whose record never committed (a crash
    /// between publishing and recording; run at start, before serving).
    pub(crate) async fn finish_fresh_places(&self) -> Result<()> {
        let end = key::prefix_end(INTENT);
        loop {
            let batch = self
                .core
                .index
                .range_in(Tree::State, INTENT, end.as_deref(), 1000)?;
            if batch.is_empty() {
                return Ok(());
            }
            let mut done = Vec::with_capacity(batch.len());
            for (k, v) in batch {
                let place = String::from_utf8_lossy(&k[INTENT.len()..]).into_owned();
                let recorded = self
                    .core
                    .index
                    .get_in(Tree::Objects, &v)?
                    .and_then(|r| ObjectMeta::decode(&r).ok())
                    .is_some_and(|m| m.store.as_deref() == Some(place.as_str()));
                if !recorded && key::is_stored(&place) {
                    self.core.remote.delete(&place, None).await?;
                }
                done.push(Edit::Delete(Tree::State, k));
            }
            self.core.index.apply(done).await?;
        }
    }

    /// Whether `bucket` has keys kept in the store (it is then not empty, though its folder
    /// may be). A walk of the bucket's records, which an empty bucket has few of.
    pub(crate) fn bucket_has_stored_keys(&self, bucket: &str) -> Result<bool> {
        let base = key::index_key(bucket, "");
        let end = key::prefix_end(&base);
        let mut start = base;
        loop {
            let batch = self.core.index.range(&start, end.as_deref(), 1000)?;
            let Some((last, _)) = batch.last() else {
                return Ok(false);
            };
            start = last.clone();
            start.push(0);
            let stored = batch
                .iter()
                .any(|(_, v)| ObjectMeta::decode(v).is_ok_and(|m| m.store.is_some()));
            if stored {
                return Ok(true);
            }
        }
    }

    /// Every key kept in the store, in index order, with its size.
    pub fn stored_keys(&self) -> Result<Vec<StoredKey>> {
        let mut out = Vec::new();
        let mut start = Vec::new();
        loop {
            let batch = self.core.index.range(&start, None, 1000)?;
            let Some((last, _)) = batch.last() else {
                return Ok(out);
            };
            start = last.clone();
            start.push(0);
            for (k, v) in batch {
                let Ok(meta) = ObjectMeta::decode(&v) else {
                    continue;
                };
                if meta.store.is_none() {
                    continue;
                }
                let name = String::from_utf8_lossy(&k);
                if let Some((bucket, key)) = name.split_once('/') {
                    out.push(StoredKey {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                        size: meta.fingerprint.size,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn put(vfs: &Vfs, key: &str, body: &'static [u8]) {
        vfs.put_test(key, body, Default::default()).await;
    }

    /// A crash between publishing at a fresh place and committing the record leaves the
    /// intent: the next start removes the file, and keeps the files records name.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_fresh_place_without_its_record_is_swept_at_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bkt")).unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        put(&vfs, "a/b", b"child").await;
        put(&vfs, "a", b"parent").await;
        let kept = vfs
            .core
            .stored_path("bkt", "a")
            .unwrap()
            .expect("kept in the store");
        assert!(key::is_stored(&kept));
        // What a crash leaves: a file at a fresh place and its intent, no record.
        let lost = key::new_store_path("bkt");
        let (intent, _) = fresh_intent(&lost, "bkt", "x");
        vfs.core.index.apply(vec![intent]).await.unwrap();
        std::fs::create_dir_all(dir.path().join(&lost).parent().unwrap()).unwrap();
        std::fs::write(dir.path().join(&lost), b"never acknowledged").unwrap();
        vfs.shutdown().await;
        drop(vfs);

        let vfs = Vfs::open_unsynced(dir.path()).await;
        assert!(!dir.path().join(&lost).exists(), "the orphan is gone");
        assert_eq!(std::fs::read(dir.path().join(&kept)).unwrap(), b"parent");
        let keys = vfs.stored_keys().unwrap();
        assert_eq!(
            keys,
            [StoredKey {
                bucket: "bkt".into(),
                key: "a".into(),
                size: 6
            }]
        );
        let end = key::prefix_end(INTENT);
        let left = vfs
            .core
            .index
            .range_in(Tree::State, INTENT, end.as_deref(), 10);
        assert!(left.unwrap().is_empty(), "no intent left");
    }
}
