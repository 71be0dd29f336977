//! Folder markers: the zero-byte `dir/` objects with which consoles and other gateways (this
//! one, serving an S3 remote) make a folder exist while it is empty. A marker is a folder on
//! the remote and a record in the index; it lists and reads as an empty object, keeps its folder
//! when the objects in it are deleted, and goes when it is deleted itself (or, found by a scan,
//! when its folder is gone). Empty folders made otherwise are not markers: they list as nothing,
//! as before.

use bytes::Bytes;

use crate::error::{Result, VfsError};
use crate::index::{ObjectAttrs, ObjectMeta};
use crate::key;
use crate::remote::{ByteStream, Fingerprint, Reader};
use crate::vfs::{now_ns, ObjectInfo, ObjectReader, Vfs};

/// The ETag of empty content.
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// The record of a marker. Its fingerprint is fixed: a folder's own changes (entries coming and
/// going) do not change the marker.
pub(crate) fn marker_meta(modified_ns: i64) -> ObjectMeta {
    ObjectMeta {
        fingerprint: Fingerprint {
            size: 0,
            mtime_ns: 0,
            id: 0,
        },
        etag: EMPTY_MD5.to_string(),
        attrs: ObjectAttrs::default(),
        parts: Vec::new(),
        modified_ns: Some(modified_ns),
        cached: false,
    }
}

/// The folder path of a marker key (`dir/` in `bucket`), when the key is one.
pub(crate) fn marker_path(bucket: &str, key: &str) -> Option<Result<String>> {
    key.strip_suffix('/')
        .map(|folder| key::object_path(bucket, folder))
}

struct Empty;

impl Reader for Empty {
    fn fingerprint(&self) -> Fingerprint {
        marker_meta(0).fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(Empty)
    }

    fn stream(self: Box<Self>, _offset: u64, _len: u64) -> ByteStream {
        Box::pin(futures_util::stream::empty::<std::io::Result<Bytes>>())
    }
}

impl Vfs {
    /// Makes the folder (and those above it) and its marker; returns the marker as an object.
    pub async fn create_folder(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        self.head_bucket(bucket).await?;
        let Some(path) = marker_path(bucket, key) else {
            return Err(VfsError::InvalidKey(format!("{key:?} is not a folder")));
        };
        let path = path?;
        let _guard = self.locks.lock(&path).await;
        let mut at = bucket.to_string();
        for seg in path[bucket.len() + 1..].split('/') {
            at.push('/');
            at.push_str(seg);
            self.remote
                .mkdir(&at)
                .await
                .map_err(|e| VfsError::from_key_io(e, key))?;
        }
        let meta = marker_meta(now_ns());
        self.index.put(bucket, key, &meta).await?;
        Ok(ObjectInfo::from_meta(meta))
    }

    /// The marker `key` as an empty object, when both the record and the folder are there.
    pub(crate) async fn open_marker(&self, bucket: &str, key: &str) -> Result<ObjectReader> {
        let path = match marker_path(bucket, key) {
            Some(Ok(p)) => p,
            _ => return Err(VfsError::NoSuchKey),
        };
        let record = self.index.get(bucket, key)?.ok_or(VfsError::NoSuchKey)?;
        match self.remote.stat(&path).await? {
            Some(e) if e.is_dir => Ok(ObjectReader::new(
                ObjectInfo::from_meta(record),
                Box::new(Empty),
            )),
            _ => Err(VfsError::NoSuchKey),
        }
    }

    /// Deletes a marker: its record, and its folder if that is empty.
    pub(crate) async fn delete_marker(&self, bucket: &str, key: &str, path: &str) -> Result<()> {
        {
            let _guard = self.locks.lock(path).await;
            self.index.delete(bucket, key).await?;
            if self.remote.rmdir(path).await.is_err() {
                return Ok(());
            }
        }
        self.remove_empty_parents(path).await;
        Ok(())
    }

    /// Whether a marker keeps the folder at `path` (`bucket/dir`).
    pub(crate) fn has_marker(&self, path: &str) -> bool {
        let Some((bucket, folder)) = path.split_once('/') else {
            return false;
        };
        matches!(self.index.get(bucket, &format!("{folder}/")), Ok(Some(_)))
    }
}
