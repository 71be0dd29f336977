//! HTTPS: the SDK over TLS with certificates made for the test (streaming uploads included),
//! mutual TLS, the TLS version floor, and TLS settings that must refuse to start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// A CA, a server certificate for `localhost` and 127.0.0.1, and a client certificate, all
/// signed by the CA, written as PEM files.
struct Pki {
    dir: TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "s3gate test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["client.test".into()]).unwrap();
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), server_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem: ca.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Serve HTTPS with the server certificate.
    fn apply(&self, c: &mut s3gate::Config) {
        c.server.cert = Some(self.path("cert.pem"));
        c.server.key = Some(self.path("key.pem"));
    }
}

/// An SDK client that trusts only the test CA.
fn https_client(s: &TestServer, pki: &Pki, host: &str) -> aws_sdk_s3::Client {
    let http = http_builder()
        .tls_provider(tls_provider())
        .tls_context(
            TlsContext::builder()
                .with_trust_store(
                    TrustStore::empty()
                        .with_native_roots(false)
                        .with_pem_certificate(pki.ca_pem.as_bytes()),
                )
                .build()
                .unwrap(),
        )
        .build_https();
    client_at(
        &format!("https://{host}:{}", s.addr.port()),
        http,
        ACCESS_KEY,
        SECRET_KEY,
        |b| b,
    )
}

/// A raw TLS connection to the server, trusting the test CA.
async fn tls_connect(
    s: &TestServer,
    pki: &Pki,
    client_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    tls_connect_to(s.addr, pki, client_cert, versions).await
}

/// A raw TLS connection to one of the server's listeners, trusting the test CA.
async fn tls_connect_to(
    addr: std::net::SocketAddr,
    pki: &Pki,
    client_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    let config = if client_cert {
        builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pki.client_cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap(),
            )
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))
}

/// One `GET /` over TLS with a raw client: the HTTP status, or why the exchange failed.
async fn tls_get(
    s: &TestServer,
    pki: &Pki,
    client_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<u16, String> {
    tls_get_path(s, pki, client_cert, versions, "/").await
}

/// One unsigned `GET` of `path` over TLS with a raw client.
async fn tls_get_path(
    s: &TestServer,
    pki: &Pki,
    client_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
    path: &str,
) -> Result<u16, String> {
    let mut tls = tls_connect(s, pki, client_cert, versions).await?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let read = tls.read_to_end(&mut buf).await;
    // A server that closes without close_notify still answered if the status line came.
    match std::str::from_utf8(&buf)
        .ok()
        .and_then(|t| t.strip_prefix("HTTP/1.1 "))
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
    {
        Some(code) => Ok(code),
        None => Err(format!("no answer: {read:?}")),
    }
}

const ALL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[tokio::test]
async fn the_sdk_works_over_https() {
    let pki = Pki::new();
    let s = TestServer::start_with(|c| {
        pki.apply(c);
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
    })
    .await;
    for host in ["localhost", "127.0.0.1"] {
        let client = https_client(&s, &pki, host);
        let bucket = format!("tls-{}", host.replace('.', "-"));
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        // Over HTTPS the SDK streams uploads as aws-chunked bodies with a trailing checksum.
        let data = pattern(3 * 1024 * 1024 + 17, 5);
        client
            .put_object()
            .bucket(&bucket)
            .key("big")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put over https: {}", describe(&e)));
        let got = client
            .get_object()
            .bucket(&bucket)
            .key("big")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(got).await, data);
        let listed = client
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.key_count(), Some(1));
    }
    // Plain HTTP to the HTTPS port gets nowhere.
    let plain = client_for(s.addr, ACCESS_KEY, SECRET_KEY);
    assert!(plain.list_buckets().send().await.is_err());
}

/// A bucket policy sees a request over HTTPS as `aws:SecureTransport` true.
#[tokio::test]
async fn a_bucket_policy_sees_https_as_secure_transport() {
    let pki = Pki::new();
    let s = TestServer::start_with(|c| {
        pki.apply(c);
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
    })
    .await;
    let client = https_client(&s, &pki, "localhost");
    client.create_bucket().bucket("bkt").send().await.unwrap();
    client
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    let only = |secure: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{{"Bool":{{"aws:SecureTransport":"{secure}"}}}}}}]}}"#
        )
    };
    for (secure, status) in [("true", 200), ("false", 403)] {
        client
            .put_bucket_policy()
            .bucket("bkt")
            .policy(only(secure))
            .send()
            .await
            .unwrap();
        let got = tls_get_path(&s, &pki, false, ALL_VERSIONS, "/bkt/k").await;
        assert_eq!(got, Ok(status), "SecureTransport {secure}");
    }
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let pki = Pki::new();
    let s = TestServer::start_with(|c| {
        pki.apply(c);
        c.server.client_ca = Some(pki.path("ca.pem"));
    })
    .await;
    assert_eq!(tls_get(&s, &pki, true, ALL_VERSIONS).await, Ok(200));
    let refused = tls_get(&s, &pki, false, ALL_VERSIONS).await;
    assert!(refused.is_err(), "no client certificate, yet {refused:?}");
}

#[tokio::test]
async fn tls_version_floor() {
    let pki = Pki::new();
    let s = TestServer::start_with(|c| {
        pki.apply(c);
        c.server.min_tls_version = s3gate_config::TlsVersion::Tls13;
    })
    .await;
    assert_eq!(
        tls_get(&s, &pki, false, &[&rustls::version::TLS13]).await,
        Ok(200)
    );
    let old = tls_get(&s, &pki, false, &[&rustls::version::TLS12]).await;
    assert!(old.is_err(), "TLS 1.2 accepted: {old:?}");
    // The default floor is 1.2.
    let s12 = TestServer::start_with(|c| pki.apply(c)).await;
    assert_eq!(
        tls_get(&s12, &pki, false, &[&rustls::version::TLS12]).await,
        Ok(200)
    );
}

async fn start_error(tweak: impl FnOnce(&mut s3gate::Config)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut c = base_config(dir.path());
    tweak(&mut c);
    match s3gate::start(c).await {
        Ok(_) => panic!("started with a bad TLS configuration"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn bad_tls_settings_refuse_to_start() {
    let pki = Pki::new();
    let p = |n: &str| Some(pki.path(n));
    let e = start_error(|c| c.server.cert = p("cert.pem")).await;
    assert!(e.contains("--key"), "{e}");
    let e = start_error(|c| {
        c.server.cert = p("missing.pem");
        c.server.key = p("key.pem");
    })
    .await;
    assert!(e.contains("missing.pem"), "{e}");
    // A key that is not the certificate's, or a file that holds no certificate.
    let e = start_error(|c| {
        c.server.cert = p("key.pem");
        c.server.key = p("key.pem");
    })
    .await;
    assert!(e.contains("key.pem"), "{e}");
    let e = start_error(|c| c.server.client_ca = p("ca.pem")).await;
    assert!(e.contains("client"), "{e}");
    assert!(Path::new(&pki.path("ca.pem")).exists());
}

#[tokio::test]
async fn a_reload_takes_the_new_certificate_for_new_connections() {
    let (first, second) = (Pki::new(), Pki::new());
    let dir = tempfile::tempdir().unwrap();
    let install = |pki: &Pki| {
        for f in ["cert.pem", "key.pem"] {
            std::fs::copy(pki.path(f), dir.path().join(f)).unwrap();
        }
    };
    install(&first);
    let s = TestServer::start_with(|c| {
        c.server.cert = Some(dir.path().join("cert.pem"));
        c.server.key = Some(dir.path().join("key.pem"));
    })
    .await;
    assert_eq!(tls_get(&s, &first, false, ALL_VERSIONS).await, Ok(200));
    install(&second);
    s.reload(s.config.clone()).await.unwrap();
    assert_eq!(tls_get(&s, &second, false, ALL_VERSIONS).await, Ok(200));
    let old = tls_get(&s, &first, false, ALL_VERSIONS).await;
    assert!(old.is_err(), "the old certificate is still served: {old:?}");
    // A broken certificate file is refused and the current certificate stays.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    assert!(s.reload(s.config.clone()).await.is_err());
    assert_eq!(tls_get(&s, &second, false, ALL_VERSIONS).await, Ok(200));
}

/// Over TLS too, a client that stops inside its second request head is disconnected: the HTTP
/// layer timed only a connection's first head.
#[tokio::test]
async fn a_second_request_head_that_stalls_is_cut_off_over_tls() {
    let pki = Pki::new();
    let s = TestServer::start_with(|c| {
        pki.apply(c);
        c.server.read_timeout = std::time::Duration::from_secs(1);
        c.server.idle_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let mut tls = tls_connect(&s, &pki, false, ALL_VERSIONS).await.unwrap();
    tls.write_all(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    tls.write_all(b"G").await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        tls.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the connection stayed open");
}

#[tokio::test]
async fn the_console_is_served_over_https_when_the_s3_api_is() {
    let pki = Pki::new();
    let s = TestServer::start_with(|c| {
        pki.apply(c);
        c.auth.keys = vec![format!("{ACCESS_KEY},{SECRET_KEY}").parse().unwrap()];
        c.server.web_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let web = s.web_addr().expect("the console's listener");
    // The page's signatures need WebCrypto, which browsers give only to a secure context.
    let mut tls = tls_connect_to(web, &pki, false, ALL_VERSIONS)
        .await
        .unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf).await;
    let answer = String::from_utf8_lossy(&buf);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("<script src=\"console.js\""), "{answer}");
    // Plain HTTP to it gets no page.
    let plain = http().get(format!("http://{web}/")).send().await;
    assert!(plain.map_or(true, |r| !r.status().is_success()));
}
