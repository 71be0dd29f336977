//! Programs some tests drive (SeaweedFS's `weed`, rclone), found where the smoke run installs
//! them. The tests that need one are `#[ignore]`d and fail, never pass, when it is missing.

use std::path::{Path, PathBuf};

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
