use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{Edit, Entries, MergedVisit, MetaStore, Step, StoreError, Tree};

fn def(tree: Tree) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(tree.name())
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Memory redb may use for caching index pages: enough for the inner pages of a large index,
/// while leaves are read again from the kernel's page cache. The start-up rescan reads every
/// record, so the cache is full from then on, and it was most of the idle server's own memory:
/// over 20,000 keys (an 8 MiB index) 1 MiB idles 2.6 MiB below 4 MiB, and lists and walks them
/// as fast (bench/run-idle-rss.sh).
const INDEX_CACHE_BYTES: usize = 1024 * 1024;

pub(crate) struct RedbStore {
    db: Database,
}

impl RedbStore {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        // redb caches up to 1 GiB of pages by default, which a large bucket's index fills: keep
        // the server's memory flat and let the kernel's page cache hold the rest of the file.
        let db = Database::builder()
            .set_cache_size(INDEX_CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        // Create every table up front so that read transactions never meet a missing one.
        let tx = db.begin_write().map_err(err)?;
        for tree in Tree::ALL {
            tx.open_table(def(tree)).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(RedbStore { db })
    }
}

impl MetaStore for RedbStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(def(tree)).map_err(err)?;
        Ok(table.get(key).map_err(err)?.map(|v| v.value().to_vec()))
    }

    fn range(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(def(tree)).map_err(err)?;
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => table.range(start..end).map_err(err)?,
            None => table.range(start..).map_err(err)?,
        };
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item.map_err(err)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        each: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(def(tree)).map_err(err)?;
        super::scan_ranges(
            start,
            end,
            |from, end| match end {
                Some(end) => table.range(from..end).map_err(err),
                None => table.range(from..).map_err(err),
            },
            |(k, v)| (k.value(), v.value()),
            each,
        )
    }

    fn scan_merged(
        &self,
        trees: [Tree; 2],
        start: &[u8],
        end: Option<&[u8]>,
        each: &mut MergedVisit<'_>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let tables = [
            tx.open_table(def(trees[0])).map_err(err)?,
            tx.open_table(def(trees[1])).map_err(err)?,
        ];
        super::merge_ranges(
            start,
            end,
            |i, from, end| match end {
                Some(end) => tables[i].range(from..end).map_err(err),
                None => tables[i].range(from..).map_err(err),
            },
            |(k, v)| (k.value(), v.value()),
            each,
        )
    }

    fn apply(&self, ops: &[Edit]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            for op in ops {
                match op {
                    Edit::Put(tree, k, v) => {
                        tx.open_table(def(*tree))
                            .map_err(err)?
                            .insert(k.as_slice(), v.as_slice())
                            .map_err(err)?;
                    }
                    Edit::Delete(tree, k) => {
                        tx.open_table(def(*tree))
                            .map_err(err)?
                            .remove(k.as_slice())
                            .map_err(err)?;
                    }
                }
            }
        }
        tx.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::RedbStore::open(&dir.path().join("i.redb")).unwrap();
        crate::meta::conformance::run(&store);
    }
}
