//! Every setting, declared once: its section and key in the configuration file, its type, its
//! default and its text, and for most of them a command-line flag with its `S3GATE_…`
//! environment variable. From that one table come the section structs of [`Config`] and their
//! `Default`, the [`Flags`] that `s3gate serve` and the admin commands take, and the merge of
//! those flags over a configuration; a test holds the README's flags table and
//! `s3gate.example.toml` to it, so a setting cannot be added undocumented.
//!
//! Precedence, highest first: the flag, its environment variable (clap reads it when the flag
//! is absent), the file, the default. A flag overrides only when it was given: an absent one,
//! an empty list or an unset switch leaves the file's value. A setting without a flag is read
//! from the file only; the served remote comes from `serve [REMOTE]` as a whole.
//!
//! A setting's doc comment is also its flag's help, so it is written for both readers; a
//! switch that names the opposite of its setting (`--no-fsync`) says so in `help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    parse_duration, parse_size, AuthKey, CacheMode, Config, EtagHash, LogFormat, MetaStoreKind,
    TlsVersion,
};

/// Writes the sections, [`Flags`] and [`Flags::apply`] from one list:
///
/// ```text
/// /// The section's text.
/// [section] SectionConfig, "Heading of its flags in --help" {
///     /// The setting's text: the rustdoc of the field and the help of its flag.
///     #[serde(…)]                              // optional: how the file spells the value
///     key: Type = default,
///         flag { #[arg(…)] ident: FlagType }   // optional; `sets VALUE` after it for a switch
/// }
/// ```
///
/// A flag's type is what clap parses: `Option<T>` for a setting of type `T` or `Option<T>`,
/// `Vec<T>` for a list, `bool` for a switch, which stores `VALUE` when given.
macro_rules! settings {
    ($(
        $(#[doc = $section_doc:tt])*
        [$section:ident] $Section:ident, $heading:tt {
            $(
                $(#[doc = $doc:tt])*
                $(#[serde $serde:tt])?
                $key:ident: $ty:ty = $default:expr
                $(, flag { $($flag:tt)* } $(sets $set:expr)?)?;
            )*
        }
    )*) => {
        $(
            $(#[doc = $section_doc])*
            #[derive(Debug, Clone, Deserialize, Serialize)]
            #[serde(deny_unknown_fields, default)]
            pub struct $Section {
                $(
                    $(#[doc = $doc])*
                    $(#[serde $serde])?
                    pub $key: $ty,
                )*
            }

            impl Default for $Section {
                fn default() -> Self {
                    $Section { $($key: $default),* }
                }
            }
        )*

        settings!(@flags [] $($($heading { $(#[doc = $doc])* $($($flag)*)? })*)*);

        impl Flags {
            /// Sets in `config` every setting whose flag (or environment variable) was given.
            pub fn apply(&self, config: &mut Config) {
                let flags = self;
                $($($(
                    settings!(@apply flags { $($flag)* } $(sets $set)? => config.$section.$key);
                )?)*)*
            }
        }

        /// Each setting as (section, key, the id of its flag in [`Flags`]).
        #[cfg(test)]
        const SETTINGS: &[(&str, &str, Option<&str>)] = &[
            $($((stringify!($section), stringify!($key), settings!(@id $($($flag)*)?)),)*)*
        ];
    };

    // The flags, gathered one setting at a time: clap needs each field's type as written.
    (@flags [$($fields:tt)*]) => {
        /// The flag of every setting that has one, as `serve` and the admin commands take it.
        #[derive(clap::Args)]
        pub struct Flags {
            $($fields)*
        }
    };
    (@flags [$($fields:tt)*] $heading:tt {
        $(#[doc = $doc:tt])* $(#[arg $arg:tt])+ $flag:ident: $($ty:tt)+
    } $($rest:tt)*) => {
        settings!(@flags [
            $($fields)*
            $(#[doc = $doc])* $(#[arg $arg])+ #[arg(help_heading = $heading)] $flag: $($ty)+,
        ] $($rest)*);
    };
    (@flags [$($fields:tt)*] $heading:tt { $(#[doc = $doc:tt])* } $($rest:tt)*) => {
        settings!(@flags [$($fields)*] $($rest)*);
    };

    (@apply $flags:ident { $(#[arg $arg:tt])+ $flag:ident: $($ty:tt)+ } => $setting:expr) => {
        Override::apply(&$flags.$flag, &mut $setting)
    };
    (@apply $flags:ident { $(#[arg $arg:tt])+ $flag:ident: bool } sets $set:expr
        => $setting:expr) => {
        if $flags.$flag {
            $setting = $set;
        }
    };

    (@id $(#[arg $arg:tt])+ $flag:ident: $($ty:tt)+) => { Some(stringify!($flag)) };
    (@id) => { None };
}

/// How a flag's value replaces the file's: only when the flag was given.
trait Override<T> {
    fn apply(&self, setting: &mut T);
}

impl<T: Clone> Override<T> for Option<T> {
    fn apply(&self, setting: &mut T) {
        if let Some(v) = self {
            *setting = v.clone();
        }
    }
}

impl<T: Clone> Override<Option<T>> for Option<T> {
    fn apply(&self, setting: &mut Option<T>) {
        if self.is_some() {
            setting.clone_from(self);
        }
    }
}

impl<T: Clone> Override<Vec<T>> for Vec<T> {
    fn apply(&self, setting: &mut Vec<T>) {
        if !self.is_empty() {
            setting.clone_from(self);
        }
    }
}

settings! {
    /// The HTTP(S) listener.
    [server] ServerConfig, "Server" {
        /// Address to listen on; port 0 picks a free one.
        addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)),
            flag { #[arg(long, env = "S3GATE_ADDR")] addr: Option<SocketAddr> };
        /// Accept only path-style requests (`/bucket/key`); false also accepts
        /// `bucket.<vhost domain>`.
        force_path_style: bool = true,
            flag { #[arg(long, env = "S3GATE_FORCE_PATH_STYLE")] force_path_style: Option<bool> };
        /// Domain under which virtual-hosted-style bucket names are recognised; repeat for several.
        vhost_domains: Vec<String> = Vec::new(),
            flag {
                #[arg(long = "vhost-domain", env = "S3GATE_VHOST_DOMAIN", value_delimiter = ',')]
                vhost_domains: Vec<String>
            };
        /// Refuse every request that would change anything (data or configuration) with
        /// `AccessDenied`, as rclone's `--read-only` does.
        read_only: bool = false,
            flag { #[arg(long, env = "S3GATE_READ_ONLY")] read_only: bool } sets true;
        /// Region reported to clients (GetBucketLocation reports `us-east-1` as an empty
        /// constraint).
        region: String = "us-east-1".to_string(),
            flag { #[arg(long, env = "S3GATE_REGION")] region: Option<String> };
        /// HTTP worker threads; 0 is one per core.
        workers: usize = 0,
            flag { #[arg(long, env = "S3GATE_WORKERS")] workers: Option<usize> };
        /// TLS certificate chain (PEM); with its key, the server speaks HTTPS only.
        cert: Option<PathBuf> = None,
            flag { #[arg(long, env = "S3GATE_TLS_CERT")] cert: Option<PathBuf> };
        /// TLS private key (PEM) of the certificate.
        key: Option<PathBuf> = None,
            flag { #[arg(long, env = "S3GATE_TLS_KEY")] key: Option<PathBuf> };
        /// CA certificates (PEM) that client certificates must chain to (mutual TLS; needs
        /// HTTPS).
        client_ca: Option<PathBuf> = None,
            flag { #[arg(long, env = "S3GATE_TLS_CLIENT_CA")] client_ca: Option<PathBuf> };
        /// Oldest TLS version accepted: 1.2 or 1.3.
        min_tls_version: TlsVersion = TlsVersion::Tls12,
            flag {
                #[arg(long, env = "S3GATE_MIN_TLS_VERSION")]
                min_tls_version: Option<TlsVersion>
            };
        /// Largest request head (request line and headers) accepted, in bytes.
        max_header_bytes: usize = 64 * 1024,
            flag { #[arg(long, env = "S3GATE_MAX_HEADER_BYTES")] max_header_bytes: Option<usize> };
        /// How long a client may take to send its headers, or leave an upload idle (e.g. 60s).
        #[serde(with = "crate::duration")]
        read_timeout: Duration = Duration::from_secs(60),
            flag {
                #[arg(long, env = "S3GATE_READ_TIMEOUT", value_parser = parse_duration)]
                read_timeout: Option<Duration>
            };
        /// How long a response may wait for a client that does not read it (e.g. 60s).
        #[serde(with = "crate::duration")]
        write_timeout: Duration = Duration::from_secs(60),
            flag {
                #[arg(long, env = "S3GATE_WRITE_TIMEOUT", value_parser = parse_duration)]
                write_timeout: Option<Duration>
            };
        /// How long an idle keep-alive connection stays open (e.g. 5s). A stop closes idle
        /// connections at once.
        #[serde(with = "crate::duration")]
        idle_timeout: Duration = Duration::from_secs(5),
            flag {
                #[arg(long, env = "S3GATE_IDLE_TIMEOUT", value_parser = parse_duration)]
                idle_timeout: Option<Duration>
            };
        /// Serve Prometheus metrics, /health and /ready on this address (none when unset).
        metrics_addr: Option<SocketAddr> = None,
            flag { #[arg(long, env = "S3GATE_METRICS_ADDR")] metrics_addr: Option<SocketAddr> };
        /// Serve the web console on this address (none when unset): a browser signs in with an
        /// access key and secret and acts as that key's S3 requests would.
        web_addr: Option<SocketAddr> = None,
            flag { #[arg(long, env = "S3GATE_WEB_ADDR")] web_addr: Option<SocketAddr> };
        /// How long a stop waits for requests in flight before closing their connections
        /// (e.g. 30s).
        #[serde(with = "crate::duration")]
        shutdown_timeout: Duration = Duration::from_secs(30),
            flag {
                #[arg(long, env = "S3GATE_SHUTDOWN_TIMEOUT", value_parser = parse_duration)]
                shutdown_timeout: Option<Duration>
            };
        /// Origin whose browser requests every bucket without CORS rules of its own allows
        /// (`*` for any): GET, HEAD, PUT, POST and DELETE, any header, ETag readable.
        allow_origin: Option<String> = None,
            flag { #[arg(long, env = "S3GATE_ALLOW_ORIGIN")] allow_origin: Option<String> };
    }

    /// Who may send requests.
    [auth] AuthConfig, "Authentication" {
        /// ACCESS,SECRET credentials; repeat for several (in S3GATE_AUTH_KEY, separate them
        /// with `;`). Without any (and no keys file), access is anonymous.
        keys: Vec<AuthKey> = Vec::new(),
            flag {
                #[arg(
                    long = "auth-key",
                    value_name = "ACCESS,SECRET",
                    env = "S3GATE_AUTH_KEY",
                    value_delimiter = ';',
                    hide_env_values = true
                )]
                auth_keys: Vec<AuthKey>
            };
        /// File of ACCESS,SECRET lines (`#` starts a comment), read at start and again on
        /// SIGHUP.
        keys_file: Option<PathBuf> = None,
            flag {
                #[arg(long, env = "S3GATE_AUTH_KEYS_FILE", value_name = "FILE")]
                auth_keys_file: Option<PathBuf>
            };
        /// TOML file of `[[users]]` (access_key, secret_key, display_name, canonical_id, email,
        /// read_only, buckets), read at start and again on SIGHUP.
        users_file: Option<PathBuf> = None,
            flag {
                #[arg(long, env = "S3GATE_USERS_FILE", value_name = "FILE")]
                users_file: Option<PathBuf>
            };
        /// The longest a presigned URL (SigV4 or SigV2) may stay valid: from its signing
        /// (SigV4) or from the request (SigV2, which names only its end). 7d, as S3.
        #[serde(with = "crate::duration")]
        presigned_max_age: Duration = Duration::from_secs(7 * 24 * 3600),
            flag {
                #[arg(long, env = "S3GATE_PRESIGNED_MAX_AGE", value_parser = parse_duration)]
                presigned_max_age: Option<Duration>
            };
    }

    /// What is served; `serve [REMOTE]` sets it on the command line.
    [remote] RemoteConfig, "Remote" {
        /// The served directory: its sub-directories are buckets. Under a named remote, the
        /// path within it (empty: its root).
        path: PathBuf = PathBuf::from("s3gate-data");
        /// A remote of `[remotes]` to serve instead of a local directory.
        name: Option<String> = None;
        /// rclone's configuration file, where a remote that `[remotes]` does not define is
        /// looked for (default: where rclone looks, `RCLONE_CONFIG` first).
        rclone_config: Option<PathBuf> = None,
            flag {
                #[arg(long, env = "S3GATE_RCLONE_CONFIG", value_name = "FILE")]
                rclone_config: Option<PathBuf>
            };
    }

    /// How objects are stored, cached and kept in step with the remote.
    [vfs] VfsConfig, "Storage and cache" {
        /// Keep folders that deletes leave empty.
        no_cleanup: bool = false,
            flag { #[arg(long, env = "S3GATE_NO_CLEANUP")] no_cleanup: bool } sets true;
        /// ETag of single-part objects: md5 (as S3), blake3 (faster; not an MD5) or none.
        etag_hash: EtagHash = EtagHash::Md5,
            flag { #[arg(long, env = "S3GATE_ETAG_HASH")] etag_hash: Option<EtagHash> };
        /// fsync each object (and its folder) before acknowledging a write, and the folder of
        /// a delete.
        fsync: bool = true,
            flag {
                #[arg(
                    long,
                    env = "S3GATE_NO_FSYNC",
                    help = "Acknowledge writes and deletes before they are fsync'ed (faster; a \
                            power cut loses recent writes and can bring back recent deletes)"
                )]
                no_fsync: bool
            } sets false;
        /// A PUT of at most this many bytes to a local directory (0: off; e.g. 64K) is
        /// acknowledged once its body and record are committed together in the index, whose
        /// commits many PUTs share; its file is written after the commit without fsync, and a
        /// checkpoint (syncfs) about once a second makes the files durable and trims the log.
        /// Versioned buckets, the write cache, named remotes and `--no-fsync` keep the usual path.
        #[serde(with = "crate::size")]
        small_put_log: u64 = 0,
            flag {
                #[arg(long, env = "S3GATE_SMALL_PUT_LOG", value_parser = parse_size)]
                small_put_log: Option<u64>
            };
        /// A testing aid, never for production: keep in this folder a copy of only what the
        /// server has made durable (each fsync, folder sync, syncfs and index commit), so that
        /// a test can start a server on it as the disk would be after a power cut.
        power_cut_shadow: Option<PathBuf> = None,
            flag {
                #[arg(long, env = "S3GATE_POWER_CUT_SHADOW", value_name = "DIR")]
                power_cut_shadow: Option<PathBuf>
            };
        /// How often to pick up changes made to the remote by other programs (e.g. 5m).
        /// (`--dir-cache-time` says the same, as in rclone: listings are served from the index
        /// and refreshed from the remote this often; a named remote's buckets are known for as
        /// long.)
        #[serde(with = "crate::duration")]
        rescan_interval: Duration = Duration::from_secs(300),
            flag {
                #[arg(
                    long,
                    env = "S3GATE_RESCAN_INTERVAL",
                    value_parser = parse_duration,
                    visible_alias = "dir-cache-time"
                )]
                rescan_interval: Option<Duration>
            };
        /// Other gateways serve the same remote: listings are then checked against the remote
        /// at most a second before they are served, what is kept about an object and a
        /// bucket's configuration live on the remote, versions and their object lock are kept
        /// on the store, and what would keep state in this gateway alone is refused (the write
        /// cache, at start).
        fleet: bool = false,
            flag { #[arg(long, env = "S3GATE_FLEET")] fleet: bool } sets true;
        /// Remove multipart uploads idle for longer than this, with their parts (e.g. 24h).
        #[serde(with = "crate::duration")]
        multipart_expiry: Duration = Duration::from_secs(24 * 3600),
            flag {
                #[arg(long, env = "S3GATE_MULTIPART_EXPIRY", value_parser = parse_duration)]
                multipart_expiry: Option<Duration>
            };
        /// How long "a day" lasts for bucket lifecycle rules (e.g. 24h): a testing aid, so
        /// that a rule's Days pass in seconds. Rules fall due at multiples of it since the
        /// Unix epoch, as S3's fall due at midnight UTC.
        #[serde(with = "crate::duration")]
        lifecycle_day: Duration = Duration::from_secs(24 * 3600),
            flag {
                #[arg(long, env = "S3GATE_LIFECYCLE_DAY", value_parser = parse_duration)]
                lifecycle_day: Option<Duration>
            };
        /// The most multipart uploads a bucket may have open at once (0: no limit): each holds
        /// records and a staging folder until completed, aborted or expired.
        max_uploads_per_bucket: u64 = 10_000,
            flag {
                #[arg(long, env = "S3GATE_MAX_UPLOADS_PER_BUCKET")]
                max_uploads_per_bucket: Option<u64>
            };
        /// Where the state of a named remote (its index) lives (default:
        /// $XDG_CACHE_HOME/s3gate or ~/.cache/s3gate).
        cache_dir: Option<PathBuf> = None,
            flag { #[arg(long, env = "S3GATE_CACHE_DIR")] cache_dir: Option<PathBuf> };
        /// What is cached on local disk: off; minimal/writes (uploads land locally, are
        /// acknowledged once durable there, and are written back to the remote); full (writes,
        /// and reads are kept in chunks).
        cache_mode: CacheMode = CacheMode::Off,
            flag { #[arg(long, env = "S3GATE_VFS_CACHE_MODE")] vfs_cache_mode: Option<CacheMode> };
        /// How long a cached upload waits before it is written back to the remote (e.g. 5s).
        #[serde(with = "crate::duration")]
        write_back: Duration = Duration::from_secs(5),
            flag {
                #[arg(long, env = "S3GATE_VFS_WRITE_BACK", value_parser = parse_duration)]
                vfs_write_back: Option<Duration>
            };
        /// full: the pieces in which objects are read from the remote and kept (e.g. 8M).
        #[serde(with = "crate::size")]
        read_chunk_size: u64 = 8 << 20,
            flag {
                #[arg(long, env = "S3GATE_VFS_READ_CHUNK_SIZE", value_parser = parse_size)]
                vfs_read_chunk_size: Option<u64>
            };
        /// full: how far past a sequential read the next pieces are fetched (e.g. 16M).
        #[serde(with = "crate::size")]
        read_ahead: u64 = 16 << 20,
            flag {
                #[arg(long, env = "S3GATE_VFS_READ_AHEAD", value_parser = parse_size)]
                vfs_read_ahead: Option<u64>
            };
        /// full: the most the read cache keeps (e.g. 10G; 0: no limit); the least recently
        /// read objects go first.
        #[serde(with = "crate::size")]
        cache_max_size: u64 = 0,
            flag {
                #[arg(long, env = "S3GATE_VFS_CACHE_MAX_SIZE", value_parser = parse_size)]
                vfs_cache_max_size: Option<u64>
            };
        /// full: the most the read cache keeps in memory, the most recently read chunks, on top
        /// of its disk (e.g. 256M; 0: none).
        #[serde(with = "crate::size")]
        cache_mem_size: u64 = 64 << 20,
            flag {
                #[arg(long, env = "S3GATE_VFS_CACHE_MEM_SIZE", value_parser = parse_size)]
                vfs_cache_mem_size: Option<u64>
            };
        /// full: objects not read for this long leave the read cache (e.g. 1h).
        #[serde(with = "crate::duration")]
        cache_max_age: Duration = Duration::from_secs(3600),
            flag {
                #[arg(long, env = "S3GATE_VFS_CACHE_MAX_AGE", value_parser = parse_duration)]
                vfs_cache_max_age: Option<Duration>
            };
        /// full: how long a cached object's version, once checked with the remote, is
        /// trusted: GETs within it are served from the cache without asking the remote (0:
        /// every GET checks first). A change made by another writer meanwhile shows once it
        /// has passed.
        #[serde(with = "crate::duration")]
        cache_trust: Duration = Duration::from_secs(60),
            flag {
                #[arg(long, env = "S3GATE_VFS_CACHE_TRUST", value_parser = parse_duration)]
                vfs_cache_trust: Option<Duration>
            };
        /// full: the read cache shrinks while its filesystem has less free space than this
        /// (e.g. 1G).
        #[serde(with = "crate::size")]
        cache_min_free_space: u64 = 0,
            flag {
                #[arg(long, env = "S3GATE_VFS_CACHE_MIN_FREE_SPACE", value_parser = parse_size)]
                vfs_cache_min_free_space: Option<u64>
            };
    }

    /// The metadata index.
    [index] IndexConfig, "Index" {
        /// Which key/value store holds the metadata index: redb or sled.
        store: MetaStoreKind = MetaStoreKind::Redb,
            flag { #[arg(long, env = "S3GATE_META_STORE")] meta_store: Option<MetaStoreKind> };
        /// Where the metadata index lives (default: PATH/.s3gate, or under the cache
        /// directory for a named remote).
        path: Option<PathBuf> = None,
            flag { #[arg(long, env = "S3GATE_INDEX_PATH")] index_path: Option<PathBuf> };
    }

    /// What is logged, and how.
    [log] LogConfig, "Logging" {
        /// Log filter: error, warn, info, debug, trace, or a tracing filter (default info).
        level: String = "info".into(),
            flag { #[arg(long, env = "S3GATE_LOG_LEVEL")] log_level: Option<String> };
        /// Log lines as text or JSON.
        format: LogFormat = LogFormat::Text,
            flag { #[arg(long, env = "S3GATE_LOG_FORMAT")] log_format: Option<LogFormat> };
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Args;

    use super::*;

    fn read(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The `--flags` named in the first column of the README's flags table.
    fn readme_flags(readme: &str) -> BTreeSet<String> {
        let table = readme
            .split("\n## Flags\n")
            .nth(1)
            .expect("a Flags section")
            .split("\n\n")
            .find(|block| block.trim_start().starts_with('|'))
            .expect("a table in the Flags section");
        table
            .lines()
            .filter_map(|row| row.split('|').nth(1))
            .flat_map(|cell| cell.split("`--").skip(1))
            .map(|flag| {
                flag.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect()
            })
            .collect()
    }

    /// The (section, key) pairs that `s3gate.example.toml` shows, set or commented out.
    fn example_keys(example: &str) -> BTreeSet<(String, String)> {
        let mut section = String::new();
        let mut keys = BTreeSet::new();
        for line in example.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
            } else if let Some((key, _)) = line.trim_start_matches("# ").split_once(" = ") {
                if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    keys.insert((section.clone(), key.to_string()));
                }
            }
        }
        keys
    }

    #[test]
    fn every_setting_is_documented_with_its_flag_and_variable() {
        let readme = read("README.md");
        let documented = readme_flags(&readme);
        let example = example_keys(&read("s3gate.example.toml"));
        let command = Flags::augment_args(clap::Command::new("s3gate"));
        let mut flags = BTreeSet::new();
        for &(section, key, id) in SETTINGS {
            assert!(
                example.contains(&(section.to_string(), key.to_string())),
                "s3gate.example.toml does not show [{section}] {key}"
            );
            let Some(id) = id else { continue };
            let arg = command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("no flag {id}"));
            let long = arg.get_long().expect("a long flag");
            assert!(
                documented.contains(long),
                "the README's flags table has no row for --{long} ([{section}] {key})"
            );
            // The README states the rule and names each exception.
            let env = arg.get_env().and_then(|e| e.to_str()).expect("a variable");
            let by_rule = format!("S3GATE_{}", long.to_uppercase().replace('-', "_"));
            assert!(
                env == by_rule || readme.contains(&format!("`{env}`")),
                "--{long} reads {env}, which the README does not name"
            );
            flags.insert(long.to_string());
        }
        // `--config` belongs to the command, not to a setting.
        flags.insert("config".to_string());
        let stale: Vec<_> = documented.difference(&flags).collect();
        assert!(
            stale.is_empty(),
            "the README documents unknown flags {stale:?}"
        );
    }

    #[test]
    fn a_flag_overrides_only_when_given() {
        let mut config = Config::default();
        config.server.cert = Some("file.pem".into());
        config.server.vhost_domains = vec!["file.example".into()];
        config.vfs.fsync = true;
        let parse = |argv: &[&str]| {
            let command = Flags::augment_args(clap::Command::new("s3gate").no_binary_name(true));
            let matches = command.try_get_matches_from(argv).unwrap();
            <Flags as clap::FromArgMatches>::from_arg_matches(&matches).unwrap()
        };
        let mut c = config.clone();
        parse(&[]).apply(&mut c);
        assert_eq!(c.to_toml(), config.to_toml(), "no flag, nothing changes");
        parse(&[
            "--no-fsync",
            "--no-cleanup",
            "--vhost-domain",
            "a.test,b.test",
        ])
        .apply(&mut c);
        assert!(!c.vfs.fsync && c.vfs.no_cleanup);
        assert_eq!(c.server.vhost_domains, ["a.test", "b.test"]);
        assert_eq!(c.server.cert, Some("file.pem".into()));
        parse(&["--cert", "flag.pem", "--vfs-read-chunk-size", "1M"]).apply(&mut c);
        assert_eq!(c.server.cert, Some("flag.pem".into()));
        assert_eq!(c.vfs.read_chunk_size, 1 << 20);
    }
}
