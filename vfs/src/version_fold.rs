//! A demotion committed with the change that replaces the version: an overwrite, or a delete
//! marker, in a bucket whose versions are Enabled. A demotion of its own (version.rs) commits
//! its intent before the move and the change commits after it: two index commits, where the
//! same change in a bucket without versions makes one. Here:
//!
//! 1. one batch commits the change's own record (the new record, or the marker and the record's
//!    removal), the version's row and an intent naming the path, the store file, the version's
//!    fingerprint and what replaces it (the new file's fingerprint, or a marker);
//! 2. the file is moved into the store, only while it is the version recorded, its new name
//!    made durable; its old name's removal too for a marker, while an overwrite leaves that to
//!    the publish's sync of the same folder (until then a crash may leave the file at both
//!    names, which the intent settles);
//! 3. the new file, if any, is published over the path, and the change is answered. The
//!    intent's removal waits for the index's next commit (`Index::defer`), asked for once the
//!    publish has made the path's folder durable, and which a crash may lose: the next start
//!    then finds the intent and tells from the files how far it went.
//!
//! At start, before serving: an overwrite whose new file is at the path was done (and maybe
//! answered), and only its intent goes; one that left the version at the path, or nothing, was
//! never answered, and it is undone as a demotion is (version.rs: the stored file back over the
//! path, or the copy a move left removed), the version's row becoming the key's record again. A
//! file there that is neither is another program's, and the start never writes over it: it is
//! the current version, recorded as the rescan records it, and the version replaced stays kept
//! if its file reached the store. A marker has nothing to publish, so it is finished: the
//! version still at the path moves into the store. Either way the key holds the history before
//! the change or the one after it (another program's file aside), and no stored file is without
//! a row. A move that is a copy (a new fingerprint), or a publish whose file's fingerprint is
//! final only once published, commits what it learned (the row's file, the record) with the
//! intent's removal before the change is answered: two commits where the remote needs them,
//! and no intent for the start to judge by a fingerprint it no longer sees.

use crate::commit::At;
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::remote::{moved_unless_stale, publish_after, AfterMove, Fingerprint, Upload};
use crate::version_id::VersionId;
use crate::version_row::{row_key, VersionRecord};
use crate::version_store::{intent_key, move_failed, store_path, Intent, Then, VersionStore};
use crate::vfs::Vfs;

/// A demotion planned by `Vfs::replacing_with_change`: nothing committed or moved yet.
pub(crate) struct Planned {
    path: String,
    row: Vec<u8>,
    record: VersionRecord,
    file: String,
    fingerprint: Fingerprint,
}

impl Planned {
    fn intent(&self, then: Then) -> Intent {
        Intent {
            row: self.row.clone(),
            file: self.file.clone(),
            fingerprint: self.fingerprint,
            then: Some(then),
        }
    }

    /// The version's row and the intent, to commit in the change's own batch.
    pub(crate) fn edits(&self, then: Then) -> Vec<Edit> {
        let intent = serde_json::to_vec(&self.intent(then)).unwrap_or_default();
        vec![
            Edit::Put(Tree::Versions, self.row.clone(), self.record.encode()),
            Edit::Put(Tree::State, intent_key(&self.path), intent),
        ]
    }

    /// The row's and the intent's removal.
    fn dropped(&self) -> Vec<Edit> {
        vec![
            Edit::Delete(Tree::Versions, self.row.clone()),
            Edit::Delete(Tree::State, intent_key(&self.path)),
        ]
    }
}

/// The row of `intent`, its file now of fingerprint `moved`; no edit when the move kept it.
fn row_moved(row: Vec<u8>, mut record: VersionRecord, moved: Fingerprint) -> Option<Edit> {
    let meta = record.object.as_mut()?;
    if meta.fingerprint == moved {
        return None;
    }
    meta.fingerprint = moved;
    Some(Edit::Put(Tree::Versions, row, record.encode()))
}

/// The record a row's key belongs to: the row's key without its NUL and counter.
fn record_key(row: &[u8]) -> Vec<u8> {
    row[..row.len() - 9].to_vec()
}

/// What [`Vfs::publish_over`] did.
pub(crate) enum Over {
    /// Published, the version replaced kept: the new file's fingerprint.
    Published(Fingerprint),
    /// The file at the path was not the version recorded (another program changed it):
    /// nothing was kept or published, and the upload is the caller's, to plan again from what
    /// is there, or to publish as a change that keeps no version.
    NotDemoted(Box<dyn Upload>),
}

impl VersionStore<'_> {
    /// Plans the demotion of the current version of the key at `at` (its record `current`,
    /// made as `id`), noncurrent from `now_ns`; the caller holds the key's lock.
    pub(crate) async fn plan(
        &self,
        at: At<'_>,
        current: ObjectMeta,
        id: VersionId,
        now_ns: i64,
    ) -> Result<Planned> {
        let file = store_path(at.bucket, &self.ids.next(self.index, false).await?);
        let fingerprint = current.fingerprint;
        Ok(Planned {
            path: at.path.to_string(),
            row: row_key(at.bucket, at.key, id.seq),
            record: VersionRecord {
                id,
                made_ns: current.written_ns(),
                object: Some(current),
                file: Some(file.clone()),
                noncurrent_ns: now_ns,
            },
            file,
            fingerprint,
        })
    }

    /// Step 2: the version's file moved into the store, once its batch committed. `Ok(None)`
    /// when the file at the path is no longer the version recorded: nothing moved.
    async fn move_planned(&self, plan: &Planned) -> Result<Option<Fingerprint>> {
        let (from, to, pinned) = (&plan.path, &plan.file, Some(plan.fingerprint));
        let moved = self.remote.rename(from, to, pinned, false).await;
        moved_unless_stale(moved).map_err(move_failed)
    }

    /// Steps 2 and 3 of an overwrite, its batch committed: the version's file moved into the
    /// store, then `upload` published at its path, `then` given the two fingerprints
    /// ([`crate::remote::Remote::publish_after_move`]). Where the upload goes to the write
    /// cache, the move is one that no publish on the remote completes: it syncs both its
    /// folders first.
    async fn publish_after_move(
        &self,
        plan: &Planned,
        upload: Box<dyn Upload>,
        to_cache: bool,
        sync: bool,
        then: Box<dyn FnOnce(Fingerprint, Fingerprint) + Send>,
    ) -> Result<AfterMove> {
        let (from, to, pinned) = (&plan.path, &plan.file, Some(plan.fingerprint));
        let after = match to_cache {
            true => {
                let moved = self.remote.rename(from, to, pinned, false).await;
                publish_after(moved, upload, from, sync, then).await
            }
            false => {
                self.remote
                    .publish_after_move(upload, from, to, pinned, sync, then)
                    .await
            }
        };
        after.map_err(move_failed)
    }

    /// Steps 2 and 3 of a delete marker's change, its batch committed: the version covered
    /// moves into the store. `marker` is the marker's row, which goes if the move fails.
    /// `false` when the plan was `unchecked` (made from the key's record without a look at
    /// its file) and the file was not the version recorded: the marker is undone, for the
    /// change to plan again.
    pub(crate) async fn move_under_marker(
        &self,
        plan: Planned,
        marker: Vec<u8>,
        unchecked: bool,
    ) -> Result<bool> {
        match self.move_planned(&plan).await {
            Ok(Some(moved)) => match row_moved(plan.row.clone(), plan.record, moved) {
                Some(row) => self
                    .index
                    .apply(vec![row, Edit::Delete(Tree::State, intent_key(&plan.path))])
                    .await
                    .map(|()| true),
                None => {
                    self.index
                        .defer(vec![Edit::Delete(Tree::State, intent_key(&plan.path))]);
                    Ok(true)
                }
            },
            // Not the version recorded, which was taken on trust: the marker and the record's
            // removal are undone with the plan, as if never made.
            Ok(None) if unchecked => {
                let mut ops = plan.dropped();
                ops.push(Edit::Delete(Tree::Versions, marker));
                if let Some(old) = &plan.record.object {
                    ops.push(Edit::Put(
                        Tree::Objects,
                        record_key(&plan.row),
                        old.encode(),
                    ));
                }
                self.index.apply(ops).await.map(|()| false)
            }
            // Another program's file, or none: the marker stays over it, with no row of a
            // version that was not there to keep (as a demotion of its own records none).
            Ok(None) => self.index.apply(plan.dropped()).await.map(|()| true),
            Err(e) => {
                // The move may have happened all the same (a failed sync): the marker is undone
                // and the version put back, as the client is told the delete failed.
                let intent = plan.intent(Then::Marker);
                self.roll_back(
                    &plan.path,
                    intent,
                    vec![Edit::Delete(Tree::Versions, marker)],
                )
                .await?;
                Err(e)
            }
        }
    }

    /// Undoes a change committed with its demotion's intent: the version at `path` again, its
    /// row the key's record again, with `also` (what else the change committed) undone in the
    /// same batch. A row already gone (the key changed since) leaves the record alone.
    async fn roll_back(&self, path: &str, intent: Intent, also: Vec<Edit>) -> Result<()> {
        let landed = self.put_back(path, &intent).await?;
        let mut ops = also;
        if let Some(bytes) = self.index.get_in(Tree::Versions, &intent.row)? {
            if let Some(mut meta) = VersionRecord::decode(&bytes)?.object {
                meta.fingerprint = landed.unwrap_or(intent.fingerprint);
                ops.push(Edit::Put(
                    Tree::Objects,
                    record_key(&intent.row),
                    meta.encode(),
                ));
            }
        }
        ops.push(Edit::Delete(Tree::Versions, intent.row));
        ops.push(Edit::Delete(Tree::State, intent_key(path)));
        self.index.apply(ops).await
    }

    /// Finishes or undoes, at start, a change whose intent committed with it ([`Then`]).
    pub(crate) async fn recover_folded(
        &self,
        path: &str,
        intent: Intent,
        then: Then,
    ) -> Result<()> {
        let here = self.remote.stat(path).await?.filter(|e| !e.is_dir);
        let here = here.map(|e| e.fingerprint);
        let mut ops = vec![Edit::Delete(Tree::State, intent_key(path))];
        let landed = match then {
            Then::Published(fp) if here == Some(fp) => self.stored(&intent.file).await?,
            Then::Published(_) => match here {
                // Another program's file: written after the change was answered (its intent's
                // removal lost), or before it ever was. Either way it is the current version,
                // as any change another program makes: recorded as the rescan records it, with
                // no id, and the version it replaced stays kept if it reached the store.
                Some(other) if !self.is_version_here(path, other, &intent).await? => {
                    let mut meta = ObjectMeta::unhashed(other);
                    meta.store = key::is_stored(path).then(|| path.to_string());
                    ops.push(Edit::Put(
                        Tree::Objects,
                        record_key(&intent.row),
                        meta.encode(),
                    ));
                    self.stored(&intent.file).await?
                }
                // The version still at the path (never moved, or put back), or nothing there:
                // the change was never answered, and is undone.
                _ => return self.roll_back(path, intent, Vec::new()).await,
            },
            Then::Marker if here == Some(intent.fingerprint) => {
                self.remote
                    .rename(path, &intent.file, Some(intent.fingerprint), true)
                    .await?
            }
            Then::Marker => self.stored(&intent.file).await?,
        };
        match landed {
            // The version is gone (another program's change before the move): no row of it.
            None => ops.push(Edit::Delete(Tree::Versions, intent.row)),
            Some(moved) => {
                if let Some(bytes) = self.index.get_in(Tree::Versions, &intent.row)? {
                    let record = VersionRecord::decode(&bytes)?;
                    ops.extend(row_moved(intent.row, record, moved));
                }
            }
        }
        self.index.apply(ops).await
    }

    /// The fingerprint of the store file `file`, if it is there.
    async fn stored(&self, file: &str) -> Result<Option<Fingerprint>> {
        Ok(self.remote.stat(file).await?.map(|e| e.fingerprint))
    }

    /// Whether the file at `path`, of fingerprint `found`, is the version `intent` demotes: the
    /// very file, or a copy of it that a move, or a recovery putting it back, made before a
    /// crash (its bytes are the stored file's while that is still there).
    async fn is_version_here(
        &self,
        path: &str,
        found: Fingerprint,
        intent: &Intent,
    ) -> Result<bool> {
        Ok(self.is_move_of(found, intent.fingerprint)
            || self.copied_to(path, &intent.file).await?.is_some())
    }
}

impl Vfs {
    /// Publishes `upload` over the key at `at` as the record `meta` (its fingerprint the one
    /// the upload said it will have), the current version demoted as `plan` says in the same
    /// commit; the caller holds the key's lock.
    pub(crate) async fn publish_over(
        &self,
        at: At<'_>,
        plan: Planned,
        upload: Box<dyn Upload>,
        meta: &ObjectMeta,
    ) -> Result<Over> {
        let index = &self.core.index;
        let versions = self.versions();
        let expected = meta.fingerprint;
        let record = key::index_key(at.bucket, at.key);
        let mut ops = vec![Edit::Put(Tree::Objects, record.clone(), meta.encode())];
        ops.extend(plan.edits(Then::Published(expected)));
        if let Err(e) = index.apply(ops).await {
            upload.abort().await;
            return Err(e);
        }
        // When the file and the moved version have the fingerprints committed, the intent's
        // removal waits for the index's next commit, asked for once the publish has returned:
        // its folder is then durable, so no commit can take the intent while a crash could
        // still bring the version back at its path. Else what they have now commits with the
        // removal from inside the publishing task, so that a request cancelled mid-way leaves
        // no intent that what is at the path cannot settle, before the change is answered. A
        // request cancelled after the publish leaves the intent, which the next start settles
        // from the file at the path.
        let done = Edit::Delete(Tree::State, intent_key(&plan.path));
        let done_later = done.clone();
        let (row, version) = (plan.row.clone(), plan.record.clone());
        let (mut record_meta, record_later) = (meta.clone(), record.clone());
        let (submit, recorded) = index.prepare(move |(moved, fp)| {
            record_meta.fingerprint = fp;
            let mut ops = vec![done];
            ops.extend(row_moved(row, version, moved));
            ops.push(Edit::Put(Tree::Objects, record, record_meta.encode()));
            ops
        })?;
        // Whether the moved version or the published file has a fingerprint the batch did not
        // commit.
        let demoted = plan.fingerprint;
        let news = move |moved: Fingerprint, fp: Fingerprint| moved != demoted || fp != expected;
        let then = Box::new(move |moved, fp| {
            if news(moved, fp) {
                submit((moved, fp))
            }
        });
        let sync = self.core.fsync;
        let after = versions.publish_after_move(&plan, upload, meta.in_write_cache, sync, then);
        let failed = match after.await {
            Ok(AfterMove::Moved {
                moved,
                published: Ok(fp),
            }) => {
                match news(moved, fp) {
                    true => recorded.await?,
                    false => index.defer(vec![done_later]),
                }
                return Ok(Over::Published(fp));
            }
            Ok(AfterMove::NotMoved(upload)) => {
                let mut ops = plan.dropped();
                if let Some(old) = &plan.record.object {
                    ops.push(Edit::Put(Tree::Objects, record_later, old.encode()));
                }
                index.apply(ops).await?;
                return Ok(Over::NotDemoted(upload));
            }
            Ok(AfterMove::Moved {
                published: Err(e), ..
            }) => VfsError::from_key_io(e, at.key),
            Err(e) => e,
        };
        let intent = plan.intent(Then::Published(expected));
        versions.roll_back(&plan.path, intent, Vec::new()).await?;
        Err(failed)
    }
}
