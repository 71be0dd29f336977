//! rclone's configuration file, read as it is, so that `s3gate serve NAME:PATH` serves a remote
//! that only `rclone.conf` defines.
//!
//! The file is found as rclone finds it (`--rclone-config`, then `RCLONE_CONFIG`, then
//! `$XDG_CONFIG_HOME/rclone/rclone.conf`, `~/.config/rclone/rclone.conf`, `~/.rclone.conf`), and
//! read encrypted with `RCLONE_CONFIG_PASS` when rclone encrypted it. Each section maps, option by
//! option, to a remote of s3gate's own configuration ([`RemoteDef`], in the storage service's
//! vocabulary). The mapping is strict: a backend type or an option that s3gate cannot honour
//! refuses to start with an error naming the remote and the option, never served with the option
//! ignored. Options that only tune how rclone itself transfers (chunk sizes, concurrency, pacing)
//! change nothing that is stored and are accepted.
//!
//! Object stores (s3, azureblob, gcs) are served as rclone serves them: the first folder of the
//! path is the bucket (container), so `NAME:bucket/dir` serves `dir` of `bucket`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

pub mod crypt;
pub(crate) mod servers;
mod services;

use crate::obscure;
use crate::{ConfigError, RemoteDef, RemoteOption};

/// The first line of an encrypted file's body, after any comments.
const ENCRYPTED_MARK: &str = "RCLONE_ENCRYPT_V0:";
const NONCE_LEN: usize = 24;

/// The sections of an rclone configuration file: name → option → value.
#[derive(Debug, Clone)]
pub struct RcloneConfig {
    path: PathBuf,
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

/// What a remote of rclone's is for s3gate, with the folder its `alias`es add in front of the
/// served path.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A local directory (rclone's `local` type).
    Local(PathBuf),
    /// A remote of a storage service, under `name` (the remote an alias chain ends at), and
    /// the remotes it stands on (a crypt's inner remote), each under its own name.
    Named {
        name: String,
        def: RemoteDef,
        prefix: String,
        under: Vec<(String, RemoteDef)>,
    },
}

/// Where rclone would read its configuration from, if anywhere.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("RCLONE_CONFIG") {
        return Some(p);
    }
    let home = env("HOME");
    [
        env("XDG_CONFIG_HOME").map(|d| d.join("rclone").join("rclone.conf")),
        home.as_ref()
            .map(|h| h.join(".config").join("rclone").join("rclone.conf")),
        home.as_ref().map(|h| h.join(".rclone.conf")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
}

impl RcloneConfig {
    /// Reads the file at `path`, decrypting it with `RCLONE_CONFIG_PASS` if rclone encrypted it.
    pub fn load(path: &Path) -> Result<RcloneConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let text = match encrypted_body(&text) {
            Some(body) => {
                let pass = std::env::var("RCLONE_CONFIG_PASS").map_err(|_| {
                    bad("the file is encrypted: give its password in RCLONE_CONFIG_PASS".into())
                })?;
                decrypt(body, &pass).map_err(bad)?
            }
            None => text,
        };
        Ok(RcloneConfig {
            path: path.to_path_buf(),
            sections: parse(&text).map_err(bad)?,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remote `name` (and every remote it stands on) as s3gate serves it.
    pub fn resolve(&self, name: &str) -> Result<Resolved, ConfigError> {
        self.resolve_depth(name, 0)
    }

    fn resolve_depth(&self, name: &str, depth: usize) -> Result<Resolved, ConfigError> {
        // An alias of an alias of … itself would never end.
        if depth > 16 {
            return Err(self.refuse(name, "remote", "aliases and crypt remotes nest too deep"));
        }
        let section = self.sections.get(name).ok_or_else(|| ConfigError::Invalid {
            what: format!("remote {name:?}"),
            expected: format!(
                "a remote defined in the configuration file as [remotes.{name}], or in {} as [{name}]",
                self.path.display()
            ),
        })?;
        let kind = section.get("type").map(String::as_str).unwrap_or("");
        let opts = Options {
            file: self,
            remote: name,
            section,
        };
        match kind {
            "local" => {
                opts.only(&LOCAL_ACCEPTED)?;
                Ok(Resolved::Local(PathBuf::new()))
            }
            "alias" => {
                opts.only(&["remote"])?;
                let (target, path) = opts.target()?;
                match target {
                    None => Ok(Resolved::Local(PathBuf::from(path))),
                    Some(t) => Ok(match self.resolve_depth(&t, depth + 1)? {
                        Resolved::Local(p) => Resolved::Local(p.join(path)),
                        Resolved::Named {
                            name,
                            def,
                            prefix,
                            under,
                        } => Resolved::Named {
                            name,
                            def,
                            prefix: join(&prefix, &path),
                            under,
                        },
                    }),
                }
            }
            "crypt" => self.crypt(&opts, depth),
            _ => {
                let def = map_service(&opts, kind)?;
                Ok(Resolved::Named {
                    name: name.to_string(),
                    def,
                    prefix: String::new(),
                    under: Vec::new(),
                })
            }
        }
    }

    /// A crypt remote keeps rclone's option names; the remote it encrypts is resolved here, so
    /// that it may be any remote of the file (an alias, another crypt, a local path).
    fn crypt(&self, opts: &Options<'_>, depth: usize) -> Result<Resolved, ConfigError> {
        opts.only(&[
            "remote",
            "password",
            "password2",
            "filename_encryption",
            "directory_name_encryption",
            "filename_encoding",
            "suffix",
            "server_side_across_configs",
            "show_mapping",
            "no_data_encryption",
            "pass_bad_blocks",
            "strict_names",
        ])?;
        for (option, harmless) in [
            ("no_data_encryption", "false"),
            ("pass_bad_blocks", "false"),
            ("strict_names", "false"),
        ] {
            if opts.get(option).is_some_and(|v| v != harmless) {
                return Err(self.refuse(opts.remote, option, "this server cannot honour it"));
            }
        }
        let (target, path) = opts.target()?;
        let mut under = Vec::new();
        let inner = match target {
            None => path,
            Some(t) => match self.resolve_depth(&t, depth + 1)? {
                Resolved::Local(p) => p.join(path).to_string_lossy().into_owned(),
                Resolved::Named {
                    name,
                    def,
                    prefix,
                    under: deeper,
                } => {
                    under.extend(deeper);
                    under.push((name.clone(), def));
                    format!("{name}:{}", join(&prefix, &path))
                }
            },
        };
        let mut options = BTreeMap::new();
        options.insert("remote".to_string(), RemoteOption::Text(inner));
        for (k, v) in opts.section {
            // What changes nothing here stays out (its harmless value was checked above).
            if !matches!(
                k.as_str(),
                "type"
                    | "remote"
                    | "server_side_across_configs"
                    | "show_mapping"
                    | "description"
                    | "no_data_encryption"
                    | "pass_bad_blocks"
                    | "strict_names"
            ) {
                options.insert(k.clone(), RemoteOption::Text(v.clone()));
            }
        }
        Ok(Resolved::Named {
            name: opts.remote.to_string(),
            def: RemoteDef {
                kind: "crypt".into(),
                options,
            },
            prefix: String::new(),
            under,
        })
    }

    fn refuse(&self, remote: &str, option: &str, why: &str) -> ConfigError {
        ConfigError::Refused {
            what: format!(
                "option {option:?} of remote {remote:?} in {}",
                self.path.display()
            ),
            why: why.to_string(),
        }
    }
}

/// `a` and `b` joined by one `/`, either may be empty.
pub(crate) fn join(a: &str, b: &str) -> String {
    let (a, b) = (a.trim_matches('/'), b.trim_matches('/'));
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// One section, read against what its type allows.
struct Options<'a> {
    file: &'a RcloneConfig,
    remote: &'a str,
    section: &'a BTreeMap<String, String>,
}

/// Options every backend has that change nothing s3gate does.
const COMMON_ACCEPTED: [&str; 2] = ["type", "description"];

/// rclone `local` options that only matter on other systems or to rclone's own transfers.
const LOCAL_ACCEPTED: [&str; 5] = [
    "nounc",
    "no_preallocate",
    "no_sparse",
    "no_check_updated",
    "fatal_if_no_space",
];

impl Options<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.section
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "true")
    }

    /// An obscured secret, revealed.
    fn secret(&self, name: &str) -> Result<Option<String>, ConfigError> {
        self.get(name)
            .map(|v| {
                obscure::reveal(v).map_err(|e| self.file.refuse(self.remote, name, &e.to_string()))
            })
            .transpose()
    }

    /// Refuses any option outside `allowed` (and the common ones).
    fn only(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        match self
            .section
            .keys()
            .find(|k| !COMMON_ACCEPTED.contains(&k.as_str()) && !allowed.contains(&k.as_str()))
        {
            Some(k) => Err(self.file.refuse(
                self.remote,
                k,
                "this server cannot honour it (remove it, or serve this remote with rclone)",
            )),
            None => Ok(()),
        }
    }

    fn refuse_value(&self, name: &str, why: &str) -> ConfigError {
        self.file.refuse(self.remote, name, why)
    }

    /// The `remote` option of an alias or crypt: `OTHER:path` (`None` for a local path).
    fn target(&self) -> Result<(Option<String>, String), ConfigError> {
        let spec = self.get("remote").ok_or_else(|| {
            self.refuse_value("remote", "missing: the remote it stands on (OTHER:path)")
        })?;
        Ok(match spec.split_once(':') {
            Some((name, path))
                if !name.is_empty() && !name.starts_with('/') && !name.contains('/') =>
            {
                if name.starts_with(':') || name.contains(',') {
                    return Err(self.refuse_value(
                        "remote",
                        "a named remote: on-the-fly remotes (`:type,…:`) are not served",
                    ));
                }
                (Some(name.to_string()), path.to_string())
            }
            _ => (None, spec.to_string()),
        })
    }
}

/// The storage service serving an rclone backend type, with its options in the service's names.
fn map_service(o: &Options<'_>, kind: &str) -> Result<RemoteDef, ConfigError> {
    let mut out: BTreeMap<String, RemoteOption> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        out.insert(k.to_string(), RemoteOption::Text(v));
    };
    let service = match kind {
        "s3" => {
            o.only(&S3_ACCEPTED)?;
            let provider = o.get("provider").unwrap_or("Other");
            if o.flag("v2_auth") {
                return Err(o.refuse_value("v2_auth", "this server signs with SigV4 only"));
            }
            if o.get("acl").is_some_and(|a| a != "private") {
                return Err(o.refuse_value("acl", "objects are written private; no other ACL"));
            }
            if o.flag("env_auth") {
                // Credentials come from the environment and the instance, as rclone takes them.
            } else {
                set("disable_config_load", "true".into());
                set("disable_ec2_metadata", "true".into());
            }
            for (from, to) in [
                ("access_key_id", "access_key_id"),
                ("secret_access_key", "secret_access_key"),
                ("session_token", "session_token"),
                ("storage_class", "default_storage_class"),
                ("server_side_encryption", "server_side_encryption"),
                ("sse_kms_key_id", "server_side_encryption_aws_kms_key_id"),
            ] {
                if let Some(v) = o.get(from) {
                    set(to, v.to_string());
                }
            }
            let endpoint = o.get("endpoint");
            if let Some(e) = endpoint {
                set("endpoint", with_scheme(e));
            }
            let region = o
                .get("region")
                .filter(|r| *r != "other-v2-signature")
                .unwrap_or("us-east-1");
            set("region", region.to_string());
            // rclone speaks path style unless told otherwise, except to AWS itself (and a few
            // providers that want the bucket in the host name).
            let path_style = match o.get("force_path_style") {
                Some(v) => v == "true",
                None => !matches!(provider, "AWS" | "Alibaba" | "TencentCOS" | "Qiniu"),
            };
            if !path_style {
                set("enable_virtual_host_style", "true".into());
            }
            "s3"
        }
        "webdav" => {
            o.only(&[
                "url",
                "vendor",
                "user",
                "pass",
                "bearer_token",
                "pacer_min_sleep",
                "nextcloud_chunk_size",
            ])?;
            let url = o
                .get("url")
                .ok_or_else(|| o.refuse_value("url", "missing: the WebDAV server's URL"))?;
            if let Some(v) = o.get("vendor") {
                if !matches!(
                    v,
                    "other" | "rclone" | "nextcloud" | "owncloud" | "fastmail"
                ) {
                    return Err(o.refuse_value("vendor", "sharepoint's sign-in is not supported"));
                }
            }
            set("endpoint", url.trim_end_matches('/').to_string());
            if let Some(u) = o.get("user") {
                set("username", u.to_string());
            }
            if let Some(p) = o.secret("pass")? {
                set("password", p);
            }
            if let Some(t) = o.get("bearer_token") {
                set("token", t.to_string());
            }
            "webdav"
        }
        "sftp" => {
            o.only(&[
                "host",
                "user",
                "port",
                "key_file",
                "known_hosts_file",
                "key_use_agent",
                "shell_type",
                "md5sum_command",
                "sha1sum_command",
                "disable_hashcheck",
                "idle_timeout",
                "chunk_size",
                "concurrency",
                "connections",
                "set_modtime",
            ])?;
            let host = o
                .get("host")
                .ok_or_else(|| o.refuse_value("host", "missing: the SSH server's host name"))?;
            let user = o
                .get("user")
                .map(str::to_string)
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "root".into());
            let port = o.get("port").unwrap_or("22");
            set("endpoint", format!("ssh://{user}@{host}:{port}"));
            set("user", user);
            if let Some(k) = o.get("key_file") {
                set("key", expand_home(k));
            }
            // rclone checks host keys only against a file it is given; without one it takes
            // any key, and so does this mapping.
            let strategy = match o.get("known_hosts_file") {
                None => "accept",
                Some(f) if expand_home(f) == expand_home("~/.ssh/known_hosts") => "strict",
                Some(_) => {
                    return Err(o.refuse_value(
                        "known_hosts_file",
                        "only ~/.ssh/known_hosts can be checked against",
                    ))
                }
            };
            set("known_hosts_strategy", strategy.into());
            // rclone's bound on its SSH connections bounds the sessions uploads hold here (the
            // one session everything else shares comes on top); 0, rclone's "no bound", keeps
            // this server's own bound.
            match o.get("connections").map(str::parse::<u32>) {
                None | Some(Ok(0)) => {}
                Some(Ok(n)) => set("upload_sessions", n.to_string()),
                Some(Err(_)) => return Err(o.refuse_value("connections", "not a number")),
            }
            "sftp"
        }
        "azureblob" => {
            o.only(&[
                "account",
                "key",
                "endpoint",
                "use_emulator",
                "upload_cutoff",
                "chunk_size",
                "upload_concurrency",
                "list_chunk",
                "memory_pool_flush_time",
                "memory_pool_use_mmap",
                "no_check_container",
                "no_head_object",
            ])?;
            if o.flag("use_emulator") {
                // Azurite's well-known development account, as rclone uses it.
                set("account_name", "devstoreaccount1".into());
                set("account_key", AZURITE_KEY.into());
                set(
                    "endpoint",
                    o.get("endpoint")
                        .map(with_scheme)
                        .unwrap_or_else(|| "http://127.0.0.1:10000/devstoreaccount1".into()),
                );
            } else {
                let account = o.get("account").ok_or_else(|| {
                    o.refuse_value("account", "missing: the storage account's name")
                })?;
                set("account_name", account.to_string());
                if let Some(k) = o.get("key") {
                    set("account_key", k.to_string());
                }
                set(
                    "endpoint",
                    o.get("endpoint")
                        .map(with_scheme)
                        .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net")),
                );
            }
            "azblob"
        }
        "google cloud storage" | "gcs" => {
            o.only(&[
                "service_account_file",
                "service_account_credentials",
                "anonymous",
                "endpoint",
                "env_auth",
                "project_number",
                "storage_class",
                "no_check_bucket",
                "bucket_policy_only",
            ])?;
            if let Some(f) = o.get("service_account_file") {
                set("credential_path", expand_home(f));
            }
            if let Some(json) = o.get("service_account_credentials") {
                set(
                    "credential",
                    base64::engine::general_purpose::STANDARD.encode(json),
                );
            }
            if o.flag("anonymous") {
                set("allow_anonymous", "true".into());
            }
            if let Some(e) = o.get("endpoint") {
                set("endpoint", with_scheme(e));
            }
            if let Some(c) = o.get("storage_class") {
                set("default_storage_class", c.to_string());
            }
            "gcs"
        }
        "" => {
            return Err(o.refuse_value(
                "type",
                "missing: every remote of rclone.conf names its type",
            ));
        }
        "ftp" => {
            servers::ftp(o, &mut set)?;
            "ftp"
        }
        "http" => {
            servers::http(o, &mut set)?;
            "http"
        }
        other => match services::map(o, other, &mut set)? {
            Some(service) => service,
            None => {
                let why = services::why_not(other).map_or_else(
                    || {
                        format!(
                            "rclone type {other:?} is not served by this server (see the \
                             README's table of rclone types)"
                        )
                    },
                    |why| format!("rclone type {other:?} is not served: {why}"),
                );
                return Err(o.refuse_value("type", &why));
            }
        },
    };
    Ok(RemoteDef {
        kind: service.into(),
        options: out,
    })
}

/// rclone `s3` options: what maps to the service, and what only tunes rclone's own transfers.
const S3_ACCEPTED: [&str; 27] = [
    "provider",
    "env_auth",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "region",
    "endpoint",
    "location_constraint",
    "acl",
    "bucket_acl",
    "storage_class",
    "server_side_encryption",
    "sse_kms_key_id",
    "force_path_style",
    "v2_auth",
    "upload_cutoff",
    "chunk_size",
    "max_upload_parts",
    "copy_cutoff",
    "upload_concurrency",
    "disable_checksum",
    "list_chunk",
    "list_version",
    "no_check_bucket",
    "memory_pool_flush_time",
    "memory_pool_use_mmap",
    "disable_http2",
];

/// The key of Azurite's development account, published with it.
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.trim_end_matches('/').to_string()
    } else {
        format!("https://{}", endpoint.trim_end_matches('/'))
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home)
            .join(rest)
            .to_string_lossy()
            .into_owned(),
        _ => path.to_string(),
    }
}

/// The base64 body of an encrypted file, if it is one.
fn encrypted_body(text: &str) -> Option<&str> {
    let mut lines = text.lines().map(str::trim);
    let first = lines
        .by_ref()
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))?;
    (first == ENCRYPTED_MARK).then(|| {
        let start = text.find(ENCRYPTED_MARK).unwrap_or(0) + ENCRYPTED_MARK.len();
        &text[start..]
    })
}

/// rclone's encrypted configuration: base64 of a nonce and a NaCl secretbox sealed with the
/// SHA-256 of `[password][rclone-config]` (the password trimmed and NFKC-normalised, as rclone
/// does).
fn decrypt(body: &str, password: &str) -> Result<String, String> {
    let compact: String = body.split_whitespace().collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "the encrypted configuration is not base64".to_string())?;
    if raw.len() < NONCE_LEN {
        return Err("the encrypted configuration is too short".into());
    }
    let password: String = password.trim().nfkc().collect();
    let key = Sha256::digest(format!("[{password}][rclone-config]").as_bytes());
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let plain = XSalsa20Poly1305::new(&key)
        .decrypt(nonce.into(), sealed)
        .map_err(|_| "RCLONE_CONFIG_PASS is not the password of this file".to_string())?;
    String::from_utf8(plain).map_err(|_| "the decrypted configuration is not UTF-8".into())
}

/// rclone's INI dialect: `[name]` sections of `key = value` lines, `#` and `;` comments, values
/// taken as written (no quotes or escapes).
fn parse(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.entry(name.to_string()).or_default();
            current = Some(name.to_string());
            continue;
        }
        let (Some(section), Some((k, v))) = (&current, line.split_once('=')) else {
            return Err(format!("line {}: expected [name] or key = value", n + 1));
        };
        sections
            .entry(section.clone())
            .or_default()
            .insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> RcloneConfig {
        RcloneConfig {
            path: PathBuf::from("rclone.conf"),
            sections: parse(text).unwrap(),
        }
    }

    fn named(r: Resolved) -> (String, RemoteDef, String, Vec<(String, RemoteDef)>) {
        match r {
            Resolved::Named {
                name,
                def,
                prefix,
                under,
            } => (name, def, prefix, under),
            other => panic!("not a named remote: {other:?}"),
        }
    }

    fn opts(def: &RemoteDef) -> BTreeMap<String, String> {
        def.options().collect()
    }

    fn refused(r: Result<Resolved, ConfigError>, option: &str) {
        let e = r.expect_err("accepted").to_string();
        assert!(e.contains(&format!("{option:?}")), "{e}");
    }

    #[test]
    fn s3_remotes_map_option_by_option() {
        let f = file(
            "# a comment\n[minio]\ntype = s3\nprovider = Minio\naccess_key_id = AK\n\
             secret_access_key = SK\nendpoint = http://127.0.0.1:9000\nchunk_size = 64M\n\n\
             [aws]\ntype = s3\nprovider = AWS\nregion = eu-west-1\nenv_auth = true\n",
        );
        let (name, def, _, _) = named(f.resolve("minio").unwrap());
        assert_eq!((name.as_str(), def.kind.as_str()), ("minio", "s3"));
        let o = opts(&def);
        assert_eq!(o["access_key_id"], "AK");
        assert_eq!(o["secret_access_key"], "SK");
        assert_eq!(o["endpoint"], "http://127.0.0.1:9000");
        assert_eq!(o["region"], "us-east-1");
        assert_eq!(o["disable_config_load"], "true");
        assert!(!o.contains_key("enable_virtual_host_style"));
        let o = opts(&named(f.resolve("aws").unwrap()).1);
        assert_eq!(o["region"], "eu-west-1");
        assert_eq!(o["enable_virtual_host_style"], "true");
        assert!(
            !o.contains_key("disable_config_load"),
            "env_auth takes the environment"
        );
    }

    #[test]
    fn webdav_sftp_azure_and_gcs_remotes_map() {
        let pass = obscure::obscure_with_iv("dav secret", [3; 16]);
        let f = file(&format!(
            "[dav]\ntype = webdav\nurl = http://h:8080/dav/\nvendor = rclone\nuser = u\n\
             pass = {pass}\n[ssh]\ntype = sftp\nhost = example\nport = 2022\nuser = me\n\
             key_file = /k/id\n[az]\ntype = azureblob\nuse_emulator = true\n\
             [g]\ntype = google cloud storage\nanonymous = true\n"
        ));
        let o = opts(&named(f.resolve("dav").unwrap()).1);
        assert_eq!(o["endpoint"], "http://h:8080/dav");
        assert_eq!(
            (o["username"].as_str(), o["password"].as_str()),
            ("u", "dav secret")
        );
        let (_, def, _, _) = named(f.resolve("ssh").unwrap());
        let o = opts(&def);
        assert_eq!(def.kind, "sftp");
        assert_eq!(o["endpoint"], "ssh://me@example:2022");
        assert_eq!(o["key"], "/k/id");
        assert_eq!(o["known_hosts_strategy"], "accept");
        assert!(!o.contains_key("upload_sessions"));
        let (_, def, _, _) = named(f.resolve("az").unwrap());
        assert_eq!(def.kind, "azblob");
        assert_eq!(opts(&def)["account_name"], "devstoreaccount1");
        let (_, def, _, _) = named(f.resolve("g").unwrap());
        assert_eq!(
            (def.kind.as_str(), opts(&def)["allow_anonymous"].as_str()),
            ("gcs", "true")
        );
    }

    #[test]
    fn sftp_connections_bound_the_upload_sessions() {
        let f = file(
            "[three]\ntype = sftp\nhost = h\nconnections = 3\n\
             [unbounded]\ntype = sftp\nhost = h\nconnections = 0\n\
             [bad]\ntype = sftp\nhost = h\nconnections = many\n",
        );
        let o = opts(&named(f.resolve("three").unwrap()).1);
        assert_eq!(o["upload_sessions"], "3");
        let o = opts(&named(f.resolve("unbounded").unwrap()).1);
        assert!(!o.contains_key("upload_sessions"));
        let e = f.resolve("bad").unwrap_err().to_string();
        assert!(
            e.contains("connections") && e.contains("not a number"),
            "{e}"
        );
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let f = file(
            "[a]\ntype = s3\nacl = public-read\n[b]\ntype = s3\nversions = true\n\
             [c]\ntype = sftp\nhost = h\npass = x\n[d]\ntype = drive\n[e]\ntype = local\n\
             links = true\n[f]\ntype = webdav\nurl = http://x\nvendor = sharepoint\n[g]\n",
        );
        refused(f.resolve("a"), "acl");
        refused(f.resolve("b"), "versions");
        refused(f.resolve("c"), "pass");
        refused(f.resolve("d"), "token");
        refused(f.resolve("e"), "links");
        refused(f.resolve("f"), "vendor");
        refused(f.resolve("g"), "type");
        let e = f.resolve("nowhere").unwrap_err().to_string();
        assert!(e.contains("[nowhere]"), "{e}");
    }

    #[test]
    fn drives_map_with_a_token_that_can_be_refreshed() {
        let token = r#"{"access_token":"ya29.A","token_type":"Bearer","refresh_token":"1//R","expiry":"2026-01-02T15:04:05.999999999+01:00"}"#;
        let pass = obscure::obscure_with_iv("app-pass", [5; 16]);
        let f = file(&format!(
            "[gd]\ntype = drive\nclient_id = me.apps\nclient_secret = S\nscope = drive\n\
             token = {token}\nteam_drive = \n\n[od]\ntype = onedrive\nclient_id = C\n\
             client_secret = S\ntoken = {token}\ndrive_id = b!x\ndrive_type = personal\n\
             [db]\ntype = dropbox\nclient_id = C\nclient_secret = S\ntoken = {token}\n\
             [kf]\ntype = koofr\nprovider = koofr\nuser = me@example.com\npassword = {pass}\n\
             [pc]\ntype = pcloud\nusername = me\npassword = {pass}\nhostname = eapi.pcloud.com\n\
             [sw]\ntype = swift\nstorage_url = https://swift.example/v1/AUTH_a/\n\
             auth_token = T\n"
        ));
        for (name, service) in [("gd", "gdrive"), ("od", "onedrive"), ("db", "dropbox")] {
            let def = named(f.resolve(name).unwrap()).1;
            let o = opts(&def);
            assert_eq!(def.kind, service);
            assert_eq!(o["refresh_token"], "1//R", "{name}");
            assert_eq!(o["client_secret"], "S", "{name}");
            assert!(
                !o.contains_key("access_token"),
                "{name}: refreshed, never stale"
            );
        }
        let o = opts(&named(f.resolve("kf").unwrap()).1);
        assert_eq!(
            (
                o["endpoint"].as_str(),
                o["email"].as_str(),
                o["password"].as_str()
            ),
            ("https://app.koofr.net", "me@example.com", "app-pass")
        );
        let o = opts(&named(f.resolve("pc").unwrap()).1);
        assert_eq!(o["endpoint"], "https://eapi.pcloud.com");
        assert_eq!(o["password"], "app-pass");
        let (_, def, _, _) = named(f.resolve("sw").unwrap());
        let o = opts(&def);
        assert_eq!(def.kind, "swift");
        assert_eq!(o["endpoint"], "https://swift.example/v1/AUTH_a");
        assert_eq!(o["token"], "T");
        // Secrets stay masked wherever the remote is shown.
        let shown = toml::to_string(&def).unwrap();
        assert!(!shown.contains("\"T\""), "{shown}");
    }

    #[test]
    fn drives_that_could_not_stay_signed_in_are_refused_by_name() {
        let no_refresh = r#"{"access_token":"A","expiry":"2099-01-01T00:00:00Z"}"#;
        let full = r#"{"access_token":"A","refresh_token":"R","expiry":"2020-01-01T00:00:00Z"}"#;
        let f = file(&format!(
            "[builtin]\ntype = drive\ntoken = {full}\n[norefresh]\ntype = onedrive\n\
             client_id = C\nclient_secret = S\ntoken = {no_refresh}\n\
             [shared]\ntype = drive\nclient_id = C\nclient_secret = S\ntoken = {full}\n\
             team_drive = 0ABC\n[ro]\ntype = drive\nclient_id = C\nclient_secret = S\n\
             token = {full}\nscope = drive.readonly\n[sp]\ntype = onedrive\nclient_id = C\n\
             client_secret = S\ntoken = {full}\ndrive_type = documentLibrary\n\
             [ya]\ntype = yandex\ntoken = {full}\n[yok]\ntype = yandex\ntoken = {no_refresh}\n\
             [sw]\ntype = swift\nuser = u\nkey = k\nauth = https://keystone/v3\n\
             [bad]\ntype = dropbox\nclient_id = C\nclient_secret = S\ntoken = not json\n"
        ));
        refused(f.resolve("builtin"), "client_id");
        refused(f.resolve("norefresh"), "token");
        refused(f.resolve("shared"), "team_drive");
        refused(f.resolve("ro"), "scope");
        refused(f.resolve("sp"), "drive_type");
        refused(f.resolve("ya"), "token");
        assert_eq!(
            opts(&named(f.resolve("yok").unwrap()).1)["access_token"],
            "A",
            "a Yandex token that has not expired is served as it is"
        );
        refused(f.resolve("sw"), "user");
        refused(f.resolve("bad"), "token");
    }

    #[test]
    fn b2_remotes_map_and_refuse_what_they_cannot_honour() {
        let f = file(
            "[b2]\ntype = b2\naccount = 0012345\nkey = K005secret\nchunk_size = 96M\n\
             upload_cutoff = 200M\nhard_delete = false\nlifecycle = 0\n\
             encoding = Slash, Dot,BackSlash,Del,Ctl,InvalidUtf8\ndisable_checksum = true\n\
             [hard]\ntype = b2\naccount = a\nkey = k\nhard_delete = true\n\
             [old]\ntype = b2\naccount = a\nkey = k\nversions = true\n\
             [at]\ntype = b2\naccount = a\nkey = k\nversion_at = 2024-01-01\n\
             [ep]\ntype = b2\naccount = a\nkey = k\nendpoint = http://127.0.0.1:9000\n\
             [test]\ntype = b2\naccount = a\nkey = k\ntest_mode = fail_some_uploads\n\
             [cdn]\ntype = b2\naccount = a\nkey = k\ndownload_url = https://cdn.example\n\
             [life]\ntype = b2\naccount = a\nkey = k\nlifecycle = 30\n\
             [enc]\ntype = b2\naccount = a\nkey = k\nencoding = Slash,Dot\n\
             [noacct]\ntype = b2\nkey = k\n[nokey]\ntype = b2\naccount = a\n\
             [odd]\ntype = b2\naccount = a\nkey = k\nsse_customer_key = x\n",
        );
        let (_, def, prefix, _) = named(f.resolve("b2").unwrap());
        let o = opts(&def);
        assert_eq!((def.kind.as_str(), prefix.as_str()), ("b2", ""));
        assert_eq!(
            (
                o["application_key_id"].as_str(),
                o["application_key"].as_str()
            ),
            ("0012345", "K005secret")
        );
        assert_eq!(o.len(), 2, "transfer tuning maps to nothing: {o:?}");
        assert!(
            !o.contains_key("bucket_id"),
            "looked up when the remote is opened"
        );
        let shown = toml::to_string(&def).unwrap();
        assert!(!shown.contains("K005secret"), "{shown}");
        assert!(
            shown.contains("0012345"),
            "the key's id is no secret: {shown}"
        );
        for (name, option) in [
            ("hard", "hard_delete"),
            ("old", "versions"),
            ("at", "version_at"),
            ("ep", "endpoint"),
            ("test", "test_mode"),
            ("cdn", "download_url"),
            ("life", "lifecycle"),
            ("enc", "encoding"),
            ("noacct", "account"),
            ("nokey", "key"),
            ("odd", "sse_customer_key"),
        ] {
            refused(f.resolve(name), option);
        }
    }

    #[test]
    fn ftp_remotes_map_and_refuse_what_they_cannot_honour() {
        let pass = obscure::obscure_with_iv("ftp secret", [9; 16]);
        let f = file(&format!(
            "[ftp]\ntype = ftp\nhost = files.example\nport = 2121\nuser = me\npass = {pass}\n\
             concurrency = 4\ndisable_mlsd = true\nidle_timeout = 1m\ndisable_epsv = true\n\
             [tls]\ntype = ftp\nhost = h\ntls = true\nexplicit_tls = true\n\
             [explicit]\ntype = ftp\nhost = h\nexplicit_tls = true\nno_check_certificate = true\n\
             [implicit]\ntype = ftp\nhost = h\ntls = true\ndisable_tls13 = true\n\
             [weak]\ntype = ftp\nhost = h\ntls = true\nallow_insecure_tls_ciphers = true\n[one]\ntype = ftp\nhost = h\nconcurrency = 1\n\
             [proxy]\ntype = ftp\nhost = h\nsocks_proxy = p:1080\n[nohost]\ntype = ftp\n\
             [badpass]\ntype = ftp\nhost = h\npass = plain\n[enc]\ntype = ftp\nhost = h\n\
             encoding = Slash\n"
        ));
        let (_, def, _, _) = named(f.resolve("ftp").unwrap());
        let o = opts(&def);
        assert_eq!(def.kind, "ftp");
        assert_eq!(
            (o["host"].as_str(), o["port"].as_str(), o["user"].as_str()),
            ("files.example", "2121", "me")
        );
        assert_eq!(o["password"], "ftp secret");
        assert_eq!(
            (o["concurrency"].as_str(), o["disable_mlsd"].as_str()),
            ("4", "true")
        );
        assert!(!toml::to_string(&def).unwrap().contains("ftp secret"));
        let o = opts(&named(f.resolve("explicit").unwrap()).1);
        assert_eq!(
            (o["tls"].as_str(), o["no_check_certificate"].as_str()),
            ("explicit", "true")
        );
        let o = opts(&named(f.resolve("implicit").unwrap()).1);
        assert_eq!(
            (o["tls"].as_str(), o["disable_tls13"].as_str()),
            ("implicit", "true")
        );
        assert!(!o.contains_key("no_check_certificate"));
        for (name, option) in [
            ("tls", "explicit_tls"),
            ("weak", "allow_insecure_tls_ciphers"),
            ("one", "concurrency"),
            ("proxy", "socks_proxy"),
            ("nohost", "host"),
            ("badpass", "pass"),
            ("enc", "encoding"),
        ] {
            refused(f.resolve(name), option);
        }
    }

    #[test]
    fn http_remotes_map_and_refuse_what_they_cannot_honour() {
        let f = file(
            "[web]\ntype = http\nurl = https://files.example/pub/\n\
             headers = Authorization,Bearer T\n[slash]\ntype = http\nurl = http://h/\n\
             no_slash = true\n[head]\ntype = http\nurl = http://h/\nno_head = true\n\
             [nourl]\ntype = http\n[ftpurl]\ntype = http\nurl = ftp://h/\n",
        );
        let (_, def, _, _) = named(f.resolve("web").unwrap());
        let o = opts(&def);
        assert_eq!(def.kind, "http");
        assert_eq!(o["url"], "https://files.example/pub/");
        assert_eq!(o["headers"], "Authorization,Bearer T");
        let shown = toml::to_string(&def).unwrap();
        assert!(!shown.contains("Bearer"), "{shown}");
        for (name, option) in [
            ("slash", "no_slash"),
            ("head", "no_head"),
            ("nourl", "url"),
            ("ftpurl", "url"),
        ] {
            refused(f.resolve(name), option);
        }
    }

    #[test]
    fn aliases_and_crypt_resolve_to_what_they_stand_on() {
        let f = file(
            "[store]\ntype = s3\nendpoint = http://s3\n[docs]\ntype = alias\n\
             remote = store:bucket/docs\n[deep]\ntype = alias\nremote = docs:2024\n\
             [home]\ntype = alias\nremote = /srv/data\n[vault]\ntype = crypt\n\
             remote = deep:vault\npassword = PW\npassword2 = SALT\n\
             filename_encryption = standard\n[loop]\ntype = alias\nremote = loop:x\n",
        );
        let (name, def, prefix, _) = named(f.resolve("deep").unwrap());
        assert_eq!((name.as_str(), def.kind.as_str()), ("store", "s3"));
        assert_eq!(prefix, "bucket/docs/2024");
        assert!(
            matches!(f.resolve("home").unwrap(), Resolved::Local(p) if p == Path::new("/srv/data"))
        );
        let (name, def, prefix, under) = named(f.resolve("vault").unwrap());
        assert_eq!((name.as_str(), prefix.as_str()), ("vault", ""));
        let o = opts(&def);
        assert_eq!(def.kind, "crypt");
        assert_eq!(o["remote"], "store:bucket/docs/2024/vault");
        assert_eq!(
            (o["password"].as_str(), o["password2"].as_str()),
            ("PW", "SALT")
        );
        assert_eq!(under.len(), 1);
        assert_eq!(under[0].0, "store");
        refused(f.resolve("loop"), "remote");
    }

    #[test]
    fn an_encrypted_file_is_read_with_its_password() {
        // Made by rclone (`rclone config encryption set`), holding `[x]\ntype = local\n`.
        let text = format!(
            "# Encrypted rclone configuration File\n\n{ENCRYPTED_MARK}\n{ENCRYPTED_SAMPLE}\n"
        );
        let body = encrypted_body(&text).expect("not taken for an encrypted file");
        let plain = decrypt(body, ENCRYPTED_SAMPLE_PASSWORD).unwrap();
        assert_eq!(parse(&plain).unwrap()["x"]["type"], "local");
        assert!(decrypt(body, "wrong")
            .unwrap_err()
            .contains("not the password"));
        assert!(encrypted_body("[x]\ntype = local\n").is_none());
    }

    const ENCRYPTED_SAMPLE_PASSWORD: &str = "testpass";
    const ENCRYPTED_SAMPLE: &str =
        "eeqYqhg9yH8R3GcyzKK8Ilsm/1KlF45FenVOuggMdL9AbSFCcpkRAKhPSD+y2qn4Xf03PxuI+LJBag==";
}
