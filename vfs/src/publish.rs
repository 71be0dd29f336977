//! The changes requests make go through the commit point with the facade (`Vfs::commit`): a
//! client's precondition is judged on the object as the facade reads it, and a finished upload
//! becomes the object ([`Publish`]).

use crate::commit::{At, Change, Guard};
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::object::{ObjectInfo, Precondition};
use crate::remote::Upload;
use crate::stored;
use crate::version_fold::Over;
use crate::vfs::Vfs;

/// A client's precondition (conditional writes and deletes), judged on the object as the
/// facade reads it (a folder marker's, or a file's record, in the write cache or not).
struct Judged<'a> {
    vfs: &'a Vfs,
    precondition: Option<&'a Precondition>,
}

impl Guard for Judged<'_> {
    async fn holds(self, at: At<'_>) -> Result<()> {
        self.vfs
            .check_locked(at.bucket, at.key, at.path, self.precondition)
            .await
    }
}

impl Vfs {
    /// [`Core::commit`] of a change a request makes, if `precondition` holds.
    pub(crate) async fn commit<C: Change<Vfs>>(
        &self,
        at: At<'_>,
        precondition: Option<&Precondition>,
        change: C,
    ) -> Result<C::Done> {
        let guard = Judged {
            vfs: self,
            precondition,
        };
        self.core.commit(self, at, guard, change).await
    }
}

/// A finished upload becomes the object, its record committed with it; `meta.in_write_cache` says
/// whether it was staged in the write cache.
pub(crate) struct Publish {
    pub(crate) upload: Box<dyn Upload>,
    pub(crate) meta: ObjectMeta,
}

impl Vfs {
    /// The answer of a publish whose record is committed.
    fn published(&self, at: At<'_>, meta: ObjectMeta) -> ObjectInfo {
        // The watch never sees the store of keys: nothing to tell it.
        if !meta.in_write_cache && meta.store.is_none() {
            self.core.own_writes.note(at.path, meta.fingerprint);
        }
        ObjectInfo::from_meta(meta)
    }
}

impl Change<Vfs> for Publish {
    type Done = ObjectInfo;

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<ObjectInfo> {
        let Publish { upload, mut meta } = self;
        if let Err(e) = vfs.stamp_default_retention(at.bucket, &mut meta.attrs.lock) {
            upload.abort().await;
            return Err(e);
        }
        // A place in the store of keys that no record names yet is fresh (stored.rs).
        meta.store = key::is_stored(at.path).then(|| at.path.to_string());
        let fresh = match meta.store.is_some() {
            true => match vfs.core.stored_path(at.bucket, at.key) {
                Ok(recorded) => recorded.is_none(),
                Err(e) => {
                    upload.abort().await;
                    return Err(e);
                }
            },
            false => false,
        };
        // In a bucket that keeps versions, the version replaced moves to the version store
        // first, or the `null` one goes; what that needs is committed with the new record
        // (version.rs). Where nothing else commits before the record (a fresh place's intent,
        // the write cache's queue), the demotion commits in the record's own batch and its
        // file moves after (version_fold.rs). Boxed, as that demotion below: their states would
        // otherwise weigh on every publish's future, on the stack of the task that awaits it.
        let replacing = match fresh || vfs.write_back.cache.is_some() {
            true => Box::pin(vfs.replacing(at, meta.version)).await,
            false => Box::pin(vfs.replacing_with_change(at, meta.version, true)).await,
        };
        let mut replacing = match replacing {
            Ok(r) => r,
            Err(e) => {
                upload.abort().await;
                return Err(e);
            }
        };
        meta.version = replacing.version;
        let mut upload = upload;
        while let Some(plan) = replacing.planned.take() {
            match Box::pin(vfs.publish_over(at, plan, upload, &meta)).await? {
                Over::Published(fp) => {
                    meta.fingerprint = fp;
                    return Ok(vfs.published(at, meta));
                }
                Over::NotDemoted(back) => upload = back,
            }
            if !replacing.unchecked {
                // Another program's change since the look at the file: the upload replaces
                // it as a change that keeps no version.
                break;
            }
            // The record was trusted, and the file is not its version (another program
            // changed it): plan again from a look at the file, under a new id (the version
            // replaced takes its own first).
            replacing = match Box::pin(vfs.replacing_with_change(at, None, false)).await {
                Ok(r) => r,
                Err(e) => {
                    upload.abort().await;
                    return Err(e);
                }
            };
            meta.version = replacing.version;
        }
        let mut version_edits = replacing.edits.clone();
        // A fresh place is named by an intent until its record commits, so that a crash in
        // between leaves no file without a record.
        let fresh = match fresh {
            true => {
                let (intent, done) = stored::fresh_intent(at.path, at.bucket, at.key);
                if let Err(e) = vfs.core.index.apply(vec![intent]).await {
                    vfs.unreplace(at.path, replacing).await?;
                    upload.abort().await;
                    return Err(e);
                }
                version_edits.push(done.clone());
                Some(done)
            }
            false => None,
        };
        // The record is queued from inside the publishing task: a request cancelled mid-way
        // (client gone) cannot leave the object published without its record.
        let index_key = key::index_key(at.bucket, at.key);
        let in_write_cache = meta.in_write_cache;
        let record_meta = meta.clone();
        // A write straight to the remote supersedes a version still waiting in the cache.
        let superseded = vfs.write_back.cache.is_some() && !in_write_cache;
        let queue = vfs.write_back.queue_builder(at, in_write_cache);
        let (record, recorded) = vfs.core.index.prepare(move |fingerprint| {
            let meta = ObjectMeta {
                fingerprint,
                ..record_meta
            };
            let mut ops = vec![Edit::Put(Tree::Objects, index_key, meta.encode())];
            ops.extend(queue(fingerprint));
            ops.extend(version_edits);
            ops
        })?;
        // The sidecar of a version replaced for good goes with it (a kept version keeps its).
        let replaced_sidecar = match replacing.version {
            None => vfs.sidecar_at(at.path).await,
            Some(_) => None,
        };
        let published = upload.commit(at.path, vfs.core.fsync, record).await;
        meta.fingerprint = match published {
            Ok(fp) => fp,
            Err(e) => {
                vfs.unreplace(at.path, replacing).await?;
                if let Some(done) = fresh {
                    vfs.core.index.apply(vec![done]).await?;
                }
                return Err(VfsError::from_key_io(e, at.key));
            }
        };
        recorded.await?;
        vfs.replaced(replacing).await?;
        if let Some(id) = replaced_sidecar {
            vfs.drop_sidecar(at.bucket, at.key, &id).await;
        }
        let info = vfs.published(at, meta);
        if superseded {
            vfs.write_back.forget_cached(at.path).await;
        }
        Ok(info)
    }

    async fn abandon(self) {
        self.upload.abort().await;
    }
}
