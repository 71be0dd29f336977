//! What a checkpoint of the small-PUT log makes durable: the files the log placed since the last
//! one, and the names that lead to them, and nothing else of the filesystem (a `syncfs` would
//! also wait for whatever other programs left dirty on it).
//!
//! The files go in groups: each group is first handed to writeback whole (`sync_file_range`),
//! so that the filesystem allocates their blocks together and one journal commit carries them
//! all; then each is fsynced, the first fsync making that commit and the others finding it made.
//! Then each folder from a file's up to its bucket's, once however many files it gained: a
//! rename is durable once its folder is synced after it, and a folder the PUT made once its
//! parent is (the bucket's own name was synced when the bucket was made).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::remote::sync_dir;

/// Files held open at once: a checkpoint may cover thousands.
const GROUP: usize = 256;

/// Makes the files at `paths` (relative to `root`) and their names durable (blocking). A path
/// with no file any more (another program removed it or put a folder or a link there) is
/// skipped: what is there now is not the log's to keep.
pub(crate) fn sync_placed<'a>(
    root: &Path,
    paths: impl IntoIterator<Item = &'a str>,
) -> io::Result<()> {
    let files: BTreeSet<&str> = paths.into_iter().collect();
    let folders: BTreeSet<&str> = files.iter().flat_map(|p| folders_of(p)).collect();
    let files: Vec<&str> = files.into_iter().collect();
    for group in files.chunks(GROUP) {
        let mut open = Vec::with_capacity(group.len());
        for path in group {
            if let Some(f) = opened(&root.join(path), 0)?.filter(is_file) {
                // SAFETY: a valid descriptor; no memory is passed.
                let started = unsafe {
                    libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
                };
                if started != 0 {
                    return Err(io::Error::last_os_error());
                }
                open.push(f);
            }
        }
        for f in &open {
            f.sync_all()?;
            crate::shadow::file_synced(f)?;
        }
    }
    // Deepest first, so that a folder's entries are durable before the name leading to it.
    for folder in folders.iter().rev() {
        if let Some(dir) = opened(&root.join(folder), libc::O_DIRECTORY)? {
            sync_dir(&dir)?;
        }
    }
    Ok(())
}

/// The folders from `path`'s own up to its first component (the bucket's), deepest last.
fn folders_of(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// `path` opened for reading without following a link at its end; `None` when nothing of the
/// kind asked for is there.
fn opened(path: &Path, kind: i32) -> io::Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | kind)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn is_file(f: &File) -> bool {
    f.metadata().is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_folder_up_to_the_bucket_is_synced() {
        assert_eq!(
            folders_of("b/x/y/k").collect::<Vec<_>>(),
            ["b", "b/x", "b/x/y"]
        );
        assert_eq!(folders_of("b/k").collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn files_gone_or_replaced_by_a_folder_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/sub/k")).unwrap();
        std::fs::write(dir.path().join("b/kept"), b"x").unwrap();
        sync_placed(
            dir.path(),
            ["b/sub/k", "b/gone", "b/kept", "b/sub/deeper/k"],
        )
        .unwrap();
    }
}
