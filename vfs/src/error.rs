use std::io;

/// Everything that can go wrong below the S3 front end. The front end maps each variant to an S3
/// error code in exactly one place.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the bucket already exists and is owned by you")]
    BucketAlreadyOwnedByYou,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("the key is longer than 1024 bytes")]
    KeyTooLong,
    /// A key whose path is a folder on disk, or one whose parent path is an object.
    #[error("{0}")]
    KeyConflict(String),
    #[error("at least one of the preconditions did not hold")]
    PreconditionFailed,
    #[error("the Content-MD5 you specified did not match what was received")]
    BadDigest,
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    #[error("the specified version does not exist")]
    NoSuchVersion,
    /// A version id this server never makes.
    #[error("invalid version id: {0:?}")]
    InvalidVersion(String),
    /// A delete marker's version named where only an object's will do (GET, HEAD).
    #[error("the version named is a delete marker")]
    VersionIsDeleteMarker,
    /// A change in a bucket that has versions, where this server cannot keep them (why).
    #[error("{0}")]
    VersionsUnsupported(&'static str),
    /// A version's object lock refused its removal, its replacement, or a weaker retention.
    #[error("Access Denied because object protected by object lock.")]
    ObjectLocked,
    /// A change the bucket's state does not allow (suspending versioning under object lock).
    #[error("{0}")]
    InvalidBucketState(&'static str),
    #[error("{0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("{0}")]
    EntityTooSmall(String),
    /// More than the remote can take in one object.
    #[error("{0}")]
    EntityTooLarge(String),
    #[error("{0}")]
    InvalidRange(String),
    /// A change another server of the remote made at the same time refused this one.
    #[error("{0}")]
    ConflictingChange(String),
    /// More attributes than an object can carry on the store (in a fleet).
    #[error("{0}")]
    MetadataTooLarge(String),
    /// A limit on what a client may hold open (multipart uploads per bucket) was reached.
    #[error("{0}")]
    LimitReached(String),
    /// The request body failed while streaming (client gone, bad chunk, bad checksum...). The
    /// source is the front end's own error, handed back to it untouched.
    #[error("request body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    #[error("metadata store: {0}")]
    Store(#[from] crate::meta::StoreError),
    /// The storage cannot serve for now: it cannot be reached, or it said so
    /// (`unavailable.rs` judges which errors are).
    #[error("the storage is unavailable: {0}")]
    Unavailable(io::Error),
    /// The storage asks for fewer requests (its 429, S3's `SlowDown`).
    #[error("the storage asks for fewer requests: {0}")]
    SlowDown(io::Error),
    #[error("I/O: {0}")]
    Io(io::Error),
}

impl From<io::Error> for VfsError {
    fn from(e: io::Error) -> VfsError {
        if e.kind() == io::ErrorKind::FileTooLarge {
            return VfsError::EntityTooLarge(e.to_string());
        }
        if crate::unavailable::is_throttled(&e) {
            return VfsError::SlowDown(e);
        }
        if crate::unavailable::is_unavailable(&e) {
            return VfsError::Unavailable(e);
        }
        VfsError::Io(e)
    }
}

pub type Result<T, E = VfsError> = std::result::Result<T, E>;

/// A failed request body becomes [`VfsError::Body`], carrying the front end's own error.
impl From<Box<dyn std::error::Error + Send + Sync>> for VfsError {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> VfsError {
        VfsError::Body(e)
    }
}

impl VfsError {
    /// Maps an I/O error met while writing or reading `key` to what the client should hear.
    pub(crate) fn from_key_io(e: io::Error, key: &str) -> VfsError {
        match e.raw_os_error() {
            Some(libc::EEXIST) => VfsError::KeyConflict(format!(
                "key {key:?} is taken on disk by something that is not an object (a link, a FIFO, a socket...)"
            )),
            Some(libc::ENOTDIR) | Some(libc::EISDIR) | Some(libc::ENOTEMPTY) => {
                VfsError::KeyConflict(format!(
                    "key {key:?} conflicts with an existing object or folder: an object name cannot also be a folder name"
                ))
            }
            Some(libc::ENAMETOOLONG) => VfsError::InvalidKey(format!(
                "key {key:?} has a path segment too long for the filesystem"
            )),
            Some(libc::ELOOP) => VfsError::InvalidKey(format!(
                "key {key:?} leads through a symbolic link, which is never followed"
            )),
            // Folders below the bucket are created as needed: a missing one is the bucket.
            Some(libc::ENOENT) => VfsError::NoSuchBucket,
            _ => VfsError::from(e),
        }
    }
}
