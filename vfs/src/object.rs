//! What the VFS hands to the front end and takes from it, and the small helpers every part of the
//! VFS shares: the leaves of its module graph, importing nothing from the files that implement
//! `Vfs`.

use std::time::SystemTime;

use futures_util::StreamExt;

use crate::error::Result;
use crate::index::{ChecksumSlot, ObjectAttrs, ObjectMeta};
use crate::remote::{time_from_ns, ByteStream, Fingerprint, Reader, Remote};

/// An object as the front end sees it.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    pub last_modified: SystemTime,
    /// Hex digest, without quotes.
    pub etag: String,
    pub attrs: ObjectAttrs,
    /// Part sizes, for an object assembled from a multipart upload.
    pub parts: Vec<u64>,
    /// The version id, for a version written while the bucket kept versions.
    pub version_id: Option<String>,
}

impl ObjectInfo {
    pub(crate) fn from_meta(meta: ObjectMeta) -> ObjectInfo {
        let last_modified = time_from_ns(meta.written_ns());
        ObjectInfo {
            size: meta.fingerprint.size,
            last_modified,
            etag: meta.etag,
            attrs: meta.attrs,
            parts: meta.parts,
            version_id: meta.version.map(|v| v.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: String,
    pub created: SystemTime,
}

/// A check on the object currently at a key (`None`: no object): the `If-Match` and
/// `If-None-Match` of a PUT, a copy, a Complete, or a delete. Writes evaluate it before taking
/// any byte, and every operation again under the key's lock, at the moment it publishes or
/// deletes; an error fails the operation and leaves the key as it was.
pub type Precondition = Box<dyn Fn(Option<&ObjectInfo>) -> Result<()> + Send + Sync>;

/// A single-part write.
pub struct PutRequest<S> {
    pub attrs: ObjectAttrs,
    /// The `Content-MD5` the client sent, checked before the object becomes visible.
    pub content_md5: Option<[u8; 16]>,
    pub precondition: Option<Precondition>,
    /// Filled by the body with its verified additional checksum, stored with the object.
    pub checksum: Option<ChecksumSlot>,
    pub body: S,
}

/// The source of a copy: an object, or one of its versions (`versionId`, as a client names it).
#[derive(Debug, Clone, Copy)]
pub struct CopyFrom<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: Option<&'a str>,
    /// The ETag the source must still have (its `x-amz-copy-source-if-*` conditions were
    /// judged on that version).
    pub etag: Option<&'a str>,
}

/// What a copy is given anew rather than taking from its source: each `None` keeps the
/// source's.
#[derive(Debug)]
pub struct CopyAttrs {
    /// Content headers and user metadata (S3's metadata directive REPLACE); never the checksum,
    /// which describes the content.
    pub attrs: Option<ObjectAttrs>,
    /// The tag set (S3's tagging directive REPLACE).
    pub tags: Option<Vec<(String, String)>>,
    /// The copy's ACL: the one the request asks for, never the source's (as S3).
    pub acl: Option<crate::acl::Acl>,
    /// The copy's object lock: never its source's, as in S3.
    pub lock: crate::retention::ObjectLock,
}

impl CopyAttrs {
    /// The copy's attributes, made from its source's.
    pub(crate) fn resolve(&self, src: ObjectAttrs) -> ObjectAttrs {
        let tags = self.tags.clone().unwrap_or_else(|| src.tags.clone());
        let attrs = match &self.attrs {
            Some(a) => ObjectAttrs {
                checksum: src.checksum,
                ..a.clone()
            },
            None => src,
        };
        ObjectAttrs {
            tags,
            acl: self.acl.clone(),
            lock: self.lock,
            ..attrs
        }
    }
}

/// An object opened for reading: its description, and its bytes pinned to that version.
pub struct ObjectReader {
    pub info: ObjectInfo,
    pub(crate) reader: Box<dyn Reader>,
    /// Read from the write cache.
    pub(crate) in_write_cache: bool,
}

impl ObjectReader {
    pub(crate) fn new(info: ObjectInfo, reader: Box<dyn Reader>) -> ObjectReader {
        ObjectReader {
            info,
            reader,
            in_write_cache: false,
        }
    }

    /// Streams `len` bytes from `offset` (both already checked against the size).
    pub fn stream(self, offset: u64, len: u64) -> ByteStream {
        self.reader.stream(offset, len)
    }
}

/// Feeds every chunk of `stream` to `f`.
pub(crate) async fn each_chunk(mut stream: ByteStream, mut f: impl FnMut(&[u8])) -> Result<()> {
    while let Some(chunk) = stream.next().await {
        f(&chunk?);
    }
    Ok(())
}

/// Removes the folders above `path` on `remote` that are empty, up to (not including) the
/// bucket, stopping at the first that is not empty or that `keep` names.
pub(crate) async fn prune_empty_parents(
    remote: &dyn Remote,
    path: &str,
    keep: impl Fn(&str) -> bool,
) {
    let mut dir = path;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        if !parent.contains('/') || keep(parent) || remote.rmdir(parent).await.is_err() {
            break;
        }
        dir = parent;
    }
}

/// The ETag of an object when content hashing is off: changes whenever the file does.
pub(crate) fn synthetic_etag(fp: &Fingerprint) -> String {
    format!("{:x}{:08x}-{:x}", fp.mtime_ns, fp.id as u32, fp.size)
}
