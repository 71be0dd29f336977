//! ListObjectVersions: the current records (`Tree::Objects`) and the kept versions and markers
//! (`Tree::Versions`) merged in one pass. A row's key is its object's record key followed by NUL
//! and the inverted counter, and no key holds a NUL, so the two trees' keys compared as bytes
//! give S3's order: keys ascending, the current version first, then the kept ones newest first.
//! Each tree is read in batches from where the page starts and seeks past every common prefix,
//! so a page costs work in proportion to the page.

use std::collections::VecDeque;

use crate::error::{Result, VfsError};
use serde::Deserialize;

use crate::index::{ListedMeta, ObjectMeta};
use crate::key;
use crate::list::Listed;
use crate::meta::{StoreError, Tree};
use crate::remote::time_from_ns;
use crate::version_id::{VersionId, VersionRef};
use crate::version_row::row_key;
use crate::vfs::Vfs;

/// Entries read from a tree at a time.
const BATCH: usize = 256;
/// What a row's key has after its object's record key: NUL and the counter.
const ROW_TAIL: usize = 9;

/// One page request of ListObjectVersions, in S3's terms.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Only keys after this one, or, with `version_id_marker`, versions after that one of it.
    pub key_marker: Option<&'a str>,
    pub version_id_marker: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Debug, Clone)]
pub enum VersionItem {
    Version {
        key: String,
        version_id: String,
        latest: bool,
        info: Listed,
    },
    DeleteMarker {
        key: String,
        version_id: String,
        latest: bool,
        last_modified: std::time::SystemTime,
    },
    CommonPrefix(String),
}

#[derive(Debug, Clone)]
pub struct VersionPage {
    pub items: Vec<VersionItem>,
    pub truncated: bool,
    /// Where the next page starts, when truncated.
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// One tree read in key order from a start, a batch at a time.
struct Cursor<'a> {
    vfs: &'a Vfs,
    tree: Tree,
    buf: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Where the next batch starts; `None` once the tree is read to `end`.
    next: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
}

impl<'a> Cursor<'a> {
    fn new(vfs: &'a Vfs, tree: Tree, start: Vec<u8>, end: Option<Vec<u8>>) -> Cursor<'a> {
        Cursor {
            vfs,
            tree,
            buf: VecDeque::new(),
            next: Some(start),
            end,
        }
    }

    fn peek(&mut self) -> Result<Option<&[u8]>> {
        if self.buf.is_empty() {
            if let Some(start) = self.next.take() {
                let batch =
                    self.vfs
                        .core
                        .index
                        .range_in(self.tree, &start, self.end.as_deref(), BATCH)?;
                if batch.len() == BATCH {
                    let mut after = batch[BATCH - 1].0.clone();
                    after.push(0);
                    self.next = Some(after);
                }
                self.buf.extend(batch);
            }
        }
        Ok(self.buf.front().map(|(k, _)| k.as_slice()))
    }

    fn pop(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.buf.pop_front()
    }

    /// Skips to the first key at or after `to`.
    fn seek(&mut self, to: &[u8]) {
        while self.buf.front().is_some_and(|(k, _)| k.as_slice() < to) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            if let Some(next) = &mut self.next {
                if next.as_slice() < to {
                    *next = to.to_vec();
                }
            }
        }
    }
}

impl Vfs {
    /// One page of ListObjectVersions.
    pub async fn list_versions(&self, bucket: &str, q: &VersionQuery<'_>) -> Result<VersionPage> {
        self.head_bucket(bucket).await?;
        self.rescan.wait_checked().await;
        if let Some(fleet) = &self.fleet {
            fleet.check_listing(&self.rescan, bucket, q.prefix).await?;
        }
        let base = key::index_key(bucket, "");
        let delimiter = q.delimiter.filter(|d| !d.is_empty());
        let prefix = key::index_key(bucket, q.prefix);
        let end = key::prefix_end(&prefix);
        let mut start = prefix.clone();
        // The key whose versions the page starts inside, if it does.
        let mut inside = None;
        if let Some(km) = q.key_marker.filter(|k| !k.is_empty()) {
            let after = match q.version_id_marker.filter(|v| !v.is_empty()) {
                Some(v) => {
                    let want = VersionRef::parse(v)
                        .ok_or_else(|| VfsError::InvalidVersion(v.to_string()))?;
                    inside = Some(km.to_string());
                    self.after_version(bucket, km, want)?
                }
                None => after_key(bucket, km),
            };
            start = start.max(after);
        }
        let mut objects = Cursor::new(self, Tree::Objects, start.clone(), end.clone());
        let mut versions = Cursor::new(self, Tree::Versions, start, end);
        let want = q.max_keys + 1;
        let mut items = Vec::new();
        let mut last_key = inside;
        while items.len() < want {
            let from_objects = match (objects.peek()?, versions.peek()?) {
                (None, None) => break,
                (Some(o), Some(v)) => o < v,
                (o, _) => o.is_some(),
            };
            // Taken now; a common prefix's seek skips the rest of it.
            let (k, v) = match from_objects {
                true => objects.pop(),
                false => versions.pop(),
            }
            .unwrap_or_default();
            let record_key = match from_objects {
                true => &k[..],
                false => &k[..k.len() - ROW_TAIL],
            };
            let name = std::str::from_utf8(&record_key[base.len()..])
                .map_err(|_| VfsError::InvalidKey("index holds a non-UTF-8 key".into()))?
                .to_string();
            if let Some(d) = delimiter {
                if let Some(pos) = name[q.prefix.len()..].find(d) {
                    let cp = name[..q.prefix.len() + pos + d.len()].to_string();
                    let past = key::prefix_end(&key::index_key(bucket, &cp));
                    items.push(VersionItem::CommonPrefix(cp));
                    match past {
                        Some(past) => {
                            objects.seek(&past);
                            versions.seek(&past);
                            continue;
                        }
                        None => break,
                    }
                }
            }
            let before = last_key.replace(name.clone());
            let latest = before.as_deref() != Some(name.as_str());
            let item = match from_objects {
                true => {
                    let mut meta = ListedMeta::decode(&v)?;
                    if meta.etag.is_empty() {
                        // A file another program wrote: hashed once, as a listing does.
                        match self.current_record(bucket, &name).await {
                            Ok(m) => meta = ListedMeta::from(m),
                            Err(VfsError::NoSuchKey) => {
                                last_key = before;
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    VersionItem::Version {
                        key: name,
                        version_id: shown_id(meta.version),
                        latest,
                        info: Listed::from(meta),
                    }
                }
                false => {
                    let row = ListedRow::decode(&v)?;
                    let version_id = row.id.to_string();
                    match row.object {
                        Some(meta) => VersionItem::Version {
                            key: name,
                            version_id,
                            latest,
                            info: Listed::from(meta),
                        },
                        None => VersionItem::DeleteMarker {
                            key: name,
                            version_id,
                            latest,
                            last_modified: time_from_ns(row.made_ns),
                        },
                    }
                }
            };
            items.push(item);
        }
        let truncated = items.len() > q.max_keys;
        items.truncate(q.max_keys);
        let (next_key_marker, next_version_id_marker) = match (truncated, items.last()) {
            (true, Some(VersionItem::CommonPrefix(p))) => (Some(p.clone()), None),
            (
                true,
                Some(VersionItem::Version {
                    key, version_id, ..
                }),
            )
            | (
                true,
                Some(VersionItem::DeleteMarker {
                    key, version_id, ..
                }),
            ) => (Some(key.clone()), Some(version_id.clone())),
            _ => (None, None),
        };
        Ok(VersionPage {
            items,
            truncated,
            next_key_marker,
            next_version_id_marker,
        })
    }

    /// The record of a current object, rebuilt when another program wrote its file.
    async fn current_record(&self, bucket: &str, key: &str) -> Result<ObjectMeta> {
        let path = self.core.path_of(bucket, key)?.ok_or(VfsError::NoSuchKey)?;
        self.refresh_record(bucket, key, &path).await
    }

    /// Where a page starts after version `want` of `km`: after its current version, the rows
    /// of `km` (all older); after a kept one, the rows after it; after one `km` does not have,
    /// the next key.
    fn after_version(&self, bucket: &str, km: &str, want: VersionRef) -> Result<Vec<u8>> {
        if let Some(current) = self.core.index.get(bucket, km)? {
            let id = current.version.unwrap_or(VersionId::ORIGINAL);
            if want.names(&id) {
                let mut k = key::index_key(bucket, km);
                k.push(0);
                return Ok(k);
            }
        }
        Ok(match self.find_version(bucket, km, want)? {
            Some(row) => {
                let mut k = row_key(bucket, km, row.id.seq);
                k.push(0);
                k
            }
            None => after_key(bucket, km),
        })
    }
}

/// The first index key after every record and row of `km`.
fn after_key(bucket: &str, km: &str) -> Vec<u8> {
    let mut k = key::index_key(bucket, km);
    k.push(0);
    k.extend_from_slice(&[0xff; ROW_TAIL]);
    k
}

fn shown_id(version: Option<VersionId>) -> String {
    version.unwrap_or(VersionId::ORIGINAL).to_string()
}

/// What a listing shows of a kept version or marker ([`crate::version_row::VersionRecord`]): the
/// rest of the row (its file, its content headers and metadata) is skipped, not built.
#[derive(Debug, PartialEq, Deserialize)]
struct ListedRow {
    id: VersionId,
    #[serde(default)]
    object: Option<ListedMeta>,
    made_ns: i64,
}

impl ListedRow {
    fn decode(bytes: &[u8]) -> Result<ListedRow> {
        if let Some(row) = ListedRow::read_known_layout(bytes) {
            return Ok(row);
        }
        serde_json::from_slice(bytes)
            .map_err(|e| VfsError::Store(StoreError(format!("corrupt version record: {e}"))))
    }

    /// Reads a row laid out as `VersionRecord::encode` writes it, without a JSON parse: its id
    /// opens it, the version's record follows (read as a listing reads a current one), then its
    /// file (a store path: no quote, no escape), when it was made, and since when it is
    /// noncurrent. Skipping the content headers and metadata of every row in a JSON parse was
    /// most of a page's time. `None` for anything else, which then takes the full parse.
    fn read_known_layout(b: &[u8]) -> Option<ListedRow> {
        let (id, rest) = ListedMeta::read_version_id(b.strip_prefix(br#"{"id":"#)?)?;
        let tail_at = find_last(rest, br#","made_ns":"#)?;
        let (made_ns, after) = crate::index::number(&rest[tail_at + br#","made_ns":"#.len()..])?;
        after.strip_prefix(br#","noncurrent_ns":"#)?;
        let object = match rest.strip_prefix(br#","object":"#) {
            None if tail_at == 0 => None,
            None => return None,
            Some(object) => {
                let end = find_last(&object[..tail_at - br#","object":"#.len()], br#","file":""#)?;
                Some(ListedMeta::read_known_layout(&object[..end])?)
            }
        };
        Some(ListedRow {
            id,
            object,
            made_ns: i64::try_from(made_ns).ok()?,
        })
    }
}

/// Where the last `needle` in `hay` starts.
fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::Versioning;

    async fn put(vfs: &Vfs, key: &str) -> String {
        let info = vfs.put_test(key, key.to_string(), Default::default()).await;
        info.version_id.unwrap_or_else(|| "null".into())
    }

    async fn mark(vfs: &Vfs, key: &str) -> String {
        vfs.add_delete_marker("bkt", key)
            .await
            .unwrap()
            .unwrap()
            .version_id
    }

    /// An item as (key, version, latest, marker), or a common prefix with no version.
    fn shown(item: &VersionItem) -> (String, String, bool, bool) {
        match item {
            VersionItem::Version {
                key,
                version_id,
                latest,
                ..
            } => (key.clone(), version_id.clone(), *latest, false),
            VersionItem::DeleteMarker {
                key,
                version_id,
                latest,
                ..
            } => (key.clone(), version_id.clone(), *latest, true),
            VersionItem::CommonPrefix(p) => (p.clone(), String::new(), false, false),
        }
    }

    /// The quick read of a row agrees with the full parse, for versions (`null` or not, with
    /// metadata that looks like the row's own fields) and markers alike.
    #[test]
    fn the_quick_read_of_a_row_agrees_with_the_parse() {
        use crate::index::ObjectAttrs;
        use crate::version_row::VersionRecord;
        let tricky = r#","file":"x","made_ns":1,"noncurrent_ns":2}"#;
        let mut attrs = ObjectAttrs {
            user_meta: vec![(tricky.into(), tricky.into())],
            ..Default::default()
        };
        attrs.headers.content_type = Some(tricky.into());
        let object = |version, modified_ns, attrs: &ObjectAttrs| ObjectMeta {
            fingerprint: crate::remote::Fingerprint {
                size: 7,
                mtime_ns: -3,
                id: 9,
            },
            etag: "0123456789abcdef0123456789abcdef-2".into(),
            version,
            attrs: attrs.clone(),
            parts: vec![5, 2],
            modified_ns,
            in_write_cache: false,
            store: None,
        };
        let id = |null| VersionId {
            seq: 42,
            ms: 1_700_000_000_000,
            null,
        };
        let mut rows = Vec::new();
        for null in [false, true] {
            for (modified_ns, attrs) in [(None, &ObjectAttrs::default()), (Some(11), &attrs)] {
                rows.push(VersionRecord {
                    id: id(null),
                    object: Some(object(Some(id(null)), modified_ns, attrs)),
                    file: Some(".s3gate/versions/bkt/2a/x".into()),
                    made_ns: 5,
                    noncurrent_ns: 6,
                });
            }
            rows.push(VersionRecord {
                id: id(null),
                object: None,
                file: None,
                made_ns: -5,
                noncurrent_ns: 6,
            });
        }
        for row in rows {
            let bytes = row.encode();
            let parsed: ListedRow = serde_json::from_slice(&bytes).unwrap();
            let quick = ListedRow::read_known_layout(&bytes);
            assert_eq!(
                quick.as_ref(),
                Some(&parsed),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    async fn page(vfs: &Vfs, q: &VersionQuery<'_>) -> VersionPage {
        vfs.list_versions("bkt", q).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn versions_list_by_key_then_newest_first_and_page_from_both_markers() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        let c0 = put(&vfs, "c").await; // before versioning: null
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        let a1 = put(&vfs, "a").await;
        let a2 = put(&vfs, "a").await;
        let am = mark(&vfs, "a").await;
        let a3 = put(&vfs, "a").await;
        let ab = put(&vfs, "ab/c").await;
        let b1 = put(&vfs, "b").await;
        let bm = mark(&vfs, "b").await;
        let c1 = put(&vfs, "c").await;
        let dx = put(&vfs, "d/x").await;
        let dy = put(&vfs, "d/y").await;
        let e = |k: &str, v: &str, latest: bool, marker: bool| {
            (k.to_string(), v.to_string(), latest, marker)
        };
        let all = vec![
            e("a", &a3, true, false),
            e("a", &am, false, true),
            e("a", &a2, false, false),
            e("a", &a1, false, false),
            e("ab/c", &ab, true, false),
            e("b", &bm, true, true),
            e("b", &b1, false, false),
            e("c", &c1, true, false),
            e("c", &c0, false, false),
            e("d/x", &dx, true, false),
            e("d/y", &dy, true, false),
        ];
        let full = page(
            &vfs,
            &VersionQuery {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await;
        assert!(!full.truncated);
        assert_eq!(full.items.iter().map(shown).collect::<Vec<_>>(), all);
        assert_eq!(c0, "null");

        // Every page size: the pages put together are the whole listing.
        for size in 1..=4 {
            let (mut km, mut vm) = (None::<String>, None::<String>);
            let mut got = Vec::new();
            loop {
                let p = page(
                    &vfs,
                    &VersionQuery {
                        key_marker: km.as_deref(),
                        version_id_marker: vm.as_deref(),
                        max_keys: size,
                        ..Default::default()
                    },
                )
                .await;
                got.extend(p.items.iter().map(shown));
                if !p.truncated {
                    break;
                }
                km = p.next_key_marker;
                vm = p.next_version_id_marker;
            }
            assert_eq!(got, all, "pages of {size}");
        }

        // A key marker alone starts after every version of the key.
        let after_a = page(
            &vfs,
            &VersionQuery {
                key_marker: Some("a"),
                max_keys: 2,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            after_a.items.iter().map(shown).collect::<Vec<_>>(),
            all[4..6]
        );
        assert_eq!(after_a.next_key_marker.as_deref(), Some("b"));
        assert_eq!(after_a.next_version_id_marker.as_deref(), Some(bm.as_str()));
        // Starting after the null version of c.
        let after_null = page(
            &vfs,
            &VersionQuery {
                key_marker: Some("c"),
                version_id_marker: Some("null"),
                max_keys: 1,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            after_null.items.iter().map(shown).collect::<Vec<_>>(),
            all[9..10]
        );

        // A delimiter rolls keys up into prefixes, counted once each.
        let rolled = page(
            &vfs,
            &VersionQuery {
                delimiter: Some("/"),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await;
        let cp = |p: &str| (p.to_string(), String::new(), false, false);
        let mut want: Vec<_> = all[..4].to_vec();
        want.push(cp("ab/"));
        want.extend(all[5..9].iter().cloned());
        want.push(cp("d/"));
        assert_eq!(rolled.items.iter().map(shown).collect::<Vec<_>>(), want);
        let under_d = page(
            &vfs,
            &VersionQuery {
                prefix: "d/",
                delimiter: Some("/"),
                max_keys: 1,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            under_d.items.iter().map(shown).collect::<Vec<_>>(),
            all[9..10]
        );
        assert!(under_d.truncated);

        assert!(matches!(
            vfs.list_versions(
                "bkt",
                &VersionQuery {
                    key_marker: Some("a"),
                    version_id_marker: Some("bogus"),
                    max_keys: 10,
                    ..Default::default()
                }
            )
            .await,
            Err(VfsError::InvalidVersion(_))
        ));
    }
}
