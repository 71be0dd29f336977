//! Reconciling the index with the remote: files added, changed or removed by other programs.
//!
//! A new index over an existing tree is filled in one pass before serving starts. Later scans run
//! in the background while requests are served, so every change they make is re-checked under
//! the key's lock against the remote as it is at that moment: a scan never undoes a write that
//! raced with it. Listings wait for the first scan after the index is opened (the one the
//! daemon starts at once): until then the index may list files removed while it was closed.
//!
//! [`Rescan`] holds the core and what the scan keeps between runs (runs.rs); it knows no `Vfs`.
//! Which buckets there are, and forgetting those whose folder is gone, are the facade's
//! (`Vfs::reconcile`, which drives a run over the buckets it lists).

pub(crate) mod runs;

use std::sync::Arc;

use tokio::sync::MutexGuard;

use crate::clock::now_ns;
use crate::core::Core;
use crate::error::Result;
use crate::index::ObjectMeta;
use crate::key::{self, marker_path};
use crate::marker::marker_meta;
use crate::meta::{Edit, Tree};
use crate::object::BucketInfo;
use crate::remote::Fingerprint;
use crate::scan::runs::Scans;

const FILLED: &[u8] = b"index-filled";

/// What a scan changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanReport {
    pub files: u64,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

/// How the index differs from the remote at one key, as a scan finds it.
enum Drift {
    Upsert(String, Fingerprint),
    Remove(String),
}

/// The rescan: the core whose index it corrects, and what it keeps between runs.
pub(crate) struct Rescan {
    core: Arc<Core>,
    runs: Scans,
}

impl Rescan {
    pub(crate) fn new(core: Arc<Core>) -> Rescan {
        Rescan {
            core,
            runs: Scans::new(),
        }
    }

    /// Whether the index has been filled from the tree once (and so can be served from).
    pub(crate) fn index_filled(&self) -> Result<bool> {
        Ok(self.core.index.get_state(FILLED)?.is_some())
    }

    /// Keeps runs from overlapping, and shutdown from closing the index under one: taken
    /// before any other lock.
    pub(crate) async fn one_at_a_time(&self) -> MutexGuard<'_, ()> {
        crate::locks::check_outermost("the scan lock");
        self.runs.lock.lock().await
    }

    /// Lets the listings that wait for a check go on.
    pub(crate) fn mark_checked(&self) {
        self.runs.mark_checked();
    }

    /// Waits until a run has checked the index since it was opened.
    pub(crate) async fn wait_checked(&self) {
        self.runs.wait_checked().await;
    }

    /// Brings the records of `buckets` (those the remote has) in line with their trees: in
    /// large batches while filling a new index, before serving; else each change re-checked
    /// under its key's lock. The caller holds [`Rescan::one_at_a_time`].
    pub(crate) async fn buckets(
        &self,
        buckets: &[BucketInfo],
        serving: bool,
    ) -> Result<ScanReport> {
        let _counting = self.core.progress.start(crate::progress::Phase::Scan, None);
        let mut report = ScanReport::default();
        for b in buckets {
            let files = self.walk_bucket(&b.name).await?;
            report.files += files.len() as u64;
            let changes = self.diff_range(&b.name, "", files)?;
            for change in changes {
                if serving {
                    self.apply_checked(&b.name, change, &mut report).await?;
                } else {
                    self.apply_unchecked(&b.name, change, &mut report).await?;
                }
            }
        }
        self.flush_unchecked().await?;
        Ok(report)
    }

    /// Notes that the new index has been filled: from now on it is served.
    pub(crate) async fn mark_filled(&self) -> Result<()> {
        self.core
            .index
            .apply(vec![Edit::Put(Tree::State, FILLED.to_vec(), b"1".to_vec())])
            .await
    }

    /// The buckets that have object records in the index but are not among `listed`.
    pub(crate) fn unlisted_buckets(&self, listed: &[BucketInfo]) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut start = Vec::new();
        loop {
            let Some((k, _)) = self.core.index.range(&start, None, 1)?.into_iter().next() else {
                return Ok(names);
            };
            let Some(slash) = k.iter().position(|&b| b == b'/') else {
                return Ok(names);
            };
            let name = String::from_utf8_lossy(&k[..slash]).into_owned();
            if !listed.iter().any(|b| b.name == name) {
                names.push(name);
            }
            match key::prefix_end(&k[..=slash]) {
                Some(s) => start = s,
                None => return Ok(names),
            }
        }
    }

    /// Every file below a bucket that can be an object, sorted by key in S3 byte order.
    async fn walk_bucket(&self, bucket: &str) -> Result<Vec<(String, Fingerprint)>> {
        walk(&*self.core.remote, bucket, Some(&self.core.progress)).await
    }

    /// Brings the records of the keys under `prefix` in line with the remote, as a rescan
    /// would while serving, without the rest of the bucket.
    pub(crate) async fn reconcile_prefix(&self, bucket: &str, prefix: &str) -> Result<ScanReport> {
        let files = walk_under(&*self.core.remote, bucket, prefix, None).await?;
        let mut report = ScanReport {
            files: files.len() as u64,
            ..Default::default()
        };
        for change in self.diff_range(bucket, prefix, files)? {
            self.apply_checked(bucket, change, &mut report).await?;
        }
        Ok(report)
    }

    /// Merges the sorted files under `prefix` of a bucket with its index records there.
    fn diff_range(
        &self,
        bucket: &str,
        prefix: &str,
        files: Vec<(String, Fingerprint)>,
    ) -> Result<Vec<Drift>> {
        let base = key::index_key(bucket, "");
        let mut start = key::index_key(bucket, prefix);
        let end = key::prefix_end(&start);
        let mut changes = Vec::new();
        let mut files = files.into_iter().peekable();
        loop {
            let batch = self.core.index.range(&start, end.as_deref(), 1000)?;
            if batch.is_empty() {
                break;
            }
            for (k, v) in &batch {
                let name = String::from_utf8_lossy(&k[base.len()..]).into_owned();
                while let Some((f, fp)) = files.next_if(|(f, _)| *f < name) {
                    changes.push(Drift::Upsert(f, fp));
                }
                let record = ObjectMeta::decode(v).ok();
                let found = files.next_if(|(f, _)| *f == name);
                if record.as_ref().is_some_and(|m| m.in_write_cache) {
                    continue; // waiting in the write cache: the remote's version is older
                }
                if record.as_ref().is_some_and(|m| m.store.is_some()) {
                    // Kept in the store of keys, not in the tree: a file at its name is not it.
                    continue;
                }
                match found {
                    Some((f, fp)) => {
                        if record.map(|m| m.fingerprint) != Some(fp) {
                            changes.push(Drift::Upsert(f, fp));
                        }
                    }
                    None => changes.push(Drift::Remove(name)),
                }
            }
            start = batch.last().map(|(k, _)| k.clone()).unwrap_or_default();
            start.push(0);
        }
        changes.extend(files.map(|(f, fp)| Drift::Upsert(f, fp)));
        Ok(changes)
    }

    /// Brings the record of one key in line with the remote (as a rescan would).
    pub(crate) async fn recheck(&self, bucket: &str, key: &str) -> Result<()> {
        let mut report = ScanReport::default();
        self.apply_checked(bucket, Drift::Remove(key.to_string()), &mut report)
            .await
    }

    /// While serving: re-check each change against the remote under the key's lock.
    async fn apply_checked(
        &self,
        bucket: &str,
        change: Drift,
        report: &mut ScanReport,
    ) -> Result<()> {
        let k = match &change {
            Drift::Upsert(k, _) | Drift::Remove(k) => k.clone(),
        };
        if let Some(path) = marker_path(bucket, &k) {
            let path = path?;
            return self
                .core
                .key_locks
                .with(&path, async {
                    if self.core.stored_path(bucket, &k)?.is_some() {
                        return Ok(()); // content kept in the store, not a folder
                    }
                    let exists = matches!(self.core.remote.stat(&path).await?, Some(e) if e.is_dir);
                    match (exists, self.core.index.get(bucket, &k)?.is_some()) {
                        (true, false) => {
                            self.core
                                .index
                                .put(bucket, &k, &marker_meta(now_ns(), Default::default()))
                                .await?;
                            report.added += 1;
                        }
                        (false, true) => {
                            self.core.index.delete(bucket, &k).await?;
                            report.removed += 1;
                        }
                        _ => {}
                    }
                    Ok(())
                })
                .await;
        }
        let path = key::object_path(bucket, &k)?;
        self.core
            .key_locks
            .with(&path, async {
                if self.core.stored_path(bucket, &k)?.is_some() {
                    return Ok(()); // kept in the store of keys: the tree does not hold it
                }
                let now = self
                    .core
                    .remote
                    .stat(&path)
                    .await?
                    .filter(|e| !e.is_dir)
                    .map(|e| e.fingerprint);
                let record = self.core.index.get(bucket, &k)?;
                if record.as_ref().is_some_and(|m| m.in_write_cache) {
                    return Ok(());
                }
                match now {
                    None if record.is_some() => {
                        self.core.index.delete(bucket, &k).await?;
                        report.removed += 1;
                    }
                    Some(fp) if record.as_ref().map(|r| r.fingerprint) != Some(fp) => {
                        if record.is_some() {
                            report.updated += 1;
                        } else {
                            report.added += 1;
                        }
                        self.core
                            .index
                            .put(bucket, &k, &ObjectMeta::unhashed(fp))
                            .await?;
                    }
                    _ => {}
                }
                Ok::<_, crate::error::VfsError>(())
            })
            .await?;
        // A file another program put there falls under the bucket's lifecycle rules too.
        self.core.schedule_key(bucket, &k).await;
        Ok(())
    }

    /// Before serving: nothing else writes, so changes go in large batches.
    async fn apply_unchecked(
        &self,
        bucket: &str,
        change: Drift,
        report: &mut ScanReport,
    ) -> Result<()> {
        let op = match change {
            Drift::Upsert(k, fp) => {
                report.added += 1;
                Edit::Put(
                    Tree::Objects,
                    key::index_key(bucket, &k),
                    ObjectMeta::unhashed(fp).encode(),
                )
            }
            Drift::Remove(k) => {
                report.removed += 1;
                Edit::Delete(Tree::Objects, key::index_key(bucket, &k))
            }
        };
        let mut ops = self.runs.fill_ops.lock().await;
        ops.push(op);
        if ops.len() >= 4096 {
            self.core.index.apply(std::mem::take(&mut *ops)).await?;
        }
        Ok(())
    }

    async fn flush_unchecked(&self) -> Result<()> {
        let ops = std::mem::take(&mut *self.runs.fill_ops.lock().await);
        if !ops.is_empty() {
            self.core.index.apply(ops).await?;
        }
        Ok(())
    }
}

/// Every file below `bucket` on `remote` that can be an object, sorted by key in S3 byte order.
pub(crate) async fn walk(
    remote: &dyn crate::remote::Remote,
    bucket: &str,
    progress: Option<&crate::progress::Progress>,
) -> Result<Vec<(String, Fingerprint)>> {
    walk_under(remote, bucket, "", progress).await
}

/// [`walk`] of the keys that start with `prefix` only: from the prefix's folder, into the
/// folders that can hold such keys.
async fn walk_under(
    remote: &dyn crate::remote::Remote,
    bucket: &str,
    prefix: &str,
    progress: Option<&crate::progress::Progress>,
) -> Result<Vec<(String, Fingerprint)>> {
    let mut files = Vec::new();
    let mut dirs = vec![prefix
        .rfind('/')
        .map_or(String::new(), |i| prefix[..i].to_string())];
    while let Some(dir) = dirs.pop() {
        let path = if dir.is_empty() {
            bucket.to_string()
        } else {
            format!("{bucket}/{dir}")
        };
        let entries = match remote.list_dir(&path).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some(p) = progress {
            p.add(entries.iter().filter(|e| !e.is_dir).count() as u64);
        }
        for e in entries {
            let k = if dir.is_empty() {
                e.name
            } else {
                format!("{dir}/{}", e.name)
            };
            if e.is_dir {
                let below = format!("{k}/");
                if below.starts_with(prefix) || prefix.starts_with(&below) {
                    dirs.push(k);
                }
            } else if k.starts_with(prefix) && key::validate_key(&k).is_ok() {
                files.push((k, e.fingerprint));
            }
        }
    }
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}
