//! Changes that other programs make to a served local directory, seen within a fraction of a
//! second through inotify (the `notify` crate) instead of at the next rescan. Events are hints:
//! each changed path is checked against the disk under its key's lock, as a rescan would, and
//! the periodic rescan still runs, since events can be lost (a full queue, a watch limit).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::key;
use crate::vfs::Vfs;

/// How long events are gathered before they are applied: a burst (a copy of a tree, a file
/// written in many pieces) is handled once per path.
const SETTLE: Duration = Duration::from_millis(100);

/// Keeps the watch alive; dropping it stops watching.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Vfs {
    /// Starts watching the served directory, when the remote is one; `None` otherwise.
    pub fn watch(self: &Arc<Self>) -> Result<Option<Watch>> {
        let Some(root) = self.local_root.clone() else {
            return Ok(None);
        };
        let root = std::fs::canonicalize(&root)?;
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        let events_root = root.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
                return;
            }
            for path in event.paths {
                if let Some(rel) = relative(&events_root, &path) {
                    let _ = tx.send(rel);
                }
            }
        })
        .map_err(std::io::Error::other)?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .map_err(std::io::Error::other)?;
        let vfs = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut rx = rx;
            while let Some(first) = rx.recv().await {
                let mut paths = BTreeSet::from([first]);
                tokio::time::sleep(SETTLE).await;
                while let Ok(p) = rx.try_recv() {
                    paths.insert(p);
                }
                let Some(vfs) = vfs.upgrade() else { return };
                for p in paths {
                    if let Err(e) = vfs.recheck_path(&p).await {
                        tracing::debug!(path = p, error = %e, "change not applied; the next rescan will");
                    }
                }
            }
        });
        Ok(Some(Watch {
            _watcher: watcher,
            task,
        }))
    }

    /// Brings the index in line with whatever is now at `rel` (`bucket/…`): a file, a folder
    /// (moved in, or made with files already in it), or nothing (removed or moved away).
    async fn recheck_path(&self, rel: &str) -> Result<()> {
        let Some((bucket, key)) = rel.split_once('/') else {
            return Ok(()); // a bucket's own folder: buckets are read from the disk anyway
        };
        if key::validate_bucket(bucket).is_err() {
            return Ok(());
        }
        match self.remote.stat(rel).await? {
            Some(e) if e.is_dir => {
                for (k, _) in crate::scan::walk(&*self.remote, rel).await? {
                    self.recheck(bucket, &format!("{key}/{k}")).await?;
                }
                Ok(())
            }
            Some(_) => self.recheck(bucket, key).await,
            None => {
                self.recheck(bucket, key).await?;
                // A folder that went takes the records below it along.
                let mut from = key::index_key(bucket, &format!("{key}/"));
                let end = key::prefix_end(&from);
                // Every record below it, checked once (a file still there keeps its record).
                loop {
                    let batch = self.index.range(&from, end.as_deref(), 1000)?;
                    let Some((last, _)) = batch.last() else {
                        return Ok(());
                    };
                    from = last.clone();
                    from.push(0);
                    for (k, _) in batch {
                        let name = String::from_utf8_lossy(&k[bucket.len() + 1..]).into_owned();
                        self.recheck(bucket, &name).await?;
                    }
                }
            }
        }
    }
}

/// `path` relative to `root` as a `/`-separated UTF-8 string, unless it is the root itself, a
/// file at the root (never an object) or inside a folder whose name starts with `.` (the
/// index and staging area among them).
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?;
    let first = rel.split('/').next()?;
    if first.is_empty() || first.starts_with('.') {
        return None;
    }
    Some(rel.to_string())
}
