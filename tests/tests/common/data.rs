//! Test data and what S3 computes from it: a deterministic byte pattern, MD5 ETags and
//! `Content-MD5`, and CRC32 checksums.

use md5::{Digest, Md5};

/// Deterministic, non-repeating-looking test data.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub(crate) fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// The ETag S3 gives a single-part object: the quoted hex MD5 of its bytes.
pub(crate) fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// Base64 of the MD5, as in `Content-MD5`.
pub(crate) fn content_md5(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// Base64 of the big-endian CRC32 of `data`, as in `x-amz-checksum-crc32`.
pub(crate) fn crc32_b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}
