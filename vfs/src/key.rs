//! Bucket names and object keys, and how they map to paths on the remote. Everything that reaches
//! a remote passes through here first, so that no key can name anything outside its bucket.

use std::borrow::Cow;

use crate::error::{Result, VfsError};

/// Names at the root of the remote that are never buckets: the index and the staging area.
pub(crate) const RESERVED_DIR: &str = ".s3gate";

/// S3's longest key, in bytes.
const MAX_KEY_LEN: usize = 1024;
/// The longest file name common filesystems hold.
const MAX_SEGMENT_LEN: usize = 255;

/// Rules for a bucket name given to CreateBucket (S3's, strictly).
pub(crate) fn validate_new_bucket(name: &str) -> Result<()> {
    let bad = |why: &str| Err(VfsError::InvalidBucketName(format!("{name:?}: {why}")));
    if name.len() < 3 || name.len() > 63 {
        return bad("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("only lower-case letters, digits, dots and hyphens are allowed");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("dots may not be adjacent to dots or hyphens");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not be formatted as an IP address");
    }
    if name.starts_with("xn--") || name.ends_with("-s3alias") {
        return bad("reserved prefix or suffix");
    }
    Ok(())
}

/// Rules for naming an existing bucket: any folder at the root that can be a single path segment,
/// so that folders created by other programs (with upper case, say) are still served.
pub(crate) fn validate_bucket(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_SEGMENT_LEN
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
    {
        return Err(VfsError::NoSuchBucket);
    }
    Ok(())
}

/// Where the keys that cannot be plain files keep their files, each named by an id.
pub(crate) const KEYS_DIR: &str = ".s3gate/keys";

/// S3's rules for a key: any UTF-8 of 1 to 1024 bytes (NUL aside, which no XML listing can
/// carry). A key that passes may still not fit a file tree ([`validate_key`]): it is then kept
/// in the store of keys.
pub(crate) fn validate_s3_key(key: &str) -> Result<()> {
    let bad = |why: &str| Err(VfsError::InvalidKey(format!("{key:?}: {why}")));
    if key.is_empty() {
        return bad("empty key");
    }
    if key.len() > MAX_KEY_LEN {
        return Err(VfsError::KeyTooLong);
    }
    if key.contains('\0') {
        return bad("NUL is not allowed in a key");
    }
    Ok(())
}

/// Rules for a key that can be a plain file: it must map to a plain relative path below its
/// bucket.
pub(crate) fn validate_key(key: &str) -> Result<()> {
    let bad = |why: &str| Err(VfsError::InvalidKey(format!("{key:?}: {why}")));
    validate_s3_key(key)?;
    if key.starts_with('/') {
        return bad("a key may not begin with '/'");
    }
    if key.ends_with('/') {
        return bad("a key may not end with '/' (folders are implied by the keys inside them)");
    }
    for seg in key.split('/') {
        match seg {
            "" => return bad("empty path segment ('//')"),
            "." | ".." => return bad("'.' and '..' path segments are not allowed"),
            s if s.len() > MAX_SEGMENT_LEN => {
                return bad("a path segment is longer than 255 bytes")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where the file of `bucket/key` is, given the place in the store of keys its record names
/// (`store`, from the record as the caller read it: a GET reads the index once): that place, or
/// the key's own path when it fits a file tree; `None` for a key that can name no file.
pub(crate) fn path_in(bucket: &str, key: &str, store: Option<&str>) -> Option<String> {
    match store {
        Some(place) => Some(place.to_string()),
        None => object_path(bucket, key).ok(),
    }
}

/// The remote path of an object (validated).
pub(crate) fn object_path(bucket: &str, key: &str) -> Result<String> {
    validate_bucket(bucket)?;
    validate_key(key)?;
    Ok(format!("{bucket}/{key}"))
}

/// Whether `path` is a file in the store of keys rather than a key's own path.
pub(crate) fn is_stored(path: &str) -> bool {
    path.strip_prefix(KEYS_DIR)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A fresh place in the store of keys for a key of `bucket`: a random id, never the key, so
/// that no key can name anything outside the store; spread over 256 folders per bucket.
pub(crate) fn new_store_path(bucket: &str) -> String {
    let id: u128 = rand::random();
    format!("{KEYS_DIR}/{bucket}/{:02x}/{id:032x}", id & 0xff)
}

/// The name a key's lock is taken by: its path, or for a key kept in the store its bucket and
/// key (which is its path whenever it has one), so that every writer of the key takes the
/// same lock whichever fresh place it was given.
pub(crate) fn lock_name<'a>(bucket: &str, key: &str, path: &'a str) -> Cow<'a, str> {
    match is_stored(path) {
        true => Cow::Owned(format!("{bucket}/{key}")),
        false => Cow::Borrowed(path),
    }
}

/// Index key of an object; bucket names hold no `/`, so one bucket's keys form one sorted range.
pub(crate) fn index_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None` when
/// no such string exists (the prefix is all 0xFF bytes).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The folder path of a marker key (`dir/` in `bucket`), when the key is one.
pub(crate) fn marker_path(bucket: &str, key: &str) -> Option<Result<String>> {
    key.strip_suffix('/')
        .map(|folder| object_path(bucket, folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_keys_are_rejected() {
        for k in [
            "", "/a", "a//b", "a/", "..", "../x", "a/../b", "a/./b", ".", "a\0b",
        ] {
            assert!(validate_key(k).is_err(), "{k:?} accepted");
        }
        assert!(matches!(
            validate_key(&"a".repeat(1025)),
            Err(VfsError::KeyTooLong)
        ));
        assert!(validate_key(&format!("{}/b", "a".repeat(256))).is_err());
        for k in [
            "a",
            "a/b",
            "..a",
            "a..",
            "a b+c=%25.txt",
            "é/ü",
            ".hidden",
            "a\\b",
        ] {
            assert!(validate_key(k).is_ok(), "{k:?} rejected");
        }
    }

    #[test]
    fn bucket_names() {
        for b in ["abc", "my-bucket.1", "a1b"] {
            assert!(validate_new_bucket(b).is_ok(), "{b}");
        }
        for b in [
            "ab",
            "Abc",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "a_b",
            "xn--ab",
        ] {
            assert!(validate_new_bucket(b).is_err(), "{b}");
        }
        assert!(validate_bucket(".s3gate").is_err());
        assert!(validate_bucket("Old_Folder").is_ok());
    }

    #[test]
    fn prefix_end_is_the_tight_upper_bound() {
        assert_eq!(prefix_end(b"ab").unwrap(), b"ac");
        assert_eq!(prefix_end(b"a\xff").unwrap(), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
