//! Changes that other programs make to a served local directory, seen within a fraction of a
//! second through the system's file events instead of at the next rescan. Events are hints:
//! each changed path is checked against the disk under its key's lock, as a rescan would, and
//! the periodic rescan still runs, since events can be lost (a full queue, a watch limit).
//!
//! Only the buckets are watched, each with its whole tree, and the root for its own entries
//! (buckets made, removed or moved in): the index and the staging area live in a folder at the
//! root, and a watch over them would wake for every write the server itself makes there. And
//! only what changes content wakes it: on Linux (`inotify.rs`) a file opened, read or closed
//! unwritten sends nothing, so a GET costs the watch nothing; elsewhere the `notify` crate
//! (`portable.rs`) chooses the events itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::core::Core;
use crate::error::Result;
use crate::key;
use crate::scan::Rescan;

#[cfg(target_os = "linux")]
mod inotify;
#[cfg(target_os = "linux")]
use self::inotify::Tree;
#[cfg(not(target_os = "linux"))]
mod portable;
#[cfg(not(target_os = "linux"))]
use self::portable::Tree;

/// How long events are gathered before they are applied: a burst (a copy of a tree, a file
/// written in many pieces) is handled once per path.
const SETTLE: Duration = Duration::from_millis(100);

/// Sent in place of a path when events were lost: no relative path is `/`.
const ROOT: &str = "/";

/// Keeps the watch alive; dropping it stops watching. It holds the core and the rescan only
/// weakly: the served directory's state goes when the facade does, whatever the watch.
pub struct Watch {
    task: tokio::task::JoinHandle<()>,
    core: Weak<Core>,
}

impl Watch {
    /// Stops watching and waits until the watch's work is over: nothing it started reads or
    /// writes the index once this returns.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(core) = self.core.upgrade() {
            core.own_writes.watching.store(false, Ordering::Relaxed);
        }
    }
}

/// Where a watch's backend hands what it saw: the paths that changed, relative to the root,
/// and a count of the events it woke for.
#[derive(Clone)]
struct Sink {
    root: PathBuf,
    tx: mpsc::UnboundedSender<String>,
    woken: Arc<AtomicU64>,
}

impl Sink {
    /// Counts one event the watch woke for.
    fn woke(&self) {
        self.woken.fetch_add(1, Ordering::Relaxed);
    }

    /// `path` changed; `attrs_only` when only its times or modes did, which changes nothing
    /// served for a bucket folder itself.
    fn changed(&self, path: &Path, attrs_only: bool) {
        match relative(&self.root, path) {
            Some(rel) if attrs_only && !rel.contains('/') => {}
            Some(rel) => {
                let _ = self.tx.send(rel);
            }
            None => {}
        }
    }

    /// Events were lost (a full queue), buckets made meanwhile among them.
    fn lost(&self) {
        let _ = self.tx.send(ROOT.to_string());
    }
}

/// Watches bucket folders, each with its whole tree.
struct Buckets {
    root: PathBuf,
    tree: Arc<Tree>,
}

impl Buckets {
    /// Watches the bucket folder `name` afresh after it came or went (an inode number cannot
    /// tell a folder made again from the one removed: it is often reused at once); true when it
    /// is there, so that what it held before the watch began is checked too, even where the
    /// watch failed (a watch limit, a subfolder gone during the walk).
    async fn rewatch(&self, name: &str) -> bool {
        if key::validate_bucket(name).is_err() {
            return false;
        }
        let path = self.root.join(name);
        let tree = self.tree.clone();
        // Watching a tree walks it: not on the runtime's threads.
        let watched = tokio::task::spawn_blocking(move || tree.rewatch(&path)).await;
        match watched {
            Ok((there, Ok(()))) => there,
            Ok((there, Err(e))) => {
                tracing::warn!(bucket = name, error = %e, "cannot watch all of a bucket; changes made by other programs there show after the next rescan");
                there
            }
            Err(_) => false,
        }
    }

    /// Watches every bucket folder in the root afresh: at the start, and after lost events.
    async fn rewatch_all(&self) {
        match std::fs::read_dir(&self.root) {
            Ok(entries) => {
                for name in entries.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
                    self.rewatch(&name).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the served folder to watch its buckets")
            }
        }
    }
}

impl Watch {
    /// Starts watching the served directory, when the remote is one; `None` otherwise. Every
    /// bucket there is watched when this returns: a change made after it is seen by the watch,
    /// one made before by the scan that follows (a bucket watched in the background after the
    /// server said it was ready missed files written meanwhile until the next rescan).
    pub(crate) async fn start(core: &Arc<Core>, rescan: &Arc<Rescan>) -> Result<Option<Watch>> {
        let Some(root) = core.local_root.clone() else {
            return Ok(None);
        };
        let root = std::fs::canonicalize(&root)?;
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        let sink = Sink {
            root: root.clone(),
            tx,
            woken: core.own_writes.woken.clone(),
        };
        let buckets = Buckets {
            root,
            tree: Arc::new(Tree::new(sink)?),
        };
        core.own_writes.watching.store(true, Ordering::Relaxed);
        // The root is read after it is watched: a bucket made in between is seen either way.
        buckets.rewatch_all().await;
        let weak = Arc::downgrade(core);
        let (core, rescan) = (Arc::downgrade(core), Arc::downgrade(rescan));
        let task = tokio::spawn(async move {
            let mut rx = rx;
            while let Some(first) = rx.recv().await {
                let mut paths = BTreeSet::from([first]);
                tokio::time::sleep(SETTLE).await;
                while let Ok(p) = rx.try_recv() {
                    paths.insert(p);
                }
                let (Some(core), Some(rescan)) = (core.upgrade(), rescan.upgrade()) else {
                    return;
                };
                let recheck = Recheck {
                    core: &core,
                    rescan: &rescan,
                };
                for p in paths {
                    if p == ROOT {
                        // What the lost events said is left to the rescan; new buckets are
                        // watched from now on.
                        buckets.rewatch_all().await;
                        continue;
                    }
                    let result = match p.contains('/') {
                        true => recheck.path(&p).await,
                        false if buckets.rewatch(&p).await => recheck.new_bucket(&p).await,
                        false => Ok(()),
                    };
                    if let Err(e) = result {
                        tracing::debug!(path = p, error = %e, "change not applied; the next rescan will");
                    }
                }
            }
        });
        Ok(Some(Watch { task, core: weak }))
    }
}

/// What a change the watch saw is checked with: the core's remote and index, and the rescan's
/// correction of one key under its lock.
struct Recheck<'a> {
    core: &'a Core,
    rescan: &'a Rescan,
}

impl Recheck<'_> {
    /// What a bucket folder held before its watch began: made elsewhere and filled at once, or
    /// moved in whole.
    async fn new_bucket(&self, bucket: &str) -> Result<()> {
        for e in self.core.remote.list_dir(bucket).await? {
            self.path(&format!("{bucket}/{}", e.name)).await?;
        }
        Ok(())
    }

    /// Brings the index in line with whatever is now at `rel` (`bucket/…`): a file, a folder
    /// (moved in, or made with files already in it), or nothing (removed or moved away).
    async fn path(&self, rel: &str) -> Result<()> {
        let Some((bucket, key)) = rel.split_once('/') else {
            return Ok(()); // a bucket's own folder: buckets are read from the disk anyway
        };
        if key::validate_bucket(bucket).is_err() {
            return Ok(());
        }
        match self.core.remote.stat(rel).await? {
            Some(e) if e.is_dir => {
                for (k, _) in crate::scan::walk(&*self.core.remote, rel, None).await? {
                    self.rescan.recheck(bucket, &format!("{key}/{k}")).await?;
                }
                Ok(())
            }
            Some(e) if self.core.own_writes.is_own(rel, e.fingerprint) => Ok(()),
            Some(_) => self.rescan.recheck(bucket, key).await,
            None => {
                self.rescan.recheck(bucket, key).await?;
                // A folder that went takes the records below it along.
                let mut from = key::index_key(bucket, &format!("{key}/"));
                let end = key::prefix_end(&from);
                // Every record below it, checked once (a file still there keeps its record).
                loop {
                    let batch = self.core.index.range(&from, end.as_deref(), 1000)?;
                    let Some((last, _)) = batch.last() else {
                        return Ok(());
                    };
                    from = last.clone();
                    from.push(0);
                    for (k, _) in batch {
                        let name = String::from_utf8_lossy(&k[bucket.len() + 1..]).into_owned();
                        self.rescan.recheck(bucket, &name).await?;
                    }
                }
            }
        }
    }
}

/// `path` relative to `root` as a `/`-separated UTF-8 string, unless it is the root itself or
/// inside a folder whose name starts with `.` (the index and staging area among them). An entry
/// of the root itself may be a bucket coming or going.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?;
    let first = rel.split('/').next()?;
    if first.is_empty() || first.starts_with('.') {
        return None;
    }
    Some(rel.to_string())
}
