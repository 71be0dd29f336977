//! Continuation tokens: where the next page of a listing starts (the last name of this page),
//! opaque to the client, which sends it back as it was given.

use base64::Engine;

use crate::error::{S3Error, S3Result};

pub(crate) fn encode(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes())
}

pub(crate) fn decode(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))
}
