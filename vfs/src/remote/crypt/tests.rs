//! Checked against what rclone itself wrote (rclone v1.75, `testdata/`): crypt remotes defined
//! in an rclone.conf over local folders, with password `vector password` and, unless the remote
//! is `nosalt`, password2 `vector salt`. `names.tsv` lists, per remote, a file's plain path and
//! the path rclone stored it at (among them names carrying rclone's version stamps, one of them
//! with a date that does not exist); `fN.bin` is rclone's encryption of N bytes of [`pattern`].

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use s3gate_config::{RemoteDef, RemoteOption};

use super::*;

/// `vector password` and `vector salt` obscured by `rclone obscure`.
const PASSWORD: &str = "ZtoEuitnbuJqNvUqMjlubfIasNmOIflpJl-YFQTBLA";
const PASSWORD2: &str = "V8hGm7Vvrqm3h1bfaBLdB8l8g2ugijv2MRJz";

const NAMES: &str = include_str!("testdata/names.tsv");
const FILES: &[(u64, &[u8])] = &[
    (0, include_bytes!("testdata/f0.bin")),
    (5, include_bytes!("testdata/f5.bin")),
    (65536, include_bytes!("testdata/f65536.bin")),
    (65537, include_bytes!("testdata/f65537.bin")),
    (140000, include_bytes!("testdata/f140000.bin")),
];

/// The content of the vector files: byte i is (7i + i/251) mod 256.
fn pattern(n: u64) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

/// scrypt is slow on purpose: each key set is derived once.
fn keys(salted: bool) -> &'static ([u8; 32], [u8; 32], [u8; 16]) {
    static SALTED: OnceLock<([u8; 32], [u8; 32], [u8; 16])> = OnceLock::new();
    static UNSALTED: OnceLock<([u8; 32], [u8; 32], [u8; 16])> = OnceLock::new();
    let (cell, salt) = match salted {
        true => (&SALTED, Some("vector salt")),
        false => (&UNSALTED, None),
    };
    cell.get_or_init(|| derive_keys("vector password", salt).unwrap())
}

fn def(options: &[(&str, &str)]) -> RemoteDef {
    RemoteDef {
        kind: "crypt".into(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), RemoteOption::Text(v.to_string())))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The name cipher of one of the rclone.conf's remotes.
fn name_cipher(remote: &str) -> NameCipher {
    let mut options = vec![("remote", "/x"), ("password", PASSWORD)];
    if remote != "nosalt" {
        options.push(("password2", PASSWORD2));
    }
    options.extend_from_slice(match remote {
        "std" | "nosalt" => &[][..],
        "b64" => &[("filename_encoding", "base64")],
        "b32k" => &[("filename_encoding", "base32768")],
        "obf" => &[("filename_encryption", "obfuscate")],
        "off" => &[("filename_encryption", "off")],
        "offnone" => &[("filename_encryption", "off"), ("suffix", "none")],
        "offsfx" => &[("filename_encryption", "off"), ("suffix", ".enc")],
        "nodir" => &[("directory_name_encryption", "false")],
        other => panic!("no remote {other} in the vectors"),
    });
    let opts = Options::parse(remote, &def(&options)).unwrap();
    assert_eq!(opts.password, "vector password");
    let (_, name_key, tweak) = keys(opts.salt.is_some());
    NameCipher::new(
        opts.mode,
        opts.dir_names,
        opts.encoding,
        opts.suffix,
        *name_key,
        *tweak,
    )
}

#[test]
fn names_encrypt_and_decrypt_as_rclone_does() {
    let mut ciphers = BTreeMap::new();
    let mut checked = 0;
    for line in NAMES.lines() {
        let mut cols = line.split('\t');
        let (remote, plain, stored) = (
            cols.next().unwrap(),
            cols.next().unwrap(),
            cols.next().unwrap(),
        );
        let c = ciphers.entry(remote).or_insert_with(|| name_cipher(remote));
        assert_eq!(c.file_path(plain).unwrap(), stored, "{remote}: {plain}");
        // Back, one listed name at a time: folders, then the file.
        let segments: Vec<&str> = stored.split('/').collect();
        let (file, dirs) = segments.split_last().unwrap();
        let mut back: Vec<String> = dirs.iter().map(|d| c.dir_name(d).unwrap()).collect();
        back.push(c.file_name(file).unwrap());
        assert_eq!(back.join("/"), plain, "{remote}: {stored}");
        // The folders' own stored paths, as a listing of the parent finds them.
        let plain_dir = plain.rsplit_once('/').unwrap().0;
        assert_eq!(
            c.dir_path(plain_dir).unwrap(),
            dirs.join("/"),
            "{remote}: {plain_dir}"
        );
        checked += 1;
    }
    assert_eq!(checked, 9 * 16);
}

#[test]
fn foreign_names_do_not_decrypt() {
    let std = name_cipher("std");
    for foreign in [
        "readme.txt",
        "0123456789abcdef",
        "a",
        "45qq3hjocmdp87agvak4ep3m5",
        ".s3gate",
    ] {
        assert_eq!(std.file_name(foreign), None, "{foreign}");
        assert_eq!(std.dir_name(foreign), None, "{foreign}");
    }
    let off = name_cipher("off");
    assert_eq!(off.file_name("readme.txt"), None);
    assert_eq!(off.file_name(".bin"), None);
    assert_eq!(off.dir_name("any folder").as_deref(), Some("any folder"));
    assert_eq!(name_cipher("obf").file_name("no-dot-here"), None);
    // Names past EME's 127 blocks cannot be encrypted; the filesystem could not hold them anyway.
    let long = "n".repeat(127 * 16);
    let e = std.file_path(&long).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG));
}

#[test]
fn obfuscation_round_trips_awkward_characters() {
    let obf = name_cipher("obf");
    for name in [
        "!!",
        "a!b",
        "\u{D7FF}x",
        "\u{FFFF}",
        "z9Z0 ÿ ā ぁ 😀",
        "-v2024-01-01-000000-000",
    ] {
        let stored = obf.file_path(name).unwrap();
        assert_eq!(obf.file_name(&stored).as_deref(), Some(name), "{stored}");
    }
    assert_eq!(obf.file_name("!.raw name").as_deref(), Some("raw name"));
}

fn data_cipher() -> DataCipher {
    DataCipher::new(&keys(true).0)
}

async fn collect(s: ByteStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut s = s;
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

fn chunked(data: &'static [u8], from: usize, chunk: usize) -> ByteStream {
    Box::pin(futures_util::stream::iter(
        data[from..]
            .chunks(chunk)
            .map(|c| Ok(Bytes::from_static(c)))
            .collect::<Vec<_>>(),
    ))
}

#[tokio::test]
async fn files_decrypt_as_rclone_wrote_them_whole_and_in_ranges() {
    for &(n, file) in FILES {
        assert_eq!(format::decrypted_size(file.len() as u64), Some(n));
        let nonce = Nonce::from_header(file).unwrap();
        let plain = pattern(n);
        let sealed = chunked(file, HEADER_LEN as usize, 1000);
        let got = collect(format::decrypt_stream(data_cipher(), sealed, nonce, 0, n)).await;
        assert_eq!(got.unwrap(), plain, "f{n}");
        // A range read opens only the blocks that hold it, starting at its first.
        for (offset, len) in [
            (0, 1),
            (1, 4),
            (65535, 2),
            (65536, 1),
            (70000, 70000),
            (n / 2, n),
        ] {
            if offset >= n {
                continue;
            }
            let len = len.min(n - offset);
            let first = offset / BLOCK_DATA;
            let from = (HEADER_LEN + first * BLOCK_LEN) as usize;
            let s = format::decrypt_stream(
                data_cipher(),
                chunked(file, from, 4096),
                nonce.plus(first),
                offset % BLOCK_DATA,
                len,
            );
            let want = &plain[offset as usize..(offset + len) as usize];
            assert_eq!(collect(s).await.unwrap(), want, "f{n} {offset}+{len}");
        }
    }
}

/// An upload that keeps what it is given.
#[derive(Default)]
struct Kept(Vec<u8>);

#[tokio::test]
async fn files_encrypt_byte_for_byte_as_rclone_does_with_the_same_nonce() {
    for &(n, file) in FILES {
        let nonce = Nonce::from_header(file).unwrap();
        let mut out = Kept::default();
        let mut next = nonce;
        out.0.extend_from_slice(&nonce.header());
        for block in pattern(n).chunks(BLOCK_DATA as usize) {
            out.0.extend_from_slice(&data_cipher().seal(&next, block));
            next.increment();
        }
        assert_eq!(out.0, file, "f{n}");
        assert_eq!(format::encrypted_size(n), file.len() as u64);
    }
}

#[tokio::test]
async fn tampered_or_foreign_content_fails() {
    let (_, file) = FILES[3];
    let mut bad = file.to_vec();
    bad[100] ^= 1;
    let bad: &'static [u8] = Box::leak(bad.into_boxed_slice());
    let nonce = Nonce::from_header(bad).unwrap();
    let s = format::decrypt_stream(data_cipher(), chunked(bad, 32, 9000), nonce, 0, 65537);
    let e = collect(s).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(Nonce::from_header(b"NOTCLONE012345678901234567890123").is_err());
    // Cut short: the stream ends before the length its size promised.
    let s = format::decrypt_stream(data_cipher(), chunked(file, 32, 9000), nonce, 0, 70000);
    assert!(collect(s).await.is_err());
}

/// The settings are read by the configuration's own check (where their refusals are tested),
/// and reach the ciphers as they were given.
#[test]
fn options_reach_the_ciphers_as_rclone_reads_them() {
    let ok = def(&[
        ("remote", "other:sub"),
        ("password", PASSWORD),
        ("filename_encryption", "OFF"),
        ("directory_name_encryption", "False"),
        ("filename_encoding", "Base64"),
        ("suffix", "enc"),
        ("description", "as rclone.conf may have it"),
    ]);
    let o = Options::parse("vault", &ok).unwrap();
    assert_eq!(
        (o.mode, o.dir_names, o.encoding),
        (Mode::Off, false, NameEncoding::Base64)
    );
    assert_eq!((o.suffix.as_str(), o.salt), (".enc", None));
    let mut d = ok.clone();
    d.options.insert(
        "filename_encryption".into(),
        RemoteOption::Text("strong".into()),
    );
    let e = Options::parse("vault", &d).err().unwrap().to_string();
    assert!(
        e.contains("\"vault\"") && e.contains("filename_encryption") && e.contains("\"strong\""),
        "{e}"
    );
}

#[test]
fn crypt_remotes_that_wrap_themselves_are_refused() {
    let mut config = s3gate_config::Config::default();
    let itself = def(&[("remote", "vault:sub"), ("password", PASSWORD)]);
    config.remotes.insert("vault".into(), itself.clone());
    let e = open(&config, "vault", &itself, "", 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("\"vault\"") && e.contains("itself"), "{e}");
    let (a, b) = (
        def(&[("remote", "b:"), ("password", PASSWORD)]),
        def(&[("remote", "a:x"), ("password", PASSWORD)]),
    );
    config.remotes.insert("a".into(), a.clone());
    config.remotes.insert("b".into(), b);
    let e = open(&config, "a", &a, "", 0).err().unwrap().to_string();
    assert!(e.contains("loop"), "{e}");
    let nowhere = def(&[("remote", "nowhere:x"), ("password", PASSWORD)]);
    let e = open(&config, "c", &nowhere, "", 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("\"c\"") && e.contains("nowhere"), "{e}");
}

/// A crypt remote over a local folder, serving `base` below the crypt root.
fn local_crypt(root: &std::path::Path, base: &str) -> Arc<dyn Remote> {
    let mut config = s3gate_config::Config::default();
    config.vfs.fsync = false;
    let d = def(&[
        ("remote", root.to_str().unwrap()),
        ("password", PASSWORD),
        ("password2", PASSWORD2),
    ]);
    config.remotes.insert("vault".into(), d.clone());
    open(&config, "vault", &d, base, 0).unwrap()
}

async fn put(r: &dyn Remote, path: &str, data: &[u8]) -> Fingerprint {
    let mut up = r.create(path).await.unwrap();
    for c in data.chunks(10_000) {
        up.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    let fp = up.finish(false).await.unwrap();
    assert_eq!(fp.size, data.len() as u64);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let s = seen.clone();
    let done = up
        .commit(
            path,
            false,
            Box::new(move |fp| *s.lock().unwrap() = Some(fp)),
        )
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(done));
    done
}

async fn read(r: &dyn Remote, path: &str, offset: u64, len: u64) -> Vec<u8> {
    let reader = r.open(path).await.unwrap().unwrap();
    assert_eq!(reader.known_md5(), None);
    collect(reader.stream(offset, len)).await.unwrap()
}

#[tokio::test]
async fn a_crypt_remote_over_a_folder_keeps_plain_names_and_bytes_out_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_crypt(dir.path(), "served/here");
    let data = pattern(200_000);
    assert!(r.mkdir("bucket").await.unwrap());
    let fp = put(&*r, "bucket/dir/file.bin", &data).await;
    put(&*r, "bucket/empty", b"").await;

    let e = r.stat("bucket/dir/file.bin").await.unwrap().unwrap();
    assert_eq!(
        (e.name.as_str(), e.is_dir, e.fingerprint),
        ("file.bin", false, fp)
    );
    assert!(r.stat("bucket/dir").await.unwrap().unwrap().is_dir);
    assert!(r.stat("bucket/none").await.unwrap().is_none());
    assert_eq!(read(&*r, "bucket/dir/file.bin", 0, 200_000).await, data);
    assert_eq!(
        read(&*r, "bucket/dir/file.bin", 131_000, 5_000).await,
        &data[131_000..136_000]
    );
    assert_eq!(
        read(&*r, "bucket/dir/file.bin", 199_999, 10).await,
        &data[199_999..]
    );
    assert_eq!(read(&*r, "bucket/empty", 0, 0).await, b"");
    // Clones of a reader share the nonce the first read saw: ranges further on still decrypt.
    let reader = r.open("bucket/dir/file.bin").await.unwrap().unwrap();
    let later = [reader.clone_box(), reader.clone_box()];
    assert_eq!(collect(reader.stream(0, 10)).await.unwrap(), &data[..10]);
    for (r, offset) in later.into_iter().zip([65_536, 150_000]) {
        let got = collect(r.stream(offset, 20_000)).await.unwrap();
        assert_eq!(got, &data[offset as usize..offset as usize + 20_000]);
    }

    let mut names: Vec<(String, bool)> = r
        .list_dir("bucket")
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.is_dir))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("dir".to_string(), true), ("empty".to_string(), false)]
    );
    assert_eq!(
        r.stat("bucket/empty")
            .await
            .unwrap()
            .unwrap()
            .fingerprint
            .size,
        0
    );

    // A concatenation of ranges is decrypted and sealed anew under its own nonce.
    let srcs = [
        Source {
            path: "bucket/dir/file.bin".into(),
            pinned: Some(fp),
            range: Some((70_000, 1000)),
        },
        Source::file("bucket/empty".into(), None),
        Source {
            path: "bucket/dir/file.bin".into(),
            pinned: None,
            range: Some((0, 10)),
        },
    ];
    let mut up = r.concat("bucket/joined", &srcs).await.unwrap();
    up.finish(false).await.unwrap();
    up.commit("bucket/joined", false, Box::new(|_| {}))
        .await
        .unwrap();
    let want = [&data[70_000..71_000], &data[..10]].concat();
    assert_eq!(read(&*r, "bucket/joined", 0, 1010).await, want);
    let stale = Fingerprint { size: 1, ..fp };
    let srcs = [Source::file("bucket/dir/file.bin".into(), Some(stale))];
    let e = r.concat("bucket/x", &srcs).await.err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::ESTALE));

    // Files of another program are left out of listings.
    let stored_bucket = dir
        .path()
        .join(name_cipher("std").dir_path("served/here/bucket").unwrap());
    std::fs::write(stored_bucket.join("plain.txt"), b"hello").unwrap();
    assert!(r
        .list_dir("bucket")
        .await
        .unwrap()
        .iter()
        .all(|e| e.name != "plain.txt"));

    // Nothing in the folder is named or holds content in the clear.
    let mut seen = Vec::new();
    walk(dir.path(), dir.path(), &mut seen);
    for (path, content) in &seen {
        if path.ends_with("plain.txt") {
            continue;
        }
        for word in [
            "served", "bucket", "file.bin", "empty", "joined", ".s3gate", "tmp",
        ] {
            assert!(!path.contains(word), "{path} names {word}");
        }
        assert!(
            !content.windows(64).any(|w| w == &data[1000..1064]),
            "{path} holds plain bytes"
        );
    }

    assert!(!r.delete("bucket/dir/file.bin", Some(stale)).await.unwrap());
    assert!(r.delete("bucket/dir/file.bin", Some(fp)).await.unwrap());
    assert!(r.open("bucket/dir/file.bin").await.unwrap().is_none());
    r.delete_tree("bucket").await.unwrap();
    assert!(r.stat("bucket").await.unwrap().is_none());
}

/// Every path below `root` (relative to it) with its content.
fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.push((rel, Vec::new()));
            walk(root, &p, out);
        } else {
            out.push((rel, std::fs::read(&p).unwrap()));
        }
    }
}

mod any_name {
    use proptest::prelude::*;

    use super::name_cipher;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..Default::default() })]

        /// Whatever a key's segment holds comes back from its stored name, in every mode.
        #[test]
        fn stored_names_come_back(name in "[^/]{1,60}") {
            for remote in ["std", "b64", "b32k", "obf", "offnone", "nodir"] {
                let c = name_cipher(remote);
                let stored = c.file_path(&name).unwrap();
                prop_assert_eq!(c.file_name(&stored), Some(name.clone()), "{} {}", remote, stored);
                let dir = c.dir_path(&name).unwrap();
                prop_assert_eq!(c.dir_name(&dir), Some(name.clone()), "{} {}", remote, dir);
            }
        }
    }
}
