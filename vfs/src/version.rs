//! Object versions: the records of noncurrent versions and delete markers
//! (`Tree::Versions`), and the version store, where a noncurrent version's file waits under the
//! reserved folder.
//!
//! The current version of a key stays the plain file at its path with its record in
//! `Tree::Objects`, so that the served folder keeps showing each bucket's current state. A
//! version that stops being current is moved by a rename into the store (no byte copied) and
//! gets a row here; a delete marker is a row without a file.
//!
//! Ids (`version_id.rs`) are ordered by creation: a counter kept in the index, never the clock
//! (`core.rs`: `VersionIds`). The counter is handed out from blocks whose end is made durable
//! before the first id of the block is used, so ids never repeat across restarts or crashes.
//! The time of the id's making follows the counter in it, so that an index rebuilt from nothing
//! (its counter back at zero) still makes ids no client has seen. Rows are keyed
//! `bucket/key NUL !counter`: a range scan yields keys ascending and, within a key, the newest
//! version first, as version listings answer.
//!
//! What a change does to the versions a key keeps is decided here (`Vfs::replacing`, the
//! changes `Mark` and `DropVersion`); the moves into and out of the version store, crash safe,
//! are `version_store.rs`'s, and a demotion committed with its change `version_fold.rs`'s.

use crate::bucket::Versioning;
use crate::clock::now_ns;
use crate::commit::{At, Change};
use crate::error::{Result, VfsError};
use crate::folder;
use crate::index::ObjectAttrs;
use crate::key::{self, RESERVED_DIR};
use crate::marker;
use crate::meta::{Edit, Tree};
use crate::object::{ObjectInfo, ObjectReader, Precondition};
use crate::remote::Fingerprint;
use crate::version_id::{VersionId, VersionRef};
use crate::version_row::{row_key, rows, VersionRecord};
use crate::version_store::{promote_key, Demoted, Intent, Takeover, VersionStore};
use crate::vfs::Vfs;

/// What a delete in a bucket that has versions did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDeleted {
    /// Whether a delete marker was added, or the version removed was one.
    pub delete_marker: bool,
    /// The marker added, or the version removed.
    pub version_id: String,
}

/// A delete marker over the current version, which moves to the version store.
struct Mark;

impl Change<Vfs> for Mark {
    type Done = Option<VersionDeleted>;

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<Option<VersionDeleted>> {
        // The version covered is planned from its record, taken on trust; when its move finds
        // another file, the marker is undone and planned again from a look at the file.
        let mut trust = true;
        loop {
            if let Some(done) = Box::pin(mark(vfs, at, trust)).await? {
                return Ok(done);
            }
            trust = false;
        }
    }

    async fn abandon(self) {}
}

/// [`Mark`], the record trusted or not ([`Vfs::replacing_with_change`]); `None` when the
/// version planned from a trusted record was not the file found, and the marker was undone.
async fn mark(vfs: &Vfs, at: At<'_>, trust: bool) -> Result<Option<Option<VersionDeleted>>> {
    let mut replacing = vfs.replacing_with_change(at, None, trust).await?;
    let Some(id) = replacing.version else {
        // The bucket never kept versions: the object simply goes.
        vfs.delete_locked(at.bucket, at.key, at.path).await?;
        vfs.folders.drop_folder(at).await;
        return Ok(Some(None));
    };
    if replacing.replaces_null {
        // The current `null` version goes for good, as an unversioned delete does it.
        vfs.delete_locked(at.bucket, at.key, at.path).await?;
    }
    let marker = match vfs.fleet {
        // On the store, where every gateway lists it; the version it covers, kept by a
        // copy, leaves its path.
        Some(_) => {
            let (row, file) = vfs.put_marker(at, id).await?;
            if let Some(fp) = replacing.kept_copy {
                // Another gateway wrote the key since it was copied: that write stays
                // current, and this delete was not made.
                if !vfs.core.remote.delete(at.path, Some(fp)).await? {
                    vfs.core.remote.delete(&file, None).await?;
                    return Err(VfsError::ConflictingChange(
                        "another gateway wrote this key at the same moment: this delete \
                         was not made, send it again"
                            .into(),
                    ));
                }
            }
            row
        }
        None => Edit::Put(
            Tree::Versions,
            row_key(at.bucket, at.key, id.seq),
            VersionRecord {
                id,
                object: None,
                file: None,
                made_ns: now_ns(),
                noncurrent_ns: 0,
            }
            .encode(),
        ),
    };
    let mut ops = vec![
        marker,
        Edit::Delete(Tree::Objects, key::index_key(at.bucket, at.key)),
    ];
    ops.extend(replacing.edits.iter().cloned());
    // The version covered moves to the store after the marker commits, with its intent
    // (version_fold.rs): one commit.
    let planned = replacing.planned.take();
    if let Some(plan) = &planned {
        ops.extend(plan.edits(crate::version_store::Then::Marker));
    }
    if let Err(e) = vfs.core.index.apply(ops).await {
        vfs.unreplace(at.path, replacing).await?;
        return Err(e);
    }
    if let Some(plan) = planned {
        let marker = row_key(at.bucket, at.key, id.seq);
        let unchecked = replacing.unchecked;
        // Boxed: what it may undo would otherwise weigh on every delete's future.
        let versions = vfs.versions();
        if !Box::pin(versions.move_under_marker(plan, marker, unchecked)).await? {
            return Ok(None);
        }
    }
    vfs.replaced(replacing).await?;
    // A folder marker covered: its folder goes when empty, as the plain files show no key.
    vfs.folders.drop_folder(at).await;
    Ok(Some(Some(VersionDeleted {
        delete_marker: true,
        version_id: id.to_string(),
    })))
}

/// One version removed for good; when it was the current one, the newest kept version becomes
/// current again. Its object lock is asked first ([`ObjectLock::guard`]), GOVERNANCE yielding
/// when `bypass_governance`.
///
/// [`ObjectLock::guard`]: crate::retention::ObjectLock::guard
struct DropVersion {
    want: VersionRef,
    bypass_governance: bool,
}

impl Change<Vfs> for DropVersion {
    type Done = VersionDeleted;

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<VersionDeleted> {
        let DropVersion {
            want,
            bypass_governance,
        } = self;
        let current = vfs.current_locked(at).await?;
        Box::pin(vfs.sync_versions_locked(at.bucket, at.key, current.as_ref())).await?;
        if let Some(current) = &current {
            let id = current.version.unwrap_or(VersionId::ORIGINAL);
            if want.names(&id) {
                current.attrs.lock.guard(bypass_governance)?;
                if folder::is_marker_record(at.key, current) {
                    vfs.drop_current_marker(at).await?;
                    return Ok(VersionDeleted {
                        delete_marker: false,
                        version_id: id.to_string(),
                    });
                }
                // What becomes current commits in the batch that removes the current record.
                let below = rows(&vfs.core.index, at.bucket, at.key, 1)?.pop();
                let takeover = vfs.takeover(at, below, true).await?;
                let deleted = vfs
                    .delete_locked_with(at.bucket, at.key, at.path, takeover.edits)
                    .await;
                if let Err(e) = deleted {
                    // The record put back, the promotion's intent goes.
                    if let Some((path, _)) = &takeover.promotion {
                        let drop = Edit::Delete(Tree::State, promote_key(path));
                        vfs.core.index.apply(vec![drop]).await?;
                    }
                    return Err(e);
                }
                vfs.versions().finish(takeover.promotion).await?;
                return Ok(VersionDeleted {
                    delete_marker: false,
                    version_id: id.to_string(),
                });
            }
        }
        let row = vfs
            .find_version(at.bucket, at.key, want)?
            .ok_or(VfsError::NoSuchVersion)?;
        // In a fleet the lock is what the kept copy carries.
        Box::pin(vfs.kept_lock(at, &row))
            .await?
            .guard(bypass_governance)?;
        // A marker with nothing above it is the current version: once it goes, the version
        // below it is current again, made so in the batch that removes the marker's row (a
        // crash between the two would leave a kept version on top and no current one).
        let mut newest = rows(&vfs.core.index, at.bucket, at.key, 2)?.into_iter();
        let takeover = match current.is_none() && newest.next().is_some_and(|n| n.id == row.id) {
            true => vfs.takeover(at, newest.next(), false).await?,
            false => Takeover::default(),
        };
        let mut ops = vec![Edit::Delete(
            Tree::Versions,
            row_key(at.bucket, at.key, row.id.seq),
        )];
        ops.extend(takeover.edits);
        let delete_marker = row.object.is_none();
        match (row.object, row.file) {
            (Some(meta), Some(file)) => {
                let (intent, done) = crate::delete::delete_intent(&file, &meta.fingerprint);
                ops.push(intent);
                vfs.core.index.apply(ops).await?;
                vfs.core
                    .remote
                    .delete(&file, Some(meta.fingerprint))
                    .await?;
                let _ = vfs.core.index.queue(vec![done]);
            }
            // In a fleet a marker is an object of its own on the store.
            (None, Some(file)) => {
                vfs.core.remote.delete(&file, None).await?;
                vfs.core.index.apply(ops).await?
            }
            _ => vfs.core.index.apply(ops).await?,
        }
        vfs.versions().finish(takeover.promotion).await?;
        Ok(VersionDeleted {
            delete_marker,
            version_id: row.id.to_string(),
        })
    }

    async fn abandon(self) {}
}

/// The batch that makes `row`, a kept version of a folder marker, the current record of the
/// key at `at`; `None` when the row is no marker's (a delete marker, or a version with a file).
fn marker_promotion(at: At<'_>, row: VersionRecord) -> Option<Vec<Edit>> {
    let (Some(mut meta), None) = (row.object, row.file) else {
        return None;
    };
    meta.version = Some(row.id);
    Some(vec![
        Edit::Put(
            Tree::Objects,
            key::index_key(at.bucket, at.key),
            meta.encode(),
        ),
        Edit::Delete(Tree::Versions, row_key(at.bucket, at.key, row.id.seq)),
    ])
}

impl Vfs {
    pub(crate) fn versions(&self) -> VersionStore<'_> {
        VersionStore {
            index: &self.core.index,
            remote: &self.core.remote,
            ids: &self.core.version_ids,
        }
    }

    /// Why this server cannot keep versions, when it cannot: they move on the remote's side
    /// (a rename, or a copy and a delete there). The write cache is no reason: a version
    /// waiting in it is uploaded before it stops being current ([`Vfs::replacing`]).
    pub fn versions_unsupported(&self) -> Option<&'static str> {
        if let Some(why) = self.fleet_versions_unsupported() {
            return Some(why);
        }
        if !self.core.remote.moves_files() {
            return Some(
                "versions move to the version store on the remote's side, by a rename or a \
                 copy there: this remote can do neither",
            );
        }
        None
    }

    /// The versioning state of `bucket`, read from its record alone (no stat of the bucket):
    /// a bucket without one was never configured.
    pub fn versioning_of(&self, bucket: &str) -> Result<Versioning> {
        Ok(self
            .core
            .bucket_record(bucket)?
            .map_or(Versioning::Unversioned, |r| r.versioning))
    }

    /// Prepares a change that replaces the current version of the key at `at` (a new object,
    /// or a delete marker), as the bucket's versioning wants it; the caller holds the key's
    /// lock. Enabled: the current version is demoted into the store. Suspended: the new
    /// version is `null`, so the `null` version goes wherever it is (a current one is simply
    /// replaced, a kept one removed with the new record), and a current version with an id is
    /// demoted. In a fleet the new version is `chosen` where the write already carries its id
    /// (fleet_versions.rs), and the current version is kept by a copy, left at its path for the
    /// write pinned to it to replace.
    pub(crate) async fn replacing(
        &self,
        at: At<'_>,
        chosen: Option<VersionId>,
    ) -> Result<Replacing> {
        self.replacing_as(at, chosen, None).await
    }

    /// [`Vfs::replacing`], a demotion left planned ([`Replacing::planned`]) where the bucket's
    /// versions are Enabled: its row and intent commit with the change, and its file moves after
    /// (version_fold.rs), so that the change makes one index commit where a demotion of its
    /// own would add one. With `trust`, the plan is made from the key's record without a look
    /// at its file, as the move checks that file anyway ([`Replacing::unchecked`]).
    pub(crate) async fn replacing_with_change(
        &self,
        at: At<'_>,
        chosen: Option<VersionId>,
        trust: bool,
    ) -> Result<Replacing> {
        self.replacing_as(at, chosen, Some(trust)).await
    }

    /// `with_change`: `None` for [`Vfs::replacing`], else whether the record is trusted.
    async fn replacing_as(
        &self,
        at: At<'_>,
        chosen: Option<VersionId>,
        with_change: Option<bool>,
    ) -> Result<Replacing> {
        let null = match self.versioning_of(at.bucket)? {
            Versioning::Unversioned => return Ok(Replacing::default()),
            Versioning::Enabled => false,
            Versioning::Suspended => true,
        };
        // A bucket whose versions were turned on elsewhere (served again over a remote that
        // cannot move a file): a change would lose the version it replaces.
        if let Some(why) = self.versions_unsupported() {
            return Err(VfsError::VersionsUnsupported(why));
        }
        // A demotion only planned moves its file pinned to the record's fingerprint, which
        // tells whether the file is still the version recorded: where the change can plan again
        // when it is not, the record is taken as it is, without a trip to the remote.
        let trusted = match with_change == Some(true) && !null && !at.key.ends_with('/') {
            true => self
                .core
                .index
                .get(at.bucket, at.key)?
                .filter(|m| self.record_is_whole(m) && !m.in_write_cache),
            false => None,
        };
        let unchecked = trusted.is_some();
        let current = match trusted {
            Some(record) => Some(record),
            None => self.current_locked(at).await?,
        };
        // Boxed: the futures of a fleet's steps would weigh on every write's.
        Box::pin(self.sync_versions_locked(at.bucket, at.key, current.as_ref())).await?;
        // The version replaced is older than the one replacing it: a current version without
        // an id takes its id first, so that the key's history lists in the order it was made.
        let current = match current {
            Some(current) => {
                let id = match current.version {
                    Some(id) => id,
                    // A file another program changed has a record without an id: the original
                    // `null` version if the key has no history, else a version of its own.
                    None if rows(&self.core.index, at.bucket, at.key, 1)?.is_empty() => {
                        VersionId::ORIGINAL
                    }
                    None => self.next_version(false, None).await?,
                };
                Some((current, id))
            }
            None => None,
        };
        let version = Some(match chosen {
            Some(id) => id,
            None => {
                self.next_version(null, current.as_ref().map(|c| c.1))
                    .await?
            }
        });
        let mut out = Replacing {
            version,
            ..Default::default()
        };
        if null {
            if let Some(row) = self.find_version(at.bucket, at.key, VersionRef::Null)? {
                // Replacing the `null` version removes it for good: its lock must allow it.
                if let Some(meta) = &row.object {
                    meta.attrs.lock.guard(false)?;
                }
                out.edits.push(Edit::Delete(
                    Tree::Versions,
                    row_key(at.bucket, at.key, row.id.seq),
                ));
                match (row.object, row.file) {
                    (Some(meta), Some(file)) => {
                        let (intent, done) = crate::delete::delete_intent(&file, &meta.fingerprint);
                        out.edits.push(intent);
                        out.dropped = Some((file, meta.fingerprint, done));
                    }
                    // In a fleet a marker is an object of its own on the store.
                    (None, Some(file)) => out.dropped_marker = Some(file),
                    _ => {}
                }
            }
        }
        let Some((current, id)) = current else {
            return Ok(out);
        };
        if null && id.null {
            current.attrs.lock.guard(false)?;
            out.replaces_null = true;
            return Ok(out);
        }
        if self.fleet.is_some() && !folder::is_marker_record(at.key, &current) {
            let (row, kept) = Box::pin(self.keep_current(at, current, id)).await?;
            out.kept_copy = Some(kept);
            out.edits.push(row);
            return Ok(out);
        }
        if folder::is_marker_record(at.key, &current) {
            // A folder marker has no file to move: its row, committed with the change, is the
            // whole of its demotion.
            let row = VersionRecord {
                id,
                made_ns: current.written_ns(),
                object: Some(current),
                file: None,
                noncurrent_ns: now_ns(),
            };
            out.edits.push(Edit::Put(
                Tree::Versions,
                row_key(at.bucket, at.key, id.seq),
                row.encode(),
            ));
            return Ok(out);
        }
        // A version waiting in the write cache moves to the store on the remote like any
        // other: it is uploaded first, so that it is there to move and no queue entry is left
        // to publish it over what replaces it.
        let current = match current.in_write_cache {
            true => {
                self.write_back.upload_locked(at).await?;
                match self.current_locked(at).await? {
                    Some(current) => current,
                    // Its cached file was gone: there is nothing to keep.
                    None => return Ok(out),
                }
            }
            false => current,
        };
        if with_change.is_some() && !null {
            let plan = self.versions().plan(at, current, id, now_ns()).await?;
            out.planned = Some(plan);
            out.unchecked = unchecked;
            return Ok(out);
        }
        out.demoted = self
            .versions()
            .demote(at.bucket, at.key, at.path, &current, id, now_ns())
            .await?;
        out.edits
            .extend(out.demoted.iter().flat_map(|d| d.done.iter().cloned()));
        Ok(out)
    }

    /// A new version id: in a fleet one no other gateway makes, later than `after`; else the
    /// index's counter.
    async fn next_version(&self, null: bool, after: Option<VersionId>) -> Result<VersionId> {
        match &self.fleet {
            Some(fleet) => Ok(fleet.ids.next(null, after)),
            None => self.core.version_ids.next(&self.core.index, null).await,
        }
    }

    /// Finishes what [`Vfs::replacing`] prepared, once the change and its edits are committed:
    /// the file of a `null` version replaced from the store goes.
    pub(crate) async fn replaced(&self, r: Replacing) -> Result<()> {
        if let Some((file, fp, done)) = r.dropped {
            self.core.remote.delete(&file, Some(fp)).await?;
            let _ = self.core.index.queue(vec![done]);
        }
        if let Some(file) = r.dropped_marker {
            self.core.remote.delete(&file, None).await?;
        }
        Ok(())
    }

    /// Gives up what [`Vfs::replacing`] prepared when the change failed: the version demoted is
    /// current again.
    pub(crate) async fn unreplace(&self, path: &str, r: Replacing) -> Result<()> {
        match r.demoted {
            Some(d) => self.versions().undo(path, d).await,
            None => Ok(()),
        }
    }
}

/// What a change replacing a key's current version does to its versions ([`Vfs::replacing`]).
#[derive(Default)]
pub(crate) struct Replacing {
    /// The id of the new version; none in a bucket that never kept versions.
    pub(crate) version: Option<VersionId>,
    /// To commit with the change's record.
    pub(crate) edits: Vec<Edit>,
    /// The current version is the `null` one, which the change replaces for good.
    pub(crate) replaces_null: bool,
    demoted: Option<Demoted>,
    /// A demotion to commit with the change and make after it
    /// ([`Vfs::replacing_with_change`]); nothing of it is done yet.
    pub(crate) planned: Option<crate::version_fold::Planned>,
    /// The demotion planned is of the key's record, trusted without a look at its file: when
    /// the move finds another file there (`Over::NotDemoted`), the change plans again, so that
    /// a file another program wrote is kept as the version it replaces.
    pub(crate) unchecked: bool,
    /// A stored file to remove once the change is committed, and its intent's removal.
    dropped: Option<(String, Fingerprint, Edit)>,
    /// In a fleet, the version kept by a copy, still at the path (fleet_versions.rs).
    pub(crate) kept_copy: Option<Fingerprint>,
    /// In a fleet, the `null` delete marker replaced, to remove once the change is committed.
    dropped_marker: Option<String>,
}

impl Vfs {
    /// Opens the version of `bucket/key` a client names (`versionId`): the current one, or one
    /// from the version store. `InvalidVersion` for an id this server never makes,
    /// `NoSuchVersion` for one the key does not have, `VersionIsDeleteMarker` for a marker's.
    pub async fn open_version(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> Result<ObjectReader> {
        Ok(self.open_version_at(bucket, key, version).await?.0)
    }

    /// [`Vfs::open_version`], with the path of the version's file.
    pub(crate) async fn open_version_at(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> Result<(ObjectReader, String)> {
        let want =
            VersionRef::parse(version).ok_or_else(|| VfsError::InvalidVersion(version.into()))?;
        key::validate_s3_key(key).map_err(|_| VfsError::NoSuchVersion)?;
        match self.open_object(bucket, key).await {
            Ok(r) if r.info.version_id.as_deref().unwrap_or("null") == version => {
                let path = self
                    .folders
                    .read_path(bucket, key)?
                    .ok_or(VfsError::NoSuchVersion)?;
                return Ok((r, path));
            }
            Ok(_) | Err(VfsError::NoSuchKey) => {}
            Err(e) => return Err(e),
        }
        // Under the key's lock, so that no demotion is half done: a row names a file that is
        // there.
        self.core
            .key_locks
            .with(&format!("{bucket}/{key}"), async {
                if self.fleet.is_some() {
                    Box::pin(self.current_and_versions_locked(bucket, key)).await?;
                }
                let row = self
                    .find_version(bucket, key, want)?
                    .ok_or(VfsError::NoSuchVersion)?;
                let Some(mut meta) = row.object else {
                    return Err(VfsError::VersionIsDeleteMarker);
                };
                let reader = match &row.file {
                    Some(file) => Some(
                        self.core
                            .remote
                            .open(file)
                            .await?
                            .filter(|r| r.fingerprint() == meta.fingerprint)
                            .ok_or(VfsError::NoSuchVersion)?,
                    ),
                    None => None,
                };
                // In a fleet the version's headers and metadata are what its object carries.
                let carried = match (&row.file, reader.as_deref()) {
                    (Some(path), Some(r)) => self.carried(At { bucket, key, path }, r).await?,
                    _ => None,
                };
                if let Some(c) = carried {
                    meta.attrs.take_carried(c.attrs);
                    meta.parts = c.parts;
                    meta.etag = c.etag.unwrap_or(meta.etag);
                    meta.modified_ns = c.modified_ns.or(meta.modified_ns);
                }
                let mut info = ObjectInfo::from_meta(meta.clone());
                info.version_id = Some(row.id.to_string());
                let (Some(file), Some(reader)) = (row.file, reader) else {
                    // A folder marker's version: empty, with no file of its own.
                    let folder = match key::marker_path(bucket, key) {
                        Some(Ok(folder)) => folder,
                        _ => return Err(VfsError::NoSuchVersion),
                    };
                    return Ok((marker::empty_reader(info), folder));
                };
                Ok((ObjectReader::new(info, reader), file))
            })
            .await
    }

    /// Changes what the record of one version of `at.key` says about it (its tags, its lock),
    /// never its content: the current version's record when `want` is `None` or names it, else
    /// the kept version's row. Runs inside a [`Change`](crate::commit::Change), under the key's
    /// lock.
    pub(crate) async fn edit_version(
        &self,
        at: At<'_>,
        want: Option<VersionRef>,
        edit: impl FnOnce(&mut ObjectAttrs) -> Result<()>,
    ) -> Result<()> {
        let current = self.current_locked(at).await?;
        let seen = current.clone();
        if let Some(mut meta) = current {
            let id = meta.version.unwrap_or(VersionId::ORIGINAL);
            if want.is_none_or(|v| v.names(&id)) {
                edit(&mut meta.attrs)?;
                // In a fleet the object carries it on the store, for every gateway.
                if self.fleet.is_some() && !folder::is_marker_record(at.key, &meta) {
                    return match Box::pin(self.carry_locked(at, meta)).await? {
                        true => Ok(()),
                        false => Err(VfsError::ConflictingChange(
                            "another gateway wrote this key meanwhile: send the change again"
                                .into(),
                        )),
                    };
                }
                return self.core.index.put(at.bucket, at.key, &meta).await;
            }
        }
        let Some(want) = want else {
            return Err(VfsError::NoSuchKey);
        };
        Box::pin(self.sync_versions_locked(at.bucket, at.key, seen.as_ref())).await?;
        let mut row = self
            .find_version(at.bucket, at.key, want)?
            .ok_or(VfsError::NoSuchVersion)?;
        // In a fleet a kept version carries its attributes on the store (fleet_versions.rs).
        if self.fleet.is_some() && row.file.is_some() {
            let edits = Box::pin(self.edit_kept(at, &row, edit)).await?;
            return self.core.index.apply(edits).await;
        }
        let Some(meta) = row.object.as_mut() else {
            return Err(VfsError::VersionIsDeleteMarker);
        };
        edit(&mut meta.attrs)?;
        let edit = Edit::Put(
            Tree::Versions,
            row_key(at.bucket, at.key, row.id.seq),
            row.encode(),
        );
        self.core.index.apply(vec![edit]).await
    }

    /// The row of a noncurrent version or marker: found by its counter for an id, by a walk
    /// of the key's history for `null` (which may sit anywhere in it).
    pub(crate) fn find_version(
        &self,
        bucket: &str,
        key: &str,
        want: VersionRef,
    ) -> Result<Option<VersionRecord>> {
        let found = match want {
            VersionRef::Id { seq, .. } => self
                .core
                .index
                .get_in(Tree::Versions, &row_key(bucket, key, seq))?
                .map(|v| VersionRecord::decode(&v))
                .transpose()?,
            VersionRef::Null => rows(&self.core.index, bucket, key, usize::MAX)?
                .into_iter()
                .find(|r| r.id.null),
        };
        Ok(found.filter(|r| want.names(&r.id)))
    }
}

impl Vfs {
    /// A DELETE without a version id in a bucket that has versions: a delete marker becomes the
    /// current version, and the version it covers moves to the version store (Suspended: the
    /// marker is the `null` version, and the `null` version there was goes). In a bucket that
    /// never kept versions the object simply goes (`None`).
    pub async fn add_delete_marker(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<VersionDeleted>> {
        self.add_delete_marker_if(bucket, key, None).await
    }

    /// [`Vfs::add_delete_marker`], only while `precondition` holds on the current version
    /// (lifecycle expiration: an object rewritten meanwhile stays).
    pub(crate) async fn add_delete_marker_if(
        &self,
        bucket: &str,
        key: &str,
        precondition: Option<&Precondition>,
    ) -> Result<Option<VersionDeleted>> {
        self.head_bucket(bucket).await?;
        let path = self.change_path(bucket, key)?;
        let at = At {
            bucket,
            key,
            path: &path,
        };
        let done = self.commit(at, precondition, Mark).await?;
        self.remove_empty_parents(&path).await;
        Ok(done)
    }

    /// A DELETE naming a version: it is removed for good. When it was the current one, the
    /// newest version kept becomes current again (a delete marker stays a marker: the key
    /// then answers as deleted). Every removal of a version for good comes here, so that its
    /// object lock is asked (`ObjectLocked` when it refuses); GOVERNANCE yields when
    /// `bypass_governance`.
    pub async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        bypass_governance: bool,
    ) -> Result<VersionDeleted> {
        self.delete_version_if(bucket, key, version, None, bypass_governance)
            .await
    }

    /// [`Vfs::delete_version`], only while `precondition` holds on the current version
    /// (lifecycle: the key's history is still the one judged; a `null` version replaced
    /// meanwhile is another version under the same id).
    pub(crate) async fn delete_version_if(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        precondition: Option<&Precondition>,
        bypass_governance: bool,
    ) -> Result<VersionDeleted> {
        let want =
            VersionRef::parse(version).ok_or_else(|| VfsError::InvalidVersion(version.into()))?;
        self.head_bucket(bucket).await?;
        let path = self
            .change_path(bucket, key)
            .map_err(|_| VfsError::NoSuchVersion)?;
        let at = At {
            bucket,
            key,
            path: &path,
        };
        let drop = DropVersion {
            want,
            bypass_governance,
        };
        let done = self.commit(at, precondition, drop).await?;
        self.remove_empty_parents(&path).await;
        Ok(done)
    }

    /// Whether `bucket` keeps any noncurrent version or delete marker (it is then not empty).
    pub(crate) fn bucket_has_versions(&self, bucket: &str) -> Result<bool> {
        let start = key::index_key(bucket, "");
        let end = key::prefix_end(&start);
        Ok(!self
            .core
            .index
            .range_in(Tree::Versions, &start, end.as_deref(), 1)?
            .is_empty())
    }

    /// Removes the folders a deleted bucket's versions and keys left in their stores, which
    /// hold no file (the bucket had no version nor key left); one that does stays.
    pub(crate) async fn remove_version_folders(&self, bucket: &str) {
        for dir in [
            format!("{RESERVED_DIR}/versions/{bucket}"),
            format!("{}/{bucket}", key::KEYS_DIR),
        ] {
            if let Err(e) = self.core.remote.rmdir_tree(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir, error = %e, "store folders of a deleted bucket left");
                }
            }
        }
    }

    /// The id of the delete marker that is the current version of `bucket/key`, if one is:
    /// what a GET or HEAD of the key answers 404 with.
    pub async fn current_delete_marker(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        if self.fleet.is_some() {
            // A bucket that never kept versions has no marker: no request for it.
            if self.versioning_of(bucket)? == Versioning::Unversioned {
                return Ok(None);
            }
            // Another gateway's marker is on the store, and the record here may be of a version
            // it covered.
            let lock = format!("{bucket}/{key}");
            // Boxed, as every step of a fleet's versions: a GET's future carries it.
            let current = Box::pin(
                self.core
                    .key_locks
                    .with(&lock, self.current_and_versions_locked(bucket, key)),
            )
            .await?;
            if current.is_some() {
                return Ok(None);
            }
        } else if self.core.index.get(bucket, key)?.is_some() {
            return Ok(None);
        }
        Ok(rows(&self.core.index, bucket, key, 1)?
            .pop()
            .filter(|r| r.object.is_none())
            .map(|r| r.id.to_string()))
    }

    /// The current folder marker at `at` goes for good (its version named): the newest kept
    /// version becomes current again. A marker's version replaces its record in one batch and
    /// keeps the folder; else the folder goes when empty, and a version with a file (content
    /// kept under the `dir/` key) is promoted as any.
    async fn drop_current_marker(&self, at: At<'_>) -> Result<()> {
        let below = rows(&self.core.index, at.bucket, at.key, 1)?.pop();
        if let Some(edits) = below.clone().and_then(|row| marker_promotion(at, row)) {
            return self.core.index.apply(edits).await;
        }
        let takeover = self.takeover(at, below, false).await?;
        let mut ops = vec![Edit::Delete(
            Tree::Objects,
            key::index_key(at.bucket, at.key),
        )];
        ops.extend(takeover.edits);
        self.core.index.apply(ops).await?;
        self.folders.drop_folder(at).await;
        self.versions().finish(takeover.promotion).await
    }

    /// Prepares making `row`, the newest kept version once what is above it goes, current
    /// again; the caller commits [`Takeover::edits`] in the batch that removes what is above
    /// it, so that no crash leaves a kept version on top of the key and no current one. A
    /// version with a file gets a promotion's intent, finished after that batch (or at the next
    /// start, which finds the version above gone with it); it goes back to the current
    /// version's path while there is one (`replacing`), else to where it was when current when
    /// that was its place in the store of keys, else to where a write of the key would go now
    /// ([`Vfs::place_for`]). A folder marker's version gets its folder now (an empty folder is
    /// no object, so a crash before the batch changes nothing) and its record in the batch. A
    /// delete marker, or nothing, needs nothing.
    async fn takeover(
        &self,
        at: At<'_>,
        row: Option<VersionRecord>,
        replacing: bool,
    ) -> Result<Takeover> {
        let Some(row) = row else {
            return Ok(Takeover::default());
        };
        let (Some(meta), Some(file)) = (&row.object, &row.file) else {
            let Some(Ok(folder)) = key::marker_path(at.bucket, at.key) else {
                return Ok(Takeover::default());
            };
            let Some(edits) = marker_promotion(at, row) else {
                return Ok(Takeover::default());
            };
            self.folders.make_folder(at.bucket, at.key, &folder).await?;
            return Ok(Takeover {
                edits,
                promotion: None,
            });
        };
        let path = match (replacing, &meta.store) {
            (true, _) => at.path.to_string(),
            (false, Some(place)) => place.clone(),
            // Where a write of the key would go now: a file written since at a folder of its
            // path (`a` while `a/b` was deleted) sends it to a fresh place in the store.
            (false, None) => self.place_for(at.bucket, at.key).await?.path,
        };
        let intent = Intent {
            row: row_key(at.bucket, at.key, row.id.seq),
            file: file.clone(),
            fingerprint: meta.fingerprint,
            then: None,
        };
        let value = serde_json::to_vec(&intent).unwrap_or_default();
        Ok(Takeover {
            edits: vec![Edit::Put(Tree::State, promote_key(&path), value)],
            promotion: Some((path, intent)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::core::{VersionIds, BLOCK};
    use crate::crash_points::Copying;
    use crate::index::{Index, ObjectMeta};
    use crate::remote::{LocalFs, Remote};
    use crate::version_store::{intent_key, store_path, INTENT};

    struct Place {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        index: Index,
        remote: Arc<dyn Remote>,
        ids: VersionIds,
    }

    fn open_index(dir: &Path) -> Index {
        Index::new(crate::meta::open(Default::default(), &dir.join("index")).unwrap())
    }

    fn place() -> Place {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let remote: Arc<dyn Remote> =
            Arc::new(LocalFs::new(&root, &root.join(".s3gate/tmp"), true).unwrap());
        fs::create_dir_all(root.join("b/dir")).unwrap();
        let index = open_index(dir.path());
        let ids = VersionIds::open(&index).unwrap();
        Place {
            _dir: dir,
            root,
            index,
            remote,
            ids,
        }
    }

    impl Place {
        fn store(&self) -> VersionStore<'_> {
            VersionStore {
                index: &self.index,
                remote: &self.remote,
                ids: &self.ids,
            }
        }

        /// A demotion of `b/k` (whose record is `old`) after its first step only: its row and
        /// its intent committed, nothing moved yet.
        async fn demotion_begun(&self, old: &ObjectMeta) -> Intent {
            let intent = Intent {
                row: row_key("b", "k", 0),
                file: store_path("b", &self.ids.next(&self.index, false).await.unwrap()),
                fingerprint: old.fingerprint,
                then: None,
            };
            self.index
                .apply(vec![
                    Edit::Put(Tree::Versions, intent.row.clone(), b"{}".to_vec()),
                    Edit::Put(
                        Tree::State,
                        intent_key("b/k"),
                        serde_json::to_vec(&intent).unwrap(),
                    ),
                ])
                .await
                .unwrap();
            intent
        }

        /// Demotes `old`, the current version of `b/key` at its own path, as version `id`
        /// made noncurrent at `noncurrent_ns`: a demotion that must be made.
        async fn demote(
            &self,
            key: &str,
            old: &ObjectMeta,
            id: VersionId,
            noncurrent_ns: i64,
        ) -> Demoted {
            self.store()
                .demote("b", key, &format!("b/{key}"), old, id, noncurrent_ns)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("b/{key} was not demoted"))
        }

        /// Writes `data` at `bucket/key` and the record the server would keep of it.
        async fn current(&self, path: &str, data: &[u8]) -> ObjectMeta {
            fs::write(self.root.join(path), data).unwrap();
            self.current_record(path).await
        }

        fn intents(&self) -> usize {
            let mut n = 0;
            self.index
                .visit_in(Tree::State, |k, _| {
                    n += usize::from(k.starts_with(INTENT));
                    true
                })
                .unwrap();
            n
        }

        /// The record the server would keep of the file already at `path`.
        async fn current_record(&self, path: &str) -> ObjectMeta {
            let fp = self.remote.stat(path).await.unwrap().unwrap().fingerprint;
            ObjectMeta {
                fingerprint: fp,
                etag: "e".into(),
                version: None,
                attrs: Default::default(),
                parts: Vec::new(),
                modified_ns: None,
                in_write_cache: false,
                store: None,
            }
        }

        fn stored_files(&self) -> usize {
            fn count(p: &Path) -> usize {
                fs::read_dir(p).map_or(0, |d| {
                    d.map(|e| e.unwrap().path())
                        .map(|p| if p.is_dir() { count(&p) } else { 1 })
                        .sum()
                })
            }
            count(&self.root.join(".s3gate/versions"))
        }
    }

    #[tokio::test]
    async fn ids_sort_as_they_were_made_and_never_repeat_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut made = Vec::new();
        for _ in 0..3 {
            let index = open_index(dir.path());
            let ids = VersionIds::open(&index).unwrap();
            for _ in 0..(BLOCK + 5) {
                made.push(ids.next(&index, false).await.unwrap());
            }
            index.close();
        }
        let shown: Vec<String> = made.iter().map(|id| id.to_string()).collect();
        let mut sorted = shown.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted, shown,
            "unique, and ordered as text as they were made"
        );
        assert!(made.iter().all(|id| id.seq > VersionId::ORIGINAL.seq));
        for id in &made[..10] {
            let named = VersionRef::parse(&id.to_string()).unwrap();
            assert!(named.names(id));
            assert!(!named.names(&made[made.len() - 1]));
            assert!(!VersionRef::Null.names(id));
        }
        let null = VersionId {
            null: true,
            ..made[0]
        };
        assert_eq!(null.to_string(), "null");
        assert!(VersionRef::parse("null").unwrap().names(&null));
        assert!(VersionRef::parse("null")
            .unwrap()
            .names(&VersionId::ORIGINAL));
        for bad in [
            "",
            "NULL",
            "0",
            &shown[0][1..],
            &shown[0].to_uppercase(),
            "x".repeat(28).as_str(),
        ] {
            assert_eq!(VersionRef::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rows_sort_by_key_then_newest_first() {
        let mut keys = vec![
            row_key("b", "a", 1),
            row_key("b", "a", 7),
            row_key("b", "a!", 2),
            row_key("b", "a/b", 3),
            row_key("b", "a", 0),
            row_key("b", "", 4),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                row_key("b", "", 4),
                row_key("b", "a", 7),
                row_key("b", "a", 1),
                row_key("b", "a", 0),
                row_key("b", "a!", 2),
                row_key("b", "a/b", 3),
            ]
        );
    }

    /// A copy onto a key whose current version is a copy of the same file publishes another
    /// link of that file; a crash before its record leaves the demoted version to be put back
    /// over a link of itself, which a bare rename does not do: no stored file may outlive it.
    #[tokio::test]
    async fn a_version_put_back_over_a_link_of_itself_leaves_no_stored_file() {
        let p = place();
        fs::write(p.root.join("b/src"), b"shared").unwrap();
        fs::hard_link(p.root.join("b/src"), p.root.join("b/dir/k")).unwrap();
        let old = p.current_record("b/dir/k").await;
        p.demote("dir/k", &old, VersionId::ORIGINAL, 42).await;
        // The copy published, not recorded: the crash.
        fs::hard_link(p.root.join("b/src"), p.root.join("b/dir/k")).unwrap();
        assert_eq!((p.intents(), p.stored_files()), (1, 1));
        p.store().recover().await.unwrap();
        assert_eq!((p.intents(), p.stored_files()), (0, 0));
        assert!(rows(&p.index, "b", "dir/k", 10).unwrap().is_empty());
        assert_eq!(fs::read(p.root.join("b/dir/k")).unwrap(), b"shared");
    }

    #[tokio::test]
    async fn a_demoted_version_moves_to_the_store_with_its_row() {
        let p = place();
        let old = p.current("b/dir/k", b"first").await;
        // A copy shares the file and stays.
        fs::hard_link(p.root.join("b/dir/k"), p.root.join("b/copy")).unwrap();
        let demoted = p.demote("dir/k", &old, VersionId::ORIGINAL, 42).await;
        assert!(!p.root.join("b/dir/k").exists());
        assert_eq!(fs::read(p.root.join("b/copy")).unwrap(), b"first");
        let record = rows(&p.index, "b", "dir/k", 10).unwrap().remove(0);
        assert_eq!((record.id, record.noncurrent_ns), (VersionId::ORIGINAL, 42));
        let file = record.file.clone().unwrap();
        assert_eq!(fs::read(p.root.join(&file)).unwrap(), b"first");
        assert_eq!(p.intents(), 1);
        p.index.apply(demoted.done).await.unwrap();
        assert_eq!(p.intents(), 0);

        // The next one: newer, listed first; its stored file is another.
        let second = p.current("b/dir/k", b"second").await;
        let id = p.ids.next(&p.index, false).await.unwrap();
        let d2 = p.demote("dir/k", &second, id, 43).await;
        p.index.apply(d2.done).await.unwrap();
        let listed = rows(&p.index, "b", "dir/k", 10).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!((listed[0].id, listed[0].noncurrent_ns), (id, 43));
        assert_eq!(listed[1], record);
        assert_eq!(
            listed[1].object.as_ref().unwrap().fingerprint,
            old.fingerprint
        );
        assert_eq!(p.stored_files(), 2);
        assert!(rows(&p.index, "b", "dir", 10).unwrap().is_empty());
        assert_eq!(p.store().recover().await.unwrap(), 0);
    }

    /// Where moves are copies: the row of a demoted version names its copy's fingerprint, and
    /// recovery tells the states a crash leaves apart.
    #[tokio::test]
    async fn versions_moved_by_copies_survive_a_crash_at_each_step() {
        let mut p = place();
        p.remote = Arc::new(Copying(p.remote.clone(), p.root.clone()));

        // The move done whole: the row names the copy in the store.
        let old = p.current("b/k", b"first").await;
        let demoted = p.demote("k", &old, VersionId::ORIGINAL, 1).await;
        p.index.apply(demoted.done).await.unwrap();
        let row = rows(&p.index, "b", "k", 1).unwrap().remove(0);
        let file = row.file.clone().unwrap();
        let stored = p.remote.stat(&file).await.unwrap().unwrap().fingerprint;
        assert_ne!(stored, old.fingerprint, "a copy is another file");
        assert_eq!(row.object.unwrap().fingerprint, stored);
        assert_eq!(p.intents(), 0);
        p.index
            .apply(vec![Edit::Delete(Tree::Versions, row_key("b", "k", 0))])
            .await
            .unwrap();
        fs::remove_file(p.root.join(&file)).unwrap();

        // A crash after the copy, before its source went: the version is still at its path,
        // and the copy goes.
        let old = p.current("b/k", b"second").await;
        p.index.put("b", "k", &old).await.unwrap();
        let intent = p.demotion_begun(&old).await;
        fs::create_dir_all(p.root.join(&intent.file).parent().unwrap()).unwrap();
        fs::copy(p.root.join("b/k"), p.root.join(&intent.file)).unwrap();
        assert_eq!(p.store().recover().await.unwrap(), 1);
        assert_eq!(
            p.remote.stat("b/k").await.unwrap().unwrap().fingerprint,
            old.fingerprint
        );
        assert_eq!(p.index.get("b", "k").unwrap().unwrap(), old);
        assert_eq!((p.intents(), p.stored_files()), (0, 0));
        assert!(rows(&p.index, "b", "k", 10).unwrap().is_empty());

        // A crash after the move, what replaced it never recorded: the version is copied back,
        // and its record takes the copy's fingerprint (else a read would take it for another
        // program's file).
        let demoted = p.demote("k", &old, VersionId::ORIGINAL, 2).await;
        fs::write(p.root.join("b/k"), b"published, never recorded").unwrap();
        drop(demoted);
        assert_eq!(p.store().recover().await.unwrap(), 1);
        assert_eq!(fs::read(p.root.join("b/k")).unwrap(), b"second");
        let now = p.remote.stat("b/k").await.unwrap().unwrap().fingerprint;
        let record = p.index.get("b", "k").unwrap().unwrap();
        assert_eq!(record.fingerprint, now);
        assert_eq!((p.intents(), p.stored_files()), (0, 0));
        assert!(rows(&p.index, "b", "k", 10).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_file_another_program_changed_is_not_demoted() {
        let p = place();
        let old = p.current("b/k", b"first").await;
        fs::remove_file(p.root.join("b/k")).unwrap();
        fs::write(p.root.join("b/k"), b"theirs!").unwrap();
        let got = p
            .store()
            .demote("b", "k", "b/k", &old, VersionId::ORIGINAL, 1)
            .await
            .unwrap();
        assert!(got.is_none());
        assert_eq!(fs::read(p.root.join("b/k")).unwrap(), b"theirs!");
        assert!(rows(&p.index, "b", "k", 10).unwrap().is_empty());
        assert_eq!((p.intents(), p.stored_files()), (0, 0));
    }

    /// A crash after each step of a demotion whose change was never acknowledged: the key holds
    /// the version it held, the store nothing, the index no row and no intent.
    #[tokio::test]
    async fn recovery_puts_back_what_an_unacknowledged_change_demoted() {
        // After step 1 only: the rename never happened.
        let p = place();
        let old = p.current("b/k", b"first").await;
        let intent = p.demotion_begun(&old).await;
        assert_eq!(p.store().recover().await.unwrap(), 1);
        assert_eq!(fs::read(p.root.join("b/k")).unwrap(), b"first");
        assert_eq!(p.index.get_in(Tree::Versions, &intent.row).unwrap(), None);
        assert_eq!(p.intents(), 0);

        // After step 2 (a delete marker never recorded), and after a new file was published
        // but not recorded.
        for published in [None, Some(&b"second"[..])] {
            let old = p.current("b/k", b"first").await;
            let demoted = p.demote("k", &old, VersionId::ORIGINAL, 1).await;
            if let Some(data) = published {
                fs::write(p.root.join("b/k"), data).unwrap();
            }
            // The crash: `demoted.done` is never committed.
            drop(demoted);
            assert_eq!(p.store().recover().await.unwrap(), 1);
            assert_eq!(fs::read(p.root.join("b/k")).unwrap(), b"first");
            let fp = p.remote.stat("b/k").await.unwrap().unwrap().fingerprint;
            assert_eq!(fp, old.fingerprint, "the very file, its record still true");
            assert!(rows(&p.index, "b", "k", 10).unwrap().is_empty());
            assert_eq!((p.intents(), p.stored_files()), (0, 0));
        }
    }

    async fn put(vfs: &Vfs, key: &str, body: &'static [u8]) -> crate::object::ObjectInfo {
        vfs.put_test(key, body, Default::default()).await
    }

    /// Reads the file of a noncurrent version from the store.
    fn stored(root: &Path, row: &VersionRecord) -> Vec<u8> {
        fs::read(root.join(row.file.as_ref().unwrap())).unwrap()
    }

    /// A file another program wrote over a key with a history has no id until a newer version
    /// makes it noncurrent: it then takes one older than that newer version's, so the key's
    /// history lists in the order it was made (the delete marker on top, current).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_file_another_program_wrote_is_older_than_what_replaces_it() {
        let (dir, vfs) = versioned().await;
        let first = theirs_over_two_versions(&dir, &vfs).await;
        let head = vfs.head_object("bkt", "k").await.unwrap();
        assert_eq!(head.size, 6, "their file is current");
        let marker = vfs.add_delete_marker("bkt", "k").await.unwrap().unwrap();
        theirs_between(&dir, &vfs, &marker.version_id, &first);
    }

    /// Two versions of `k` put, then another program's file (`theirs`) in place of the second,
    /// which it loses, as the README says; the first one's id.
    async fn theirs_over_two_versions(dir: &tempfile::TempDir, vfs: &Vfs) -> String {
        let first = put(vfs, "k", b"v1").await.version_id.unwrap();
        put(vfs, "k", b"v2").await;
        fs::remove_file(dir.path().join("bkt/k")).unwrap();
        fs::write(dir.path().join("bkt/k"), b"theirs").unwrap();
        first
    }

    /// `k`'s history after [`theirs_over_two_versions`] and a change on top (version `top`):
    /// three versions, newest first, the other program's file kept between `top` and `first`.
    fn theirs_between(
        dir: &tempfile::TempDir,
        vfs: &Vfs,
        top: &str,
        first: &str,
    ) -> Vec<VersionRecord> {
        let listed = rows(&vfs.core.index, "bkt", "k", 10).unwrap();
        let ids: Vec<String> = listed.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!((ids[0].as_str(), ids[2].as_str()), (top, first));
        assert!(ids[0] > ids[1] && ids[1] > ids[2], "{ids:?}");
        assert_eq!(stored(dir.path(), &listed[1]), b"theirs");
        listed
    }

    /// A delete marker covers, and keeps as a version with its own ETag, the file another
    /// program wrote at the path since the last request: the move planned from the record
    /// finds another file, the marker is undone and the delete plans again from a look at it.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_delete_keeps_what_another_program_wrote_below_its_marker() {
        let (dir, vfs) = versioned().await;
        let first = theirs_over_two_versions(&dir, &vfs).await;
        let marker = vfs.add_delete_marker("bkt", "k").await.unwrap().unwrap();
        assert!(
            !dir.path().join("bkt/k").exists(),
            "nothing left at the path"
        );
        let listed = theirs_between(&dir, &vfs, &marker.version_id, &first);
        assert!(listed[0].object.is_none(), "the marker on top");
        let kept = listed[1].object.as_ref().unwrap();
        assert_eq!(
            kept.etag,
            hex::encode(<md5::Md5 as md5::Digest>::digest(b"theirs"))
        );
        assert_eq!(stored(dir.path(), &listed[2]), b"v1");
        assert!(matches!(
            vfs.head_object("bkt", "k").await,
            Err(VfsError::NoSuchKey)
        ));
    }

    /// An overwrite keeps, as the version it replaces, the file another program wrote at the
    /// path since the last request, with that file's ETag, below the new version: the move
    /// planned from the record finds another file, the change plans again from a look at it,
    /// and its bytes are read.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_overwrite_keeps_what_another_program_wrote_with_its_own_etag() {
        let (dir, vfs) = versioned().await;
        let first = put(&vfs, "k", b"v1").await.version_id.unwrap();
        // Lost to the other program's file, as the README says.
        put(&vfs, "k", b"v2").await;
        fs::remove_file(dir.path().join("bkt/k")).unwrap();
        fs::write(dir.path().join("bkt/k"), b"th").unwrap();
        let fourth = put(&vfs, "k", b"v4").await.version_id.unwrap();
        let listed = rows(&vfs.core.index, "bkt", "k", 10).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            listed[0].id.to_string() < fourth,
            "the version replaced is older"
        );
        assert_eq!(fs::read(dir.path().join("bkt/k")).unwrap(), b"v4");
        assert_eq!(listed[1].id.to_string(), first);
        assert_eq!(stored(dir.path(), &listed[1]), b"v1");
        assert_eq!(stored(dir.path(), &listed[0]), b"th");
        let kept = listed[0].object.as_ref().unwrap();
        assert_eq!(
            kept.etag,
            hex::encode(<md5::Md5 as md5::Digest>::digest(b"th"))
        );
        assert_eq!(kept.fingerprint.size, 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_overwrite_in_a_bucket_keeping_versions_keeps_the_one_it_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        let before = put(&vfs, "a/k", b"v0").await;
        assert_eq!(before.version_id, None);
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        let first = put(&vfs, "a/k", b"v1").await;
        let second = put(&vfs, "a/k", b"v22").await;
        let (id1, id2) = (first.version_id.unwrap(), second.version_id.unwrap());
        assert!(id1 < id2, "{id1} {id2}");
        assert_eq!(fs::read(dir.path().join("bkt/a/k")).unwrap(), b"v22");
        let head = vfs.head_object("bkt", "a/k").await.unwrap();
        assert_eq!(head.version_id.as_deref(), Some(id2.as_str()));

        let listed = rows(&vfs.core.index, "bkt", "a/k", 10).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].id.to_string(), id1);
        assert_eq!(listed[1].id, VersionId::ORIGINAL);
        assert_eq!(listed[1].id.to_string(), "null");
        assert_eq!(stored(dir.path(), &listed[0]), b"v1");
        assert_eq!(stored(dir.path(), &listed[1]), b"v0");
        assert_eq!(listed[0].object.as_ref().unwrap().etag, first.etag);

        // The store is no bucket and holds no object.
        let buckets: Vec<String> = vfs
            .list_buckets()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(buckets, vec!["bkt".to_string()]);

        // After a restart: the versions are there, and new ids come after the old.
        vfs.shutdown().await;
        drop(vfs);
        let vfs = Vfs::open_unsynced(dir.path()).await;
        assert_eq!(rows(&vfs.core.index, "bkt", "a/k", 10).unwrap(), listed);
        let third = put(&vfs, "a/k", b"v333").await;
        assert!(third.version_id.unwrap() > id2);
        let listed = rows(&vfs.core.index, "bkt", "a/k", 10).unwrap();
        assert_eq!(listed[0].id.to_string(), id2);
        assert_eq!(stored(dir.path(), &listed[0]), b"v22");
        assert_eq!(fs::read(dir.path().join("bkt/a/k")).unwrap(), b"v333");
    }

    async fn read(reader: ObjectReader) -> Vec<u8> {
        let size = reader.info.size;
        let mut out = Vec::new();
        crate::object::each_chunk(reader.stream(0, size), |c| out.extend_from_slice(c))
            .await
            .unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_kept_version_reads_back_by_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        put(&vfs, "k", b"original").await;
        let open = |v: String| {
            let vfs = &vfs;
            async move { vfs.open_version("bkt", "k", &v).await }
        };
        // Before versioning, the object is the null version.
        assert_eq!(read(open("null".into()).await.unwrap()).await, b"original");
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        let one = put(&vfs, "k", b"one").await.version_id.unwrap();
        let two = put(&vfs, "k", b"two").await.version_id.unwrap();
        for (id, want) in [("null", &b"original"[..]), (&one, b"one"), (&two, b"two")] {
            let got = open(id.to_string()).await.unwrap();
            assert_eq!(got.info.version_id.as_deref().unwrap_or("null"), id);
            assert_eq!(read(got).await, want, "{id}");
        }
        // Another key's ids, an id never made, one malformed.
        let other = put(&vfs, "other", b"x").await.version_id.unwrap();
        assert!(matches!(open(other).await, Err(VfsError::NoSuchVersion)));
        let never = format!("{:016x}{}", 999_999u64, &one[16..]);
        assert!(matches!(open(never).await, Err(VfsError::NoSuchVersion)));
        let forged = format!("{}{:012x}", &one[..16], 1u64);
        assert!(matches!(open(forged).await, Err(VfsError::NoSuchVersion)));
        assert!(matches!(
            open("nope".into()).await,
            Err(VfsError::InvalidVersion(_))
        ));
        assert!(matches!(
            vfs.open_version("bkt", "missing", &one).await,
            Err(VfsError::NoSuchVersion)
        ));
        assert!(matches!(
            vfs.open_version("nobkt", "k", &one).await,
            Err(VfsError::NoSuchBucket)
        ));
    }

    async fn versioned() -> (tempfile::TempDir, Vfs) {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        (dir, vfs)
    }

    /// The key's history as (id, what it holds), newest first, the current version first.
    async fn history(vfs: &Vfs, key: &str) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        if let Ok(r) = vfs.open_object("bkt", key).await {
            out.push((r.info.version_id.clone().unwrap(), Some(read(r).await)));
        }
        for row in rows(&vfs.core.index, "bkt", key, usize::MAX).unwrap() {
            let data = match row.object {
                Some(_) => Some(
                    read(
                        vfs.open_version("bkt", key, &row.id.to_string())
                            .await
                            .unwrap(),
                    )
                    .await,
                ),
                None => None,
            };
            out.push((row.id.to_string(), data));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn deletes_add_markers_and_deleting_a_version_brings_back_the_one_before() {
        let (dir, vfs) = versioned().await;
        let one = put(&vfs, "d/k", b"one").await.version_id.unwrap();
        let mut markers = Vec::new();
        for _ in 0..3 {
            let done = vfs.add_delete_marker("bkt", "d/k").await.unwrap().unwrap();
            assert!(done.delete_marker);
            markers.push(done.version_id);
        }
        assert!(
            !dir.path().join("bkt/d").exists(),
            "the plain folder shows the key gone"
        );
        assert!(matches!(
            vfs.open_object("bkt", "d/k").await,
            Err(VfsError::NoSuchKey)
        ));
        assert_eq!(
            vfs.current_delete_marker("bkt", "d/k").await.unwrap(),
            Some(markers[2].clone())
        );
        assert!(matches!(
            vfs.open_version("bkt", "d/k", &markers[0]).await,
            Err(VfsError::VersionIsDeleteMarker)
        ));
        let want: Vec<(String, Option<Vec<u8>>)> = vec![
            (markers[2].clone(), None),
            (markers[1].clone(), None),
            (markers[0].clone(), None),
            (one.clone(), Some(b"one".to_vec())),
        ];
        assert_eq!(history(&vfs, "d/k").await, want);

        // Removing markers: the newest one gone, the key is still deleted under the next.
        let gone = vfs
            .delete_version("bkt", "d/k", &markers[2], false)
            .await
            .unwrap();
        assert_eq!(
            (gone.delete_marker, gone.version_id.as_str()),
            (true, markers[2].as_str())
        );
        assert_eq!(
            vfs.current_delete_marker("bkt", "d/k").await.unwrap(),
            Some(markers[1].clone())
        );
        vfs.delete_version("bkt", "d/k", &markers[0], false)
            .await
            .unwrap();
        assert_eq!(
            vfs.current_delete_marker("bkt", "d/k").await.unwrap(),
            Some(markers[1].clone())
        );
        // The last marker over it gone: the object is back, file and record.
        vfs.delete_version("bkt", "d/k", &markers[1], false)
            .await
            .unwrap();
        assert_eq!(vfs.current_delete_marker("bkt", "d/k").await.unwrap(), None);
        assert_eq!(fs::read(dir.path().join("bkt/d/k")).unwrap(), b"one");
        assert_eq!(
            history(&vfs, "d/k").await,
            vec![(one.clone(), Some(b"one".to_vec()))]
        );

        // Deleting the current version for good brings back the one before, file and record.
        let two = put(&vfs, "k", b"two").await.version_id.unwrap();
        let three = put(&vfs, "k", b"three").await.version_id.unwrap();
        let gone = vfs.delete_version("bkt", "k", &three, false).await.unwrap();
        assert_eq!(
            (gone.delete_marker, gone.version_id),
            (false, three.clone())
        );
        assert_eq!(fs::read(dir.path().join("bkt/k")).unwrap(), b"two");
        let head = vfs.head_object("bkt", "k").await.unwrap();
        assert_eq!(head.version_id, Some(two.clone()));
        assert!(rows(&vfs.core.index, "bkt", "k", 10).unwrap().is_empty());
        assert!(matches!(
            vfs.delete_version("bkt", "k", &three, false).await,
            Err(VfsError::NoSuchVersion)
        ));
        // A noncurrent version removed: its file leaves the store.
        put(&vfs, "k", b"four").await;
        vfs.delete_version("bkt", "k", &two, false).await.unwrap();
        assert_eq!(history(&vfs, "k").await.len(), 1);
        assert_eq!(fs::read(dir.path().join("bkt/k")).unwrap(), b"four");
        let stored: usize = fs::read_dir(dir.path().join(".s3gate/versions/bkt"))
            .unwrap()
            .map(|d| fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum();
        assert_eq!(stored, 0, "no version is kept but the current ones");
    }

    /// A crash after the file of a promotion moved but before its record: the next start
    /// finishes it.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_promotion_cut_short_is_finished_at_start() {
        let (dir, vfs) = versioned().await;
        let one = put(&vfs, "k", b"one").await.version_id.unwrap();
        put(&vfs, "k", b"two").await;
        let row = rows(&vfs.core.index, "bkt", "k", 1).unwrap().pop().unwrap();
        // The current version deleted, then the promotion's intent and rename only.
        vfs.core
            .key_locks
            .with("bkt/k", async {
                vfs.delete_locked("bkt", "k", "bkt/k").await.unwrap();
                let intent = Intent {
                    row: row_key("bkt", "k", row.id.seq),
                    file: row.file.clone().unwrap(),
                    fingerprint: row.object.as_ref().unwrap().fingerprint,
                    then: None,
                };
                let value = serde_json::to_vec(&intent).unwrap();
                vfs.core
                    .index
                    .apply(vec![Edit::Put(Tree::State, promote_key("bkt/k"), value)])
                    .await
                    .unwrap();
                vfs.core
                    .remote
                    .rename(&intent.file, "bkt/k", Some(intent.fingerprint), false)
                    .await
                    .unwrap();
            })
            .await;
        vfs.shutdown().await;
        drop(vfs);
        let vfs = Vfs::open_unsynced(dir.path()).await;
        assert_eq!(history(&vfs, "k").await, vec![(one, Some(b"one".to_vec()))]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_bucket_with_versions_or_markers_is_not_empty() {
        let (dir, vfs) = versioned().await;
        let one = put(&vfs, "k", b"one").await.version_id.unwrap();
        let marker = vfs
            .add_delete_marker("bkt", "k")
            .await
            .unwrap()
            .unwrap()
            .version_id;
        // No file is left in the bucket's folder, but a version and a marker are.
        assert!(matches!(
            vfs.delete_bucket("bkt").await,
            Err(VfsError::BucketNotEmpty)
        ));
        vfs.delete_version("bkt", "k", &one, false).await.unwrap();
        assert!(matches!(
            vfs.delete_bucket("bkt").await,
            Err(VfsError::BucketNotEmpty)
        ));
        vfs.delete_version("bkt", "k", &marker, false)
            .await
            .unwrap();
        vfs.delete_bucket("bkt").await.unwrap();
        assert!(!dir.path().join("bkt").exists());
        assert!(!dir.path().join(".s3gate/versions/bkt").exists());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn suspended_writes_and_deletes_replace_the_null_version_wherever_it_is() {
        let (dir, vfs) = versioned().await;
        let suspend = |state| {
            vfs.update_bucket("bkt", move |r| {
                r.versioning = state;
                Ok(())
            })
        };
        // Unversioned: a delete is a delete.
        suspend(Versioning::Unversioned).await.unwrap();
        put(&vfs, "gone", b"x").await;
        assert_eq!(vfs.add_delete_marker("bkt", "gone").await.unwrap(), None);
        assert!(rows(&vfs.core.index, "bkt", "gone", 10).unwrap().is_empty());

        suspend(Versioning::Suspended).await.unwrap();
        let first = put(&vfs, "k", b"null-1").await;
        assert_eq!(first.version_id.as_deref(), Some("null"));
        // A null current version is replaced, not kept.
        put(&vfs, "k", b"null-2").await;
        assert_eq!(
            history(&vfs, "k").await,
            vec![("null".to_string(), Some(b"null-2".to_vec()))]
        );
        // Enabled again: the null version is kept below a versioned one.
        suspend(Versioning::Enabled).await.unwrap();
        let v = put(&vfs, "k", b"versioned").await.version_id.unwrap();
        assert_eq!(
            history(&vfs, "k").await,
            vec![
                (v.clone(), Some(b"versioned".to_vec())),
                ("null".to_string(), Some(b"null-2".to_vec())),
            ]
        );
        // Suspended: a write keeps the versioned one and replaces the kept null version.
        suspend(Versioning::Suspended).await.unwrap();
        put(&vfs, "k", b"null-3").await;
        assert_eq!(
            history(&vfs, "k").await,
            vec![
                ("null".to_string(), Some(b"null-3".to_vec())),
                (v.clone(), Some(b"versioned".to_vec())),
            ]
        );
        // A delete: the null marker replaces the null version, for good.
        let marker = vfs.add_delete_marker("bkt", "k").await.unwrap().unwrap();
        assert_eq!(marker.version_id, "null");
        assert_eq!(
            history(&vfs, "k").await,
            vec![
                ("null".to_string(), None),
                (v.clone(), Some(b"versioned".to_vec())),
            ]
        );
        assert!(!dir.path().join("bkt/k").exists());
        // Writing again replaces the null marker.
        put(&vfs, "k", b"null-4").await;
        assert_eq!(
            history(&vfs, "k").await,
            vec![
                ("null".to_string(), Some(b"null-4".to_vec())),
                (v.clone(), Some(b"versioned".to_vec())),
            ]
        );
        let stored: usize = fs::read_dir(dir.path().join(".s3gate/versions/bkt"))
            .unwrap()
            .map(|d| fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum();
        assert_eq!(stored, 1, "only the versioned one is in the store");
    }

    /// A remote that cannot move a file on its side (as a memory remote): no versions.
    struct Unmoving(Arc<dyn Remote>);

    crate::crash_points::forwarding_remote!(Unmoving {});

    /// A versioned bucket served again over a remote that cannot move a file: its objects read,
    /// and a change that would lose a version is refused.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_versioned_bucket_over_a_remote_that_cannot_move_refuses_changes() {
        let (dir, vfs) = versioned().await;
        put(&vfs, "k", b"one").await;
        vfs.shutdown().await;
        drop(vfs);
        let vfs = Vfs::open_unsynced_with(dir.path(), |r| Arc::new(Unmoving(r))).await;
        assert!(vfs.versions_unsupported().is_some());
        assert_eq!(
            read(vfs.open_object("bkt", "k").await.unwrap()).await,
            b"one"
        );
        assert!(matches!(
            vfs.add_delete_marker("bkt", "k").await,
            Err(VfsError::VersionsUnsupported(_))
        ));
        let body = futures_util::stream::iter([Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            bytes::Bytes::from_static(b"two"),
        )]);
        let req = crate::object::PutRequest {
            attrs: Default::default(),
            content_md5: None,
            precondition: None,
            checksum: None,
            body,
        };
        assert!(matches!(
            vfs.put_object("bkt", "k", req).await,
            Err(VfsError::VersionsUnsupported(_))
        ));
        assert_eq!(
            read(vfs.open_object("bkt", "k").await.unwrap()).await,
            b"one"
        );
        vfs.shutdown().await;
    }

    /// A VFS over `dir` through the write cache, whose uploader never runs here: what is
    /// written stays queued.
    async fn cached(dir: &Path) -> Vfs {
        let mut config = s3gate_config::Config::default();
        config.remote.path = dir.to_path_buf();
        config.vfs.fsync = false;
        config.vfs.cache_mode = s3gate_config::CacheMode::Writes;
        Vfs::open(&config).await.unwrap()
    }

    /// What waits in the write cache: its queue's paths.
    fn queued(vfs: &Vfs) -> Vec<String> {
        let mut out = Vec::new();
        vfs.core
            .index
            .visit_in(Tree::WriteBack, |k, _| {
                out.push(String::from_utf8_lossy(k).into_owned());
                true
            })
            .unwrap();
        out
    }

    /// A versioned bucket served again with the write cache on keeps every version: the one
    /// waiting in the cache is uploaded and kept on the remote when it is replaced or covered,
    /// and only the current version ever waits.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_versioned_bucket_behind_the_write_cache_keeps_every_version() {
        let (dir, vfs) = versioned().await;
        let one = put(&vfs, "k", b"one").await.version_id.unwrap();
        vfs.shutdown().await;
        drop(vfs);
        let vfs = cached(dir.path()).await;
        assert_eq!(vfs.versions_unsupported(), None);
        let two = put(&vfs, "k", b"two").await.version_id.unwrap();
        assert!(dir.path().join("bkt/k").metadata().is_err(), "one was kept");
        let three = put(&vfs, "k", b"three").await.version_id.unwrap();
        assert_eq!(queued(&vfs), ["bkt/k"]);
        let want = vec![
            (three.clone(), Some(b"three".to_vec())),
            (two.clone(), Some(b"two".to_vec())),
            (one.clone(), Some(b"one".to_vec())),
        ];
        assert_eq!(history(&vfs, "k").await, want);
        // A marker over the waiting version: it is uploaded and kept, nothing waits.
        let marker = vfs.add_delete_marker("bkt", "k").await.unwrap().unwrap();
        assert!(queued(&vfs).is_empty());
        // The marker gone, three is current again from the remote; written over again, then
        // the waiting version deleted by its id: three is current again, nothing waits.
        vfs.delete_version("bkt", "k", &marker.version_id, false)
            .await
            .unwrap();
        let four = put(&vfs, "k", b"four").await.version_id.unwrap();
        assert_eq!(queued(&vfs), ["bkt/k"]);
        vfs.delete_version("bkt", "k", &four, false).await.unwrap();
        assert!(queued(&vfs).is_empty());
        assert_eq!(history(&vfs, "k").await, want);
        assert_eq!(fs::read(dir.path().join("bkt/k")).unwrap(), b"three");
        // Restarted with a version waiting: every version reads back.
        let five = put(&vfs, "k", b"five").await.version_id.unwrap();
        vfs.shutdown().await;
        drop(vfs);
        let vfs = cached(dir.path()).await;
        let mut want = want;
        want.insert(0, (five, Some(b"five".to_vec())));
        assert_eq!(history(&vfs, "k").await, want);
        vfs.shutdown().await;
    }
}
