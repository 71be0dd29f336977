//! The command line: `s3gate serve [PATH]` and its flags, merged over the config file;
//! `s3gate config check FILE`. A served process reloads its keys and certificate on SIGHUP.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use s3gate_config::{Config, Flags, RemoteConfig};

#[derive(Parser)]
#[command(
    name = "s3gate",
    version,
    about = "Serve a directory (or another remote) over the Amazon S3 API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve PATH over S3: its folders are buckets, the files below them objects.
    Serve(Box<ServeArgs>),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work with the metadata index (the server must be stopped).
    #[command(subcommand)]
    Index(IndexCommand),
    /// Work with the write cache (the server must be stopped).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print the completion script of a shell, e.g. `s3gate completions bash >
    /// /etc/bash_completion.d/s3gate`.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff: `s3gate man | man -l -`), or write one page per command
    /// into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Tell what waits in the write cache to be uploaded to the remote.
    Stats(Box<ServeArgs>),
    /// Upload everything the write cache holds, then remove its folder.
    Clear(Box<ServeArgs>),
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Set the index aside and build a new one from the files. User metadata, content headers,
    /// checksums, multipart ETags and open multipart uploads are lost; the old index is kept.
    Rebuild(Box<ServeArgs>),
    /// List the keys kept in the store of keys, those a file tree cannot hold as plain files
    /// (`a` beside `a/b`, `a//b`, ...): bucket, key and size, one a line.
    Keys(Box<ServeArgs>),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate FILE (keys file and TLS files included) and print the effective configuration,
    /// secrets masked; with REMOTE, as `serve REMOTE` would serve it (a remote of rclone's
    /// configuration file shows as the remote it maps to).
    Check {
        file: Option<PathBuf>,
        #[arg(long, value_name = "REMOTE")]
        remote: Option<String>,
        #[arg(long, env = "S3GATE_RCLONE_CONFIG", value_name = "FILE")]
        rclone_config: Option<PathBuf>,
    },
}

/// What `serve` and the admin commands take: the remote, the configuration file, and the flag
/// of every setting (declared with the setting, in s3gate-config).
#[derive(Args)]
struct ServeArgs {
    /// The directory to serve (default: ./s3gate-data, created if missing), or NAME:PATH for
    /// a remote defined in the configuration file.
    #[arg(env = "S3GATE_PATH", value_name = "REMOTE")]
    path: Option<String>,
    /// Configuration file (TOML); flags override it.
    #[arg(long, env = "S3GATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: Flags,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then the flags. Run again on reload, so
    /// that a changed file (or keys file) takes effect under the same flags.
    fn to_config(&self) -> Result<Config, crate::Error> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(p) = &self.path {
            let rclone_config = c.remote.rclone_config.take();
            c.remote = RemoteConfig::from_spec(p);
            c.remote.rclone_config = rclone_config;
        }
        self.flags.apply(&mut c);
        c.resolve_remote()?;
        Ok(c)
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run_cli() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.to_config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("s3gate: {e}");
                    return 2;
                }
            };
            crate::logging::init(&config);
            serve(*args, config).await
        }
        Command::Index(IndexCommand::Rebuild(args)) => admin(&args, crate::rebuild_index).await,
        Command::Index(IndexCommand::Keys(args)) => admin(&args, crate::index_keys).await,
        Command::Cache(CacheCommand::Stats(args)) => admin(&args, crate::cache_stats).await,
        Command::Cache(CacheCommand::Clear(args)) => admin(&args, crate::cache_clear).await,
        Command::Completions { shell } => {
            // Made whole first: the generator panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "s3gate", &mut script);
            printed(print_out(&script), "the completion script")
        }
        Command::Man { dir } => printed(man(dir.as_deref()), "the manual"),
        Command::Config(ConfigCommand::Check {
            file,
            remote,
            rclone_config,
        }) => match check(file.as_deref(), remote.as_deref(), rclone_config) {
            Ok(text) => printed(print_out(text.as_bytes()), "the configuration"),
            Err(e) => {
                eprintln!("s3gate: {e}");
                2
            }
        },
    }
}

/// Writes the manual page of `s3gate` to stdout, or the pages of it and every subcommand into
/// `dir`.
fn man(dir: Option<&std::path::Path>) -> std::io::Result<()> {
    match dir {
        Some(dir) => clap_mangen::generate_to(Cli::command(), dir),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            print_out(&page)
        }
    }
}

/// Writes what a command prints to stdout. A reader that has gone (`s3gate man | head`) ends
/// the output, not the command: a closed pipe is no failure, and nothing is said of it.
fn print_out(text: &[u8]) -> std::io::Result<()> {
    write_out(&mut std::io::stdout().lock(), text)
}

fn write_out(out: &mut impl std::io::Write, text: &[u8]) -> std::io::Result<()> {
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done,
    }
}

/// The exit code of a command whose work was printing `what`: 1 when it could not be written.
fn printed(result: std::io::Result<()>, what: &str) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("s3gate: cannot write {what}: {e}");
            1
        }
    }
}

/// The one line that says what is served, where, to whom, with which cache and index; a
/// warning when anyone may do anything.
fn announce(server: &crate::Server, config: &Config) {
    let what = match &config.remote.name {
        None => format!("the directory {}", config.remote.path.display()),
        Some(name) => format!("the remote {name}:{}", config.remote.path.display()),
    };
    let scheme = match config.server.cert.is_some() {
        true => "https",
        false => "http",
    };
    let mut at = format!("{scheme}://{}", server.addr());
    if let Some(web) = server.web_addr() {
        at += &format!(" (console at {scheme}://{web}/)");
    }
    let mode = config.vfs.cache_mode;
    let index = config.index_dir();
    let index = index.display();
    if server.anonymous() {
        tracing::warn!(
            "serving {what} at {at} to ANYONE: no keys are configured, so every request is \
             served anonymously with full rights over every bucket (give --auth-key, \
             --auth-keys-file or --users-file to require signatures); cache mode {mode}, index \
             {index}"
        );
    } else {
        tracing::info!(
            "serving {what} at {at} to signed requests (SigV4, SigV2); cache mode {mode}, \
             index {index}"
        );
    }
}

/// Loads and validates a configuration as `serve [--config FILE] [REMOTE]` would.
fn check(
    file: Option<&std::path::Path>,
    remote: Option<&str>,
    rclone_config: Option<PathBuf>,
) -> Result<String, crate::Error> {
    let mut config = match file {
        Some(f) => Config::from_file(f)?,
        None => Config::default(),
    };
    if let Some(spec) = remote {
        config.remote = RemoteConfig::from_spec(spec);
    }
    if rclone_config.is_some() {
        config.remote.rclone_config = rclone_config;
    }
    config.resolve_remote()?;
    config.load_auth_files()?;
    config.validate()?;
    s3gate_s3api::check_tls(&config)?;
    Ok(config.to_toml())
}

/// Runs an administrative command on the configuration `args` make; prints what it says.
async fn admin<F, Fut>(args: &ServeArgs, command: F) -> i32
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = Result<String, crate::Error>>,
{
    let result = match args.to_config() {
        Ok(config) => command(config).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(text) => printed(print_out(text.as_bytes()), "the answer"),
        Err(e) => {
            eprintln!("s3gate: {e}");
            1
        }
    }
}

async fn serve(args: ServeArgs, config: Config) -> i32 {
    let server = match crate::start(config.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s3gate: {e}");
            return 1;
        }
    };
    announce(&server, &config);
    crate::notify::notify("READY=1");
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            eprintln!("s3gate: cannot install signal handlers");
            server.stop().await;
            return 1;
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match args.to_config() {
                Ok(new) => match server.reload(new).await {
                    Ok(()) => tracing::info!("reloaded keys, users and certificate"),
                    Err(e) => tracing::warn!(error = %e, "reload failed; the previous keys and certificate stay"),
                },
                Err(e) => tracing::warn!(error = %e, "reload failed; the previous keys and certificate stay"),
            },
        }
    }
    tracing::info!("shutting down");
    crate::notify::notify("STOPPING=1");
    server.stop().await;
    0
}

#[cfg(test)]
mod tests {
    use s3gate_config::{CacheMode, MetaStoreKind};

    use super::*;

    #[test]
    fn the_example_configuration_checks() {
        let example =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../s3gate.example.toml");
        let text = check(Some(&example), None, None).unwrap();
        // What check prints is itself a valid configuration, equal to the defaults here but
        // for the example remote, whose secret is masked.
        let mut printed: Config = toml::from_str(&text).unwrap();
        let archive = printed.remotes.remove("archive").unwrap();
        assert_eq!(archive.kind, "s3");
        assert!(text.contains("secret_access_key = \"***\""), "{text}");
        assert_eq!(printed.to_toml(), Config::default().to_toml());
    }

    #[test]
    fn completions_and_manual_come_from_the_command_line_definition() {
        Cli::command().debug_assert();
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "s3gate", &mut out);
            let text = String::from_utf8(out).unwrap();
            // fish names long options without their dashes.
            for word in ["serve", "vfs-cache-mode", "rebuild"] {
                assert!(text.contains(word), "{shell}: no {word}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        man(Some(dir.path())).unwrap();
        let serve = std::fs::read_to_string(dir.path().join("s3gate-serve.1")).unwrap();
        assert!(
            serve.contains(".SH SYNOPSIS") && serve.contains("vfs\\-cache\\-mode"),
            "{serve}"
        );
        assert!(dir.path().join("s3gate-index-rebuild.1").exists());
    }

    /// A writer whose reader has gone, or whose disk is full.
    struct Failing(std::io::ErrorKind);

    impl std::io::Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_quietly_and_other_failures_do_not() {
        let closed = write_out(&mut Failing(std::io::ErrorKind::BrokenPipe), b"page");
        assert!(closed.is_ok(), "{closed:?}");
        let full = write_out(&mut Failing(std::io::ErrorKind::StorageFull), b"page");
        assert_eq!(
            full.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::StorageFull)
        );
        assert_eq!(printed(Ok(()), "x"), 0);
        assert_eq!(printed(Err(std::io::ErrorKind::StorageFull.into()), "x"), 1);
    }

    #[test]
    fn flags_then_environment_then_file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[server]\nregion = \"from-file\"\nworkers = 3\n[vfs]\nrescan_interval = \"2m\"\n",
        )
        .unwrap();
        // Variables no other test reads (tests share the process environment).
        std::env::set_var("S3GATE_RESCAN_INTERVAL", "7m");
        std::env::set_var("S3GATE_WORKERS", "5");
        let cli = Cli::try_parse_from([
            "s3gate",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--workers",
            "9",
            "--max-uploads-per-bucket",
            "50",
        ])
        .unwrap();
        std::env::remove_var("S3GATE_RESCAN_INTERVAL");
        std::env::remove_var("S3GATE_WORKERS");
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let c = args.to_config().unwrap();
        assert_eq!(c.server.workers, 9, "the flag wins over the environment");
        assert_eq!(
            c.vfs.rescan_interval.as_secs(),
            420,
            "the environment wins over the file"
        );
        assert_eq!(
            c.server.region, "from-file",
            "the file wins over the default"
        );
        assert_eq!(c.vfs.multipart_expiry.as_secs(), 86400, "the default");
        assert_eq!(c.vfs.max_uploads_per_bucket, 50);
    }

    #[test]
    fn the_admin_commands_take_the_flags_of_serve() {
        let config = |argv: &[&str]| {
            let args = match Cli::try_parse_from(argv).unwrap().command {
                Command::Index(IndexCommand::Rebuild(a))
                | Command::Index(IndexCommand::Keys(a))
                | Command::Cache(CacheCommand::Stats(a))
                | Command::Cache(CacheCommand::Clear(a)) => a,
                _ => panic!("not an admin command"),
            };
            args.to_config().unwrap()
        };
        let c = config(&[
            "s3gate",
            "index",
            "rebuild",
            "/srv/data",
            "--meta-store",
            "sled",
            "--index-path",
            "/var/lib/s3gate-index",
        ]);
        assert_eq!(c.remote.path, PathBuf::from("/srv/data"));
        assert_eq!(c.index.store, MetaStoreKind::Sled);
        assert_eq!(c.index.path, Some(PathBuf::from("/var/lib/s3gate-index")));
        let c = config(&["s3gate", "cache", "clear", "--vfs-cache-mode", "writes"]);
        assert_eq!(c.vfs.cache_mode, CacheMode::Writes);
        let c = config(&["s3gate", "cache", "stats", "archive:", "--cache-dir", "/c"]);
        assert_eq!(c.remote.name.as_deref(), Some("archive"));
        assert_eq!(c.vfs.cache_dir, Some(PathBuf::from("/c")));
        let c = config(&[
            "s3gate",
            "index",
            "keys",
            "/srv/data",
            "--meta-store",
            "sled",
        ]);
        assert_eq!(c.remote.path, PathBuf::from("/srv/data"));
        assert_eq!(c.index.store, MetaStoreKind::Sled);
    }

    #[test]
    fn one_presigned_url_lifetime_from_the_file_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[auth]\npresigned_max_age = \"2h\"\n").unwrap();
        let age = |extra: &[&str]| {
            let mut argv = vec!["s3gate", "serve", "--config", file.to_str().unwrap()];
            argv.extend_from_slice(extra);
            let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not serve")
            };
            args.to_config().unwrap().auth.presigned_max_age.as_secs()
        };
        assert_eq!(age(&[]), 7200, "from the file");
        assert_eq!(age(&["--presigned-max-age", "10m"]), 600, "the flag wins");
        assert_eq!(
            Config::default().auth.presigned_max_age.as_secs(),
            7 * 86400,
            "S3's week by default"
        );
    }

    #[test]
    fn check_masks_secrets_and_names_bad_places() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "# rotated monthly\nFILEKEY,filesecret\n").unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            format!(
                "[auth]\nkeys = [\"AK,topsecret\"]\nkeys_file = {:?}\n",
                keys.display().to_string()
            ),
        )
        .unwrap();
        let text = check(Some(&file), None, None).unwrap();
        assert!(
            text.contains("AK,***") && text.contains("FILEKEY,***"),
            "{text}"
        );
        assert!(
            !text.contains("topsecret") && !text.contains("filesecret"),
            "{text}"
        );
        std::fs::write(&keys, "FILEKEY,ok\nbroken line\n").unwrap();
        let e = check(Some(&file), None, None).unwrap_err().to_string();
        assert!(e.contains("keys") && e.contains("line 2"), "{e}");
        std::fs::write(
            &file,
            "[server]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
        )
        .unwrap();
        let e = check(Some(&file), None, None).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
        std::fs::write(&file, "[server]\nread_timeout = \"soon\"\n").unwrap();
        let e = check(Some(&file), None, None).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("read_timeout"), "{e}");
    }

    #[test]
    fn config_check_shows_the_remote_rclone_conf_maps_to_with_secrets_masked() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("rclone.conf");
        let pass = s3gate_config::obscure::obscure_with_iv("dav-secret", [9; 16]);
        std::fs::write(
            &conf,
            format!("[dav]\ntype = webdav\nurl = http://h:1/\nuser = u\npass = {pass}\n"),
        )
        .unwrap();
        let text = check(None, Some("dav:"), Some(conf.clone())).unwrap();
        assert!(
            text.contains("[remotes.dav]") && text.contains("type = \"webdav\""),
            "{text}"
        );
        assert!(
            text.contains("password = \"***\"") && !text.contains("dav-secret"),
            "{text}"
        );
        std::fs::write(
            &conf,
            "[dav]\ntype = webdav\nurl = http://h:1/\nheaders = a,b\n",
        )
        .unwrap();
        let e = check(None, Some("dav:"), Some(conf))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"headers\"") && e.contains("\"dav\""), "{e}");
    }
}
