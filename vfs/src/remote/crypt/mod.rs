//! rclone's `crypt` remotes: names and contents encrypted over another remote, in rclone's own
//! format, so that what this server writes rclone reads and the other way round.
//!
//! `CryptRemote` wraps any [`Remote`]: paths are encrypted segment by segment on the way in
//! (`names.rs`), listed names decrypted on the way out (names that do not decrypt are another
//! program's files and are left out, as rclone leaves them out), and file contents sealed and
//! opened block by block as they stream (`format.rs`). Sizes and fingerprints are the plain
//! ones: a file's plain size follows from its encrypted size. The server's own folder (`.s3gate`:
//! staging, multipart parts) is encrypted like any other, so that nothing on the inner remote is
//! in the clear.
//!
//! Nothing is written in place (the `Remote::write_at` default): each block is sealed under the
//! file's nonce plus its number, and a part ending inside a block would leave a short block
//! sealed on its own in the middle of the object; parts are staged, then decrypted and sealed
//! anew on Complete.

mod eme;
mod encoding;
mod format;
mod names;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};

use super::{ByteStream, Entry, Fingerprint, LocalFs, Reader, Remote, Source, Upload};
use encoding::NameEncoding;
use format::{DataCipher, Nonce, BLOCK_DATA, BLOCK_LEN, HEADER_LEN};
use names::{Mode, NameCipher};
use s3gate_config::rclone::crypt::CryptOptions;

/// rclone's salt for deriving the keys when `password2` is not set.
const DEFAULT_SALT: [u8; 16] = [
    0xA8, 0x0D, 0xF4, 0x3A, 0x8F, 0xBD, 0x03, 0x08, 0xA7, 0xCA, 0xB8, 0x3E, 0x58, 0x1F, 0x86, 0xB1,
];

/// How deep crypt remotes may wrap one another (a loop in the configuration ends here).
const MAX_DEPTH: usize = 8;

/// The settings of a crypt remote (checked by the configuration), in the ciphers' terms.
struct Options {
    /// `OTHER:path` (a remote of the configuration) or a local directory.
    remote: String,
    password: String,
    salt: Option<String>,
    mode: Mode,
    dir_names: bool,
    encoding: NameEncoding,
    suffix: String,
}

fn bad_option(remote: &str, option: &str, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("crypt remote {remote:?}: option {option:?}: {why}"),
    )
}

impl Options {
    fn parse(name: &str, def: &s3gate_config::RemoteDef) -> io::Result<Options> {
        let o = CryptOptions::parse(name, def)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        if def
            .options()
            .any(|(k, v)| k == "suffix" && !v.starts_with('.') && !v.eq_ignore_ascii_case("none"))
        {
            tracing::warn!(
                remote = name,
                "crypt: suffix lacks its '.': using {:?}, as rclone does",
                o.suffix
            );
        }
        Ok(Options {
            remote: o.remote,
            password: o.password,
            salt: o.salt,
            mode: o.filename_encryption.into(),
            dir_names: o.directory_name_encryption,
            encoding: o.filename_encoding.into(),
            suffix: o.suffix,
        })
    }
}

/// The 80 bytes scrypt (N=16384, r=8, p=1) derives from the password and salt: the data key, the
/// name key and the name tweak.
fn derive_keys(password: &str, salt: Option<&str>) -> io::Result<([u8; 32], [u8; 32], [u8; 16])> {
    // The length in `Params` is that of password hashes only (at most 64); the key is as long
    // as the buffer it fills.
    let params = scrypt::Params::new(14, 8, 1, scrypt::Params::RECOMMENDED_LEN)
        .map_err(|e| io::Error::other(format!("scrypt: {e}")))?;
    let mut key = [0u8; 80];
    let salt = salt.map_or(&DEFAULT_SALT[..], str::as_bytes);
    scrypt::scrypt(password.as_bytes(), salt, &params, &mut key)
        .map_err(|e| io::Error::other(format!("scrypt: {e}")))?;
    let (mut data, mut name, mut tweak) = ([0; 32], [0; 32], [0; 16]);
    data.copy_from_slice(&key[..32]);
    name.copy_from_slice(&key[32..64]);
    tweak.copy_from_slice(&key[64..]);
    Ok((data, name, tweak))
}

/// The crypt remote `name` of the configuration, serving `path` below its own root.
pub(crate) fn open(
    config: &s3gate_config::Config,
    name: &str,
    def: &s3gate_config::RemoteDef,
    path: &str,
    depth: usize,
) -> io::Result<Arc<dyn Remote>> {
    let opts = Options::parse(name, def)?;
    if depth >= MAX_DEPTH {
        return Err(bad_option(
            name,
            "remote",
            "crypt remotes wrap one another in a loop",
        ));
    }
    // The remote wrapped is opened first: a loop in the configuration ends before any of the
    // (slow) key derivations.
    let target = s3gate_config::RemoteConfig::from_spec(opts.remote.trim());
    let wrapped = match &target.name {
        Some(other) if other == name => {
            return Err(bad_option(
                name,
                "remote",
                "a crypt remote cannot wrap itself",
            ))
        }
        Some(other) if !config.remotes.contains_key(other) => {
            return Err(bad_option(
                name,
                "remote",
                format!("{other:?} is not a remote of the configuration"),
            ))
        }
        Some(other) => Some(super::open_named(
            config,
            other,
            &target.path.to_string_lossy(),
            depth + 1,
        )?),
        None => None,
    };
    let (data_key, name_key, tweak) = derive_keys(&opts.password, opts.salt.as_deref())?;
    let keys = Arc::new(Keys {
        names: NameCipher::new(
            opts.mode,
            opts.dir_names,
            opts.encoding,
            opts.suffix,
            name_key,
            tweak,
        ),
        data: DataCipher::new(&data_key),
        base: path.trim_matches('/').to_string(),
    });
    let inner: Arc<dyn Remote> = match wrapped {
        Some(inner) => inner,
        None => {
            // Uploads are staged in the served path's own `.s3gate/tmp`, encrypted like the
            // rest: on the same filesystem, and apart from other servers of the same folder.
            let tmp = keys.dir(&format!("{}/tmp", crate::key::RESERVED_DIR))?;
            let root = &target.path;
            Arc::new(LocalFs::new(root, &root.join(tmp), config.vfs.fsync)?)
        }
    };
    Ok(Arc::new(CryptRemote { inner, keys }))
}

/// What the remote and its uploads share: the ciphers and the plain path it serves.
struct Keys {
    names: NameCipher,
    data: DataCipher,
    /// The plain path below the crypt remote's root that is served (`""` for the root).
    base: String,
}

impl Keys {
    fn full(&self, path: &str) -> String {
        match (self.base.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.base.clone(),
            (false, false) => format!("{}/{path}", self.base),
        }
    }

    /// The inner path of the file at `path`.
    fn file(&self, path: &str) -> io::Result<String> {
        self.names.file_path(&self.full(path))
    }

    /// The inner path of the folder at `path`.
    fn dir(&self, path: &str) -> io::Result<String> {
        self.names.dir_path(&self.full(path))
    }
}

/// An inner fingerprint with the plain size, `None` when the size is not an encrypted file's.
fn plain_fingerprint(fp: Fingerprint) -> Option<Fingerprint> {
    Some(Fingerprint {
        size: format::decrypted_size(fp.size)?,
        ..fp
    })
}

fn inner_fingerprint(fp: Fingerprint) -> Fingerprint {
    Fingerprint {
        size: format::encrypted_size(fp.size),
        ..fp
    }
}

/// Encrypted names are longer than plain ones: a name too long for the inner remote once
/// encrypted cannot be there, so looking it up finds nothing (and writing it fails, as a key the
/// remote cannot hold).
fn absent_if_too_long<T: Default>(r: io::Result<T>) -> io::Result<T> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => Ok(T::default()),
        r => r,
    }
}

fn not_encrypted(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{path}: not an encrypted file (its size cannot be one)"),
    )
}

pub(crate) struct CryptRemote {
    inner: Arc<dyn Remote>,
    keys: Arc<Keys>,
}

impl CryptRemote {
    /// A file entry as the inner remote gave it, with its plain name and size.
    fn file_entry(&self, name: String, e: Entry) -> Option<Entry> {
        let Some(fingerprint) = plain_fingerprint(e.fingerprint) else {
            tracing::debug!(
                file = e.name,
                size = e.fingerprint.size,
                "crypt: skipping a file whose size no encrypted file has"
            );
            return None;
        };
        Some(Entry {
            name,
            fingerprint,
            ..e
        })
    }

    async fn open_reader(&self, path: &str) -> io::Result<Option<CryptReader>> {
        let opened = self.inner.open(&self.keys.file(path)?).await;
        let Some(inner) = absent_if_too_long(opened)? else {
            return Ok(None);
        };
        let fp = plain_fingerprint(inner.fingerprint()).ok_or_else(|| not_encrypted(path))?;
        Ok(Some(CryptReader {
            inner,
            data: self.keys.data.clone(),
            fp,
            nonce: Arc::default(),
        }))
    }

    fn upload(
        &self,
        inner: Box<dyn Upload>,
        sources: Vec<(Box<dyn Reader>, u64, u64)>,
    ) -> Box<dyn Upload> {
        Box::new(CryptUpload {
            inner,
            keys: self.keys.clone(),
            nonce: Nonce::random(),
            pending: BytesMut::new(),
            started: false,
            sources,
        })
    }
}

#[async_trait]
impl Remote for CryptRemote {
    fn folders_are_prefixes(&self) -> bool {
        self.inner.folders_are_prefixes()
    }

    fn max_object_size(&self) -> u64 {
        format::plain_fitting(self.inner.max_object_size())
    }

    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        let dir = self.keys.dir(path)?;
        if self.keys.full(path).is_empty() {
            return self.inner.stat(&dir).await;
        }
        // A name is a file's or a folder's: their stored names differ in some modes.
        let file = self.keys.file(path)?;
        match absent_if_too_long(self.inner.stat(&file).await)? {
            Some(e) if !e.is_dir => return Ok(self.file_entry(name, e)),
            Some(e) if file == dir => return Ok(Some(Entry { name, ..e })),
            _ if file == dir => return Ok(None),
            _ => {}
        }
        Ok(absent_if_too_long(self.inner.stat(&dir).await)?
            .filter(|e| e.is_dir)
            .map(|e| Entry { name, ..e }))
    }

    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        Ok(self
            .open_reader(path)
            .await?
            .map(|r| Box::new(r) as Box<dyn Reader>))
    }

    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let entries = self.inner.list_dir(&self.keys.dir(path)?).await?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let plain = match e.is_dir {
                    true => self.keys.names.dir_name(&e.name),
                    false => self.keys.names.file_name(&e.name),
                };
                let Some(plain) = plain else {
                    tracing::debug!(
                        name = e.name,
                        "crypt: skipping a name that does not decrypt"
                    );
                    return None;
                };
                match e.is_dir {
                    true => Some(Entry { name: plain, ..e }),
                    false => self.file_entry(plain, e),
                }
            })
            .collect())
    }

    async fn create(&self, dest: &str) -> io::Result<Box<dyn Upload>> {
        let inner = self.inner.create(&self.keys.file(dest)?).await?;
        Ok(self.upload(inner, Vec::new()))
    }

    /// Each file has its own nonce, so no byte can be reused as it is: the sources are opened
    /// (and their pins checked) now, and decrypted and sealed anew when the upload finishes.
    async fn concat(&self, dest: &str, srcs: &[Source]) -> io::Result<Box<dyn Upload>> {
        let mut sources = Vec::with_capacity(srcs.len());
        for src in srcs {
            let reader = self
                .open_reader(&src.path)
                .await?
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))?;
            if src.pinned.is_some_and(|want| want != reader.fp) {
                return Err(io::Error::from_raw_os_error(libc::ESTALE));
            }
            let (offset, len) = src.range.unwrap_or((0, reader.fp.size));
            sources.push((Box::new(reader) as Box<dyn Reader>, offset, len));
        }
        let inner = self.inner.create(&self.keys.file(dest)?).await?;
        Ok(self.upload(inner, sources))
    }

    async fn delete(&self, path: &str, pinned: Option<Fingerprint>) -> io::Result<bool> {
        let deleted = self
            .inner
            .delete(&self.keys.file(path)?, pinned.map(inner_fingerprint))
            .await;
        absent_if_too_long(deleted)
    }

    fn moves_files(&self) -> bool {
        self.inner.moves_files()
    }

    /// The sealed file moves as it is: its nonce is its own, not its name's.
    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        let moved = self
            .inner
            .rename(
                &self.keys.file(from)?,
                &self.keys.file(to)?,
                pinned.map(inner_fingerprint),
                replace,
            )
            .await?;
        Ok(moved.and_then(plain_fingerprint))
    }

    async fn mkdir(&self, path: &str) -> io::Result<bool> {
        self.inner.mkdir(&self.keys.dir(path)?).await
    }

    async fn rmdir(&self, path: &str) -> io::Result<()> {
        self.inner.rmdir(&self.keys.dir(path)?).await
    }

    async fn rmdir_tree(&self, path: &str) -> io::Result<()> {
        self.inner.rmdir_tree(&self.keys.dir(path)?).await
    }

    async fn delete_tree(&self, path: &str) -> io::Result<()> {
        self.inner.delete_tree(&self.keys.dir(path)?).await
    }
}

/// An encrypted file read as its plain content.
struct CryptReader {
    inner: Box<dyn Reader>,
    data: DataCipher,
    /// The inner file's fingerprint with the plain size.
    fp: Fingerprint,
    /// The file's nonce once a read has seen its header, shared with the reader's clones: the
    /// reader is pinned to one version of the file, so later ranges skip reading the header.
    nonce: Arc<OnceLock<Nonce>>,
}

/// Reads a file's header from the front of `stream`; gives its nonce and the rest of the stream.
async fn split_header(mut stream: ByteStream) -> io::Result<(Nonce, ByteStream)> {
    let mut head = BytesMut::with_capacity(HEADER_LEN as usize);
    while (head.len() as u64) < HEADER_LEN {
        match stream.next().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not an encrypted file: too short for its header",
                ))
            }
        }
    }
    let rest = head.split_off(HEADER_LEN as usize).freeze();
    let nonce = Nonce::from_header(&head)?;
    let rest: ByteStream = match rest.is_empty() {
        true => stream,
        false => Box::pin(futures_util::stream::once(async move { Ok(rest) }).chain(stream)),
    };
    Ok((nonce, rest))
}

impl Reader for CryptReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fp
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(CryptReader {
            inner: self.inner.clone_box(),
            data: self.data.clone(),
            fp: self.fp,
            nonce: self.nonce.clone(),
        })
    }

    // No `known_md5`: what the inner remote knows is the MD5 of the encrypted bytes.

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        let len = len.min(self.fp.size.saturating_sub(offset));
        if len == 0 {
            return Box::pin(futures_util::stream::empty());
        }
        let (first, skip) = (offset / BLOCK_DATA, offset % BLOCK_DATA);
        let last = (offset + len - 1) / BLOCK_DATA;
        let start = HEADER_LEN + first * BLOCK_LEN;
        let end = (HEADER_LEN + (last + 1) * BLOCK_LEN).min(format::encrypted_size(self.fp.size));
        let CryptReader {
            inner, data, nonce, ..
        } = *self;
        let opened = async move {
            // From the start, the header comes with the blocks; further on, it is read apart,
            // unless an earlier read saw it.
            let (known, sealed) = match (nonce.get(), first) {
                (Some(&known), _) => (known, inner.stream(start, end - start)),
                (None, 0) => split_header(inner.stream(0, end)).await?,
                (None, _) => {
                    let (known, _) = split_header(inner.clone_box().stream(0, HEADER_LEN)).await?;
                    (known, inner.stream(start, end - start))
                }
            };
            let _ = nonce.set(known);
            Ok::<_, io::Error>(format::decrypt_stream(
                data,
                sealed,
                known.plus(first),
                skip,
                len,
            ))
        };
        Box::pin(futures_util::stream::once(opened).try_flatten())
    }
}

/// An upload sealed block by block on its way to the inner upload: at most one block of plain
/// bytes is held.
struct CryptUpload {
    inner: Box<dyn Upload>,
    keys: Arc<Keys>,
    /// The nonce of the next block.
    nonce: Nonce,
    /// Plain bytes not yet sealed, less than a block once a write returns.
    pending: BytesMut,
    /// Whether the header has been written.
    started: bool,
    /// What a concatenation copies in when it finishes: reader, offset, length.
    sources: Vec<(Box<dyn Reader>, u64, u64)>,
}

impl CryptUpload {
    async fn seal_pending(&mut self, all: bool) -> io::Result<()> {
        if !self.started {
            self.inner.write(self.nonce.header()).await?;
            self.started = true;
        }
        while self.pending.len() as u64 >= BLOCK_DATA || (all && !self.pending.is_empty()) {
            let take = self.pending.len().min(BLOCK_DATA as usize);
            let block = self.pending.split_to(take);
            let sealed = self.keys.data.seal(&self.nonce, &block);
            self.nonce.increment();
            self.inner.write(sealed).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Upload for CryptUpload {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.pending.extend_from_slice(&data);
        self.seal_pending(false).await
    }

    async fn finish(&mut self, sync: bool) -> io::Result<Fingerprint> {
        for (reader, offset, len) in std::mem::take(&mut self.sources) {
            let mut plain = reader.stream(offset, len);
            let mut copied = 0;
            while let Some(chunk) = plain.next().await {
                let chunk = chunk?;
                copied += chunk.len() as u64;
                self.write(chunk).await?;
            }
            if copied != len {
                return Err(io::Error::from_raw_os_error(libc::ESTALE));
            }
        }
        self.seal_pending(true).await?;
        let fp = self.inner.finish(sync).await?;
        plain_fingerprint(fp).ok_or_else(|| not_encrypted("upload"))
    }

    async fn commit(
        self: Box<Self>,
        path: &str,
        sync: bool,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint> {
        let stored = self.keys.file(path)?;
        let then = Box::new(move |fp: Fingerprint| then(plain_fingerprint(fp).unwrap_or(fp)));
        let fp = self.inner.commit(&stored, sync, then).await?;
        plain_fingerprint(fp).ok_or_else(|| not_encrypted(path))
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await
    }
}
