//! The command line: `s3gate serve [PATH]` and its flags, merged over the config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use s3gate_config::{parse_duration, AuthKey, Config, EtagHash, MetaStoreKind, TlsVersion};

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
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The directory to serve (default: ./s3gate-data, created if missing).
    path: Option<PathBuf>,
    /// Configuration file (TOML); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
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
    /// Keep folders that deletes leave empty.
    #[arg(long)]
    no_cleanup: bool,
    /// ETag of single-part objects: md5 (as S3) or none.
    #[arg(long)]
    etag_hash: Option<EtagHash>,
    /// Accept only path-style requests (false: also bucket.<vhost-domain>).
    #[arg(long)]
    force_path_style: Option<bool>,
    /// Domain for virtual-hosted-style requests; repeat for several.
    #[arg(long = "vhost-domain")]
    vhost_domains: Vec<String>,
    /// Region reported to clients.
    #[arg(long)]
    region: Option<String>,
    /// Metadata index store: redb or sled.
    #[arg(long)]
    meta_store: Option<MetaStoreKind>,
    /// Where the metadata index lives (default: PATH/.s3gate).
    #[arg(long)]
    index_path: Option<PathBuf>,
    /// Acknowledge writes before they are fsync'ed (faster, loses recent writes on power loss).
    #[arg(long)]
    no_fsync: bool,
    /// How often to pick up changes made to PATH by other programs (e.g. 5m).
    #[arg(long, value_parser = parse_duration)]
    rescan_interval: Option<std::time::Duration>,
    /// Remove multipart uploads idle for longer than this (e.g. 24h).
    #[arg(long, value_parser = parse_duration)]
    multipart_expiry: Option<std::time::Duration>,
    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// TLS certificate chain (PEM); with --key, serve HTTPS.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to (mutual TLS).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Oldest TLS version accepted: 1.2 or 1.3.
    #[arg(long)]
    min_tls_version: Option<TlsVersion>,
    /// Largest request head (request line and headers) accepted, in bytes.
    #[arg(long)]
    max_header_bytes: Option<usize>,
    /// How long a client may take to send its headers or leave an upload idle (e.g. 60s).
    #[arg(long, value_parser = parse_duration)]
    read_timeout: Option<std::time::Duration>,
    /// How long an idle keep-alive connection stays open (e.g. 5s).
    #[arg(long, value_parser = parse_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, default_value = "info")]
    log_level: String,
}

impl ServeArgs {
    fn into_config(self) -> Result<Config, crate::Error> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(p) = self.path {
            c.remote.path = p;
        }
        if let Some(a) = self.addr {
            c.server.addr = a;
        }
        if !self.auth_keys.is_empty() {
            c.auth.keys = self.auth_keys;
        }
        c.vfs.no_cleanup |= self.no_cleanup;
        if let Some(e) = self.etag_hash {
            c.vfs.etag_hash = e;
        }
        if let Some(f) = self.force_path_style {
            c.server.force_path_style = f;
        }
        if !self.vhost_domains.is_empty() {
            c.server.vhost_domains = self.vhost_domains;
        }
        if let Some(r) = self.region {
            c.server.region = r;
        }
        if let Some(m) = self.meta_store {
            c.index.store = m;
        }
        if let Some(p) = self.index_path {
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
        if let Some(w) = self.workers {
            c.server.workers = w;
        }
        let s = &mut c.server;
        s.cert = self.cert.or(s.cert.take());
        s.key = self.key.or(s.key.take());
        s.client_ca = self.client_ca.or(s.client_ca.take());
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
        Ok(c)
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run_cli() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
            match args.into_config() {
                Ok(config) => serve(config).await,
                Err(e) => {
                    eprintln!("s3gate: {e}");
                    2
                }
            }
        }
    }
}

async fn serve(config: Config) -> i32 {
    let server = match crate::start(config.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s3gate: {e}");
            return 1;
        }
    };
    tracing::info!(
        addr = %server.addr(),
        path = %config.remote.path.display(),
        auth = if config.auth.keys.is_empty() { "anonymous" } else { "sigv4" },
        tls = config.server.cert.is_some(),
        "serving"
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    0
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
