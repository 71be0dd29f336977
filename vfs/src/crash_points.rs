//! Crash points of the changes that act on a key's versions. A killed process stops at an await
//! and runs nothing after it; the awaits where a change's state can split are its calls to the
//! remote, each of which a kill can stop before it is made or after it is made and before its
//! answer is seen. Each test builds a key's history, runs one change stopped at each of those
//! points in turn (its future dropped there, as a kill drops it), opens the VFS again over what
//! was left, and checks that the start brought back the history before the change or the one
//! after it, with one file in the version store per kept version and no intent left: on a remote
//! that moves a file by a rename, and on one that moves it by a copy and a delete (where the two
//! halves of a move are points of their own). On a local directory that syncs, the same points
//! are also power cuts: the start then runs on what had been made durable (the power-cut shadow,
//! `shadow.rs`), where a folder holds the names it had at its last sync.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::bucket::Versioning;
use crate::error::VfsError;
use crate::meta::Tree;
use crate::object::ObjectReader;
use crate::remote::{Entry, Fingerprint, Reader, Remote, Source, Upload};
use crate::version_row::rows;
use crate::vfs::Vfs;

/// `impl Remote for $wrapper`: the calls every remote must have go to the remote it wraps
/// (`.0`), beside the items it gives itself (`$own`).
macro_rules! forwarding_remote {
    ($wrapper:ty { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::remote::Remote for $wrapper {
            $($own)*
            async fn stat(&self, path: &str) -> std::io::Result<Option<$crate::remote::Entry>> {
                self.0.stat(path).await
            }
            async fn open(
                &self,
                path: &str,
            ) -> std::io::Result<Option<Box<dyn $crate::remote::Reader>>> {
                self.0.open(path).await
            }
            async fn list_dir(&self, path: &str) -> std::io::Result<Vec<$crate::remote::Entry>> {
                self.0.list_dir(path).await
            }
            async fn create(&self, dest: &str) -> std::io::Result<Box<dyn $crate::remote::Upload>> {
                self.0.create(dest).await
            }
            async fn concat(
                &self,
                dest: &str,
                srcs: &[$crate::remote::Source],
            ) -> std::io::Result<Box<dyn $crate::remote::Upload>> {
                self.0.concat(dest, srcs).await
            }
            async fn delete(
                &self,
                path: &str,
                pinned: Option<$crate::remote::Fingerprint>,
            ) -> std::io::Result<bool> {
                self.0.delete(path, pinned).await
            }
            async fn mkdir(&self, path: &str) -> std::io::Result<bool> {
                self.0.mkdir(path).await
            }
            async fn rmdir(&self, path: &str) -> std::io::Result<()> {
                self.0.rmdir(path).await
            }
            async fn rmdir_tree(&self, path: &str) -> std::io::Result<()> {
                self.0.rmdir_tree(path).await
            }
            async fn delete_tree(&self, path: &str) -> std::io::Result<()> {
                self.0.delete_tree(path).await
            }
        }
    };
}
pub(crate) use forwarding_remote;

/// A remote whose move is a copy and a delete (as an object store's): the copy is a new file,
/// with a fingerprint of its own.
pub(crate) struct Copying(pub(crate) Arc<dyn Remote>, pub(crate) PathBuf);

forwarding_remote!(Copying {
    fn moves_files(&self) -> bool {
        true
    }
    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        let Some(src) = self.0.stat(from).await?.filter(|e| !e.is_dir) else {
            return Ok(None);
        };
        if pinned.is_some_and(|fp| fp != src.fingerprint) {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        if !replace && self.0.stat(to).await?.is_some() {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let root = &self.1;
        if let Some(parent) = root.join(to).parent() {
            fs::create_dir_all(parent)?;
        }
        // A copy of its own (no link), then the source goes.
        fs::write(root.join(to), fs::read(root.join(from))?)?;
        self.0.delete(from, None).await?;
        Ok(self.0.stat(to).await?.map(|e| e.fingerprint))
    }
});

/// Where a change stops: the points are numbered from when it is armed, two per remote call
/// (before it, after it); at point `at` the caller waits for ever, and `reached` says so.
struct Stop {
    points: AtomicUsize,
    at: AtomicUsize,
    reached: Notify,
}

impl Stop {
    fn new() -> Arc<Stop> {
        Arc::new(Stop {
            points: AtomicUsize::new(0),
            at: AtomicUsize::new(usize::MAX),
            reached: Notify::new(),
        })
    }

    fn arm(&self, at: usize) {
        self.points.store(0, Ordering::SeqCst);
        self.at.store(at, Ordering::SeqCst);
    }

    async fn point(&self) {
        if self.points.fetch_add(1, Ordering::SeqCst) == self.at.load(Ordering::SeqCst) {
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
    }
}

/// A remote whose calls are crash points ([`Stop`]).
struct Stopping(Arc<dyn Remote>, Arc<Stop>);

impl Stopping {
    /// `call` between two points.
    async fn call<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        self.1.point().await;
        let answer = call.await;
        self.1.point().await;
        answer
    }
}

#[async_trait::async_trait]
impl Remote for Stopping {
    fn moves_files(&self) -> bool {
        self.0.moves_files()
    }
    async fn stat(&self, path: &str) -> io::Result<Option<Entry>> {
        self.call(self.0.stat(path)).await
    }
    async fn open(&self, path: &str) -> io::Result<Option<Box<dyn Reader>>> {
        self.call(self.0.open(path)).await
    }
    async fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        self.call(self.0.list_dir(path)).await
    }
    async fn create(&self, dest: &str) -> io::Result<Box<dyn Upload>> {
        self.call(self.0.create(dest)).await
    }
    async fn write_at(
        &self,
        path: &str,
        offset: u64,
        max_len: u64,
        keep: crate::remote::KeepAlive,
    ) -> io::Result<Option<Box<dyn Upload>>> {
        self.call(self.0.write_at(path, offset, max_len, keep))
            .await
    }
    async fn concat(&self, dest: &str, srcs: &[Source]) -> io::Result<Box<dyn Upload>> {
        self.call(self.0.concat(dest, srcs)).await
    }
    async fn delete(&self, path: &str, pinned: Option<Fingerprint>) -> io::Result<bool> {
        self.call(self.0.delete(path, pinned)).await
    }
    async fn rename(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
        replace: bool,
    ) -> io::Result<Option<Fingerprint>> {
        self.call(self.0.rename(from, to, pinned, replace)).await
    }
    async fn rename_before_publish(
        &self,
        from: &str,
        to: &str,
        pinned: Option<Fingerprint>,
    ) -> io::Result<Option<Fingerprint>> {
        self.call(self.0.rename_before_publish(from, to, pinned))
            .await
    }
    async fn mkdir(&self, path: &str) -> io::Result<bool> {
        self.call(self.0.mkdir(path)).await
    }
    async fn rmdir(&self, path: &str) -> io::Result<()> {
        self.call(self.0.rmdir(path)).await
    }
    async fn rmdir_tree(&self, path: &str) -> io::Result<()> {
        self.call(self.0.rmdir_tree(path)).await
    }
    async fn delete_tree(&self, path: &str) -> io::Result<()> {
        self.call(self.0.delete_tree(path)).await
    }
}

/// How versions move on the remote under test.
#[derive(Clone, Copy, Debug)]
enum Moves {
    Rename,
    /// A copy and a delete, each a crash point of its own.
    Copy,
}

/// A VFS over `root` whose remote calls stop at `stop`'s point; with `cached`, writes land in
/// the write cache, whose uploader never runs here (a version waits there until a change
/// uploads it).
async fn open(root: &Path, moves: Moves, cached: bool, stop: &Arc<Stop>) -> Vfs {
    open_with(root, moves, cached, stop, None).await
}

/// [`open`]; with a `shadow` folder, syncing, and keeping there what a power cut would leave.
async fn open_with(
    root: &Path,
    moves: Moves,
    cached: bool,
    stop: &Arc<Stop>,
    shadow: Option<&Path>,
) -> Vfs {
    let stop = stop.clone();
    let root_dir = root.to_path_buf();
    let mut config = s3gate_config::Config::default();
    config.remote.path = root.to_path_buf();
    config.vfs.fsync = shadow.is_some();
    config.vfs.power_cut_shadow = shadow.map(Path::to_path_buf);
    if cached {
        config.vfs.cache_mode = s3gate_config::CacheMode::Writes;
    }
    let remote = crate::remote::open(&config).unwrap();
    let stopping: Arc<dyn Remote> = Arc::new(Stopping(remote, stop));
    let remote = match moves {
        Moves::Rename => stopping,
        Moves::Copy => Arc::new(Copying(stopping, root_dir)),
    };
    Vfs::open_on(&config, remote, Default::default())
        .await
        .unwrap()
}

async fn put(vfs: &Vfs, key: &str, body: &'static [u8]) -> String {
    let info = vfs.put_test(key, body, Default::default()).await;
    info.version_id.unwrap_or_default()
}

async fn text(reader: ObjectReader) -> String {
    let size = reader.info.size;
    let mut out = Vec::new();
    crate::object::each_chunk(reader.stream(0, size), |c| out.extend_from_slice(c))
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The key's history as a client sees it, newest first: the current version's bytes, or the
/// delete marker on top, then each kept version ("marker" for a delete marker), read back by
/// its id. A key with kept versions and neither a current version nor a marker on top says
/// so: no crash may leave that.
async fn history(vfs: &Vfs, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let kept = rows(&vfs.core.index, "bkt", key, usize::MAX).unwrap();
    match vfs.open_object("bkt", key).await {
        Ok(r) => out.push(format!("current {:?}", text(r).await)),
        Err(VfsError::NoSuchKey) => {
            if !kept.is_empty()
                && vfs
                    .current_delete_marker("bkt", key)
                    .await
                    .unwrap()
                    .is_none()
            {
                out.push("no current version".into());
            }
        }
        Err(e) => panic!("{key}: {e}"),
    }
    for row in kept {
        match row.object {
            None => out.push("marker".into()),
            Some(_) => {
                let id = row.id.to_string();
                let r = vfs.open_version("bkt", key, &id).await;
                let r = r.unwrap_or_else(|e| panic!("{key} version {id}: {e}"));
                out.push(format!("{:?}", text(r).await));
            }
        }
    }
    out
}

/// What a start must have left: one file in the version store per kept version with a file,
/// and no intent of a demotion, promotion or delete.
fn assert_settled(vfs: &Vfs, root: &Path, context: &str) {
    let mut named = 0;
    vfs.core
        .index
        .visit_in(Tree::Versions, |_, v| {
            let row = crate::version_row::VersionRecord::decode(v).unwrap();
            named += usize::from(row.file.is_some());
            true
        })
        .unwrap();
    fn count(p: &Path) -> usize {
        fs::read_dir(p).map_or(0, |d| {
            d.map(|e| e.unwrap().path())
                .map(|p| if p.is_dir() { count(&p) } else { 1 })
                .sum()
        })
    }
    let stored = count(&root.join(".s3gate/versions"));
    assert_eq!(stored, named, "{context}: files in the version store");
    let mut intents = Vec::new();
    vfs.core
        .index
        .visit_in(Tree::State, |k, _| {
            for kind in [&b"demote/"[..], b"promote/", b"delete/"] {
                if k.starts_with(kind) {
                    intents.push(String::from_utf8_lossy(k).into_owned());
                }
            }
            true
        })
        .unwrap();
    assert!(intents.is_empty(), "{context}: intents left {intents:?}");
}

/// What a start must have left in the write cache: each file there is the version its queue
/// entry names and its record describes as waiting, and each entry has its file.
async fn assert_cache_settled(vfs: &Vfs, context: &str) {
    let Some(cache) = &vfs.write_back.cache else {
        return;
    };
    let files = crate::scan::walk(&*cache.fs, "bkt", None).await.unwrap();
    let mut queued = Vec::new();
    vfs.core
        .index
        .visit_in(Tree::WriteBack, |k, v| {
            let entry: crate::write_cache::Pending = serde_json::from_slice(v).unwrap();
            queued.push((String::from_utf8_lossy(k).into_owned(), entry.fingerprint));
            true
        })
        .unwrap();
    let cached: Vec<(String, Fingerprint)> = files
        .into_iter()
        .map(|(key, fp)| (format!("bkt/{key}"), fp))
        .collect();
    assert_eq!(cached, queued, "{context}: cached files and queue entries");
    for (path, fp) in cached {
        let key = path.trim_start_matches("bkt/");
        let record = vfs.core.index.get("bkt", key).unwrap();
        assert!(
            record.is_some_and(|m| m.in_write_cache && m.fingerprint == fp),
            "{context}: {path} waits in the cache without its record"
        );
    }
}

/// A change of a key's versions, from the history its setup builds.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// The delete marker on top of `one`, `two` deleted by its id: `two` is current again.
    DropMarker,
    /// The current version `two` deleted by its id: `one` is current again.
    DropCurrent,
    /// A delete without a version id over `one`, `two`: a marker on top.
    Mark,
    /// A PUT over `one`, `two`.
    Overwrite,
    /// The delete marker on top of a folder marker `d/` deleted by its id: the folder marker is
    /// current again, its folder made.
    DropMarkerOverFolder,
    /// Content kept under `d/` over a folder marker, deleted by its id: the marker is current
    /// again.
    DropContentOverFolder,
}

impl Change {
    fn key(self) -> &'static str {
        match self {
            Change::DropMarkerOverFolder | Change::DropContentOverFolder => "d/",
            _ => "k",
        }
    }

    /// Builds the history the change starts from; answers the version id it deletes, if any.
    async fn setup(self, vfs: &Vfs) -> String {
        vfs.create_bucket("bkt", None).await.unwrap();
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        let k = self.key();
        let (first, second): (&'static [u8], &'static [u8]) = match self {
            Change::DropMarkerOverFolder => (b"", b""),
            Change::DropContentOverFolder => (b"", b"content"),
            _ => (b"one", b"two"),
        };
        put(vfs, k, first).await;
        let two = put(vfs, k, second).await;
        match self {
            Change::DropMarker | Change::DropMarkerOverFolder => {
                let marker = vfs.add_delete_marker("bkt", k).await.unwrap().unwrap();
                marker.version_id
            }
            Change::DropCurrent | Change::DropContentOverFolder => two,
            Change::Mark | Change::Overwrite => String::new(),
        }
    }

    async fn run(self, vfs: &Vfs, id: &str) {
        match self {
            Change::Mark => {
                vfs.add_delete_marker("bkt", "k").await.unwrap();
            }
            Change::Overwrite => {
                put(vfs, "k", b"three").await;
            }
            _ => {
                vfs.delete_version("bkt", self.key(), id, false)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs `change` stopped at each of its crash points in turn, on a fresh copy of its history
/// each time, and checks what the next start leaves.
async fn at_every_point(change: Change, moves: Moves) {
    at_every_point_of(change, moves, false).await
}

/// [`at_every_point`], through the write cache when `cached`.
async fn at_every_point_of(change: Change, moves: Moves, cached: bool) {
    let done = run_whole(change, moves, cached).await;
    for at in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let stop = Stop::new();
        let vfs = open(dir.path(), moves, cached, &stop).await;
        let id = change.setup(&vfs).await;
        if cached {
            assert_eq!(
                vfs.write_back.pending().unwrap(),
                1,
                "{change:?}: none waits"
            );
        }
        let before = history(&vfs, change.key()).await;
        stop.arm(at);
        let stopped = tokio::select! {
            () = change.run(&vfs, &id) => false,
            () = stop.reached.notified() => true,
        };
        vfs.shutdown().await;
        drop(vfs);
        let vfs = open(dir.path(), moves, cached, &Stop::new()).await;
        let context =
            format!("{change:?} on a remote moving by {moves:?}, cached {cached}, stopped at {at}");
        let got = history(&vfs, change.key()).await;
        assert_settled(&vfs, dir.path(), &context);
        assert_cache_settled(&vfs, &context).await;
        vfs.shutdown().await;
        if ran_whole(&got, &before, &done, stopped, &context) {
            return;
        }
    }
}

/// Checks the history `got` that a start left after a change stopped at a point, or run whole
/// (not `stopped`): the history before the change or the one after it, the latter when it ran
/// whole. Answers whether it ran whole, when no point is left to try.
fn ran_whole(
    got: &[String],
    before: &[String],
    done: &[String],
    stopped: bool,
    context: &str,
) -> bool {
    if !stopped {
        assert_eq!(got, done, "{context}: run whole");
        return true;
    }
    assert!(
        got == before || got == done,
        "{context}: {got:?}, neither {before:?} (before) nor {done:?} (after)"
    );
    false
}

/// [`at_every_point`] on a local directory, syncing, with a power cut at each point instead of
/// a kill: the next start runs on what the server had made durable there (its power-cut
/// shadow), where a folder holds the names it had at its last sync. Before the cut another
/// request commits, taking along what waited for the index's next commit.
async fn at_every_power_cut(change: Change) {
    let done = run_whole(change, Moves::Rename, false).await;
    for at in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let shadow = dir.path().join("shadow");
        let root = dir.path().join("served");
        fs::create_dir(&root).unwrap();
        let stop = Stop::new();
        let vfs = open_with(&root, Moves::Rename, false, &stop, Some(&shadow)).await;
        let id = change.setup(&vfs).await;
        put(&vfs, "spare/a", b"spare").await;
        let before = history(&vfs, change.key()).await;
        stop.arm(at);
        let stopped = tokio::select! {
            () = change.run(&vfs, &id) => false,
            () = stop.reached.notified() => true,
        };
        // Another request's commit, which takes along what waited for the next one; in a
        // folder of its own, whose sync leaves the key's folder as it was.
        stop.arm(usize::MAX);
        put(&vfs, "spare/b", b"spare").await;
        let disk = dir.path().join("after the cut");
        crate::shadow::power_cut_copy(&shadow, &disk).unwrap();
        vfs.shutdown().await;
        drop(vfs);
        crate::shadow::power_cut_tear(&disk).unwrap();
        let vfs = open(&disk, Moves::Rename, false, &Stop::new()).await;
        // The rescan a server runs after its start: a name a cut brought back shows.
        vfs.reconcile().await.unwrap();
        let context = format!("{change:?}, power cut at {at}");
        let got = history(&vfs, change.key()).await;
        assert_settled(&vfs, &disk, &context);
        vfs.shutdown().await;
        if ran_whole(&got, &before, &done, stopped, &context) {
            return;
        }
    }
}

/// The history `change` leaves when nothing stops it.
async fn run_whole(change: Change, moves: Moves, cached: bool) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let vfs = open(dir.path(), moves, cached, &Stop::new()).await;
    let id = change.setup(&vfs).await;
    change.run(&vfs, &id).await;
    let done = history(&vfs, change.key()).await;
    vfs.shutdown().await;
    done
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_marker_deleted_by_id_is_crash_safe() {
    for moves in [Moves::Rename, Moves::Copy] {
        at_every_point(Change::DropMarker, moves).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_current_version_deleted_by_id_is_crash_safe() {
    for moves in [Moves::Rename, Moves::Copy] {
        at_every_point(Change::DropCurrent, moves).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_marker_over_a_version_is_crash_safe() {
    for moves in [Moves::Rename, Moves::Copy] {
        at_every_point(Change::Mark, moves).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overwrite_of_a_version_is_crash_safe() {
    for moves in [Moves::Rename, Moves::Copy] {
        at_every_point(Change::Overwrite, moves).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_marker_made_current_again_is_crash_safe() {
    for change in [Change::DropMarkerOverFolder, Change::DropContentOverFolder] {
        for moves in [Moves::Rename, Moves::Copy] {
            at_every_point(change, moves).await;
        }
    }
}

/// An overwrite waits for the publish's sync of the key's folder to make the version's move out
/// of it durable; a delete marker, which publishes nothing, syncs it when the version moves.
#[tokio::test(flavor = "multi_thread")]
async fn changes_of_versions_survive_a_power_cut_at_every_point() {
    for change in [Change::Overwrite, Change::Mark, Change::DropCurrent] {
        at_every_power_cut(change).await;
    }
}

/// Through the write cache: the version replaced, covered or deleted by id waits there, so an
/// overwrite and a marker upload it before they keep it, and a delete by id removes it from the
/// cache and its queue.
#[tokio::test(flavor = "multi_thread")]
async fn changes_of_a_version_waiting_in_the_write_cache_are_crash_safe() {
    for change in [Change::Overwrite, Change::Mark, Change::DropCurrent] {
        for moves in [Moves::Rename, Moves::Copy] {
            at_every_point_of(change, moves, true).await;
        }
    }
}

/// The intents of demotions the index holds.
fn demotions_left(vfs: &Vfs) -> usize {
    let mut left = 0;
    vfs.core
        .index
        .visit_in(Tree::State, |k, _| {
            left += usize::from(k.starts_with(b"demote/"));
            true
        })
        .unwrap();
    left
}

/// A change whose demotion commits with it (version_fold.rs) is answered before its intent's
/// removal commits, which waits for the index's next commit: killed right after the answer, the
/// index still holds the intent, and the next start must keep the change the client was told
/// of, not undo it. Where a move is a copy, the row's new fingerprint commits with the intent's
/// removal before the answer, so no intent is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_answered_before_its_intent_went_is_kept() {
    for change in [Change::Overwrite, Change::Mark] {
        for moves in [Moves::Rename, Moves::Copy] {
            let context = format!("{change:?} on a remote moving by {moves:?}");
            let done = run_whole(change, moves, false).await;
            let dir = tempfile::tempdir().unwrap();
            let vfs = open(dir.path(), moves, false, &Stop::new()).await;
            let id = change.setup(&vfs).await;
            change.run(&vfs, &id).await;
            vfs.core.index.forget_deferred();
            let left = demotions_left(&vfs);
            assert_eq!(
                left,
                usize::from(matches!(moves, Moves::Rename)),
                "{context}"
            );
            vfs.shutdown().await;
            drop(vfs);
            let vfs = open(dir.path(), moves, false, &Stop::new()).await;
            assert_eq!(history(&vfs, change.key()).await, done, "{context}");
            assert_settled(&vfs, dir.path(), &context);
            vfs.shutdown().await;
        }
    }
}

/// Another program's file put at the path between a crash and the next start, over an overwrite
/// the crash cut short or over one answered whose intent's removal the crash lost: the start
/// keeps that file as the current version (as the rescan records any change another program
/// makes) instead of putting the version replaced back over it. That version stays kept when its
/// file reached the store, and leaves no row when it did not (the other program replaced it
/// before the move).
#[tokio::test(flavor = "multi_thread")]
async fn another_programs_file_after_a_crash_stays_current() {
    const OTHER: &str = "written by another program";
    let change = Change::Overwrite;
    let kept = vec![
        format!("current {OTHER:?}"),
        "\"two\"".into(),
        "\"one\"".into(),
    ];
    let lost = vec![format!("current {OTHER:?}"), "\"one\"".into()];
    for moves in [Moves::Rename, Moves::Copy] {
        let mut seen = (false, false);
        for at in 0.. {
            let dir = tempfile::tempdir().unwrap();
            let stop = Stop::new();
            let vfs = open(dir.path(), moves, false, &stop).await;
            let id = change.setup(&vfs).await;
            stop.arm(at);
            let stopped = tokio::select! {
                () = change.run(&vfs, &id) => false,
                () = stop.reached.notified() => true,
            };
            let context = format!("on a remote moving by {moves:?}, stopped at {at}");
            if !stopped {
                // Answered; the crash loses the intent's removal, which waits for the next
                // commit (committed before the answer where the move is a copy).
                vfs.core.index.forget_deferred();
                let left = demotions_left(&vfs);
                let expected = usize::from(matches!(moves, Moves::Rename));
                assert_eq!(left, expected, "{context}: intents left");
            }
            vfs.shutdown().await;
            drop(vfs);
            let path = dir.path().join("bkt/k");
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => panic!("{context}: {e}"),
                _ => fs::write(&path, OTHER).unwrap(),
            }
            let vfs = open(dir.path(), moves, false, &Stop::new()).await;
            let got = history(&vfs, change.key()).await;
            assert_settled(&vfs, dir.path(), &context);
            vfs.shutdown().await;
            if !stopped {
                assert_eq!(got, kept, "{context}: run whole");
                break;
            }
            if got == kept {
                seen.0 = true;
            } else {
                assert_eq!(got, lost, "{context}");
                seen.1 = true;
            }
        }
        // Both cases were met: stopped after the move, and stopped before it.
        assert_eq!(seen, (true, true), "on a remote moving by {moves:?}");
    }
}
