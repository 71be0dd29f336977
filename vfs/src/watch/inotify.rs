//! The watch through inotify itself, told to report only what changes a file's content or a
//! folder's entries: a file written and closed, made, linked, removed or moved, or its times or
//! modes changed. A file opened, read or closed unwritten wakes nothing (the `notify` crate
//! asks for opens too, so every GET woke its thread). A file still being written is seen once
//! it is closed; one truncated in place by `truncate(2)` without an open, by the next rescan.
//!
//! inotify watches one folder at a time: a bucket's tree is watched folder by folder, and a
//! folder made or moved into it is watched when its event arrives, before the change is
//! handed on, so that what it holds is read after its watch began.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use super::Sink;

/// What every folder is watched for. Links are never followed: a link to `/` in a bucket must
/// not have the whole system watched.
const EVENTS: WatchMask = WatchMask::CLOSE_WRITE
    .union(WatchMask::CREATE)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::ONLYDIR)
    .union(WatchMask::DONT_FOLLOW)
    .union(WatchMask::EXCL_UNLINK);

/// The root's own entries and the bucket trees watched, and the task reading their events.
pub(super) struct Tree {
    watched: Arc<Mutex<Watched>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The folders watched, by their watch.
struct Watched {
    watches: Watches,
    folders: HashMap<WatchDescriptor, PathBuf>,
    /// The root's watch, the one not recursive: a bucket made there is watched by the caller.
    root: Option<WatchDescriptor>,
}

impl Watched {
    /// Watches the folder `path` and every folder below it. A folder gone meanwhile is skipped;
    /// any other failure (the watch limit) is answered once the rest is watched.
    fn watch_tree(&mut self, path: &Path) -> io::Result<()> {
        let mut first_error = None;
        let mut todo = vec![path.to_path_buf()];
        while let Some(dir) = todo.pop() {
            match self.watches.add(&dir, EVENTS) {
                Ok(wd) => {
                    self.folders.insert(wd, dir.clone());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                // The entry's own type: a link to a folder is no folder here.
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(entry.path());
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops watching `path` and every folder below it.
    fn unwatch_tree(&mut self, path: &Path) {
        let below: Vec<WatchDescriptor> = self
            .folders
            .iter()
            .filter(|(_, p)| p.starts_with(path))
            .map(|(wd, _)| wd.clone())
            .collect();
        for wd in below {
            self.folders.remove(&wd);
            // Already gone when the folder was removed.
            let _ = self.watches.remove(wd);
        }
    }
}

impl Tree {
    /// Watches the root's own entries, sending what changes to `sink`.
    pub(super) fn new(sink: Sink) -> io::Result<Tree> {
        let inotify = Inotify::init()?;
        let mut watched = Watched {
            watches: inotify.watches(),
            folders: HashMap::new(),
            root: None,
        };
        let root = watched.watches.add(&sink.root, EVENTS)?;
        watched.folders.insert(root.clone(), sink.root.clone());
        watched.root = Some(root);
        let watched = Arc::new(Mutex::new(watched));
        let events = inotify.into_event_stream(vec![0u8; 64 << 10])?;
        let reader = tokio::spawn(read(events, watched.clone(), sink));
        Ok(Tree { watched, reader })
    }

    /// Drops the watches of the tree at `path` and watches it afresh when it is a folder
    /// (blocking: it walks the tree); whether it is there, and whether all of it is watched.
    pub(super) fn rewatch(&self, path: &Path) -> (bool, io::Result<()>) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        // Gone, or replaced: whatever watch is left is on a folder no longer there.
        watched.unwatch_tree(path);
        match std::fs::symlink_metadata(path) {
            Ok(md) if md.is_dir() => (true, watched.watch_tree(path)),
            _ => (false, Ok(())),
        }
    }
}

/// Reads the events of every watch and hands each change to `sink`.
async fn read(mut events: inotify::EventStream<Vec<u8>>, watched: Arc<Mutex<Watched>>, sink: Sink) {
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "the watch of the served folder stopped; changes made by other programs show after the next rescan");
                return;
            }
        };
        sink.woke();
        let mask = event.mask;
        if mask.contains(EventMask::Q_OVERFLOW) {
            sink.lost();
            continue;
        }
        let (path, in_bucket) = {
            let mut w = watched.lock().unwrap_or_else(|e| e.into_inner());
            if mask.contains(EventMask::IGNORED) {
                // The folder went, or its watch was dropped.
                w.folders.remove(&event.wd);
                continue;
            }
            // An event of a watched folder itself (its own times) is also sent to its parent
            // with its name, which is what counts.
            let (Some(dir), Some(name)) = (w.folders.get(&event.wd), &event.name) else {
                continue;
            };
            let path = dir.join(name);
            let in_bucket = w.root.as_ref() != Some(&event.wd);
            if mask.contains(EventMask::ISDIR)
                && mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM)
            {
                w.unwatch_tree(&path);
            }
            (path, in_bucket)
        };
        let new_folder = mask.contains(EventMask::ISDIR)
            && mask.intersects(EventMask::CREATE | EventMask::MOVED_TO);
        if new_folder && in_bucket {
            // Watched before the change is handed on: what it holds is then read after its
            // watch began. A bucket made at the root is watched by the caller.
            let watched = watched.clone();
            let folder = path.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut w = watched.lock().unwrap_or_else(|e| e.into_inner());
                w.watch_tree(&folder)
            })
            .await;
            if let Ok(Err(e)) = result {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch all of a folder; changes made by other programs there show after the next rescan");
            }
        }
        let attrs_only = !mask.intersects(
            EventMask::CLOSE_WRITE
                | EventMask::CREATE
                | EventMask::DELETE
                | EventMask::MOVED_FROM
                | EventMask::MOVED_TO,
        );
        sink.changed(&path, attrs_only);
    }
}
