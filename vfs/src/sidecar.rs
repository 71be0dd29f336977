//! In a fleet, what an object carries that its store metadata cannot hold: a small file of its
//! own on the remote, `.s3gate/carried/BUCKET/KEYHASH/ID`, which the object names (`ID`, in the
//! value of its store metadata, `envelope.rs`). Two things need it. Attributes over what a
//! store's metadata takes (S3 counts 2 KB of user metadata, the envelope's encoding grows it by a
//! third and more): the object's value then says only that they are in the sidecar. And the ETag
//! of a PUT the store received in several parts: the store's ETag of it is then made of those
//! parts, the client's MD5 is known only once the body is over, and the object's metadata was
//! fixed when its upload began.
//!
//! A folder marker has no object of its own on the store to carry its attributes (its folder
//! is all there is of it): in a fleet they are kept in the same folder, under the fixed name
//! `marker`, written before the folder is made and replaced whole when its tags or ACL change.
//!
//! A sidecar is written before its object is made visible (after the body, before the
//! CompleteMultipartUpload or PutObject that publishes it), and never changed afterwards: its
//! name is new for every write, so a sidecar is never applied to another version of the object
//! than the one that names it, and what a gateway read of one may be kept for as long as it
//! likes. It goes when its object is deleted, or when a change of the object's attributes
//! (a copy onto itself) names another; one whose write failed after it was written goes with
//! the failure.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::error::{Result, VfsError};
use crate::index::{ObjectAttrs, ObjectMeta};
use crate::vfs::Vfs;

/// The largest sidecar read: a full envelope with 10,000 parts' checksums is far less.
const MAX_SIDECAR: u64 = 4 << 20;

/// Where the sidecar `id` of `bucket`/`key` lives: the key hashed, since a key of 1024 bytes
/// under the reserved folder would be longer than a store's key may be.
fn sidecar_path(bucket: &str, key: &str, id: &str) -> String {
    let hashed = blake3::hash(key.as_bytes()).to_hex();
    format!(
        "{}/carried/{bucket}/{}/{id}",
        crate::key::RESERVED_DIR,
        &hashed[..32]
    )
}

/// Where the attributes of the folder marker `bucket`/`key` live (no sidecar id is a word).
fn marker_path(bucket: &str, key: &str) -> String {
    sidecar_path(bucket, key, "marker")
}

impl Vfs {
    /// Writes the sidecar `id` of `bucket`/`key`, before the object that names it is visible.
    pub(crate) async fn write_sidecar(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        content: Vec<u8>,
    ) -> Result<()> {
        let path = sidecar_path(bucket, key, id);
        let content: Arc<[u8]> = content.into();
        self.core.write_small(&path, content.to_vec()).await?;
        // The writer's own reads of the object find it here.
        self.remember(path, content);
        Ok(())
    }

    fn remember(&self, path: String, content: Arc<[u8]>) {
        if let Some(fleet) = &self.fleet {
            fleet.sidecars.remember(path, content);
        }
    }

    /// The content of the sidecar `id` of `bucket`/`key`; `None` when it is not there (never
    /// written, or gone with an object that was replaced or deleted since it was opened).
    pub(crate) async fn read_sidecar(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Option<Arc<[u8]>>> {
        let path = sidecar_path(bucket, key, id);
        if let Some(known) = self.fleet.as_ref().and_then(|f| f.sidecars.known(&path)) {
            return Ok(Some(known));
        }
        let Some(content) = self.read_small(&path).await? else {
            return Ok(None);
        };
        let content: Arc<[u8]> = content.into();
        self.remember(path, content.clone());
        Ok(Some(content))
    }

    /// A small file read whole from the remote; `None` when it is not there.
    async fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(reader) = self.core.remote.open(path).await? else {
            return Ok(None);
        };
        let size = reader.fingerprint().size;
        if size > MAX_SIDECAR {
            return Err(VfsError::Io(std::io::Error::other(format!(
                "{path}: {size} bytes is too large for what an object carries"
            ))));
        }
        let mut content = Vec::with_capacity(size as usize);
        let mut chunks = reader.stream(0, size);
        while let Some(chunk) = chunks.next().await {
            content.extend_from_slice(&chunk?);
        }
        Ok(Some(content))
    }

    /// In a fleet, keeps on the remote the attributes of the folder marker `bucket`/`key`.
    pub(crate) async fn write_marker_carried(
        &self,
        bucket: &str,
        key: &str,
        attrs: &ObjectAttrs,
    ) -> Result<()> {
        if self.fleet.is_none() {
            return Ok(());
        }
        let content = crate::envelope::marker_content(attrs)?;
        self.core
            .write_small(&marker_path(bucket, key), content)
            .await
    }

    /// In a fleet, the attributes of the folder marker `bucket`/`key` as the remote keeps them;
    /// `None` for a marker made before, or by another program.
    pub(crate) async fn marker_carried(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectAttrs>> {
        if self.fleet.is_none() {
            return Ok(None);
        }
        let content = self.read_small(&marker_path(bucket, key)).await?;
        Ok(content.and_then(|c| crate::envelope::marker_attrs(&c)))
    }

    /// In a fleet, `meta`, the record of the folder marker at `at`, with the attributes the
    /// remote keeps of it, recorded where they changed; the caller holds the key's lock.
    pub(crate) async fn with_marker_carried(
        &self,
        at: crate::commit::At<'_>,
        mut meta: ObjectMeta,
    ) -> Result<ObjectMeta> {
        if let Some(carried) = self.marker_carried(at.bucket, at.key).await? {
            let before = meta.attrs.clone();
            meta.attrs.take_carried(carried);
            if meta.attrs != before {
                self.core.index.put(at.bucket, at.key, &meta).await?;
            }
        }
        Ok(meta)
    }

    /// In a fleet, removes what the remote keeps of the folder marker `bucket`/`key` (before
    /// the marker goes: a marker left without it answers no attributes, never stale ones).
    pub(crate) async fn drop_marker_carried(&self, bucket: &str, key: &str) -> Result<()> {
        if self.fleet.is_some() {
            self.core
                .remote
                .delete(&marker_path(bucket, key), None)
                .await?;
        }
        Ok(())
    }

    /// Removes the sidecar `id` of `bucket`/`key`, once nothing names it. A failure leaves it
    /// behind, unused: what it cost is its room on the store.
    pub(crate) async fn drop_sidecar(&self, bucket: &str, key: &str, id: &str) {
        let path = sidecar_path(bucket, key, id);
        if let Some(fleet) = &self.fleet {
            fleet.sidecars.forget(&path);
        }
        if let Err(e) = self.core.remote.delete(&path, None).await {
            tracing::warn!("{path} is left on the remote, unused: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::new_id;

    #[test]
    fn a_sidecar_is_named_by_its_key_hashed_and_its_own_id() {
        let long = "k".repeat(1024);
        let path = sidecar_path("bkt", &long, "0123");
        assert!(path.starts_with(".s3gate/carried/bkt/"));
        assert!(path.ends_with("/0123"));
        assert!(path.len() < 100);
        assert_ne!(path, sidecar_path("bkt", "other", "0123"));
        assert_ne!(new_id(), new_id());
    }
}
