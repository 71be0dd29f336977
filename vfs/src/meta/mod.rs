//! The ordered key/value store under the metadata index. Two implementations pass the same
//! conformance suite: redb (default) and sled (cargo feature `sled`).

mod redb_store;
#[cfg(feature = "sled")]
mod sled_store;

use std::path::Path;

use s3gate_config::MetaStoreKind;

/// A named key space of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// `bucket/key` → encoded `ObjectMeta`.
    Objects,
    /// Small bookkeeping values (format version, scan state).
    State,
    /// `bucket/key NUL upload-id` → an open (or just completed) multipart upload.
    Uploads,
    /// `upload-id / part number (big-endian u32)` → one uploaded part.
    Parts,
    /// `bucket/key` → an object waiting in the write cache to be uploaded to the remote.
    WriteBack,
    /// `bucket` → its `BucketRecord`.
    Buckets,
    /// `bucket/key NUL !counter` → a noncurrent version or a delete marker (`version.rs`).
    Versions,
    /// `due time (big-endian ns) / kind / bucket/key [NUL upload-id]` → nothing: when a
    /// lifecycle rule may next act on a key or an upload (`lifecycle.rs`).
    Due,
}

impl Tree {
    pub(crate) const ALL: [Tree; 8] = [
        Tree::Objects,
        Tree::State,
        Tree::Uploads,
        Tree::Parts,
        Tree::WriteBack,
        Tree::Buckets,
        Tree::Versions,
        Tree::Due,
    ];

    fn name(self) -> &'static str {
        match self {
            Tree::Objects => "objects",
            Tree::State => "state",
            Tree::Uploads => "uploads",
            Tree::Parts => "parts",
            Tree::WriteBack => "writeback",
            Tree::Buckets => "buckets",
            Tree::Versions => "versions",
            Tree::Due => "due",
        }
    }
}

/// One write in an atomic batch of the index (a key put or deleted in one tree).
#[derive(Debug, Clone)]
pub enum Edit {
    Put(Tree, Vec<u8>, Vec<u8>),
    Delete(Tree, Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// An ordered, durable key/value store.
pub trait MetaStore: Send + Sync + 'static {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Up to `limit` entries with `start <= key < end` (no end: to the last key), in byte order.
    fn range(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StoreError>;
    /// Visits the entries with `start <= key < end` in byte order (in one read snapshot where
    /// the store has them: redb), until `each` stops or seeks past the end. Entries are lent,
    /// not copied: a listing page visits a thousand, and seeks over whole common prefixes.
    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        each: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> Result<(), StoreError>;
    /// Visits the entries with `start <= key < end` of two trees as one sequence in byte order
    /// (a key in both: the first tree's entry first), telling `each` which tree (0 or 1) an
    /// entry is from, in one read snapshot where the store has them, until `each` stops or
    /// seeks past the end. A listing of versions merges the current records with the kept rows
    /// this way: lent entries, where reading each tree in batches copied every row.
    fn scan_merged(
        &self,
        trees: [Tree; 2],
        start: &[u8],
        end: Option<&[u8]>,
        each: &mut MergedVisit<'_>,
    ) -> Result<(), StoreError>;
    /// Applies every op or none, and is durable when it returns.
    fn apply(&self, ops: &[Edit]) -> Result<(), StoreError>;
}

/// What a [`MetaStore::scan_merged`] calls with each entry: from which of the two trees, key,
/// value.
pub type MergedVisit<'a> = dyn FnMut(usize, &[u8], &[u8]) -> Step + 'a;

/// What a [`MetaStore::scan`] does after an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Next,
    /// Go on from the first key at or after this one.
    Seek(Vec<u8>),
    Stop,
}

/// A scan over a store's ranges: `open` gives the entries from a key to `end`, `slices` the
/// key and value of one of them; a seek opens a new range.
fn scan_ranges<I, T, E>(
    start: &[u8],
    end: Option<&[u8]>,
    mut open: impl FnMut(&[u8], Option<&[u8]>) -> Result<I, StoreError>,
    slices: impl Fn(&T) -> (&[u8], &[u8]),
    each: &mut dyn FnMut(&[u8], &[u8]) -> Step,
) -> Result<(), StoreError>
where
    I: Iterator<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut from = start.to_vec();
    loop {
        if end.is_some_and(|end| end <= from.as_slice()) {
            return Ok(());
        }
        let mut seek = None;
        for item in open(&from, end)? {
            let item = item.map_err(|e| StoreError(e.to_string()))?;
            let (k, v) = slices(&item);
            match each(k, v) {
                Step::Next => {}
                Step::Seek(to) => {
                    seek = Some(to);
                    break;
                }
                Step::Stop => return Ok(()),
            }
        }
        match seek {
            Some(to) => from = to,
            None => return Ok(()),
        }
    }
}

/// [`scan_ranges`] over two trees at once: `open(i, from, end)` gives tree `i`'s entries, and
/// the entry with the smaller key goes first; a seek opens both anew.
fn merge_ranges<I, T, E>(
    start: &[u8],
    end: Option<&[u8]>,
    mut open: impl FnMut(usize, &[u8], Option<&[u8]>) -> Result<I, StoreError>,
    slices: impl Fn(&T) -> (&[u8], &[u8]),
    each: &mut MergedVisit<'_>,
) -> Result<(), StoreError>
where
    I: Iterator<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    let next = |it: &mut I| it.next().transpose().map_err(|e| StoreError(e.to_string()));
    let mut from = start.to_vec();
    loop {
        if end.is_some_and(|end| end <= from.as_slice()) {
            return Ok(());
        }
        let mut its = [open(0, &from, end)?, open(1, &from, end)?];
        let mut heads = [next(&mut its[0])?, next(&mut its[1])?];
        let seek = loop {
            let which = match (&heads[0], &heads[1]) {
                (None, None) => break None,
                (Some(a), Some(b)) => usize::from(slices(a).0 > slices(b).0),
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
            };
            let Some(item) = heads[which].take() else {
                break None;
            };
            let (k, v) = slices(&item);
            match each(which, k, v) {
                Step::Next => {}
                Step::Seek(to) => break Some(to),
                Step::Stop => return Ok(()),
            }
            heads[which] = next(&mut its[which])?;
        };
        match seek {
            Some(to) => from = to,
            None => return Ok(()),
        }
    }
}

/// Opens (creating if needed) the store of the given kind in `dir`.
/// Where a store of `kind` keeps its data in the index folder `dir` (a file for redb, a folder
/// for sled).
pub fn store_path(kind: MetaStoreKind, dir: &Path) -> std::path::PathBuf {
    dir.join(match kind {
        MetaStoreKind::Redb => "index.redb",
        MetaStoreKind::Sled => "index.sled",
    })
}

pub fn open(kind: MetaStoreKind, dir: &Path) -> Result<Box<dyn MetaStore>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
    match kind {
        MetaStoreKind::Redb => Ok(Box::new(redb_store::RedbStore::open(&store_path(
            kind, dir,
        ))?)),
        #[cfg(feature = "sled")]
        MetaStoreKind::Sled => Ok(Box::new(sled_store::SledStore::open(&store_path(
            kind, dir,
        ))?)),
        #[cfg(not(feature = "sled"))]
        MetaStoreKind::Sled => Err(StoreError(
            "this build has no sled support (build with the `sled` feature)".into(),
        )),
    }
}

/// The conformance suite every store passes.
#[cfg(test)]
pub(crate) mod conformance {
    use super::*;

    pub(crate) fn run(store: &dyn MetaStore) {
        let t = Tree::Objects;
        assert_eq!(store.get(t, b"a").unwrap(), None);
        store
            .apply(&[
                Edit::Put(t, b"b/2".to_vec(), b"two".to_vec()),
                Edit::Put(t, b"b/1".to_vec(), b"one".to_vec()),
                Edit::Put(t, b"b/10".to_vec(), b"ten".to_vec()),
                Edit::Put(t, b"c".to_vec(), b"cee".to_vec()),
                Edit::Put(Tree::State, b"b/1".to_vec(), b"state".to_vec()),
            ])
            .unwrap();
        assert_eq!(store.get(t, b"b/1").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(
            store.get(Tree::State, b"b/1").unwrap().as_deref(),
            Some(&b"state"[..]),
            "trees are separate key spaces"
        );
        let keys = |r: Entries| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(store.range(t, b"b/", Some(b"b0"), 100).unwrap()),
            vec![b"b/1".to_vec(), b"b/10".to_vec(), b"b/2".to_vec()]
        );
        assert_eq!(
            keys(store.range(t, b"b/10", None, 2).unwrap()),
            vec![b"b/10".to_vec(), b"b/2".to_vec()]
        );
        assert_eq!(store.range(t, b"d", None, 10).unwrap().len(), 0);
        // A scan visits in order, seeks forward, stops at the end bound or when told.
        let mut seen = Vec::new();
        store
            .scan(t, b"b/", Some(b"c"), &mut |k, v| {
                seen.push((k.to_vec(), v.to_vec()));
                if k == b"b/1" {
                    Step::Seek(b"b/2".to_vec())
                } else {
                    Step::Next
                }
            })
            .unwrap();
        assert_eq!(
            seen,
            vec![
                (b"b/1".to_vec(), b"one".to_vec()),
                (b"b/2".to_vec(), b"two".to_vec())
            ]
        );
        let mut seen = Vec::new();
        store
            .scan(t, b"", None, &mut |k, _| {
                seen.push(k.to_vec());
                if seen.len() == 2 {
                    Step::Stop
                } else {
                    Step::Next
                }
            })
            .unwrap();
        assert_eq!(seen, vec![b"b/1".to_vec(), b"b/10".to_vec()]);
        let mut seen = 0;
        store
            .scan(t, b"b/", None, &mut |_, _| {
                seen += 1;
                Step::Seek(b"zz".to_vec())
            })
            .unwrap();
        assert_eq!(seen, 1, "a seek past the last key ends the scan");
        // A merged scan interleaves two trees by key, the first tree's entry first on a tie,
        // and seeks both.
        let mut seen = Vec::new();
        store
            .scan_merged([t, Tree::State], b"b/", Some(b"c"), &mut |i, k, _| {
                seen.push((i, k.to_vec()));
                match k {
                    b"b/10" => Step::Seek(b"b/2".to_vec()),
                    _ => Step::Next,
                }
            })
            .unwrap();
        assert_eq!(
            seen,
            vec![
                (0, b"b/1".to_vec()),
                (1, b"b/1".to_vec()),
                (0, b"b/10".to_vec()),
                (0, b"b/2".to_vec())
            ]
        );
        let mut seen = 0;
        store
            .scan_merged([Tree::State, t], b"", None, &mut |i, _, _| {
                seen += 1;
                match i {
                    1 => Step::Stop,
                    _ => Step::Next,
                }
            })
            .unwrap();
        assert_eq!(seen, 2, "a merged scan stops when told");
        store
            .apply(&[
                Edit::Delete(t, b"b/1".to_vec()),
                Edit::Put(t, b"b/2".to_vec(), b"TWO".to_vec()),
                Edit::Delete(t, b"missing".to_vec()),
            ])
            .unwrap();
        assert_eq!(store.get(t, b"b/1").unwrap(), None);
        assert_eq!(store.get(t, b"b/2").unwrap().as_deref(), Some(&b"TWO"[..]));
        // Binary keys sort by bytes, not by any text rule.
        store
            .apply(&[
                Edit::Put(t, vec![b'b', b'/', 0xC3, 0xA9], b"e-acute".to_vec()),
                Edit::Put(t, b"b/!".to_vec(), b"bang".to_vec()),
            ])
            .unwrap();
        assert_eq!(
            keys(store.range(t, b"b/", Some(b"b0"), 100).unwrap()),
            vec![
                b"b/!".to_vec(),
                b"b/10".to_vec(),
                b"b/2".to_vec(),
                vec![b'b', b'/', 0xC3, 0xA9]
            ]
        );
    }
}
