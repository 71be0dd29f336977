//! s3gate's configuration: one [`Config`] that the daemon builds from defaults, an optional TOML
//! file and command-line flags (in that order of precedence, lowest first), validated once, then
//! handed read-only to the VFS and the S3 front end.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Everything the server needs to run.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub remote: RemoteConfig,
    pub vfs: VfsConfig,
    pub index: IndexConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listening address; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Path-style requests only (`/bucket/key`). When false, `bucket.<vhost domain>` is accepted too.
    pub force_path_style: bool,
    /// Domains under which virtual-hosted-style bucket names are recognised.
    pub vhost_domains: Vec<String>,
    /// Region reported by GetBucketLocation (`us-east-1` is reported as an empty constraint).
    pub region: String,
    /// Worker threads serving HTTP; 0 means one per core.
    pub workers: usize,
    /// PEM certificate chain; with `key`, the server speaks HTTPS only.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// PEM CA certificates: when set, clients must present a certificate signed by one of them.
    pub client_ca: Option<PathBuf>,
    /// The oldest TLS version accepted.
    pub min_tls_version: TlsVersion,
    /// The largest request line plus headers accepted, in bytes.
    pub max_header_bytes: usize,
    /// How long a client may take to send its headers, and may leave a body upload idle.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub read_timeout: std::time::Duration,
    /// How long a response may wait for a client that does not read it.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub write_timeout: std::time::Duration,
    /// How long an idle keep-alive connection stays open (a graceful stop waits for idle
    /// connections to close, so this also bounds how long a stop waits for idle clients).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub idle_timeout: std::time::Duration,
    /// Where Prometheus metrics, `/health` and `/ready` are served; none when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// How long a stop waits for requests in flight before closing their connections.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub shutdown_timeout: std::time::Duration,
}

/// The ceiling of `max_header_bytes`: the HTTP layer never buffers more than this for a head.
pub const MAX_HEADER_BYTES_LIMIT: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            force_path_style: true,
            vhost_domains: Vec::new(),
            region: "us-east-1".to_string(),
            workers: 0,
            cert: None,
            key: None,
            client_ca: None,
            min_tls_version: TlsVersion::Tls12,
            max_header_bytes: 64 * 1024,
            read_timeout: std::time::Duration::from_secs(60),
            idle_timeout: std::time::Duration::from_secs(5),
            write_timeout: std::time::Duration::from_secs(60),
            shutdown_timeout: std::time::Duration::from_secs(30),
            metrics_addr: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Access key / secret pairs. Empty (and no keys file) means anonymous access.
    pub keys: Vec<AuthKey>,
    /// A file of `ACCESS,SECRET` lines (`#` starts a comment), read at start and on reload.
    pub keys_file: Option<PathBuf>,
}

/// One `ACCESS,SECRET` credential.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    pub access_key: String,
    pub secret_key: String,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// The served directory: its sub-directories are buckets.
    pub path: PathBuf,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            path: PathBuf::from("s3gate-data"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VfsConfig {
    /// Keep parent folders that a delete leaves empty.
    pub no_cleanup: bool,
    /// How object ETags are computed.
    pub etag_hash: EtagHash,
    /// fsync each object (and its folder) before acknowledging a write.
    pub fsync: bool,
    /// How often the index is reconciled with the remote to pick up changes made by other programs.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub rescan_interval: std::time::Duration,
    /// Multipart uploads idle for longer than this are removed with their parts.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub multipart_expiry: std::time::Duration,
}

impl Default for VfsConfig {
    fn default() -> Self {
        VfsConfig {
            no_cleanup: false,
            etag_hash: EtagHash::Md5,
            fsync: true,
            rescan_interval: std::time::Duration::from_secs(300),
            multipart_expiry: std::time::Duration::from_secs(24 * 3600),
        }
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// Which key/value store holds the metadata index.
    pub store: MetaStoreKind,
    /// Where the index lives; default `<remote path>/.s3gate/`.
    pub path: Option<PathBuf>,
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

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(match self {
                    $($ty::$variant => [$($name),+][0]),+
                })
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

fn ser_duration<S: Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs()))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
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
        Ok(())
    }

    /// Adds the keys of `auth.keys_file` to `auth.keys` (called at start and on every reload).
    pub fn load_keys_file(&mut self) -> Result<(), ConfigError> {
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

    /// The configuration as TOML, secrets masked (`s3gate config check`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// Where the metadata index lives.
    pub fn index_dir(&self) -> PathBuf {
        self.index
            .path
            .clone()
            .unwrap_or_else(|| self.remote.path.join(".s3gate"))
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
    fn durations() {
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("1d").unwrap().as_secs(), 86400);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("m").is_err());
    }
}
