//! Claims on plain paths (the key's own path in the file tree), held by a write from the
//! moment it decides its file goes there until the file is published.
//!
//! Where a key goes is decided by looking at the file tree (`Vfs::place_for`), under no lock
//! that a key whose path conflicts with it takes: `a` and `a/b` have locks of their own. Two
//! first writes of such keys would both find nothing in the way, and the tree cannot then hold
//! both (a file `a` and a folder `a`): the second to publish would fail. So a write claims its
//! path before it looks, and a claim is refused while another write holds a conflicting one
//! (the refused write goes to the store of keys): a write that decided before holds a claim
//! this one meets, and one that decides after meets this one's, until the file is there for
//! it to see. Claims of one path are never refused: the key's own lock orders its writes.
//!
//! Conflicting paths always share their first folder below the bucket, so the claims are kept
//! in stripes by it: a claim takes its stripe's mutex for a scan of the claims in flight
//! there, never across a wait, and writes elsewhere never meet.

use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

const STRIPES: usize = 64;

pub(crate) struct PlainClaims {
    stripes: Box<[Mutex<Vec<String>>]>,
    hasher: RandomState,
}

/// Where a write of a key goes (`Vfs::place_for`), with the claim on the key's own path while
/// it goes there.
pub(crate) struct Place<'a> {
    pub(crate) path: String,
    _claim: Option<Claim<'a>>,
}

impl<'a> Place<'a> {
    pub(crate) fn unclaimed(path: String) -> Self {
        Place { path, _claim: None }
    }

    pub(crate) fn claimed(path: String, claim: Claim<'a>) -> Self {
        Place {
            path,
            _claim: Some(claim),
        }
    }
}

/// A path claimed; the claim ends when this is dropped.
pub(crate) struct Claim<'a> {
    claims: &'a PlainClaims,
    stripe: usize,
    path: String,
}

impl PlainClaims {
    pub(crate) fn new() -> PlainClaims {
        PlainClaims {
            stripes: (0..STRIPES).map(|_| Mutex::new(Vec::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Claims `path` (`bucket/key`), unless a claim held by another write conflicts with it:
    /// a file at one of its folders, or one below it.
    pub(crate) fn claim(&self, path: &str) -> Option<Claim<'_>> {
        let stripe = self.stripe_of(path);
        let mut held = self.stripes[stripe]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if held
            .iter()
            .any(|other| below(path, other) || below(other, path))
        {
            return None;
        }
        held.push(path.to_string());
        Some(Claim {
            claims: self,
            stripe,
            path: path.to_string(),
        })
    }

    /// The stripe of a path's bucket and first folder (or file) below it.
    fn stripe_of(&self, path: &str) -> usize {
        let top = match path.match_indices('/').nth(1) {
            Some((end, _)) => &path[..end],
            None => path,
        };
        self.hasher.hash_one(top) as usize % STRIPES
    }
}

/// Whether `path` is below the folder `folder` would be.
fn below(path: &str, folder: &str) -> bool {
    path.len() > folder.len() && path.starts_with(folder) && path.as_bytes()[folder.len()] == b'/'
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut held = self.claims.stripes[self.stripe]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held.iter().position(|p| *p == self.path) {
            held.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_and_a_folder_of_one_name_are_never_claimed_at_once() {
        let claims = PlainClaims::new();
        let a = claims.claim("bkt/a").unwrap();
        assert!(claims.claim("bkt/a/b").is_none());
        assert!(claims.claim("bkt/a/b/c").is_none());
        // Other names, the same name again, and another bucket's `a/b` are no conflict.
        let ab = claims.claim("bkt/ab/c").unwrap();
        let again = claims.claim("bkt/a").unwrap();
        let other = claims.claim("other/a/b").unwrap();
        drop(again);
        // Still held once: the conflict stays until the last claim of `a` ends.
        assert!(claims.claim("bkt/a/b").is_none());
        drop(a);
        let b = claims.claim("bkt/a/b").unwrap();
        assert!(claims.claim("bkt/a").is_none());
        drop((b, ab, other));
        assert!(claims.claim("bkt/a").is_some());
    }
}
