//! Tag sets, checked as S3 checks them wherever they arrive: in the `x-amz-tagging` header of a
//! write (PUT, CopyObject with the tagging directive REPLACE, CreateMultipartUpload), and in the
//! `Tagging` document of PutObjectTagging and PutBucketTagging. A set that breaks a rule is
//! refused whole (`InvalidTag`), before anything is stored.

use std::sync::LazyLock;

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;

use crate::error::{S3Error, S3Result};
use crate::router::Query;

/// Tags as stored: (key, value) pairs, sorted by key, keys unique.
pub(crate) type TagSet = Vec<(String, String)>;

/// What a tag set is attached to, which decides how many tags it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    Object,
    Bucket,
}

/// Longest key and value, in Unicode characters (not bytes).
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// S3's pattern for keys and values: letters, separators (spaces), numbers, and `_ . : / = + - @`,
/// by Unicode category.
static ALLOWED: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("the tag pattern compiles")
});

fn invalid(message: &str) -> S3Error {
    S3Error::invalid_tag(message)
}

/// Checks `tags` against S3's rules for `holder` and sorts them by key.
pub(crate) fn checked(mut tags: TagSet, holder: Holder) -> S3Result<TagSet> {
    let (max, too_many) = match holder {
        Holder::Object => (10, "Object tags cannot be greater than 10"),
        Holder::Bucket => (50, "Bucket tag count cannot be greater than 50"),
    };
    if tags.len() > max {
        return Err(invalid(too_many));
    }
    for (key, value) in &tags {
        if key.chars().count() > MAX_KEY_CHARS {
            return Err(invalid("The TagKey you have provided is too long, max 128"));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(invalid(
                "The TagValue you have provided is too long, max 256",
            ));
        }
        if key.is_empty() || !ALLOWED.is_match(key) {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if !ALLOWED.is_match(value) {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        // Reserved for tags the provider sets itself, in any case.
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(invalid("Your TagKey cannot be prefixed with aws:"));
        }
    }
    tags.sort();
    if tags.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid("Cannot provide multiple Tags with the same key"));
    }
    Ok(tags)
}

/// The `x-amz-tagging` header of a write: `k1=v1&k2=v2`, URL-encoded. Absent or empty, no
/// tags (Velero sends an empty one with every PUT).
pub(crate) fn from_header(req: &HttpRequest) -> S3Result<TagSet> {
    from_header_map(req.headers())
}

/// [`from_header`] of a request head's headers (a bucket policy's conditions read them before
/// the request has a handler).
pub(crate) fn from_header_map(headers: &HeaderMap) -> S3Result<TagSet> {
    let Some(raw) = headers.get("x-amz-tagging") else {
        return Ok(TagSet::new());
    };
    // A header that does not read as a query (or repeats a key) is malformed rather than an
    // invalid tag, as S3 answers it.
    let malformed = || {
        S3Error::invalid_argument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
        )
    };
    let raw = raw.to_str().map_err(|_| malformed())?;
    let query = Query::parse(raw).map_err(|_| malformed())?;
    let mut tags: TagSet = Vec::new();
    for (key, value) in query.pairs() {
        if tags.iter().any(|(k, _)| k == key) {
            return Err(malformed());
        }
        tags.push((key.to_string(), value.to_string()));
    }
    checked(tags, Holder::Object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> TagSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn code(tags: &[(&str, &str)], holder: Holder) -> Option<&'static str> {
        checked(set(tags), holder).err().map(|e| e.code)
    }

    #[test]
    fn s3s_rules() {
        assert_eq!(
            checked(set(&[("b", ""), ("a", "1")]), Holder::Object).unwrap(),
            set(&[("a", "1"), ("b", "")])
        );
        let ok = [
            ("k", "v"),
            ("with space", "+-=._:/@"),
            ("ключ", "値 ١٢٣"),
            ("Ünï", "\u{a0}"),
        ];
        for t in ok {
            assert_eq!(code(&[t], Holder::Object), None, "{t:?}");
        }
        let k128 = "é".repeat(128);
        let v256 = "é".repeat(256);
        assert_eq!(code(&[(&k128, &v256)], Holder::Object), None);
        let k129 = "k".repeat(129);
        let v257 = "v".repeat(257);
        for bad in [
            ("", "v"),
            (k129.as_str(), "v"),
            ("k", v257.as_str()),
            ("k*", "v"),
            ("k", "v?"),
            ("k\t", "v"),
            ("k", "a\nb"),
            ("e\u{301}", "v"),
            ("aws:k", "v"),
            ("AWS:k", "v"),
        ] {
            assert_eq!(code(&[bad], Holder::Object), Some("InvalidTag"), "{bad:?}");
        }
        assert_eq!(
            code(&[("k", "1"), ("k", "2")], Holder::Bucket),
            Some("InvalidTag")
        );
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        let many = |n: usize| -> Vec<(&str, &str)> {
            keys[..n].iter().map(|k| (k.as_str(), "v")).collect()
        };
        assert_eq!(code(&many(10), Holder::Object), None);
        assert_eq!(code(&many(11), Holder::Object), Some("InvalidTag"));
        assert_eq!(code(&many(50), Holder::Bucket), None);
        assert_eq!(code(&many(51), Holder::Bucket), Some("InvalidTag"));
    }

    #[test]
    fn the_header() {
        let tags = |v: Option<&str>| {
            let mut r = actix_web::test::TestRequest::put();
            if let Some(v) = v {
                r = r.insert_header(("x-amz-tagging", v));
            }
            from_header(&r.to_http_request())
        };
        assert_eq!(tags(None).unwrap(), TagSet::new());
        assert_eq!(tags(Some("")).unwrap(), TagSet::new());
        assert_eq!(
            tags(Some("b=2&a%20b=x+y&c&d=")).unwrap(),
            set(&[("a b", "x y"), ("b", "2"), ("c", ""), ("d", "")])
        );
        assert_eq!(tags(Some("a=1&a=2")).unwrap_err().code, "InvalidArgument");
        assert_eq!(tags(Some("%FF=1")).unwrap_err().code, "InvalidArgument");
        assert_eq!(tags(Some("a=%2A")).unwrap_err().code, "InvalidTag");
    }
}
