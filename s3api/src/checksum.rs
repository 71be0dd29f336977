//! The additional checksums S3 clients send (`x-amz-checksum-*`, in a header or a trailer),
//! computed over the body as it streams.

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    pub(crate) const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The header (or trailer) that carries this checksum.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub(crate) fn from_header(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name.trim()))
    }
}

pub(crate) enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(u64),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub(crate) fn new(a: Algorithm) -> Hasher {
        match a {
            Algorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(!0),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Crc64Nvme(c) => *c = crc64nvme_update(*c, data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The checksum in the form it travels: base64 of the big-endian value or digest.
    pub(crate) fn finish_base64(self) -> String {
        let raw: Vec<u8> = match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(c) => (!c).to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), the default checksum of newer SDKs.
fn crc64nvme_update(mut crc: u64, data: &[u8]) -> u64 {
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0x9A6C_9329_AC4B_C9B5
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    for &b in data {
        crc = table[((crc ^ b as u64) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(a);
        h.update(&data[..3]);
        h.update(&data[3..]);
        h.finish_base64()
    }

    #[test]
    fn known_values() {
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        // The standard check values of each CRC over "123456789".
        assert_eq!(
            check(Algorithm::Crc32, b"123456789"),
            b64(&0xCBF43926u32.to_be_bytes())
        );
        assert_eq!(
            check(Algorithm::Crc32c, b"123456789"),
            b64(&0xE3069283u32.to_be_bytes())
        );
        assert_eq!(
            check(Algorithm::Crc64Nvme, b"123456789"),
            b64(&0xAE8B14860A799888u64.to_be_bytes())
        );
        assert_eq!(
            check(Algorithm::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(
            Algorithm::from_header("X-Amz-Checksum-CRC32"),
            Some(Algorithm::Crc32)
        );
    }
}
