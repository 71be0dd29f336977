//! The s3gate daemon: wires the configuration, the VFS and the S3 front end together.
//!
//! The binary (`main.rs`) is a thin CLI over [`start`]; integration tests call [`start`] directly
//! with a [`Config`] bound to `127.0.0.1:0`.

mod admin;
mod cli;
mod logging;
mod notify;
mod progress;

use std::net::SocketAddr;
use std::sync::Arc;

pub use admin::{cache_clear, cache_stats, index_keys, rebuild_index};
pub use cli::run_cli;
pub use s3gate_config::Config;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] s3gate_config::ConfigError),
    #[error("cannot open the remote: {0}")]
    Vfs(#[from] s3gate_vfs::VfsError),
    #[error("cannot serve: {0}")]
    Listen(#[from] std::io::Error),
}

/// A running server. Dropping it does not stop it: call [`Server::stop`].
pub struct Server {
    addr: SocketAddr,
    http: s3gate_s3api::HttpServer,
    /// The served remote, then the roots of users' own.
    served: Vec<Served>,
}

/// One opened remote with the work that keeps it: housekeeping, write-back, the watch.
struct Served {
    vfs: Arc<s3gate_vfs::Vfs>,
    housekeeping: tokio::task::JoinHandle<()>,
    write_back: tokio::task::JoinHandle<()>,
    watch: Option<s3gate_vfs::Watch>,
}

impl Served {
    /// Opens the remote `config` names and its index (a new index is filled first, its
    /// progress logged).
    async fn open(config: &Config) -> Result<Arc<s3gate_vfs::Vfs>, Error> {
        let progress = Arc::new(s3gate_vfs::Progress::default());
        let shown = progress::show(progress.clone(), progress::Show::Log);
        let vfs = s3gate_vfs::Vfs::open_counted(config, progress).await;
        shown.finish().await;
        Ok(Arc::new(vfs?))
    }

    /// Starts the work that keeps `vfs`. Out-of-band changes to a served directory are watched
    /// (rescans cover what a watch misses) before the first rescan starts and before the
    /// server answers: nothing made after the start is left to the next rescan.
    async fn keep(vfs: Arc<s3gate_vfs::Vfs>, config: &Config) -> Served {
        let watch = vfs.watch().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot watch the served directory; changes made by other programs show after the next rescan");
            None
        });
        let housekeeping = tokio::spawn(housekeeping(
            vfs.clone(),
            config.vfs.rescan_interval,
            config.vfs.multipart_expiry,
            config.vfs.lifecycle_day,
        ));
        let write_back = tokio::spawn(write_back(vfs.clone()));
        Served {
            vfs,
            housekeeping,
            write_back,
            watch,
        }
    }

    /// Stops every task that uses the index before the index closes: a restart in the same
    /// process opens it again at once.
    async fn stop(self) {
        if let Some(watch) = self.watch {
            watch.stop().await;
        }
        // An upload cut off here stays queued in the index and starts again on the next run.
        for task in [self.housekeeping, self.write_back] {
            task.abort();
            let _ = task.await;
        }
        self.vfs.shutdown().await;
    }
}

impl Server {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Takes the keys (including a changed keys file) and the TLS certificate of `config`,
    /// keeping connections; other settings need a restart.
    pub async fn reload(&self, mut config: Config) -> Result<(), Error> {
        config.load_auth_files()?;
        config.validate()?;
        self.http.reload(&config)?;
        Ok(())
    }

    /// Where metrics are served, when configured (useful with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.http.metrics_addr()
    }

    /// Where the web console is served, when configured (useful with port 0).
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.http.web_addr()
    }

    /// Whether requests are served without authentication.
    pub fn anonymous(&self) -> bool {
        self.http.anonymous()
    }

    /// Stops accepting, lets in-flight requests finish, then closes the indexes.
    pub async fn stop(self) {
        self.http.stop().await;
        for served in self.served {
            served.stop().await;
        }
    }
}

/// Opens the remote and its index (and the roots of users' own, each with its index), binds
/// the listener and starts serving.
pub async fn start(mut config: Config) -> Result<Server, Error> {
    config.load_auth_files()?;
    config.validate()?;
    let config = Arc::new(config);
    let vfs = Served::open(&config).await?;
    let mut roots = std::collections::HashMap::new();
    let mut root_configs = Vec::new();
    for root in config.user_roots() {
        let root_config = config.for_root(&root)?;
        root_config.validate()?;
        roots.insert(root.clone(), Served::open(&root_config).await?);
        root_configs.push((root, root_config));
    }
    let mut served = vec![Served::keep(vfs.clone(), &config).await];
    for (root, root_config) in &root_configs {
        served.push(Served::keep(roots[root].clone(), root_config).await);
    }
    let http = s3gate_s3api::HttpServer::start(config.clone(), vfs, roots)?;
    Ok(Server {
        addr: http.addr(),
        http,
        served,
    })
}

/// Uploads what waits in the write cache as it falls due, and keeps the read cache within its
/// limits (nothing to do without caches).
async fn write_back(vfs: Arc<s3gate_vfs::Vfs>) {
    let mut last_trim = std::time::Instant::now();
    loop {
        // The read cache's limits, every couple of seconds (a walk of its folder).
        if last_trim.elapsed() >= std::time::Duration::from_secs(2) {
            last_trim = std::time::Instant::now();
            match vfs.trim_read_cache().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(versions = n, "read cache trimmed"),
                Err(e) => tracing::warn!(error = %e, "read cache trim failed"),
            }
        }
        let wait = match vfs.write_back(false).await {
            Ok(r) => {
                if r.uploaded + r.failed > 0 {
                    tracing::debug!(
                        uploaded = r.uploaded,
                        failed = r.failed,
                        pending = r.pending,
                        "write-back pass"
                    );
                }
                r.next_due.unwrap_or(std::time::Duration::from_secs(1))
            }
            Err(e) => {
                tracing::warn!(error = %e, "write-back pass failed");
                std::time::Duration::from_secs(1)
            }
        };
        let wait = wait.clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(1),
        );
        tokio::time::sleep(wait).await;
    }
}

/// Picks up changes other programs make to the served tree (once at start, as the index may be
/// from an earlier run, then every `interval`), removes expired multipart uploads, and runs
/// what buckets' lifecycle rules have due (a look at the due tree, every small part of a
/// lifecycle `day`).
async fn housekeeping(
    vfs: Arc<s3gate_vfs::Vfs>,
    interval: std::time::Duration,
    expiry: std::time::Duration,
    day: std::time::Duration,
) {
    use std::time::{Duration, Instant};
    let interval = interval.max(Duration::from_secs(1));
    // Never so long that a rescan waits past its interval.
    let tick = (day / 24)
        .clamp(Duration::from_millis(100), Duration::from_secs(60))
        .min(interval);
    let mut last_rescan: Option<Instant> = None;
    loop {
        // The interval runs from the end of the last rescan, which may take long on a large
        // tree, as it always did.
        if last_rescan.is_none_or(|t| t.elapsed() >= interval) {
            rescan(&vfs, expiry).await;
            last_rescan = Some(Instant::now());
        }
        match vfs.run_lifecycle().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "lifecycle rules applied"),
            Err(e) => tracing::warn!(error = %e, "lifecycle pass failed"),
        }
        tokio::time::sleep(tick).await;
    }
}

/// One rescan of the served tree, with the multipart expiry.
async fn rescan(vfs: &s3gate_vfs::Vfs, expiry: std::time::Duration) {
    match vfs.multipart().reap(expiry).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(uploads = n, "expired multipart uploads removed"),
        Err(e) => tracing::warn!(error = %e, "multipart expiry failed"),
    }
    match vfs.reconcile().await {
        Ok(r) if r.added + r.updated + r.removed > 0 => tracing::info!(
            files = r.files,
            added = r.added,
            updated = r.updated,
            removed = r.removed,
            "index reconciled"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "index rescan failed"),
    }
    // A rescan of a large tree allocates in proportion to it, then frees it all; give that
    // memory back instead of keeping it resident until the next rescan.
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}
