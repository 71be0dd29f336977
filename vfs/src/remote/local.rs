//! The local-filesystem remote: one blocking call per operation, run on tokio's blocking pool.
//!
//! Every path is resolved below the root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`,
//! and every change is made relative to a directory opened that way, so a symbolic link planted
//! anywhere in the tree (by another program) can never lead a key outside it.
//!
//! Only regular files are objects. Anything else another program puts in the tree (a FIFO, a
//! socket, a device, a symbolic link) is absent for every operation: stat, open, listings, copies
//! and deletes (which leave it in place). Files are opened without waiting (`O_NONBLOCK`) and
//! checked on the open descriptor: opening a FIFO for reading waits for a writer, and pinned a
//! blocking thread (and the key's lock) for good. A write to such a key is refused rather than
//! replacing what is there.

use std::any::Any;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::dirsync::sync_dir;
use super::{
    blocking, moved_unless_stale, publish_after, AfterMove, ByteStream, Entry, Fingerprint,
    KeepAlive, Reader, Remote, Source, Upload,
};

/// Bytes read per blocking call when streaming a file out.
const READ_CHUNK: u64 = 512 * 1024;
/// Files up to this size are read whole when opened, in the same blocking call: a small GET
/// then waits for the blocking pool once instead of twice. A
/// HEAD of such a file reads it too, from the page cache as a rule.
const READ_AT_OPEN: u64 = 16 * 1024;
/// Bytes gathered before one blocking write.
const WRITE_CHUNK: usize = 512 * 1024;
/// Bytes written between two starts of writeback, for an upload that will be synced: the disk
/// works while the body arrives, instead of taking the whole object at the final fsync (a
/// 1 GiB fsync took 0.46 s here).
const WRITEBACK_STEP: usize = 8 * 1024 * 1024;
/// How often a publish retries when a concurrent delete removes the parent folder it just made.
const PUBLISH_TRIES: usize = 16;

pub struct LocalFs {
    root: PathBuf,
    /// The root, opened once: every resolution starts here.
    root_dir: Arc<File>,
    tmp: PathBuf,
    /// Whether deletes and new folders are durable before they are acknowledged, and uploads
    /// will be synced (each is told again when it is finished).
    sync: bool,
}

fn fingerprint(md: &fs::Metadata) -> Fingerprint {
    Fingerprint {
        size: md.len(),
        mtime_ns: md.mtime().saturating_mul(1_000_000_000) + md.mtime_nsec(),
        id: md.ino(),
    }
}

fn entry(name: String, md: &fs::Metadata) -> Entry {
    Entry {
        name,
        is_dir: md.is_dir(),
        fingerprint: fingerprint(md),
        created: md
            .created()
            .or_else(|_| md.modified())
            .unwrap_or(std::time::UNIX_EPOCH),
    }
}

/// Not there, for our purposes: missing, below a file, or behind a symbolic link.
fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP) | Some(libc::EXDEV)
    )
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Opens `path` below `dir`, refusing symbolic links anywhere in it and any escape from `dir`.
fn open_beneath(dir: RawFd, path: &str, flags: i32) -> io::Result<File> {
    let c = cstr(if path.is_empty() { "." } else { path })?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    loop {
        // SAFETY: `c` is a valid C string and `how` a properly laid out open_how, both alive
        // for the duration of the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new file descriptor that nothing else owns.
            return Ok(unsafe { File::from_raw_fd(fd as RawFd) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a concurrent rename somewhere on the path; resolution may simply be retried.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
}

/// Opens the regular file at `path` below `dir` for reading, with its metadata; `None` when there
/// is none there (missing, a folder, or anything that is not an object).
fn open_file(dir: RawFd, path: &str) -> io::Result<Option<(File, fs::Metadata)>> {
    let file = match open_beneath(
        dir,
        path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
    ) {
        Ok(f) => f,
        // ENXIO: a socket (or a device without its driver).
        Err(e) if is_missing(&e) || matches!(e.raw_os_error(), Some(libc::ENXIO)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let md = file.metadata()?;
    if !md.is_file() {
        return Ok(None);
    }
    // Reads of a regular file wait for the disk, as they should: on filesystems that honour the
    // flag for them (network and FUSE ones) it would fail them instead.
    // SAFETY: a valid descriptor; F_SETFL takes an int.
    check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) })?;
    Ok(Some((file, md)))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// What a copy from a source that is not (or no longer) a file fails with.
fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// Splits `a/b/c` into (`a/b`, `c`).
fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

impl LocalFs {
    /// Serves `root`; uploads are staged in `tmp`, which must be on the same filesystem so that
    /// publishing is a rename. Whatever a previous run left in `tmp` is removed. With `sync`,
    /// deleting a file and making a folder are durable when they return.
    pub fn new(root: &Path, tmp: &Path, sync: bool) -> io::Result<LocalFs> {
        fs::create_dir_all(root)?;
        fs::create_dir_all(tmp)?;
        for e in fs::read_dir(tmp)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                fs::remove_dir_all(e.path())?;
            } else {
                fs::remove_file(e.path())?;
            }
        }
        let root_dir = File::open(root)?;
        match open_beneath(root_dir.as_raw_fd(), ".", libc::O_PATH) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                return Err(io::Error::other(
                    "this kernel lacks openat2(2): s3gate needs Linux 5.6 or later",
                ))
            }
            r => r?,
        };
        Ok(LocalFs {
            root: root.to_path_buf(),
            root_dir: Arc::new(root_dir),
            tmp: tmp.to_path_buf(),
            sync,
        })
    }

    fn new_upload(&self) -> io::Result<LocalUpload> {
        let path = self.tmp.join(format!("up-{:032x}", rand::random::<u128>()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(LocalUpload::new(
            self.root_dir.clone(),
            Some(path),
            file,
            None,
            self.sync,
        ))
    }

    /// A staged upload that is a new link to the file at `src`, when it is still version `want`.
    async fn link_copy(&self, src: &str, want: Fingerprint) -> io::Result<LocalUpload> {
        let src = src.to_string();
        let path = self.tmp.join(format!("up-{:032x}", rand::random::<u128>()));
        let root_dir = self.root_dir.clone();
        let tmp = path.clone();
        let file = self
            .at_root(move |root| {
                let (file, md) = open_file(root, &src)?.ok_or_else(not_found)?;
                if fingerprint(&md) != want {
                    return Err(io::Error::from_raw_os_error(libc::ESTALE));
                }
                // Link the very inode that was resolved and checked (through its descriptor).
                let proc_path = cstr(&format!("/proc/self/fd/{}", file.as_raw_fd()))?;
                let tmp_c = cstr(&tmp.to_string_lossy())?;
                // SAFETY: valid C strings.
                check(unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        proc_path.as_ptr(),
                        libc::AT_FDCWD,
                        tmp_c.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                })?;
                Ok(file)
            })
            .await?;
        Ok(LocalUpload::new(
            root_dir,
            Some(path),
            file,
            None,
            self.sync,
        ))
    }

    /// Runs `f` on the blocking pool with the root directory's descriptor.
    async fn at_root<T, F>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce(RawFd) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let root = self.root_dir.clone();
        blocking(move || f(root.as_raw_fd())).await
    }

    /// [`Remote::rename`]; with `sync_source` false, a sync leaves the folder moved from as it
    /// was ([`Remote::rename_before_publish`]).
    async fn move_file(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
        sync_source: bool,
    ) -> io::Result<Option<Fingerprint>> {
        let (from, to) = (from.to_string(), to.to_string());
        let sync = self.sync;
        self.at_root(move |root| {
            let moved = move_beneath(root, &from, &to, pinned, replace, sync, sync_source)?;
            Ok(moved.map(|(fp, _)| fp))
        })
        .await
    }
}

/// [`LocalFs::move_file`] on a blocking thread, in the served root `root`; also hands back the
/// folder moved from, still open (a publish at the name just vacated goes there).
fn move_beneath(
    root: RawFd,
    from: &str,
    to: &str,
    pinned: Option<Fingerprint>,
    replace: bool,
    sync: bool,
    sync_source: bool,
) -> io::Result<Option<(Fingerprint, File)>> {
    let src_name = split_parent(from).1;
    // Checked first, as a delete checks: another program may still replace the file
    // before the rename, which no call rules out.
    let Some((src_dir, md)) = folder_and_entry(root, from, sync)? else {
        return Ok(None);
    };
    if !md.is_file() {
        return Ok(None);
    }
    if pinned.is_some_and(|fp| fp != fingerprint(&md)) {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    let (dst_parent, dst_name) = split_parent(to);
    let mut parents = Vec::new();
    let dst_dir = open_or_create_dir(root, dst_parent, &mut parents)?;
    let (src_c, dst_c) = (cstr(src_name)?, cstr(dst_name)?);
    // Without replacing, the rename itself refuses whatever is there.
    let flags = match replace {
        true => {
            not_in_the_way(&dst_dir, &dst_c)?;
            0
        }
        false => libc::RENAME_NOREPLACE,
    };
    // SAFETY: valid descriptors and C strings.
    let moved = check(unsafe {
        libc::renameat2(
            src_dir.as_raw_fd(),
            src_c.as_ptr(),
            dst_dir.as_raw_fd(),
            dst_c.as_ptr(),
            flags,
        )
    });
    match moved {
        // Removed since it was checked.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        r => r?,
    }
    // Renaming a link onto another link of the same file does nothing and succeeds (a
    // copy shares its source's file): the name moved from must go all the same, or it
    // outlives its record (a version put back over a copy of itself).
    if replace {
        if let Ok(left) = open_beneath(src_dir.as_raw_fd(), src_name, libc::O_PATH) {
            let left = left.metadata()?;
            if left.ino() == md.ino() && left.dev() == md.dev() {
                // SAFETY: a valid descriptor and C string.
                check(unsafe { libc::unlinkat(src_dir.as_raw_fd(), src_c.as_ptr(), 0) })?;
            }
        }
    }
    if sync {
        // Both names must survive a crash as they are now, or the file has two or none:
        // the new one first, so that the file never has none. The publish that follows
        // a move before it syncs the folder moved from itself.
        sync_dirs(&dst_dir, &parents)?;
        if sync_source {
            sync_dir(&src_dir)?;
        }
    }
    // A rename keeps the file, and so its fingerprint.
    Ok(Some((fingerprint(&md), src_dir)))
}

#[async_trait]
impl Remote for LocalFs {
    fn moves_files(&self) -> bool {
        true
    }

    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        let p = path.to_string();
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        self.at_root(move |root| match open_beneath(root, &p, libc::O_PATH) {
            Ok(f) => {
                let md = f.metadata()?;
                Ok((md.is_dir() || md.is_file()).then(|| entry(name, &md)))
            }
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        let p = path.to_string();
        self.at_root(move |root| {
            let Some((file, md)) = open_file(root, &p)? else {
                return Ok(None);
            };
            // A file that shrank since its stat is left to the streamed read, which says so.
            let content = match md.len() {
                n if n <= READ_AT_OPEN => read_exact_at(&file, n as usize, 0).ok(),
                _ => None,
            };
            Ok(Some(Box::new(LocalReader {
                file: Arc::new(file),
                fingerprint: fingerprint(&md),
                content,
            }) as Box<dyn Reader>))
        })
        .await
    }

    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let p = path.to_string();
        self.at_root(move |root| {
            let dir = open_beneath(root, &p, libc::O_RDONLY | libc::O_DIRECTORY)?;
            // Read through the descriptor (not the path) so the listing is of the folder that
            // was resolved safely; entries are stat'ed relative to it, without following links.
            let mut out = Vec::new();
            for e in fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
                let e = e?;
                let ft = e.file_type()?;
                if ft.is_symlink() || !(ft.is_dir() || ft.is_file()) {
                    continue;
                }
                let Ok(name) = e.file_name().into_string() else {
                    continue; // not UTF-8: cannot be an S3 key
                };
                match e.metadata() {
                    // Its type as read above may be of an entry replaced since.
                    Ok(md) if md.is_dir() || md.is_file() => out.push(entry(name, &md)),
                    Ok(_) => continue,
                    Err(e) if is_missing(&e) => continue, // removed while listing
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn create(&self, _dest: &str) -> io::Result<Box<dyn Upload>> {
        Ok(Box::new(self.new_upload()?))
    }

    async fn write_at(
        &self,
        path: &str,
        offset: u64,
        max_len: u64,
        keep: KeepAlive,
    ) -> io::Result<Option<Box<dyn Upload>>> {
        let p = path.to_string();
        let sync = self.sync;
        let file = self
            .at_root(move |root| {
                let (parent, name) = split_parent(&p);
                let mut parents = Vec::new();
                let dir = open_or_create_dir(root, parent, &mut parents)?;
                let c = cstr(name)?;
                // SAFETY: valid descriptor and C string; the new descriptor is owned below.
                let fd = unsafe {
                    libc::openat(
                        dir.as_raw_fd(),
                        c.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_NOFOLLOW
                            | libc::O_NONBLOCK
                            | libc::O_NOCTTY
                            | libc::O_CLOEXEC,
                        0o644,
                    )
                };
                if fd < 0 {
                    let e = io::Error::last_os_error();
                    // A FIFO without a reader, or a socket: not a file to write into.
                    return match e.raw_os_error() {
                        Some(libc::ENXIO) => Ok(None),
                        _ => Err(e),
                    };
                }
                // SAFETY: a new descriptor nothing else owns.
                let mut file = unsafe { File::from_raw_fd(fd) };
                let md = file.metadata()?;
                if !md.is_file() || md.nlink() > 1 {
                    return Ok(None);
                }
                // SAFETY: a valid descriptor; F_SETFL takes an int.
                check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) })?;
                // The file may be new: its name must survive a crash as the bytes will.
                if sync {
                    sync_dirs(&dir, &parents)?;
                }
                file.seek(io::SeekFrom::Start(offset))?;
                Ok(Some(file))
            })
            .await?;
        Ok(file.map(|file| {
            Box::new(LocalUpload::new(
                self.root_dir.clone(),
                None,
                file,
                Some(InPlace {
                    start: offset,
                    left: max_len,
                    keep,
                }),
                self.sync,
            )) as Box<dyn Upload>
        }))
    }

    async fn concat(&self, _dest: &str, srcs: &[Source]) -> io::Result<Box<dyn Upload>> {
        if let [Source {
            path: src,
            pinned: Some(want),
            range: None,
        }] = srcs
        {
            // A copy of one pinned version: objects are never modified in place (every write
            // publishes a new file), so a hard link is a faithful copy that costs no I/O.
            match self.link_copy(src, *want).await {
                Ok(up) => return Ok(Box::new(up)),
                Err(e) if e.raw_os_error() == Some(libc::ESTALE) => return Err(e),
                Err(_) => {} // another filesystem, link limits...: copy the bytes instead
            }
        }
        let srcs = srcs.to_vec();
        let up = self.new_upload()?;
        let dst = up.file.clone();
        self.at_root(move |root| {
            for src in srcs {
                let (mut from, md) = open_file(root, &src.path)?.ok_or_else(not_found)?;
                let now = fingerprint(&md);
                if src.pinned.is_some_and(|fp| fp != now) {
                    return Err(io::Error::from_raw_os_error(libc::ESTALE));
                }
                // std's File-to-File copy (also through `take`) uses copy_file_range: in-kernel,
                // and a reflink where the filesystem shares extents.
                let (offset, len) = src.range.unwrap_or((0, now.size));
                from.seek(io::SeekFrom::Start(offset))?;
                let copied = io::copy(&mut (&from).take(len), &mut &*dst)?;
                if copied != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than the range to copy", src.path),
                    ));
                }
            }
            Ok(())
        })
        .await?;
        Ok(Box::new(up))
    }

    async fn delete(&self, path: &str, pinned: Option<Fingerprint>) -> io::Result<bool> {
        let p = path.to_string();
        let sync = self.sync;
        self.at_root(move |root| {
            let name = split_parent(&p).1;
            // What is there is checked first (a link fails to resolve): another program may
            // replace it before the unlink, which no call can rule out, only make unlikely.
            let Some((dir, md)) = folder_and_entry(root, &p, sync)? else {
                return Ok(false);
            };
            if !md.is_file() || pinned.is_some_and(|fp| fp != fingerprint(&md)) {
                return Ok(false);
            }
            let c = cstr(name)?;
            // SAFETY: valid descriptor and C string.
            match check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }) {
                // Else a power cut could bring back an object whose delete was acknowledged.
                Ok(()) if sync => sync_dir(&dir).map(|()| true),
                Ok(()) => Ok(true),
                // A folder is not an object: there was no object to delete.
                Err(e) if is_missing(&e) || matches!(e.raw_os_error(), Some(libc::EISDIR)) => {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        self.move_file(from, to, pinned, replace, true).await
    }

    async fn rename_before_publish(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
    ) -> io::Result<Option<Fingerprint>> {
        self.move_file(from, to, pinned, false, false).await
    }

    async fn publish_after_move(
        &self,
        mut upload: Box<dyn Upload>,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        sync: bool,
        then: Box<dyn FnOnce(Fingerprint, Fingerprint) + Send>,
    ) -> io::Result<AfterMove> {
        let local = upload
            .as_any()
            .and_then(|u| u.downcast_mut::<LocalUpload>());
        let Some((local, staged, fp)) =
            local.and_then(|u| u.staged_in(&self.root_dir).map(|(s, fp)| (u, s, fp)))
        else {
            let moved = self.rename_before_publish(from, to, pinned).await;
            return publish_after(moved, upload, from, sync, then).await;
        };
        let (root, sync_move) = (self.root_dir.clone(), self.sync);
        let (from, to) = (from.to_string(), to.to_string());
        // One trip to a blocking thread, not two: in a small overwrite, the wake-ups of a second
        // trip cost as much as its calls.
        let done = blocking(move || {
            let moved = move_beneath(
                root.as_raw_fd(),
                &from,
                &to,
                pinned,
                false,
                sync_move,
                false,
            );
            let Some((moved, vacated)) = moved_unless_stale(moved)? else {
                return Ok(None);
            };
            let publish = Publish {
                // A folder opened for a move that does not sync is a path only: it cannot
                // be synced for a publish that does.
                vacated: (sync_move || !sync).then_some(&vacated),
                ..Publish::new(&root, &staged, &from, fp, sync)
            };
            Ok(Some((moved, publish.run(|p| then(moved, p)))))
        })
        .await;
        match done {
            Ok(Some((moved, published))) => {
                // Published or removed: the staged name is gone either way.
                local.path = None;
                Ok(AfterMove::Moved { moved, published })
            }
            Ok(None) => Ok(AfterMove::NotMoved(upload)),
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }

    async fn mkdir(&self, path: &str) -> io::Result<bool> {
        let p = path.to_string();
        let sync = self.sync;
        self.at_root(move |root| {
            let (parent, name) = split_parent(&p);
            let dir = open_beneath(root, parent, dir_flags(sync))?;
            let c = cstr(name)?;
            // SAFETY: valid descriptor and C string.
            match check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) }) {
                Ok(()) if sync => sync_dir(&dir).map(|()| true),
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match open_beneath(dir.as_raw_fd(), name, libc::O_PATH | libc::O_DIRECTORY) {
                        Ok(_) => Ok(false),
                        Err(_) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn rmdir(&self, path: &str) -> io::Result<()> {
        let p = path.to_string();
        self.at_root(move |root| {
            let (parent, name) = split_parent(&p);
            let dir = open_beneath(root, parent, libc::O_PATH | libc::O_DIRECTORY)?;
            let c = cstr(name)?;
            // SAFETY: valid descriptor and C string.
            check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })
        })
        .await
    }

    async fn rmdir_tree(&self, path: &str) -> io::Result<()> {
        let p = path.to_string();
        let full = self.root.join(path);
        let sync = self.sync;
        self.at_root(move |root| {
            // The folder itself must be a real folder below the root, not a link to elsewhere.
            open_beneath(root, &p, libc::O_PATH | libc::O_DIRECTORY)?;
            remove_empty_tree(&full)?;
            if sync {
                // A deleted bucket stays deleted.
                let (parent, _) = split_parent(&p);
                sync_dir(&open_beneath(
                    root,
                    parent,
                    libc::O_RDONLY | libc::O_DIRECTORY,
                )?)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_tree(&self, path: &str) -> io::Result<()> {
        let p = path.to_string();
        let full = self.root.join(path);
        self.at_root(move |root| {
            match open_beneath(root, &p, libc::O_PATH | libc::O_DIRECTORY) {
                Err(e) if is_missing(&e) => return Ok(()),
                r => r?,
            };
            match fs::remove_dir_all(&full) {
                Err(e) if !is_missing(&e) => Err(e),
                _ => Ok(()),
            }
        })
        .await
    }
}

/// Opens the folder `path` below `root` for writing into it, creating missing folders one
/// component at a time (each relative to its safely opened parent). The first component (the
/// bucket) is never created: a write must not bring back a bucket deleted meanwhile.
///
/// When folders had to be made, their parents are pushed to `parents`: a write into the new
/// folder is durable only once their entries are, including a folder another request made a
/// moment ago and may not have synced yet, when this one also went the slow way. One that
/// finds the folder already there syncs only it: on a filesystem with a journal (ext4's
/// default, XFS) that sync commits the folder's making too; without one, a power cut in the
/// moment between the two requests' syncs can lose the folder.
fn open_or_create_dir(root: RawFd, path: &str, parents: &mut Vec<File>) -> io::Result<File> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    match open_beneath(root, path, flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        r => return r,
    }
    let mut comps = path.split('/').filter(|c| !c.is_empty());
    let Some(first) = comps.next() else {
        return open_beneath(root, "", flags);
    };
    let mut dir = open_beneath(root, first, flags)?;
    for comp in comps {
        let c = cstr(comp)?;
        // SAFETY: valid descriptor and C string.
        match check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) }) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let child = open_beneath(dir.as_raw_fd(), comp, flags)?;
        parents.push(std::mem::replace(&mut dir, child));
    }
    Ok(dir)
}

/// The folder holding `path` (opened so that it can be synced when `sync`) and what is at
/// `path`, looked at without following a link; `None` when either is missing.
fn folder_and_entry(
    root: RawFd,
    path: &str,
    sync: bool,
) -> io::Result<Option<(File, fs::Metadata)>> {
    let (parent, name) = split_parent(path);
    let dir = match open_beneath(root, parent, dir_flags(sync)) {
        Ok(d) => d,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    match open_beneath(dir.as_raw_fd(), name, libc::O_PATH) {
        Ok(f) => Ok(Some((dir, f.metadata()?))),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How to open a folder to change an entry in it: readable when it is to be synced, else as a
/// path only (which needs no read permission).
fn dir_flags(sync: bool) -> i32 {
    match sync {
        true => libc::O_RDONLY | libc::O_DIRECTORY,
        false => libc::O_PATH | libc::O_DIRECTORY,
    }
}

/// Syncs a folder that gained an entry, and the parents that gained it.
fn sync_dirs(dir: &File, parents: &[File]) -> io::Result<()> {
    sync_dir(dir)?;
    parents.iter().try_for_each(sync_dir)
}

/// Fails with `EEXIST` when `name` in `dir` is neither missing, a file nor a folder (a folder
/// fails the rename itself): a link, a FIFO or a socket another program put at a key is not an
/// object, and a write to the key must not replace it any more than a delete removes it. Else
/// the inode of the file there, if any.
fn not_in_the_way(dir: &File, name: &CString) -> io::Result<Option<u64>> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and stat buffer.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(r) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
        Ok(()) => match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Ok(Some(st.st_ino)),
            libc::S_IFDIR => Ok(None),
            _ => Err(io::Error::from_raw_os_error(libc::EEXIST)),
        },
    }
}

/// Removes a tree of empty folders bottom-up with rmdir only, so that a file that arrives
/// meanwhile makes it fail (ENOTEMPTY) instead of being deleted.
fn remove_empty_tree(p: &Path) -> io::Result<()> {
    for e in fs::read_dir(p)? {
        let e = e?;
        if !e.file_type()?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
        remove_empty_tree(&e.path())?;
    }
    fs::remove_dir(p)
}

#[derive(Clone)]
struct LocalReader {
    file: Arc<File>,
    fingerprint: Fingerprint,
    /// The whole content of a small file, read when it was opened ([`READ_AT_OPEN`]).
    content: Option<Bytes>,
}

impl Reader for LocalReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(self.clone())
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        let end = offset.saturating_add(len);
        if let Some(content) = &self.content {
            if len > 0 && end <= content.len() as u64 {
                let piece = content.slice(offset as usize..end as usize);
                return Box::pin(futures_util::stream::once(async move { Ok(piece) }));
            }
        }
        let file = self.file;
        // The next piece is read while one is sent.
        let pieces = (offset..end).step_by(READ_CHUNK as usize).map(move |pos| {
            let f = file.clone();
            let want = (end - pos).min(READ_CHUNK) as usize;
            blocking(move || read_exact_at(&f, want, pos))
        });
        Box::pin(futures_util::stream::iter(pieces).buffered(2))
    }
}

/// Reads `len` bytes at `pos` into a new buffer, which is not zeroed first: that pass over
/// every byte read cost as much as a tenth of a large GET's copies.
pub(crate) fn read_exact_at(file: &File, len: usize, pos: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = libc::off_t::try_from(pos + buf.len() as u64)
            .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // Never more than asked: the capacity may be larger.
        let want = len - buf.len();
        let spare = &mut buf.spare_capacity_mut()[..want];
        // SAFETY: pread writes at most `spare.len()` bytes into memory the vector owns.
        let n =
            unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), at) };
        match n {
            n if n < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            // A file that shrank under us: better a cut-off response than bytes that do not
            // match the advertised length.
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being read",
                ))
            }
            // SAFETY: pread initialised exactly `n` more bytes, within the capacity.
            n => unsafe { buf.set_len(buf.len() + n as usize) },
        }
    }
    Ok(Bytes::from(buf))
}

struct LocalUpload {
    root: Arc<File>,
    /// The staging file; `None` once published or discarded, and for writes in place.
    path: Option<PathBuf>,
    file: Arc<File>,
    buf: BytesMut,
    /// The previous chunk's write, still running while the next chunk is gathered.
    pending: Option<JoinHandle<io::Result<()>>>,
    in_place: Option<InPlace>,
    /// Set by `finish`: what the published object will be.
    finished: Option<Fingerprint>,
    /// Whether writeback is started as the file grows (it will be synced).
    sync: bool,
    /// Bytes written since writeback was last started.
    unsent: usize,
}

/// A write into an existing file ([`Remote::write_at`]).
struct InPlace {
    start: u64,
    /// How many more bytes may be written: the range belongs to this write only.
    left: u64,
    /// Given to every background write, so that it outlives a dropped upload.
    keep: KeepAlive,
}

impl LocalUpload {
    fn new(
        root: Arc<File>,
        path: Option<PathBuf>,
        file: File,
        in_place: Option<InPlace>,
        sync: bool,
    ) -> Self {
        LocalUpload {
            root,
            path,
            file: Arc::new(file),
            buf: BytesMut::new(),
            pending: None,
            in_place,
            finished: None,
            sync,
            unsent: 0,
        }
    }

    async fn wait_pending(&mut self) -> io::Result<()> {
        if let Some(p) = self.pending.take() {
            p.await
                .map_err(|e| io::Error::other(format!("write task failed: {e}")))??;
        }
        Ok(())
    }

    async fn flush_buf(&mut self) -> io::Result<()> {
        self.wait_pending().await?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = self.buf.split().freeze();
        let file = self.file.clone();
        let keep = self.in_place.as_ref().map(|p| p.keep.clone());
        self.unsent += data.len();
        let start_writeback = self.sync && self.unsent >= WRITEBACK_STEP;
        if start_writeback {
            self.unsent = 0;
        }
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let _keep = keep;
            (&*file).write_all(&data)?;
            if start_writeback {
                // Every dirty page of the file, not yet on its way; a failure shows at the fsync.
                // SAFETY: a valid descriptor; no memory is passed.
                unsafe {
                    libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
                };
            }
            Ok(())
        }));
        Ok(())
    }
}

#[async_trait]
impl Upload for LocalUpload {
    fn as_any(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }

    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        if let Some(p) = &mut self.in_place {
            p.left = p.left.checked_sub(data.len() as u64).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "more bytes than the range written in place holds",
                )
            })?;
        }
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf().await?;
        }
        Ok(())
    }

    async fn finish(&mut self, sync: bool) -> io::Result<Fingerprint> {
        self.wait_pending().await?;
        // The last bytes are written in the same trip to a blocking thread as the sync: a
        // small object makes one trip, not two.
        let data = self.buf.split().freeze();
        let file = self.file.clone();
        let start = self.in_place.as_ref().map(|p| p.start);
        let keep = self.in_place.as_ref().map(|p| p.keep.clone());
        blocking(move || {
            let _keep = keep;
            (&*file).write_all(&data)?;
            if sync {
                file.sync_all()?;
                crate::shadow::file_synced(&file)?;
            }
            let mut fp = fingerprint(&file.metadata()?);
            if let Some(start) = start {
                fp.size = (&*file).stream_position()? - start;
            }
            Ok(fp)
        })
        .await
        .inspect(|fp| self.finished = Some(*fp))
    }

    async fn commit(
        mut self: Box<Self>,
        path: &str,
        sync: bool,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint> {
        let fp = self
            .finished
            .ok_or_else(|| io::Error::other("upload committed before it was finished"))?;
        if self.in_place.is_some() {
            then(fp);
            return Ok(fp);
        }
        let from = self
            .path
            .take()
            .ok_or_else(|| io::Error::other("upload already published"))?;
        let root = self.root.clone();
        let to = path.to_string();
        blocking(move || Publish::new(&root, &from, &to, fp, sync).run(then)).await
    }

    async fn abort(mut self: Box<Self>) {
        let _ = self.wait_pending().await;
        if let Some(p) = self.path.take() {
            let _ = blocking(move || fs::remove_file(p)).await;
        }
    }
}

/// The publish of the staged file `from` at `to` in the served root `root`, as the object of
/// fingerprint `fp`: [`Upload::commit`] on a blocking thread. The staged name is gone after it,
/// whatever the answer.
struct Publish<'a> {
    root: &'a File,
    from: &'a Path,
    to: &'a str,
    fp: Fingerprint,
    sync: bool,
    /// The folder of `to`, still open, when the caller has just moved the file at `to` away
    /// (an overwrite keeping a version): tried first, without replacing anything.
    vacated: Option<&'a File>,
}

impl<'a> Publish<'a> {
    fn new(root: &'a File, from: &'a Path, to: &'a str, fp: Fingerprint, sync: bool) -> Self {
        Publish {
            root,
            from,
            to,
            fp,
            sync,
            vacated: None,
        }
    }

    fn run(self, then: impl FnOnce(Fingerprint)) -> io::Result<Fingerprint> {
        let from_c = cstr(&self.from.to_string_lossy())?;
        let name_c = cstr(split_parent(self.to).1)?;
        let mut parents = Vec::new();
        match self.rename(&from_c, &name_c, &mut parents) {
            Ok(published) => {
                // Renaming a link onto another link of the same file does nothing (a copy's
                // staged file may be its source's): the staged name must go all the same.
                if published.same_file {
                    let _ = fs::remove_file(self.from);
                }
                then(self.fp);
                if self.sync {
                    sync_dirs(published.dir.as_ref(), &parents)?;
                }
                Ok(self.fp)
            }
            Err(e) => {
                let _ = fs::remove_file(self.from);
                Err(e)
            }
        }
    }

    /// The rename, in the vacated folder if it still takes it, else in the folder of `to`,
    /// made again (with the parents made, in `parents`) if a concurrent delete removed it.
    fn rename(
        &self,
        from_c: &CString,
        name_c: &CString,
        parents: &mut Vec<File>,
    ) -> io::Result<Published<'a>> {
        if let Some(dir) = self.vacated {
            // Without replacing: whatever another program put at the name since the move
            // stays, and the rename below decides about it as about any file there (as it
            // does on a filesystem that cannot rename without replacing: `EINVAL`).
            match rename_at(from_c, dir, name_c, libc::RENAME_NOREPLACE) {
                Ok(()) => {
                    return Ok(Published {
                        dir: Dir::Borrowed(dir),
                        same_file: false,
                    })
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EEXIST | libc::ENOENT | libc::EINVAL)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let parent = split_parent(self.to).0;
        let mut tries = 0;
        loop {
            parents.clear();
            let made = open_or_create_dir(self.root.as_raw_fd(), parent, parents);
            let attempt = made.and_then(|dir| {
                let there = not_in_the_way(&dir, name_c)?;
                rename_at(from_c, &dir, name_c, 0)?;
                Ok(Published {
                    same_file: there == Some(self.fp.id),
                    dir: Dir::Owned(dir),
                })
            });
            match attempt {
                Ok(published) => return Ok(published),
                // A concurrent delete removed a folder on the way (while we made it, or
                // before the rename): make it again.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && tries < PUBLISH_TRIES => {
                    tries += 1
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Where a publish renamed its file, and whether the name held that same file already.
struct Published<'a> {
    dir: Dir<'a>,
    same_file: bool,
}

/// A folder the publish opened, or the one its caller had open.
enum Dir<'a> {
    Owned(File),
    Borrowed(&'a File),
}

impl AsRef<File> for Dir<'_> {
    fn as_ref(&self) -> &File {
        match self {
            Dir::Owned(f) => f,
            Dir::Borrowed(f) => f,
        }
    }
}

/// Renames the file at the absolute path `from_c` to `name_c` in `dir`, with `renameat2`'s
/// `flags`.
fn rename_at(
    from_c: &CString,
    dir: &File,
    name_c: &CString,
    flags: libc::c_uint,
) -> io::Result<()> {
    // SAFETY: valid descriptors and C strings.
    check(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            dir.as_raw_fd(),
            name_c.as_ptr(),
            flags,
        )
    })
}

impl LocalUpload {
    /// Its staged file and what it will be once published, when it is finished and staged in
    /// the served root `root` (not written in place).
    fn staged_in(&self, root: &Arc<File>) -> Option<(PathBuf, Fingerprint)> {
        let here = Arc::ptr_eq(&self.root, root) && self.in_place.is_none();
        Some((self.path.clone().filter(|_| here)?, self.finished?))
    }
}

impl Drop for LocalUpload {
    // A request cut off mid-body drops its upload without aborting it; the staging file must not
    // outlive it.
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> (tempfile::TempDir, LocalFs) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let fs = LocalFs::new(&root, &root.join(".s3gate/tmp"), true).unwrap();
        fs::create_dir_all(root.join("b/sub")).unwrap();
        (dir, fs)
    }

    #[tokio::test]
    async fn rename_moves_the_file_and_leaves_other_links_alone() {
        let (_dir, fs) = served();
        let root = fs.root.clone();
        fs::write(root.join("b/sub/k"), b"old").unwrap();
        // A copy shares the file.
        fs::hard_link(root.join("b/sub/k"), root.join("b/copy")).unwrap();
        let fp = fs.stat("b/sub/k").await.unwrap().unwrap().fingerprint;

        let moved = fs
            .rename("b/sub/k", ".s3gate/versions/b/aa/v1", Some(fp), false)
            .await
            .unwrap();
        assert_eq!(moved, Some(fp));
        assert!(!root.join("b/sub/k").exists());
        assert_eq!(
            fs::read(root.join(".s3gate/versions/b/aa/v1")).unwrap(),
            b"old"
        );
        assert_eq!(fs::read(root.join("b/copy")).unwrap(), b"old");
        let there = fs.stat(".s3gate/versions/b/aa/v1").await.unwrap().unwrap();
        assert_eq!(there.fingerprint, fp, "the same file, no byte copied");

        // Back again; nothing left to move the second time.
        assert!(fs
            .rename(".s3gate/versions/b/aa/v1", "b/sub/k", Some(fp), false)
            .await
            .unwrap()
            .is_some());
        assert!(fs
            .rename(".s3gate/versions/b/aa/v1", "b/sub/k", None, false)
            .await
            .unwrap()
            .is_none());
        assert_eq!(fs::read(root.join("b/sub/k")).unwrap(), b"old");
    }

    #[tokio::test]
    async fn rename_onto_another_link_of_the_same_file_leaves_one_name() {
        let (dir, fs_) = served();
        let root = dir.path().join("root");
        std::fs::write(root.join("b/kept"), b"same").unwrap();
        std::fs::hard_link(root.join("b/kept"), root.join("b/copy")).unwrap();
        let fp = fs_.stat("b/kept").await.unwrap().unwrap().fingerprint;
        assert!(fs_
            .rename("b/kept", "b/copy", Some(fp), true)
            .await
            .unwrap()
            .is_some());
        assert!(!root.join("b/kept").exists(), "the name moved from is gone");
        assert_eq!(std::fs::read(root.join("b/copy")).unwrap(), b"same");
    }

    #[tokio::test]
    async fn rename_refuses_another_version_a_taken_name_and_anything_but_a_file() {
        let (_dir, fs) = served();
        let root = fs.root.clone();
        fs::write(root.join("b/k"), b"one").unwrap();
        let fp = fs.stat("b/k").await.unwrap().unwrap().fingerprint;
        fs::write(root.join("b/k2"), b"two!").unwrap();
        let other = fs.stat("b/k2").await.unwrap().unwrap().fingerprint;

        let e = fs
            .rename("b/k", "b/n", Some(other), false)
            .await
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ESTALE));
        let e = fs.rename("b/k", "b/k2", Some(fp), false).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(fs::read(root.join("b/k2")).unwrap(), b"two!");
        assert!(fs
            .rename("b/k", "b/k2", Some(fp), true)
            .await
            .unwrap()
            .is_some());
        assert_eq!(fs::read(root.join("b/k2")).unwrap(), b"one");

        // A folder, a link, a FIFO are not files: nothing moves, nothing is replaced.
        assert!(fs
            .rename("b/sub", "b/x", None, false)
            .await
            .unwrap()
            .is_none());
        std::os::unix::fs::symlink(root.join("b/k2"), root.join("b/link")).unwrap();
        assert!(fs
            .rename("b/link", "b/x", None, false)
            .await
            .unwrap()
            .is_none());
        let e = fs.rename("b/k2", "b/link", None, true).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert!(root.join("b/k2").exists());
    }

    /// A staged upload with `data`, finished.
    async fn staged(fs: &LocalFs, dest: &str, data: &'static [u8]) -> Box<dyn Upload> {
        let mut up = fs.create(dest).await.unwrap();
        up.write(Bytes::from_static(data)).await.unwrap();
        up.finish(true).await.unwrap();
        up
    }

    /// The files in the folder staging uploads.
    fn staging(root: &Path) -> usize {
        fs::read_dir(root.join(".s3gate/tmp")).unwrap().count()
    }

    #[tokio::test]
    async fn publish_after_move_moves_then_publishes_or_hands_the_upload_back() {
        let (_dir, fs) = served();
        let root = fs.root.clone();
        fs::write(root.join("b/k"), b"old").unwrap();
        let old = fs.stat("b/k").await.unwrap().unwrap().fingerprint;
        let told = Arc::new(std::sync::Mutex::new(None));

        // Another version is at the path than the one pinned: nothing moves, nothing is
        // published, and the upload handed back still publishes.
        let mut other = old;
        other.size += 1;
        let up = staged(&fs, "b/k", b"new!").await;
        let t = told.clone();
        let then = Box::new(move |m, p| *t.lock().unwrap() = Some((m, p)));
        let after = fs.publish_after_move(up, "b/k", "b/v1", Some(other), true, then);
        let AfterMove::NotMoved(up) = after.await.unwrap() else {
            panic!("moved a version that was not the one pinned")
        };
        assert_eq!(fs::read(root.join("b/k")).unwrap(), b"old");
        assert!(!root.join("b/v1").exists());
        assert_eq!(*told.lock().unwrap(), None);
        let published = up.commit("b/other", true, Box::new(|_| {})).await.unwrap();
        assert_eq!(fs::read(root.join("b/other")).unwrap(), b"new!");
        assert_eq!(published.size, 4);

        // The version pinned: it moves, the upload is published in its place, and `then` is
        // told both fingerprints.
        let up = staged(&fs, "b/k", b"newer").await;
        let t = told.clone();
        let then = Box::new(move |m, p| *t.lock().unwrap() = Some((m, p)));
        let after = fs.publish_after_move(up, "b/k", "b/v1", Some(old), true, then);
        let AfterMove::Moved { moved, published } = after.await.unwrap() else {
            panic!("the version pinned did not move")
        };
        let published = published.unwrap();
        assert_eq!(moved, old, "a rename keeps the file");
        assert_eq!(*told.lock().unwrap(), Some((moved, published)));
        assert_eq!(fs::read(root.join("b/v1")).unwrap(), b"old");
        assert_eq!(fs::read(root.join("b/k")).unwrap(), b"newer");
        assert_eq!(staging(&root), 0, "no staged file left");

        // A move that fails (the name moved to is taken) discards the upload and changes
        // nothing.
        let now = fs.stat("b/k").await.unwrap().unwrap().fingerprint;
        let up = staged(&fs, "b/k", b"newest").await;
        let after = fs.publish_after_move(up, "b/k", "b/v1", Some(now), true, Box::new(|_, _| {}));
        let e = after.await.err().unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(fs::read(root.join("b/k")).unwrap(), b"newer");
        assert_eq!(fs::read(root.join("b/v1")).unwrap(), b"old");
        assert_eq!(staging(&root), 0, "the upload was discarded");
    }

    /// A file staged in `fs`'s staging folder, with its fingerprint.
    fn staged_file(fs: &LocalFs, name: &str, data: &[u8]) -> (PathBuf, Fingerprint) {
        let path = fs.tmp.join(name);
        fs::write(&path, data).unwrap();
        (path.clone(), fingerprint(&fs::metadata(&path).unwrap()))
    }

    #[test]
    fn a_publish_in_a_vacated_folder_replaces_only_what_any_publish_would() {
        let (_dir, fs) = served();
        let root = fs.root.clone();
        fs::create_dir_all(&fs.tmp).unwrap();
        let folder = File::open(root.join("b/sub")).unwrap();
        let publish = |from: &Path, fp, vacated| {
            let publish = Publish {
                vacated,
                ..Publish::new(&fs.root_dir, from, "b/sub/k", fp, true)
            };
            publish.run(|_| ())
        };

        // The name is free: the file goes there.
        let (from, fp) = staged_file(&fs, "one", b"one");
        assert_eq!(publish(&from, fp, Some(&folder)).unwrap(), fp);
        assert_eq!(fs::read(root.join("b/sub/k")).unwrap(), b"one");

        // Another program wrote the name since it was vacated: it is replaced, as a publish
        // that vacated nothing replaces it.
        let (from, fp) = staged_file(&fs, "two", b"two");
        assert_eq!(publish(&from, fp, Some(&folder)).unwrap(), fp);
        assert_eq!(fs::read(root.join("b/sub/k")).unwrap(), b"two");
        assert!(!from.exists());

        // A FIFO there is no object: refused, and the staged file is gone.
        fs::remove_file(root.join("b/sub/k")).unwrap();
        let fifo = cstr(&root.join("b/sub/k").to_string_lossy()).unwrap();
        // SAFETY: a valid C string.
        check(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }).unwrap();
        let (from, fp) = staged_file(&fs, "three", b"three");
        let e = publish(&from, fp, Some(&folder)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert!(!from.exists());
        fs::remove_file(root.join("b/sub/k")).unwrap();

        // The name holds the staged file already (a copy onto itself shares its file): the
        // rename does nothing, and the staged name must go all the same.
        let (from, fp) = staged_file(&fs, "four", b"four");
        fs::hard_link(&from, root.join("b/sub/k")).unwrap();
        assert_eq!(publish(&from, fp, None).unwrap(), fp);
        assert_eq!(fs::read(root.join("b/sub/k")).unwrap(), b"four");
        assert!(!from.exists());
        assert_eq!(staging(&root), 0);
    }

    #[tokio::test]
    async fn rename_stays_below_the_root_and_makes_no_bucket() {
        let (dir, fs) = served();
        let root = fs.root.clone();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(root.join("b/k"), b"x").unwrap();
        // A link planted on the way out of the tree.
        std::os::unix::fs::symlink(&outside, root.join("b/out")).unwrap();
        assert!(fs.rename("b/k", "b/out/k", None, false).await.is_err());
        assert!(fs.rename("b/k", "../outside/k", None, false).await.is_err());
        assert!(fs
            .rename("b/out/k", "b/k3", None, false)
            .await
            .unwrap()
            .is_none());
        // The destination's first folder (a bucket) is never made.
        assert!(fs.rename("b/k", "gone/k", None, false).await.is_err());
        assert!(!root.join("gone").exists());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(root.join("b/k").exists());
    }

    #[test]
    fn read_exact_at_reads_the_range_and_refuses_a_file_that_shrank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let got = read_exact_at(&file, 1_000_000, 1_234_567).unwrap();
        assert_eq!(&got[..], &data[1_234_567..2_234_567]);
        assert!(read_exact_at(&file, 0, 3_000_000).unwrap().is_empty());

        // The file loses its end between the answer's headers and this read.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(2_000_000)
            .unwrap();
        let e = read_exact_at(&file, 1_000_000, 1_500_000).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
