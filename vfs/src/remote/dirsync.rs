//! Group commit for folder syncs. A publish is durable once its rename is, which takes an fsync
//! of the folder; when many small objects land in one folder at once, each of those fsyncs
//! writes the same folder block again. Here a sync that starts after a rename covers it, so
//! renames that land while one sync runs share the next one instead of queuing one each.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};

/// A folder as the kernel names it: device and inode, unique while the folder is open, so one
/// table serves every tree.
type FolderId = (u64, u64);

/// The folders with a sync running or awaited.
static FOLDERS: LazyLock<Mutex<HashMap<FolderId, Arc<Folder>>>> = LazyLock::new(Default::default);

#[derive(Default)]
struct Folder {
    tickets: Mutex<Tickets>,
    synced: Condvar,
}

/// The sync tickets of one folder: who asked for a sync, and up to whom it is done.
#[derive(Default)]
struct Tickets {
    /// Tickets handed out: one per caller, taken after its change to the folder was made.
    asked: u64,
    /// Every ticket up to this one is durable.
    done: u64,
    running: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent at every unlock, so a panic elsewhere leaves nothing to repair.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes every change already made to the folder `dir` durable (blocking), sharing the fsync
/// with concurrent callers for the same folder.
pub(crate) fn sync_dir(dir: &File) -> io::Result<()> {
    let md = dir.metadata()?;
    let id = (md.dev(), md.ino());
    let folder = lock(&FOLDERS).entry(id).or_default().clone();
    // What a power-cut test keeps of the folder follows the sync (shadow.rs).
    let result = folder
        .sync(dir)
        .and_then(|()| crate::shadow::dir_synced(dir));
    let mut folders = lock(&FOLDERS);
    // Only the table and this caller hold it: nobody waits on it any more.
    if Arc::strong_count(&folder) == 2 {
        folders.remove(&id);
    }
    // Let go of it with the table still locked, so that the last caller to leave always sees
    // only itself and the table, and removes the entry.
    drop(folder);
    drop(folders);
    result
}

impl Folder {
    fn sync(&self, dir: &File) -> io::Result<()> {
        let mut st = lock(&self.tickets);
        st.asked += 1;
        let ticket = st.asked;
        loop {
            if st.done >= ticket {
                return Ok(());
            }
            if !st.running {
                st.running = true;
                let upto = st.asked;
                drop(st);
                let result = dir.sync_all();
                st = lock(&self.tickets);
                st.running = false;
                if result.is_ok() {
                    st.done = upto;
                }
                // On failure a waiter becomes the next leader and tries again itself.
                self.synced.notify_all();
                return result;
            }
            st = self.synced.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_syncs_of_one_folder_all_return_and_leave_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for j in 0..50 {
                        std::fs::write(path.join(format!("{i}-{j}")), b"x").unwrap();
                        sync_dir(&File::open(&path).unwrap()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let md = std::fs::metadata(dir.path()).unwrap();
        assert!(!lock(&FOLDERS).contains_key(&(md.dev(), md.ino())));
    }

    #[test]
    fn a_sync_started_before_a_ticket_does_not_cover_it() {
        let folder = Folder::default();
        // A sync is running that began before this caller's change.
        lock(&folder.tickets).running = true;
        lock(&folder.tickets).asked = 1;
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| folder.sync(&File::open(dir.path()).unwrap()));
            while lock(&folder.tickets).asked < 2 {
                std::thread::yield_now();
            }
            // The running sync ends, covering ticket 1 only: the waiter must run its own.
            {
                let mut st = lock(&folder.tickets);
                st.running = false;
                st.done = 1;
            }
            folder.synced.notify_all();
            waiter.join().unwrap().unwrap();
        });
        assert_eq!(lock(&folder.tickets).done, 2);
    }
}
