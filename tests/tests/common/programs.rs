//! Programs some tests drive (SeaweedFS's `weed`, rclone), found where the smoke run installs
//! them. The tests that need one are `#[ignore]`d and fail, never pass, when it is missing.

use std::path::{Path, PathBuf};

use super::sdk::client_with;

/// `name` from `$env`, the PATH, or the smoke run's virtualenv: the first that answers
/// `NAME version`.
pub(crate) fn find_program(env: &str, name: &str) -> Option<PathBuf> {
    let candidates = std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .chain([Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/smoke-venv/bin")
            .join(name)]);
    candidates.into_iter().find(|p| {
        std::process::Command::new(p)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// A SeaweedFS cluster on loopback (master, volume server, filer and S3 gateway in one `weed
/// server` process), killed on drop.
pub(crate) struct SeaweedFs {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub(crate) endpoint: String,
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How many times a cluster is started on fresh ports before the test fails: a port chosen by
/// `free_port` can be taken by another test's connection before `weed` binds it, and `weed`
/// then exits.
const SEAWEEDFS_STARTS: usize = 3;

pub(crate) async fn seaweedfs(weed: &std::path::Path) -> SeaweedFs {
    let mut exits = Vec::new();
    for _ in 0..SEAWEEDFS_STARTS {
        match start_seaweedfs(weed).await {
            Ok(sw) => return sw,
            Err(exit) => exits.push(exit),
        }
    }
    panic!(
        "SeaweedFS exited {SEAWEEDFS_STARTS} times before it took a bucket:\n{}",
        exits.join("\n---\n")
    )
}

/// One cluster on fresh ports: `Ok` once it takes a bucket, `Err` with what its log says when
/// `weed` exits first. A cluster that stays up without taking one within 120 s fails the test.
async fn start_seaweedfs(weed: &std::path::Path) -> Result<SeaweedFs, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "server".to_string(),
        format!("-dir={}", dir.path().display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        "-s3".into(),
        "-volume.max=0".into(),
        "-master.volumeSizeLimitMB=64".into(),
        // Its Iceberg and Lance servers take fixed ports: off, so clusters side by side never
        // clash.
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
    ];
    let s3_port = free_port();
    for name in ["master", "volume", "filer", "s3"] {
        let port = if name == "s3" { s3_port } else { free_port() };
        args.push(format!("-{name}.port={port}"));
        args.push(format!("-{name}.port.grpc={}", free_port()));
    }
    let log_path = dir.path().join("weed.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = std::process::Command::new(weed)
        .args(&args)
        // The gateway takes these as an identity of its own; without them it is open.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{s3_port}");
    let mut sw = SeaweedFs {
        child,
        _dir: dir,
        endpoint,
    };
    // The gateway answers before the filer takes buckets: retry making the bucket.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s3_port));
    let client = client_with(addr, "any", "any", |b| b);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let err = match client.create_bucket().bucket("store").send().await {
            Ok(_) => return Ok(sw),
            Err(e) => e,
        };
        if let Ok(Some(status)) = sw.child.try_wait() {
            return Err(format!("{status}:\n{}", weed_log(&log_path)));
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "SeaweedFS did not take a bucket within 120 s: {err:?}\n{}",
                weed_log(&log_path)
            )
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// What `weed` logged at error or fatal level (glog's `E` and `F` lines: its goroutine dump
/// follows a fatal one), or its last lines when it logged none, for a failure's message.
fn weed_log(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let severe = |l: &&str| {
        let mut c = l.chars();
        matches!(c.next(), Some('E' | 'F')) && c.next().is_some_and(|d| d.is_ascii_digit())
    };
    let mut lines: Vec<&str> = log.lines().filter(severe).collect();
    if lines.is_empty() {
        lines = log.lines().collect();
    }
    lines[lines.len().saturating_sub(20)..].join("\n")
}
