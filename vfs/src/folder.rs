//! Folder markers: the zero-byte `dir/` objects with which consoles and other gateways (this
//! one, serving an S3 remote) make a folder exist while it is empty. A marker is a folder on
//! the remote and a record in the index; it lists and reads as an empty object, keeps its folder
//! when the objects in it are deleted, and goes when it is deleted itself (or, found by a scan,
//! when its folder is gone). Empty folders made otherwise are not markers: they list as nothing,
//! as before.
//!
//! In a bucket that has versions a marker is a key like any other: making one is a new version,
//! and the marker it replaces becomes a kept version, a row with the marker's record and no
//! file (version.rs); a delete adds a delete marker and removes the folder when it is empty.
//!
//! The record holds the marker's headers (content type, user metadata) like any object's: tools
//! that map folders onto S3 (s3fs-fuse keeps a folder's mode and owner there) set them with an
//! empty PUT, or change them with a copy of the marker onto itself. Only empty content can become
//! a marker: a copy of anything else onto a `dir/` key is refused, as a PUT of it would be.

use crate::clock::now_ns;
use crate::commit::{At, Change};
use crate::error::{Result, VfsError};
use crate::index::{ObjectAttrs, ObjectMeta};
use crate::key::{self, marker_path};
use crate::marker::marker_meta;
use crate::meta::{Edit, Tree};
use crate::object::{CopyAttrs, CopyFrom, ObjectInfo, Precondition};
use crate::vfs::Vfs;

/// A marker is made (with its folder and the folders above it), with these headers. In a bucket
/// that keeps versions it is a new version like any object's, and the marker it replaces a kept
/// one (`Vfs::replacing`): a marker has no file to move, so its row commits with the new record
/// in one batch.
struct MakeFolder(ObjectAttrs);

impl Change<Vfs> for MakeFolder {
    type Done = ObjectInfo;

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<ObjectInfo> {
        let MakeFolder(mut attrs) = self;
        // A file waiting in the write cache where a folder is to be would be uploaded onto it:
        // refused as the remote refuses one already there.
        if vfs.write_back.file_at_or_above(at.path).await? {
            return Err(VfsError::from_key_io(
                std::io::Error::from_raw_os_error(libc::ENOTDIR),
                at.key,
            ));
        }
        vfs.stamp_default_retention(at.bucket, &mut attrs.lock)?;
        let replacing = vfs.replacing(at, None).await?;
        let mut meta = marker_meta(now_ns(), attrs);
        meta.version = replacing.version;
        let mut ops = vec![Edit::Put(
            Tree::Objects,
            key::index_key(at.bucket, at.key),
            meta.encode(),
        )];
        ops.extend(replacing.edits.iter().cloned());
        // In a fleet its attributes are on the remote before its folder shows it to others.
        let made = match vfs
            .write_marker_carried(at.bucket, at.key, &meta.attrs)
            .await
        {
            Ok(()) => vfs.folders.make_folder(at.bucket, at.key, at.path).await,
            Err(e) => Err(e),
        };
        let made = match made {
            Ok(()) => vfs.core.index.apply(ops).await,
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            vfs.unreplace(at.path, replacing).await?;
            return Err(e);
        }
        vfs.replaced(replacing).await?;
        Ok(ObjectInfo::from_meta(meta))
    }

    async fn abandon(self) {}
}

/// A marker goes: its record, and its folder if that is empty (then true).
struct RemoveFolder;

impl Change<Vfs> for RemoveFolder {
    type Done = bool;

    async fn apply(self, vfs: &Vfs, at: At<'_>) -> Result<bool> {
        vfs.drop_marker_carried(at.bucket, at.key).await?;
        vfs.core.index.delete(at.bucket, at.key).await?;
        Ok(vfs.core.remote.rmdir(at.path).await.is_ok())
    }

    async fn abandon(self) {}
}

/// Whether `meta`, the record of `key`, is a folder marker's: a `dir/` key whose content is
/// not kept in the store of keys.
pub(crate) fn is_marker_record(key: &str, meta: &ObjectMeta) -> bool {
    key.ends_with('/') && meta.store.is_none()
}

impl At<'_> {
    /// Whether the change is of a folder marker: a `dir/` key at its folder rather than at a
    /// place in the store of keys.
    pub(crate) fn is_marker(&self) -> bool {
        self.key.ends_with('/') && !key::is_stored(self.path)
    }
}

impl Vfs {
    /// Makes the folder (and those above it) and its marker with `attrs` (replacing those of a
    /// marker already there, when `precondition` holds); returns the marker as an object.
    pub async fn create_folder(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        precondition: Option<&Precondition>,
    ) -> Result<ObjectInfo> {
        self.head_bucket(bucket).await?;
        let Some(path) = marker_path(bucket, key) else {
            return Err(VfsError::InvalidKey(format!("{key:?} is not a folder")));
        };
        let path = path?;
        let at = At {
            bucket,
            key,
            path: &path,
        };
        self.commit(at, precondition, MakeFolder(attrs)).await
    }

    /// What a copy would copy, without opening it.
    pub(crate) async fn copy_source_info(&self, from: &CopyFrom<'_>) -> Result<ObjectInfo> {
        Ok(match from.version {
            Some(_) => self.open_source(from).await?.0.info,
            None => self.head_object(from.bucket, from.key).await?,
        })
    }

    /// A copy of the empty `src` onto the marker key `dst_key` (a marker itself, most often
    /// the same one, its headers replaced).
    pub(crate) async fn copy_to_marker(
        &self,
        src: ObjectInfo,
        dst_bucket: &str,
        dst_key: &str,
        attrs: CopyAttrs,
        precondition: Option<Precondition>,
    ) -> Result<ObjectInfo> {
        let attrs = attrs.resolve(src.attrs);
        self.create_folder(dst_bucket, dst_key, attrs, precondition.as_ref())
            .await
    }

    /// The current version of the key at `at`, `None` when there is none: a folder marker's
    /// record while its folder is there, else the up-to-date record of the key's file. The
    /// caller holds the key's lock.
    pub(crate) async fn current_locked(&self, at: At<'_>) -> Result<Option<ObjectMeta>> {
        if at.key.ends_with('/') {
            if at.is_marker() {
                self.adopt_marker_locked(at).await?;
            }
            let record = self.core.index.get(at.bucket, at.key)?;
            if let Some(meta) = record.filter(|m| is_marker_record(at.key, m)) {
                let Some(Ok(folder)) = marker_path(at.bucket, at.key) else {
                    return Ok(None);
                };
                let there = self
                    .core
                    .remote
                    .stat(&folder)
                    .await?
                    .is_some_and(|e| e.is_dir);
                return match there {
                    true => self.with_marker_carried(at, meta).await.map(Some),
                    false => Ok(None),
                };
            }
            if at.is_marker() {
                return Ok(None);
            }
        }
        self.record_locked(at.bucket, at.key, at.path).await
    }

    /// In a fleet, a record of the folder marker at `at` that another gateway made, where this
    /// one has none: made from the attributes the remote keeps of it, while its folder is
    /// there. The caller holds the key's lock.
    pub(crate) async fn adopt_marker_locked(&self, at: At<'_>) -> Result<()> {
        if self.fleet.is_none() || self.core.index.get(at.bucket, at.key)?.is_some() {
            return Ok(());
        }
        let Some(attrs) = self.marker_carried(at.bucket, at.key).await? else {
            return Ok(());
        };
        let there = self.core.remote.stat(at.path).await?;
        if there.is_some_and(|e| e.is_dir) {
            let meta = marker_meta(now_ns(), attrs);
            self.core.index.put(at.bucket, at.key, &meta).await?;
        }
        Ok(())
    }

    /// Deletes a marker (when `precondition` holds): its record, and its folder if that is
    /// empty.
    pub(crate) async fn delete_marker(
        &self,
        bucket: &str,
        key: &str,
        path: &str,
        precondition: Option<&Precondition>,
    ) -> Result<()> {
        let at = At { bucket, key, path };
        if self.commit(at, precondition, RemoveFolder).await? {
            self.remove_empty_parents(path).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::Versioning;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_marker_replaced_is_a_version_that_takes_tags() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::open_unsynced(dir.path()).await;
        vfs.create_bucket("bkt", None).await.unwrap();
        vfs.update_bucket("bkt", |r| {
            r.versioning = Versioning::Enabled;
            Ok(())
        })
        .await
        .unwrap();
        let make = || vfs.create_folder("bkt", "dir/", Default::default(), None);
        let one = make().await.unwrap().version_id.unwrap();
        let two = make().await.unwrap().version_id.unwrap();
        assert_ne!(one, two);
        let tags = vec![("k".to_string(), "v".to_string())];
        vfs.set_object_tags("bkt", "dir/", Some(&one), tags.clone())
            .await
            .unwrap();
        vfs.set_object_tags("bkt", "dir/", Some(&two), Vec::new())
            .await
            .unwrap();
        let old = vfs.open_version("bkt", "dir/", &one).await.unwrap();
        assert_eq!((old.info.size, old.info.attrs.tags), (0, tags));
        let current = vfs.head_object("bkt", "dir/").await.unwrap();
        assert_eq!(current.version_id.as_ref(), Some(&two));
        assert!(current.attrs.tags.is_empty());
        let by_id = vfs.open_version("bkt", "dir/", &two).await.unwrap();
        assert_eq!(by_id.info.version_id, Some(two));
    }
}
