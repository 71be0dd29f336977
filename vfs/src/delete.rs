//! Deletes a crash cannot split between file and record.
//!
//! Publishing commits a record with its file (`Index::prepare`); a delete must too, or a crash
//! between the unlink and the index commit leaves a record listed for an object that answers 404
//! (and the other order, a file no record lists). So the record's removal is committed together
//! with an intent naming the file's version (`Tree::State`, `delete/` + path → fingerprint);
//! then the file is removed, then the intent dropped. The next start finishes every intent left
//! behind before serving, removing a file only while it is still that version: another
//! program's later write to the path is never removed.
//!
//! The intent is dropped without waiting for that commit: one lost in a crash finds its file
//! gone (or a newer one) at the next start, and is simply dropped then.

use crate::commit::{At, Change};
use crate::error::Result;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::object::Precondition;
use crate::remote::Fingerprint;
use crate::vfs::Vfs;

/// Where intents live in `Tree::State`.
const INTENT: &[u8] = b"delete/";

fn intent_key(path: &str) -> Vec<u8> {
    [INTENT, path.as_bytes()].concat()
}

/// The intent to remove the file at `path` while it is version `fp`, and its removal: for
/// another change that removes a file (a version dropped from the version store).
pub(crate) fn delete_intent(path: &str, fp: &Fingerprint) -> (Edit, Edit) {
    (
        Edit::Put(Tree::State, intent_key(path), encode(fp)),
        Edit::Delete(Tree::State, intent_key(path)),
    )
}

/// The object goes, file and record. Only a file is an object: anything else at the path (a
/// link, a FIFO, a socket another program put there) stays, and the key answers as absent, as
/// it did.
pub(crate) struct Remove;

impl Change<Vfs> for Remove {
    type Done = ();

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<()> {
        vfs.delete_locked(at.bucket, at.key, at.path).await
    }

    async fn abandon(self) {}
}

impl Vfs {
    /// Removes the object at `path` and its record; the caller holds the key's lock.
    pub(crate) async fn delete_locked(&self, bucket: &str, key: &str, path: &str) -> Result<()> {
        self.delete_locked_with(bucket, key, path, Vec::new()).await
    }

    /// [`Vfs::delete_locked`], committing `also` in the batch that removes the record (a kept
    /// version that becomes current in its place), and undoing it with the record's removal
    /// when the remote refuses the delete.
    pub(crate) async fn delete_locked_with(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
        also: Vec<Edit>,
    ) -> Result<()> {
        // In a fleet the object may name a sidecar (`sidecar.rs`), which goes with it.
        let (file, sidecar) = match self.fleet.is_some() && self.core.remote.keeps_meta() {
            true => match self.core.remote.open(path).await? {
                Some(reader) => (
                    Some(reader.fingerprint()),
                    crate::envelope::sidecar_of(&*reader),
                ),
                None => (None, None),
            },
            false => (
                self.core
                    .remote
                    .stat(path)
                    .await?
                    .filter(|e| !e.is_dir)
                    .map(|e| e.fingerprint),
                None,
            ),
        };
        let mut ops = vec![Edit::Delete(Tree::Objects, key::index_key(bucket, key))];
        if self.write_back.cache.is_some() {
            ops.push(Edit::Delete(Tree::WriteBack, path.as_bytes().to_vec()));
        }
        ops.extend(also);
        if let Some(fp) = file {
            let mut undo = self.undo(&ops)?;
            ops.push(Edit::Put(Tree::State, intent_key(path), encode(&fp)));
            self.core.index.apply(ops).await?;
            let intent = Edit::Delete(Tree::State, intent_key(path));
            if let Err(e) = self.core.remote.delete(path, Some(fp)).await {
                // A refused delete leaves the object as it was, record included.
                undo.push(intent);
                self.core.index.apply(undo).await?;
                return Err(e.into());
            }
            // The object is gone: an index closing meanwhile only leaves the intent to the next
            // start.
            let _ = self.core.index.queue(vec![intent]);
            if let Some(id) = sidecar {
                self.drop_sidecar(bucket, key, &id).await;
            }
        } else {
            self.core.index.apply(ops).await?;
        }
        self.write_back.forget_cached(path).await;
        Ok(())
    }

    /// Deletes an object. Deleting what is not there (or could never be) succeeds, as in S3,
    /// unless `precondition` (If-Match) wants an object there. Deleting a `dir/` marker removes
    /// that folder if it is empty.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        precondition: Option<&Precondition>,
    ) -> Result<()> {
        self.head_bucket(bucket).await?;
        let path = match self.core.path_of(bucket, key)? {
            Some(path) => path,
            None => match key::marker_path(bucket, key) {
                Some(Ok(path)) => {
                    return self.delete_marker(bucket, key, &path, precondition).await
                }
                _ => return precondition.map_or(Ok(()), |check| check(None)),
            },
        };
        let at = At {
            bucket,
            key,
            path: &path,
        };
        self.commit(at, precondition, Remove).await?;
        self.remove_empty_parents(&path).await;
        Ok(())
    }

    /// Removes the folders above `path` that are now empty, up to (not including) the bucket.
    /// A folder that is not empty, or that a concurrent write fills again, simply stays; so does
    /// one a folder marker keeps. Each folder is looked at under the lock of its marker's key
    /// (the folder's path), so that a marker made or made current again meanwhile, which makes
    /// its folder before its record commits, never loses it.
    pub(crate) async fn remove_empty_parents(&self, path: &str) {
        // The store's folders stay: a write may be placing a file in one.
        if !self.core.cleanup || key::is_stored(path) {
            return;
        }
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if !parent.contains('/') {
                break;
            }
            let removed = self
                .core
                .key_locks
                .with(parent, async {
                    !self.folders.has_marker(parent) && self.core.remote.rmdir(parent).await.is_ok()
                })
                .await;
            if !removed {
                break;
            }
            dir = parent;
        }
    }

    /// What puts back the entries `ops` delete.
    fn undo(&self, ops: &[Edit]) -> Result<Vec<Edit>> {
        let mut undo = Vec::new();
        for op in ops {
            if let Edit::Delete(tree, k) = op {
                if let Some(v) = self.core.index.get_in(*tree, k)? {
                    undo.push(Edit::Put(*tree, k.clone(), v));
                }
            }
        }
        Ok(undo)
    }

    /// Finishes the deletes a crash cut off (run at start, before serving).
    pub(crate) async fn finish_deletes(&self) -> Result<()> {
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
                // An intent that cannot be read names nothing to remove.
                let path = std::str::from_utf8(&k[INTENT.len()..]).ok();
                let fp = serde_json::from_slice::<Fingerprint>(&v).ok();
                if let (Some(path), Some(fp)) = (path, fp) {
                    if self.core.remote.delete(path, Some(fp)).await? {
                        tracing::info!(path, "delete cut off by a crash finished");
                    }
                }
                done.push(Edit::Delete(Tree::State, k));
            }
            self.core.index.apply(done).await?;
        }
    }
}

fn encode(fp: &Fingerprint) -> Vec<u8> {
    serde_json::to_vec(fp).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::VfsError;
    use crate::list::{ListItem, ListQuery};

    async fn put(vfs: &Vfs, key: &str, data: &'static [u8]) {
        vfs.put_test(key, data, Default::default()).await;
    }

    async fn keys(vfs: &Vfs) -> Vec<String> {
        let q = ListQuery {
            max_keys: 1000,
            ..Default::default()
        };
        let page = vfs.list("bkt", &q).await.unwrap();
        page.items
            .iter()
            .filter(|i| matches!(i, ListItem::Object { .. }))
            .map(|i| i.name().to_string())
            .collect()
    }

    /// What a GET of `key` answers: its bytes, or `None` for NoSuchKey.
    async fn get(vfs: &Vfs, key: &str) -> Option<Vec<u8>> {
        let r = match vfs.open_object("bkt", key).await {
            Ok(r) => r,
            Err(VfsError::NoSuchKey) => return None,
            Err(e) => panic!("GET {key}: {e}"),
        };
        let size = r.info.size;
        let mut out = Vec::new();
        let mut s = r.stream(0, size);
        while let Some(c) = futures_util::StreamExt::next(&mut s).await {
            out.extend_from_slice(&c.unwrap());
        }
        Some(out)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_get_that_finds_a_record_without_its_file_waits_for_the_change_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = std::sync::Arc::new(Vfs::open_unsynced(dir.path()).await);
        vfs.create_bucket("bkt", None).await.unwrap();
        put(&vfs, "k", b"kept").await;
        let (file, aside) = (dir.path().join("bkt/k"), dir.path().join("aside"));
        // A change of the key between its steps, as a delete moving the file into the version
        // store is: the file is away while the key's lock is held. The change is then undone.
        let mut during = None;
        vfs.core
            .key_locks
            .with("bkt/k", async {
                std::fs::rename(&file, &aside).unwrap();
                let get = tokio::spawn({
                    let vfs = vfs.clone();
                    async move { get(&vfs, "k").await }
                });
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert!(!get.is_finished(), "a GET answered from a change under way");
                std::fs::rename(&aside, &file).unwrap();
                during = Some(get);
            })
            .await;
        let during = during.expect("the GET started under the lock");
        assert_eq!(during.await.unwrap().as_deref(), Some(&b"kept"[..]));
        // A file another program removed is still a 404, after one wait for the lock.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(get(&vfs, "k").await, None);
    }

    /// Makes the folder `d` refuse changes, or take them again: read-only, and immutable for a
    /// user whom permissions do not stop (root).
    fn refuse_changes(d: &std::path::Path, refuse: bool) {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::PermissionsExt;
        const FS_IMMUTABLE_FL: libc::c_long = 0x10;
        let f = std::fs::File::open(d).unwrap();
        let mut flags: libc::c_long = 0;
        // SAFETY: a valid descriptor and a pointer to a long, for both calls.
        let set = |flags: libc::c_long| unsafe {
            libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags)
        };
        // SAFETY: as above.
        unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        let mode = if refuse { 0o555 } else { 0o755 };
        if refuse {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
            set(flags | FS_IMMUTABLE_FL);
        } else {
            set(flags & !FS_IMMUTABLE_FL);
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    /// The index as a crash between a delete's commit and its unlink leaves it: no record, the
    /// intent, the file.
    async fn crash_after_commit(vfs: &Vfs, key: &str) {
        let path = format!("bkt/{key}");
        let fp = vfs
            .core
            .remote
            .stat(&path)
            .await
            .unwrap()
            .unwrap()
            .fingerprint;
        vfs.core
            .index
            .apply(vec![
                Edit::Delete(Tree::Objects, crate::key::index_key("bkt", key)),
                Edit::Put(Tree::State, intent_key(&path), encode(&fp)),
            ])
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_delete_cut_off_after_its_commit_is_finished_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        put(&vfs, "gone", b"deleted before the crash").await;
        put(&vfs, "rewritten", b"deleted before the crash").await;
        put(&vfs, "kept", b"kept").await;
        crash_after_commit(&vfs, "gone").await;
        crash_after_commit(&vfs, "rewritten").await;
        vfs.shutdown().await;
        drop(vfs);
        // Another program writes the second key again while the server is down.
        std::fs::write(dir.path().join("bkt/rewritten"), b"a newer file").unwrap();

        let vfs = Vfs::open_unsynced(dir.path()).await;
        assert!(
            !dir.path().join("bkt/gone").exists(),
            "the delete was finished"
        );
        vfs.reconcile().await.unwrap();
        assert_eq!(keys(&vfs).await, ["kept", "rewritten"]);
        assert_eq!(get(&vfs, "gone").await, None);
        assert_eq!(get(&vfs, "rewritten").await.unwrap(), b"a newer file");
        assert_eq!(get(&vfs, "kept").await.unwrap(), b"kept");
        assert!(vfs
            .core
            .index
            .range_in(Tree::State, INTENT, key::prefix_end(INTENT).as_deref(), 10)
            .unwrap()
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn listings_wait_for_the_first_check_of_a_reopened_index() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        put(&vfs, "gone", b"removed while the server was down").await;
        put(&vfs, "kept", b"kept").await;
        vfs.shutdown().await;
        drop(vfs);
        // A file gone, its record left: as an unlink a crash cut off from its commit leaves it.
        std::fs::remove_file(dir.path().join("bkt/gone")).unwrap();

        let vfs = std::sync::Arc::new(Vfs::open_unsynced(dir.path()).await);
        let listing = tokio::spawn({
            let vfs = vfs.clone();
            async move { keys(&vfs).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !listing.is_finished(),
            "a listing answered from an unchecked index"
        );
        vfs.reconcile().await.unwrap();
        assert_eq!(listing.await.unwrap(), ["kept"]);
        assert_eq!(get(&vfs, "gone").await, None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_unlink_leaves_the_object_and_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        put(&vfs, "d/k", b"stays").await;
        vfs.reconcile().await.unwrap();
        let before = vfs.core.index.get("bkt", "d/k").unwrap();
        let d = dir.path().join("bkt/d");
        refuse_changes(&d, true);
        let refused = vfs.delete_object("bkt", "d/k", None).await;
        refuse_changes(&d, false);
        assert!(refused.is_err(), "the unlink was not refused");
        assert_eq!(vfs.core.index.get("bkt", "d/k").unwrap(), before);
        assert_eq!(keys(&vfs).await, ["d/k"]);
        assert_eq!(get(&vfs, "d/k").await.unwrap(), b"stays");
        assert!(vfs
            .core
            .index
            .range_in(Tree::State, INTENT, key::prefix_end(INTENT).as_deref(), 10)
            .unwrap()
            .is_empty());
    }
}
