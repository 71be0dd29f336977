//! The command line: `s3gate serve [PATH]` and its flags, merged over the config file;
//! `s3gate config check FILE`. A served process reloads its keys and certificate on SIGHUP.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use s3gate_config::{
    parse_duration, parse_size, AuthKey, CacheMode, Config, EtagHash, LogFormat, MetaStoreKind,
    RemoteConfig, TlsVersion,
};

#[derive(Parser)]
#[command(
    name = "s3gate",
    version,
    about = "Serve a directory (or another remote) over the Amazon S3 API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve PATH over S3: its folders are buckets, the files below them objects.
    Serve(Box<ServeArgs>),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work with the metadata index (the server must be stopped).
    #[command(subcommand)]
    Index(IndexCommand),
    /// Work with the write cache (the server must be stopped).
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Tell what waits in the write cache to be uploaded to the remote.
    Stats(Box<ServeArgs>),
    /// Upload everything the write cache holds, then remove its folder.
    Clear(Box<ServeArgs>),
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Set the index aside and build a new one from the files. User metadata, content headers,
    /// checksums, multipart ETags and open multipart uploads are lost; the old index is kept.
    Rebuild(Box<ServeArgs>),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate FILE (keys file and TLS files included) and print the effective configuration,
    /// secrets masked.
    Check { file: PathBuf },
}

/// Every setting comes, in order of precedence, from its flag, its `S3GATE_*` environment
/// variable, the configuration file, or its default.
#[derive(Args)]
struct ServeArgs {
    /// The directory to serve (default: ./s3gate-data, created if missing), or NAME:PATH for
    /// a remote defined in the configuration file.
    #[arg(env = "S3GATE_PATH", value_name = "REMOTE")]
    path: Option<String>,
    /// Configuration file (TOML); flags override it.
    #[arg(long, env = "S3GATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "S3GATE_ADDR")]
    addr: Option<SocketAddr>,
    /// ACCESS,SECRET credentials; repeat for several (in S3GATE_AUTH_KEY, separate them with
    /// `;`). Without any, access is anonymous.
    #[arg(
        long = "auth-key",
        value_name = "ACCESS,SECRET",
        env = "S3GATE_AUTH_KEY",
        value_delimiter = ';',
        hide_env_values = true
    )]
    auth_keys: Vec<AuthKey>,
    /// File of ACCESS,SECRET lines, read at start and again on SIGHUP.
    #[arg(long, env = "S3GATE_AUTH_KEYS_FILE", value_name = "FILE")]
    auth_keys_file: Option<PathBuf>,
    /// The longest a presigned URL (SigV4 or SigV2) may stay valid (default 7d, as S3).
    #[arg(long, env = "S3GATE_PRESIGNED_MAX_AGE", value_parser = parse_duration)]
    presigned_max_age: Option<std::time::Duration>,
    /// Keep folders that deletes leave empty.
    #[arg(long, env = "S3GATE_NO_CLEANUP")]
    no_cleanup: bool,
    /// ETag of single-part objects: md5 (as S3), blake3 (faster; not an MD5) or none.
    #[arg(long, env = "S3GATE_ETAG_HASH")]
    etag_hash: Option<EtagHash>,
    /// Accept only path-style requests (false: also bucket.<vhost-domain>).
    #[arg(long, env = "S3GATE_FORCE_PATH_STYLE")]
    force_path_style: Option<bool>,
    /// Domain for virtual-hosted-style requests; repeat for several.
    #[arg(
        long = "vhost-domain",
        env = "S3GATE_VHOST_DOMAIN",
        value_delimiter = ','
    )]
    vhost_domains: Vec<String>,
    /// Region reported to clients.
    #[arg(long, env = "S3GATE_REGION")]
    region: Option<String>,
    /// Metadata index store: redb or sled.
    #[arg(long, env = "S3GATE_META_STORE")]
    meta_store: Option<MetaStoreKind>,
    /// Where the state of a named remote lives (default: ~/.cache/s3gate).
    #[arg(long, env = "S3GATE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// What is cached on local disk: off; minimal/writes (uploads land locally, are
    /// acknowledged once durable there, and are written back to the remote); full (writes, and
    /// reads are kept in chunks).
    #[arg(long, env = "S3GATE_VFS_CACHE_MODE")]
    vfs_cache_mode: Option<CacheMode>,
    /// How long a cached upload waits before it is written back (e.g. 5s).
    #[arg(long, env = "S3GATE_VFS_WRITE_BACK", value_parser = parse_duration)]
    vfs_write_back: Option<std::time::Duration>,
    /// full: the pieces in which objects are read and kept (e.g. 8M).
    #[arg(long, env = "S3GATE_VFS_READ_CHUNK_SIZE", value_parser = parse_size)]
    vfs_read_chunk_size: Option<u64>,
    /// full: how far past a sequential read the next pieces are fetched (e.g. 16M).
    #[arg(long, env = "S3GATE_VFS_READ_AHEAD", value_parser = parse_size)]
    vfs_read_ahead: Option<u64>,
    /// full: the most the read cache keeps (e.g. 10G; 0: no limit).
    #[arg(long, env = "S3GATE_VFS_CACHE_MAX_SIZE", value_parser = parse_size)]
    vfs_cache_max_size: Option<u64>,
    /// full: the most the read cache keeps in memory on top of its disk (e.g. 256M; 0: none).
    #[arg(long, env = "S3GATE_VFS_CACHE_MEM_SIZE", value_parser = parse_size)]
    vfs_cache_mem_size: Option<u64>,
    /// full: objects not read for this long leave the read cache (e.g. 1h).
    #[arg(long, env = "S3GATE_VFS_CACHE_MAX_AGE", value_parser = parse_duration)]
    vfs_cache_max_age: Option<std::time::Duration>,
    /// full: the read cache shrinks while its disk has less free space than this (e.g. 1G).
    #[arg(long, env = "S3GATE_VFS_CACHE_MIN_FREE_SPACE", value_parser = parse_size)]
    vfs_cache_min_free_space: Option<u64>,
    /// Where the metadata index lives (default: PATH/.s3gate, or under --cache-dir).
    #[arg(long, env = "S3GATE_INDEX_PATH")]
    index_path: Option<PathBuf>,
    /// Acknowledge writes and deletes before they are fsync'ed (faster; a power cut loses
    /// recent writes and can bring back recent deletes).
    #[arg(long, env = "S3GATE_NO_FSYNC")]
    no_fsync: bool,
    /// How often to pick up changes made to PATH by other programs (e.g. 5m).
    /// (`--dir-cache-time` says the same, as in rclone: listings are served from the index and
    /// refreshed from the remote this often; a named remote's buckets are known for as long.)
    #[arg(
        long,
        env = "S3GATE_RESCAN_INTERVAL",
        value_parser = parse_duration,
        visible_alias = "dir-cache-time"
    )]
    rescan_interval: Option<std::time::Duration>,
    /// Remove multipart uploads idle for longer than this (e.g. 24h).
    #[arg(long, env = "S3GATE_MULTIPART_EXPIRY", value_parser = parse_duration)]
    multipart_expiry: Option<std::time::Duration>,
    /// The most multipart uploads a bucket may have open at once (0: no limit).
    #[arg(long, env = "S3GATE_MAX_UPLOADS_PER_BUCKET")]
    max_uploads_per_bucket: Option<u64>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "S3GATE_WORKERS")]
    workers: Option<usize>,
    /// TLS certificate chain (PEM); with --key, serve HTTPS.
    #[arg(long, env = "S3GATE_TLS_CERT")]
    cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "S3GATE_TLS_KEY")]
    key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to (mutual TLS).
    #[arg(long, env = "S3GATE_TLS_CLIENT_CA")]
    client_ca: Option<PathBuf>,
    /// Oldest TLS version accepted: 1.2 or 1.3.
    #[arg(long, env = "S3GATE_MIN_TLS_VERSION")]
    min_tls_version: Option<TlsVersion>,
    /// Largest request head (request line and headers) accepted, in bytes.
    #[arg(long, env = "S3GATE_MAX_HEADER_BYTES")]
    max_header_bytes: Option<usize>,
    /// How long a client may take to send its headers or leave an upload idle (e.g. 60s).
    #[arg(long, env = "S3GATE_READ_TIMEOUT", value_parser = parse_duration)]
    read_timeout: Option<std::time::Duration>,
    /// How long a response may wait for a client that does not read it (e.g. 60s).
    #[arg(long, env = "S3GATE_WRITE_TIMEOUT", value_parser = parse_duration)]
    write_timeout: Option<std::time::Duration>,
    /// How long an idle keep-alive connection stays open (e.g. 5s).
    #[arg(long, env = "S3GATE_IDLE_TIMEOUT", value_parser = parse_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// Serve Prometheus metrics, /health and /ready on this address.
    #[arg(long, env = "S3GATE_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How long a stop waits for requests in flight (e.g. 30s).
    #[arg(long, env = "S3GATE_SHUTDOWN_TIMEOUT", value_parser = parse_duration)]
    shutdown_timeout: Option<std::time::Duration>,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter; default info).
    #[arg(long, env = "S3GATE_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log lines as text or JSON.
    #[arg(long, env = "S3GATE_LOG_FORMAT")]
    log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then the flags. Run again on reload, so
    /// that a changed file (or keys file) takes effect under the same flags.
    fn to_config(&self) -> Result<Config, crate::Error> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(p) = &self.path {
            c.remote = RemoteConfig::from_spec(p);
        }
        if let Some(d) = self.cache_dir.clone() {
            c.vfs.cache_dir = Some(d);
        }
        if let Some(m) = self.vfs_cache_mode {
            c.vfs.cache_mode = m;
        }
        if let Some(d) = self.vfs_write_back {
            c.vfs.write_back = d;
        }
        if let Some(n) = self.vfs_read_chunk_size {
            c.vfs.read_chunk_size = n;
        }
        if let Some(n) = self.vfs_read_ahead {
            c.vfs.read_ahead = n;
        }
        if let Some(n) = self.vfs_cache_max_size {
            c.vfs.cache_max_size = n;
        }
        if let Some(n) = self.vfs_cache_mem_size {
            c.vfs.cache_mem_size = n;
        }
        if let Some(d) = self.vfs_cache_max_age {
            c.vfs.cache_max_age = d;
        }
        if let Some(n) = self.vfs_cache_min_free_space {
            c.vfs.cache_min_free_space = n;
        }
        if let Some(a) = self.addr {
            c.server.addr = a;
        }
        if !self.auth_keys.is_empty() {
            c.auth.keys = self.auth_keys.clone();
        }
        if let Some(f) = self.auth_keys_file.clone() {
            c.auth.keys_file = Some(f);
        }
        if let Some(d) = self.presigned_max_age {
            c.auth.presigned_max_age = d;
        }
        c.vfs.no_cleanup |= self.no_cleanup;
        if let Some(e) = self.etag_hash {
            c.vfs.etag_hash = e;
        }
        if let Some(f) = self.force_path_style {
            c.server.force_path_style = f;
        }
        if !self.vhost_domains.is_empty() {
            c.server.vhost_domains = self.vhost_domains.clone();
        }
        if let Some(r) = self.region.clone() {
            c.server.region = r;
        }
        if let Some(m) = self.meta_store {
            c.index.store = m;
        }
        if let Some(p) = self.index_path.clone() {
            c.index.path = Some(p);
        }
        if self.no_fsync {
            c.vfs.fsync = false;
        }
        if let Some(d) = self.rescan_interval {
            c.vfs.rescan_interval = d;
        }
        if let Some(d) = self.multipart_expiry {
            c.vfs.multipart_expiry = d;
        }
        if let Some(n) = self.max_uploads_per_bucket {
            c.vfs.max_uploads_per_bucket = n;
        }
        if let Some(w) = self.workers {
            c.server.workers = w;
        }
        let s = &mut c.server;
        s.cert = self.cert.clone().or(s.cert.take());
        s.key = self.key.clone().or(s.key.take());
        s.client_ca = self.client_ca.clone().or(s.client_ca.take());
        if let Some(v) = self.min_tls_version {
            s.min_tls_version = v;
        }
        if let Some(n) = self.max_header_bytes {
            s.max_header_bytes = n;
        }
        if let Some(d) = self.read_timeout {
            s.read_timeout = d;
        }
        if let Some(d) = self.idle_timeout {
            s.idle_timeout = d;
        }
        if let Some(d) = self.write_timeout {
            s.write_timeout = d;
        }
        if let Some(d) = self.shutdown_timeout {
            s.shutdown_timeout = d;
        }
        if let Some(a) = self.metrics_addr {
            s.metrics_addr = Some(a);
        }
        if let Some(l) = self.log_level.clone() {
            c.log.level = l;
        }
        if let Some(f) = self.log_format {
            c.log.format = f;
        }
        Ok(c)
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run_cli() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.to_config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("s3gate: {e}");
                    return 2;
                }
            };
            crate::logging::init(&config);
            serve(*args, config).await
        }
        Command::Index(IndexCommand::Rebuild(args)) => admin(&args, crate::rebuild_index).await,
        Command::Cache(CacheCommand::Stats(args)) => admin(&args, crate::cache_stats).await,
        Command::Cache(CacheCommand::Clear(args)) => admin(&args, crate::cache_clear).await,
        Command::Config(ConfigCommand::Check { file }) => match check(&file) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                eprintln!("s3gate: {e}");
                2
            }
        },
    }
}

/// Loads and validates a configuration file as `serve --config FILE` would.
fn check(file: &std::path::Path) -> Result<String, crate::Error> {
    let mut config = Config::from_file(file)?;
    config.load_keys_file()?;
    config.validate()?;
    s3gate_s3api::check_tls(&config)?;
    Ok(config.to_toml())
}

/// Runs an administrative command on the configuration `args` make; prints what it says.
async fn admin<F, Fut>(args: &ServeArgs, command: F) -> i32
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = Result<String, crate::Error>>,
{
    let result = match args.to_config() {
        Ok(config) => command(config).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("s3gate: {e}");
            1
        }
    }
}

async fn serve(args: ServeArgs, config: Config) -> i32 {
    let server = match crate::start(config.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s3gate: {e}");
            return 1;
        }
    };
    tracing::info!(
        addr = %server.addr(),
        remote = config.remote.name.as_deref().unwrap_or("local"),
        path = %config.remote.path.display(),
        auth = if server.anonymous() { "anonymous" } else { "sigv4" },
        tls = config.server.cert.is_some(),
        "serving"
    );
    crate::notify::notify("READY=1");
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            eprintln!("s3gate: cannot install signal handlers");
            server.stop().await;
            return 1;
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match args.to_config() {
                Ok(new) => match server.reload(new).await {
                    Ok(()) => tracing::info!("reloaded keys and certificate"),
                    Err(e) => tracing::warn!(error = %e, "reload failed; the previous keys and certificate stay"),
                },
                Err(e) => tracing::warn!(error = %e, "reload failed; the previous keys and certificate stay"),
            },
        }
    }
    tracing::info!("shutting down");
    crate::notify::notify("STOPPING=1");
    server.stop().await;
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_checks() {
        let example =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../s3gate.example.toml");
        let text = check(&example).unwrap();
        // What check prints is itself a valid configuration, equal to the defaults here but
        // for the example remote, whose secret is masked.
        let mut printed: Config = toml::from_str(&text).unwrap();
        let archive = printed.remotes.remove("archive").unwrap();
        assert_eq!(archive.kind, "s3");
        assert!(text.contains("secret_access_key = \"***\""), "{text}");
        assert_eq!(printed.to_toml(), Config::default().to_toml());
    }

    #[test]
    fn flags_then_environment_then_file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[server]\nregion = \"from-file\"\nworkers = 3\n[vfs]\nrescan_interval = \"2m\"\n",
        )
        .unwrap();
        // Variables no other test reads (tests share the process environment).
        std::env::set_var("S3GATE_RESCAN_INTERVAL", "7m");
        std::env::set_var("S3GATE_WORKERS", "5");
        let cli = Cli::try_parse_from([
            "s3gate",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--workers",
            "9",
            "--max-uploads-per-bucket",
            "50",
        ])
        .unwrap();
        std::env::remove_var("S3GATE_RESCAN_INTERVAL");
        std::env::remove_var("S3GATE_WORKERS");
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let c = args.to_config().unwrap();
        assert_eq!(c.server.workers, 9, "the flag wins over the environment");
        assert_eq!(
            c.vfs.rescan_interval.as_secs(),
            420,
            "the environment wins over the file"
        );
        assert_eq!(
            c.server.region, "from-file",
            "the file wins over the default"
        );
        assert_eq!(c.vfs.multipart_expiry.as_secs(), 86400, "the default");
        assert_eq!(c.vfs.max_uploads_per_bucket, 50);
    }

    #[test]
    fn one_presigned_url_lifetime_from_the_file_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[auth]\npresigned_max_age = \"2h\"\n").unwrap();
        let age = |extra: &[&str]| {
            let mut argv = vec!["s3gate", "serve", "--config", file.to_str().unwrap()];
            argv.extend_from_slice(extra);
            let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not serve")
            };
            args.to_config().unwrap().auth.presigned_max_age.as_secs()
        };
        assert_eq!(age(&[]), 7200, "from the file");
        assert_eq!(age(&["--presigned-max-age", "10m"]), 600, "the flag wins");
        assert_eq!(
            Config::default().auth.presigned_max_age.as_secs(),
            7 * 86400,
            "S3's week by default"
        );
    }

    #[test]
    fn check_masks_secrets_and_names_bad_places() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "# rotated monthly\nFILEKEY,filesecret\n").unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            format!(
                "[auth]\nkeys = [\"AK,topsecret\"]\nkeys_file = {:?}\n",
                keys.display().to_string()
            ),
        )
        .unwrap();
        let text = check(&file).unwrap();
        assert!(
            text.contains("AK,***") && text.contains("FILEKEY,***"),
            "{text}"
        );
        assert!(
            !text.contains("topsecret") && !text.contains("filesecret"),
            "{text}"
        );
        std::fs::write(&keys, "FILEKEY,ok\nbroken line\n").unwrap();
        let e = check(&file).unwrap_err().to_string();
        assert!(e.contains("keys") && e.contains("line 2"), "{e}");
        std::fs::write(
            &file,
            "[server]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
        )
        .unwrap();
        let e = check(&file).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
        std::fs::write(&file, "[server]\nread_timeout = \"soon\"\n").unwrap();
        let e = check(&file).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("read_timeout"), "{e}");
    }
}
