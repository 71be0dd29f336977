//! Model-based listing tests: random key sets (with byte-order traps: `-` and `!` sort before
//! `/`, `é` is two bytes) and random (prefix, delimiter, start-after, max-keys) requests, paged
//! to the end with ListObjectsV2 continuation tokens or ListObjects markers, compared with a
//! plain in-memory model of S3's semantics.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_s3::types::{CommonPrefix, Object};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common::*;

#[derive(Debug, Clone)]
struct Query {
    prefix: &'static str,
    delimiter: Option<&'static str>,
    start_after: Option<&'static str>,
    max_keys: i32,
    v1: bool,
}

/// Keys of 1 to 3 segments over a small alphabet, so that prefixes and delimiters collide often.
/// A key that is also a folder of another key cannot exist on a filesystem: such keys are dropped.
fn key_set() -> impl Strategy<Value = Vec<String>> {
    let segment = prop::collection::vec(prop::sample::select(vec!["a", "b", "-", "!", "é"]), 1..4)
        .prop_map(|cs| cs.concat());
    let key = prop::collection::vec(segment, 1..4).prop_map(|s| s.join("/"));
    prop::collection::btree_set(key, 1..30).prop_map(|set| {
        let all: Vec<String> = set.iter().cloned().collect();
        set.into_iter()
            .filter(|k| !all.iter().any(|o| o.starts_with(&format!("{k}/"))))
            .collect()
    })
}

fn query() -> impl Strategy<Value = Query> {
    (
        prop::sample::select(vec!["", "a", "a/", "b", "a-", "é", "a/b", "!", "b/é"]),
        prop::sample::select(vec![
            None,
            Some("/"),
            Some("-"),
            Some("a"),
            Some("b/"),
            Some("é"),
            Some("!!"),
        ]),
        prop::sample::select(vec![
            None,
            Some("a"),
            Some("a/"),
            Some("a/b"),
            Some("b-"),
            Some("é"),
            Some("!"),
        ]),
        1..5i32,
        any::<bool>(),
    )
        .prop_map(|(prefix, delimiter, start_after, max_keys, v1)| Query {
            prefix,
            delimiter,
            start_after,
            max_keys,
            v1,
        })
}

/// S3's answer, whole: keys and common prefixes after `start_after`, in byte order. A common
/// prefix counts where its first key would be, once, and only if it sorts after `start_after`.
fn model(keys: &BTreeSet<String>, q: &Query) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys.iter().filter(|k| k.starts_with(q.prefix)) {
        let rest = &k[q.prefix.len()..];
        let entry = match q.delimiter.and_then(|d| rest.find(d).map(|p| (p, d))) {
            Some((p, d)) => k[..q.prefix.len() + p + d.len()].to_string(),
            None => k.clone(),
        };
        if q.start_after.is_some_and(|a| entry.as_str() <= a) {
            continue;
        }
        if out.last() != Some(&entry) {
            out.push(entry);
        }
    }
    out
}

/// The keys and common prefixes of one page, in byte order.
fn entries(contents: &[Object], prefixes: &[CommonPrefix]) -> Vec<String> {
    let mut page: Vec<String> = contents
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .chain(
            prefixes
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        )
        .collect();
    page.sort();
    page
}

/// Pages through the server's answer; each page must hold at most max-keys entries.
async fn listed(s: &TestServer, bucket: &str, q: &Query) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..200 {
        let (mut page, truncated, next) = if q.v1 {
            let r = s
                .client
                .list_objects()
                .bucket(bucket)
                .prefix(q.prefix)
                .set_delimiter(q.delimiter.map(str::to_string))
                .set_marker(token.clone().or(q.start_after.map(str::to_string)))
                .max_keys(q.max_keys)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let page = entries(r.contents(), r.common_prefixes());
            // Without a delimiter S3 sends no NextMarker: the last key is the marker.
            let next = r
                .next_marker()
                .map(str::to_string)
                .or_else(|| page.last().cloned());
            (page, r.is_truncated() == Some(true), next)
        } else {
            let r = s
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(q.prefix)
                .set_delimiter(q.delimiter.map(str::to_string))
                .set_start_after(q.start_after.map(str::to_string))
                .set_continuation_token(token.clone())
                .max_keys(q.max_keys)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let page = entries(r.contents(), r.common_prefixes());
            (
                page,
                r.is_truncated() == Some(true),
                r.next_continuation_token().map(str::to_string),
            )
        };
        if page.len() > q.max_keys as usize {
            return Err(format!(
                "a page of {} entries for max-keys {}",
                page.len(),
                q.max_keys
            ));
        }
        out.append(&mut page);
        if !truncated {
            return Ok(out);
        }
        token = Some(next.ok_or("truncated without a way to go on")?);
    }
    Err("more than 200 pages".into())
}

#[test]
fn listings_match_the_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(TestServer::start());
    let cases = AtomicUsize::new(0);
    let queries = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 120,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(key_set(), prop::collection::vec(query(), 1..8)),
        |(keys, qs)| {
            let bucket = format!("model-{}", cases.fetch_add(1, Ordering::Relaxed));
            rt.block_on(async {
                s.create_bucket(&bucket).await;
                for k in &keys {
                    s.put(&bucket, k, k.as_bytes().to_vec()).await;
                }
                // Byte order, as S3 lists.
                let set: BTreeSet<String> = keys.iter().cloned().collect();
                for q in &qs {
                    queries.fetch_add(1, Ordering::Relaxed);
                    let want = model(&set, q);
                    let got = listed(&s, &bucket, q).await.map_err(TestCaseError::fail)?;
                    prop_assert_eq!(&got, &want, "keys {:?}, query {:?}", keys, q);
                }
                Ok(())
            })
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "listing model: {} key sets, {} requests paged to the end, all as the model says",
        cases.load(Ordering::Relaxed),
        queries.load(Ordering::Relaxed)
    );
}
