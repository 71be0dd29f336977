//! Listing: a range scan of the index in S3 byte order that jumps past each common prefix, so a
//! page costs work in proportion to the page, whatever the size of the bucket.

use futures_util::StreamExt;

use crate::error::{Result, VfsError};
use crate::index::ObjectMeta;
use crate::key;
use crate::vfs::{ObjectInfo, Vfs};

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
    Object { key: String, info: Box<ObjectInfo> },
    CommonPrefix(String),
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

/// Index entries fetched per range call.
const BATCH: usize = 1000;
/// Files hashed at once when a page holds files written by other programs.
const REFRESH_CONCURRENCY: usize = 32;

impl Vfs {
    pub async fn list(&self, bucket: &str, q: &ListQuery<'_>) -> Result<ListPage> {
        self.head_bucket(bucket).await?;
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
        let mut pending: Vec<usize> = Vec::new(); // objects whose hash is still to compute
                                                  // Right after a common prefix the next entries often roll up into the next prefix:
                                                  // fetch a few at a time then, doubling while plain keys follow, so that a page of
                                                  // prefixes does not read a full batch per prefix.
        let mut batch = BATCH;
        'scan: while items.len() < want {
            let limit = (want - items.len()).min(batch);
            let entries = self.index.range(&start, end.as_deref(), limit)?;
            let exhausted = entries.len() < limit;
            let mut next_start = None;
            let mut jumped = false;
            for (k, v) in entries {
                let name = std::str::from_utf8(&k[base.len()..])
                    .map_err(|_| VfsError::InvalidKey("index holds a non-UTF-8 key".into()))?;
                if let Some(d) = delimiter {
                    if let Some(pos) = name[q.prefix.len()..].find(d) {
                        let cp = &name[..q.prefix.len() + pos + d.len()];
                        if q.after.is_none_or(|a| cp > a) {
                            items.push(ListItem::CommonPrefix(cp.to_string()));
                        }
                        match key::prefix_end(&key::index_key(bucket, cp)) {
                            Some(s) => next_start = Some(s),
                            None => break 'scan,
                        }
                        jumped = true;
                        break;
                    }
                }
                let meta = ObjectMeta::decode(&v)?;
                if meta.etag.is_empty() {
                    pending.push(items.len());
                }
                items.push(ListItem::Object {
                    key: name.to_string(),
                    info: Box::new(ObjectInfo::from_meta(meta)),
                });
                let mut s = k;
                s.push(0);
                next_start = Some(s);
                if items.len() >= want {
                    break;
                }
            }
            match next_start {
                Some(s) => start = s,
                None => break,
            }
            if exhausted && !jumped {
                break;
            }
            batch = if jumped { 2 } else { (batch * 2).min(BATCH) };
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
        let refreshed: Vec<(usize, Result<ObjectMeta>)> = futures_util::stream::iter(todo)
            .map(|(i, k)| async move {
                let r = match key::object_path(bucket, &k) {
                    Ok(path) => self.refresh_record(bucket, &k, &path).await,
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
                Ok(meta) => {
                    if let ListItem::Object { info, .. } = &mut items[i] {
                        **info = ObjectInfo::from_meta(meta);
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
