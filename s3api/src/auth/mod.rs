//! Who is asking: every way a request can prove it, and one dispatcher over them. A request is
//! anonymous (unsigned), signed with SigV4 (header or presigned query), or signed with
//! SigV2 (header or presigned query); exactly one of these, never two ([`authenticate`]). The
//! verifiers ([`sigv4`], [`sigv2`]) are leaves that know only their own scheme; an aws-chunked
//! body's chunk signatures are checked as it streams ([`chunked`]).

pub(crate) mod chunked;
mod sigv2;
mod sigv4;

pub(crate) use sigv4::{hmac, signing_key};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::RequestHead;
use s3gate_config::User;
use sha2::{Digest, Sha256};

use crate::error::{S3Error, S3Result};
use crate::headers::header;
use crate::router::Query;

/// The SHA-256 of no bytes, which every chunk's string to sign carries.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Access key → secret key, the limits of the keys that belong to users (the others are
/// administrators), and the canonical ids (with any display names) by which ACLs know each
/// key's holder.
#[derive(Default)]
pub(crate) struct Keys {
    secrets: HashMap<String, String>,
    users: HashMap<String, Arc<User>>,
    /// Canonical id → display name (where the users file gives one), of every key's holder.
    names: HashMap<String, Option<String>>,
    /// E-mail address (lower case) → canonical id, of the users that have one.
    emails: HashMap<String, String>,
}

impl Keys {
    pub(crate) fn new(keys: &[s3gate_config::AuthKey], users: &[User]) -> Keys {
        let admins = keys
            .iter()
            .map(|k| (k.access_key.clone(), k.secret_key.clone()));
        let of_users = users
            .iter()
            .map(|u| (u.access_key.clone(), u.secret_key.clone()));
        let users: HashMap<String, Arc<User>> = users
            .iter()
            .map(|u| (u.access_key.clone(), Arc::new(u.clone())))
            .collect();
        let mut table = Keys {
            secrets: admins.chain(of_users).collect(),
            users,
            names: HashMap::new(),
            emails: HashMap::new(),
        };
        let holders: Vec<String> = table.secrets.keys().cloned().collect();
        for key in holders {
            let id = table.canonical_id(&key);
            table.names.insert(id.clone(), table.display_name(&key));
            if let Some(email) = table.users.get(&key).and_then(|u| u.email.clone()) {
                table.emails.insert(email.to_ascii_lowercase(), id);
            }
        }
        table
    }

    pub(crate) fn anonymous(&self) -> bool {
        self.secrets.is_empty()
    }

    pub(crate) fn secret(&self, access_key: &str) -> Option<&str> {
        self.secrets.get(access_key).map(String::as_str)
    }

    /// The user a key belongs to; `None` for an administrator's key.
    pub(crate) fn user(&self, access_key: &str) -> Option<Arc<User>> {
        self.users.get(access_key).cloned()
    }

    /// The root of its own a key's user is served from, if any.
    pub(crate) fn root_of(&self, access_key: &str) -> Option<&str> {
        self.users.get(access_key)?.root.as_deref()
    }

    /// The canonical id of a key's holder: as its user names it, else the SHA-256 of the
    /// access key (stable per key).
    pub(crate) fn canonical_id(&self, access_key: &str) -> String {
        self.users
            .get(access_key)
            .and_then(|u| u.canonical_id.clone())
            .unwrap_or_else(|| hex::encode(Sha256::digest(access_key.as_bytes())))
    }

    /// The display name of a key's holder, where its user is given one. AWS writes no
    /// `DisplayName` since 2025-11-21; one is written only where an operator named the user
    /// (never the access key, which an owner shown to other callers would give away).
    pub(crate) fn display_name(&self, access_key: &str) -> Option<String> {
        self.users
            .get(access_key)
            .and_then(|u| u.display_name.clone())
    }

    /// Whether a canonical id is some key's holder's.
    pub(crate) fn knows_id(&self, id: &str) -> bool {
        self.names.contains_key(id)
    }

    /// The display name of the holder of a canonical id, where it has one.
    pub(crate) fn name_of_id(&self, id: &str) -> Option<&str> {
        self.names.get(id)?.as_deref()
    }

    /// The canonical id of the user an e-mail address belongs to.
    pub(crate) fn id_of_email(&self, email: &str) -> Option<&str> {
        self.emails
            .get(&email.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// How the request body is to be checked, as declared by `x-amz-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayloadHash {
    Unsigned,
    Sha256([u8; 32]),
    /// `aws-chunked` body; `signed` chunks carry signatures, `trailer` ends with trailing headers.
    Streaming {
        signed: bool,
        trailer: bool,
    },
}

/// What verifies the signatures of an aws-chunked body: the seed chain.
#[derive(Clone)]
pub(crate) struct ChunkSigner {
    key: [u8; 32],
    datetime: String,
    scope: String,
    pub(crate) previous: String,
}

impl ChunkSigner {
    /// The signature a chunk (or the trailer, `kind` = `TRAILER`) must carry; advances the chain.
    pub(crate) fn expect(&mut self, kind: &str, hashes: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-{kind}\n{}\n{}\n{}\n{hashes}",
            self.datetime, self.scope, self.previous
        );
        let sig = hex::encode(sigv4::hmac(&self.key, sts.as_bytes()));
        self.previous = sig.clone();
        sig
    }
}

/// The outcome of authentication.
pub(crate) struct Auth {
    /// `None` for anonymous requests.
    pub(crate) access_key: Option<String>,
    pub(crate) payload: PayloadHash,
    pub(crate) chunk_signer: Option<ChunkSigner>,
}

impl Auth {
    /// A request without an S3 signature, taken as it is: no one in particular, its body
    /// unchecked by any declared hash.
    pub(crate) fn unsigned() -> Auth {
        Auth {
            access_key: None,
            payload: PayloadHash::Unsigned,
            chunk_signer: None,
        }
    }
}

pub(crate) fn parse_payload_hash(v: Option<&str>) -> S3Result<PayloadHash> {
    Ok(match v {
        None | Some("UNSIGNED-PAYLOAD") => PayloadHash::Unsigned,
        Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => PayloadHash::Streaming {
            signed: true,
            trailer: false,
        },
        Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") => PayloadHash::Streaming {
            signed: true,
            trailer: true,
        },
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => PayloadHash::Streaming {
            signed: false,
            trailer: true,
        },
        Some(h) => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).map_err(|_| {
                S3Error::invalid_argument(format!(
                    "x-amz-content-sha256 {h:?} is not a valid value"
                ))
            })?;
            PayloadHash::Sha256(out)
        }
    })
}

/// The query parameters that carry a presigned signature (SigV4, then SigV2).
const AUTH_PARAMS: [&str; 10] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Expires",
    "Signature",
];

/// The `Authorization` header, once it is certain that the request carries exactly one
/// signature: two headers, a repeated signature parameter, or a header together with a signed
/// query would otherwise leave the verifier and whatever reads the request after it free to pick
/// different ones.
fn one_auth_mechanism<'r>(req: &'r RequestHead, query: &Query) -> S3Result<Option<&'r str>> {
    let only_one = || {
        S3Error::invalid_argument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        )
    };
    let mut headers = req.headers.get_all("authorization");
    let authz = headers.next();
    if headers.next().is_some() {
        return Err(only_one());
    }
    let mut signed_query = false;
    for name in AUTH_PARAMS {
        match query.pairs().filter(|(k, _)| *k == name).count() {
            0 => {}
            1 => {
                signed_query |= matches!(name, "X-Amz-Algorithm" | "X-Amz-Signature" | "Signature")
            }
            _ => {
                return Err(S3Error::invalid_argument(format!(
                    "the query parameter {name} may appear only once"
                )))
            }
        }
    }
    match authz {
        Some(_) if signed_query => Err(only_one()),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            S3Error::authorization_header_malformed("the authorization header is not text")
        }),
        None => Ok(None),
    }
}

/// Authenticates a request against the configured keys. A request without any signature (and
/// every request, with no keys configured) is accepted as anonymous, and only the declared
/// payload hash is kept for checking the body; what anonymous may do is the permission
/// decision's (`access.rs`).
/// `vhost_bucket` is the bucket named by the Host header, which SigV2 signs.
pub(crate) fn authenticate(
    req: &RequestHead,
    keys: &Keys,
    vhost_bucket: Option<&str>,
    max_presign: Duration,
) -> S3Result<Auth> {
    let anonymous = || {
        Ok(Auth {
            access_key: None,
            payload: parse_payload_hash(header(req, "x-amz-content-sha256"))?,
            chunk_signer: None,
        })
    };
    if keys.anonymous() {
        return anonymous();
    }
    let query = Query::parse(req.uri.query().unwrap_or(""))?;
    match one_auth_mechanism(req, &query)? {
        Some(a) => match a.strip_prefix(sigv4::ALGORITHM) {
            Some(fields) => sigv4::header_auth(req, keys, fields, &query),
            None if a.starts_with("AWS ") => sigv2::header_auth(req, keys, a, &query, vhost_bucket),
            None => Err(S3Error::authorization_header_malformed(
                "unsupported authorization type",
            )),
        },
        None if query.get("X-Amz-Signature").is_some() => {
            sigv4::presigned_auth(req, keys, &query, max_presign)
        }
        None if query.get("AWSAccessKeyId").is_some() => {
            sigv2::presigned_auth(req, keys, &query, vhost_bucket, max_presign)
        }
        // No signature: anonymous, reaching only what ACLs grant everyone.
        None => anonymous(),
    }
}

/// Appends a header value as both signature versions sign it: trimmed, each run of spaces made
/// one, byte for byte otherwise (a value need not be UTF-8).
fn push_collapsed(out: &mut Vec<u8>, value: &[u8]) {
    let words = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    for (i, w) in words.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(w);
    }
}
