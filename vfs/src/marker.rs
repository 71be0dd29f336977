//! A folder marker as data and as read: its record, the empty object it reads as, and
//! [`Folders`], the reads and folders of markers over the core. Making and removing a marker
//! are changes of its key, in folder.rs; this file knows no `Vfs`.

use std::sync::Arc;

use bytes::Bytes;

use crate::commit::At;
use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::{ObjectAttrs, ObjectMeta};
use crate::key::marker_path;
use crate::object::{ObjectInfo, ObjectReader};
use crate::remote::{ByteStream, Fingerprint, Reader};

/// The ETag of empty content.
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// The record of a marker. Its fingerprint is fixed: a folder's own changes (entries coming and
/// going) do not change the marker.
pub(crate) fn marker_meta(modified_ns: i64, attrs: ObjectAttrs) -> ObjectMeta {
    ObjectMeta {
        fingerprint: Fingerprint {
            size: 0,
            mtime_ns: 0,
            id: 0,
        },
        etag: EMPTY_MD5.to_string(),
        version: None,
        attrs,
        parts: Vec::new(),
        modified_ns: Some(modified_ns),
        in_write_cache: false,
        store: None,
    }
}

/// A marker, or one of its versions, as an empty object.
pub(crate) fn empty_reader(info: ObjectInfo) -> ObjectReader {
    ObjectReader::new(info, Box::new(Empty))
}

struct Empty;

impl Reader for Empty {
    fn fingerprint(&self) -> Fingerprint {
        marker_meta(0, ObjectAttrs::default()).fingerprint
    }

    fn clone_box(&self) -> Box<dyn Reader> {
        Box::new(Empty)
    }

    fn stream(self: Box<Self>, _offset: u64, _len: u64) -> ByteStream {
        Box::pin(futures_util::stream::empty::<std::io::Result<Bytes>>())
    }
}

/// Folder markers' own reads and folders: the core, whose index holds their records and whose
/// remote their folders. Making and removing a marker is a change of its key, committed by the
/// facade (`MakeFolder`, `RemoveFolder`, folder.rs), since a marker replaced in a bucket that keeps
/// versions is demoted as any version is.
pub(crate) struct Folders {
    core: Arc<Core>,
}

impl Folders {
    pub(crate) fn new(core: Arc<Core>) -> Folders {
        Folders { core }
    }

    /// The marker `key` as an object, `None` when there is none.
    pub(crate) async fn marker_info(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>> {
        match self.open_marker(bucket, key).await {
            Ok(r) => Ok(Some(r.info)),
            Err(VfsError::NoSuchKey) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The marker `key` as an empty object, when both the record and the folder are there.
    pub(crate) async fn open_marker(&self, bucket: &str, key: &str) -> Result<ObjectReader> {
        let path = match marker_path(bucket, key) {
            Some(Ok(p)) => p,
            _ => return Err(VfsError::NoSuchKey),
        };
        let record = self
            .core
            .index
            .get(bucket, key)?
            .ok_or(VfsError::NoSuchKey)?;
        match self.core.remote.stat(&path).await? {
            Some(e) if e.is_dir => Ok(empty_reader(ObjectInfo::from_meta(record))),
            _ => Err(VfsError::NoSuchKey),
        }
    }

    /// Where the current version of `bucket/key` is read from: its file, or a folder marker's
    /// folder; `None` for a key that can name neither.
    pub(crate) fn read_path(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        if let Some(path) = self.core.path_of(bucket, key)? {
            return Ok(Some(path));
        }
        Ok(marker_path(bucket, key).and_then(|p| p.ok()))
    }

    /// Makes the folder of the marker at `path` and those above it.
    pub(crate) async fn make_folder(&self, bucket: &str, key: &str, path: &str) -> Result<()> {
        let mut dir = bucket.to_string();
        for seg in path[bucket.len() + 1..].split('/') {
            dir.push('/');
            dir.push_str(seg);
            self.core
                .remote
                .mkdir(&dir)
                .await
                .map_err(|e| VfsError::from_key_io(e, key))?;
        }
        Ok(())
    }

    /// Removes the folder of the marker key at `at` if it is empty, once no marker keeps it;
    /// the caller holds the key's lock, so that no marker made meanwhile loses its folder.
    pub(crate) async fn drop_folder(&self, at: At<'_>) {
        if at.is_marker() {
            let _ = self.core.remote.rmdir(at.path).await;
        }
    }

    /// Whether a marker keeps the folder at `path` (`bucket/dir`).
    pub(crate) fn has_marker(&self, path: &str) -> bool {
        let Some((bucket, folder)) = path.split_once('/') else {
            return false;
        };
        // Content under `dir/` kept in the store of keys is no marker of the folder.
        let below = self.core.index.get(bucket, &format!("{folder}/"));
        matches!(below, Ok(Some(m)) if m.store.is_none())
    }
}
