//! Name encryption, as rclone's crypt does it (`filename_encryption`):
//! - `standard`: each path segment padded (PKCS#7 to 16 bytes), enciphered whole with EME over
//!   AES-256, then written in the chosen encoding;
//! - `obfuscate`: each segment's characters rotated by an amount drawn from the segment and the
//!   name key, written `N.rotated`; it hides names from a glance only;
//! - `off`: names kept, files given a suffix (`.bin` unless `suffix` says otherwise, `none` for
//!   none), folders kept as they are.
//!
//! With `directory_name_encryption = false`, only the last segment of a file's path is
//! encrypted. Like rclone, a last segment carrying a version stamp (`name-v2006-01-02-150405-000.ext`,
//! as rclone names old versions) is encrypted without it and the stamp added back in the clear.

use std::io;

use super::eme::{self, Direction, Eme};
use super::encoding::NameEncoding;
use s3gate_config::rclone::crypt::FilenameEncryption;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Standard,
    Obfuscate,
    Off,
}

impl From<FilenameEncryption> for Mode {
    fn from(e: FilenameEncryption) -> Mode {
        match e {
            FilenameEncryption::Standard => Mode::Standard,
            FilenameEncryption::Obfuscate => Mode::Obfuscate,
            FilenameEncryption::Off => Mode::Off,
        }
    }
}

/// rclone refuses to decrypt longer encoded names.
const MAX_DECODED: usize = 2048;
/// What quotes a character obfuscation leaves as it is.
const QUOTE: char = '!';

pub(crate) struct NameCipher {
    mode: Mode,
    dir_names: bool,
    encoding: NameEncoding,
    /// The suffix of files when names are not encrypted (`""` for none).
    suffix: String,
    eme: Eme,
    name_key: [u8; 32],
}

impl NameCipher {
    pub(crate) fn new(
        mode: Mode,
        dir_names: bool,
        encoding: NameEncoding,
        suffix: String,
        name_key: [u8; 32],
        tweak: [u8; eme::BLOCK],
    ) -> NameCipher {
        NameCipher {
            mode,
            dir_names,
            encoding,
            suffix,
            eme: Eme::new(&name_key, tweak),
            name_key,
        }
    }

    /// The stored path of the file at `path` (segments joined by `/`).
    pub(crate) fn file_path(&self, path: &str) -> io::Result<String> {
        match self.mode {
            Mode::Off => Ok(format!("{path}{}", self.suffix)),
            _ => self.encrypt_path(path),
        }
    }

    /// The stored path of the folder at `path` (`""` for the root).
    pub(crate) fn dir_path(&self, path: &str) -> io::Result<String> {
        if self.mode == Mode::Off || !self.dir_names || path.is_empty() {
            return Ok(path.to_string());
        }
        self.encrypt_path(path)
    }

    /// The name of a listed file, `None` when it is not one of this cipher's.
    pub(crate) fn file_name(&self, stored: &str) -> Option<String> {
        match self.mode {
            Mode::Off => {
                let name = stored.strip_suffix(self.suffix.as_str())?;
                let unversioned = split_version(name).map(|(n, _)| n);
                (!name.is_empty() && unversioned.as_deref() != Some("")).then(|| name.to_string())
            }
            _ => self.decrypt_last(stored),
        }
    }

    /// The name of a listed folder, `None` when it is not one of this cipher's.
    pub(crate) fn dir_name(&self, stored: &str) -> Option<String> {
        if self.mode == Mode::Off || !self.dir_names {
            return Some(stored.to_string());
        }
        self.decrypt_last(stored)
    }

    fn encrypt_path(&self, path: &str) -> io::Result<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let last = segments.len() - 1;
        let mut out = Vec::with_capacity(segments.len());
        for (i, seg) in segments.into_iter().enumerate() {
            if i != last {
                out.push(match self.dir_names {
                    true => self.encrypt_segment(seg)?,
                    false => seg.to_string(),
                });
                continue;
            }
            out.push(match split_version(seg) {
                Some((bare, stamp)) => add_version(&self.encrypt_segment(&bare)?, stamp),
                None => self.encrypt_segment(seg)?,
            });
        }
        Ok(out.join("/"))
    }

    /// Decrypts the last segment of a path, which may carry a version stamp.
    fn decrypt_last(&self, stored: &str) -> Option<String> {
        match split_version(stored) {
            Some((bare, stamp)) => Some(add_version(&self.decrypt_segment(&bare)?, stamp)),
            None => self.decrypt_segment(stored),
        }
    }

    fn encrypt_segment(&self, plain: &str) -> io::Result<String> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        match self.mode {
            Mode::Obfuscate => Ok(self.obfuscate(plain)),
            _ => {
                let pad = eme::BLOCK - plain.len() % eme::BLOCK;
                let mut data = plain.as_bytes().to_vec();
                data.resize(plain.len() + pad, pad as u8);
                self.eme
                    .transform(&mut data, Direction::Encrypt)
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::ENAMETOOLONG))?;
                Ok(self.encoding.encode(&data))
            }
        }
    }

    fn decrypt_segment(&self, stored: &str) -> Option<String> {
        if stored.is_empty() {
            return Some(String::new());
        }
        if self.mode == Mode::Obfuscate {
            return self.deobfuscate(stored);
        }
        let mut data = self.encoding.decode(stored)?;
        if data.is_empty() || data.len() % eme::BLOCK != 0 || data.len() > MAX_DECODED {
            return None;
        }
        self.eme.transform(&mut data, Direction::Decrypt)?;
        let pad = usize::from(*data.last()?);
        if pad == 0 || pad > eme::BLOCK || data[data.len() - pad..].iter().any(|&b| b != pad as u8)
        {
            return None;
        }
        data.truncate(data.len() - pad);
        String::from_utf8(data).ok()
    }

    /// The rotation drawn from the name key, added to the one drawn from the name.
    fn key_rotation(&self) -> i64 {
        self.name_key.iter().map(|&b| i64::from(b)).sum()
    }

    fn obfuscate(&self, plain: &str) -> String {
        let sum: i64 = plain.chars().map(|c| i64::from(u32::from(c))).sum::<i64>() % 256;
        let dir = sum + self.key_rotation();
        let mut out = format!("{sum}.");
        for c in plain.chars() {
            let r = i64::from(u32::from(c));
            let rotated = match c {
                QUOTE => {
                    out.push(QUOTE);
                    QUOTE
                }
                '0'..='9' => digit(r, dir % 9 + 1),
                'A'..='Z' | 'a'..='z' => letter(r, dir % 25 + 1),
                '\u{A0}'..='\u{FF}' => latin1(r, dir % 95 + 1),
                _ if r >= 0x100 => {
                    let base = r - r % 256;
                    match char::from_u32((base + (r - base + dir % 127 + 1) % 256) as u32) {
                        Some(n) => n,
                        // Rotated into the surrogates: quoted and kept.
                        None => {
                            out.push(QUOTE);
                            c
                        }
                    }
                }
                _ => c,
            };
            out.push(rotated);
        }
        out
    }

    fn deobfuscate(&self, stored: &str) -> Option<String> {
        let (num, rest) = stored.split_once('.')?;
        if num == "!" {
            return Some(rest.to_string());
        }
        let dir = num.parse::<i64>().ok()? + self.key_rotation();
        let mut out = String::with_capacity(rest.len());
        let mut quoted = false;
        for c in rest.chars() {
            let r = i64::from(u32::from(c));
            let back = match c {
                _ if quoted => {
                    quoted = false;
                    r
                }
                QUOTE => {
                    quoted = true;
                    continue;
                }
                '0'..='9' => u32::from(digit(r, 10 - (dir % 9 + 1).rem_euclid(10))).into(),
                'A'..='Z' | 'a'..='z' => u32::from(letter(r, 52 - (dir % 25 + 1))).into(),
                '\u{A0}'..='\u{FF}' => u32::from(latin1(r, 96 - (dir % 95 + 1))).into(),
                _ if r >= 0x100 => {
                    let base = r - r % 256;
                    let mut n = r - (dir % 127 + 1);
                    if n < base {
                        n += 256;
                    }
                    n
                }
                _ => r,
            };
            out.push(char::from_u32(u32::try_from(back).ok()?)?);
        }
        Some(out)
    }
}

/// A digit rotated forward by `by` (0 to 10).
fn digit(r: i64, by: i64) -> char {
    char::from(b'0' + ((r - 0x30 + by).rem_euclid(10)) as u8)
}

/// A letter rotated forward by `by` through A-Z then a-z.
fn letter(r: i64, by: i64) -> char {
    let mut pos = r - i64::from(b'A');
    if pos >= 26 {
        pos -= 6;
    }
    pos = (pos + by).rem_euclid(52);
    if pos >= 26 {
        pos += 6;
    }
    char::from(b'A' + pos as u8)
}

/// A character of Latin-1's upper half rotated forward by `by`.
fn latin1(r: i64, by: i64) -> char {
    char::from_u32((0xA0 + (r - 0xA0 + by).rem_euclid(96)) as u32).unwrap_or('?')
}

/// The length of a version stamp: `-v2006-01-02-150405-000`.
const STAMP_LEN: usize = 23;

/// A name's base and extension as rclone splits them (`.file` is all base).
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(0) | None => (name, ""),
        Some(i) => name.split_at(i),
    }
}

/// The name without its version stamp, and the stamp, when it carries a valid one.
fn split_version(name: &str) -> Option<(String, &str)> {
    let (base, ext) = split_ext(name);
    let at = base.len().checked_sub(STAMP_LEN)?;
    let stamp = base.get(at..)?;
    valid_stamp(stamp.as_bytes()).then(|| (format!("{}{ext}", &base[..at]), stamp))
}

fn add_version(name: &str, stamp: &str) -> String {
    let (base, ext) = split_ext(name);
    format!("{base}{stamp}{ext}")
}

/// `-vYYYY-MM-DD-hhmmss-mmm` naming a real time (a bad date is part of the name).
fn valid_stamp(s: &[u8]) -> bool {
    let shape = b"-v####-##-##-######-###";
    let fits = s.len() == shape.len()
        && s.iter().zip(shape).all(|(c, p)| match p {
            b'#' => c.is_ascii_digit(),
            _ => c == p,
        });
    if !fits {
        return false;
    }
    let num =
        |r: std::ops::Range<usize>| s[r].iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    let (year, month, day) = (num(2..6), num(7..9), num(10..12));
    let (h, m, sec) = (num(13..15), num(15..17), num(17..19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && h < 24 && m < 60 && sec < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_stamps_as_rclone_reads_them() {
        let (bare, stamp) = split_version("report-v2024-02-29-235959-123.pdf").unwrap();
        assert_eq!(
            (bare.as_str(), stamp),
            ("report.pdf", "-v2024-02-29-235959-123")
        );
        assert_eq!(add_version("x.y.z", stamp), "x.y-v2024-02-29-235959-123.z");
        assert_eq!(
            add_version(".rc", "-v2024-02-29-235959-123"),
            ".rc-v2024-02-29-235959-123"
        );
        for no in [
            "report-v2023-02-29-000000-000.pdf",
            "report-v2024-13-01-000000-000",
            "report-v2024-01-01-240000-000",
            "report-v2024-01-01-000000.000",
            "report.pdf",
            "v2024-01-01-000000-000",
        ] {
            assert!(split_version(no).is_none(), "{no}");
        }
    }
}
