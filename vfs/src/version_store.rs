//! The version store, where a noncurrent version's file waits under the reserved folder
//! (`.s3gate/versions`), and the crash-safe moves into it and out of it.
//!
//! Demoting the current version (an overwrite or a delete in a versioned bucket) is crash safe
//! in three steps: (1) the version's row and an intent naming the path, the store file and the
//! file's fingerprint are committed in one batch; (2) the file is renamed into the store; (3) the
//! caller publishes what replaces it (a new file, or nothing for a delete marker) and commits its
//! record together with the intent's removal ([`Demoted::done`]). An intent found at start means
//! step 3 never committed, so the change was never acknowledged: the store file, when the rename
//! happened, is renamed back over the path (over a new file published but never recorded), and
//! the row goes. Either way the key holds the version it held before, with its record, and the
//! store holds no file without a row.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::VersionIds;
use crate::error::{Result, VfsError};
use crate::index::{Index, ObjectMeta};
use crate::key::{self, RESERVED_DIR};
use crate::meta::{Edit, StoreError, Tree};
use crate::remote::{moved_unless_stale, Fingerprint, Remote};
use crate::version_id::VersionId;
use crate::version_row::{row_key, VersionRecord};

/// What replaces a version whose demotion commits with it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Then {
    /// A new file at the path, of this fingerprint.
    Published(Fingerprint),
    /// A delete marker: nothing at the path.
    Marker,
}

/// Where demotion intents live in `Tree::State`, followed by the key's path.
pub(crate) const INTENT: &[u8] = b"demote/";
/// Where promotion intents live (a noncurrent version made current again), likewise.
const PROMOTE: &[u8] = b"promote/";

/// A move into the version store that failed.
pub(crate) fn move_failed(e: std::io::Error) -> VfsError {
    match e.kind() {
        // Refused before anything moved: an object store copies at most 5 GiB at once.
        std::io::ErrorKind::Unsupported => VfsError::VersionsUnsupported(
            "this remote copies at most 5 GiB on its side: a larger object cannot move to the \
             version store",
        ),
        _ => e.into(),
    }
}

/// Where a noncurrent version's file lives: named by a fresh id (never by its key, so no key
/// is too long for it), spread over 256 folders per bucket by runs of 256 ids, so that versions
/// demoted at the same time land in one folder and share its sync (`remote/dirsync.rs`), which
/// makes each move durable before what replaces it is published. A row names its file, so
/// files named otherwise before stay where they are.
pub(crate) fn store_path(bucket: &str, name: &VersionId) -> String {
    format!(
        "{RESERVED_DIR}/versions/{bucket}/{:02x}/{}",
        (name.seq >> 8) & 0xff,
        name.unique()
    )
}

/// What a demotion left to its caller: the removal of its intent (and, where the move gave the
/// stored file a new fingerprint, its row saying so), to be committed in the batch that records
/// what replaced the version.
pub(crate) struct Demoted {
    pub(crate) done: Vec<Edit>,
    pub(crate) intent: Intent,
}

/// An intent: the demotion of the file at `path` to `file`, recorded as row `row`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Intent {
    pub(crate) row: Vec<u8>,
    pub(crate) file: String,
    pub(crate) fingerprint: Fingerprint,
    /// What replaces the version, when the intent committed with it (version_fold.rs); none
    /// when the intent committed alone, before the move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) then: Option<Then>,
}

pub(crate) fn intent_key(path: &str) -> Vec<u8> {
    [INTENT, path.as_bytes()].concat()
}

pub(crate) fn promote_key(path: &str) -> Vec<u8> {
    [PROMOTE, path.as_bytes()].concat()
}

/// The version store of one remote: steps 1 and 2 of a demotion, and recovery of those a crash
/// cut short.
pub(crate) struct VersionStore<'a> {
    pub(crate) index: &'a Index,
    pub(crate) remote: &'a Arc<dyn Remote>,
    pub(crate) ids: &'a VersionIds,
}

/// How a kept version becomes current again once what is above it goes ([`Vfs::takeover`]).
#[derive(Default)]
pub(crate) struct Takeover {
    /// To commit in the batch that removes what is above the version.
    pub(crate) edits: Vec<Edit>,
    /// The promotion to finish once they are committed: where the version goes, and its
    /// intent.
    pub(crate) promotion: Option<(String, Intent)>,
}

impl VersionStore<'_> {
    /// Finishes the promotion a [`Takeover`] committed, if any.
    pub(crate) async fn finish(&self, promotion: Option<(String, Intent)>) -> Result<()> {
        match promotion {
            Some((path, intent)) => self.finish_promotion(&path, intent).await,
            None => Ok(()),
        }
    }

    /// Moves a kept version's file back to `path` and makes its row the current record; also
    /// how a promotion a crash cut short is finished at start. A file another program put at
    /// the path meanwhile stays, and the version stays kept.
    async fn finish_promotion(&self, path: &str, intent: Intent) -> Result<()> {
        let landed = match self
            .remote
            .rename(&intent.file, path, Some(intent.fingerprint), false)
            .await
        {
            Ok(Some(fp)) => Some(fp),
            // Moved before a crash: the file at the path is the version's, unless another
            // program put its own there since. A move that is a copy gave it a fingerprint of
            // its own; its source is gone, and only this server's moves take a file from the
            // store, so a file of the version's size there is that copy.
            Ok(None) => match self.moved_to(path, intent.fingerprint).await? {
                Some(fp) => Some(fp),
                None => self
                    .remote
                    .stat(path)
                    .await?
                    .filter(|e| !e.is_dir && e.fingerprint.size == intent.fingerprint.size)
                    .map(|e| e.fingerprint),
            },
            // Taken: by another program's file, which stays, or by a copy of the version whose
            // source a crash kept (a move that is a copy and a delete: its fingerprint, or its
            // bytes, are the version's), which then goes; or a file holds a folder of the path,
            // and the version stays kept.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTDIR)) => {
                let landed = match self.moved_to(path, intent.fingerprint).await? {
                    Some(fp) => Some(fp),
                    None if e.raw_os_error() == Some(libc::EEXIST) => {
                        self.copied_to(path, &intent.file).await?
                    }
                    None => None,
                };
                if landed.is_some() {
                    self.remote
                        .delete(&intent.file, Some(intent.fingerprint))
                        .await?;
                }
                landed
            }
            Err(e) => return Err(e.into()),
        };
        let mut ops = vec![Edit::Delete(Tree::State, promote_key(path))];
        let row = match self.index.get_in(Tree::Versions, &intent.row)? {
            Some(v) => Some(VersionRecord::decode(&v)?),
            None => None,
        };
        if let (Some(landed), Some(row)) = (landed, row) {
            if let Some(mut meta) = row.object {
                meta.version = Some(row.id);
                meta.fingerprint = landed;
                meta.store = key::is_stored(path).then(|| path.to_string());
                // The row's key is the record's, followed by NUL and the counter.
                let object_key = intent.row[..intent.row.len() - 9].to_vec();
                ops.push(Edit::Put(Tree::Objects, object_key, meta.encode()));
                ops.push(Edit::Delete(Tree::Versions, intent.row));
            }
        }
        self.index.apply(ops).await
    }

    /// Moves the current version of `bucket/key` (the file at `path`, described by `current`,
    /// made as `id`) into the store and records it as noncurrent since `now_ns`; the caller
    /// holds the key's lock. `None` when the file is no longer the one recorded (another
    /// program changed it): nothing was moved and nothing recorded.
    pub(crate) async fn demote(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
        current: &ObjectMeta,
        id: VersionId,
        now_ns: i64,
    ) -> Result<Option<Demoted>> {
        let file = store_path(bucket, &self.ids.next(self.index, false).await?);
        let fp = current.fingerprint;
        let record = VersionRecord {
            id,
            object: Some(current.clone()),
            file: Some(file.clone()),
            made_ns: current.written_ns(),
            noncurrent_ns: now_ns,
        };
        let row = row_key(bucket, key, id.seq);
        let intent = Intent {
            row: row.clone(),
            file: file.clone(),
            fingerprint: fp,
            then: None,
        };
        let intent_value = serde_json::to_vec(&intent).unwrap_or_default();

        self.index
            .apply(vec![
                Edit::Put(Tree::Versions, row.clone(), record.encode()),
                Edit::Put(Tree::State, intent_key(path), intent_value),
            ])
            .await?;
        let undo = vec![
            Edit::Delete(Tree::Versions, row.clone()),
            Edit::Delete(Tree::State, intent_key(path)),
        ];
        let moved = self.remote.rename(path, &file, Some(fp), false).await;
        match moved_unless_stale(moved) {
            Ok(Some(moved)) => {
                let mut done = vec![Edit::Delete(Tree::State, intent_key(path))];
                // A copy on an object store is a new object with a time of its own: the row
                // says which file it keeps, committed with what replaced the version (no one
                // reads the row before, under the key's lock).
                if moved != fp {
                    let mut record = record;
                    if let Some(meta) = record.object.as_mut() {
                        meta.fingerprint = moved;
                    }
                    done.push(Edit::Put(Tree::Versions, row, record.encode()));
                }
                Ok(Some(Demoted { done, intent }))
            }
            Ok(None) => {
                self.index.apply(undo).await?;
                Ok(None)
            }
            // Refused before anything moved.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                self.index.apply(undo).await?;
                Err(move_failed(e))
            }
            Err(e) => {
                // The rename may have happened all the same (a failed sync): only the intent's
                // recovery knows how to undo both cases, so it runs now.
                self.recover_one(path, intent).await?;
                Err(e.into())
            }
        }
    }

    /// Undoes a demotion whose change failed: the version is current again.
    pub(crate) async fn undo(&self, path: &str, demoted: Demoted) -> Result<()> {
        self.recover_one(path, demoted.intent).await
    }

    /// Undoes every demotion a crash left half done; run at start, before serving.
    pub(crate) async fn recover(&self) -> Result<usize> {
        let mut found = Vec::new();
        self.index.visit_in(Tree::State, |k, v| {
            if let Some(path) = k.strip_prefix(INTENT) {
                found.push((false, path.to_vec(), v.to_vec()));
            } else if let Some(path) = k.strip_prefix(PROMOTE) {
                found.push((true, path.to_vec(), v.to_vec()));
            }
            true
        })?;
        let count = found.len();
        for (promotion, path, value) in found {
            let path = String::from_utf8_lossy(&path).into_owned();
            let intent: Intent = serde_json::from_slice(&value)
                .map_err(|e| VfsError::Store(StoreError(format!("corrupt intent: {e}"))))?;
            match (promotion, intent.then) {
                // The version removed before it was for good: finishing is the only way on.
                (true, _) => self.finish_promotion(&path, intent).await?,
                // Committed with what replaced the version: the files tell how far it went.
                (false, Some(then)) => self.recover_folded(&path, intent, then).await?,
                (false, None) => self.recover_one(&path, intent).await?,
            }
        }
        Ok(count)
    }

    /// The fingerprint of the file at `path` when it is the one a move of version `fp` left
    /// there: the very file, or, where a move is a copy on the store, one of the same size and
    /// content tag (the store's ETag, which a copy of an object written in one piece keeps). A
    /// copy whose tag changed is taken for another program's file: the version then stays kept
    /// and the copy is found by the rescan, so nothing is lost either way.
    async fn moved_to(&self, path: &str, fp: Fingerprint) -> Result<Option<Fingerprint>> {
        let found = self.remote.stat(path).await?.filter(|e| !e.is_dir);
        Ok(found
            .map(|e| e.fingerprint)
            .filter(|found| self.is_move_of(*found, fp)))
    }

    /// Whether a file of fingerprint `found` is version `fp`, or a copy of it that a move made
    /// ([`VersionStore::moved_to`]).
    pub(crate) fn is_move_of(&self, found: Fingerprint, fp: Fingerprint) -> bool {
        found == fp
            || (self.remote.folders_are_prefixes()
                && fp.id != 0
                && (found.size, found.id) == (fp.size, fp.id))
    }

    /// The fingerprint of the file at `path` when it holds the bytes of the stored file `file`:
    /// a copy of it that a move made before a crash kept the source (a move that is a copy and a
    /// delete), whatever time and tag the copy got. Read whole (files of one size only), as only
    /// the start asks, of a move a crash cut short.
    pub(crate) async fn copied_to(&self, path: &str, file: &str) -> Result<Option<Fingerprint>> {
        let (Some(copy), Some(source)) =
            (self.remote.open(path).await?, self.remote.open(file).await?)
        else {
            return Ok(None);
        };
        let fp = copy.fingerprint();
        if fp.size != source.fingerprint().size {
            return Ok(None);
        }
        let digest = |reader: Box<dyn crate::remote::Reader>| async move {
            let mut h = blake3::Hasher::new();
            crate::object::each_chunk(reader.stream(0, fp.size), |c| {
                h.update(c);
            })
            .await
            .map(|()| h.finalize())
        };
        Ok((digest(copy).await? == digest(source).await?).then_some(fp))
    }

    /// Puts the file of an unfinished demotion back at `path`, over whatever was published
    /// there without being recorded, and drops its row and intent. The version still at its
    /// path (never moved, or copied by a move whose source a crash kept) stays there, and a
    /// stored file of it goes. A store file's name is fresh and only this server writes under
    /// the reserved folder, so the file there is the one moved, whatever time a copy gave it.
    async fn recover_one(&self, path: &str, intent: Intent) -> Result<()> {
        if let Some(fp) = self.put_back(path, &intent).await? {
            self.refingerprint(&intent.row, intent.fingerprint, fp)
                .await?;
        }
        self.index
            .apply(vec![
                Edit::Delete(Tree::Versions, intent.row),
                Edit::Delete(Tree::State, intent_key(path)),
            ])
            .await
    }

    /// The file half of [`VersionStore::recover_one`]: the version of `intent` at `path` again,
    /// and no stored file of it; answers the fingerprint of the file moved back, if one was.
    pub(crate) async fn put_back(
        &self,
        path: &str,
        intent: &Intent,
    ) -> Result<Option<Fingerprint>> {
        let here = self.remote.stat(path).await?.filter(|e| !e.is_dir);
        if here.is_some_and(|e| e.fingerprint == intent.fingerprint) {
            let stored = self.remote.stat(&intent.file).await?.filter(|e| !e.is_dir);
            if let Some(stored) = stored {
                self.remote
                    .delete(&intent.file, Some(stored.fingerprint))
                    .await?;
            }
            return Ok(None);
        }
        Ok(self.remote.rename(&intent.file, path, None, true).await?)
    }

    /// A version put back at its path by a copy has a new fingerprint: the key's record, when
    /// it still describes the version as it was (`was`), takes the new one (`now`), or the
    /// next read would take the file for another program's.
    async fn refingerprint(&self, row: &[u8], was: Fingerprint, now: Fingerprint) -> Result<()> {
        if was == now {
            return Ok(());
        }
        // The row's key is the record's, followed by NUL and the counter.
        let object_key = row[..row.len() - 9].to_vec();
        let Some(bytes) = self.index.get_in(Tree::Objects, &object_key)? else {
            return Ok(());
        };
        let mut meta = ObjectMeta::decode(&bytes)?;
        if meta.fingerprint != was {
            return Ok(());
        }
        meta.fingerprint = now;
        self.index
            .apply(vec![Edit::Put(Tree::Objects, object_key, meta.encode())])
            .await
    }
}
