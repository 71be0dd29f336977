//! What an object carries on the remote for the other gateways of a fleet (`--fleet`): its
//! content headers and user metadata (and a multipart object's ETag), which a file alone cannot
//! hold and which each gateway's
//! index otherwise keeps for its own writes only. One ASCII value (JSON, then base64url) that
//! the remote keeps as its own metadata of the object (`x-amz-meta-s3gate` on S3), so that the
//! stat that opens an object for reading brings it at no extra request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::index::{ContentHeaders, MetaValue, ObjectAttrs};
use crate::remote::{StoreCond, Upload};
use crate::vfs::Vfs;

/// The longest value carried: S3 takes 2 KB of user metadata per object (name and value), and
/// stores in front of which other gateways run refuse a write over their limit. Attributes that
/// do not fit stay known to the writing gateway only.
const MAX_CARRIED: usize = 1800;

#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(default)]
    headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    user_meta: Vec<(String, MetaValue)>,
    /// Where the store's ETag is not the object's (a multipart object's, made of its parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
}

/// What the version a reader opened carries.
pub(crate) struct Carried {
    /// Its content headers and user metadata.
    pub(crate) attrs: ObjectAttrs,
    pub(crate) etag: Option<String>,
}

/// The value an object written with `attrs` (and `etag`, where the store's is not the
/// object's) carries, when it fits.
pub(crate) fn seal(attrs: &ObjectAttrs, etag: Option<&str>) -> Option<String> {
    let envelope = Envelope {
        headers: attrs.headers.clone(),
        user_meta: attrs.user_meta.clone(),
        etag: etag.map(str::to_string),
    };
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).ok()?);
    (value.len() <= MAX_CARRIED).then_some(value)
}

/// What a carried value gives back; `None` when it is not one of ours.
fn unseal(value: &str) -> Option<Carried> {
    let json = URL_SAFE_NO_PAD.decode(value).ok()?;
    let envelope: Envelope = serde_json::from_slice(&json).ok()?;
    Some(Carried {
        attrs: ObjectAttrs {
            headers: envelope.headers,
            user_meta: envelope.user_meta,
            ..Default::default()
        },
        etag: envelope.etag,
    })
}

impl Vfs {
    /// A new upload at `path` for an object with `attrs`: in a fleet it carries them, so that
    /// every gateway answers them, and is published only while `cond` holds, where given.
    pub(crate) async fn create_carrying(
        &self,
        path: &str,
        attrs: &ObjectAttrs,
        cond: Option<StoreCond>,
    ) -> Result<Box<dyn Upload>> {
        let store = self.store();
        let carried = self.fleet.as_ref().and_then(|_| seal(attrs, None));
        Ok(match (carried, cond) {
            (carried, Some(cond)) => store.create_if(path, carried.as_deref(), cond).await?,
            (Some(value), None) => store.create_with_meta(path, &value).await?,
            (None, None) => store.create(path).await?,
        })
    }

    /// Whether `attrs` agree with what the version a reader opened carries (always, outside a
    /// fleet): another gateway may write the same bytes again with other headers or metadata
    /// within the precision of the store's times, leaving the version's fingerprint unchanged.
    pub(crate) fn agrees_with_carried(
        &self,
        reader: &dyn crate::remote::Reader,
        attrs: &ObjectAttrs,
    ) -> bool {
        self.carried(reader).is_none_or(|c| {
            c.attrs.headers == attrs.headers && c.attrs.user_meta == attrs.user_meta
        })
    }

    /// In a fleet, what the object a reader opened carries.
    pub(crate) fn carried(&self, reader: &dyn crate::remote::Reader) -> Option<Carried> {
        self.fleet.as_ref()?;
        reader.store_meta().and_then(unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_survive_the_envelope() {
        let attrs = ObjectAttrs {
            headers: ContentHeaders {
                content_type: Some("text/plain; charset=\u{e9}".into()),
                ..Default::default()
            },
            user_meta: vec![("k".into(), MetaValue(vec![0, 0xff, b'"']))],
            ..Default::default()
        };
        let value = seal(&attrs, Some("0123-2")).expect("fits");
        assert!(value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back = unseal(&value).expect("ours");
        assert_eq!((back.attrs, back.etag.as_deref()), (attrs, Some("0123-2")));
        assert!(unseal("not ours").is_none());
        let big = ObjectAttrs {
            user_meta: vec![("k".into(), MetaValue(vec![b'v'; 1500]))],
            ..Default::default()
        };
        assert_eq!(seal(&big, None), None, "over what a store takes");
    }
}
