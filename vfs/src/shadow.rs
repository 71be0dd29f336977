//! The power-cut shadow (`--power-cut-shadow`, a testing aid, never for production): a folder
//! that holds only what the server has made durable, so that a test can start a server on it as
//! the disk would be after a power cut at any moment.
//!
//! It follows each point where something becomes durable, and nothing else:
//! - an fsync of a file makes its inode's data durable;
//! - a folder's sync makes its entries as they are now: each name is a hard link to the inode
//!   the real folder names (so inode numbers and times are those a real disk would keep), one
//!   whose data was never made durable is listed as torn, folders are made, and entries gone
//!   from the folder go;
//! - a syncfs of the served tree makes every name and every inode's data durable;
//! - a commit of the index copies the index store.
//!
//! The server never writes into a published file (it writes a new one and renames it), so a
//! hard link holds what the inode held when it was named. What a power cut leaves of a torn file
//! (its name without its data) cannot be shown while the server runs on the same inode: the
//! torn names are listed in `.s3gate/power-cut-torn`, one per line, and whoever starts a server
//! on a copy of the shadow (made with hard links) empties those files first. The staging folder
//! (`.s3gate/tmp`) is left out: a start empties it anyway. The shadow must be on the served
//! directory's filesystem.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

/// The shadows of the servers that asked for one (tests only; empty otherwise).
static SHADOWS: LazyLock<Mutex<Vec<Arc<Shadow>>>> = LazyLock::new(Default::default);
/// Whether any shadow is registered: the one check every sync makes when none is.
static ANY: AtomicBool = AtomicBool::new(false);

pub(crate) struct Shadow {
    /// The served directory (canonical).
    root: PathBuf,
    /// The index store, inside or outside the served directory.
    index: PathBuf,
    /// The shadow of the served directory.
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Inodes whose data is durable.
    synced: HashSet<u64>,
    /// Names in the shadow whose inode's data is not durable (relative paths).
    torn: BTreeSet<PathBuf>,
}

/// The list of torn names, in the shadow's reserved folder.
const TORN: &str = ".s3gate/power-cut-torn";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a shadow of `root` (and of the index store at `index`) in `dir`, from what is on disk
/// now (a start is a moment when everything before it is taken as durable).
pub(crate) fn register(root: &Path, index: &Path, dir: &Path) -> io::Result<Arc<Shadow>> {
    let index = match (index.parent(), index.file_name()) {
        (Some(parent), Some(name)) => parent.canonicalize()?.join(name),
        _ => index.to_path_buf(),
    };
    let shadow = Arc::new(Shadow {
        root: root.canonicalize()?,
        index,
        dir: dir.to_path_buf(),
        state: Mutex::default(),
    });
    fs::create_dir_all(dir)?;
    shadow.fs_synced()?;
    shadow.index_committed()?;
    lock(&SHADOWS).push(shadow.clone());
    ANY.store(true, Ordering::Release);
    Ok(shadow)
}

/// Stops following `shadow`.
pub(crate) fn unregister(shadow: &Arc<Shadow>) {
    let mut all = lock(&SHADOWS);
    all.retain(|s| !Arc::ptr_eq(s, shadow));
    ANY.store(!all.is_empty(), Ordering::Release);
}

/// The shadow whose served directory holds `path`, if any.
fn shadow_of(path: &Path) -> Option<(Arc<Shadow>, PathBuf)> {
    if !ANY.load(Ordering::Acquire) {
        return None;
    }
    lock(&SHADOWS).iter().find_map(|s| {
        let rel = path.strip_prefix(&s.root).ok()?.to_path_buf();
        Some((s.clone(), rel))
    })
}

fn path_of(f: &File) -> io::Result<PathBuf> {
    fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

/// A file was fsync'ed: its data survives a power cut.
pub(crate) fn file_synced(file: &File) -> io::Result<()> {
    if !ANY.load(Ordering::Acquire) {
        return Ok(());
    }
    if let Some((s, _)) = shadow_of(&path_of(file)?) {
        lock(&s.state).synced.insert(file.metadata()?.ino());
    }
    Ok(())
}

/// A folder was synced: its entries as they are now survive a power cut.
pub(crate) fn dir_synced(dir: &File) -> io::Result<()> {
    if !ANY.load(Ordering::Acquire) {
        return Ok(());
    }
    match shadow_of(&path_of(dir)?) {
        Some((s, rel)) => s.mirror_dir(&rel),
        None => Ok(()),
    }
}

/// The filesystem of `root` was synced whole (syncfs).
pub(crate) fn fs_synced(root: &Path) -> io::Result<()> {
    match shadow_of(&root.canonicalize()?) {
        Some((s, _)) => s.fs_synced(),
        None => Ok(()),
    }
}

/// The disk as a power cut now would leave it: a copy at `to` of the shadow `shadow` whose files
/// are the same inodes (hard links), as a disk keeps them. Its torn files keep their bytes until
/// [`power_cut_tear`] empties them, once no server runs on those inodes.
pub fn power_cut_copy(shadow: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(shadow)? {
        let e = e?;
        let dest = to.join(e.file_name());
        match e.file_type()?.is_dir() {
            true => power_cut_copy(&e.path(), &dest)?,
            false => fs::hard_link(e.path(), dest)?,
        }
    }
    Ok(())
}

/// Empties the files a copy of a shadow ([`power_cut_copy`]) lists as torn (named on disk,
/// their data never synced), as a power cut leaves them, keeping the times they had; answers
/// how many.
pub fn power_cut_tear(disk: &Path) -> io::Result<usize> {
    let list = disk.join(TORN);
    // A shadow writes its list from its start on: a copy without one is not of a shadow.
    let torn = fs::read_to_string(&list)?;
    for name in torn.lines() {
        let file = fs::OpenOptions::new().write(true).open(disk.join(name))?;
        // Truncating sets the modification time, which the disk would have kept.
        let modified = file.metadata()?.modified()?;
        file.set_len(0)?;
        file.set_modified(modified)?;
    }
    fs::remove_file(list)?;
    Ok(torn.lines().count())
}

impl Shadow {
    /// Whether `rel` (relative to the served directory) is left out of the shadow.
    fn skipped(&self, rel: &Path) -> bool {
        rel.starts_with(".s3gate/tmp")
            || rel == Path::new(TORN)
            || self.root.join(rel) == self.index
    }

    /// Makes the shadow folder `rel` hold the real folder's entries as they are now.
    fn mirror_dir(&self, rel: &Path) -> io::Result<()> {
        if self.skipped(rel) {
            return Ok(());
        }
        let mut st = lock(&self.state);
        let real = self.root.join(rel);
        let shadow = self.dir.join(rel);
        fs::create_dir_all(&shadow)?;
        let mut names = Vec::new();
        for e in fs::read_dir(&real)? {
            let e = e?;
            let r = rel.join(e.file_name());
            names.push(e.file_name());
            if self.skipped(&r) {
                continue;
            }
            let md = match e.metadata() {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let to = self.dir.join(&r);
            if md.is_dir() {
                fs::create_dir_all(&to)?;
                continue;
            }
            if !md.is_file() {
                continue;
            }
            let linked = match fs::symlink_metadata(&to) {
                Ok(have) if have.ino() == md.ino() => have.ino(),
                _ => {
                    let _ = fs::remove_file(&to);
                    match fs::hard_link(e.path(), &to) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        r => r?,
                    }
                    // The name may have moved on meanwhile: what was linked is what counts.
                    fs::symlink_metadata(&to)?.ino()
                }
            };
            match st.synced.contains(&linked) {
                true => st.torn.remove(&r),
                false => st.torn.insert(r),
            };
        }
        for e in fs::read_dir(&shadow)? {
            let e = e?;
            let r = rel.join(e.file_name());
            if names.contains(&e.file_name()) || self.skipped(&r) {
                continue;
            }
            match e.file_type()?.is_dir() {
                true => fs::remove_dir_all(e.path())?,
                false => fs::remove_file(e.path())?,
            }
            st.torn.retain(|t| !t.starts_with(&r));
        }
        self.write_torn(&st)
    }

    /// Writes the list of torn names.
    fn write_torn(&self, st: &State) -> io::Result<()> {
        let to = self.dir.join(TORN);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        let text: String = st
            .torn
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect();
        let tmp = to.with_extension("tmp");
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &to)
    }

    /// Makes the shadow the whole tree as it is now, every file's data durable.
    fn fs_synced(&self) -> io::Result<()> {
        let mut folders = vec![PathBuf::new()];
        while let Some(rel) = folders.pop() {
            let entries = match fs::read_dir(self.root.join(&rel)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for e in entries {
                let e = e?;
                let r = rel.join(e.file_name());
                if self.skipped(&r) {
                    continue;
                }
                match e.metadata() {
                    Ok(md) if md.is_file() => {
                        lock(&self.state).synced.insert(md.ino());
                    }
                    Ok(md) if md.is_dir() => folders.push(r),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            match self.mirror_dir(&rel) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                r => r?,
            }
        }
        Ok(())
    }
    /// The index committed: its store as it is now survives a power cut.
    pub(crate) fn index_committed(&self) -> io::Result<()> {
        let Ok(rel) = self.index.strip_prefix(&self.root) else {
            return Err(io::Error::other(
                "the power-cut shadow needs the index inside the served directory",
            ));
        };
        let to = self.dir.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        // Copied beside, then renamed: a reader of the shadow never meets half a store.
        let tmp = to.with_extension("shadow-tmp");
        fs::copy(&self.index, &tmp)?;
        fs::rename(&tmp, &to)
    }
}
