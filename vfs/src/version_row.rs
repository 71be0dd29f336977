//! A noncurrent version's row as the index keeps it (`Tree::Versions`), and the order of rows: a
//! type the index's records carry, below everything that acts on versions (`version.rs`,
//! lifecycle, listings), which read rows without importing each other.
//!
//! A row opens with what a listing shows of it, as fixed binary fields, so that a page of
//! versions reads a few words of each row and parses nothing:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | [`BINARY`], the layout's tag (a row of the first layout, JSON, opens with `{`) |
//! | 8 + 8 + 1 | the id: its counter, its milliseconds, whether it answers as `null` |
//! | 8 + 8 | when it was made, since when it is noncurrent (ns since the epoch) |
//! | 1 | what follows: [`OBJECT`] for a version (a delete marker has none), [`FILE`] |
//! | 8 + 8 + 2 + n | with an object: its size, its write time, and its ETag |
//! | 4 + n | with a file: where it is on the remote |
//! | rest | with an object: its record ([`ObjectMeta`] as JSON: headers, metadata, ...) |
//!
//! Integers are little-endian. Rows of the first layout are rewritten in this one once, at the
//! first start that finds them ([`rewrite_old_rows`]); reading one still works, by a JSON parse.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VfsError};
use crate::index::{Index, ObjectMeta};
use crate::key;
use crate::meta::{Edit, StoreError, Tree};
use crate::version_id::VersionId;

/// A noncurrent version or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) id: VersionId,
    /// The version's record, its fingerprint that of its file in the store; `None` for a
    /// delete marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) object: Option<ObjectMeta>,
    /// Where the file is on the remote; none for a delete marker, and for a folder marker's
    /// version (an empty object with this record, which has no file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
    /// When the version was made (a marker: the delete), in nanoseconds since the Unix epoch.
    pub(crate) made_ns: i64,
    /// When a newer version replaced it: what noncurrent-version expiry counts from.
    pub(crate) noncurrent_ns: i64,
}

impl VersionRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let object = self.object.as_ref().map(ObjectMeta::encode);
        let mut b = Vec::with_capacity(
            HEAD + object.as_ref().map_or(0, |o| o.len() + 64)
                + self.file.as_ref().map_or(0, |f| f.len() + 4),
        );
        b.push(BINARY);
        b.extend_from_slice(&self.id.seq.to_le_bytes());
        b.extend_from_slice(&self.id.ms.to_le_bytes());
        b.push(u8::from(self.id.null));
        b.extend_from_slice(&self.made_ns.to_le_bytes());
        b.extend_from_slice(&self.noncurrent_ns.to_le_bytes());
        let mut follows = 0;
        if self.object.is_some() {
            follows |= OBJECT;
        }
        if self.file.is_some() {
            follows |= FILE;
        }
        b.push(follows);
        if let Some(meta) = &self.object {
            b.extend_from_slice(&meta.fingerprint.size.to_le_bytes());
            b.extend_from_slice(&meta.written_ns().to_le_bytes());
            // An ETag is a digest, `-N` at most after it: far below 64 KiB.
            let etag = meta.etag.as_bytes();
            let etag = &etag[..etag.len().min(usize::from(u16::MAX))];
            b.extend_from_slice(&(etag.len() as u16).to_le_bytes());
            b.extend_from_slice(etag);
        }
        if let Some(file) = &self.file {
            b.extend_from_slice(&(file.len() as u32).to_le_bytes());
            b.extend_from_slice(file.as_bytes());
        }
        if let Some(object) = object {
            b.extend_from_slice(&object);
        }
        b
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<VersionRecord> {
        if bytes.first() != Some(&BINARY) {
            return serde_json::from_slice(bytes).map_err(|e| corrupt(&e));
        }
        let (head, mut r) = Head::read(bytes).ok_or_else(|| corrupt(&"a short row"))?;
        let file = match head.follows & FILE {
            0 => None,
            _ => {
                let file = r.text().ok_or_else(|| corrupt(&"a short row"))?;
                Some(file.to_string())
            }
        };
        let object = match head.object {
            Some(_) => Some(ObjectMeta::decode(r.rest)?),
            None => None,
        };
        Ok(VersionRecord {
            id: head.id,
            object,
            file,
            made_ns: head.made_ns,
            noncurrent_ns: head.noncurrent_ns,
        })
    }
}

/// What opens a row of the binary layout: the tag, the id, the two times and what follows.
const HEAD: usize = 1 + 8 + 8 + 1 + 8 + 8 + 1;

/// The tag of the binary layout.
const BINARY: u8 = 1;
/// A row's object follows its head: it is a version, not a delete marker.
const OBJECT: u8 = 1;
/// A row names its file.
const FILE: u8 = 2;

fn corrupt(e: &dyn std::fmt::Display) -> VfsError {
    VfsError::Store(StoreError(format!("corrupt version record: {e}")))
}

/// What a listing shows of a version or marker: its head, read without the rest of the row.
#[derive(Debug, PartialEq)]
pub(crate) struct ListedRow<'a> {
    pub(crate) id: VersionId,
    pub(crate) made_ns: i64,
    /// None for a delete marker.
    pub(crate) object: Option<ListedObject<'a>>,
}

/// What a listing shows of a version's object.
#[derive(Debug, PartialEq)]
pub(crate) struct ListedObject<'a> {
    pub(crate) size: u64,
    pub(crate) written_ns: i64,
    /// Lent from the row when it can be.
    pub(crate) etag: Cow<'a, str>,
}

impl ListedObject<'static> {
    fn of(m: ObjectMeta) -> ListedObject<'static> {
        ListedObject {
            size: m.fingerprint.size,
            written_ns: m.written_ns(),
            etag: Cow::Owned(m.etag),
        }
    }
}

impl<'a> ListedRow<'a> {
    /// Reads what a listing shows of a row; a row of the first layout takes a full parse.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<ListedRow<'a>> {
        if bytes.first() != Some(&BINARY) {
            let row = VersionRecord::decode(bytes)?;
            return Ok(ListedRow {
                id: row.id,
                made_ns: row.made_ns,
                object: row.object.map(ListedObject::of),
            });
        }
        let (head, _) = Head::read(bytes).ok_or_else(|| corrupt(&"a short row"))?;
        Ok(ListedRow {
            id: head.id,
            made_ns: head.made_ns,
            object: head.object,
        })
    }
}

/// The fixed fields of a binary row.
struct Head<'a> {
    id: VersionId,
    made_ns: i64,
    noncurrent_ns: i64,
    follows: u8,
    object: Option<ListedObject<'a>>,
}

impl<'a> Head<'a> {
    /// The head of `b`, a binary row, and a reader after it (at the file, if any); `None` for a
    /// row too short for what it says it holds.
    fn read(b: &'a [u8]) -> Option<(Head<'a>, Reader<'a>)> {
        let mut r = Reader { rest: b.get(1..)? };
        let id = VersionId {
            seq: r.u64()?,
            ms: r.u64()?,
            null: r.u8()? != 0,
        };
        let made_ns = r.u64()? as i64;
        let noncurrent_ns = r.u64()? as i64;
        let follows = r.u8()?;
        let object = match follows & OBJECT {
            0 => None,
            _ => {
                let size = r.u64()?;
                let written_ns = r.u64()? as i64;
                let len = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
                let etag = Cow::Borrowed(std::str::from_utf8(r.take(len)?).ok()?);
                Some(ListedObject {
                    size,
                    written_ns,
                    etag,
                })
            }
        };
        let head = Head {
            id,
            made_ns,
            noncurrent_ns,
            follows,
            object,
        };
        Some((head, r))
    }
}

/// Reads a binary row's fields in order.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A length (4 bytes) and that much UTF-8 text.
    fn text(&mut self) -> Option<&'a str> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        std::str::from_utf8(self.take(usize::try_from(len).ok()?)?).ok()
    }
}

/// The row key of version `seq` of `bucket/key`.
pub(crate) fn row_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = key::index_key(bucket, key);
    k.push(0);
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

/// The noncurrent versions and markers of `bucket/key`, newest first, at most `limit`.
pub(crate) fn rows(
    index: &Index,
    bucket: &str,
    key: &str,
    limit: usize,
) -> Result<Vec<VersionRecord>> {
    let mut start = key::index_key(bucket, key);
    start.push(0);
    let mut end = key::index_key(bucket, key);
    end.push(1);
    index
        .range_in(Tree::Versions, &start, Some(&end), limit)?
        .iter()
        .map(|(_, v)| VersionRecord::decode(v))
        .collect()
}

/// Where `Tree::State` says every row is in the binary layout.
const ROWS_BINARY: &[u8] = b"version-rows-binary";

/// Rewrites the rows of the first layout (JSON) in the binary one, a thousand a commit; run at
/// start, before serving, until a start has found none, which the index then remembers. A
/// crash in between only leaves some rows to rewrite at the next start: either layout reads.
/// Returns how many rows were rewritten.
pub(crate) async fn rewrite_old_rows(index: &Index) -> Result<usize> {
    if index.get_state(ROWS_BINARY)?.is_some() {
        return Ok(0);
    }
    const BATCH: usize = 1000;
    let mut rewritten = 0;
    let mut start = Vec::new();
    loop {
        let rows = index.range_in(Tree::Versions, &start, None, BATCH)?;
        let Some((last, _)) = rows.last() else { break };
        start = last.clone();
        start.push(0);
        let mut edits = Vec::new();
        for (k, v) in &rows {
            // A row that does not parse is left as it is: reading it fails as it did.
            if let Some(row) = (v.first() != Some(&BINARY))
                .then(|| VersionRecord::decode(v).ok())
                .flatten()
            {
                edits.push(Edit::Put(Tree::Versions, k.clone(), row.encode()));
            }
        }
        rewritten += edits.len();
        if !edits.is_empty() {
            index.apply(edits).await?;
        }
        if rows.len() < BATCH {
            break;
        }
    }
    index
        .apply(vec![Edit::Put(
            Tree::State,
            ROWS_BINARY.to_vec(),
            Vec::new(),
        )])
        .await?;
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ObjectAttrs;
    use crate::remote::Fingerprint;

    /// Rows of every shape: versions `null` or not, with a file or none (a folder marker's),
    /// with a write time apart from the file's, with metadata that looks like a row's own
    /// fields, kept in the store of keys; and markers.
    fn rows() -> Vec<VersionRecord> {
        let tricky = r#","file":"x","made_ns":1,"noncurrent_ns":2}"#;
        let mut attrs = ObjectAttrs {
            user_meta: vec![(tricky.into(), tricky.into())],
            ..Default::default()
        };
        attrs.headers.content_type = Some(tricky.into());
        let id = |null| VersionId {
            seq: 42,
            ms: 1_700_000_000_000,
            null,
        };
        let object = |null, modified_ns, attrs: &ObjectAttrs, store: Option<&str>| ObjectMeta {
            fingerprint: Fingerprint {
                size: 7,
                mtime_ns: -3,
                id: 9,
            },
            etag: "0123456789abcdef0123456789abcdef-2".into(),
            version: Some(id(null)),
            attrs: attrs.clone(),
            parts: vec![5, 2],
            modified_ns,
            in_write_cache: false,
            store: store.map(Into::into),
        };
        let mut rows = Vec::new();
        for null in [false, true] {
            for (modified_ns, attrs) in [(None, &ObjectAttrs::default()), (Some(11), &attrs)] {
                for store in [None, Some(".s3gate/keys/0a/x")] {
                    for file in [Some(".s3gate/versions/bkt/2a/x"), None] {
                        rows.push(VersionRecord {
                            id: id(null),
                            object: Some(object(null, modified_ns, attrs, store)),
                            file: file.map(Into::into),
                            made_ns: 5,
                            noncurrent_ns: 6,
                        });
                    }
                }
            }
            rows.push(VersionRecord {
                id: id(null),
                object: None,
                file: None,
                made_ns: -5,
                noncurrent_ns: i64::MAX,
            });
        }
        rows
    }

    /// What a listing must show of `row`.
    fn listed(row: &VersionRecord) -> ListedRow<'static> {
        ListedRow {
            id: row.id,
            made_ns: row.made_ns,
            object: row.object.clone().map(ListedObject::of),
        }
    }

    #[test]
    fn a_row_reads_back_whole_and_as_listed_in_either_layout() {
        for row in rows() {
            let binary = row.encode();
            assert_eq!(binary[0], BINARY);
            assert_eq!(VersionRecord::decode(&binary).unwrap(), row);
            assert_eq!(ListedRow::decode(&binary).unwrap(), listed(&row));
            // The first layout, as rows were written before.
            let json = serde_json::to_vec(&row).unwrap();
            assert_eq!(json[0], b'{');
            assert_eq!(VersionRecord::decode(&json).unwrap(), row);
            assert_eq!(ListedRow::decode(&json).unwrap(), listed(&row));
        }
    }

    /// A row cut anywhere, or whose lengths say more than it holds, is an error, never a panic
    /// or a record read from the wrong bytes.
    #[test]
    fn a_damaged_row_is_an_error() {
        for row in rows() {
            let binary = row.encode();
            // Cut inside the head and the file: nothing reads. Cut inside the record: its
            // JSON does not parse. A marker without a file ends with its head.
            for cut in 1..binary.len() {
                assert!(
                    VersionRecord::decode(&binary[..cut]).is_err(),
                    "cut at {cut}"
                );
            }
            let etag_at = HEAD + 16;
            for cut in 1..binary.len().min(etag_at + 2 + 34) {
                if cut < HEAD || row.object.is_some() {
                    assert!(ListedRow::decode(&binary[..cut]).is_err(), "cut at {cut}");
                }
            }
        }
        let mut row = rows().remove(0).encode();
        // The file's length, past the end.
        let file_at = HEAD + 16 + 2 + 34;
        row[file_at..file_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(VersionRecord::decode(&row).is_err());
        assert!(VersionRecord::decode(b"").is_err());
        assert!(ListedRow::decode(b"").is_err());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn rows_of_the_first_layout_are_rewritten_once() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::new(crate::meta::open(Default::default(), dir.path()).unwrap());
        let all = rows();
        let mut edits = Vec::new();
        for (i, row) in all.iter().enumerate() {
            let value = match i % 2 {
                0 => serde_json::to_vec(row).unwrap(),
                _ => row.encode(),
            };
            edits.push(Edit::Put(
                Tree::Versions,
                row_key("b", &format!("k{i:04}"), 1),
                value,
            ));
        }
        // More rows than one commit takes, and one that does not parse.
        for i in 0..2500 {
            edits.push(Edit::Put(
                Tree::Versions,
                row_key("b", &format!("m{i:04}"), 1),
                serde_json::to_vec(&all[i % all.len()]).unwrap(),
            ));
        }
        edits.push(Edit::Put(
            Tree::Versions,
            row_key("b", "z", 1),
            b"{not a row".to_vec(),
        ));
        index.apply(edits).await.unwrap();

        assert_eq!(
            rewrite_old_rows(&index).await.unwrap(),
            all.len() / 2 + 2500
        );
        let stored = index
            .range_in(Tree::Versions, b"", None, usize::MAX)
            .unwrap();
        assert_eq!(stored.len(), all.len() + 2501);
        for (k, v) in &stored {
            if k.starts_with(b"b/z\0") {
                assert_eq!(v, b"{not a row", "a damaged row is left as it was");
                continue;
            }
            assert_eq!(v[0], BINARY);
        }
        for (i, row) in all.iter().enumerate() {
            let k = row_key("b", &format!("k{i:04}"), 1);
            let v = index.get_in(Tree::Versions, &k).unwrap().unwrap();
            assert_eq!(&VersionRecord::decode(&v).unwrap(), row);
        }
        // Remembered: a row of the first layout written since is not looked for again.
        let late = row_key("b", "late", 1);
        let json = serde_json::to_vec(&all[0]).unwrap();
        index
            .apply(vec![Edit::Put(Tree::Versions, late.clone(), json.clone())])
            .await
            .unwrap();
        assert_eq!(rewrite_old_rows(&index).await.unwrap(), 0);
        assert_eq!(index.get_in(Tree::Versions, &late).unwrap(), Some(json));
        index.close();
    }
}
