//! Tagging: object tag sets put, read (sorted by key) and deleted without changing the object;
//! tags from `x-amz-tagging` on PutObject, CopyObject (tagging directive COPY and REPLACE) and
//! multipart uploads; `x-amz-tagging-count` on HEAD and GET; every limit of S3 refused whole
//! with `InvalidTag`; bucket tag sets and `NoSuchTagSet`; tags kept across a restart and gone
//! with their object.

use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{MetadataDirective, TaggingDirective};

use s3gate_config::CacheMode;

use crate::common::*;

async fn object_tags(s: &TestServer, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = s
        .client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get tagging of {bucket}/{key}: {}", describe(&e)));
    pairs_of(out.tag_set())
}

async fn put_object_tags(s: &TestServer, key: &str, tags: &[(&str, &str)]) {
    s.client
        .put_object_tagging()
        .bucket("bkt")
        .key(key)
        .tagging(tagging(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put tagging of {key}: {}", describe(&e)));
}

async fn put_tagged(s: &TestServer, key: &str, header: &str, body: &'static [u8]) {
    s.client
        .put_object()
        .bucket("bkt")
        .key(key)
        .tagging(header)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key} tagged {header:?}: {}", describe(&e)));
}

async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("bkt").await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn object_tags_are_replaced_whole_without_changing_the_object() {
    let s = server().await;
    let etag = s.put("bkt", "obj", "content").await;
    let before = s.head("bkt", "obj").await;
    assert_eq!(object_tags(&s, "bkt", "obj").await, []);
    assert_eq!(before.tag_count(), None);

    put_object_tags(
        &s,
        "obj",
        &[("zeta", "last"), ("Alpha", ""), ("mid", "x y")],
    )
    .await;
    assert_eq!(
        object_tags(&s, "bkt", "obj").await,
        owned_pairs(&[("Alpha", ""), ("mid", "x y"), ("zeta", "last")]),
        "sorted by key"
    );
    let after = s.head("bkt", "obj").await;
    assert_eq!(after.e_tag(), Some(etag.as_str()));
    assert_eq!(after.last_modified(), before.last_modified());
    assert_eq!(after.tag_count(), Some(3));
    assert_eq!(s.get_object("bkt", "obj").await.tag_count(), Some(3));
    assert_eq!(s.get("bkt", "obj").await, b"content");

    put_object_tags(&s, "obj", &[("only", "one")]).await;
    assert_eq!(
        object_tags(&s, "bkt", "obj").await,
        owned_pairs(&[("only", "one")])
    );

    // versionId: `null` is the one version there is; any other is refused.
    let out = s
        .client
        .get_object_tagging()
        .bucket("bkt")
        .key("obj")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(pairs_of(out.tag_set()), owned_pairs(&[("only", "one")]));
    expect_error(
        s.client
            .put_object_tagging()
            .bucket("bkt")
            .key("obj")
            .version_id("3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")
            .tagging(tagging(&[("k", "v")]))
            .send()
            .await,
        400,
        "InvalidArgument",
    );

    let r = http()
        .delete(s.url("/bkt/obj?tagging"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(object_tags(&s, "bkt", "obj").await, []);
    let head = s.head("bkt", "obj").await;
    assert_eq!(head.tag_count(), None);
    assert_eq!(head.e_tag(), Some(etag.as_str()));

    expect_error(
        s.client
            .get_object_tagging()
            .bucket("bkt")
            .key("nope")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_error(
        s.client
            .put_object_tagging()
            .bucket("bkt")
            .key("nope")
            .tagging(tagging(&[("k", "v")]))
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_error(
        s.client
            .delete_object_tagging()
            .bucket("nobkt")
            .key("obj")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    s.assert_no_such_key("bkt", "nope").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn put_object_takes_its_tags_from_the_header() {
    let s = server().await;
    put_tagged(&s, "obj", "b=2&a%20key=x%2By&empty=", b"data").await;
    assert_eq!(
        object_tags(&s, "bkt", "obj").await,
        owned_pairs(&[("a key", "x+y"), ("b", "2"), ("empty", "")])
    );
    assert_eq!(s.head("bkt", "obj").await.tag_count(), Some(3));
    assert_eq!(s.get_object("bkt", "obj").await.tag_count(), Some(3));

    // An overwrite without tags leaves the new object untagged.
    s.put("bkt", "obj", "again").await;
    assert_eq!(object_tags(&s, "bkt", "obj").await, []);
    assert_eq!(s.head("bkt", "obj").await.tag_count(), None);

    // A delete takes the tags with it: the key written again has none.
    put_tagged(&s, "obj", "k=v", b"data").await;
    s.delete("bkt", "obj").await;
    expect_error(
        s.client
            .get_object_tagging()
            .bucket("bkt")
            .key("obj")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    s.put("bkt", "obj", "new").await;
    assert_eq!(object_tags(&s, "bkt", "obj").await, []);

    // A folder marker is an object: it takes tags too.
    put_tagged(&s, "dir/", "kind=folder", b"").await;
    assert_eq!(
        object_tags(&s, "bkt", "dir/").await,
        owned_pairs(&[("kind", "folder")])
    );
    put_object_tags(&s, "dir/", &[("kind", "changed")]).await;
    assert_eq!(s.head("bkt", "dir/").await.tag_count(), Some(1));
}

/// Velero sends `x-amz-tagging:` with nothing in it on every PUT.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_tagging_header_means_no_tags() {
    let s = server().await;
    let r = http()
        .put(s.url("/bkt/obj"))
        .header("x-amz-tagging", "")
        .body("content")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(object_tags(&s, "bkt", "obj").await, []);
    assert_eq!(s.get("bkt", "obj").await, b"content");
    // A header that is no query string is refused, and stores nothing.
    let r = http()
        .put(s.url("/bkt/dup"))
        .header("x-amz-tagging", "a=1&a=2")
        .body("content")
        .send()
        .await
        .unwrap();
    expect_s3_error(r, 400, "InvalidArgument").await;
    s.assert_no_such_key("bkt", "dup").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_follow_the_tagging_directive() {
    let s = server().await;
    put_tagged(&s, "src", "from=source&b=1", b"data").await;
    let source = owned_pairs(&[("b", "1"), ("from", "source")]);

    s.copy("bkt", "default", "bkt/src").send().await.unwrap();
    assert_eq!(object_tags(&s, "bkt", "default").await, source);

    s.copy("bkt", "copy", "bkt/src")
        .tagging_directive(TaggingDirective::Copy)
        .tagging("ignored=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(object_tags(&s, "bkt", "copy").await, source);

    s.copy("bkt", "replace", "bkt/src")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("new=tag")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&s, "bkt", "replace").await,
        owned_pairs(&[("new", "tag")])
    );

    s.copy("bkt", "none", "bkt/src")
        .tagging_directive(TaggingDirective::Replace)
        .send()
        .await
        .unwrap();
    assert_eq!(object_tags(&s, "bkt", "none").await, []);

    // New metadata, the source's tags.
    s.copy("bkt", "meta", "bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("m", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(object_tags(&s, "bkt", "meta").await, source);
    assert_eq!(s.user_meta("bkt", "meta", "m").await.as_deref(), Some("1"));

    // Onto itself, new metadata and new tags.
    s.copy("bkt", "src", "bkt/src")
        .metadata_directive(MetadataDirective::Replace)
        .tagging_directive(TaggingDirective::Replace)
        .tagging("self=replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&s, "bkt", "src").await,
        owned_pairs(&[("self", "replaced")])
    );

    let r = http()
        .put(s.url("/bkt/bad"))
        .header("x-amz-copy-source", "/bkt/src")
        .header("x-amz-tagging-directive", "MERGE")
        .send()
        .await
        .unwrap();
    expect_s3_error(r, 400, "InvalidArgument").await;
    s.assert_no_such_key("bkt", "bad").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_uploads_keep_their_tags_until_complete() {
    let s = server().await;
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .tagging("project=blue&stage=upload")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .unwrap();
    complete_upload(
        &s.client,
        "bkt",
        "big",
        &id,
        numbered_parts(&[part.e_tag().unwrap()]),
    )
    .send()
    .await
    .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(
        object_tags(&s, "bkt", "big").await,
        owned_pairs(&[("project", "blue"), ("stage", "upload")])
    );
    assert_eq!(s.head("bkt", "big").await.tag_count(), Some(2));

    expect_error(
        s.client
            .create_multipart_upload()
            .bucket("bkt")
            .key("bad")
            .tagging("aws:reserved=1")
            .send()
            .await,
        400,
        "InvalidTag",
    );
}

/// Every rule of S3's, through PutObjectTagging and through the header: refused with
/// `InvalidTag`, and the tags already there stay.
#[tokio::test(flavor = "multi_thread")]
async fn tag_sets_that_break_a_limit_are_refused_whole() {
    let s = server().await;
    s.put("bkt", "obj", "content").await;
    put_object_tags(&s, "obj", &[("keep", "me")]).await;
    let kept = owned_pairs(&[("keep", "me")]);

    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i:02}"), "v".into())).collect();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let bad: Vec<Vec<(&str, &str)>> = vec![
        eleven
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        vec![(long_key.as_str(), "v")],
        vec![("k", long_value.as_str())],
        vec![("star*", "v")],
        vec![("k", "question?")],
        vec![("k", "1"), ("k", "2")],
        vec![("aws:owner", "v")],
        vec![("", "v")],
    ];
    for set in &bad {
        let r = s
            .client
            .put_object_tagging()
            .bucket("bkt")
            .key("obj")
            .tagging(tagging(set))
            .send()
            .await;
        if let Err(e) = &r {
            assert!(
                e.message().is_some_and(|m| !m.is_empty()),
                "{set:?}: {}",
                describe(e)
            );
        }
        expect_error(r, 400, "InvalidTag");
        assert_eq!(object_tags(&s, "bkt", "obj").await, kept, "{set:?}");
    }

    // Ten tags, and the longest key and value, counted in characters (here two bytes each).
    let ten: Vec<(String, String)> = eleven[..10].to_vec();
    put_object_tags(
        &s,
        "obj",
        &ten.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(object_tags(&s, "bkt", "obj").await, ten);
    let key = "é".repeat(128);
    let value = "ü".repeat(256);
    put_object_tags(&s, "obj", &[(&key, &value), ("sp ace", "+-=._:/@")]).await;
    assert_eq!(
        object_tags(&s, "bkt", "obj").await,
        owned_pairs(&[("sp ace", "+-=._:/@"), (&key, &value)])
    );

    // The header's tags follow the same rules, and a refused PUT stores nothing.
    let header = (0..11)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    for h in [header.as_str(), "k=%2A", "aws%3Ak=v"] {
        expect_error(
            s.client
                .put_object()
                .bucket("bkt")
                .key("refused")
                .tagging(h)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            400,
            "InvalidTag",
        );
    }
    s.assert_no_such_key("bkt", "refused").await;

    // A document that is not a Tagging document.
    for body in [
        "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
        "<Tagging>",
        "<Other/>",
    ] {
        let r = http()
            .put(s.url("/bkt/obj?tagging"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        assert_eq!(
            xml_value(&r.text().await.unwrap(), "Code").as_deref(),
            Some("MalformedXML"),
            "{body}"
        );
    }
    assert_eq!(object_tags(&s, "bkt", "obj").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_tags_and_no_such_tag_set() {
    let s = server().await;
    expect_error(
        s.client.get_bucket_tagging().bucket("bkt").send().await,
        404,
        "NoSuchTagSet",
    );
    s.client
        .put_bucket_tagging()
        .bucket("bkt")
        .tagging(tagging(&[("team", "storage"), ("cost", "42")]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let out = s
        .client
        .get_bucket_tagging()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let set = owned_pairs(&[("cost", "42"), ("team", "storage")]);
    assert_eq!(pairs_of(out.tag_set()), set);

    // Fifty tags are allowed on a bucket; fifty-one are not, and the set stays.
    let keys: Vec<String> = (0..51).map(|i| format!("k{i:02}")).collect();
    let fifty_one: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    expect_error(
        s.client
            .put_bucket_tagging()
            .bucket("bkt")
            .tagging(tagging(&fifty_one))
            .send()
            .await,
        400,
        "InvalidTag",
    );
    let out = s
        .client
        .get_bucket_tagging()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(pairs_of(out.tag_set()), set);
    s.client
        .put_bucket_tagging()
        .bucket("bkt")
        .tagging(tagging(&fifty_one[..50]))
        .send()
        .await
        .unwrap();
    let out = s
        .client
        .get_bucket_tagging()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(out.tag_set().len(), 50);

    let r = http().delete(s.url("/bkt?tagging")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    expect_error(
        s.client.get_bucket_tagging().bucket("bkt").send().await,
        404,
        "NoSuchTagSet",
    );
    expect_error(
        s.client.get_bucket_tagging().bucket("nobkt").send().await,
        404,
        "NoSuchBucket",
    );
    // A bucket made again under a deleted one's name starts without its tags.
    s.create_bucket("again").await;
    s.client
        .put_bucket_tagging()
        .bucket("again")
        .tagging(tagging(&[("old", "bucket")]))
        .send()
        .await
        .unwrap();
    s.client
        .delete_bucket()
        .bucket("again")
        .send()
        .await
        .unwrap();
    s.create_bucket("again").await;
    expect_error(
        s.client.get_bucket_tagging().bucket("again").send().await,
        404,
        "NoSuchTagSet",
    );
    expect_error(
        s.client
            .put_bucket_tagging()
            .bucket("nobkt")
            .tagging(tagging(&[("k", "v")]))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_survive_a_restart() {
    let mut s = server().await;
    put_tagged(&s, "obj", "a=1", b"data").await;
    put_object_tags(&s, "obj", &[("b", "2"), ("a", "1")]).await;
    s.client
        .put_bucket_tagging()
        .bucket("bkt")
        .tagging(tagging(&[("env", "test")]))
        .send()
        .await
        .unwrap();
    s.restart().await;
    assert_eq!(
        object_tags(&s, "bkt", "obj").await,
        owned_pairs(&[("a", "1"), ("b", "2")])
    );
    assert_eq!(s.head("bkt", "obj").await.tag_count(), Some(2));
    let out = s
        .client
        .get_bucket_tagging()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(pairs_of(out.tag_set()), owned_pairs(&[("env", "test")]));
}

/// A tag change of an object still waiting in the write cache is a change of its record, which
/// the upload keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_set_while_an_object_waits_in_the_write_cache_outlive_its_upload() {
    let s = TestServer::start_with(|c| {
        c.vfs.cache_mode = CacheMode::Writes;
        c.vfs.write_back = Duration::from_millis(800);
    })
    .await;
    s.create_bucket("bkt").await;
    put_tagged(&s, "obj", "a=1", b"data").await;
    put_object_tags(&s, "obj", &[("b", "2")]).await;
    let path = s.path_of("bkt", "obj");
    assert!(!path.exists(), "uploaded before the delay");
    let cache = s.root().join(".s3gate/writeback/data");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(path.exists() && files_under(&cache).is_empty()) {
        assert!(Instant::now() < deadline, "the upload never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        object_tags(&s, "bkt", "obj").await,
        owned_pairs(&[("b", "2")])
    );
    assert_eq!(s.head("bkt", "obj").await.tag_count(), Some(1));
}
