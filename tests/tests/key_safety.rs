//! Key safety under generated hostile keys: dot segments (plain and percent-encoded), literal
//! percent signs, backslashes, NUL, invalid UTF-8, Unicode normalisation variants, reserved
//! names and very long keys, sent byte for byte over raw HTTP through PUT, GET, HEAD, CopyObject,
//! CreateMultipartUpload and DELETE. Whatever the key: never a 5xx, nothing outside the bucket's
//! folder (or the store of keys, for a key no file tree can hold), and every accepted key reads
//! back its own bytes (no two keys alias one file). The suite runs twice: unsigned on a server
//! without keys, and signed by a user with a root of its own, whose keys must stay in that root
//! (neither the served directory nor another user's root, each holding a bucket of the same
//! name, is touched).

use std::collections::BTreeMap;

use crate::common::*;

/// Pieces keys are made of, as raw bytes.
const PIECES: &[&[u8]] = &[
    b"a",
    b"B",
    b".",
    b"..",
    b"/",
    b"//",
    b"\\",
    b"%",
    b"%2e",
    b"%2E%2E",
    b"%2F",
    b" ",
    b"+",
    b"~",
    b"\0",
    b"\xff",
    b"\xc3",
    "é".as_bytes(),
    "e\u{301}".as_bytes(),
    "\u{202e}".as_bytes(),
    "\u{fffe}".as_bytes(),
    b".s3gate",
    b"tmp",
    b"bkt",
    b"other",
    b"?x=1",
    b"#",
    b"\r",
];

/// A small deterministic generator, so that a failure names a reproducible key.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn key(&mut self) -> Vec<u8> {
        let mut k = Vec::new();
        for _ in 0..1 + self.below(8) {
            k.extend_from_slice(PIECES[self.below(PIECES.len())]);
        }
        if self.below(40) == 0 {
            k.extend(std::iter::repeat_n(b'x', 200 + self.below(1000)));
        }
        k
    }
}

/// Every byte but unreserved ones percent-encoded: the server sees exactly these bytes.
fn encode(key: &[u8]) -> String {
    key.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn no_server_error(what: &str, key: &[u8], r: &RawResponse) {
    assert!(
        r.status < 500,
        "{what} of {:?} answered {}: {}",
        String::from_utf8_lossy(key),
        r.status,
        r.text()
    );
}

/// Who the suite's requests come from: no one (unsigned, on a server without keys), or the
/// holder of a key, who signs each.
#[derive(Clone, Copy)]
struct Sender<'a> {
    addr: std::net::SocketAddr,
    key: Option<(&'a str, &'a str)>,
}

impl Sender<'_> {
    async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        raw_signed(self.addr, self.key, method, target, headers, body).await
    }
}

/// The suite: generated hostile keys through every operation that names one, in the buckets
/// `bkt` and `other` (made here, `other` holding a victim) of the world `from` is served,
/// whose folder is `root`. Whatever the key: never a 5xx, every accepted key reads back its
/// own bytes, and the files under `root` are the accepted keys (plain, in their bucket's
/// folder) or kept in `root`'s store of keys. What lies outside `root` is the caller's to check.
async fn hostile_keys_stay_in_their_bucket_and_never_alias(
    from: Sender<'_>,
    root: &std::path::Path,
) {
    for bucket in ["bkt", "other"] {
        assert_eq!(
            from.send("PUT", &format!("/{bucket}"), &[], b"")
                .await
                .status,
            200
        );
    }
    assert_eq!(
        from.send("PUT", "/other/victim", &[], b"untouched")
            .await
            .status,
        200
    );
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    // Accepted keys and the bytes each holds.
    let mut stored: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let (mut tried, mut refused) = (0, 0);
    for i in 0..1500 {
        let key = rng.key();
        let path = format!("/bkt/{}", encode(&key));
        let body = format!("object {i}").into_bytes();
        tried += 1;
        let put = from.send("PUT", &path, &[], &body).await;
        no_server_error("PUT", &key, &put);
        if put.status == 200 {
            stored.insert(key.clone(), body);
        } else {
            refused += 1;
            assert!(
                put.text().contains("<Code>"),
                "a refusal without an S3 error: {}",
                put.text()
            );
        }
        let get = from.send("GET", &path, &[], b"").await;
        no_server_error("GET", &key, &get);
        match stored.get(&key) {
            Some(want) => assert_eq!(&get.body, want, "GET {:?}", String::from_utf8_lossy(&key)),
            None => assert!(get.status >= 400, "a refused key reads: {}", get.status),
        }
        let head = from.send("HEAD", &path, &[], b"").await;
        no_server_error("HEAD", &key, &head);
        // Copies with the hostile key as the source, then as the destination.
        let copy_to = format!("/bkt/copy-{i}");
        let copy = from
            .send("PUT", &copy_to, &[("x-amz-copy-source", &path)], b"")
            .await;
        no_server_error("CopyObject from", &key, &copy);
        if copy.status == 200 {
            let src = stored
                .get(&key)
                .cloned()
                .expect("copied from a key that was refused");
            stored.insert(format!("copy-{i}").into_bytes(), src);
        }
        if i % 5 == 0 {
            let to = format!("{path}-c");
            let copy = from
                .send("PUT", &to, &[("x-amz-copy-source", "/other/victim")], b"")
                .await;
            no_server_error("CopyObject to", &key, &copy);
            if copy.status == 200 {
                let mut k = key.clone();
                k.extend_from_slice(b"-c");
                stored.insert(k, b"untouched".to_vec());
            }
        }
        if i % 7 == 0 {
            let mp = from
                .send("POST", &format!("{path}?uploads"), &[], b"")
                .await;
            no_server_error("CreateMultipartUpload", &key, &mp);
            if let Some(id) = xml_value(&mp.text(), "UploadId") {
                let abort = from
                    .send("DELETE", &format!("{path}?uploadId={id}"), &[], b"")
                    .await;
                assert_eq!(abort.status, 204);
            }
        }
        if i % 3 == 0 {
            let del = from.send("DELETE", &path, &[], b"").await;
            no_server_error("DELETE", &key, &del);
            if stored.remove(&key).is_some() {
                assert_eq!(del.status, 204);
            }
        }
    }
    // Every accepted key still reads its own bytes: no later write reached it through another name.
    for (key, want) in &stored {
        let get = from
            .send("GET", &format!("/bkt/{}", encode(key)), &[], b"")
            .await;
        assert_eq!(
            &get.body,
            want,
            "{:?} was overwritten through another key",
            String::from_utf8_lossy(key)
        );
    }
    // The plain files are accepted keys, all inside the bucket's folder; the keys no file tree
    // can hold are in the store of keys, one file each, named by ids.
    let mut want: Vec<String> = stored
        .keys()
        .map(|k| format!("bkt/{}", String::from_utf8(k.clone()).unwrap()))
        .collect();
    want.push("other/victim".into());
    want.sort();
    let plain = files_under(root);
    for f in &plain {
        assert!(want.binary_search(f).is_ok(), "{f:?} is no accepted key");
    }
    let kept = files_under(&root.join(".s3gate/keys")).len();
    assert_eq!(
        plain.len() - 1 + kept,
        stored.len(),
        "a key without its one file"
    );
    assert_eq!(
        from.send("GET", "/other/victim", &[], b"").await.body,
        b"untouched"
    );
    eprintln!(
        "key safety: {tried} generated keys, {refused} refused with an S3 error, {} stored and read back",
        stored.len()
    );
}

/// What a folder holds directly, sorted.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_hostile_keys_stay_in_their_bucket_and_never_alias() {
    // The served folder sits alone in a private folder, so that anything written beside it shows.
    let outer = tempfile::tempdir().unwrap();
    let s = TestServer::start_in(outer, |c| c.remote.path = c.remote.path.join("served")).await;
    let from = Sender {
        addr: s.addr,
        key: None,
    };
    hostile_keys_stay_in_their_bucket_and_never_alias(from, &s.root().join("served")).await;
    assert_eq!(
        entries(s.root()),
        ["served"],
        "something was created beside the served folder"
    );
}

/// The same suite, signed by a user served from a root of its own, on a server whose served
/// directory and another user's root both hold a bucket of the same name: no key reaches
/// outside the user's root, neither the served directory nor the other root.
#[tokio::test(flavor = "multi_thread")]
async fn generated_hostile_keys_of_a_user_with_a_root_stay_in_that_root() {
    let outer = tempfile::tempdir().unwrap();
    let (tenant, neighbour) = (outer.path().join("tenant"), outer.path().join("neighbour"));
    std::fs::create_dir_all(&tenant).unwrap();
    std::fs::create_dir_all(neighbour.join("bkt")).unwrap();
    std::fs::write(neighbour.join("bkt/victim"), b"neighbour's").unwrap();
    let users = outer.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\naccess_key = \"TENANT\"\nsecret_key = \"tenant-secret\"\nroot = {:?}\n\
             [[users]]\naccess_key = \"NEIGHBOUR\"\nsecret_key = \"neighbour-secret\"\nroot = {:?}\n",
            tenant.display().to_string(),
            neighbour.display().to_string()
        ),
    )
    .unwrap();
    let s = TestServer::start_in(outer, |c| {
        c.remote.path = c.remote.path.join("served");
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.auth.users_file = Some(users.clone());
    })
    .await;
    s.create_bucket("bkt").await;
    s.put("bkt", "admin's", b"served".to_vec()).await;
    let from = Sender {
        addr: s.addr,
        key: Some(("TENANT", "tenant-secret")),
    };
    hostile_keys_stay_in_their_bucket_and_never_alias(from, &tenant).await;
    let served = s.root().join("served");
    assert_eq!(files_under(&served), ["bkt/admin's"]);
    assert!(files_under(&served.join(".s3gate/keys")).is_empty());
    assert_eq!(files_under(&neighbour), ["bkt/victim"]);
    assert_eq!(
        std::fs::read(neighbour.join("bkt/victim")).unwrap(),
        b"neighbour's"
    );
    assert_eq!(
        entries(s.root()),
        ["neighbour", "served", "tenant", "users.toml"],
        "something was created beside the roots"
    );
    // The neighbour still reads its own bucket as it was.
    let neighbour_client = client_for(s.addr, "NEIGHBOUR", "neighbour-secret");
    assert_eq!(
        body_of(
            neighbour_client
                .get_object()
                .bucket("bkt")
                .key("victim")
                .send()
                .await
                .unwrap()
        )
        .await,
        b"neighbour's"
    );
}

/// What `path` is, without following a link: (link, FIFO, socket, regular file), or `None`.
fn kind(path: &std::path::Path) -> Option<(bool, bool, bool, bool)> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::symlink_metadata(path).ok()?.file_type();
    Some((t.is_symlink(), t.is_fifo(), t.is_socket(), t.is_file()))
}

/// Entries another program plants in a bucket. FIFOs, sockets and symbolic links are never
/// objects: not served, not followed out of the root, neither replaced by a PUT or a copy to
/// their key (refused with an S3 error) nor removed by a DELETE. A hard link to a file outside
/// is a file like any other, but a write to its key replaces the key's file and never writes
/// into the shared inode.
#[tokio::test(flavor = "multi_thread")]
async fn planted_fifos_sockets_and_links_are_never_objects_nor_written_through() {
    use crate::hostile::fs::{assert_absent, mkfifo, mksock};
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    std::fs::write(outside.path().join("shared"), b"shared").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bkt = dir.path().join("bkt");
    std::fs::create_dir_all(bkt.join("d")).unwrap();
    std::fs::write(bkt.join("src"), b"source").unwrap();
    mkfifo(&bkt.join("fifo"));
    mkfifo(&bkt.join("d/fifo"));
    mksock(&bkt.join("sock"));
    std::os::unix::fs::symlink(outside.path().join("secret"), bkt.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), bkt.join("dir-link")).unwrap();
    std::fs::hard_link(outside.path().join("shared"), bkt.join("hard")).unwrap();
    let s = TestServer::start_in(dir, |_| {}).await;
    let planted = ["fifo", "d/fifo", "sock", "link"];
    let kinds = || planted.map(|k| kind(&bkt.join(k)));
    let before = kinds();
    assert!(before.iter().all(Option::is_some));

    for key in planted.iter().chain(&["dir-link/secret"]) {
        assert_absent(&s, key).await;
    }
    assert_eq!(s.list_keys("bkt").await, ["hard", "src"]);
    for key in planted.iter().chain(&["dir-link/secret", "dir-link/new"]) {
        let put = s
            .client
            .put_object()
            .bucket("bkt")
            .key(*key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"written"))
            .send()
            .await;
        assert_eq!(
            status_and_code(&put.expect_err("a PUT over a planted entry")),
            (400, "InvalidArgument".into()),
            "PUT {key}"
        );
        let copy = s
            .client
            .copy_object()
            .copy_source("bkt/src")
            .bucket("bkt")
            .key(*key)
            .send()
            .await;
        assert_eq!(
            status_and_code(&copy.expect_err("a copy over a planted entry")),
            (400, "InvalidArgument".into()),
            "CopyObject to {key}"
        );
        s.client
            .delete_object()
            .bucket("bkt")
            .key(*key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {key}: {}", describe(&e)));
    }
    // A multipart upload completed onto a FIFO's key is refused the same way.
    let mp = s
        .client
        .create_multipart_upload()
        .bucket("bkt")
        .key("fifo")
        .send()
        .await
        .unwrap();
    let id = mp.upload_id().unwrap();
    let part = s
        .client
        .upload_part()
        .bucket("bkt")
        .key("fifo")
        .upload_id(id)
        .part_number(1)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = complete_upload(
        &s.client,
        "bkt",
        "fifo",
        id,
        numbered_parts(&[part.e_tag().unwrap()]),
    )
    .send()
    .await;
    assert_eq!(
        status_and_code(&done.expect_err("a completion over a FIFO")),
        (400, "InvalidArgument".into())
    );
    assert_eq!(kinds(), before, "a planted entry was replaced or removed");

    // The hard link is a file; writes to its key replace that name only.
    assert_eq!(s.get("bkt", "hard").await, b"shared");
    s.put("bkt", "hard", b"put over the link".to_vec()).await;
    assert_eq!(s.get("bkt", "hard").await, b"put over the link");
    std::fs::hard_link(outside.path().join("shared"), bkt.join("hard2")).unwrap();
    s.client
        .copy_object()
        .copy_source("bkt/src")
        .bucket("bkt")
        .key("hard2")
        .send()
        .await
        .unwrap();
    assert_eq!(s.get("bkt", "hard2").await, b"source");
    std::fs::hard_link(outside.path().join("shared"), bkt.join("hard3")).unwrap();
    s.delete("bkt", "hard3").await;
    assert_eq!(kind(&bkt.join("hard3")), None);

    // Nothing outside changed, and nothing was added there.
    assert_eq!(
        std::fs::read(outside.path().join("secret")).unwrap(),
        b"secret"
    );
    assert_eq!(
        std::fs::read(outside.path().join("shared")).unwrap(),
        b"shared"
    );
    let mut names: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["secret", "shared"]);
    assert_eq!(s.list_keys("bkt").await, ["hard", "hard2", "src"]);
}
