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

pub(crate) async fn seaweedfs(weed: &std::path::Path) -> SeaweedFs {
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
    let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
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
    let sw = SeaweedFs {
        child,
        _dir: dir,
        endpoint,
    };
    // The gateway answers before the filer takes buckets: retry making the bucket.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s3_port));
    let client = client_with(addr, "any", "any", |b| b);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match client.create_bucket().bucket("store").send().await {
            Ok(_) => return sw,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("SeaweedFS did not take a bucket within 120 s: {e:?}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
}
