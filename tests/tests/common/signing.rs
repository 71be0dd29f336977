//! SigV4 signatures for hand-made requests, made by the official signer (`aws-sigv4`) in the
//! Authorization header, over the path exactly as it is sent (already percent-encoded: it is
//! neither normalised nor encoded again).

use std::net::SocketAddr;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::raw_http::{raw_request, RawResponse};

/// The headers that sign `method target` (path and query, as sent) to `host`, with `headers`
/// (signed too) and `body`, by the holder of `access:secret`: `x-amz-date`,
/// `x-amz-content-sha256` (the body's SHA-256) and `authorization`.
pub(crate) fn sigv4_headers(
    (access, secret): (&str, &str),
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let id: Identity = Credentials::new(access, secret, None, None, "tests").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.signature_location = SignatureLocation::Headers;
    let params = v4::SigningParams::builder()
        .identity(&id)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap();
    let uri = format!("http://{host}{target}");
    let all = [("host", host)].into_iter().chain(headers.iter().copied());
    let signable =
        SignableRequest::new(method, uri.as_str(), all, SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params.into()).unwrap().into_parts();
    let (signed, _) = instructions.into_parts();
    signed
        .into_iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect()
}

/// [`raw_request`] of `method target` with `headers` and `body`, signed by `key`'s holder
/// (`None`: unsigned).
pub(crate) async fn raw_signed(
    addr: SocketAddr,
    key: Option<(&str, &str)>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(key) = key {
        for (n, v) in sigv4_headers(key, &addr.to_string(), method, target, headers, body) {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    raw_request(addr, &head, body).await
}
