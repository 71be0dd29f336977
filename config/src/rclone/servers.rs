//! rclone backends that speak to a server program rather than a storage service: FTP.

use super::Options;
use crate::ConfigError;

/// Sets `set` to the options of the FTP remote an rclone `ftp` section describes.
pub(super) fn ftp(o: &Options<'_>, set: &mut dyn FnMut(&str, String)) -> Result<(), ConfigError> {
    o.only(&[
        "host",
        "user",
        "port",
        "pass",
        "tls",
        "explicit_tls",
        "concurrency",
        "no_check_certificate",
        "disable_epsv",
        "disable_mlsd",
        "disable_utf8",
        "writing_mdtm",
        "force_list_hidden",
        "idle_timeout",
        "close_timeout",
        "shut_timeout",
        "tls_cache_size",
        "disable_tls13",
        "allow_insecure_tls_ciphers",
        "ask_password",
        "no_check_upload",
    ])?;
    for (option, why) in [
        (
            "tls",
            "FTPS (implicit TLS) is not served: use plain FTP or another remote",
        ),
        (
            "explicit_tls",
            "FTPS (explicit TLS) is not served: use plain FTP or another remote",
        ),
        (
            "writing_mdtm",
            "uploads keep the time the server gives them",
        ),
        (
            "force_list_hidden",
            "listings without MLSD show what LIST shows",
        ),
        ("ask_password", "the server starts unattended: give `pass`"),
    ] {
        if o.flag(option) {
            return Err(o.refuse_value(option, why));
        }
    }
    let host = o
        .get("host")
        .ok_or_else(|| o.refuse_value("host", "missing: the FTP server's host name"))?;
    set("host", host.to_string());
    if let Some(p) = o.get("port") {
        p.parse::<u16>()
            .map_err(|_| o.refuse_value("port", "expected a port number"))?;
        set("port", p.to_string());
    }
    // rclone signs in as the user running it when the section names nobody.
    let user = o
        .get("user")
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "anonymous".into());
    set("user", user);
    if let Some(p) = o.secret("pass")? {
        set("password", p);
    }
    if let Some(c) = o.get("concurrency") {
        match c.parse::<usize>() {
            Ok(1) => {
                return Err(o.refuse_value(
                    "concurrency",
                    "at least 2 (or 0, no limit): a copy reads its source on one \
                             connection while it writes on another",
                ))
            }
            Ok(n) => set("concurrency", n.to_string()),
            Err(_) => return Err(o.refuse_value("concurrency", "expected a number")),
        }
    }
    if o.flag("disable_mlsd") {
        set("disable_mlsd", "true".into());
    }
    Ok(())
}
