//! rclone backends that speak to a server program rather than a storage service: FTP and FTPS,
//! and
//! web servers (`http`, read-only).

use std::collections::BTreeMap;

use super::Options;
use crate::{ConfigError, RemoteDef};

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
            "allow_insecure_tls_ciphers",
            "the TLS library used has no insecure ciphers to allow",
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
    match (o.flag("tls"), o.flag("explicit_tls")) {
        (true, true) => {
            return Err(o.refuse_value(
                "explicit_tls",
                "implicit (`tls`) and explicit TLS exclude each other",
            ))
        }
        (true, false) => set("tls", "implicit".into()),
        (false, true) => set("tls", "explicit".into()),
        (false, false) => {}
    }
    for option in ["no_check_certificate", "disable_tls13"] {
        if o.flag(option) {
            set(option, "true".into());
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

/// Sets `set` to the options of the web server remote an rclone `http` section describes.
pub(super) fn http(o: &Options<'_>, set: &mut dyn FnMut(&str, String)) -> Result<(), ConfigError> {
    o.only(&["url", "headers", "no_slash", "no_head", "no_escape"])?;
    for (option, why) in [
        (
            "no_slash",
            "folders are the links that end in `/`, as index pages write them",
        ),
        (
            "no_head",
            "each file's size and time come from a HEAD request",
        ),
        ("no_escape", "names are escaped in URLs"),
    ] {
        if o.flag(option) {
            return Err(o.refuse_value(option, why));
        }
    }
    let url = o
        .get("url")
        .ok_or_else(|| o.refuse_value("url", "missing: the web server's URL"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(o.refuse_value("url", "expected http(s)://host/path/"));
    }
    set("url", url.to_string());
    if let Some(h) = o.get("headers") {
        set("headers", h.to_string());
    }
    Ok(())
}

/// Whether serving the remote `name` writes to a remote that cannot be written (a web server),
/// through the crypt remotes wrapped around it.
pub(crate) fn reaches_read_only(remotes: &BTreeMap<String, RemoteDef>, name: &str) -> bool {
    let mut name = name.to_string();
    // A loop of crypt remotes is refused when they are opened; here it ends.
    for _ in 0..16 {
        let Some(def) = remotes.get(&name) else {
            return false;
        };
        match def.kind.as_str() {
            "http" => return true,
            "crypt" => {
                let inner = def
                    .options()
                    .find(|(k, _)| k == "remote")
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                match inner.split_once(':') {
                    Some((n, _)) if !n.is_empty() && !n.contains('/') => name = n.to_string(),
                    _ => return false,
                }
            }
            _ => return false,
        }
    }
    false
}
