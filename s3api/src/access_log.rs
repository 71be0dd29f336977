//! Request ids, and what the access log writes of a request's own words (bucket, key,
//! sub-resource, key id): escaped, so that a name holding a line break cannot forge a log line
//! and one holding an escape sequence cannot reach the terminal of whoever reads the log.

use std::fmt;

/// A new request id: sent as `x-amz-request-id`, named in the error document and the log line.
pub(crate) fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// Writes its text with control characters (and the backslash that introduces escapes)
/// escaped as Rust does (`\n`, `\u{1b}`); everything else as it is.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(|c: char| c.is_control() || c == '\\') {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(f, "{}", c.escape_default())?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(Escaped("a/b c").to_string(), "a/b c");
        assert_eq!(
            Escaped("x\n2026-12-05 INFO forged\r\u{1b}[31m\\").to_string(),
            "x\\n2026-12-05 INFO forged\\r\\u{1b}[31m\\\\"
        );
        assert_eq!(Escaped("é\u{85}").to_string(), "é\\u{85}");
    }
}
