//! Small PUTs acknowledged through one group-committed log (`--small-put-log`).
//!
//! A PUT of at most the bound, to a local directory, in a bucket that never kept versions and
//! at a key that is its own path, is staged without fsync. Under the key's lock its record and
//! a log entry (its body, what was at the path, what it publishes) commit in one batch of the
//! index, whose commits concurrent PUTs share; then the staging file is renamed into place,
//! without fsync, and the PUT is acknowledged. A checkpoint, about once a second and at
//! shutdown, syncs the whole filesystem (`syncfs`) and then trims the entries whose files were
//! in place before it began. A change other than a logged PUT of a path with an entry not yet
//! checkpointed runs a checkpoint first (under the key's lock), so that no demotion, copy or
//! other path ever moves a file whose bytes are not durable.
//!
//! At the next start, before anything else, [`Vfs::recover_puts`] replays what the log holds:
//! see DESIGN.md ("The small-PUT log") for why a file is written again, kept, or removed.

pub(crate) mod state;

use bytes::Bytes;

use crate::bucket::Versioning;
use crate::commit::{At, Change};
use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::meta::{Edit, Tree};
use crate::object::ObjectInfo;
use crate::publish::Publish;
use crate::remote::{blocking, Entry, Fingerprint, Upload};
use crate::vfs::Vfs;
use state::{decode, encode, entry_key, Head, PREFIX};

impl Vfs {
    /// The most bytes a PUT of `bucket` at `path` may have to go through the log, when it may.
    pub(crate) fn put_log_bound(&self, bucket: &str, path: &str) -> Result<Option<u64>> {
        let Some(log) = &self.core.put_log else {
            return Ok(None);
        };
        let versioning = self
            .core
            .bucket_record(bucket)?
            .map_or(Versioning::Unversioned, |r| r.versioning);
        // A write cache, even one only draining, decides what a write supersedes: not here.
        Ok((versioning == Versioning::Unversioned
            && !key::is_stored(path)
            && self.write_back.cache.is_none())
        .then_some(log.bound))
    }

    /// Replays the log a previous run left, before anything is served. For each entry, oldest
    /// first:
    /// - its record no longer names what it published (a later write or a delete replaced it):
    ///   nothing to do, but a torn copy of its file left at a path without record goes;
    /// - else the file at the path is written again from the entry when it is missing, is the
    ///   file the PUT published (whole or torn: the same inode, not changed since), or is the
    ///   file that was there before (the rename never reached the disk);
    /// - else another program put a file there since, which is kept (the rescan records it).
    pub(crate) async fn recover_puts(&self) -> Result<()> {
        let end = key::prefix_end(PREFIX);
        loop {
            let batch = self
                .core
                .index
                .range_in(Tree::State, PREFIX, end.as_deref(), 256)?;
            if batch.is_empty() {
                return Ok(());
            }
            for (k, v) in batch {
                if let Some((head, body)) = decode(&v) {
                    self.replay(&head, body).await?;
                }
                self.core
                    .index
                    .apply(vec![Edit::Delete(Tree::State, k)])
                    .await?;
            }
        }
    }

    async fn replay(&self, head: &Head, body: &[u8]) -> Result<()> {
        let record = self.core.index.get(&head.bucket, &head.key)?;
        let now = self.core.remote.stat(&head.path).await?;
        let file = now.as_ref().filter(|e| !e.is_dir).map(|e| e.fingerprint);
        let current = record
            .as_ref()
            .is_some_and(|m| m.fingerprint == head.published);
        if !current {
            if let Some(fp) = file.filter(|fp| record.is_none() && is_version(fp, &head.published))
            {
                if fp != head.published {
                    self.core.remote.delete(&head.path, Some(fp)).await?;
                    tracing::info!(path = head.path, "torn file of a deleted object removed");
                }
            }
            return Ok(());
        }
        let ours = match (&now, file) {
            (None, _) => true,
            (Some(Entry { is_dir: true, .. }), _) => false,
            (_, Some(fp)) => {
                is_version(&fp, &head.published) || head.before.is_some_and(|b| is_version(&fp, &b))
            }
            (_, None) => false,
        };
        let Some(mut meta) = record.filter(|_| ours) else {
            tracing::warn!(
                path = head.path,
                "a logged PUT's file was replaced by another program: that file is kept"
            );
            return Ok(());
        };
        let mut upload = self.core.remote.create(&head.path).await?;
        upload.write(Bytes::copy_from_slice(body)).await?;
        upload.finish(true).await?;
        meta.fingerprint = upload.commit(&head.path, true, Box::new(|_| {})).await?;
        // Last-Modified stays the time the PUT was acknowledged at, not the replay's.
        meta.modified_ns.get_or_insert(head.published.mtime_ns);
        self.core.index.put(&head.bucket, &head.key, &meta).await?;
        tracing::info!(path = head.path, "logged PUT written again after a crash");
        Ok(())
    }
}

/// Whether the file now `fp` is the one that was `v`, possibly torn by a power cut (its size
/// anything), and not changed since (a later write would have given it a later time).
fn is_version(fp: &Fingerprint, v: &Fingerprint) -> bool {
    fp.id == v.id && fp.mtime_ns <= v.mtime_ns
}

/// A small PUT published through the log (module doc); `body` is the whole object, and
/// `upload` was staged without fsync.
pub(crate) struct LoggedPublish {
    pub(crate) upload: Box<dyn Upload>,
    pub(crate) meta: ObjectMeta,
    pub(crate) body: Bytes,
}

impl Change<Vfs> for LoggedPublish {
    type Done = ObjectInfo;
    const SETTLES: bool = false;

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<ObjectInfo> {
        let LoggedPublish {
            mut upload,
            mut meta,
            body,
        } = self;
        let log = match (&vfs.core.put_log, vfs.put_log_bound(at.bucket, at.path)) {
            (Some(log), Ok(Some(_))) => log,
            // Versions turned on, or the key placed in the store of keys, since it was staged:
            // the usual path, with the fsync the staging skipped.
            (_, Ok(None) | Err(_)) | (None, _) => {
                if let Err(e) = upload.finish(true).await {
                    upload.abort().await;
                    return Err(e.into());
                }
                vfs.core.settle_put(at.path).await?;
                return Publish { upload, meta }.apply(vfs, at).await;
            }
        };
        if let Err(e) = vfs.stamp_default_retention(at.bucket, &mut meta.attrs.lock) {
            upload.abort().await;
            return Err(e);
        }
        let index_key = key::index_key(at.bucket, at.key);
        let known = (
            vfs.core.remote.stat(at.path).await,
            vfs.core.index.get_in(Tree::Objects, &index_key),
        );
        let (before, previous) = match known {
            (Ok(before), Ok(previous)) => (before, previous),
            (Err(e), _) => {
                upload.abort().await;
                return Err(e.into());
            }
            (_, Err(e)) => {
                upload.abort().await;
                return Err(e);
            }
        };
        let head = Head {
            bucket: at.bucket.to_string(),
            key: at.key.to_string(),
            path: at.path.to_string(),
            before: before.filter(|e| !e.is_dir).map(|e| e.fingerprint),
            published: meta.fingerprint,
        };
        let seq = log.begin(at.path);
        let edits = vec![
            Edit::Put(Tree::Objects, index_key.clone(), meta.encode()),
            Edit::Put(Tree::State, entry_key(seq), encode(&head, &body)),
        ];
        let (submit, recorded) = match vfs.core.index.prepare(move |_| edits) {
            Ok(p) => p,
            Err(e) => {
                log.forget(seq, at.path);
                upload.abort().await;
                return Err(e);
            }
        };
        submit(meta.fingerprint);
        // Once the entry is durable the file goes into place in a task of its own, so that a
        // request cut off meanwhile cannot leave the record without its file.
        let path = at.path.to_string();
        let placed = tokio::spawn(async move {
            recorded.await?;
            Ok::<_, VfsError>(upload.commit(&path, false, Box::new(|_| {})).await)
        })
        .await
        .map_err(|e| VfsError::Io(std::io::Error::other(format!("publishing failed: {e}"))))?;
        match placed {
            Ok(Ok(_)) => {}
            // Nothing committed; the staging file went with the upload.
            Err(e) => {
                log.forget(seq, at.path);
                return Err(e);
            }
            // Committed, but the file could not go into place: undone.
            Ok(Err(e)) => {
                let record = match previous {
                    Some(v) => Edit::Put(Tree::Objects, index_key, v),
                    None => Edit::Delete(Tree::Objects, index_key),
                };
                vfs.core
                    .index
                    .apply(vec![record, Edit::Delete(Tree::State, entry_key(seq))])
                    .await?;
                log.forget(seq, at.path);
                return Err(VfsError::from_key_io(e, at.key));
            }
        }
        log.written(seq, body.len() as u64);
        vfs.core.own_writes.note(at.path, meta.fingerprint);
        Ok(ObjectInfo::from_meta(meta))
    }

    async fn abandon(self) {
        self.upload.abort().await;
    }
}

impl Core {
    /// Makes the files of logged PUTs durable and trims their entries: when one is due
    /// (`force`: now, waiting for a running one to end first).
    pub(crate) async fn checkpoint_puts(&self, force: bool) -> Result<()> {
        let Some(log) = &self.put_log else {
            return Ok(());
        };
        let _one = match force {
            true => log.checkpoint.lock().await,
            false => match log.checkpoint.try_lock() {
                Ok(one) if log.due() => one,
                _ => return Ok(()),
            },
        };
        let taken = log.take_written();
        if taken.is_empty() {
            return Ok(());
        }
        let root = log.root.clone();
        let synced = blocking(move || {
            let dir = std::fs::File::open(&root)?;
            // SAFETY: a valid descriptor; no memory is passed.
            if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            crate::shadow::fs_synced(&root)
        })
        .await;
        if let Err(e) = synced {
            log.untake(taken);
            return Err(e.into());
        }
        log.synced(&taken);
        let trims = taken
            .iter()
            .map(|seq| Edit::Delete(Tree::State, entry_key(*seq)))
            .collect();
        self.index.apply(trims).await
    }

    /// Before a change other than a logged PUT at `path`: its logged bytes are made durable
    /// first, so that the change never moves or shares a file a power cut could still tear.
    pub(crate) async fn settle_put(&self, path: &str) -> Result<()> {
        match &self.put_log {
            Some(log) if log.is_pending(path) => self.checkpoint_puts(true).await,
            _ => Ok(()),
        }
    }
}
