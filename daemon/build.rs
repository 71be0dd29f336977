//! Links the server with packed relative relocations (`-z pack-relative-relocs`, DT_RELR) where
//! the binary is built to run on the glibc it is built with, and that glibc loads them (2.36 and
//! later). The binary's 45,000 relative relocations are then a few KiB of bitmaps instead of
//! 1 MiB of RELA entries, which the loader reads at every start and which stay mapped: an idle
//! server's resident size falls by about 1 MiB (bench/README.md, "An idle server's memory").
//! Such a binary starts only on glibc 2.36 or later, so nothing changes when building for
//! another target, on an older glibc, or with `S3GATE_PORTABLE_BUILD` set (a binary for older
//! systems, built on a newer one).

use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=S3GATE_PORTABLE_BUILD");
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    if native && env::var_os("S3GATE_PORTABLE_BUILD").is_none() && glibc_loads_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the glibc this build runs on (the target's, as the build is native) is 2.36 or later.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_loads_relr() -> bool {
    // SAFETY: glibc returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let mut parts = version.to_str().unwrap_or("").split('.');
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((next(), next()), (Some(major), Some(minor)) if (major, minor) >= (2, 36))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_loads_relr() -> bool {
    false
}
