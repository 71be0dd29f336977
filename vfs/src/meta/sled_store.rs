use std::path::Path;

use sled::Transactional;

use super::{Edit, Entries, MergedVisit, MetaStore, Step, StoreError, Tree};

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub(crate) struct SledStore {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl SledStore {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::open(path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(err))
            .collect::<Result<_, _>>()?;
        Ok(SledStore { db, trees })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[Tree::ALL.iter().position(|t| *t == tree).unwrap_or(0)]
    }
}

impl MetaStore for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree).get(key).map_err(err)?.map(|v| v.to_vec()))
    }

    fn range(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let t = self.tree(tree);
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => t.range(start..end),
            None => t.range(start..),
        };
        iter.take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(err))
            .collect()
    }

    fn scan(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        each: &mut dyn FnMut(&[u8], &[u8]) -> Step,
    ) -> Result<(), StoreError> {
        let t = self.tree(tree);
        super::scan_ranges(
            start,
            end,
            |from, end| {
                Ok(match end {
                    Some(end) => t.range(from..end),
                    None => t.range(from..),
                })
            },
            |(k, v)| (&k[..], &v[..]),
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
        let t = [self.tree(trees[0]), self.tree(trees[1])];
        super::merge_ranges(
            start,
            end,
            |i, from, end| {
                Ok(match end {
                    Some(end) => t[i].range(from..end),
                    None => t[i].range(from..),
                })
            },
            |(k, v)| (&k[..], &v[..]),
            each,
        )
    }

    fn apply(&self, ops: &[Edit]) -> Result<(), StoreError> {
        let trees: Vec<&sled::Tree> = Tree::ALL.iter().map(|t| self.tree(*t)).collect();
        let idx = |tree: &Tree| Tree::ALL.iter().position(|t| t == tree).unwrap_or(0);
        trees
            .as_slice()
            .transaction(|txs| {
                for op in ops {
                    match op {
                        Edit::Put(tree, k, v) => {
                            txs[idx(tree)].insert(k.as_slice(), v.as_slice())?;
                        }
                        Edit::Delete(tree, k) => {
                            txs[idx(tree)].remove(k.as_slice())?;
                        }
                    }
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError(format!("{e:?}")))?;
        self.db.flush().map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SledStore::open(&dir.path().join("i.sled")).unwrap();
        crate::meta::conformance::run(&store);
    }
}
