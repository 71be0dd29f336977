//! ListObjectVersions: the current records (`Tree::Objects`) and the kept versions and markers
//! (`Tree::Versions`) merged in one pass. A row's key is its object's record key followed by NUL
//! and the inverted counter, and no key holds a NUL, so the two trees' keys compared as bytes
//! give S3's order: keys ascending, the current version first, then the kept ones newest first.
//! Both trees are scanned as one sequence in one read of the index, from where the page starts,
//! seeking past every common prefix, so a page costs work in proportion to the page.

use crate::error::{Result, VfsError};

use std::time::SystemTime;

use crate::index::{ListedMeta, ObjectMeta};
use crate::key;
use crate::meta::{Step, Tree};
use crate::remote::time_from_ns;
use crate::version_id::{VersionId, VersionRef};
use crate::version_row::{row_key, ListedObject, ListedRow};
use crate::vfs::Vfs;

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

/// Where a key, a common prefix or an ETag of a page is in the page's text
/// ([`VersionPage::text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    at: usize,
    len: usize,
}

#[derive(Debug, Clone)]
pub enum VersionItem {
    Version {
        key: Span,
        version_id: ShownId,
        latest: bool,
        size: u64,
        last_modified: SystemTime,
        /// Hex digest, without quotes.
        etag: Span,
    },
    DeleteMarker {
        key: Span,
        version_id: ShownId,
        latest: bool,
        last_modified: SystemTime,
    },
    CommonPrefix(Span),
}

impl VersionItem {
    /// The spans of the page's text this item names.
    fn spans(&self) -> impl Iterator<Item = Span> {
        let (first, second) = match *self {
            VersionItem::Version { key, etag, .. } => (key, Some(etag)),
            VersionItem::DeleteMarker { key, .. } => (key, None),
            VersionItem::CommonPrefix(p) => (p, None),
        };
        std::iter::once(first).chain(second)
    }

    /// The key and version shown, for a version or a marker.
    fn version(&self) -> Option<(Span, ShownId)> {
        match self {
            VersionItem::Version {
                key, version_id, ..
            }
            | VersionItem::DeleteMarker {
                key, version_id, ..
            } => Some((*key, *version_id)),
            VersionItem::CommonPrefix(_) => None,
        }
    }
}

/// A version id as clients see it (`null`, or the hex of [`VersionId`]'s `Display`), held
/// without an allocation: a page shows a thousand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShownId {
    /// The counter's 16 digits and at least 12 of the time's.
    text: [u8; 32],
    len: u8,
}

impl ShownId {
    fn of(id: VersionId) -> ShownId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0; 32];
        if id.null {
            text[..4].copy_from_slice(b"null");
            return ShownId { text, len: 4 };
        }
        // `{:016x}{:012x}`: the time takes more than 12 digits only past the year 10889.
        let ms_digits = (16 - id.ms.leading_zeros() as usize / 4).max(12);
        let len = 16 + ms_digits;
        for (value, at, width) in [(id.seq, 0, 16), (id.ms, 16, ms_digits)] {
            for (i, d) in text[at..at + width].iter_mut().rev().enumerate() {
                *d = HEX[(value >> (4 * i) & 0xf) as usize];
            }
        }
        ShownId {
            text,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Display for ShownId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for ShownId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct VersionPage {
    /// The keys, common prefixes and ETags of the page one after another, copied once from the
    /// index: an item names its own by [`Span`]. A page of a thousand entries made two strings
    /// an entry before.
    text: String,
    pub items: Vec<VersionItem>,
    pub truncated: bool,
    /// Where the next page starts, when truncated.
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

impl VersionPage {
    /// A key, prefix or ETag of an item of this page.
    pub fn text(&self, span: Span) -> &str {
        text_at(&self.text, span)
    }
}

/// Whether `span` starts and ends on characters' boundaries in `text`.
fn whole(text: &str, span: Span) -> bool {
    text.is_char_boundary(span.at) && text.is_char_boundary(span.at + span.len)
}

fn text_at(text: &str, span: Span) -> &str {
    text.get(span.at..span.at + span.len).unwrap_or_default()
}

/// Copies `bytes` to the end of `text`, and names where they went.
fn push_span(text: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let at = text.len();
    text.extend_from_slice(bytes);
    Span {
        at,
        len: bytes.len(),
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
        self.check_versions(bucket, q.prefix).await?;
        let base = key::index_key(bucket, "");
        let delimiter = q.delimiter.filter(|d| !d.is_empty());
        let prefix = key::index_key(bucket, q.prefix);
        let end = key::prefix_end(&prefix);
        let mut start = prefix.clone();
        // The record key of the last version listed: the next one of the same key is not the
        // latest. A page that starts inside a key's versions starts after its latest.
        let mut last_key: Option<Vec<u8>> = None;
        if let Some(km) = q.key_marker.filter(|k| !k.is_empty()) {
            let after = match q.version_id_marker.filter(|v| !v.is_empty()) {
                Some(v) => {
                    let want = VersionRef::parse(v)
                        .ok_or_else(|| VfsError::InvalidVersion(v.to_string()))?;
                    last_key = Some(key::index_key(bucket, km));
                    self.after_version(bucket, km, want)?
                }
                None => after_key(bucket, km),
            };
            start = start.max(after);
        }
        let want = q.max_keys + 1;
        let mut items = Vec::with_capacity(want.min(1001));
        // Keys are copied as bytes and checked as UTF-8 once, the whole page at a time.
        let mut text = Vec::with_capacity(want.min(1001) * 64);
        // Current versions whose file another program wrote: their records are rebuilt after
        // the scan, which cannot wait on the remote.
        let mut foreign = Vec::new();
        let mut failed = None;
        let prefix_len = base.len() + q.prefix.len();
        self.core.index.scan_merged(
            [Tree::Objects, Tree::Versions],
            &start,
            end.as_deref(),
            |tree, k, v| {
                let from_objects = tree == 0;
                let record_key = match from_objects {
                    true => k,
                    false => &k[..k.len().saturating_sub(ROW_TAIL)],
                };
                if let Some(d) = delimiter {
                    // A match of the delimiter's bytes in UTF-8 text is a match of its
                    // characters, so the prefix ends on a character's boundary.
                    if let Some(pos) = record_key
                        .get(prefix_len..)
                        .and_then(|n| memchr::memmem::find(n, d.as_bytes()))
                    {
                        let cp = &record_key[..prefix_len + pos + d.len()];
                        items.push(VersionItem::CommonPrefix(push_span(
                            &mut text,
                            &cp[base.len()..],
                        )));
                        // Every version under the prefix rolls up into it: both trees jump
                        // past them.
                        return match key::prefix_end(cp) {
                            Some(past) if items.len() < want => Step::Seek(past),
                            _ => Step::Stop,
                        };
                    }
                }
                let latest = last_key.as_deref() != Some(record_key);
                match &mut last_key {
                    Some(last) if !latest => {}
                    Some(last) => {
                        last.clear();
                        last.extend_from_slice(record_key);
                    }
                    None => last_key = Some(record_key.to_vec()),
                }
                let key = push_span(&mut text, record_key.get(base.len()..).unwrap_or_default());
                let item = match from_objects {
                    true => ListedMeta::decode(v).map(|meta| {
                        if meta.etag.is_empty() {
                            foreign.push(items.len());
                        }
                        VersionItem::Version {
                            key,
                            version_id: shown_id(meta.version),
                            latest,
                            size: meta.fingerprint.size,
                            last_modified: time_from_ns(meta.written_ns()),
                            etag: push_span(&mut text, meta.etag.as_bytes()),
                        }
                    }),
                    false => ListedRow::decode(v).map(|row| {
                        let version_id = ShownId::of(row.id);
                        match row.object {
                            Some(ListedObject {
                                size,
                                written_ns,
                                etag,
                            }) => VersionItem::Version {
                                key,
                                version_id,
                                latest,
                                size,
                                last_modified: time_from_ns(written_ns),
                                etag: push_span(&mut text, etag.as_bytes()),
                            },
                            None => VersionItem::DeleteMarker {
                                key,
                                version_id,
                                latest,
                                last_modified: time_from_ns(row.made_ns),
                            },
                        }
                    }),
                };
                match item {
                    Ok(item) => items.push(item),
                    Err(e) => {
                        failed = Some(e);
                        return Step::Stop;
                    }
                }
                match items.len() < want {
                    true => Step::Next,
                    false => Step::Stop,
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        // Each key whole: two halves of a character in two keys make valid text together.
        let mut text = String::from_utf8(text)
            .ok()
            .filter(|t| items.iter().all(|i| i.spans().all(|s| whole(t, s))))
            .ok_or_else(|| VfsError::InvalidKey("index holds a non-UTF-8 key".into()))?;
        let truncated = items.len() > q.max_keys;
        items.truncate(q.max_keys);
        self.refresh_foreign(bucket, &mut text, &mut items, foreign)
            .await?;
        let (next_key_marker, next_version_id_marker) = match (truncated, items.last()) {
            (true, Some(VersionItem::CommonPrefix(p))) => {
                (Some(text_at(&text, *p).to_string()), None)
            }
            (true, Some(item)) => match item.version() {
                Some((key, id)) => (Some(text_at(&text, key).to_string()), Some(id.to_string())),
                None => (None, None),
            },
            _ => (None, None),
        };
        Ok(VersionPage {
            text,
            items,
            truncated,
            next_key_marker,
            next_version_id_marker,
        })
    }

    /// Rebuilds the records of the current versions at `at` in `items`, files another program
    /// wrote (hashed once, as a listing does); their ETags are added to the page's `text`. One
    /// whose file is gone is left out, and the next version of its key is then the latest.
    async fn refresh_foreign(
        &self,
        bucket: &str,
        text: &mut String,
        items: &mut Vec<VersionItem>,
        at: Vec<usize>,
    ) -> Result<()> {
        let shown = items.len();
        for i in at.into_iter().rev().filter(|&i| i < shown) {
            let VersionItem::Version { key, .. } = items[i] else {
                continue;
            };
            match self.current_record(bucket, text_at(text, key)).await {
                Ok(m) => {
                    if let VersionItem::Version {
                        version_id,
                        size,
                        last_modified,
                        etag,
                        ..
                    } = &mut items[i]
                    {
                        *version_id = shown_id(m.version);
                        *size = m.fingerprint.size;
                        *last_modified = time_from_ns(m.written_ns());
                        *etag = Span {
                            at: text.len(),
                            len: m.etag.len(),
                        };
                        text.push_str(&m.etag);
                    }
                }
                Err(VfsError::NoSuchKey) => {
                    let gone = items.remove(i);
                    let below = items.get_mut(i);
                    if let (
                        Some((key, _)),
                        Some(
                            VersionItem::Version { key: k, latest, .. }
                            | VersionItem::DeleteMarker { key: k, latest, .. },
                        ),
                    ) = (gone.version(), below)
                    {
                        *latest |= text_at(text, *k) == text_at(text, key);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
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

fn shown_id(version: Option<VersionId>) -> ShownId {
    ShownId::of(version.unwrap_or(VersionId::ORIGINAL))
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

    /// A page's items as (key, version, latest, marker), or a common prefix with no version.
    fn shown(page: &VersionPage) -> Vec<(String, String, bool, bool)> {
        let item = |item: &VersionItem| match item {
            VersionItem::Version {
                key,
                version_id,
                latest,
                ..
            } => (
                page.text(*key).into(),
                version_id.to_string(),
                *latest,
                false,
            ),
            VersionItem::DeleteMarker {
                key,
                version_id,
                latest,
                ..
            } => (
                page.text(*key).into(),
                version_id.to_string(),
                *latest,
                true,
            ),
            VersionItem::CommonPrefix(p) => (page.text(*p).into(), String::new(), false, false),
        };
        page.items.iter().map(item).collect()
    }

    /// Rows written in the first layout (JSON) list as they did, and the same once a start
    /// has rewritten them.
    #[tokio::test(flavor = "multi_thread")]
    async fn rows_of_the_first_layout_list_the_same_before_and_after_their_rewrite() {
        use crate::meta::Edit;
        use crate::version_row::VersionRecord;
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        put(&vfs, "a").await;
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        for key in ["a", "a", "b", "c/d"] {
            put(&vfs, key).await;
        }
        mark(&vfs, "b").await;
        put(&vfs, "b").await;
        let q = VersionQuery {
            max_keys: 1000,
            ..Default::default()
        };
        let everything = |p: &VersionPage| (format!("{:?}", p.items), p.text.clone());
        let before = everything(&page(&vfs, &q).await);
        assert_eq!(page(&vfs, &q).await.items.len(), 7);

        let rows = vfs
            .core
            .index
            .range_in(Tree::Versions, b"", None, usize::MAX)
            .unwrap();
        assert_eq!(rows.len(), 4);
        let mut edits = vec![Edit::Delete(Tree::State, b"version-rows-binary".to_vec())];
        for (k, v) in rows {
            assert_eq!(v[0], 1, "written in the binary layout");
            let json = serde_json::to_vec(&VersionRecord::decode(&v).unwrap()).unwrap();
            edits.push(Edit::Put(Tree::Versions, k, json));
        }
        vfs.core.index.apply(edits).await.unwrap();
        assert_eq!(everything(&page(&vfs, &q).await), before);

        vfs.shutdown().await;
        drop(vfs);
        let vfs = Vfs::open_unsynced(dir.path()).await;
        // The rescan a server runs after its start, which a listing waits for.
        vfs.reconcile().await.unwrap();
        let rows = vfs
            .core
            .index
            .range_in(Tree::Versions, b"", None, usize::MAX)
            .unwrap();
        assert!(rows.iter().all(|(_, v)| v[0] == 1), "rewritten at start");
        assert_eq!(everything(&page(&vfs, &q).await), before);
    }

    /// A key the index holds as bytes that are not UTF-8 fails the page, also when it and the
    /// next key are each half of one character, which read as valid text together.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_key_that_is_not_text_fails_the_page() {
        use crate::meta::Edit;
        use crate::version_row::VersionRecord;
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        let q = VersionQuery {
            max_keys: 1000,
            ..Default::default()
        };
        assert!(page(&vfs, &q).await.items.is_empty());
        // A marker of `a` + the first byte of `é`, and a key made of its second byte and `b`.
        let mut row = b"bkt/a\xC3\x00".to_vec();
        row.extend_from_slice(&(!1u64).to_be_bytes());
        let marker = VersionRecord {
            id: VersionId {
                seq: 1,
                ms: 1,
                null: false,
            },
            object: None,
            file: None,
            made_ns: 1,
            noncurrent_ns: 1,
        };
        let record = ObjectMeta {
            fingerprint: crate::remote::Fingerprint {
                size: 1,
                mtime_ns: 1,
                id: 1,
            },
            etag: "e".into(),
            version: None,
            attrs: Default::default(),
            parts: Vec::new(),
            modified_ns: None,
            in_write_cache: false,
            store: None,
        };
        vfs.core
            .index
            .apply(vec![
                Edit::Put(Tree::Versions, row, marker.encode()),
                Edit::Put(Tree::Objects, b"bkt/\xA9b".to_vec(), record.encode()),
            ])
            .await
            .unwrap();
        assert!(matches!(
            vfs.list_versions("bkt", &q).await,
            Err(VfsError::InvalidKey(_))
        ));
    }

    /// The id a listing shows is the one every other answer shows.
    #[test]
    fn a_shown_id_reads_as_the_version_id() {
        for (seq, ms) in [
            (0, 0),
            (1, 1_700_000_000_123),
            (u64::MAX, (1 << 48) - 1),
            (0x1234, 1 << 48),
            (7, u64::MAX),
        ] {
            for null in [false, true] {
                let id = VersionId { seq, ms, null };
                assert_eq!(ShownId::of(id).as_str(), id.to_string());
            }
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
        assert_eq!(shown(&full), all);
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
                got.extend(shown(&p));
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
        assert_eq!(shown(&after_a), all[4..6]);
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
        assert_eq!(shown(&after_null), all[9..10]);

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
        assert_eq!(shown(&rolled), want);
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
        assert_eq!(shown(&under_d), all[9..10]);
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
