//! Browser uploads: a `multipart/form-data` POST to a bucket (S3's POST Object). The form is read
//! as it streams: its fields first (at most [`MAX_FIELDS_BYTES`] of them), then the file, which
//! goes to the remote as it arrives and is never held in memory; fields after the file are
//! ignored, as S3 ignores them.
//!
//! The request carries no S3 signature: the form's policy document is signed instead (SigV4 or
//! SigV2 form signatures, by a key of the server), and it alone says what may be uploaded. It is
//! checked as S3 checks it before a byte of the file is stored: not expired, the bucket named
//! by a condition, every condition met, and every field of the form (but the exempt ones)
//! covered by one — a field no condition mentions refuses the upload. `content-length-range` is
//! enforced while the file streams: an upload outside it is never published. A server with no
//! keys takes forms without a policy, as it takes every request.
//!
//! The policy's signer is the form's caller: once it is known, the request is served from what
//! that caller is served from (a user's own root, if it has one) and decided as any request
//! (`access::decide`, with the bucket's policy), a PutObject of the form's key.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use actix_multipart::MultipartError;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use base64::Engine;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use s3gate_vfs::{ChecksumSlot, ObjectInfo, PutRequest};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::access;
use crate::acl;
use crate::auth::{self, Keys};
use crate::checksum::{self, Algorithm, Hasher};
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::headers::{attrs_from_pairs, decode_content_md5, new_version_header, quoted};
use crate::intake::Lent;
use crate::lock_headers;
use crate::policy;
use crate::router::Op;
use crate::tags::{self, Holder};
use crate::xml::{parse_tagging, url_encode, Xml};

type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The most the fields before the file may hold, as in S3.
const MAX_FIELDS_BYTES: usize = 20 * 1024;

/// Fields no policy condition needs to cover.
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "x-amz-signature" | "signature" | "awsaccesskeyid" | "file" | "policy"
    ) || name.starts_with("x-ignore-")
}

/// The form's fields before the file: names in lower case (S3 compares them so), values as
/// sent, in order.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// POST Object.
pub(crate) async fn post(ctx: &mut Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let body = ctx.body(payload)?.map(|r| r.map_err(carry));
    let mut form = actix_multipart::Multipart::new(ctx.req.headers(), body);
    let mut fields = Vec::new();
    let mut size = 0;
    let file = loop {
        let mut field = form
            .next()
            .await
            .transpose()
            .map_err(malformed)?
            .ok_or_else(|| {
                S3Error::invalid_argument("POST requires exactly one file upload per request.")
            })?;
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name == "file" {
            break field;
        }
        size += name.len();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            size += chunk.len();
            if size > MAX_FIELDS_BYTES {
                return Err(S3Error::max_post_pre_data_length_exceeded(
                    "Your POST request fields preceding the upload file were too large.",
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| {
            S3Error::invalid_argument(format!("The form field {name} is not UTF-8 text."))
        })?;
        if fields.iter().any(|(k, _)| *k == name) {
            return Err(S3Error::invalid_argument(format!(
                "The form field {name} appears more than once."
            )));
        }
        fields.push((name, value));
    };
    let fields = Fields(fields);
    let signer = signer(ctx, &fields)?;
    // The form reached the served remote before its signer was known: from here on it is the
    // signer's request, served from the signer's own root if it has one, so that a bucket of
    // one root is never looked up (nor written) in another. An anonymous form stays with the
    // served remote, as every anonymous request does.
    if let Some(signer) = signer {
        let vfs = ctx.state.vfs_for(&*ctx.state.keys()?, Some(signer))?;
        ctx.signed_by(signer, vfs);
    }
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    let range = allowed_sizes(ctx, &fields)?;
    refuse_unsupported(&fields)?;
    let filename = file
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or("")
        .to_string();
    let key = fields
        .get("key")
        .ok_or_else(|| S3Error::invalid_argument("Bucket POST must contain a field named 'key'."))?
        .replace("${filename}", &filename);
    // The form's signer (anonymous without a policy) is held to what it may do like any other
    // caller: a form upload is a PutObject of its key.
    // So is it to the bucket's policy.
    let caller = access::Caller::of(&*ctx.state.keys()?, signer);
    let read_only = ctx.state.config.server.read_only;
    let index = access::Index::new(ctx.vfs(), &ctx.bucket);
    let asked = policy::Asked {
        head: ctx.req.head(),
        query: &ctx.query,
        state: &ctx.state,
        vfs: ctx.vfs(),
        caller: &caller,
        op: &Op::PutObject,
        bucket: &ctx.bucket,
        key: &key,
    };
    let verdict = policy::verdict_of(&asked, &index).await?;
    access::decide(
        read_only,
        &caller,
        &Op::PutObject,
        &ctx.bucket,
        &key,
        &index,
        verdict,
    )
    .await?;
    let mut attrs = attrs_from_pairs(fields.0.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))?;
    attrs.acl = acl::for_new_object(ctx, signer, fields.get("acl")).await?;
    // A form's tags come as a Tagging document, where a PUT's come in a header.
    if let Some(doc) = fields.get("tagging") {
        attrs.tags = tags::checked(parse_tagging(doc.as_bytes())?, Holder::Object)?;
    }
    // The lock fields, as a PUT's headers.
    if fields
        .0
        .iter()
        .any(|(k, _)| k.starts_with("x-amz-object-lock-"))
    {
        attrs.lock = lock_headers::requested(ctx.bucket_record().await?, |n| fields.get(n))?;
    }
    let checksum = requested_checksum(&fields)?;
    let slot = ChecksumSlot::default();
    let body = FileStream {
        file,
        received: 0,
        range,
        checksum,
        slot: slot.clone(),
        done: false,
    };
    let content_md5 = fields
        .get("content-md5")
        .map(decode_content_md5)
        .transpose()?;
    let info = ctx
        .vfs()
        .put_object(
            &ctx.bucket,
            &key,
            PutRequest {
                attrs,
                content_md5,
                precondition: None,
                checksum: Some(slot),
                body,
            },
        )
        .await?;
    respond(ctx, &fields, &key, &info)
}

/// A failure of the request body (a timeout, a cut-off client) carried through the form
/// parser, to come out as the S3 error it was.
fn carry(e: BodyError) -> PayloadError {
    PayloadError::Io(std::io::Error::other(e))
}

fn malformed(e: MultipartError) -> S3Error {
    if let MultipartError::Payload(PayloadError::Io(io)) = e {
        return match io.into_inner().map(|inner| inner.downcast::<S3Error>()) {
            Some(Ok(s3)) => *s3,
            Some(Err(other)) => S3Error::incomplete_body(other.to_string()),
            None => S3Error::incomplete_body("the request body was cut off"),
        };
    }
    S3Error::malformed_post_request(format!(
        "The body of your POST request is not well-formed multipart/form-data: {e}"
    ))
}

/// The answer S3 gives: a redirect, or the status the form asks for (204 unless 200 or 201).
fn respond(ctx: &Ctx, fields: &Fields, key: &str, info: &ObjectInfo) -> S3Result<HttpResponse> {
    let etag = info.etag.as_str();
    let location = format!("/{}/{}", url_encode(&ctx.bucket), url_encode(key));
    let redirect = fields
        .get("success_action_redirect")
        .or_else(|| fields.get("redirect"))
        .filter(|r| r.starts_with("http://") || r.starts_with("https://"));
    if let Some(to) = redirect {
        let sep = if to.contains('?') { '&' } else { '?' };
        let target = format!(
            "{to}{sep}bucket={}&key={}&etag={}",
            url_encode(&ctx.bucket),
            url_encode(key),
            url_encode(&quoted(etag))
        );
        let mut resp = HttpResponse::SeeOther();
        resp.insert_header(("location", target))
            .insert_header(("etag", quoted(etag)));
        new_version_header(&mut resp, info);
        return Ok(resp.finish());
    }
    let status = match fields.get("success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    let mut resp = HttpResponse::build(status);
    resp.insert_header(("etag", quoted(etag)))
        .insert_header(("location", location.clone()));
    new_version_header(&mut resp, info);
    if status != StatusCode::CREATED {
        return Ok(resp.finish());
    }
    let mut x = Xml::document("PostResponse", false);
    x.elem("Location", &location)
        .elem("Bucket", &ctx.bucket)
        .elem("Key", key)
        .elem("ETag", &quoted(etag));
    Ok(resp.content_type("application/xml").body(x.finish()))
}

/// The sizes `content-length-range` allows, inclusive.
type SizeRange = Option<(u64, u64)>;

/// Who signed the form's policy, its signature checked (`None`: anonymous, a form without a
/// policy or any form on a server without keys).
fn signer<'f>(ctx: &Ctx, fields: &'f Fields) -> S3Result<Option<&'f str>> {
    let keys = ctx.state.keys()?;
    match fields.get("policy") {
        Some(policy_b64) if !keys.anonymous() => {
            verify_signature(&keys, fields, policy_b64).map(Some)
        }
        _ => Ok(None),
    }
}

/// Checks the form against its policy; the size range the policy allows.
fn allowed_sizes(ctx: &Ctx, fields: &Fields) -> S3Result<SizeRange> {
    match fields.get("policy") {
        Some(policy_b64) => Policy::parse(policy_b64)?.check(&ctx.bucket, fields),
        None => Ok(None),
    }
}

/// The policy's signature: SigV4 (`x-amz-signature`) or SigV2 (`signature`); the access key
/// that signed it.
fn verify_signature<'f>(keys: &Keys, fields: &'f Fields, policy_b64: &str) -> S3Result<&'f str> {
    let secret_of = |ak: &str| {
        keys.secret(ak).map(str::to_string).ok_or_else(|| {
            S3Error::invalid_access_key_id(
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })
    };
    let mismatch = || {
        S3Error::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided.",
        )
    };
    // A field the signature needs and the form lacks, named as S3 names it.
    let missing = |name: &str| {
        S3Error::invalid_argument(format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
        ))
    };
    // A form naming any of SigV4's fields is signed with SigV4; any other, with SigV2.
    let v4 = ["x-amz-signature", "x-amz-algorithm", "x-amz-credential"];
    if v4.iter().any(|n| fields.get(n).is_some()) {
        match fields.get("x-amz-algorithm") {
            Some("AWS4-HMAC-SHA256") => {}
            Some(_) => {
                return Err(S3Error::invalid_argument(
                    "x-amz-algorithm must be AWS4-HMAC-SHA256",
                ))
            }
            None => return Err(missing("x-amz-algorithm")),
        }
        let credential = fields
            .get("x-amz-credential")
            .ok_or_else(|| missing("x-amz-credential"))?;
        let sig = fields
            .get("x-amz-signature")
            .ok_or_else(|| missing("x-amz-signature"))?;
        let parts: Vec<&str> = credential.split('/').collect();
        let [ak, date, region, service, "aws4_request"] = parts.as_slice() else {
            return Err(S3Error::invalid_argument(format!(
                "the credential {credential:?} is malformed"
            )));
        };
        let key = auth::signing_key(&secret_of(ak)?, date, region, service);
        let want = hex::encode(auth::hmac(&key, policy_b64.as_bytes()));
        return match bool::from(want.as_bytes().ct_eq(sig.to_ascii_lowercase().as_bytes())) {
            true => Ok(ak),
            false => Err(mismatch()),
        };
    }
    let ak = fields
        .get("awsaccesskeyid")
        .ok_or_else(|| missing("AWSAccessKeyId"))?;
    let sig = fields
        .get("signature")
        .ok_or_else(|| missing("Signature"))?;
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_of(ak)?.as_bytes())
        .map_err(|_| S3Error::internal("HMAC key"))?;
    mac.update(policy_b64.as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    match bool::from(want.as_bytes().ct_eq(sig.as_bytes())) {
        true => Ok(ak),
        false => Err(mismatch()),
    }
}

/// One condition of a policy.
#[derive(Debug, PartialEq)]
enum Condition {
    Eq(String, String),
    StartsWith(String, String),
    LengthRange(u64, u64),
}

#[derive(Debug)]
struct Policy {
    expiration: SystemTime,
    conditions: Vec<Condition>,
}

fn bad_policy(why: impl std::fmt::Display) -> S3Error {
    S3Error::invalid_policy_document(format!("Invalid Policy: {why}"))
}

impl Policy {
    fn parse(b64: &str) -> S3Result<Policy> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| bad_policy("the policy is not base64"))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| bad_policy(format!("not JSON: {e}")))?;
        let expiration = doc
            .get("expiration")
            .and_then(|e| e.as_str())
            .ok_or_else(|| bad_policy("Policy missing expiration."))?;
        let expiration =
            time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad_policy(format!("Invalid 'expiration' value: '{expiration}'")))?
                .into();
        let list = doc
            .get("conditions")
            .and_then(|c| c.as_array())
            .ok_or_else(|| bad_policy("Policy missing conditions."))?;
        let conditions = list
            .iter()
            .map(Condition::parse)
            .collect::<S3Result<Vec<_>>>()?;
        Ok(Policy {
            expiration,
            conditions,
        })
    }

    /// Checks the form against the policy; the size range it allows.
    fn check(&self, bucket: &str, fields: &Fields) -> S3Result<SizeRange> {
        let denied =
            |why: String| S3Error::access_denied(format!("Invalid according to Policy: {why}"));
        if SystemTime::now() > self.expiration {
            return Err(denied("Policy expired.".into()));
        }
        let value = |name: &str| -> String {
            match name {
                "bucket" => bucket.to_string(),
                _ => fields.get(name).unwrap_or("").to_string(),
            }
        };
        let mut bucket_named = false;
        let mut range = None;
        for c in &self.conditions {
            let ok = match c {
                Condition::Eq(name, want) => {
                    bucket_named |= name == "bucket";
                    value(name) == *want
                }
                Condition::StartsWith(name, prefix) => {
                    bucket_named |= name == "bucket";
                    let v = value(name);
                    // A content type may list several, each of which must match.
                    if name == "content-type" && v.contains(',') {
                        v.split(',').all(|t| t.trim().starts_with(prefix.as_str()))
                    } else {
                        v.starts_with(prefix.as_str())
                    }
                }
                Condition::LengthRange(min, max) => {
                    range = Some((*min, *max));
                    true
                }
            };
            if !ok {
                return Err(denied(format!("Policy Condition failed: {}", c.describe())));
            }
        }
        if !bucket_named {
            return Err(bad_policy("Policy missing condition: bucket"));
        }
        let extra: Vec<&str> = fields
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !exempt(k) && !self.covers(k))
            .collect();
        if let Some(name) = extra.first() {
            return Err(denied(format!("Extra input fields: {name}")));
        }
        Ok(range)
    }

    fn covers(&self, field: &str) -> bool {
        self.conditions.iter().any(|c| match c {
            Condition::Eq(n, _) | Condition::StartsWith(n, _) => n == field,
            Condition::LengthRange(..) => false,
        })
    }
}

impl Condition {
    fn parse(v: &serde_json::Value) -> S3Result<Condition> {
        use serde_json::Value;
        let text = |v: &Value| -> S3Result<String> {
            match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad_policy(format!("condition value {v} is not text"))),
            }
        };
        let field = |v: &Value| -> S3Result<String> {
            let name = text(v)?;
            name.strip_prefix('$')
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| bad_policy(format!("condition field {name:?} must start with $")))
        };
        let number = |v: &Value| -> S3Result<u64> {
            match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| bad_policy(format!("content-length-range bound {v} is not a size")))
        };
        match v {
            Value::Object(map) if map.len() == 1 => {
                let (k, v) = map
                    .iter()
                    .next()
                    .ok_or_else(|| bad_policy("empty condition"))?;
                Ok(Condition::Eq(
                    k.trim_start_matches('$').to_ascii_lowercase(),
                    text(v)?,
                ))
            }
            Value::Array(items) => match items.as_slice() {
                [op, a, b] => match text(op)?.to_ascii_lowercase().as_str() {
                    "eq" => Ok(Condition::Eq(field(a)?, text(b)?)),
                    "starts-with" => Ok(Condition::StartsWith(field(a)?, text(b)?)),
                    "content-length-range" => {
                        let (min, max) = (number(a)?, number(b)?);
                        if min > max {
                            return Err(bad_policy("content-length-range minimum above maximum"));
                        }
                        Ok(Condition::LengthRange(min, max))
                    }
                    other => Err(bad_policy(format!("unknown condition operator {other:?}"))),
                },
                _ => Err(bad_policy(format!(
                    "condition {v} does not have three elements"
                ))),
            },
            _ => Err(bad_policy(format!(
                "condition {v} is not an object or a list"
            ))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Condition::Eq(n, v) => format!("[\"eq\", \"${n}\", \"{v}\"]"),
            Condition::StartsWith(n, v) => format!("[\"starts-with\", \"${n}\", \"{v}\"]"),
            Condition::LengthRange(a, b) => format!("[\"content-length-range\", {a}, {b}]"),
        }
    }
}

/// Fields that would change what is stored in ways this server does not do yet: refused, never
/// taken and ignored.
fn refuse_unsupported(fields: &Fields) -> S3Result<()> {
    for (name, value) in &fields.0 {
        let unsupported = match name.as_str() {
            "x-amz-storage-class" => value != "STANDARD",
            "x-amz-website-redirect-location" => true,
            n => n.starts_with("x-amz-server-side-encryption"),
        };
        if unsupported {
            return Err(S3Error::not_implemented(format!(
                "The form field {name} is not implemented by this server"
            )));
        }
    }
    Ok(())
}

/// An additional checksum the form asks to be checked: `x-amz-checksum-<algorithm>`.
fn requested_checksum(fields: &Fields) -> S3Result<Option<(Algorithm, Hasher, String)>> {
    let mut found = fields
        .0
        .iter()
        .filter_map(|(k, v)| Algorithm::from_header(k).map(|a| (a, v.clone())));
    let first = found.next();
    if found.next().is_some() {
        return Err(S3Error::invalid_request(
            "Expecting a single x-amz-checksum- field in the form",
        ));
    }
    Ok(first.map(|(a, v)| (a, Hasher::new(a), v)))
}

/// The file part, checked as it streams: its size against the policy's range, its checksum
/// when one was given. A failed check ends the stream with an error, so nothing is published.
struct FileStream {
    file: actix_multipart::Field,
    received: u64,
    range: SizeRange,
    checksum: Option<(Algorithm, Hasher, String)>,
    slot: ChecksumSlot,
    done: bool,
}

impl FileStream {
    fn finish(&mut self) -> S3Result<()> {
        if let Some((min, _)) = self.range.filter(|(min, _)| self.received < *min) {
            return Err(S3Error::entity_too_small(format!(
                "Your proposed upload is smaller than the minimum allowed size of {min} bytes"
            )));
        }
        if let Some((algo, hasher, want)) = self.checksum.take() {
            let _ = self
                .slot
                .set(checksum::verified(algo, hasher.finish_base64(), &want)?);
        }
        Ok(())
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let fail = |this: &mut FileStream, e: S3Error| {
            this.done = true;
            Poll::Ready(Some(Err(Box::new(e) as BodyError)))
        };
        match Pin::new(&mut self.file).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                self.received += data.len() as u64;
                if let Some((_, max)) = self.range.filter(|(_, max)| self.received > *max) {
                    return fail(
                        &mut self,
                        S3Error::entity_too_large(format!(
                            "Your proposed upload exceeds the maximum allowed size of {max} bytes"
                        )),
                    );
                }
                if let Some((_, h, _)) = &mut self.checksum {
                    h.update(&data);
                }
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Ready(Some(Err(e))) => fail(&mut self, malformed(e)),
            Poll::Ready(None) => match self.finish() {
                Ok(()) => {
                    self.done = true;
                    Poll::Ready(None)
                }
                Err(e) => fail(&mut self, e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn policy(conditions: &str) -> Policy {
        let doc =
            format!(r#"{{"expiration": "2099-01-01T00:00:00.000Z", "conditions": {conditions}}}"#);
        Policy::parse(&base64::engine::general_purpose::STANDARD.encode(doc)).unwrap()
    }

    #[test]
    fn conditions_are_read_as_s3_writes_them() {
        let p = policy(
            r#"[{"bucket": "b"}, ["starts-with", "$Key", "up/"], ["eq", "$acl", "private"],
               ["content-length-range", 1, "100"], {"x-amz-meta-a": "1"}]"#,
        );
        assert_eq!(
            p.conditions,
            [
                Condition::Eq("bucket".into(), "b".into()),
                Condition::StartsWith("key".into(), "up/".into()),
                Condition::Eq("acl".into(), "private".into()),
                Condition::LengthRange(1, 100),
                Condition::Eq("x-amz-meta-a".into(), "1".into()),
            ]
        );
        for bad in [
            r#"[["between", "$key", "a"]]"#,
            r#"[["eq", "key", "a"]]"#,
            r#"[["eq", "$key"]]"#,
            r#"[["content-length-range", 10, 1]]"#,
            r#"["key"]"#,
        ] {
            let doc = format!(r#"{{"expiration": "2099-01-01T00:00:00Z", "conditions": {bad}}}"#);
            let e =
                Policy::parse(&base64::engine::general_purpose::STANDARD.encode(doc)).unwrap_err();
            assert_eq!(e.code, "InvalidPolicyDocument", "{bad}");
        }
    }

    #[test]
    fn a_form_passes_only_what_its_policy_allows() {
        let p = policy(
            r#"[{"bucket": "b"}, ["starts-with", "$key", "up/"], ["content-length-range", 0, 10]]"#,
        );
        assert_eq!(
            p.check("b", &fields(&[("key", "up/x")])).unwrap(),
            Some((0, 10))
        );
        let code = |bucket: &str, f: &[(&str, &str)]| p.check(bucket, &fields(f)).unwrap_err();
        assert!(code("b", &[("key", "down/x")])
            .message
            .contains("Condition failed"));
        assert!(code("other", &[("key", "up/x")])
            .message
            .contains("Condition failed"));
        // A field no condition mentions refuses the upload.
        let e = code("b", &[("key", "up/x"), ("content-type", "text/plain")]);
        assert!(
            e.message.contains("Extra input fields: content-type"),
            "{}",
            e.message
        );
        // Exempt fields need no condition.
        p.check(
            "b",
            &fields(&[("key", "up/x"), ("x-ignore-me", "1"), ("policy", "…")]),
        )
        .unwrap();
        let no_bucket = policy(r#"[["starts-with", "$key", ""]]"#);
        assert_eq!(
            no_bucket
                .check("b", &fields(&[("key", "k")]))
                .unwrap_err()
                .code,
            "InvalidPolicyDocument"
        );
        let doc = r#"{"expiration": "2001-01-01T00:00:00Z", "conditions": [{"bucket": "b"}]}"#;
        let old = Policy::parse(&base64::engine::general_purpose::STANDARD.encode(doc)).unwrap();
        assert!(old
            .check("b", &fields(&[]))
            .unwrap_err()
            .message
            .contains("expired"));
    }
}
