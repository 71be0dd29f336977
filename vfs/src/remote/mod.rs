//! Where objects really live. A remote knows paths (`bucket/a/b`), bytes and folders; it knows
//! nothing of S3. Paths handed to a remote have been validated by `key.rs`.

#[cfg(feature = "opendal")]
mod b2;
mod crypt;
mod dirsync;
#[cfg(feature = "opendal")]
mod ftp;
#[cfg(feature = "opendal")]
mod http;
mod local;
#[cfg(feature = "opendal")]
mod opendal;
#[cfg(feature = "opendal")]
mod s3_meta;
#[cfg(feature = "opendal")]
mod sftp_put;
#[cfg(feature = "opendal")]
mod stream_put;

use std::io;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub(crate) use local::read_exact_at;
pub use local::LocalFs;
#[cfg(feature = "opendal")]
pub use opendal::OpendalRemote;

/// The remote `config` serves: a local directory, or a remote of `[remotes]`.
pub(crate) fn open(config: &s3gate_config::Config) -> io::Result<std::sync::Arc<dyn Remote>> {
    let Some(name) = &config.remote.name else {
        let root = &config.remote.path;
        let tmp = root.join(crate::key::RESERVED_DIR).join("tmp");
        return Ok(std::sync::Arc::new(LocalFs::new(
            root,
            &tmp,
            config.vfs.fsync,
        )?));
    };
    open_named(config, name, &config.remote.path.to_string_lossy(), 0)
}

/// The remote `name` of the configuration, serving `path` below its own root; `depth` counts the
/// crypt remotes wrapped around it.
fn open_named(
    config: &s3gate_config::Config,
    name: &str,
    path: &str,
    depth: usize,
) -> io::Result<std::sync::Arc<dyn Remote>> {
    let def = config.remotes.get(name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("remote {name:?} is not defined in the configuration"),
        )
    })?;
    match def.kind.as_str() {
        "crypt" => crypt::open(config, name, def, path, depth),
        _ => open_service(def, path),
    }
}

#[cfg(feature = "opendal")]
fn open_service(
    def: &s3gate_config::RemoteDef,
    path: &str,
) -> io::Result<std::sync::Arc<dyn Remote>> {
    // Servers the server speaks to itself, with options of its own.
    match def.kind.as_str() {
        "ftp" => {
            return Ok(std::sync::Arc::new(ftp::FtpRemote::new(
                def.options(),
                path,
            )?))
        }
        "http" => {
            return Ok(std::sync::Arc::new(http::HttpRemote::new(
                def.options(),
                path,
            )?))
        }
        _ => {}
    }
    let mut options: Vec<(String, String)> = def.options().filter(|(k, _)| k != "root").collect();
    let root = def
        .options()
        .find(|(k, _)| k == "root")
        .map_or_else(String::new, |(_, v)| v);
    // An object store named without its bucket serves the bucket the path starts with, as
    // rclone does (`store:bucket/dir`).
    let mut path = path.trim_matches('/');
    if let Some(name) = bucket_option(&def.kind) {
        if !options.iter().any(|(k, _)| k == name) {
            let (bucket, rest) = path.split_once('/').unwrap_or((path, ""));
            if bucket.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a {} remote serves one {name}: name it in the configuration or as \
                         the first folder of the path (REMOTE:{name}/path)",
                        def.kind
                    ),
                ));
            }
            options.push((name.to_string(), bucket.to_string()));
            path = rest;
        }
    }
    if def.kind == "b2" && !options.iter().any(|(k, _)| k == "bucket_id") {
        let option = |name: &str| {
            options
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let id = b2::bucket_id(
            option("application_key_id"),
            option("application_key"),
            option("bucket"),
        )?;
        options.push(("bucket_id".into(), id));
    }
    // The served path sits under the remote's own root.
    let root = format!("/{}/{}", root.trim_matches('/'), path);
    options.push(("root".into(), root.replace("//", "/")));
    Ok(std::sync::Arc::new(OpendalRemote::new(&def.kind, options)?))
}

/// The value of OpenDAL option `name` among `options`, as the services' own requests need it.
#[cfg(feature = "opendal")]
fn option<'a>(options: &'a [(String, String)], name: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The option that names an object store's bucket, for the services that have one.
#[cfg(feature = "opendal")]
fn bucket_option(kind: &str) -> Option<&'static str> {
    match kind {
        "s3" | "gcs" | "b2" => Some("bucket"),
        "azblob" | "swift" => Some("container"),
        _ => None,
    }
}

#[cfg(not(feature = "opendal"))]
fn open_service(
    def: &s3gate_config::RemoteDef,
    _path: &str,
) -> io::Result<std::sync::Arc<dyn Remote>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "remote type {:?}: this build serves local directories and crypt remotes over them \
             only (feature `opendal`)",
            def.kind
        ),
    ))
}

pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// Identifies one version of a file: if any part changes, the content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// File identity (inode on a local filesystem), 0 where the remote has none.
    #[serde(default)]
    pub id: u64,
}

impl Fingerprint {
    pub fn modified(&self) -> SystemTime {
        time_from_ns(self.mtime_ns)
    }
}

/// Nanoseconds since the Unix epoch (as records keep times) to a time; before 1970 is 1970.
pub(crate) fn time_from_ns(ns: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64)
}

/// A time to nanoseconds since the Unix epoch; before 1970 is 0.
pub(crate) fn ns_from_time(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// What a remote says about one name.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub fingerprint: Fingerprint,
    /// When the entry came to be, where the remote knows (folder creation for buckets).
    pub created: SystemTime,
}

/// What must be at an upload's destination for it to be published: nothing, or the version a
/// caller saw there. Where the remote writes conditionally itself, writers on other servers of
/// the same remote cannot both win.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCond {
    Absent,
    Is(Fingerprint),
}

/// Whatever a writer must keep alive until its writes have landed.
pub type KeepAlive = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// One piece of a [`Remote::concat`]: a file, or a range of it, optionally pinned to a version.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    /// When set, the file must still be this version, else the concatenation fails (`ESTALE`).
    pub pinned: Option<Fingerprint>,
    /// (offset, length) of the bytes wanted; the whole file when `None`.
    pub range: Option<(u64, u64)>,
}

impl Source {
    pub fn file(path: String, pinned: Option<Fingerprint>) -> Source {
        Source {
            path,
            pinned,
            range: None,
        }
    }
}

/// An open file, pinned to the version that was stat'ed when it was opened.
pub trait Reader: Send + Sync {
    fn fingerprint(&self) -> Fingerprint;
    /// Another reader of the same pinned version (for reading several ranges).
    fn clone_box(&self) -> Box<dyn Reader>;
    /// The MD5 of the content (hex), where the remote keeps it and says so: no need to read
    /// the object to learn it.
    fn known_md5(&self) -> Option<String> {
        None
    }
    /// What the writer of this version gave [`Remote::create_with_meta`], where the remote
    /// keeps it.
    fn store_meta(&self) -> Option<&str> {
        None
    }
    /// Streams `len` bytes from `offset`.
    fn stream(self: Box<Self>, offset: u64, len: u64) -> ByteStream;
}

/// An object being written: invisible until [`Upload::commit`].
#[async_trait]
pub trait Upload: Send {
    async fn write(&mut self, data: Bytes) -> io::Result<()>;
    /// Flushes (and with `sync`, makes durable) everything written; returns the fingerprint the
    /// object will have once committed.
    async fn finish(&mut self, sync: bool) -> io::Result<Fingerprint>;
    /// Atomically publishes the finished object at `path`, creating parent folders, replacing any
    /// object there, and returns its fingerprint, which is final only now on remotes that assign
    /// versions on publishing. `then` gets that fingerprint right after the object becomes
    /// visible, in the same task, so that a cancelled request cannot publish the object without
    /// what `then` records. An upload made by [`Remote::write_at`] is already in place: `path`
    /// is ignored and only `then` runs.
    async fn commit(
        self: Box<Self>,
        path: &str,
        sync: bool,
        then: Box<dyn FnOnce(Fingerprint) + Send>,
    ) -> io::Result<Fingerprint>;
    /// Discards what was written.
    async fn abort(self: Box<Self>);
    /// This upload as its own type, for the remote that made it to do more with it at once
    /// ([`Remote::publish_after_move`]); `None` where no remote does.
    fn as_any(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }
}

#[async_trait]
pub trait Remote: Send + Sync + 'static {
    /// Whether a folder is only a prefix of the names below it (object stores), so that an
    /// object and a folder of the same name never conflict.
    fn folders_are_prefixes(&self) -> bool {
        false
    }

    /// The largest object the remote takes.
    fn max_object_size(&self) -> u64 {
        u64::MAX
    }

    /// Whether the value given to [`Remote::create_with_meta`] is kept with the object and read
    /// back by [`Reader::store_meta`].
    fn keeps_meta(&self) -> bool {
        false
    }

    /// The size past which an object written in one upload here surely reaches the store in
    /// parts, so that the store's ETag of it is made of theirs, never the MD5 of its bytes
    /// (`Reader::known_md5` says nothing then). `u64::MAX` where no size does.
    fn parts_etag_above(&self) -> u64 {
        u64::MAX
    }
    /// The entry at `path`, or `None`: also for what is neither a file nor a folder.
    async fn stat(&self, path: &str) -> io::Result<Option<Entry>>;
    /// Opens a file for reading, never waiting for another program; `None` when missing or not
    /// a file.
    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>>;
    /// The entries of one folder, unsorted; an error when it does not exist.
    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>>;
    /// Starts writing a new object that will be committed at `dest`: remotes whose writes are
    /// atomic by nature stream straight there.
    async fn create(&self, dest: &str) -> io::Result<Box<dyn Upload>>;
    /// [`Remote::create`], the object carrying `meta` (ASCII) in the remote's own metadata of
    /// it where the remote keeps such, so that any server of the remote reads it back with the
    /// object ([`Reader::store_meta`]); elsewhere the same as `create`.
    async fn create_with_meta(&self, dest: &str, meta: &str) -> io::Result<Box<dyn Upload>> {
        let _ = meta;
        self.create(dest).await
    }
    /// [`Remote::create`], carrying `meta` where given as [`Remote::create_with_meta`] does,
    /// published only while `cond` holds at `dest`, which the remote checks itself at the moment
    /// of writing where it offers conditional writes (`ESTALE` when it does not hold then, or no
    /// longer held before). Elsewhere `cond` is not checked: the caller's check under its own key
    /// lock is all there is, which other servers of the remote do not take.
    async fn create_if(
        &self,
        dest: &str,
        meta: Option<&str>,
        cond: StoreCond,
    ) -> io::Result<Box<dyn Upload>> {
        let _ = cond;
        match meta {
            Some(meta) => self.create_with_meta(dest, meta).await,
            None => self.create(dest).await,
        }
    }
    /// [`Remote::concat`], carrying `meta` where given, published only while `cond` holds at
    /// `dest`, as [`Remote::create_if`].
    async fn concat_if(
        &self,
        dest: &str,
        srcs: &[Source],
        meta: Option<&str>,
        cond: StoreCond,
    ) -> io::Result<Box<dyn Upload>> {
        let _ = cond;
        match meta {
            Some(meta) => self.concat_with_meta(dest, srcs, meta).await,
            None => self.concat(dest, srcs).await,
        }
    }
    /// Writes into the file at `path` (created if missing, never truncated) from `offset`, at
    /// most `max_len` bytes: how multipart parts land directly at their place in the object
    /// being assembled, so that completing it moves no data. The fingerprint of the finished
    /// upload has the size written. `keep` is held until the last byte is written, even when
    /// the upload is dropped midway. `None` when the file is also published under another name
    /// (it is an object now, and objects are never written in place). Remotes that cannot write
    /// into the middle of a file (object stores, FTP, crypt) keep this default: `None`, and parts
    /// are staged instead.
    async fn write_at(
        &self,
        path: &str,
        offset: u64,
        max_len: u64,
        keep: KeepAlive,
    ) -> io::Result<Option<Box<dyn Upload>>> {
        let _ = (path, offset, max_len, keep);
        Ok(None)
    }
    /// An upload, to be committed at `dest`, holding the sources one after the other, made
    /// without passing the bytes through memory where the remote can (a copy is the
    /// concatenation of one file).
    async fn concat(&self, dest: &str, srcs: &[Source]) -> io::Result<Box<dyn Upload>>;
    /// [`Remote::concat`], the object carrying `meta` as [`Remote::create_with_meta`]'s does.
    async fn concat_with_meta(
        &self,
        dest: &str,
        srcs: &[Source],
        meta: &str,
    ) -> io::Result<Box<dyn Upload>> {
        let _ = meta;
        self.concat(dest, srcs).await
    }
    /// Replaces what version `pinned` of the file at `path` carries in the remote's own
    /// metadata ([`Remote::create_with_meta`]) by `meta`, its bytes unchanged: `true` when done
    /// (the file is then a new version, with a time of its own), `false` where the remote keeps
    /// no such metadata. `ESTALE` when `path` is no longer version `pinned`. Readers see the old
    /// metadata or the new, never a mix: the remote publishes the new version whole.
    async fn replace_meta(&self, path: &str, meta: &str, pinned: Fingerprint) -> io::Result<bool> {
        let _ = (path, meta, pinned);
        Ok(false)
    }
    /// Removes a file, only when it is version `pinned` where given (so that a newer one another
    /// program wrote stays); `false` when there was none to remove. Whatever is not a file (a
    /// folder, a link, a FIFO...) is left in place.
    async fn delete(&self, path: &str, pinned: Option<Fingerprint>) -> io::Result<bool>;
    /// Whether [`Remote::copy`] copies a file on the remote's side with what it carries in the
    /// remote's own metadata ([`Remote::create_with_meta`]): what versions need in a fleet.
    fn copies_carrying(&self) -> bool {
        false
    }
    /// Copies the file at `from` to `to` on the remote's side, with what it carries, only when
    /// `from` is version `pinned` (`ESTALE` otherwise), replacing what is at `to`; answers the
    /// copy's fingerprint, `None` when there was no file to copy. Remotes without such a copy
    /// answer `Unsupported`.
    async fn copy(
        &self,
        from: &str,
        to: &str,
        pinned: Fingerprint,
    ) -> io::Result<Option<Fingerprint>> {
        let _ = (from, to, pinned);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this remote cannot copy a file on its side with its metadata",
        ))
    }
    /// The files of the folder holding `path` whose names begin with its last segment, unsorted:
    /// where the remote lists by prefix (object stores), one listing of just those names.
    async fn list_prefix(&self, path: &str) -> io::Result<Vec<Entry>> {
        let (dir, start) = path.rsplit_once('/').unwrap_or(("", path));
        match self.list_dir(dir).await {
            Ok(all) => Ok(all
                .into_iter()
                .filter(|e| !e.is_dir && e.name.starts_with(start))
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
    /// Whether [`Remote::rename`] moves a file on the remote's side (a rename, or a copy and a
    /// delete there), never through this server: what keeping versions needs.
    fn moves_files(&self) -> bool {
        false
    }
    /// Moves the file at `from` to `to` on the remote's side (a rename where the remote has one,
    /// else a server-side copy and the removal of `from`), creating `to`'s missing parent
    /// folders (never its first one: a bucket, or the reserved folder), only when `from` is
    /// version `pinned` where given (`ESTALE` otherwise); answers the fingerprint of the file at
    /// `to` (a copy gets a new time, and may get a new ETag), `None` when there was no file to
    /// move. Another link to the same file (a copy sharing it) keeps its name. What is at `to`
    /// is replaced only with `replace` (`EEXIST` otherwise), and never when it is not a file:
    /// how versions move between a key and the version store. Remotes without a server-side
    /// move answer `Unsupported`.
    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        let _ = (from, to, pinned, replace);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this remote cannot move a file without copying it",
        ))
    }
    /// [`Remote::rename`] without `replace`, of a version out of the way of a file about to be
    /// published at `from` ([`Upload::commit`], which makes `from`'s folder durable before it
    /// answers): a remote that syncs folders syncs only `to`'s here, so that an overwrite in a
    /// bucket keeping versions waits for two syncs of folders, not three. Until the publish's
    /// sync, a crash may leave the file at both names, which the demotion's intent settles.
    async fn rename_before_publish(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
    ) -> io::Result<Option<Fingerprint>> {
        self.rename(from, to, pinned, false).await
    }
    /// [`Remote::rename_before_publish`] of the version at `from` to `to`, then, once it moved,
    /// [`Upload::commit`] of `upload` (this remote's) at `from`, whose `then` gets the moved
    /// file's fingerprint and the published one's: an overwrite in a bucket keeping versions.
    /// Nothing is published when nothing moved; a move that fails discards the upload and
    /// answers its error. A local directory does both in one trip to a blocking thread.
    async fn publish_after_move(
        &self,
        upload: Box<dyn Upload>,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        sync: bool,
        then: Box<dyn FnOnce(Fingerprint, Fingerprint) + Send>,
    ) -> io::Result<AfterMove> {
        let moved = self.rename_before_publish(from, to, pinned).await;
        publish_after(moved, upload, from, sync, then).await
    }
    /// Creates one folder; `false` when it already existed.
    async fn mkdir(&self, path: &str) -> io::Result<bool>;
    /// Removes an empty folder.
    async fn rmdir(&self, path: &str) -> io::Result<()>;
    /// Removes a folder that holds only folders.
    async fn rmdir_tree(&self, path: &str) -> io::Result<()>;
    /// Removes a folder and everything in it; nothing to do when it is not there.
    async fn delete_tree(&self, path: &str) -> io::Result<()>;
}

/// What [`Remote::publish_after_move`] did.
pub enum AfterMove {
    /// There was no file to move, or not the version pinned: nothing was published, and the
    /// upload is handed back.
    NotMoved(Box<dyn Upload>),
    /// The version moved, its file now of fingerprint `moved`; `published` is the publish's
    /// answer.
    Moved {
        moved: Fingerprint,
        published: io::Result<Fingerprint>,
    },
}

/// The answer of a pinned [`Remote::rename`], `ESTALE` (another version is there) read as what
/// it means to a version's move: nothing moved.
pub(crate) fn moved_unless_stale<T>(moved: io::Result<Option<T>>) -> io::Result<Option<T>> {
    match moved {
        Err(e) if e.raw_os_error() == Some(libc::ESTALE) => Ok(None),
        moved => moved,
    }
}

/// The second half of [`Remote::publish_after_move`], after a move that answered `moved`: also
/// where the move is not one that a publish on the same remote completes (into the write cache).
pub(crate) async fn publish_after(
    moved: io::Result<Option<Fingerprint>>,
    upload: Box<dyn Upload>,
    path: &str,
    sync: bool,
    then: Box<dyn FnOnce(Fingerprint, Fingerprint) + Send>,
) -> io::Result<AfterMove> {
    let moved = match moved_unless_stale(moved) {
        Ok(Some(moved)) => moved,
        Ok(None) => return Ok(AfterMove::NotMoved(upload)),
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    let then = Box::new(move |fp| then(moved, fp));
    let published = upload.commit(path, sync, then).await;
    Ok(AfterMove::Moved { moved, published })
}

/// Runs blocking file work off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
}

#[cfg(all(test, feature = "opendal"))]
mod tests {
    /// Each service rclone.conf maps to takes the options it is given (their builders refuse a
    /// missing required one), with no network needed to build it.
    #[tokio::test]
    async fn every_mapped_service_builds_from_what_rclone_conf_maps_to() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("rclone.conf");
        let token = r#"{"access_token":"A","refresh_token":"R","expiry":"2020-01-01T00:00:00Z"}"#;
        let pass = s3gate_config::obscure::obscure_with_iv("p", [1; 16]);
        std::fs::write(
            &conf,
            format!(
                "[gd]\ntype = drive\nclient_id = C\nclient_secret = S\ntoken = {token}\n\
                 [od]\ntype = onedrive\nclient_id = C\nclient_secret = S\ntoken = {token}\n\
                 [db]\ntype = dropbox\nclient_id = C\nclient_secret = S\ntoken = {token}\n\
                 [kf]\ntype = koofr\nuser = u@example.com\npassword = {pass}\n\
                 [pc]\ntype = pcloud\nusername = u\npassword = {pass}\n\
                 [ya]\ntype = yandex\ntoken = {{\"access_token\":\"A\"}}\n\
                 [sw]\ntype = swift\nstorage_url = https://swift.example/v1/AUTH_a\n\
                 auth_token = T\n[b2]\ntype = b2\naccount = 0012345\nkey = K005\n"
            ),
        )
        .unwrap();
        let rclone = s3gate_config::rclone::RcloneConfig::load(&conf).unwrap();
        for name in ["gd", "od", "db", "kf", "pc", "ya", "sw", "b2"] {
            let s3gate_config::rclone::Resolved::Named { mut def, .. } =
                rclone.resolve(name).unwrap()
            else {
                panic!("{name}: not a named remote")
            };
            if def.kind == "b2" {
                // Given, as its lookup at B2 would give it.
                def.options.insert(
                    "bucket_id".into(),
                    s3gate_config::RemoteOption::Text("4a48fe8875c6214145260818".into()),
                );
            }
            if let Err(e) = super::open_service(&def, "bucket/dir") {
                panic!("{name} ({}): {e}", def.kind);
            }
        }
    }
}
