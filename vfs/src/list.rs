//! Listing: a range scan of the index in S3 byte order that jumps past each common prefix, so a
//! page costs work in proportion to the page, whatever the size of the bucket.

use std::time::SystemTime;

use futures_util::StreamExt;

use crate::error::{Result, VfsError};
use crate::index::{ListedMeta, ObjectMeta};
use crate::key;
use crate::meta::Step;
use crate::remote::time_from_ns;
use crate::vfs::Vfs;

/// One page request, in S3's terms.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    /// Any non-empty string; `None` (or empty) lists keys flat.
    pub delimiter: Option<&'a str>,
    /// Only entries (keys or common prefixes) strictly after this one.
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Debug, Clone)]
pub enum ListItem {
    Object { key: String, info: Listed },
    CommonPrefix(String),
}

/// What a listing shows of an object.
#[derive(Debug, Clone)]
pub struct Listed {
    pub size: u64,
    pub last_modified: SystemTime,
    /// Hex digest, without quotes.
    pub etag: String,
}

impl From<ObjectMeta> for Listed {
    fn from(m: ObjectMeta) -> Listed {
        ListedMeta::from(m).into()
    }
}

impl From<ListedMeta<'_>> for Listed {
    fn from(m: ListedMeta<'_>) -> Listed {
        Listed {
            size: m.fingerprint.size,
            last_modified: time_from_ns(m.written_ns()),
            etag: m.etag.into_owned(),
        }
    }
}

impl ListItem {
    /// The key or prefix: where the next page starts after.
    pub fn name(&self) -> &str {
        match self {
            ListItem::Object { key, .. } => key,
            ListItem::CommonPrefix(p) => p,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<ListItem>,
    /// More entries follow the last one.
    pub truncated: bool,
}

/// Files hashed at once when a page holds files written by other programs.
const REFRESH_CONCURRENCY: usize = 32;

impl Vfs {
    pub async fn list(&self, bucket: &str, q: &ListQuery<'_>) -> Result<ListPage> {
        self.head_bucket(bucket).await?;
        self.rescan.wait_checked().await;
        if let Some(fleet) = &self.fleet {
            fleet.check_listing(&self.rescan, bucket, q.prefix).await?;
        }
        let base = key::index_key(bucket, "");
        let delimiter = q.delimiter.filter(|d| !d.is_empty());
        let mut full_prefix = base.clone();
        full_prefix.extend_from_slice(q.prefix.as_bytes());
        let end = key::prefix_end(&full_prefix);
        let mut start = full_prefix;
        if let Some(after) = q.after {
            let mut after_key = key::index_key(bucket, after);
            if after_key >= start {
                after_key.push(0); // the smallest key strictly after `after`
                start = after_key;
            }
        }
        // One entry beyond the page tells whether the listing is truncated.
        let want = q.max_keys + 1;
        let mut items: Vec<ListItem> = Vec::new();
        // Objects whose hash is still to compute.
        let mut pending: Vec<usize> = Vec::new();
        let mut failed = None;
        self.core.index.scan(&start, end.as_deref(), |k, v| {
            let Ok(name) = std::str::from_utf8(&k[base.len()..]) else {
                failed = Some(VfsError::InvalidKey("index holds a non-UTF-8 key".into()));
                return Step::Stop;
            };
            if let Some(d) = delimiter {
                if let Some(pos) = name[q.prefix.len()..].find(d) {
                    let cp = &name[..q.prefix.len() + pos + d.len()];
                    if q.after.is_none_or(|a| cp > a) {
                        items.push(ListItem::CommonPrefix(cp.to_string()));
                    }
                    // Every key under the prefix rolls up into it: the scan jumps past them.
                    return match key::prefix_end(&key::index_key(bucket, cp)) {
                        Some(next) if items.len() < want => Step::Seek(next),
                        _ => Step::Stop,
                    };
                }
            }
            let meta = match ListedMeta::decode(v) {
                Ok(meta) => meta,
                Err(e) => {
                    failed = Some(e);
                    return Step::Stop;
                }
            };
            if meta.etag.is_empty() {
                pending.push(items.len());
            }
            items.push(ListItem::Object {
                key: name.to_string(),
                info: meta.into(),
            });
            if items.len() < want {
                Step::Next
            } else {
                Step::Stop
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let truncated = items.len() > q.max_keys;
        items.truncate(q.max_keys);
        // Files written by other programs get their hash computed once, here, lazily: several
        // at a time, so that their records share index commits (one commit per file made the
        // first listing of a large foreign tree take seconds per page).
        let shown = items.len();
        let todo: Vec<(usize, String)> = pending
            .into_iter()
            .filter(|&i| i < shown)
            .filter_map(|i| match &items[i] {
                ListItem::Object { key, .. } => Some((i, key.clone())),
                ListItem::CommonPrefix(_) => None,
            })
            .collect();
        let refreshed: Vec<(usize, Result<Listed>)> = futures_util::stream::iter(todo)
            .map(|(i, k)| async move {
                let r = match self
                    .core
                    .path_of(bucket, &k)
                    .and_then(|p| p.ok_or(VfsError::NoSuchKey))
                {
                    Ok(path) => self
                        .refresh_record(bucket, &k, &path)
                        .await
                        .map(Listed::from),
                    Err(e) => Err(e),
                };
                (i, r)
            })
            .buffer_unordered(REFRESH_CONCURRENCY)
            .collect()
            .await;
        let mut gone = Vec::new();
        for (i, r) in refreshed {
            match r {
                Ok(listed) => {
                    if let ListItem::Object { info, .. } = &mut items[i] {
                        *info = listed;
                    }
                }
                Err(VfsError::NoSuchKey) => gone.push(i),
                Err(e) => return Err(e),
            }
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            items.remove(i);
        }
        Ok(ListPage { items, truncated })
    }
}
