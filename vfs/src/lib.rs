//! The VFS between the S3 front end and a remote: validated names, the persistent metadata index,
//! atomic writes with streaming hashes, and listings that cost work in proportion to the page.
//!
//! `s3api` talks only to [`Vfs`]; nothing here knows HTTP or XML.

mod acl;
mod body_md5;
mod bucket;
mod cache_trust;
mod clock;
mod commit;
mod core;
#[cfg(test)]
mod crash_points;
mod delete;
mod envelope;
mod error;
mod fleet;
mod fleet_versions;
mod folder;
mod index;
mod key;
mod lifecycle;
mod list;
mod list_versions;
mod locks;
mod marker;
pub mod meta;
mod multipart;
mod object;
mod object_lock;
mod own_writes;
mod path_claims;
mod progress;
mod publish;
mod putlog;
mod readcache;
mod remote;
mod retention;
mod scan;
mod shadow;
mod sidecar;
mod stage;
mod stored;
mod tagging;
mod unavailable;
mod version;
mod version_fold;
mod version_id;
mod version_row;
mod version_store;
mod vfs;
mod watch;
mod write;
mod write_cache;
mod writeback;

pub use acl::{Acl, Grant, Grantee, Group, ObjectOwnership, Permission};
pub use bucket::cors::CorsRule;
pub use bucket::lifecycle::{
    Expiration, FilterShape, LifecycleFilter, LifecycleRule, NoncurrentExpiration,
};
pub use bucket::{BucketRecord, PublicAccessBlock, Versioning};
pub use error::{Result, VfsError};
pub use index::{
    BodyHasher, Checksum, ChecksumSlot, ChecksumType, ContentHeaders, MetaValue, ObjectAttrs,
};
pub use list::{ListItem, ListPage, ListQuery, Listed};
pub use list_versions::{ShownId, VersionItem, VersionPage, VersionQuery};
pub use multipart::{
    Multipart, PartBody, PartInfo, PartPage, UploadInfo, UploadPage, MAX_PART_NUMBER,
};
pub use object::{
    BucketInfo, CopyAttrs, CopyFrom, ObjectInfo, ObjectReader, Precondition, PutRequest,
};
pub use object_lock::LockChange;
pub use progress::{Phase, Progress, ProgressNow};
pub use readcache::ReadCacheStats;
pub use remote::{ByteStream, Fingerprint};
pub use retention::{
    DefaultRetention, LockConfig, ObjectLock, Retention, RetentionMode, RetentionPeriod,
};
pub use scan::ScanReport;
pub use shadow::{power_cut_copy, power_cut_tear};
pub use stored::StoredKey;
pub use version::VersionDeleted;
pub use vfs::Vfs;
pub use watch::Watch;
pub use writeback::{WriteBackReport, WriteBackStats, WriteBackSummary};
