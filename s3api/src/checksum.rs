//! The additional checksums S3 clients send (`x-amz-checksum-*`, in a header or a trailer),
//! computed over the body as it streams, and combined over the parts of a multipart upload.

use base64::Engine;
use s3gate_vfs::{BodyHasher, Checksum, ChecksumType, Vfs};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{S3Error, S3Result};
use crate::xml::Xml;

fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

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

    /// S3's name, as in `x-amz-checksum-algorithm` and after `Checksum` in XML elements.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    pub(crate) fn from_name(name: &str) -> S3Result<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                S3Error::invalid_request(format!(
                    "Checksum algorithm {name:?} is not supported: use CRC32, CRC32C, CRC64NVME, SHA1 or SHA256"
                ))
            })
    }

    fn is_crc(self) -> bool {
        matches!(
            self,
            Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64Nvme
        )
    }

    /// The checksum type of a multipart upload: `x-amz-checksum-type`, or S3's default for the
    /// algorithm (full-object for CRC-64/NVME, which has no composite form).
    pub(crate) fn upload_type(self, requested: Option<&str>) -> S3Result<ChecksumType> {
        let full_object = match requested.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
            None => self == Algorithm::Crc64Nvme,
            Some("FULL_OBJECT") if self.is_crc() => true,
            Some("COMPOSITE") if self != Algorithm::Crc64Nvme => false,
            Some(t) => {
                return Err(S3Error::invalid_request(format!(
                    "The {} checksum algorithm does not support checksum type {t}",
                    self.name()
                )))
            }
        };
        Ok(ChecksumType {
            algorithm: self.name().to_string(),
            full_object,
        })
    }
}

/// The checksum of a whole body, once what was computed (`got`) matches what the client sent.
pub(crate) fn verified(algo: Algorithm, got: String, want: &str) -> S3Result<Checksum> {
    if got != want.trim() {
        return Err(S3Error::bad_digest(format!(
            "The {} you specified did not match the calculated checksum.",
            algo.header()
        )));
    }
    Ok(Checksum {
        kind: ChecksumType {
            algorithm: algo.name().to_string(),
            full_object: true,
        },
        value: got,
        parts: Vec::new(),
    })
}

/// The XML element that carries a checksum of this algorithm (`ChecksumCRC32`, ...).
pub(crate) fn element(algorithm: &str) -> String {
    format!("Checksum{algorithm}")
}

/// `<ChecksumCRC32>` (or another algorithm), and `<ChecksumType>` when `with_type`.
pub(crate) fn write_elements(x: &mut Xml, c: Option<&Checksum>, with_type: bool) {
    if let Some(c) = c {
        x.elem(&element(&c.kind.algorithm), &c.value);
        if with_type {
            x.elem("ChecksumType", type_name(&c.kind));
        }
    }
}

/// The header that carries a stored checksum, and its value.
pub(crate) fn header_of(c: &Checksum) -> Option<(&'static str, &str)> {
    let algo = Algorithm::from_name(&c.kind.algorithm).ok()?;
    Some((algo.header(), c.value.as_str()))
}

/// `FULL_OBJECT` or `COMPOSITE`, as `x-amz-checksum-type` and `ChecksumType` say it.
pub(crate) fn type_name(t: &ChecksumType) -> &'static str {
    if t.full_object {
        "FULL_OBJECT"
    } else {
        "COMPOSITE"
    }
}

/// The checksum of a completed multipart object from its parts' checksums and sizes, in order:
/// the CRCs combined into the CRC of the whole content (full-object), or the checksum of the
/// concatenated binary part checksums with `-N` appended (composite).
pub(crate) fn of_parts(kind: &ChecksumType, parts: &[(&str, u64)]) -> Option<String> {
    let algo = Algorithm::from_name(&kind.algorithm).ok()?;
    let raw: Vec<Vec<u8>> = parts
        .iter()
        .map(|(v, _)| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .collect::<Option<_>>()?;
    if !kind.full_object {
        let mut h = Hasher::new(algo);
        for r in &raw {
            h.update(r);
        }
        return Some(format!("{}-{}", h.finish_base64(), parts.len()));
    }
    let (poly, width) = match algo {
        Algorithm::Crc32 => (0xEDB8_8320, 32),
        Algorithm::Crc32c => (0x82F6_3B78, 32),
        Algorithm::Crc64Nvme => (0x9A6C_9329_AC4B_C9B5, 64),
        Algorithm::Sha1 | Algorithm::Sha256 => return None,
    };
    let mut crc = 0u64;
    for (r, (_, len)) in raw.iter().zip(parts) {
        let part = u64::from_be_bytes(
            std::iter::repeat_n(0, 8 - r.len().min(8))
                .chain(r.iter().copied())
                .collect::<Vec<u8>>()
                .try_into()
                .ok()?,
        );
        crc = crc_combine(crc, part, *len, poly, width);
    }
    let bytes = crc.to_be_bytes();
    Some(b64(&bytes[8 - width / 8..]))
}

/// `a * b` modulo the CRC polynomial, in the reflected bit order CRCs use (the top bit is x^0).
fn mul_mod(a: u64, mut b: u64, poly: u64, width: usize) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

/// The CRC of `A ++ B` from CRC(A), CRC(B) and B's length: CRC(A) shifted past `len_b` zero
/// bytes (a multiplication by x^(8·len_b)), then added to CRC(B). Holds for CRCs whose initial
/// value and final XOR are equal, as all three of S3's are.
fn crc_combine(crc_a: u64, crc_b: u64, len_b: u64, poly: u64, width: usize) -> u64 {
    let mut power = 1u64 << (width - 1 - 8); // x^8: one byte
    let mut shift = 1u64 << (width - 1); // x^0
    let mut n = len_b;
    while n != 0 {
        if n & 1 != 0 {
            shift = mul_mod(power, shift, poly, width);
        }
        power = mul_mod(power, power, poly, width);
        n >>= 1;
    }
    mul_mod(shift, crc_a, poly, width) ^ crc_b
}

pub(crate) enum Hasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(u64),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl BodyHasher for Hasher {
    fn update(&mut self, data: &[u8]) {
        Hasher::update(self, data)
    }

    fn finish(self: Box<Self>) -> Checksum {
        let algorithm = self.algorithm().name().to_string();
        Checksum {
            kind: ChecksumType {
                algorithm,
                full_object: true,
            },
            value: self.finish_base64(),
            parts: Vec::new(),
        }
    }
}

impl Hasher {
    fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Crc32(_) => Algorithm::Crc32,
            Hasher::Crc32c(_) => Algorithm::Crc32c,
            Hasher::Crc64Nvme(_) => Algorithm::Crc64Nvme,
            Hasher::Sha1(_) => Algorithm::Sha1,
            Hasher::Sha256(_) => Algorithm::Sha256,
        }
    }

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
        b64(&raw)
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

/// The algorithm of the checksum an upload's parts carry, if it has one.
pub(crate) async fn upload_algorithm(
    vfs: &Vfs,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> S3Result<Option<Algorithm>> {
    vfs.multipart()
        .checksum(bucket, key, upload_id)
        .await?
        .map(|t| Algorithm::from_name(&t.algorithm))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(a);
        let k = data.len().min(3);
        h.update(&data[..k]);
        h.update(&data[k..]);
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

    #[test]
    fn full_object_crcs_combine_from_parts() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for algo in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let kind = algo.upload_type(Some("FULL_OBJECT")).unwrap();
            for cuts in [
                vec![0, 100_000],
                vec![0, 1, 100_000],
                vec![0, 33_333, 65_536, 99_999, 100_000],
            ] {
                let parts: Vec<(String, u64)> = cuts
                    .windows(2)
                    .map(|w| (check(algo, &data[w[0]..w[1]]), (w[1] - w[0]) as u64))
                    .collect();
                let refs: Vec<(&str, u64)> = parts.iter().map(|(v, n)| (v.as_str(), *n)).collect();
                assert_eq!(
                    of_parts(&kind, &refs).unwrap(),
                    check(algo, &data),
                    "{algo:?} {cuts:?}"
                );
            }
        }
    }

    #[test]
    fn composite_checksums() {
        // S3's composite form: the checksum of the concatenated binary part checksums, then -N.
        let kind = Algorithm::Sha256.upload_type(None).unwrap();
        let (a, b) = (
            check(Algorithm::Sha256, b"part one"),
            check(Algorithm::Sha256, b"part two"),
        );
        let mut h = Sha256::new();
        for v in [&a, &b] {
            h.update(base64::engine::general_purpose::STANDARD.decode(v).unwrap());
        }
        assert_eq!(
            of_parts(&kind, &[(&a, 8), (&b, 8)]).unwrap(),
            format!("{}-2", b64(&h.finalize()))
        );
        assert!(Algorithm::Sha1.upload_type(Some("FULL_OBJECT")).is_err());
        assert!(Algorithm::Crc64Nvme.upload_type(Some("COMPOSITE")).is_err());
        assert!(Algorithm::Crc64Nvme.upload_type(None).unwrap().full_object);
    }
}
