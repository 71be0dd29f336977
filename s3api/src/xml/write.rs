//! Responses written with a small builder (they are flat and known), whose every text goes
//! through one escape that any XML parser reads back byte for byte (CR and other control
//! characters as character references), but for what the caller knows holds nothing to escape
//! (`elem_clean`: fixed words, version ids; numbers and times): a listing writes several such
//! texts an entry. A leaf: the error document is written with it, so it answers no errors
//! itself.

use std::borrow::Cow;
use std::fmt::Write;
use std::time::SystemTime;

use actix_web::HttpResponse;

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub(crate) struct Xml {
    out: String,
    stack: Vec<&'static str>,
    /// The last day a time was written for, and its date: the entries of a listing mostly
    /// share a handful of days.
    day: Option<(i64, [u8; 10])>,
}

impl Xml {
    /// Starts a document whose root element is `root`, with S3's namespace when `ns`.
    pub(crate) fn document(root: &'static str, ns: bool) -> Xml {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        if ns {
            let _ = write!(out, " xmlns=\"{NS}\"");
        }
        out.push('>');
        Xml {
            out,
            stack: vec![root],
            day: None,
        }
    }

    /// Room for `n` more bytes: a listing knows roughly how long it will be.
    pub(crate) fn reserve(&mut self, n: usize) -> &mut Self {
        self.out.reserve(n);
        self
    }

    pub(crate) fn open(&mut self, tag: &'static str) -> &mut Self {
        self.start_tag(tag);
        self.stack.push(tag);
        self
    }

    pub(crate) fn close(&mut self) -> &mut Self {
        if let Some(tag) = self.stack.pop() {
            self.end_tag(tag);
        }
        self
    }

    pub(crate) fn elem(&mut self, tag: &str, text: &str) -> &mut Self {
        self.start_tag(tag);
        escape_into(&mut self.out, text);
        self.end_tag(tag)
    }

    /// An element whose text the caller knows needs no escaping: a fixed word, a version id, a
    /// number. A listing writes a few of them an entry, and the escape's scan was most of the
    /// time spent writing a listing.
    pub(crate) fn elem_clean(&mut self, tag: &str, text: &str) -> &mut Self {
        self.start_tag(tag);
        self.out.push_str(text);
        self.end_tag(tag)
    }

    /// An `ETag` element: the hex digest in quotes, as S3 writes it.
    pub(crate) fn etag(&mut self, hex: &str) -> &mut Self {
        self.start_tag("ETag");
        self.out.push_str("&quot;");
        escape_into(&mut self.out, hex);
        self.out.push_str("&quot;");
        self.end_tag("ETag")
    }

    /// An element holding a time, in S3's form.
    pub(crate) fn elem_time(&mut self, tag: &str, t: SystemTime) -> &mut Self {
        self.start_tag(tag);
        push_timestamp(&mut self.out, t, &mut self.day);
        self.end_tag(tag)
    }

    /// An element holding a number (nothing to escape).
    pub(crate) fn elem_num(&mut self, tag: &str, n: impl std::fmt::Display) -> &mut Self {
        self.start_tag(tag);
        let _ = write!(self.out, "{n}");
        self.end_tag(tag)
    }

    fn start_tag(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    fn end_tag(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// Text directly inside the current element.
    pub(crate) fn raw_elem_text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.out, text);
        self
    }

    /// Markup written as given (the caller escapes what it interpolates).
    pub(crate) fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub(crate) fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.close();
        }
        self.out
    }
}

/// A 200 answer carrying an XML document.
pub(crate) fn xml_ok(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/xml")
        .body(body)
}

/// `encoding-type=url`: keys and prefixes percent-encoded, `/` kept.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A key or prefix as the response shows it: URL-encoded when `url` (`encoding-type=url`).
pub(crate) fn enc(url: bool, s: &str) -> Cow<'_, str> {
    if url {
        Cow::Owned(url_encode(s))
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    escape_into(&mut s, text);
    s
}

/// The bytes that may need escaping: the five markup characters, control characters, and
/// 0xEF, which opens U+FFFE and U+FFFF.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = !matches!(b, 0x09 | 0x0A);
        b += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\'' as usize] = true;
    t[0xEF] = true;
    t
};

/// Writes `text` as XML character data that every parser reads back byte for byte. Used for
/// everything the server writes, listings included.
fn escape_into(out: &mut String, text: &str) {
    // The runs between escaped characters are whole UTF-8 text and are copied at once: most
    // keys have nothing to escape, and are looked over one table read a byte.
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| SPECIAL[usize::from(b)]) {
        i += at;
        let (entity, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\'' => ("&apos;", 1),
            // A raw CR is read back as LF (end-of-line normalisation): `a\rb` would list as
            // `a\nb`, another key. Other control characters cannot appear in XML 1.0 text at
            // all. Both are written as character references, as S3 does, which clients decode.
            b if b < 0x20 => ("", 1),
            // U+FFFE and U+FFFF are not XML characters either (EF BF BE / EF BF BF).
            _ if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => ("", 3),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&text[run..i]);
        if !entity.is_empty() {
            out.push_str(entity);
        } else if let Some(c) = text[i..].chars().next() {
            let _ = write!(out, "&#x{:X};", u32::from(c));
        }
        i += len;
        run = i;
    }
    out.push_str(&text[run..]);
}

/// `t` in S3's timestamp form, for a header that carries one (an object lock's date).
pub(crate) fn timestamp(t: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    push_timestamp(&mut out, t, &mut None);
    out
}

/// Writes `t` in S3's timestamp form in XML: `2009-10-12T17:50:30.000Z`; `day` is the last day
/// written and its date, taken when `t` falls on it.
fn push_timestamp(out: &mut String, t: SystemTime, day: &mut Option<(i64, [u8; 10])>) {
    // Milliseconds since the epoch, rounded down (also before it), within what the form
    // holds: years 0 to 9999 (a folder's time can be anything a filesystem stores).
    const FIRST_MS: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
    const LAST_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms_of = |d: std::time::Duration| {
        i64::try_from(d.as_secs())
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .map_or(i64::MAX, |ms| ms + i64::from(d.subsec_millis()))
    };
    let ms = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => ms_of(d).min(LAST_MS),
        Err(e) => {
            let d = e.duration();
            let up = i64::from(d.subsec_nanos() % 1_000_000 != 0);
            (-ms_of(d).min(-FIRST_MS) - up).max(FIRST_MS)
        }
    };
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000) as u32);
    let date = match *day {
        Some((d, date)) if d == days => date,
        _ => {
            let (year, month, dom) = civil_from_days(days);
            let mut date = *b"0000-00-00";
            put_digits(&mut date, u32::try_from(year).unwrap_or(0), 4, 4);
            put_digits(&mut date, month, 7, 2);
            put_digits(&mut date, dom, 10, 2);
            *day = Some((days, date));
            date
        }
    };
    // Fixed-width digits without the formatting machinery: a listing writes a thousand.
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    buf[..10].copy_from_slice(&date);
    for (value, end, width) in [
        (ms_of_day / 3_600_000, 13, 2),
        (ms_of_day / 60_000 % 60, 16, 2),
        (ms_of_day / 1000 % 60, 19, 2),
        (ms_of_day % 1000, 23, 3),
    ] {
        put_digits(&mut buf, value, end, width);
    }
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

/// `value`'s last `width` decimal digits into `buf`, ending before `end`.
fn put_digits(buf: &mut [u8], value: u32, end: usize, width: usize) {
    let mut v = value;
    for d in buf[end - width..end].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01, by the
/// well-known era arithmetic (eras of 400 years, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
    }

    fn timestamp(t: SystemTime) -> String {
        let mut s = String::new();
        push_timestamp(&mut s, t, &mut None);
        s
    }

    #[test]
    fn escaping() {
        let mut x = Xml::document("R", true);
        x.elem("K", "a<&>\"'\u{1}é\r\n\t\u{FFFF}z")
            .elem("P", "plain/key.txt");
        assert!(x.finish().ends_with(
            "<K>a&lt;&amp;&gt;&quot;&apos;&#x1;é&#xD;\n\t&#xFFFF;z</K><P>plain/key.txt</P></R>"
        ));
    }

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_255_369_830_123);
        assert_eq!(timestamp(t), "2009-10-12T17:50:30.123Z");
        let before = SystemTime::UNIX_EPOCH - std::time::Duration::from_micros(1500);
        assert_eq!(timestamp(before), "1969-12-31T23:59:59.998Z");
        let leap = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000Z");
        // Beyond what the form holds (a folder dated year 12000): the last time it can say.
        let far = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(316_536_652_800);
        assert_eq!(timestamp(far), "9999-12-31T23:59:59.999Z");
        let ancient = SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(70_000_000_000);
        assert_eq!(timestamp(ancient), "0000-01-01T00:00:00.000Z");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]

        /// The hand-made timestamp agrees with the date library on any time from 1970 to 9999.
        #[test]
        fn timestamps_agree_with_the_date_library(
            ms in 0u64..253_402_300_800_000,
            ns in 0u32..1_000_000,
        ) {
            let t = SystemTime::UNIX_EPOCH
                + std::time::Duration::from_millis(ms)
                + std::time::Duration::from_nanos(u64::from(ns));
            let dt = time::OffsetDateTime::from(t);
            let want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.year(), dt.month() as u8, dt.day(), dt.hour(), dt.minute(), dt.second(),
                dt.millisecond()
            );
            proptest::prop_assert_eq!(timestamp(t), want);
        }

        /// Times written one after another through one document, sharing the date of the last,
        /// read as each written alone, on the same day or not, before 1970 or after.
        #[test]
        fn times_in_a_row_read_as_each_alone(
            times in proptest::collection::vec(-100_000_000_000_000i64..253_402_300_800_000, 1..6),
            same_day in proptest::bool::ANY,
        ) {
            let at = |ms: i64| match u64::try_from(ms) {
                Ok(ms) => SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms),
                Err(_) => SystemTime::UNIX_EPOCH - std::time::Duration::from_millis(ms.unsigned_abs()),
            };
            let times: Vec<i64> = match same_day {
                true => times.iter().map(|t| times[0] - times[0].rem_euclid(86_400_000) + t.rem_euclid(86_400_000)).collect(),
                false => times,
            };
            let mut x = Xml::document("R", false);
            for &t in &times {
                x.elem_time("T", at(t));
            }
            let want: String = times.iter().map(|&t| format!("<T>{}</T>", timestamp(at(t)))).collect();
            proptest::prop_assert_eq!(x.finish(), format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R>{want}</R>"));
        }

        /// Whatever a key holds, its escaped form is plain XML text that reads back as the key.
        #[test]
        fn escaped_text_reads_back(text in "[^\\x00]*") {
            let e = escape(&text);
            proptest::prop_assert!(!e.contains(['<', '>', '"', '\'']));
            let unreadable = |c: char| {
                (c < ' ' && !matches!(c, '\t' | '\n')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
            };
            proptest::prop_assert!(!e.chars().any(unreadable), "{:?}", e);
            let back = quick_xml::escape::unescape(&e);
            proptest::prop_assert!(back.is_ok(), "{e:?} does not read back: {back:?}");
            proptest::prop_assert_eq!(back.unwrap_or_default(), text);
        }

    }
}
