//! ListObjects (v1) and ListObjectsV2 against a simple in-test model of S3 listing: byte order of
//! the full key, prefixes, any delimiter, common prefixes, pagination through markers and
//! continuation tokens, start-after, max-keys, encoding-type=url, fetch-owner, KeyCount.

use std::collections::BTreeSet;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;

use crate::common::*;

/// Keys chosen so that S3 byte order differs from a naive directory walk: `!`, `-`, `.`, space
/// and `#` sort before `/`, so `a/` must come between `a.b` and `a0`. No key is also a folder.
const KEYS: &[&str] = &[
    "a!",
    "a#",
    "a b",
    "a-b",
    "a-c/x",
    "a.b",
    "a/b",
    "a/c/d",
    "a/c/e",
    "a/d-1",
    "a/d-2",
    "a0",
    "ab/x",
    "ab/y/z",
    "abc",
    "b",
    "b-1/x",
    "b-2",
    "c ab d",
    "cab",
    "cabx/1",
    "z",
    "~tilde",
    "é/accent",
    "éa",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    Key(String),
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Key(k) | Entry::Prefix(k) => k,
        }
    }
}

/// What S3 answers for the whole listing (all pages together), in order: the keys under
/// `prefix` after `after`, with those holding `delimiter` past the prefix rolled up into common
/// prefixes.
fn model(keys: &[&str], prefix: &str, delimiter: Option<&str>, after: Option<&str>) -> Vec<Entry> {
    let mut set = BTreeSet::new();
    for k in keys {
        if !k.starts_with(prefix) {
            continue;
        }
        if let Some(a) = after {
            if *k <= a {
                continue;
            }
        }
        let rest = &k[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                set.insert(Entry::Prefix(k[..prefix.len() + i + d.len()].to_string()));
            }
            None => {
                set.insert(Entry::Key(k.to_string()));
            }
        }
    }
    let mut v: Vec<Entry> = set.into_iter().collect();
    v.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
    if let Some(a) = after {
        v.retain(|e| e.name() > a);
    }
    v
}

async fn setup(keys: &[&str]) -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    // Eight writers, each taking every eighth key.
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let client = s.client.clone();
        let mine: Vec<(usize, String)> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 8 == w)
            .map(|(i, k)| (i, k.to_string()))
            .collect();
        tasks.spawn(async move {
            for (i, k) in mine {
                client
                    .put_object()
                    .bucket("bkt")
                    .key(&k)
                    .body(ByteStream::from(format!("body of {i}").into_bytes()))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {k:?}: {}", describe(&e)));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    s
}

fn page_entries(keys: Vec<String>, prefixes: Vec<String>) -> Vec<Entry> {
    let mut v: Vec<Entry> = keys
        .into_iter()
        .map(Entry::Key)
        .chain(prefixes.into_iter().map(Entry::Prefix))
        .collect();
    v.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
    v
}

/// Pages through ListObjectsV2 and checks every page against the model as it goes.
async fn page_v2(
    s: &TestServer,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
    start_after: Option<&str>,
) -> Vec<Entry> {
    let ctx = format!("v2 prefix={prefix:?} delimiter={delimiter:?} max-keys={max_keys} start-after={start_after:?}");
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..200 {
        let out = s
            .client
            .list_objects_v2()
            .bucket("bkt")
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .max_keys(max_keys)
            .set_start_after(start_after.map(str::to_string))
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {}", describe(&e)));
        let keys: Vec<String> = keys_of(out.contents());
        let cps: Vec<String> = prefixes_of(out.common_prefixes());
        // Keys and common prefixes each come in byte order.
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{ctx}: keys out of order");
        let mut sorted = cps.clone();
        sorted.sort();
        assert_eq!(cps, sorted, "{ctx}: common prefixes out of order");
        let page = page_entries(keys, cps);
        assert!(
            page.len() <= max_keys as usize,
            "{ctx}: page of {} entries",
            page.len()
        );
        assert_eq!(
            out.key_count(),
            Some(page.len() as i32),
            "{ctx}: KeyCount counts keys and common prefixes"
        );
        assert_eq!(out.name(), Some("bkt"));
        if !prefix.is_empty() {
            assert_eq!(out.prefix(), Some(prefix), "{ctx}: Prefix echoed");
        }
        if let Some(d) = delimiter {
            assert_eq!(out.delimiter(), Some(d), "{ctx}: Delimiter echoed");
        }
        if let (Some(last), Some(first)) = (all.last(), page.first()) {
            let (last, first): (&Entry, &Entry) = (last, first);
            assert!(
                first.name() > last.name(),
                "{ctx}: page starts at {first:?}, not after {last:?}"
            );
        }
        all.extend(page);
        if out.is_truncated() == Some(true) {
            let t = out
                .next_continuation_token()
                .unwrap_or_else(|| panic!("{ctx}: truncated without NextContinuationToken"));
            assert!(!t.is_empty());
            token = Some(t.to_string());
        } else {
            assert_eq!(
                out.next_continuation_token(),
                None,
                "{ctx}: token on the last page"
            );
            return all;
        }
    }
    panic!("{ctx}: more than 200 pages");
}

/// Pages through ListObjects (v1) with markers.
async fn page_v1(
    s: &TestServer,
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: i32,
) -> Vec<Entry> {
    let ctx = format!("v1 prefix={prefix:?} delimiter={delimiter:?} max-keys={max_keys}");
    let mut all: Vec<Entry> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..200 {
        let out = s
            .client
            .list_objects()
            .bucket("bkt")
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .max_keys(max_keys)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {}", describe(&e)));
        if let Some(m) = &marker {
            assert_eq!(out.marker(), Some(m.as_str()), "{ctx}: Marker echoed");
        }
        let keys: Vec<String> = keys_of(out.contents());
        let cps: Vec<String> = prefixes_of(out.common_prefixes());
        let page = page_entries(keys, cps);
        assert!(
            page.len() <= max_keys as usize,
            "{ctx}: page of {} entries",
            page.len()
        );
        if let (Some(last), Some(first)) = (all.last(), page.first()) {
            assert!(
                first.name() > last.name(),
                "{ctx}: page starts at {first:?}, not after {last:?}"
            );
        }
        let last_name = page.last().map(|e| e.name().to_string());
        all.extend(page);
        if out.is_truncated() == Some(true) {
            let next = match (delimiter, out.next_marker()) {
                (_, Some(m)) => m.to_string(),
                (Some(_), None) => panic!("{ctx}: truncated with a delimiter but no NextMarker"),
                (None, None) => last_name.clone().expect("truncated page with no entries"),
            };
            if delimiter.is_some() {
                assert_eq!(
                    Some(&next),
                    last_name.as_ref(),
                    "{ctx}: NextMarker is the last entry"
                );
            }
            marker = Some(next);
        } else {
            return all;
        }
    }
    panic!("{ctx}: more than 200 pages");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_listing_is_in_byte_order() {
    let s = setup(KEYS).await;
    let mut expected: Vec<&str> = KEYS.to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(s.list_keys("bkt").await, expected);

    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(out.key_count(), Some(KEYS.len() as i32));
    assert_eq!(out.is_truncated(), Some(false));
    for o in out.contents() {
        let i = KEYS.iter().position(|k| Some(*k) == o.key()).unwrap();
        let body = format!("body of {i}");
        assert_eq!(o.size(), Some(body.len() as i64), "{:?}", o.key());
        assert_eq!(
            o.e_tag(),
            Some(etag_of(body.as_bytes()).as_str()),
            "{:?}",
            o.key()
        );
        assert!(o.last_modified().is_some());
        assert_eq!(o.storage_class().map(|c| c.as_str()), Some("STANDARD"));
        assert!(o.owner().is_none(), "v2 has no Owner without fetch-owner");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delimiter_slash_with_and_without_prefix() {
    let s = setup(KEYS).await;
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "a b", "a!", "a#", "a-b", "a.b", "a0", "abc", "b", "b-2", "c ab d", "cab", "z",
            "~tilde", "éa"
        ]
    );
    assert_eq!(cps, ["a-c/", "a/", "ab/", "b-1/", "cabx/", "é/"]);
    assert_eq!(out.key_count(), Some(20));

    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(keys, ["a/b", "a/d-1", "a/d-2"]);
    assert_eq!(cps, ["a/c/"]);

    // A prefix that ends inside a folder name.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("a/c")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["a/c/d", "a/c/e"]);

    // A prefix that matches nothing.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("nothing/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty() && out.common_prefixes().is_empty());
    assert_eq!(out.key_count(), Some(0));
    assert_eq!(out.is_truncated(), Some(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_delimiters() {
    let s = setup(KEYS).await;
    for (prefix, delimiter) in [
        ("", "-"),
        ("a", "-"),
        ("", "ab"),
        ("c", "ab"),
        ("", "b"),
        ("a", "/c/"),
        ("", "é"),
    ] {
        let out = s
            .client
            .list_objects_v2()
            .bucket("bkt")
            .prefix(prefix)
            .delimiter(delimiter)
            .send()
            .await
            .unwrap();
        let keys: Vec<String> = keys_of(out.contents());
        let cps: Vec<String> = prefixes_of(out.common_prefixes());
        assert_eq!(
            page_entries(keys, cps),
            model(KEYS, prefix, Some(delimiter), None),
            "prefix={prefix:?} delimiter={delimiter:?}"
        );
    }
    // Spot-check the model itself on one case.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("ab")
        .send()
        .await
        .unwrap();
    let cps: Vec<_> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(cps, ["ab", "c ab", "cab"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_pagination_across_common_prefixes() {
    let s = setup(KEYS).await;
    for delimiter in [None, Some("/"), Some("-"), Some("ab")] {
        for prefix in ["", "a", "a/"] {
            let expected = model(KEYS, prefix, delimiter, None);
            for max_keys in [1, 2, 3, 7, 1000] {
                let got = page_v2(&s, prefix, delimiter, max_keys, None).await;
                assert_eq!(
                    got, expected,
                    "v2 prefix={prefix:?} delimiter={delimiter:?} max-keys={max_keys}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_pagination_with_markers() {
    let s = setup(KEYS).await;
    for delimiter in [None, Some("/"), Some("-")] {
        for prefix in ["", "a"] {
            let expected = model(KEYS, prefix, delimiter, None);
            for max_keys in [1, 2, 5, 1000] {
                let got = page_v1(&s, prefix, delimiter, max_keys).await;
                assert_eq!(
                    got, expected,
                    "v1 prefix={prefix:?} delimiter={delimiter:?} max-keys={max_keys}"
                );
            }
        }
    }
    // A marker between keys, one that is not a key, and one past the end.
    for marker in ["a.b", "a/c", "ab/x", "zzz"] {
        let out = s
            .client
            .list_objects()
            .bucket("bkt")
            .marker(marker)
            .send()
            .await
            .unwrap();
        let keys: Vec<String> = keys_of(out.contents());
        assert_eq!(
            page_entries(keys, vec![]),
            model(KEYS, "", None, Some(marker)),
            "marker={marker:?}"
        );
        // v1 always has owners.
        for o in out.contents() {
            assert!(o.owner().is_some(), "v1 entry without Owner");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_start_after() {
    let s = setup(KEYS).await;
    for start_after in ["a.b", "a/c", "a/c/d", "ab", "b-2", "zz", "~tilde", ""] {
        for max_keys in [2, 1000] {
            let after = (!start_after.is_empty()).then_some(start_after);
            let got = page_v2(&s, "", None, max_keys, after).await;
            assert_eq!(
                got,
                model(KEYS, "", None, after),
                "start-after={start_after:?} max-keys={max_keys}"
            );
        }
    }
    // With a delimiter, from a top-level key.
    let got = page_v2(&s, "", Some("/"), 3, Some("a0")).await;
    assert_eq!(got, model(KEYS, "", Some("/"), Some("a0")));
    // StartAfter is echoed.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .start_after("b")
        .send()
        .await
        .unwrap();
    assert_eq!(out.start_after(), Some("b"));
    assert_eq!(out.contents().first().and_then(|o| o.key()), Some("b-1/x"));
}

#[tokio::test(flavor = "multi_thread")]
async fn max_keys_zero_returns_nothing() {
    let s = setup(&["a", "b/c"]).await;
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert!(out.common_prefixes().is_empty());
    assert_eq!(out.key_count(), Some(0));
    // Keys remain, but a page of none asked for is not truncated (as S3 answers).
    assert_eq!(out.is_truncated(), Some(false));

    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert!(out.common_prefixes().is_empty());
    assert_eq!(out.key_count(), Some(0));

    let out = s
        .client
        .list_objects()
        .bucket("bkt")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert!(out.common_prefixes().is_empty());
    assert_eq!(out.is_truncated(), Some(false));

    // Nothing beyond: not truncated.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .start_after("zzz")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));
    assert_eq!(out.is_truncated(), Some(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn max_keys_above_1000_clamps() {
    let keys: Vec<String> = (0..1003).map(|i| format!("k{i:04}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let s = setup(&refs).await;

    for max in [None, Some(1001), Some(5000), Some(i32::MAX)] {
        let out = s
            .client
            .list_objects_v2()
            .bucket("bkt")
            .set_max_keys(max)
            .send()
            .await
            .unwrap();
        assert_eq!(out.contents().len(), 1000, "max-keys={max:?}");
        assert_eq!(out.key_count(), Some(1000));
        assert_eq!(out.is_truncated(), Some(true));
        assert_eq!(out.contents().last().unwrap().key(), Some("k0999"));
        let rest = s
            .client
            .list_objects_v2()
            .bucket("bkt")
            .set_max_keys(max)
            .continuation_token(out.next_continuation_token().unwrap())
            .send()
            .await
            .unwrap();
        let tail: Vec<_> = rest.contents().iter().map(|o| o.key().unwrap()).collect();
        assert_eq!(tail, ["k1000", "k1001", "k1002"]);
        assert_eq!(rest.is_truncated(), Some(false));
    }

    let out = s
        .client
        .list_objects()
        .bucket("bkt")
        .max_keys(5000)
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents().len(), 1000);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(s.list_keys("bkt").await, keys);
}

#[tokio::test(flavor = "multi_thread")]
async fn encoding_type_url() {
    let keys = [
        "dir one/a+b.txt",
        "dir one/c d.txt",
        "plain.txt",
        "pct%41.txt",
        "ünï/cödé",
        "amp&lt<.txt",
        "ctl\u{1}char",
    ];
    let s = setup(&keys).await;
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort();

    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let raw: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    for k in &raw {
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'&'),
            "not URL-encoded: {k:?}"
        );
    }
    let decoded: Vec<String> = raw.iter().map(|k| unquote_plus(k)).collect();
    assert_eq!(decoded, expected);

    // Common prefixes (and the echoed delimiter and prefix) are encoded too.
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let cps: Vec<String> = prefixes_of(out.common_prefixes());
    assert!(
        cps.iter().all(|p| !p.contains(' ') && p.is_ascii()),
        "{cps:?}"
    );
    let cps: Vec<String> = cps.iter().map(|p| unquote_plus(p)).collect();
    assert_eq!(cps, ["dir one/", "ünï/"]);

    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .prefix("dir one/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = out
        .contents()
        .iter()
        .map(|o| unquote_plus(o.key().unwrap()))
        .collect();
    assert_eq!(keys, ["dir one/a+b.txt", "dir one/c d.txt"]);
    assert_eq!(out.prefix().map(unquote_plus).as_deref(), Some("dir one/"));

    // v1 as well.
    let out = s
        .client
        .list_objects()
        .bucket("bkt")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let decoded: Vec<String> = out
        .contents()
        .iter()
        .map(|o| unquote_plus(o.key().unwrap()))
        .collect();
    assert_eq!(decoded, expected);

    // The prefix echoed at the top is encoded in v2 and left as sent in v1, as S3 does (and as
    // clients decode it: boto3 would hand back `%0A` for a v1 prefix `\n` otherwise).
    for (query, echoed) in [
        (
            "list-type=2&prefix=dir%20one%2F&encoding-type=url",
            "dir%20one/",
        ),
        ("prefix=dir%20one%2F&encoding-type=url", "dir one/"),
    ] {
        let r = http()
            .get(s.url(&format!("/bkt?{query}")))
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        let prefix = xml_values(&body, "Prefix");
        assert_eq!(
            prefix.first().map(String::as_str),
            Some(echoed),
            "{query}: {body}"
        );
    }

    // Without encoding-type, the XML carries the keys as they are (escaped as XML).
    let r = http()
        .get(s.url("/bkt?list-type=2&prefix=amp"))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert_eq!(xml_values(&body, "Key"), ["amp&lt<.txt"], "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_owner() {
    let s = setup(&["one", "two/three"]).await;
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents().len(), 2);
    let owner_ids: Vec<_> = out
        .contents()
        .iter()
        .map(|o| o.owner().and_then(|w| w.id()).unwrap_or("").to_string())
        .collect();
    assert!(owner_ids.iter().all(|id| !id.is_empty()), "{owner_ids:?}");
    let buckets_owner = s.client.list_buckets().send().await.unwrap();
    if let Some(id) = buckets_owner.owner().and_then(|o| o.id()) {
        assert_eq!(owner_ids[0], id, "the same owner as ListBuckets");
    }

    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .fetch_owner(false)
        .send()
        .await
        .unwrap();
    assert!(out.contents().iter().all(|o| o.owner().is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_listing_request_as_clients_send_it() {
    // `GET /bucket/?list-type=2&delimiter=%2F&prefix=…`, with the slash after the bucket.
    let s = setup(&["docs/a b.txt", "docs/sub/c", "top"]).await;
    let r = http()
        .get(s.url("/bkt/?list-type=2&delimiter=%2F&prefix=docs%2F&encoding-type=url"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/xml"), "{ct}");
    let body = r.text().await.unwrap();
    let keys: Vec<String> = xml_values(&body, "Key")
        .iter()
        .map(|k| unquote_plus(k))
        .collect();
    assert_eq!(keys, ["docs/a b.txt"], "{body}");
    let cps: Vec<String> = xml_values(&body, "Prefix")
        .iter()
        .map(|k| unquote_plus(k))
        .filter(|p| p != "docs/")
        .collect();
    assert_eq!(cps, ["docs/sub/"], "{body}");
    assert_eq!(xml_value(&body, "KeyCount").as_deref(), Some("2"), "{body}");
    assert_eq!(
        xml_value(&body, "IsTruncated").as_deref(),
        Some("false"),
        "{body}"
    );
    assert_eq!(xml_value(&body, "Name").as_deref(), Some("bkt"), "{body}");

    // Query values with %20 and a plus sign.
    let r = http()
        .get(s.url("/bkt?list-type=2&prefix=docs%2Fa%20b"))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert_eq!(xml_values(&body, "Key"), ["docs/a b.txt"], "{body}");
}
