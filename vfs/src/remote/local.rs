//! The local-filesystem remote: one blocking call per operation, run on tokio's blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use super::{ByteStream, Entry, Fingerprint, Reader, Remote, Upload};

/// Bytes read per blocking call when streaming a file out.
const READ_CHUNK: u64 = 512 * 1024;
/// Bytes gathered before one blocking write.
const WRITE_CHUNK: usize = 1024 * 1024;
/// How often a publish retries when a concurrent delete removes the parent folder it just made.
const PUBLISH_TRIES: usize = 16;

pub struct LocalFs {
    root: PathBuf,
    tmp: PathBuf,
}

async fn blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
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

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
    )
}

/// Opens a file without following a symbolic link in its last component, so that a link planted
/// in the served tree cannot expose a file outside it.
fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

impl LocalFs {
    /// Serves `root`; uploads are staged in `tmp`, which must be on the same filesystem so that
    /// publishing is a rename. Whatever a previous run left in `tmp` is removed.
    pub fn new(root: &Path, tmp: &Path) -> io::Result<LocalFs> {
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
        Ok(LocalFs {
            root: root.to_path_buf(),
            tmp: tmp.to_path_buf(),
        })
    }

    fn path(&self, p: &str) -> PathBuf {
        if p.is_empty() {
            self.root.clone()
        } else {
            self.root.join(p)
        }
    }

    fn new_upload(&self) -> io::Result<LocalUpload> {
        let path = self.tmp.join(format!("up-{:032x}", rand::random::<u128>()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(LocalUpload {
            root: self.root.clone(),
            path: Some(path),
            file: Arc::new(file),
            buf: BytesMut::new(),
            pending: None,
        })
    }
}

#[async_trait]
impl Remote for LocalFs {
    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        let p = self.path(path);
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        blocking(move || match fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => Ok(None),
            Ok(md) => Ok(Some(entry(name, &md))),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        let p = self.path(path);
        blocking(move || {
            let file = match open_nofollow(&p) {
                Ok(f) => f,
                Err(e) if is_missing(&e) || e.raw_os_error() == Some(libc::EISDIR) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            };
            let md = file.metadata()?;
            if !md.is_file() {
                return Ok(None);
            }
            Ok(Some(Box::new(LocalReader {
                file: Arc::new(file),
                fingerprint: fingerprint(&md),
            }) as Box<dyn Reader>))
        })
        .await
    }

    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let p = self.path(path);
        blocking(move || {
            let mut out = Vec::new();
            for e in fs::read_dir(&p)? {
                let e = e?;
                let ft = e.file_type()?;
                if ft.is_symlink() || !(ft.is_dir() || ft.is_file()) {
                    continue;
                }
                let Ok(name) = e.file_name().into_string() else {
                    continue; // not UTF-8: cannot be an S3 key
                };
                match e.metadata() {
                    Ok(md) => out.push(entry(name, &md)),
                    Err(e) if is_missing(&e) => continue, // removed while listing
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn create(&self) -> io::Result<Box<dyn Upload>> {
        Ok(Box::new(self.new_upload()?))
    }

    async fn concat(&self, srcs: &[String]) -> io::Result<Box<dyn Upload>> {
        let srcs: Vec<PathBuf> = srcs.iter().map(|s| self.path(s)).collect();
        let up = self.new_upload()?;
        let dst = up.file.clone();
        blocking(move || {
            for src in srcs {
                let mut from = open_nofollow(&src)?;
                // std's File-to-File copy uses copy_file_range: in-kernel, and a reflink where
                // the filesystem shares extents.
                io::copy(&mut from, &mut &*dst)?;
            }
            Ok(())
        })
        .await?;
        Ok(Box::new(up))
    }

    async fn delete(&self, path: &str) -> io::Result<bool> {
        let p = self.path(path);
        blocking(move || match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            // A folder is not an object: there was no object to delete.
            Err(e) if is_missing(&e) || e.raw_os_error() == Some(libc::EISDIR) => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    async fn mkdir(&self, path: &str) -> io::Result<bool> {
        let p = self.path(path);
        blocking(move || match fs::create_dir(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    async fn rmdir(&self, path: &str) -> io::Result<()> {
        let p = self.path(path);
        blocking(move || fs::remove_dir(&p)).await
    }

    async fn rmdir_tree(&self, path: &str) -> io::Result<()> {
        fn only_dirs(p: &Path) -> io::Result<bool> {
            for e in fs::read_dir(p)? {
                let e = e?;
                if !e.file_type()?.is_dir() || !only_dirs(&e.path())? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        let p = self.path(path);
        blocking(move || {
            if !only_dirs(&p)? {
                return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
            }
            fs::remove_dir_all(&p)
        })
        .await
    }

    async fn delete_tree(&self, path: &str) -> io::Result<()> {
        let p = self.path(path);
        blocking(move || match fs::remove_dir_all(&p) {
            Err(e) if !is_missing(&e) => Err(e),
            _ => Ok(()),
        })
        .await
    }
}

struct LocalReader {
    file: Arc<File>,
    fingerprint: Fingerprint,
}

impl Reader for LocalReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        let state = (self.file, offset, offset.saturating_add(len));
        Box::pin(futures_util::stream::try_unfold(
            state,
            |(file, pos, end)| async move {
                if pos >= end {
                    return Ok(None);
                }
                let want = (end - pos).min(READ_CHUNK) as usize;
                let f = file.clone();
                let chunk = blocking(move || {
                    let mut buf = vec![0u8; want];
                    let mut got = 0;
                    while got < want {
                        match f.read_at(&mut buf[got..], pos + got as u64) {
                            Ok(0) => {
                                // The file shrank under us: better a cut-off response than
                                // bytes that do not match the advertised length.
                                return Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "file shrank while being read",
                                ));
                            }
                            Ok(n) => got += n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(Bytes::from(buf))
                })
                .await?;
                let next = pos + chunk.len() as u64;
                Ok(Some((chunk, (file, next, end))))
            },
        ))
    }
}

struct LocalUpload {
    root: PathBuf,
    /// The staging file; `None` once published or discarded.
    path: Option<PathBuf>,
    file: Arc<File>,
    buf: BytesMut,
    /// The previous chunk's write, still running while the next chunk is gathered.
    pending: Option<JoinHandle<io::Result<()>>>,
}

impl LocalUpload {
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
        self.pending = Some(tokio::task::spawn_blocking(move || {
            (&*file).write_all(&data)
        }));
        Ok(())
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf().await?;
        }
        Ok(())
    }

    async fn finish(&mut self, sync: bool) -> io::Result<Fingerprint> {
        self.flush_buf().await?;
        self.wait_pending().await?;
        let file = self.file.clone();
        blocking(move || {
            if sync {
                file.sync_all()?;
            }
            Ok(fingerprint(&file.metadata()?))
        })
        .await
    }

    async fn commit(mut self: Box<Self>, path: &str, sync: bool) -> io::Result<()> {
        let from = self
            .path
            .take()
            .ok_or_else(|| io::Error::other("upload already published"))?;
        let to = self.root.join(path);
        blocking(move || {
            let parent = to.parent().map(Path::to_path_buf).unwrap_or_default();
            let publish = || -> io::Result<()> {
                let mut tries = 0;
                loop {
                    match fs::rename(&from, &to) {
                        Ok(()) => return Ok(()),
                        // A concurrent delete may remove the folder we just made: make it again.
                        Err(e) if e.kind() == io::ErrorKind::NotFound && tries < PUBLISH_TRIES => {
                            tries += 1;
                            fs::create_dir_all(&parent)?;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            if let Err(e) = publish() {
                let _ = fs::remove_file(&from);
                return Err(e);
            }
            if sync {
                File::open(&parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
    }

    async fn abort(mut self: Box<Self>) {
        let _ = self.wait_pending().await;
        if let Some(p) = self.path.take() {
            let _ = blocking(move || fs::remove_file(p)).await;
        }
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
