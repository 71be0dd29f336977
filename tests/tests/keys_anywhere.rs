//! Every S3 key works: keys a file tree cannot hold as plain files (`a` beside `a/b`, content
//! under `x/`, `a//b`, dot segments, a leading `/`, a segment over 255 bytes) are kept in the
//! store of keys, named by ids, and served like any other; the plain files hold every key that
//! fits.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedPart, Tag, Tagging};

use std::path::PathBuf;

use crate::common::*;

/// Where a scenario's server is seen as plain files: its served folder is `served` in `outer`
/// (so that a test can see that nothing lands beside it).
pub(crate) struct Served {
    pub(crate) outer: PathBuf,
    /// The write cache's files, when the server caches writes: they are on their way to the
    /// same places in `served`.
    cache: Option<PathBuf>,
}

impl Served {
    /// How `s`'s files are seen from `outer`.
    pub(crate) fn of(s: &TestServer, outer: PathBuf) -> Served {
        let cache = s
            .config
            .vfs
            .cache_mode
            .caches_writes()
            .then(|| s.config.index_dir().join("writeback/data"));
        Served { outer, cache }
    }

    /// The served folder: the buckets, and the server's own `.s3gate`; once the write cache,
    /// if any, has uploaded all it held, so that every object is where it is to stay.
    async fn root(&self) -> PathBuf {
        if let Some(cache) = &self.cache {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while !files_under(cache).is_empty()
                || !files_under(&cache.join(".s3gate/keys")).is_empty()
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the write cache still holds {:?} {:?}",
                    files_under(cache),
                    files_under(&cache.join(".s3gate/keys"))
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        self.outer.join("served")
    }
}

/// The files kept in the store of keys.
async fn store_files(files: &Served) -> Vec<String> {
    files_under(&files.root().await.join(".s3gate/keys"))
}

/// Runs every scenario of this module on a server of `$start` (a future of a [`TestServer`]
/// serving a folder `served`, and whatever it stands on, kept until the scenario ends), whose
/// files are seen in the folder `$outer` answers (the one holding `served`). Each test carries
/// the attribute given (a doc line, or an `ignore` for a test that needs a program).
macro_rules! every_keys_scenario {
    (#[$m:meta] $start:expr, $outer:expr) => {
        $crate::keys_anywhere::every_keys_scenario!(without_versions #[$m] $start, $outer);
        $crate::keys_anywhere::every_keys_scenario!(
            @each #[$m] $start, $outer, [stored_keys_keep_their_versions]
        );
    };
    // The scenarios that need no versions.
    (without_versions #[$m:meta] $start:expr, $outer:expr) => {
        $crate::keys_anywhere::every_keys_scenario!(
            @each #[$m] $start, $outer,
            [
                a_key_and_a_folder_of_its_name_hold_objects_in_either_order,
                content_under_a_key_ending_in_a_slash,
                keys_no_file_tree_can_hold_are_kept_and_never_escape,
                stored_keys_are_overwritten_copied_tagged_and_assembled,
                the_admin_command_lists_the_stored_keys,
                concurrent_first_writes_of_a_stored_key_share_one_place,
                first_writes_of_a_key_and_one_below_it_at_once_both_land,
            ]
        );
    };
    (@each #[$m:meta] $start:expr, $outer:expr, [$($name:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[$m]
        async fn $name() {
            let (s, keep) = $start.await;
            let outer = ($outer)(&s, &keep);
            let files = $crate::keys_anywhere::Served::of(&s, outer);
            $crate::keys_anywhere::$name(s, &files).await;
        }
    )*};
}
pub(crate) use every_keys_scenario;

/// On a local directory: the server's folder `served` in its own.
mod local {
    use crate::common::TestServer;

    async fn start() -> (TestServer, ()) {
        let outer = tempfile::tempdir().unwrap();
        let s = TestServer::start_in(outer, |c| c.remote.path = c.remote.path.join("served")).await;
        (s, ())
    }

    every_keys_scenario!(
        #[doc = "On a local directory."]
        start(),
        |s: &TestServer, _: &()| s.root().to_path_buf()
    );
}

/// On a local directory through the write cache (`writes`, and `full`, which caches reads
/// too): each key waits at its place (its path, or its place in the store of keys) in the
/// cache folder, is read from there, and is uploaded to the same place; a version it replaces
/// is uploaded first and kept on the remote.
mod write_cache {
    use std::time::Duration;

    use s3gate_config::CacheMode;

    use crate::common::TestServer;

    async fn start(mode: CacheMode) -> (TestServer, ()) {
        let outer = tempfile::tempdir().unwrap();
        let s = TestServer::start_in(outer, |c| {
            c.remote.path = c.remote.path.join("served");
            c.vfs.cache_mode = mode;
            // Long enough for the reads right after a write to find it in the cache.
            c.vfs.write_back = Duration::from_millis(300);
        })
        .await;
        (s, ())
    }

    mod writes {
        use super::*;

        crate::keys_anywhere::every_keys_scenario!(
            #[doc = "On a local directory, through the write cache."]
            start(CacheMode::Writes),
            |s: &TestServer, _: &()| s.root().to_path_buf()
        );
    }

    mod full {
        use super::*;

        crate::keys_anywhere::every_keys_scenario!(
            #[doc = "On a local directory, through the write and read caches."]
            start(CacheMode::Full),
            |s: &TestServer, _: &()| s.root().to_path_buf()
        );
    }
}

/// One page of ListObjectsV2: keys and common prefixes.
async fn listed(
    s: &TestServer,
    prefix: Option<&str>,
    delimiter: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let out = s
        .client
        .list_objects_v2()
        .bucket("bkt")
        .set_prefix(prefix.map(String::from))
        .set_delimiter(delimiter.map(String::from))
        .send()
        .await
        .unwrap_or_else(|e| panic!("list: {}", describe(&e)));
    (keys_of(out.contents()), prefixes_of(out.common_prefixes()))
}

/// A request path naming `key` byte for byte (`/` and dots percent-encoded, so that nothing
/// between client and handler normalises them).
fn raw_path(key: &str) -> String {
    let encoded: String = key
        .bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect();
    format!("/bkt/{encoded}")
}

async fn delete_version(s: &TestServer, key: &str, version: &str) {
    s.client
        .delete_object()
        .bucket("bkt")
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete {key}@{version}: {}", describe(&e)));
}

pub(crate) async fn a_key_and_a_folder_of_its_name_hold_objects_in_either_order(
    mut s: TestServer,
    files: &Served,
) {
    s.create_bucket("bkt").await;
    // The folder first, then the key; the key first, then keys below it.
    s.put("bkt", "a/b", "child").await;
    s.put("bkt", "a", "parent").await;
    s.put("bkt", "x", "file").await;
    s.put("bkt", "x/y", "under").await;
    s.put("bkt", "x/y/z", "deeper").await;
    let all = ["a", "a/b", "x", "x/y", "x/y/z"];
    let bodies = ["parent", "child", "file", "under", "deeper"];
    for (key, body) in all.iter().zip(bodies) {
        assert_eq!(s.get("bkt", key).await, body.as_bytes(), "{key}");
    }
    // The plain files hold what fits; the rest is in the store, named by ids.
    assert_eq!(files_under(&files.root().await.join("bkt")), ["a/b", "x"]);
    assert_eq!(store_files(files).await.len(), 3);
    for f in store_files(files).await {
        assert!(!f.contains("parent") && !f.ends_with("/a"), "{f}");
    }

    assert_eq!(listed(&s, None, None).await.0, all);
    assert_eq!(
        listed(&s, None, Some("/")).await,
        (vec!["a".into(), "x".into()], vec!["a/".into(), "x/".into()])
    );
    assert_eq!(
        listed(&s, Some("x/"), Some("/")).await,
        (vec!["x/y".into()], vec!["x/y/".into()])
    );

    // Read like any object: HEAD, a range, conditions.
    let head = s.head("bkt", "a").await;
    assert_eq!(head.content_length(), Some(6));
    let etag = head.e_tag().unwrap().to_string();
    let out = s
        .client
        .get_object()
        .bucket("bkt")
        .key("a")
        .range("bytes=1-3")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(out).await, b"are");
    let r = s
        .client
        .get_object()
        .bucket("bkt")
        .key("a")
        .if_match("\"0000\"")
        .send()
        .await;
    expect_error(r, 412, "PreconditionFailed");
    let r = s
        .client
        .get_object()
        .bucket("bkt")
        .key("a")
        .if_none_match(&etag)
        .send()
        .await;
    expect_status(r, 304);

    // A restart keeps them: the rescan does not drop records whose file is in the store.
    s.restart().await;
    for (key, body) in all.iter().zip(bodies) {
        assert_eq!(
            s.get("bkt", key).await,
            body.as_bytes(),
            "{key} after a restart"
        );
    }
    assert_eq!(listed(&s, None, None).await.0, all);
    // Nor does it take the store for a bucket, or its files for objects.
    let buckets = s.client.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["bkt"]);
    assert_eq!(store_files(files).await.len(), 3);

    // Deleting the key leaves the folder's objects, and no file in the store.
    s.delete("bkt", "a").await;
    s.assert_no_such_key("bkt", "a").await;
    assert_eq!(s.get("bkt", "a/b").await, b"child");
    assert_eq!(store_files(files).await.len(), 2);
    s.delete("bkt", "x/y").await;
    s.delete("bkt", "x/y/z").await;
    assert!(store_files(files).await.is_empty());
    assert_eq!(listed(&s, None, None).await.0, ["a/b", "x"]);
}

pub(crate) async fn content_under_a_key_ending_in_a_slash(s: TestServer, files: &Served) {
    s.create_bucket("bkt").await;
    s.put("bkt", "x/", "folder content").await;
    assert_eq!(s.get("bkt", "x/").await, b"folder content");
    assert_eq!(s.head("bkt", "x/").await.content_length(), Some(14));
    // A key below it is a plain file all the same.
    s.put("bkt", "x/a", "child").await;
    assert_eq!(s.get("bkt", "x/a").await, b"child");
    assert_eq!(files_under(&files.root().await.join("bkt")), ["x/a"]);

    // Copies onto a `dir/` key: content goes to the store, an empty source stays a marker.
    s.copy("bkt", "y/", "bkt/x/").send().await.unwrap();
    assert_eq!(s.get("bkt", "y/").await, b"folder content");
    s.copy("bkt", "plain", "bkt/x/").send().await.unwrap();
    assert_eq!(s.get("bkt", "plain").await, b"folder content");
    s.put("bkt", "empty", "").await;
    s.copy("bkt", "z/", "bkt/empty").send().await.unwrap();
    assert!(files.root().await.join("bkt/z").is_dir());
    s.put("bkt", "e/", "").await;
    assert!(files.root().await.join("bkt/e").is_dir());
    assert_eq!(
        listed(&s, None, None).await.0,
        ["e/", "empty", "plain", "x/", "x/a", "y/", "z/"]
    );
    assert_eq!(store_files(files).await.len(), 2);

    // Overwritten with nothing, it stays where it lives and reads empty.
    s.put("bkt", "y/", "").await;
    assert_eq!(s.get("bkt", "y/").await, b"");
    s.delete("bkt", "x/").await;
    s.delete("bkt", "y/").await;
    s.assert_no_such_key("bkt", "x/").await;
    assert_eq!(s.get("bkt", "x/a").await, b"child");
    assert!(store_files(files).await.is_empty());
}

pub(crate) async fn keys_no_file_tree_can_hold_are_kept_and_never_escape(
    s: TestServer,
    files: &Served,
) {
    s.create_bucket("bkt").await;
    s.create_bucket("other").await;
    s.put("other", "victim", "untouched").await;
    let long = format!("dir/{}", "n".repeat(300));
    let mut keys = vec![
        "a//b",
        "./a",
        "a/../b",
        "/lead",
        "..",
        ".",
        "a/./b",
        "../other/victim",
        "a/../../escape",
        long.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = format!("body {i}");
        let path = raw_path(key);
        let put = raw_request(
            s.addr,
            &format!("PUT {path} HTTP/1.1\r\nContent-Length: {}\r\n", body.len()),
            body.as_bytes(),
        )
        .await;
        assert_eq!(put.status, 200, "PUT {key:?}: {}", put.text());
        let get = raw_request(s.addr, &format!("GET {path} HTTP/1.1\r\n"), b"").await;
        assert_eq!(get.status, 200, "GET {key:?}");
        assert_eq!(get.body, body.as_bytes(), "GET {key:?}");
        let head = raw_request(s.addr, &format!("HEAD {path} HTTP/1.1\r\n"), b"").await;
        assert_eq!(head.status, 200, "HEAD {key:?}");
    }
    // The SDK reaches the long one as any key.
    assert_eq!(s.get("bkt", &long).await, b"body 9");
    keys.sort();
    assert_eq!(s.list_keys("bkt").await, keys);
    assert_eq!(s.get("other", "victim").await, b"untouched");
    // Nothing in the bucket's folder, nothing outside the served folder.
    let served = files.root().await;
    assert!(files_under(&served.join("bkt")).is_empty());
    assert_eq!(files_under(&served), ["other/victim"]);
    let beside: Vec<_> = std::fs::read_dir(&files.outer)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["served"]);
    assert_eq!(files_under(&served.join(".s3gate/keys")).len(), keys.len());
    // Its folder holds no file, yet the bucket is not empty.
    let r = s.client.delete_bucket().bucket("bkt").send().await;
    expect_error(r, 409, "BucketNotEmpty");

    for key in &keys {
        let del = raw_request(
            s.addr,
            &format!("DELETE {} HTTP/1.1\r\n", raw_path(key)),
            b"",
        )
        .await;
        assert_eq!(del.status, 204, "DELETE {key:?}");
        let get = raw_request(s.addr, &format!("GET {} HTTP/1.1\r\n", raw_path(key)), b"").await;
        assert_eq!(get.status, 404, "GET {key:?} after its delete");
    }
    assert!(s.list_keys("bkt").await.is_empty());
    assert!(files_under(&served.join(".s3gate/keys")).is_empty());
    assert_eq!(s.get("other", "victim").await, b"untouched");
    // Emptied, it goes, and so do its folders in the store.
    s.client.delete_bucket().bucket("bkt").send().await.unwrap();
    assert!(!served.join(".s3gate/keys/bkt").exists());
}

pub(crate) async fn stored_keys_are_overwritten_copied_tagged_and_assembled(
    s: TestServer,
    files: &Served,
) {
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b", "child").await;
    s.put("bkt", "a", "one").await;
    s.put("bkt", "a", "two").await;
    assert_eq!(s.get("bkt", "a").await, b"two");
    assert_eq!(
        store_files(files).await.len(),
        1,
        "an overwrite stays in its place"
    );

    // Copies from a stored key, and onto one.
    s.copy("bkt", "c/d", "bkt/a").send().await.unwrap();
    assert_eq!(s.get("bkt", "c/d").await, b"two");
    s.copy("bkt", "a", "bkt/a/b").send().await.unwrap();
    assert_eq!(s.get("bkt", "a").await, b"child");
    assert_eq!(store_files(files).await.len(), 1);

    // Tags live in its record.
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("k").value("v").build().unwrap())
        .build()
        .unwrap();
    s.client
        .put_object_tagging()
        .bucket("bkt")
        .key("a")
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let tags = s
        .client
        .get_object_tagging()
        .bucket("bkt")
        .key("a")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "v");

    // UploadPartCopy reads a stored key as its source.
    let id = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("c/part-copy")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let part = s
        .client
        .upload_part_copy()
        .bucket("bkt")
        .key("c/part-copy")
        .upload_id(&id)
        .part_number(1)
        .copy_source("bkt/a")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let etag = part
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    complete_upload(
        &s.client,
        "bkt",
        "c/part-copy",
        &id,
        numbered_parts(&[etag]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(s.get("bkt", "c/part-copy").await, b"child");

    // Multipart uploads complete onto stored keys: one that is there, one that is new.
    let long = format!("m/{}", "n".repeat(300));
    let big: Vec<u8> = (0..5 << 20).map(|i: u32| i as u8).collect();
    for key in ["a", long.as_str()] {
        let id = s
            .client
            .create_multipart_upload()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let mut parts = Vec::new();
        for (n, data) in [(1, big.clone()), (2, b"tail".to_vec())] {
            let out = s
                .client
                .upload_part()
                .bucket("bkt")
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(data))
                .send()
                .await
                .unwrap();
            parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(out.e_tag().unwrap())
                    .build(),
            );
        }
        complete_upload(&s.client, "bkt", key, &id, parts)
            .send()
            .await
            .unwrap_or_else(|e| panic!("complete {key}: {}", describe(&e)));
        let got = s.get("bkt", key).await;
        assert_eq!(got.len(), big.len() + 4, "{key}");
        assert!(got.ends_with(b"tail"));
    }
    assert_eq!(store_files(files).await.len(), 2);
    assert_eq!(
        files_under(&files.root().await.join("bkt")),
        ["a/b", "c/d", "c/part-copy"]
    );
    assert_eq!(
        s.list_keys("bkt").await,
        ["a", "a/b", "c/d", "c/part-copy", long.as_str()]
    );
}

pub(crate) async fn stored_keys_keep_their_versions(mut s: TestServer, files: &Served) {
    s.create_bucket("bkt").await;
    enable_versioning(&s.client, "bkt").await;
    s.put("bkt", "a/b", "child").await;
    let long = format!("d/{}", "n".repeat(300));
    let mut ids = Vec::new();
    for key in ["a", long.as_str()] {
        let one = put_versioned(&s, key, "one").await;
        let two = put_versioned(&s, key, "two").await;
        assert_eq!(s.get("bkt", key).await, b"two");
        assert_eq!(get_version(&s, key, &one).await, b"one");
        ids.push((key, one, two));
    }
    let out = s
        .client
        .list_object_versions()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let versions: Vec<_> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [
            ("a", true),
            ("a", false),
            ("a/b", true),
            (long.as_str(), true),
            (long.as_str(), false)
        ]
    );

    for (key, one, two) in &ids {
        // A delete adds a marker; removing it brings the newest version back.
        let marker = s.delete("bkt", key).await;
        assert_eq!(marker.delete_marker(), Some(true));
        s.assert_no_such_key("bkt", key).await;
        delete_version(&s, key, marker.version_id().unwrap()).await;
        assert_eq!(s.get("bkt", key).await, b"two");
        // Removing the current version for good brings the one before back.
        delete_version(&s, key, two).await;
        assert_eq!(s.get("bkt", key).await, b"one");
        assert_eq!(get_version(&s, key, one).await, b"one");
    }
    s.restart().await;
    for (key, one, _) in &ids {
        assert_eq!(s.get("bkt", key).await, b"one", "{key} after a restart");
        assert_eq!(get_version(&s, key, one).await, b"one");
    }
    assert_eq!(files_under(&files.root().await.join("bkt")), ["a/b"]);
    assert_eq!(store_files(files).await.len(), 2);
}

pub(crate) async fn the_admin_command_lists_the_stored_keys(mut s: TestServer, files: &Served) {
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b", "child").await;
    s.put("bkt", "a", "parent").await;
    s.put("bkt", "x/", "content").await;
    assert_eq!(store_files(files).await.len(), 2);
    s.stop_server().await;
    let text = s3gate::index_keys(s.config.clone()).await.unwrap();
    assert_eq!(
        text, "bkt\ta\t6\nbkt\tx/\t7\n2 keys kept in the store\n",
        "{text}"
    );
    s.start_again().await;
    assert_eq!(s.get("bkt", "a").await, b"parent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_store_holds_a_beside_a_b_and_says_why_it_refuses_the_rest() {
    let s = crate::remotes::front(crate::remotes::remote_def("memory", &[])).await;
    s.create_bucket("bkt").await;
    // Folders are prefixes there: both are objects of their own.
    s.put("bkt", "a/b", "child").await;
    s.put("bkt", "a", "parent").await;
    assert_eq!(s.get("bkt", "a").await, b"parent");
    assert_eq!(s.get("bkt", "a/b").await, b"child");
    assert_eq!(s.list_keys("bkt").await, ["a", "a/b"]);
    // A key no path can name has no store of keys there.
    for key in ["a//b", "x/../y"] {
        let r = raw_request(
            s.addr,
            &format!("PUT {} HTTP/1.1\r\nContent-Length: 4\r\n", raw_path(key)),
            b"evil",
        )
        .await;
        assert_eq!(r.status, 400, "{key}: {}", r.text());
        assert_eq!(
            xml_value(&r.text(), "Code").as_deref(),
            Some("InvalidArgument")
        );
        let message = xml_value(&r.text(), "Message").unwrap_or_default();
        assert!(message.contains("not on an object store"), "{message}");
    }
    assert_eq!(s.list_keys("bkt").await, ["a", "a/b"]);
}

pub(crate) async fn concurrent_first_writes_of_a_stored_key_share_one_place(
    s: TestServer,
    files: &Served,
) {
    s.create_bucket("bkt").await;
    s.put("bkt", "a/b", "child").await;
    // Each writer is given a fresh place before it takes the key's lock; all land on one.
    let writes = (0..8).map(|i| {
        s.client
            .put_object()
            .bucket("bkt")
            .key("a")
            .body(ByteStream::from(format!("writer {i}").into_bytes()))
            .send()
    });
    for r in futures_util::future::join_all(writes).await {
        r.unwrap_or_else(|e| panic!("{}", describe(&e)));
    }
    let got = String::from_utf8(s.get("bkt", "a").await).unwrap();
    assert!(got.starts_with("writer "), "{got}");
    assert_eq!(store_files(files).await.len(), 1, "one file for one key");
    assert_eq!(s.list_keys("bkt").await, ["a", "a/b"]);
}

/// First writes of `a` and `a/b` at once, nothing at either: each finds nothing in the way,
/// yet a file tree cannot hold both, so one of them is kept in the store of keys, whichever
/// comes first; neither fails nor is lost.
pub(crate) async fn first_writes_of_a_key_and_one_below_it_at_once_both_land(
    s: TestServer,
    files: &Served,
) {
    s.create_bucket("bkt").await;
    const ROUNDS: usize = 40;
    let put = |key: String| {
        s.client
            .put_object()
            .bucket("bkt")
            .key(&key)
            .body(ByteStream::from(key.clone().into_bytes()))
            .send()
    };
    for round in 0..ROUNDS {
        let (parent, child) = (format!("r{round}"), format!("r{round}/b"));
        // The child first in half the rounds: either may reach the file tree first.
        let (one, two) = match round % 2 {
            0 => tokio::join!(put(parent), put(child)),
            _ => tokio::join!(put(child), put(parent)),
        };
        for r in [one, two] {
            r.unwrap_or_else(|e| panic!("round {round}: {}", describe(&e)));
        }
    }
    let mut keys = Vec::new();
    for round in 0..ROUNDS {
        for key in [format!("r{round}"), format!("r{round}/b")] {
            assert_eq!(s.get("bkt", &key).await, key.as_bytes(), "{key}");
            keys.push(key);
        }
    }
    keys.sort();
    assert_eq!(s.list_keys("bkt").await, keys);
    assert_eq!(
        store_files(files).await.len(),
        ROUNDS,
        "one of each pair stored"
    );
}
