//! How encrypted names are written as text (`filename_encoding`), as rclone writes them:
//! - `base32`: RFC 4648's "extended hex" alphabet, lower case, without padding, so that names
//!   survive case-insensitive filesystems; decoding takes either case;
//! - `base64`: RFC 4648's URL-safe alphabet without padding (case-sensitive storage only);
//! - `base32768`: qntm's base32768, 15 bits per character, for remotes that count name length
//!   in UTF-16 units or characters rather than bytes.

use base64::Engine;
use s3gate_config::rclone::crypt::FilenameEncoding;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameEncoding {
    Base32,
    Base64,
    Base32768,
}

impl From<FilenameEncoding> for NameEncoding {
    fn from(e: FilenameEncoding) -> NameEncoding {
        match e {
            FilenameEncoding::Base32 => NameEncoding::Base32,
            FilenameEncoding::Base64 => NameEncoding::Base64,
            FilenameEncoding::Base32768 => NameEncoding::Base32768,
        }
    }
}

impl NameEncoding {
    pub(crate) fn encode(self, data: &[u8]) -> String {
        match self {
            NameEncoding::Base32 => base32hex_encode(data),
            NameEncoding::Base64 => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data),
            NameEncoding::Base32768 => base32768_encode(data),
        }
    }

    /// `None` when `text` is not this encoding's.
    pub(crate) fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            NameEncoding::Base32 => base32hex_decode(text),
            NameEncoding::Base64 => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text)
                .ok(),
            NameEncoding::Base32768 => base32768_decode(text),
        }
    }
}

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

fn base32hex_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32HEX[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(BASE32HEX[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32hex_decode(text: &str) -> Option<Vec<u8>> {
    // Unpadded lengths that padding could complete: 1, 3 and 6 characters past a group of 8
    // hold no whole byte.
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    Some(out)
}

/// The base32768 repertoire: ranges of code points, each a whole number of blocks of 32. Sorted,
/// the first four blocks carry the final 7 bits of an odd length, the other 1024 blocks carry 15
/// bits each (block number · 32 + the low 5 bits).
const BASE32768_RANGES: &[(u16, u16)] = &[
    (0x0180, 0x019F),
    (0x0240, 0x029F),
    (0x04A0, 0x04BF),
    (0x0500, 0x051F),
    (0x0680, 0x06BF),
    (0x0760, 0x079F),
    (0x07C0, 0x07DF),
    (0x1000, 0x101F),
    (0x10A0, 0x10BF),
    (0x1100, 0x115F),
    (0x1180, 0x119F),
    (0x11E0, 0x123F),
    (0x1260, 0x127F),
    (0x12E0, 0x12FF),
    (0x1320, 0x133F),
    (0x13A0, 0x13DF),
    (0x1420, 0x165F),
    (0x16A0, 0x16DF),
    (0x1780, 0x179F),
    (0x1820, 0x185F),
    (0x18C0, 0x18DF),
    (0x1980, 0x199F),
    (0x19E0, 0x19FF),
    (0x1A20, 0x1A3F),
    (0x1BC0, 0x1BDF),
    (0x1C00, 0x1C1F),
    (0x1D00, 0x1D1F),
    (0x21E0, 0x21FF),
    (0x22C0, 0x22DF),
    (0x2340, 0x23DF),
    (0x2400, 0x241F),
    (0x2500, 0x275F),
    (0x2780, 0x27BF),
    (0x2800, 0x297F),
    (0x29A0, 0x29BF),
    (0x2A20, 0x2A5F),
    (0x2A80, 0x2ABF),
    (0x2AE0, 0x2B5F),
    (0x2C00, 0x2C1F),
    (0x2C80, 0x2CDF),
    (0x2D00, 0x2D1F),
    (0x2D40, 0x2D5F),
    (0x2EA0, 0x2EDF),
    (0x31C0, 0x31DF),
    (0x3400, 0x4D9F),
    (0x4DC0, 0x9FBF),
    (0xA000, 0xA47F),
    (0xA4A0, 0xA4BF),
    (0xA500, 0xA5FF),
    (0xA640, 0xA65F),
    (0xA6A0, 0xA6DF),
    (0xA700, 0xA75F),
    (0xA780, 0xA79F),
    (0xA840, 0xA85F),
];

/// Blocks carrying 7 bits, then blocks carrying 15.
const SHORT_BLOCKS: usize = 4;

/// The first code point of each block, in order.
fn base32768_blocks() -> &'static [u16] {
    static BLOCKS: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    BLOCKS.get_or_init(|| {
        BASE32768_RANGES
            .iter()
            .flat_map(|&(lo, hi)| (lo..hi).step_by(32))
            .collect()
    })
}

fn base32768_encode(data: &[u8]) -> String {
    let blocks = base32768_blocks();
    let mut out = String::with_capacity(data.len() * 8 / 15 * 3 + 3);
    let emit = |out: &mut String, v: u32, short: bool| {
        let block = if short {
            v >> 5
        } else {
            SHORT_BLOCKS as u32 + (v >> 5)
        };
        let cp = u32::from(blocks[block as usize]) + (v & 31);
        out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
    };
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        if bits >= 15 {
            bits -= 15;
            emit(&mut out, (acc >> bits) & 0x7FFF, false);
        }
        acc &= (1 << bits) - 1;
    }
    // What is left is padded with 1 bits: to 7 when it fits, else to 15.
    if bits > 0 {
        let width = if bits <= 7 { 7 } else { 15 };
        let pad = width - bits;
        let v = ((acc << pad) | ((1 << pad) - 1)) & ((1 << width) - 1);
        emit(&mut out, v, width == 7);
    }
    out
}

fn base32768_decode(text: &str) -> Option<Vec<u8>> {
    let blocks = base32768_blocks();
    let mut out = Vec::with_capacity(text.len());
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let cp = u32::from(c);
        let start = u16::try_from(cp & !31).ok()?;
        let block = blocks.binary_search(&start).ok()?;
        let (value, width) = if block < SHORT_BLOCKS {
            // Only the last character may be a short one.
            if chars.peek().is_some() {
                return None;
            }
            ((block as u32) << 5 | (cp & 31), 7)
        } else {
            (((block - SHORT_BLOCKS) as u32) << 5 | (cp & 31), 15)
        };
        acc = (acc << width) | value;
        bits += width;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32768_has_its_1028_blocks() {
        let b = base32768_blocks();
        assert_eq!(b.len(), 1028);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b
            .iter()
            .all(|&c| c % 32 == 0 && !(0xD800..0xE000).contains(&c)));
    }

    #[test]
    fn encodings_round_trip_every_length() {
        for enc in [
            NameEncoding::Base32,
            NameEncoding::Base64,
            NameEncoding::Base32768,
        ] {
            for n in 0..70 {
                let data: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
                let text = enc.encode(&data);
                assert_eq!(enc.decode(&text).as_deref(), Some(&data[..]), "{enc:?} {n}");
            }
        }
    }

    #[test]
    fn known_values() {
        // RFC 4648's test vectors for base32hex, in lower case and unpadded.
        for (plain, enc) in [
            ("", ""),
            ("f", "co"),
            ("fo", "cpng"),
            ("foo", "cpnmu"),
            ("foob", "cpnmuog"),
            ("fooba", "cpnmuoj1"),
            ("foobar", "cpnmuoj1e8"),
        ] {
            assert_eq!(NameEncoding::Base32.encode(plain.as_bytes()), enc);
            assert_eq!(
                NameEncoding::Base32.decode(&enc.to_uppercase()).unwrap(),
                plain.as_bytes()
            );
        }
        for bad in ["c", "cpn", "cpnmuo", "w0", "co=="] {
            assert_eq!(NameEncoding::Base32.decode(bad), None, "{bad}");
        }
        assert_eq!(NameEncoding::Base32768.decode("abc"), None);
    }
}
