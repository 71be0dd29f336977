//! What a policy is evaluated against: who asks, for which action on which resource, and the
//! values of the condition keys, gathered once per request (`enforce.rs` fills them in from the
//! request; unit tests build them by hand).

use std::collections::HashMap;

/// Who sends the request, as a policy's `Principal` names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Caller {
    /// `None` for an anonymous request.
    pub(crate) access_key: Option<String>,
    pub(crate) canonical_id: Option<String>,
}

/// The resource a request acts on, as a policy's `Resource` names it (without `arn:aws:s3:::`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `bucket`, or `bucket/key`.
    Named(String),
    /// Some objects of the bucket, not known before the body is read (DeleteObjects): a Deny
    /// applies when its resources reach any object of the bucket, an Allow only when they
    /// reach every one.
    AnyObject(String),
}

#[derive(Debug, Clone)]
pub(crate) struct RequestFacts {
    pub(crate) caller: Caller,
    pub(crate) action: &'static str,
    pub(crate) target: Target,
    /// Condition keys (as `condition.rs` names them) → the request's value.
    pub(crate) values: HashMap<String, String>,
}

impl RequestFacts {
    pub(crate) fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}
