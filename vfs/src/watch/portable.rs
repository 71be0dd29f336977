//! The watch through the `notify` crate, where inotify is not there to be told which events to
//! report: every event it sends is a hint, opens and reads included.

use std::io;
use std::path::Path;
use std::sync::Mutex;

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher as _};

use super::Sink;

/// The root's own entries and the bucket trees watched.
pub(super) struct Tree {
    watcher: Mutex<notify::RecommendedWatcher>,
}

impl Tree {
    /// Watches the root's own entries, sending what changes to `sink`.
    pub(super) fn new(sink: Sink) -> io::Result<Tree> {
        let root = sink.root.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            sink.woke();
            if event.need_rescan() {
                sink.lost();
                return;
            }
            if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
                return;
            }
            let attrs_only = matches!(event.kind, EventKind::Modify(ModifyKind::Metadata(_)));
            for path in &event.paths {
                sink.changed(path, attrs_only);
            }
        };
        // Links are never served: a link to `/` in a bucket must not have the whole system
        // watched.
        let config = notify::Config::default().with_follow_symlinks(false);
        let mut watcher =
            notify::RecommendedWatcher::new(handler, config).map_err(io::Error::other)?;
        watcher
            .watch(&root, RecursiveMode::NonRecursive)
            .map_err(io::Error::other)?;
        Ok(Tree {
            watcher: Mutex::new(watcher),
        })
    }

    /// Drops the watches of the tree at `path` and watches it afresh when it is a folder
    /// (blocking: it walks the tree); whether it is there, and whether all of it is watched.
    pub(super) fn rewatch(&self, path: &Path) -> (bool, io::Result<()>) {
        let mut w = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        // Gone, or replaced: whatever watch is left is on a folder no longer there.
        let _ = w.unwatch(path);
        match std::fs::symlink_metadata(path) {
            Ok(md) if md.is_dir() => (
                true,
                w.watch(path, RecursiveMode::Recursive)
                    .map_err(io::Error::other),
            ),
            _ => (false, Ok(())),
        }
    }
}
