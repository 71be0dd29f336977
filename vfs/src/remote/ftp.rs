//! FTP servers, spoken to through `suppaftp`: OpenDAL's FTP service cannot rename, and without a
//! rename an upload cut off midway would leave half an object in place.
//!
//! An upload streams (`STOR`) to a fresh name in the reserved folder and is published by renaming
//! it (`RNFR`/`RNTO`), which servers do in one step. Listings use `MLSD` where the server has it
//! (exact sizes and times), else `LIST`; a stat asks `MLST`, or, without it, reads the listing of
//! the folder holding the name, so that a stat and a listing always agree on a fingerprint. Reads
//! start where the range starts (`REST`). Connections are kept for reuse, at most `concurrency`
//! of them at once (unlimited by default, as rclone's own default). FTPS, implicit (TLS from the
//! first byte) or explicit (`AUTH TLS`), protects commands and data alike, with the server's
//! certificate checked against the system's roots unless told not to.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use suppaftp::list::{File, ListParser};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream, AsyncRustlsStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use super::{ns_from_time, ByteStream, Entry, Fingerprint, Reader, Remote, Source, Upload};

/// How long connecting and signing in may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// What a read asks of the data connection at a time.
const READ_CHUNK: usize = 64 << 10;

/// The control and data connections: plain, or TLS either way.
type AsyncFtpStream = AsyncRustlsFtpStream;
type Transfer = suppaftp::tokio::TransferStream<AsyncRustlsStream>;

/// How a connection is protected (rclone's `tls` is implicit FTPS, `explicit_tls` explicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    Off,
    Implicit,
    Explicit,
}

/// Where the server is and who signs in.
struct Settings {
    addr: String,
    /// The name the server's certificate must carry.
    host: String,
    tls: Tls,
    /// The TLS settings (`None` without TLS).
    tls_config: Option<Arc<ClientConfig>>,
    user: String,
    password: String,
    /// Never ask `MLSD`/`MLST`, as rclone's `disable_mlsd` (servers whose machine listings are
    /// wrong).
    disable_mlsd: bool,
}

/// Connections kept for reuse, and the bound on how many are open at once.
struct Pool {
    settings: Settings,
    idle: Mutex<Vec<AsyncFtpStream>>,
    slots: Arc<Semaphore>,
    /// Whether the server answers `MLSD` and `MLST` (asked once).
    machine_listings: OnceCell<bool>,
}

/// One connection, back to the pool only through [`Conn::done`]: one an error interrupted may
/// be in the middle of an exchange, and is closed.
struct Conn {
    ftp: AsyncFtpStream,
    pool: Arc<Pool>,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    fn done(self) {
        let Conn { ftp, pool, .. } = self;
        pool.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ftp);
    }
}

impl Pool {
    async fn get(self: &Arc<Self>) -> io::Result<Conn> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(mut ftp) = idle else { break };
            // The server may have closed a connection that waited too long.
            if ftp.noop().await.is_ok() {
                return Ok(Conn {
                    ftp,
                    pool: self.clone(),
                    _slot: slot,
                });
            }
        }
        let ftp = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("FTP server {}: no answer", self.settings.addr),
                )
            })??;
        Ok(Conn {
            ftp,
            pool: self.clone(),
            _slot: slot,
        })
    }

    async fn connect(&self) -> io::Result<AsyncFtpStream> {
        let s = &self.settings;
        let failed = |e: FtpError| {
            let e = to_io(e);
            io::Error::new(e.kind(), format!("FTP server {}: {e}", s.addr))
        };
        let connector = || {
            s.tls_config.as_ref().map(|c| {
                AsyncRustlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(c.clone()))
            })
        };
        let mut ftp = match (s.tls, connector()) {
            (Tls::Implicit, Some(c)) => {
                let mut ftp = AsyncFtpStream::connect_secure_implicit(s.addr.as_str(), c, &s.host)
                    .await
                    .map_err(failed)?;
                // Data connections are protected too, as `AUTH TLS` sets up for explicit TLS.
                for command in ["PBSZ 0", "PROT P"] {
                    ftp.custom_command(command, &[Status::CommandOk])
                        .await
                        .map_err(failed)?;
                }
                ftp
            }
            (Tls::Explicit, Some(c)) => AsyncFtpStream::connect(s.addr.as_str())
                .await
                .map_err(failed)?
                .into_secure(c, &s.host)
                .await
                .map_err(failed)?,
            _ => AsyncFtpStream::connect(s.addr.as_str())
                .await
                .map_err(failed)?,
        };
        ftp.login(s.user.as_str(), s.password.as_str())
            .await
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("FTP server {}: signing in as {:?}: {e}", s.addr, s.user),
                )
            })?;
        ftp.transfer_type(FileType::Binary).await.map_err(to_io)?;
        Ok(ftp)
    }

    async fn machine_listings(self: &Arc<Self>) -> io::Result<bool> {
        if self.settings.disable_mlsd {
            return Ok(false);
        }
        self.machine_listings
            .get_or_try_init(|| async {
                // Asked of the server's own folder rather than read from `FEAT`, whose answer
                // some servers (rclone's) format past what the client parses.
                let mut c = self.get().await?;
                match c.ftp.mlst(Some(".")).await {
                    Ok(_) => {
                        c.done();
                        Ok(true)
                    }
                    Err(FtpError::UnexpectedResponse(_) | FtpError::BadResponse) => {
                        c.done();
                        Ok(false)
                    }
                    Err(e) => Err(to_io(e)),
                }
            })
            .await
            .copied()
    }
}

/// An FTP error as the VFS knows errors: a name the server has no file or folder for is
/// `NotFound`, which the callers turn into "no such object".
fn to_io(e: FtpError) -> io::Error {
    match e {
        FtpError::ConnectionError(e) => e,
        FtpError::UnexpectedResponse(r) => {
            let kind = match r.status {
                Status::FileUnavailable => io::ErrorKind::NotFound,
                Status::NotLoggedIn => io::ErrorKind::PermissionDenied,
                Status::ExceededStorage => io::ErrorKind::StorageFull,
                _ => io::ErrorKind::Other,
            };
            // The reply as the server wrote it, its code first.
            let text = String::from_utf8_lossy(&r.body).trim().to_string();
            if r.status == Status::NotAvailable {
                return crate::unavailable::said_unavailable(format!("FTP server: {text}"));
            }
            io::Error::new(kind, format!("FTP server: {text}"))
        }
        other => io::Error::other(format!("FTP server: {other}")),
    }
}

fn fingerprint(f: &File) -> Fingerprint {
    // Listings and stats of the same file agree to the second at best.
    Fingerprint {
        size: f.size() as u64,
        mtime_ns: ns_from_time(f.modified()) / 1_000_000_000 * 1_000_000_000,
        id: 0,
    }
}

fn entry(name: &str, f: &File) -> Entry {
    Entry {
        name: name.to_string(),
        is_dir: f.is_directory(),
        fingerprint: if f.is_directory() {
            Fingerprint {
                size: 0,
                ..fingerprint(f)
            }
        } else {
            fingerprint(f)
        },
        created: f.modified(),
    }
}

pub struct FtpRemote {
    pool: Arc<Pool>,
    /// The served folder: relative to where the server signs the user in, as rclone takes it,
    /// unless it starts with `/`.
    root: String,
}

impl FtpRemote {
    /// A remote of the FTP server `options` describe (`host`, `port`, `user`, `password`,
    /// `concurrency`, `disable_mlsd`, `root`), serving `path` below its root.
    pub fn new(
        options: impl IntoIterator<Item = (String, String)>,
        path: &str,
    ) -> io::Result<FtpRemote> {
        let bad = |k: &str, why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ftp remote: option {k:?}: {why}"),
            )
        };
        let (mut host, mut port, mut user, mut password) = (None, 21u16, None, String::new());
        let (mut concurrency, mut disable_mlsd, mut root) = (0usize, false, String::new());
        let (mut tls, mut check_certificate, mut tls13) = (Tls::Off, true, true);
        for (k, v) in options {
            match k.as_str() {
                "host" => host = Some(v),
                "port" => port = v.parse().map_err(|_| bad(&k, "expected a port number"))?,
                "user" => user = Some(v),
                "password" => password = v,
                "concurrency" => {
                    concurrency = v.parse().map_err(|_| bad(&k, "expected a number"))?
                }
                "disable_mlsd" => {
                    disable_mlsd = v.parse().map_err(|_| bad(&k, "expected true or false"))?
                }
                "root" => root = v,
                "tls" => {
                    tls = match v.as_str() {
                        "off" => Tls::Off,
                        "implicit" => Tls::Implicit,
                        "explicit" => Tls::Explicit,
                        _ => return Err(bad(&k, "expected off, implicit or explicit")),
                    }
                }
                "no_check_certificate" => {
                    check_certificate = !v
                        .parse::<bool>()
                        .map_err(|_| bad(&k, "expected true or false"))?
                }
                "disable_tls13" => {
                    tls13 = !v
                        .parse::<bool>()
                        .map_err(|_| bad(&k, "expected true or false"))?
                }
                _ => {
                    return Err(bad(
                        &k,
                        "not a setting of ftp remotes (host, port, user, password, tls, \
                         no_check_certificate, disable_tls13, concurrency, disable_mlsd, root)",
                    ))
                }
            }
        }
        let host = host.ok_or_else(|| bad("host", "missing: the FTP server's host name"))?;
        // A copy holds a connection reading its source and one writing the copy.
        if concurrency == 1 {
            return Err(bad(
                "concurrency",
                "at least 2: a copy reads its source on one connection while writing on another",
            ));
        }
        let root = join(&root, path.trim_matches('/'));
        check_path(&root)?;
        let tls_config = match tls {
            Tls::Off => None,
            _ => Some(tls_config(check_certificate, tls13)?),
        };
        Ok(FtpRemote {
            pool: Arc::new(Pool {
                settings: Settings {
                    addr: format!("{host}:{port}"),
                    host: host.clone(),
                    tls,
                    tls_config,
                    user: user.unwrap_or_else(|| "anonymous".into()),
                    password,
                    disable_mlsd,
                },
                idle: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(if concurrency == 0 {
                    Semaphore::MAX_PERMITS
                } else {
                    concurrency
                })),
                machine_listings: OnceCell::new(),
            }),
            root,
        })
    }

    /// The server's name of `path`.
    fn full(&self, path: &str) -> io::Result<String> {
        check_path(path)?;
        Ok(match (self.root.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.root.clone(),
            (false, false) => format!("{}/{path}", self.root.trim_end_matches('/')),
        })
    }

    /// The entries of the folder `full` (a server name), `.` and `..` left out.
    async fn entries(&self, full: &str) -> io::Result<Vec<(String, File)>> {
        let machine = self.pool.machine_listings().await?;
        let mut c = self.pool.get().await?;
        let dir = if full.is_empty() { "." } else { full };
        let lines = if machine {
            c.ftp.mlsd(Some(dir)).await
        } else {
            c.ftp.list(Some(dir)).await
        }
        .map_err(to_io)?;
        c.done();
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let parsed = if machine {
                ListParser::parse_mlsd(&line)
            } else {
                ListParser::parse_posix(&line).or_else(|_| ListParser::parse_dos(&line))
            };
            let Ok(f) = parsed else {
                // `LIST` answers start with a `total N` line on many servers.
                tracing::debug!(line, "FTP listing line not understood; skipped");
                continue;
            };
            let name = f.name().rsplit('/').next().unwrap_or("").to_string();
            if name.is_empty() || name == "." || name == ".." || f.is_symlink() {
                continue;
            }
            out.push((name, f));
        }
        Ok(out)
    }

    async fn stat_full(&self, full: &str) -> io::Result<Option<File>> {
        if self.pool.machine_listings().await? {
            let mut c = self.pool.get().await?;
            let name = if full.is_empty() { "." } else { full };
            return match c.ftp.mlst(Some(name)).await {
                Ok(line) => {
                    c.done();
                    Ok(ListParser::parse_mlst(&line)
                        .ok()
                        .filter(|f| !f.is_symlink()))
                }
                Err(FtpError::UnexpectedResponse(r)) if r.status == Status::FileUnavailable => {
                    c.done();
                    Ok(None)
                }
                Err(e) => Err(to_io(e)),
            };
        }
        let (parent, name) = full.rsplit_once('/').unwrap_or(("", full));
        match self.entries(parent).await {
            Ok(list) => Ok(list.into_iter().find(|(n, _)| n == name).map(|(_, f)| f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn stat_file(&self, full: &str) -> io::Result<Option<File>> {
        Ok(self.stat_full(full).await?.filter(File::is_file))
    }

    /// Creates the folders of `full` (a server name) that are missing, leaving the first
    /// `from` segments alone.
    async fn make_dirs(&self, full: &str, from: usize) -> io::Result<()> {
        if self
            .stat_full(full)
            .await?
            .is_some_and(|f| f.is_directory())
        {
            return Ok(());
        }
        let segments: Vec<&str> = full.split('/').collect();
        for n in from + 1..=segments.len() {
            let dir = segments[..n].join("/");
            if dir.is_empty() {
                continue;
            }
            let mut c = self.pool.get().await?;
            match c.ftp.mkdir(&dir).await {
                Ok(()) => c.done(),
                Err(e) => {
                    c.done();
                    // Already there (made meanwhile, or all along): fine when a folder.
                    match self.stat_full(&dir).await? {
                        Some(f) if f.is_directory() => {}
                        _ => return Err(to_io(e)),
                    }
                }
            }
        }
        Ok(())
    }

    /// How many segments of `full` the served root takes (its folders exist).
    fn root_depth(&self) -> usize {
        match self.root.trim_end_matches('/') {
            "" => 0,
            root => root.split('/').count(),
        }
    }

    /// Every file and folder below the folder `full`, folders after what they hold.
    async fn walk(&self, full: &str) -> io::Result<Vec<(String, bool)>> {
        let mut out = Vec::new();
        let mut pending = vec![full.to_string()];
        let mut dirs = Vec::new();
        while let Some(dir) = pending.pop() {
            for (name, f) in self.entries(&dir).await? {
                let p = format!("{}/{name}", dir.trim_end_matches('/'));
                if f.is_directory() {
                    pending.push(p.clone());
                    dirs.push(p);
                } else {
                    out.push((p, false));
                }
            }
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        out.extend(dirs.into_iter().map(|d| (d, true)));
        Ok(out)
    }

    async fn remove(&self, full: &str, dir: bool) -> io::Result<()> {
        let mut c = self.pool.get().await?;
        if dir {
            c.ftp.rmdir(full).await.map_err(to_io)?;
        } else {
            c.ftp.rm(full).await.map_err(to_io)?;
        }
        c.done();
        Ok(())
    }

    async fn move_file(&self, from: &str, to: &str) -> io::Result<()> {
        let mut c = self.pool.get().await?;
        c.ftp.rename(from, to).await.map_err(to_io)?;
        c.done();
        Ok(())
    }

    fn upload(&self, tmp: String, conn: Conn, t: Transfer) -> FtpUpload {
        FtpUpload {
            remote: FtpRemote {
                pool: self.pool.clone(),
                root: self.root.clone(),
            },
            tmp,
            stage: Stage::Writing(Box::new((conn, t))),
        }
    }
}

/// TLS as the rest of the server makes it (rustls over ring), the server's certificate checked
/// against the system's roots unless `check_certificate` is off (rclone's
/// `no_check_certificate`, for a server whose certificate is its own).
fn tls_config(check_certificate: bool, tls13: bool) -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13 {
        rustls::DEFAULT_VERSIONS
    } else {
        &[&rustls::version::TLS12]
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
    let config = if check_certificate {
        use rustls_platform_verifier::BuilderVerifierExt;
        builder
            .with_platform_verifier()
            .map_err(|e| io::Error::other(format!("TLS: the system's roots: {e}")))?
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Takes whatever certificate the server shows, checking only that the handshake is signed
/// by its key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Paths go on the control connection as the rest of a command line: a line break would end
/// the command early.
fn check_path(path: &str) -> io::Result<()> {
    if path.contains(['\r', '\n']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an FTP server cannot hold a name with a line break",
        ));
    }
    Ok(())
}

fn join(a: &str, b: &str) -> String {
    match (a.trim_end_matches('/'), b) {
        ("", b) if a.starts_with('/') => format!("/{b}"),
        ("", b) => b.to_string(),
        (a, "") => a.to_string(),
        (a, b) => format!("{a}/{b}"),
    }
}

#[async_trait]
impl Remote for FtpRemote {
    fn moves_files(&self) -> bool {
        true
    }

    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        let full = self.full(path)?;
        let name = path.rsplit('/').next().unwrap_or(path);
        Ok(self.stat_full(&full).await?.map(|f| entry(name, &f)))
    }

    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        let full = self.full(path)?;
        Ok(self.stat_file(&full).await?.map(|f| {
            Box::new(FtpReader {
                pool: self.pool.clone(),
                path: full,
                fingerprint: fingerprint(&f),
            }) as Box<dyn Reader>
        }))
    }

    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let full = self.full(path)?;
        let entries = match self.entries(&full).await {
            // The served folder is made with the first bucket; until then it holds none.
            Err(e) if path.is_empty() && e.kind() == io::ErrorKind::NotFound => Vec::new(),
            other => other?,
        };
        Ok(entries.iter().map(|(name, f)| entry(name, f)).collect())
    }

    async fn create(&self, _dest: &str) -> io::Result<Box<dyn Upload>> {
        let tmp_dir = self.full(&format!("{}/tmp", crate::key::RESERVED_DIR))?;
        self.make_dirs(&tmp_dir, 0).await?;
        let tmp = format!("{tmp_dir}/{:016x}", rand::random::<u64>());
        let mut c = self.pool.get().await?;
        let t = c.ftp.put_with_stream(&tmp).await.map_err(to_io)?;
        Ok(Box::new(self.upload(tmp, c, t)))
    }

    async fn concat(&self, dest: &str, srcs: &[Source]) -> io::Result<Box<dyn Upload>> {
        // The bytes pass through here, a chunk at a time: FTP has no server-side copy.
        let mut readers = Vec::with_capacity(srcs.len());
        for src in srcs {
            let full = self.full(&src.path)?;
            let f = self
                .stat_file(&full)
                .await?
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))?;
            if src.pinned.is_some_and(|want| want != fingerprint(&f)) {
                return Err(io::Error::from_raw_os_error(libc::ESTALE));
            }
            let (offset, len) = src.range.unwrap_or((0, f.size() as u64));
            let reader = FtpReader {
                pool: self.pool.clone(),
                path: full,
                fingerprint: fingerprint(&f),
            };
            readers.push((reader, offset, len));
        }
        let mut up = self.create(dest).await?;
        for (reader, offset, len) in readers {
            let mut s = Box::new(reader).stream(offset, len);
            while let Some(chunk) = s.next().await {
                match chunk {
                    Ok(chunk) => up.write(chunk).await?,
                    Err(e) => {
                        up.abort().await;
                        return Err(e);
                    }
                }
            }
        }
        Ok(up)
    }

    async fn delete(&self, path: &str, pinned: Option<Fingerprint>) -> io::Result<bool> {
        let full = self.full(path)?;
        let Some(f) = self.stat_file(&full).await? else {
            return Ok(false);
        };
        if pinned.is_some_and(|fp| fp != fingerprint(&f)) {
            return Ok(false);
        }
        match self.remove(&full, false).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        let (from_full, to_full) = (self.full(from)?, self.full(to)?);
        let Some(f) = self.stat_file(&from_full).await? else {
            return Ok(None);
        };
        if pinned.is_some_and(|fp| fp != fingerprint(&f)) {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        match self.stat_full(&to_full).await? {
            Some(t) if t.is_directory() => return Err(io::Error::from_raw_os_error(libc::EISDIR)),
            Some(_) if !replace => return Err(io::Error::from_raw_os_error(libc::EEXIST)),
            // Not every server's RNTO replaces a file: what is to be replaced goes first (a
            // crash in between leaves `from` to be moved again, as nothing had moved).
            Some(_) => self.remove(&to_full, false).await?,
            None => {}
        }
        if let Some((parent, _)) = to_full.rsplit_once('/') {
            // Never the first folder of the path (a bucket, or the reserved folder).
            self.make_dirs(parent, self.root_depth() + 1).await?;
        }
        self.move_file(&from_full, &to_full).await?;
        // RNFR/RNTO renames the file: its size and time go with it.
        Ok(Some(fingerprint(&f)))
    }

    async fn mkdir(&self, path: &str) -> io::Result<bool> {
        let full = self.full(path)?;
        if let Some(f) = self.stat_full(&full).await? {
            return if f.is_directory() {
                Ok(false)
            } else {
                Err(io::Error::from(io::ErrorKind::AlreadyExists))
            };
        }
        if let Some((parent, _)) = full.rsplit_once('/') {
            // The served folder is made with the first bucket.
            if !path.contains('/') {
                self.make_dirs(parent, 0).await?;
            }
        }
        let mut c = self.pool.get().await?;
        c.ftp.mkdir(&full).await.map_err(to_io)?;
        c.done();
        Ok(true)
    }

    async fn rmdir(&self, path: &str) -> io::Result<()> {
        let full = self.full(path)?;
        if !self.entries(&full).await?.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
        self.remove(&full, true).await
    }

    async fn rmdir_tree(&self, path: &str) -> io::Result<()> {
        let full = self.full(path)?;
        let all = self.walk(&full).await?;
        if all.iter().any(|(_, dir)| !dir) {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
        // Deepest first; a folder that gained a file meanwhile stays (the server refuses).
        for (d, _) in all {
            self.remove(&d, true).await?;
        }
        self.remove(&full, true).await
    }

    async fn delete_tree(&self, path: &str) -> io::Result<()> {
        let full = self.full(path)?;
        let all = match self.walk(&full).await {
            Ok(all) => all,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for (p, dir) in all {
            match self.remove(&p, dir).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        match self.remove(&full, true).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[derive(Clone)]
struct FtpReader {
    pool: Arc<Pool>,
    path: String,
    fingerprint: Fingerprint,
}

/// A download under way: its connection, the data stream, and the bytes still wanted.
struct Download {
    conn: Conn,
    data: Transfer,
    left: u64,
    /// The range ends where the file does: the transfer completes, and the connection is kept.
    to_end: bool,
}

impl FtpReader {
    async fn open_stream(self, offset: u64, len: u64) -> io::Result<ByteStream> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let mut conn = self.pool.get().await?;
        if offset > 0 {
            conn.ftp
                .resume_transfer(offset as usize)
                .await
                .map_err(to_io)?;
        }
        let data = conn.ftp.retr_as_stream(&self.path).await.map_err(to_io)?;
        let start = Download {
            conn,
            data,
            left: len,
            to_end: offset + len >= self.fingerprint.size,
        };
        Ok(Box::pin(futures_util::stream::try_unfold(
            start,
            |mut d| async move {
                if d.left == 0 {
                    if d.to_end {
                        d.data.finish().await.map_err(to_io)?;
                        d.conn.done();
                    }
                    // Otherwise the transfer is cut short: its connection is closed with it.
                    return Ok(None);
                }
                let mut buf = BytesMut::with_capacity(READ_CHUNK.min(d.left as usize));
                let n = d.data.read_buf(&mut buf).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file on the FTP server is shorter than when it was opened",
                    ));
                }
                buf.truncate(d.left.min(n as u64) as usize);
                d.left -= buf.len() as u64;
                Ok(Some((buf.freeze(), d)))
            },
        )))
    }
}

impl Reader for FtpReader {
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(self.clone())
    }

    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream {
        Box::pin(futures_util::stream::once(self.open_stream(offset, len)).try_flatten())
    }
}

enum Stage {
    /// The connection and its data stream (boxed: the other stages hold nothing).
    Writing(Box<(Conn, Transfer)>),
    /// Written to its staging name.
    Finished,
    Done,
}

struct FtpUpload {
    remote: FtpRemote,
    /// The staging name (a server name).
    tmp: String,
    stage: Stage,
}

impl FtpUpload {
    async fn publish(
        mut self: Box<Self>,
        path: &str,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint> {
        let Stage::Finished = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(io::Error::other("upload committed before it was finished"));
        };
        let r = &self.remote;
        let full = r.full(path)?;
        let published: io::Result<File> = async {
            if let Some((parent, _)) = full.rsplit_once('/') {
                r.make_dirs(parent, 0).await?;
            }
            r.move_file(&self.tmp, &full).await?;
            r.stat_file(&full)
                .await?
                .ok_or_else(|| io::Error::other("the published file is gone"))
        }
        .await;
        let f = match published {
            Ok(f) => f,
            Err(e) => {
                // What was not published does not stay in the staging folder.
                let _ = r.remove(&self.tmp, false).await;
                return Err(e);
            }
        };
        let fp = fingerprint(&f);
        then(fp);
        Ok(fp)
    }
}

#[async_trait]
impl Upload for FtpUpload {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        let Stage::Writing(w) = &mut self.stage else {
            return Err(io::Error::other("write after finish"));
        };
        w.1.write_all(&data).await
    }

    async fn finish(&mut self, _sync: bool) -> io::Result<Fingerprint> {
        // Durability is the server's: a completed transfer is as durable as it makes it.
        let Stage::Writing(w) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(io::Error::other("upload finished twice"));
        };
        let (conn, t) = *w;
        t.finish().await.map_err(to_io)?;
        conn.done();
        self.stage = Stage::Finished;
        let f = self
            .remote
            .stat_file(&self.tmp)
            .await?
            .ok_or_else(|| io::Error::other("the uploaded file is gone"))?;
        Ok(fingerprint(&f))
    }

    async fn commit(
        self: Box<Self>,
        path: &str,
        _sync: bool,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint> {
        // In a task of its own, so that a cancelled request cannot publish the object and skip
        // `then`.
        let path = path.to_string();
        tokio::spawn(async move { self.publish(&path, then).await })
            .await
            .map_err(io::Error::other)?
    }

    async fn abort(mut self: Box<Self>) {
        if !matches!(std::mem::replace(&mut self.stage, Stage::Done), Stage::Done) {
            let _ = self.remote.remove(&self.tmp, false).await;
        }
    }
}

impl Drop for FtpUpload {
    // A request cut off mid-body drops its upload: its staging file must not outlive it.
    fn drop(&mut self) {
        if matches!(std::mem::replace(&mut self.stage, Stage::Done), Stage::Done) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let remote = FtpRemote {
            pool: self.remote.pool.clone(),
            root: self.remote.root.clone(),
        };
        let tmp = std::mem::take(&mut self.tmp);
        rt.spawn(async move {
            let _ = remote.remove(&tmp, false).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_and_paths_join_under_the_root() {
        let opts = |extra: &[(&str, &str)]| {
            let mut v = vec![("host".to_string(), "h".to_string())];
            v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            v
        };
        let r = FtpRemote::new(opts(&[("root", "home")]), "served/dir").unwrap();
        assert_eq!(r.full("b/k").unwrap(), "home/served/dir/b/k");
        assert_eq!(r.full("").unwrap(), "home/served/dir");
        let r = FtpRemote::new(opts(&[("root", "/")]), "").unwrap();
        assert_eq!(r.full("b/k").unwrap(), "/b/k");
        let r = FtpRemote::new(opts(&[]), "").unwrap();
        assert_eq!(r.full("b/k").unwrap(), "b/k");
        assert_eq!(r.root_depth(), 0);
        assert!(
            r.full("b/a\r\nDELE x").is_err(),
            "a line break ends a command"
        );
        for (k, v) in [("concurrency", "1"), ("port", "x"), ("tls", "true")] {
            let e = FtpRemote::new(opts(&[(k, v)]), "")
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(&format!("{k:?}")), "{e}");
        }
        let e = FtpRemote::new(Vec::new(), "").err().unwrap().to_string();
        assert!(e.contains("\"host\""), "{e}");
    }
}
