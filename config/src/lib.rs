//! s3gate's configuration: one [`Config`] that the daemon builds from defaults, an optional TOML
//! file and command-line flags or their environment variables (in that order of precedence,
//! lowest first), validated once, then handed read-only to the VFS and the S3 front end.
//!
//! Each setting is declared once, in settings.rs (sections, defaults, flags); this file holds
//! the types of their values, the file's loading and the checks across settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub mod obscure;
pub mod rclone;
mod settings;

pub use settings::{
    AuthConfig, Flags, IndexConfig, LogConfig, RemoteConfig, ServerConfig, VfsConfig,
};

/// Everything the server needs to run.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub remote: RemoteConfig,
    /// Remotes that `remote.name` (or `serve NAME:PATH`) may name.
    pub remotes: BTreeMap<String, RemoteDef>,
    /// Users: keys with a name and limits of their own (`[[users]]`, and `auth.users_file`).
    /// Keys of `auth.keys` are administrators.
    pub users: Vec<User>,
    pub vfs: VfsConfig,
    pub index: IndexConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The ceiling of `max_header_bytes`: the HTTP layer never buffers more than this for a head.
pub const MAX_HEADER_BYTES_LIMIT: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

/// One `ACCESS,SECRET` credential.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    pub access_key: String,
    pub secret_key: String,
}

/// A user: a key, how S3 names its owner, and what it may do.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub access_key: String,
    #[serde(serialize_with = "masked")]
    pub secret_key: String,
    /// The owner's `DisplayName` in listings and ACLs (default: none, as AWS since 2025-11).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The owner's canonical id (default: the SHA-256 of the access key, in hex).
    #[serde(default)]
    pub canonical_id: Option<String>,
    /// The owner's e-mail address, by which ACL grants (`emailAddress=`) may name the user.
    #[serde(default)]
    pub email: Option<String>,
    /// Refuse every change this user asks for.
    #[serde(default)]
    pub read_only: bool,
    /// The buckets this user may use fully, as if it owned them: names, or prefixes ending in
    /// `*`. When given, a user never sees, lists, reads or copies from any other, whatever their
    /// ACLs grant; when absent, the user reaches the buckets it owns and what ACLs grant it.
    #[serde(default)]
    pub buckets: Option<Vec<String>>,
    /// A root of this user's own (a directory, or `NAME:PATH` of a remote), served to it alone:
    /// its folders are the user's buckets, which the user owns whole; nothing outside it is in
    /// the user's reach. Users naming the same root share it.
    #[serde(default)]
    pub root: Option<String>,
}

fn masked<S: Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("***")
}

impl User {
    /// Does this user's `buckets` list leave `bucket` within its reach (no list: every bucket)?
    pub fn may_use(&self, bucket: &str) -> bool {
        self.buckets.as_ref().is_none_or(|allowed| {
            allowed.iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => bucket.starts_with(prefix),
                None => a == bucket,
            })
        })
    }
}

impl fmt::Debug for User {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("access_key", &self.access_key)
            .field("read_only", &self.read_only)
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthKey {
    // Secrets never reach logs, even through a debug print of the whole configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"***")
            .finish()
    }
}

impl FromStr for AuthKey {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::Invalid {
            what: "auth key".into(),
            expected: "ACCESS,SECRET with both parts non-empty and no whitespace".into(),
        };
        let (access, secret) = s.split_once(',').ok_or_else(bad)?;
        let ok = |p: &str| !p.is_empty() && !p.contains(|c: char| c.is_whitespace() || c == ',');
        if !ok(access) || !ok(secret) {
            return Err(bad());
        }
        Ok(AuthKey {
            access_key: access.to_string(),
            secret_key: secret.to_string(),
        })
    }
}

impl Serialize for AuthKey {
    // What a configuration printout shows: the access key, never the secret.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{},***", self.access_key))
    }
}

impl<'de> Deserialize<'de> for AuthKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl RemoteConfig {
    /// Reads what `serve` is given: `NAME:PATH` (`NAME:` for the remote's root) names a remote
    /// of the configuration, anything else is a local directory (`./a:b` for a directory whose
    /// name has a colon).
    pub fn from_spec(spec: &str) -> RemoteConfig {
        match spec.split_once(':') {
            Some((name, path))
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                RemoteConfig {
                    path: PathBuf::from(path.trim_start_matches('/')),
                    name: Some(name.to_string()),
                    ..RemoteConfig::default()
                }
            }
            _ => RemoteConfig {
                path: PathBuf::from(spec),
                name: None,
                ..RemoteConfig::default()
            },
        }
    }
}

/// A remote reached through one of the storage services the build includes: `type` (`s3`,
/// `webdav`, `sftp`, `gcs`, `azblob`, `memory`) and that service's own settings (`bucket`,
/// `endpoint`, `region`, `root`, credentials…); or an rclone `crypt` remote over another one,
/// with rclone's settings (`remote`, `password`, `password2`, `filename_encryption`, …), read
/// and checked by the VFS when it opens the remote.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteDef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub options: BTreeMap<String, RemoteOption>,
}

/// A service setting as written in the file; services read them all as strings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RemoteOption {
    Text(String),
    Integer(i64),
    Bool(bool),
}

impl fmt::Display for RemoteOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteOption::Text(s) => f.write_str(s),
            RemoteOption::Integer(i) => write!(f, "{i}"),
            RemoteOption::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl RemoteDef {
    /// The settings as the service reads them.
    pub fn options(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.options.iter().map(|(k, v)| (k.clone(), v.to_string()))
    }

    /// Settings whose value is a secret, masked in printouts.
    fn is_secret(name: &str) -> bool {
        [
            "secret",
            "password",
            "token",
            "credential",
            "account_key",
            "private_key",
            // An http remote's headers carry its credentials (`Authorization,Bearer …`).
            "headers",
        ]
        .iter()
        .any(|s| name.contains(s))
            // B2's key (its id, `application_key_id`, is not secret).
            || name == "application_key"
    }
}

impl Serialize for RemoteDef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.options.len() + 1))?;
        m.serialize_entry("type", &self.kind)?;
        for (k, v) in &self.options {
            if RemoteDef::is_secret(k) {
                m.serialize_entry(k, "***")?;
            } else {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// rclone's `--vfs-cache-mode` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    #[default]
    Off,
    /// As `writes`: an S3 upload is a file opened for writing only.
    Minimal,
    Writes,
    /// `writes`, and reads are kept too, in chunks.
    Full,
}

impl CacheMode {
    /// Whether uploads land in the local cache and are written back later.
    pub fn caches_writes(self) -> bool {
        self != CacheMode::Off
    }

    /// Whether what is read from the remote is kept locally.
    pub fn caches_reads(self) -> bool {
        self == CacheMode::Full
    }
}

/// Hash used for ETags of single-part objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EtagHash {
    /// The MD5 of the content, as S3 does.
    #[default]
    Md5,
    /// BLAKE3 of the content (64 hex digits): several times faster to compute than MD5, but
    /// not what clients that check an ETag against an MD5 expect.
    Blake3,
    /// No content hash: the ETag is derived from size and modification time.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaStoreKind {
    #[default]
    Redb,
    Sled,
}

/// A setting that is one of a few names, in flags and files alike: parsed without regard to case
/// (the first name of a variant is how it is printed, the others are accepted too), and read
/// and written by serde as that name.
macro_rules! named_enum {
    ($ty:ident, $what:literal, $expected:literal, { $($variant:ident => [$($name:literal),+]),+ $(,)? }) => {
        impl FromStr for $ty {
            type Err = ConfigError;
            fn from_str(s: &str) -> Result<Self, ConfigError> {
                let lower = s.to_ascii_lowercase();
                $(
                    if [$($name),+].contains(&lower.as_str()) {
                        return Ok($ty::$variant);
                    }
                )+
                Err(ConfigError::Invalid {
                    what: format!(concat!($what, " {:?}"), s),
                    expected: $expected.into(),
                })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($ty::$variant => [$($name),+][0]),+
                })
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum!(LogFormat, "log format", "text or json", {
    Text => ["text"],
    Json => ["json"],
});
named_enum!(TlsVersion, "TLS version", "1.2 or 1.3", {
    Tls12 => ["1.2", "tls1.2"],
    Tls13 => ["1.3", "tls1.3"],
});
named_enum!(EtagHash, "etag hash", "md5, blake3 or none", {
    Md5 => ["md5"],
    Blake3 => ["blake3"],
    None => ["none", ""],
});
named_enum!(CacheMode, "cache mode", "off, minimal, writes or full", {
    Off => ["off"],
    Minimal => ["minimal"],
    Writes => ["writes"],
    Full => ["full"],
});
named_enum!(MetaStoreKind, "meta store", "redb or sled", {
    Redb => ["redb"],
    Sled => ["sled"],
});

/// Parses `90s`, `5m`, `2h`, `1d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, ConfigError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| ConfigError::Invalid {
        what: format!("duration {s:?}"),
        expected: "a number followed by s, m, h or d".into(),
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(ConfigError::Invalid {
                what: format!("duration {s:?}"),
                expected: "a number followed by s, m, h or d".into(),
            })
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// Parses `512`, `64K`, `8M`, `10G`, `1T` (powers of 1024; `KiB`, `MB`... and `B` accepted).
pub fn parse_size(s: &str) -> Result<u64, ConfigError> {
    let bad = || ConfigError::Invalid {
        what: format!("size {s:?}"),
        expected: "a number of bytes, optionally followed by K, M, G or T".into(),
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.trim_end_matches('B').trim_end_matches('I');
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// How a size is written in a file: bytes, or text such as `8M`; printed as bytes.
mod size {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*n)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Size {
            Bytes(u64),
            Text(String),
        }
        match Size::deserialize(d)? {
            Size::Bytes(n) => Ok(n),
            Size::Text(t) => super::parse_size(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// How a duration is written in a file: `90s`, `5m`…; printed in seconds.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}s", d.as_secs()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {what}: expected {expected}")]
    Invalid { what: String, expected: String },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{what}: {why}")]
    Refused { what: String, why: String },
}

impl Config {
    /// Loads a TOML file; unknown keys and bad values are errors naming the file and the place.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The configuration that serves the root of a user's own (`[[users]] root`): this one with
    /// the root as its remote, and the index where that root's would be by default.
    pub fn for_root(&self, root: &str) -> Result<Config, ConfigError> {
        let mut c = self.clone();
        let rclone_config = c.remote.rclone_config.take();
        c.remote = RemoteConfig::from_spec(root);
        c.remote.rclone_config = rclone_config;
        c.index.path = None;
        c.resolve_remote()?;
        Ok(c)
    }

    /// The roots of their own that users are served from, each once.
    pub fn user_roots(&self) -> Vec<String> {
        let mut roots: Vec<String> = self.users.iter().filter_map(|u| u.root.clone()).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// Serves a remote that `[remotes]` does not define from rclone's configuration file, as
    /// rclone would ([`rclone`]): its definition (and those of the remotes it stands on) joins
    /// `remotes`, and the served path gains the folder its aliases add. Nothing changes when
    /// the remote is defined here, or when no rclone file is found (then [`Config::validate`]
    /// names the remote).
    pub fn resolve_remote(&mut self) -> Result<(), ConfigError> {
        self.find_remote()?;
        // A web server's files cannot be written: served as `--read-only` serves, every change
        // refused before it reaches the remote.
        if let Some(name) = &self.remote.name {
            if rclone::servers::reaches_read_only(&self.remotes, name) {
                self.server.read_only = true;
            }
        }
        Ok(())
    }

    fn find_remote(&mut self) -> Result<(), ConfigError> {
        let Some(name) = self.remote.name.clone() else {
            return Ok(());
        };
        if self.remotes.contains_key(&name) {
            return Ok(());
        }
        let Some(file) = rclone::locate(self.remote.rclone_config.as_deref()) else {
            return Ok(());
        };
        let path = self.remote.path.to_string_lossy().into_owned();
        match rclone::RcloneConfig::load(&file)?.resolve(&name)? {
            rclone::Resolved::Local(dir) => {
                self.remote.name = None;
                self.remote.path = dir.join(path);
            }
            rclone::Resolved::Named {
                name,
                def,
                prefix,
                under,
            } => {
                for (n, d) in under.into_iter().chain([(name.clone(), def)]) {
                    self.remotes.entry(n).or_insert(d);
                }
                self.remote.name = Some(name);
                self.remote.path = PathBuf::from(rclone::join(&prefix, &path));
            }
        }
        Ok(())
    }

    /// Checks what the types cannot: settings that only make sense together, and bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.cert.is_some() != s.key.is_some() {
            return Err(ConfigError::Invalid {
                what: "TLS settings".into(),
                expected: "both a certificate (--cert) and its key (--key), or neither".into(),
            });
        }
        if s.client_ca.is_some() && s.cert.is_none() {
            return Err(ConfigError::Invalid {
                what: "client CA".into(),
                expected: "mutual TLS only with HTTPS: --client-ca needs --cert and --key".into(),
            });
        }
        if !(1024..=MAX_HEADER_BYTES_LIMIT).contains(&s.max_header_bytes) {
            return Err(ConfigError::Invalid {
                what: format!("max header bytes {}", s.max_header_bytes),
                expected: format!("between 1024 and {MAX_HEADER_BYTES_LIMIT}"),
            });
        }
        if s.read_timeout.is_zero() || s.write_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                what: "read or write timeout 0".into(),
                expected: "a duration of at least 1s".into(),
            });
        }
        if self.vfs.lifecycle_day < std::time::Duration::from_millis(100) {
            return Err(ConfigError::Invalid {
                what: format!("lifecycle day {:?}", self.vfs.lifecycle_day),
                expected: "a duration of at least 100ms".into(),
            });
        }
        if !(64 << 10..=1 << 30).contains(&self.vfs.read_chunk_size) {
            return Err(ConfigError::Invalid {
                what: format!("read chunk size {}", self.vfs.read_chunk_size),
                expected: "between 64 KiB and 1 GiB".into(),
            });
        }
        if self.vfs.fleet && self.vfs.cache_mode.caches_writes() {
            // As the flag and the file spell it.
            let mode = format!("{:?}", self.vfs.cache_mode).to_lowercase();
            return Err(ConfigError::Refused {
                what: format!("--fleet with --vfs-cache-mode {mode}"),
                why: "the write cache acknowledges an upload while it is on this gateway's disk \
                      only: the other gateways would answer 404 for it until it is written back, \
                      and lose it if this one dies; use --vfs-cache-mode off"
                    .into(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        let all_keys = self
            .auth
            .keys
            .iter()
            .map(|k| (&k.access_key, &k.secret_key))
            .chain(self.users.iter().map(|u| (&u.access_key, &u.secret_key)));
        for (access, secret) in all_keys {
            if access.is_empty() || secret.is_empty() || !seen.insert(access) {
                return Err(ConfigError::Invalid {
                    what: format!("key {access:?}"),
                    expected: "each access key once, among keys and users, with a secret".into(),
                });
            }
        }
        if let Some(name) = &self.remote.name {
            if !self.remotes.contains_key(name) {
                return Err(ConfigError::Invalid {
                    what: format!("remote {name:?}"),
                    expected: format!(
                        "a remote defined in the configuration file as [remotes.{name}], or in \
                         rclone's configuration file (--rclone-config, RCLONE_CONFIG, or \
                         ~/.config/rclone/rclone.conf)"
                    ),
                });
            }
        }
        for (name, def) in self.remotes.iter().filter(|(_, d)| d.kind == "crypt") {
            rclone::crypt::CryptOptions::parse(name, def)?;
        }
        Ok(())
    }

    /// Adds the keys of `auth.keys_file` and the users of `auth.users_file` (called at start and
    /// on every reload).
    pub fn load_auth_files(&mut self) -> Result<(), ConfigError> {
        self.load_keys_file()?;
        self.load_users_file()
    }

    fn load_keys_file(&mut self) -> Result<(), ConfigError> {
        let Some(path) = self.auth.keys_file.clone() else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let key = line.parse().map_err(|e: ConfigError| ConfigError::Parse {
                path: path.clone(),
                message: format!("line {}: {e}", n + 1),
            })?;
            self.auth.keys.push(key);
        }
        Ok(())
    }

    /// The users of `auth.users_file`: a TOML file of `[[users]]`.
    fn load_users_file(&mut self) -> Result<(), ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct UsersFile {
            #[serde(default)]
            users: Vec<User>,
        }
        let Some(path) = self.auth.users_file.clone() else {
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file: UsersFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.users.extend(file.users);
        Ok(())
    }

    /// The configuration as TOML, secrets masked (`s3gate config check`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// Where the metadata index lives: in the served directory, or for a named remote in the
    /// cache directory, one folder per remote and path.
    pub fn index_dir(&self) -> PathBuf {
        if let Some(p) = &self.index.path {
            return p.clone();
        }
        match &self.remote.name {
            None => self.remote.path.join(".s3gate"),
            Some(name) => {
                let path = self.remote.path.to_string_lossy();
                let slug: String = path
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let folder = if slug.is_empty() {
                    name.clone()
                } else {
                    format!("{name}-{slug}")
                };
                self.cache_dir().join("remotes").join(folder)
            }
        }
    }

    /// The cache directory (`vfs.cache_dir` or the user's cache folder).
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(p) = &self.vfs.cache_dir {
            return p.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("s3gate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_key_parsing() {
        let k: AuthKey = "AK,SK".parse().unwrap();
        assert_eq!(k.access_key, "AK");
        assert_eq!(k.secret_key, "SK");
        for bad in ["", "AK", "AK,", ",SK", "A K,SK", "AK,S,K"] {
            assert!(bad.parse::<AuthKey>().is_err(), "{bad:?} accepted");
        }
        assert!(
            !format!("{k:?}").contains("SK\""),
            "secret leaked in debug output"
        );
    }

    #[test]
    fn file_rejects_unknown_keys_and_bad_values() {
        let dir = std::env::temp_dir().join(format!("s3gate-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.toml");
        std::fs::write(&p, "[server]\naddr = \"127.0.0.1:9000\"\n[auth]\nkeys = [\"a,b\"]\n[vfs]\nrescan_interval = \"2m\"\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.server.addr.port(), 9000);
        assert_eq!(c.auth.keys[0].access_key, "a");
        assert_eq!(c.vfs.rescan_interval.as_secs(), 120);
        std::fs::write(&p, "[server]\nbogus = 1\n").unwrap();
        let e = Config::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("bogus") && e.contains("a.toml"), "{e}");
        std::fs::write(&p, "[auth]\nkeys = [\"nocomma\"]\n").unwrap();
        assert!(Config::from_file(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn named_settings() {
        assert_eq!("TLS1.3".parse::<TlsVersion>().unwrap(), TlsVersion::Tls13);
        assert_eq!("1.2".parse::<TlsVersion>().unwrap(), TlsVersion::Tls12);
        assert_eq!("MD5".parse::<EtagHash>().unwrap(), EtagHash::Md5);
        assert_eq!("".parse::<EtagHash>().unwrap(), EtagHash::None);
        assert_eq!("Json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        let e = "lmdb".parse::<MetaStoreKind>().unwrap_err().to_string();
        assert!(e.contains("\"lmdb\"") && e.contains("redb or sled"), "{e}");
        // Printed as their first name, read back the same.
        let c: Config = toml::from_str(&Config::default().to_toml()).unwrap();
        assert_eq!(c.server.min_tls_version, TlsVersion::Tls12);
        assert!(Config::default()
            .to_toml()
            .contains("min_tls_version = \"1.2\""));
    }

    #[test]
    fn remote_specs_and_definitions() {
        let r = RemoteConfig::from_spec("archive:tenant/a");
        assert_eq!(r.name.as_deref(), Some("archive"));
        assert_eq!(r.path, PathBuf::from("tenant/a"));
        let r = RemoteConfig::from_spec("archive:");
        assert_eq!(
            (r.name.as_deref(), r.path.as_os_str()),
            (Some("archive"), "".as_ref())
        );
        for local in ["/srv/data", "./a:b", "data", "/x/y:z"] {
            let r = RemoteConfig::from_spec(local);
            assert_eq!((r.name, r.path), (None, PathBuf::from(local)));
        }

        let c: Config = toml::from_str(
            "[remote]\nname = \"arc\"\n[remotes.arc]\ntype = \"s3\"\nbucket = \"b\"\n\
             port = 9000\nsecret_access_key = \"hunter2\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let def = &c.remotes["arc"];
        let opts: Vec<_> = def.options().collect();
        assert!(opts.contains(&("port".to_string(), "9000".to_string())));
        assert!(opts.contains(&("secret_access_key".to_string(), "hunter2".to_string())));
        let printed = c.to_toml();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("secret_access_key = \"***\""), "{printed}");
        // The index of a named remote is not inside a local directory of that name.
        assert!(c.index_dir().ends_with("s3gate/remotes/arc-s3gate_data"));

        let c = Config {
            remote: RemoteConfig::from_spec("nowhere:x"),
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("[remotes.nowhere]"));
    }

    #[test]
    fn a_remote_only_rclone_conf_defines_is_served_from_it() {
        let file = std::env::temp_dir().join(format!("s3gate-rclone-{}.conf", std::process::id()));
        std::fs::write(
            &file,
            "[store]\ntype = s3\nendpoint = http://10.0.0.5:8333\nsecret_access_key = hunter2\n\
             [docs]\ntype = alias\nremote = store:bkt/docs\n[disk]\ntype = alias\n\
             remote = /srv/data\n[archive]\ntype = s3\n[sealed]\ntype = crypt\n\
             remote = store:bkt/sealed\npassword = PASSWORD\nfilename_encoding = base16\n"
                .replace("PASSWORD", &crate::obscure::obscure_with_iv("pw", [1; 16])),
        )
        .unwrap();
        let serve = |spec: &str, own: &str| {
            let mut c: Config = toml::from_str(own).unwrap();
            c.remote = RemoteConfig::from_spec(spec);
            c.remote.rclone_config = Some(file.clone());
            c.resolve_remote().map(|()| c)
        };
        let c = serve("docs:2024", "").unwrap();
        c.validate().unwrap();
        assert_eq!(c.remote.name.as_deref(), Some("store"));
        assert_eq!(c.remote.path, PathBuf::from("bkt/docs/2024"));
        assert_eq!(c.remotes["store"].kind, "s3");
        let printed = c.to_toml();
        assert!(!printed.contains("hunter2"), "{printed}");
        let c = serve("disk:a/b", "").unwrap();
        assert_eq!(
            (c.remote.name, c.remote.path),
            (None, PathBuf::from("/srv/data/a/b"))
        );
        // s3gate's own definition comes first.
        let c = serve("archive:", "[remotes.archive]\ntype = \"memory\"\n").unwrap();
        assert_eq!(c.remotes["archive"].kind, "memory");
        let e = serve("nowhere:", "").unwrap_err().to_string();
        assert!(e.contains("[nowhere]"), "{e}");
        // A crypt remote's settings are checked before anything starts, wherever it is defined.
        let c = serve(
            "vault:",
            "[remotes.vault]\ntype = \"crypt\"\nremote = \"/srv/v\"\npassword = \"x\"\n",
        )
        .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("\"password\"") && e.contains("\"vault\""), "{e}");
        // A web server (and a crypt remote over one) is served read-only.
        assert!(!serve("docs:", "").unwrap().server.read_only);
        let own = "[remotes.site]\ntype = \"http\"\nurl = \"http://h/\"\n\
                   [remotes.sealedsite]\ntype = \"crypt\"\nremote = \"site:x\"\n";
        assert!(serve("site:", own).unwrap().server.read_only);
        assert!(serve("sealedsite:", own).unwrap().server.read_only);
        let e = serve("sealed:", "")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"filename_encoding\"") && e.contains("base16"),
            "{e}"
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn cache_modes() {
        let c: Config = toml::from_str("[vfs]\ncache_mode = \"Writes\"\n").unwrap();
        assert!(c.vfs.cache_mode.caches_writes());
        c.validate().unwrap();
        assert!(!CacheMode::Off.caches_writes());
        let c: Config = toml::from_str(
            "[vfs]\ncache_mode = \"full\"\nread_chunk_size = \"4M\"\ncache_max_size = \"10GiB\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert!(c.vfs.cache_mode.caches_reads() && c.vfs.cache_mode.caches_writes());
        assert_eq!(
            (c.vfs.read_chunk_size, c.vfs.cache_max_size),
            (4 << 20, 10 << 30)
        );
        let c: Config = toml::from_str("[vfs]\nread_chunk_size = 100\n").unwrap();
        assert!(c.validate().is_err());
        for mode in ["minimal", "writes", "full"] {
            let c: Config =
                toml::from_str(&format!("[vfs]\nfleet = true\ncache_mode = \"{mode}\"\n")).unwrap();
            let e = c
                .validate()
                .expect_err("a write cache in a fleet")
                .to_string();
            assert!(
                e.contains(&format!("--fleet with --vfs-cache-mode {mode}")),
                "{e}"
            );
            assert!(e.contains("404"), "{e}");
        }
        let c: Config = toml::from_str("[vfs]\nfleet = true\n").unwrap();
        c.validate().unwrap();
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
        assert!(parse_size("8X").is_err() && parse_size("").is_err());
        assert!(toml::from_str::<Config>("[vfs]\ncache_mode = \"some\"\n").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("1d").unwrap().as_secs(), 86400);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
    }
}
