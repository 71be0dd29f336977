//! The one commit point of an object's state. Every change to what a key holds goes through
//! [`Core::commit`]: a finished upload published (PUT, copy, Complete), a cached object's upload
//! to the remote, a folder marker made or removed, an object deleted. It takes the key's lock,
//! checks the caller's precondition on the object now there, and makes the change together with
//! its index record while still holding the lock, so that no other change of the key slips in
//! between the check and the change, and file and record never disagree.
//!
//! Each change keeps its own crash safety (the write cache's in writeback.rs, deletes' intents in
//! delete.rs, publishing's record written from inside the publishing task here); this module
//! only orders them. What must happen to every change of an object, and only once (keeping the
//! version a change replaces, refusing a change to a locked one), belongs in [`Core::commit`].

use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::object::{ObjectInfo, Precondition};
use crate::remote::Upload;
use crate::stored;
use crate::vfs::Vfs;

/// The key a change is committed to.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    /// The key's path on the remote (for a `dir/` marker: its folder).
    pub(crate) path: &'a str,
}

/// One kind of change of an object's state, made under the key's lock by [`Core::commit`] with
/// `Cx`, what the change needs beside the core: the facade for the changes requests make, a
/// subsystem for the changes it makes of its own (the write-back's upload).
pub(crate) trait Change<Cx: ?Sized = Vfs> {
    /// What the change answers once made.
    type Done;
    /// Whether a logged PUT of the key's path still waiting for its checkpoint is made durable
    /// before the change (putlog/): every change but another logged PUT.
    const SETTLES: bool = true;
    /// Makes the change and records it; the caller holds the key's lock and the precondition
    /// held.
    async fn apply(self, cx: &Cx, at: At<'_>) -> Result<Self::Done>;
    /// Gives up the change before it was made (its precondition failed): nothing of it may stay.
    async fn abandon(self);
}

/// What must hold of the object at the key for a change to be made, judged under its lock.
pub(crate) trait Guard {
    async fn holds(self, at: At<'_>) -> Result<()>;
}

/// No condition: the change checks what it needs itself (the write-back's upload, its queue
/// entry).
pub(crate) struct Unconditional;

impl Guard for Unconditional {
    async fn holds(self, _at: At<'_>) -> Result<()> {
        Ok(())
    }
}

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

impl Core {
    /// Commits `change` to the object at `at` if `guard` holds on the object there now; an
    /// error leaves the key as it was. Needs nothing but the core and what the change carries
    /// (`cx`), so that a subsystem holding the core commits as the facade does.
    pub(crate) async fn commit<Cx: ?Sized, C: Change<Cx>>(
        &self,
        cx: &Cx,
        at: At<'_>,
        guard: impl Guard,
        change: C,
    ) -> Result<C::Done> {
        let lock = key::lock_name(at.bucket, at.key, at.path);
        let done = self
            .key_locks
            .with(&lock, async {
                // A key kept in the store is where its record says, whatever place the caller
                // was given before taking the lock (another writer may have placed it since).
                let stored = match self.stored_path(at.bucket, at.key) {
                    Ok(stored) => stored,
                    Err(e) => {
                        change.abandon().await;
                        return Err(e);
                    }
                };
                let at = At {
                    path: stored.as_deref().unwrap_or(at.path),
                    ..at
                };
                if let Err(e) = guard.holds(at).await {
                    change.abandon().await;
                    return Err(e);
                }
                if C::SETTLES {
                    if let Err(e) = self.settle_put(at.path).await {
                        change.abandon().await;
                        return Err(e);
                    }
                }
                change.apply(cx, at).await
            })
            .await?;
        // When the bucket's lifecycle rules next act on the key as it is now (lifecycle.rs).
        self.schedule_key(at.bucket, at.key).await;
        Ok(done)
    }
}

impl Vfs {
    /// [`Core::commit`] of a change a request makes, if `precondition` holds.
    pub(crate) async fn commit<C: Change>(
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

impl Change for Publish {
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
        // (version.rs).
        let replacing = match vfs.replacing(at).await {
            Ok(r) => r,
            Err(e) => {
                upload.abort().await;
                return Err(e);
            }
        };
        meta.version = replacing.version;
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
        let queue = vfs.write_back.queue_builder(at.path, in_write_cache);
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
        // The watch never sees the store of keys: nothing to tell it.
        if !in_write_cache && meta.store.is_none() {
            vfs.core.own_writes.note(at.path, meta.fingerprint);
        }
        if superseded {
            vfs.write_back.forget_cached(at.path).await;
        }
        Ok(ObjectInfo::from_meta(meta))
    }

    async fn abandon(self) {
        self.upload.abort().await;
    }
}
