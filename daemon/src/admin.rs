//! Commands run while the server is stopped.
//!
//! `s3gate index rebuild` sets the index aside and builds a new one from the files, for an
//! index that is lost, damaged, or from another machine. What only the index knew (user
//! metadata, content headers, checksums, multipart ETags, open multipart uploads) is gone; the
//! old index stays beside the new one.
//!
//! `s3gate index keys` lists the keys kept in the store of keys (those a file tree cannot hold
//! as plain files), which only the index knows by name.
//!
//! `s3gate cache stats` tells what waits in the write cache; `s3gate cache clear` uploads it
//! all to the remote, then removes the cache's folder. Nothing waiting is ever dropped.
//!
//! Their long work (the scan that fills a new index, the upload of the cache) is shown while
//! it runs (`progress.rs`).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use s3gate_config::{Config, MetaStoreKind};
use s3gate_vfs::{Progress, Vfs};

use crate::progress::{show, Show};
use crate::Error;

/// Runs `work` with its progress shown.
async fn showing<F, Fut>(work: F) -> Result<String, Error>
where
    F: FnOnce(Arc<Progress>) -> Fut,
    Fut: std::future::Future<Output = Result<String, Error>>,
{
    let progress = Arc::new(Progress::default());
    let shown = show(progress.clone(), Show::Command);
    let result = work(progress).await;
    shown.finish().await;
    result
}

/// The index's file (redb) or the file its store locks (sled).
fn index_paths(config: &Config) -> (PathBuf, PathBuf) {
    let store = s3gate_vfs::meta::store_path(config.index.store, &config.index_dir());
    let lock = match config.index.store {
        MetaStoreKind::Redb => store.clone(),
        MetaStoreKind::Sled => store.join("db"),
    };
    (store, lock)
}

/// Rebuilds the index of `config`'s remote; returns what the new index holds.
pub async fn rebuild_index(config: Config) -> Result<String, Error> {
    showing(|progress| rebuild(config, progress)).await
}

async fn rebuild(config: Config, progress: Arc<Progress>) -> Result<String, Error> {
    let (index, lock) = index_paths(&config);
    let mut note = String::new();
    if index.exists() {
        // The store holds an exclusive lock while a server uses it.
        if let Ok(f) = File::open(&lock) {
            if let Err(e) = f.try_lock() {
                return Err(Error::Listen(std::io::Error::other(format!(
                    "{} is in use ({e}): stop the server first",
                    lock.display()
                ))));
            }
        }
        // Objects waiting in the write cache are known only to this index: upload them first.
        let vfs = Vfs::open_counted(&config, progress.clone()).await?;
        let flushed = vfs.write_back(true).await;
        vfs.shutdown().await;
        let left = flushed?.pending;
        if left > 0 {
            return Err(Error::Listen(std::io::Error::other(format!(
                "{left} cached objects could not be uploaded to the remote; the index keeps \
                 them queued and was left in place (see the server log for why)"
            ))));
        }
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut aside = index.clone().into_os_string();
        aside.push(format!(".{stamp}.old"));
        std::fs::rename(&index, &aside)?;
        note = format!(
            "the previous index is kept as {}\n",
            aside.to_string_lossy()
        );
    }
    // Opening a new index fills it from the files.
    let vfs = Vfs::open_counted(&config, progress).await?;
    let report = vfs.reconcile().await;
    let buckets = vfs.list_buckets().await.map(|b| b.len()).unwrap_or(0);
    vfs.shutdown().await;
    let report = report?;
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    Ok(format!(
        "{note}rebuilt {}: {} in {}\n",
        index.display(),
        plural(report.files, "object"),
        plural(buckets as u64, "bucket")
    ))
}

/// The keys of `config`'s remote kept in the store of keys: bucket, key (control characters
/// escaped, so that one key is one line) and size, tab-separated.
pub async fn index_keys(config: Config) -> Result<String, Error> {
    let vfs = Vfs::open(&config).await?;
    let keys = vfs.stored_keys();
    vfs.shutdown().await;
    let keys = keys?;
    let mut text = String::new();
    for k in &keys {
        text += &format!("{}\t{}\t{}\n", k.bucket, k.key.escape_debug(), k.size);
    }
    text += &format!(
        "{} key{} kept in the store\n",
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    );
    Ok(text)
}

/// What waits in the write cache of `config`'s remote.
pub async fn cache_stats(config: Config) -> Result<String, Error> {
    let vfs = Vfs::open(&config).await?;
    let summary = vfs.write_back_summary();
    vfs.shutdown().await;
    let s = summary?;
    let mut text = format!(
        "write cache: {}\ncache mode: {}\nwaiting: {} objects, {} bytes\n",
        config.index_dir().join("writeback").display(),
        config.vfs.cache_mode,
        s.pending,
        s.bytes
    );
    if let Some(oldest) = s.oldest {
        text += &format!("oldest waiting: {} s\n", oldest.as_secs());
    }
    if s.failing > 0 {
        text += &format!(
            "failing: {} (last error: {})\n",
            s.failing,
            s.last_error.as_deref().unwrap_or("unknown")
        );
    }
    Ok(text)
}

/// Uploads everything the write cache holds, then removes its folder.
pub async fn cache_clear(config: Config) -> Result<String, Error> {
    showing(|progress| clear(config, progress)).await
}

async fn clear(config: Config, progress: Arc<Progress>) -> Result<String, Error> {
    let vfs = Vfs::open_counted(&config, progress).await?;
    let flushed = vfs.write_back(true).await;
    vfs.shutdown().await;
    let report = flushed?;
    if report.pending > 0 {
        return Err(Error::Listen(std::io::Error::other(format!(
            "{} cached objects could not be uploaded to the remote; the cache was left in place \
             (s3gate cache stats tells why)",
            report.pending
        ))));
    }
    let dir = config.index_dir().join("writeback");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(format!(
        "uploaded {} objects; removed {}\n",
        report.uploaded,
        dir.display()
    ))
}
