//! The one commit point of an object's state. Every change to what a key holds goes through
//! [`Core::commit`]: a finished upload published (PUT, copy, Complete), a cached object's upload
//! to the remote, a folder marker made or removed, an object deleted. It takes the key's lock,
//! checks the caller's precondition on the object now there, and makes the change together with
//! its index record while still holding the lock, so that no other change of the key slips in
//! between the check and the change, and file and record never disagree.
//!
//! Each change keeps its own crash safety (the write cache's in writeback.rs, deletes' intents in
//! delete.rs, publishing's record written from inside the publishing task in publish.rs); this
//! module only orders them. What must happen to every change of an object, and only once
//! (keeping the version a change replaces, refusing a change to a locked one), belongs in
//! [`Core::commit`].
//! The changes requests make, and the facade's way in with a client's precondition, are in
//! publish.rs: this module knows nothing above the core.

use crate::core::Core;
use crate::error::Result;
use crate::key;

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
pub(crate) trait Change<Cx: ?Sized> {
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
