//! Bucket policies: the document (`document.rs`: parsing and checking), its conditions
//! (`condition.rs`), the wildcards (`pattern.rs`), the action each operation is checked as
//! (`action.rs`), what a request is judged on (`facts.rs`), and the evaluation here: an
//! explicit Deny wins, then an Allow, else the policy says nothing ([`verdict`]). What the
//! policies a request is judged by say of it is `enforce.rs` ([`verdict_of`]); the permission
//! decision (`access::decide`) applies it.

mod action;
mod condition;
mod document;
mod enforce;
mod facts;
mod pattern;

pub(crate) use document::{Effect, Policy};
pub(crate) use enforce::{verdict_of, Asked};

use document::{Principal, Statement};
use facts::{RequestFacts, Target};

use crate::error::{S3Error, S3Result};

/// Why a policy document is refused: S3's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) String);

impl From<Malformed> for S3Error {
    fn from(m: Malformed) -> S3Error {
        S3Error::malformed_policy(m.0)
    }
}

/// What `policy` says of the request: Deny if a matching statement denies it, else Allow if
/// one allows it, else nothing. With `restrict_public` (a public access block's
/// `RestrictPublicBuckets`), a statement granting everyone grants nothing to an anonymous
/// request.
pub(crate) fn verdict(
    policy: &Policy,
    facts: &RequestFacts,
    restrict_public: bool,
) -> Option<Effect> {
    let applies = |s: &&Statement| s.applies(facts);
    if policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Deny)
        .any(|s| applies(&s))
    {
        return Some(Effect::Deny);
    }
    let anonymous = facts.caller.access_key.is_none();
    policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .filter(|s| !(restrict_public && anonymous && s.is_public()))
        .any(|s| applies(&s))
        .then_some(Effect::Allow)
}

impl Policy {
    /// A policy as the bucket's record keeps it, checked when it was put: one that no longer
    /// reads is the server's fault, not the client's.
    pub(crate) fn stored(text: &str, bucket: &str) -> S3Result<Policy> {
        Policy::parse(text, bucket).map_err(|e| {
            S3Error::internal(format!("the stored bucket policy is unreadable: {}", e.0))
        })
    }

    /// Whether the policy grants something to everyone, as S3 judges it for
    /// GetBucketPolicyStatus and the public access block: an Allow to `*` that no condition
    /// holds to a fixed set of source addresses.
    pub(crate) fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public)
    }

    /// Whether a condition asks for the tags the object already has (read only then).
    pub(crate) fn reads_existing_tags(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions
                .iter()
                .any(|c| c.key.starts_with(condition::EXISTING_TAG))
        })
    }
}

impl Statement {
    fn is_public(&self) -> bool {
        self.effect == Effect::Allow
            && self.principal == Principal::Anyone
            && !self.conditions.iter().any(|c| c.restricts_source())
    }

    fn applies(&self, facts: &RequestFacts) -> bool {
        let caller = &facts.caller;
        let principal = match &self.principal {
            Principal::Anyone => true,
            Principal::Named(names) => names.iter().any(|n| {
                Some(n) == caller.access_key.as_ref() || Some(n) == caller.canonical_id.as_ref()
            }),
        };
        let action = self
            .actions
            .iter()
            .any(|a| pattern::matches(a, facts.action, true));
        let resource = match &facts.target {
            Target::Named(r) => self.resources.iter().any(|p| pattern::matches(p, r, false)),
            Target::AnyObject(bucket) => {
                let of_objects = self
                    .resources
                    .iter()
                    .filter_map(|p| p.strip_prefix(bucket.as_str())?.strip_prefix('/'));
                match self.effect {
                    // Denied if the statement reaches any object of the bucket.
                    Effect::Deny => of_objects.count() > 0,
                    // Allowed only if it reaches every one.
                    Effect::Allow => of_objects
                        .into_iter()
                        .any(|k| !k.is_empty() && k.chars().all(|c| c == '*')),
                }
            }
        };
        principal && action && resource && self.conditions.iter().all(|c| c.holds(facts))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::facts::Caller;
    use super::*;

    fn policy(statements: &str) -> Policy {
        Policy::parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
            "bkt",
        )
        .unwrap()
    }

    fn facts(key: Option<&str>, action: &'static str, target: &str) -> RequestFacts {
        RequestFacts {
            caller: Caller {
                access_key: key.map(str::to_string),
                canonical_id: key.map(|k| format!("id-{k}")),
            },
            action,
            target: Target::Named(target.to_string()),
            values: HashMap::new(),
        }
    }

    fn with(mut f: RequestFacts, pairs: &[(&str, &str)]) -> RequestFacts {
        for (k, v) in pairs {
            f.values.insert(k.to_string(), v.to_string());
        }
        f
    }

    const PUBLIC_READ: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/public/*"}"#;

    #[test]
    fn allow_deny_and_silence() {
        let p = policy(&format!(
            r#"{PUBLIC_READ},{{"Effect":"Deny","Principal":{{"AWS":"alice"}},"Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"}}"#
        ));
        let get = "s3:GetObject";
        assert_eq!(
            verdict(&p, &facts(None, get, "bkt/public/a"), false),
            Some(Effect::Allow)
        );
        assert_eq!(verdict(&p, &facts(None, get, "bkt/private/a"), false), None);
        assert_eq!(
            verdict(&p, &facts(None, "s3:PutObject", "bkt/public/a"), false),
            None
        );
        assert_eq!(
            verdict(&p, &facts(Some("alice"), get, "bkt/public/a"), false),
            Some(Effect::Deny)
        );
        assert_eq!(
            verdict(&p, &facts(Some("bob"), get, "bkt/public/a"), false),
            Some(Effect::Allow)
        );
        // The bucket itself is not one of its objects.
        assert_eq!(
            verdict(&p, &facts(Some("alice"), "s3:ListBucket", "bkt"), false),
            None
        );
        // A user named by canonical id.
        let by_id = policy(
            r#"{"Effect":"Deny","Principal":{"CanonicalUser":"id-carol"},"Action":"s3:Get*","Resource":"arn:aws:s3:::bkt/*"}"#,
        );
        assert_eq!(
            verdict(&by_id, &facts(Some("carol"), get, "bkt/x"), false),
            Some(Effect::Deny)
        );
        assert_eq!(verdict(&by_id, &facts(None, get, "bkt/x"), false), None);
    }

    #[test]
    fn restricting_public_buckets_keeps_public_grants_from_anonymous_requests_only() {
        let p = policy(PUBLIC_READ);
        let anon = facts(None, "s3:GetObject", "bkt/public/a");
        let user = facts(Some("bob"), "s3:GetObject", "bkt/public/a");
        assert_eq!(verdict(&p, &anon, true), None);
        assert_eq!(verdict(&p, &user, true), Some(Effect::Allow));
    }

    #[test]
    fn conditions() {
        let p = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt",
                "Condition":{"StringLike":{"s3:prefix":["home/*","pub?"]},"IpAddress":{"aws:SourceIp":"127.0.0.1/32"}}}"#,
        );
        let list = |pairs: &[(&str, &str)]| with(facts(None, "s3:ListBucket", "bkt"), pairs);
        let local = ("aws:sourceip", "127.0.0.1");
        assert_eq!(
            verdict(&p, &list(&[("s3:prefix", "home/x"), local]), false),
            Some(Effect::Allow)
        );
        assert_eq!(
            verdict(&p, &list(&[("s3:prefix", "pubs"), local]), false),
            Some(Effect::Allow)
        );
        assert_eq!(
            verdict(&p, &list(&[("s3:prefix", "etc"), local]), false),
            None
        );
        assert_eq!(verdict(&p, &list(&[local]), false), None);
        assert_eq!(
            verdict(
                &p,
                &list(&[("s3:prefix", "home/x"), ("aws:sourceip", "10.1.1.1")]),
                false
            ),
            None
        );
        // Negated operators pass a key the request lacks; IfExists passes it too; Null tests it.
        let deny_plain = policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*",
                "Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"AES256"}}}"#,
        );
        let put = |pairs: &[(&str, &str)]| with(facts(None, "s3:PutObject", "bkt/k"), pairs);
        assert_eq!(verdict(&deny_plain, &put(&[]), false), Some(Effect::Deny));
        assert_eq!(
            verdict(
                &deny_plain,
                &put(&[("s3:x-amz-server-side-encryption", "AES256")]),
                false
            ),
            None
        );
        let if_exists = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*",
                "Condition":{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}}"#,
        );
        assert_eq!(verdict(&if_exists, &put(&[]), false), Some(Effect::Allow));
        assert_eq!(
            verdict(&if_exists, &put(&[("s3:x-amz-acl", "private")]), false),
            Some(Effect::Allow)
        );
        assert_eq!(
            verdict(&if_exists, &put(&[("s3:x-amz-acl", "public-read")]), false),
            None
        );
        let null = policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*",
                "Condition":{"Null":{"s3:RequestObjectTag/team":"true"}}}"#,
        );
        assert_eq!(verdict(&null, &put(&[]), false), Some(Effect::Deny));
        assert_eq!(
            verdict(&null, &put(&[("s3:requestobjecttag/team", "a")]), false),
            None
        );
    }

    #[test]
    fn a_deletion_of_many_objects() {
        let target = Target::AnyObject("bkt".into());
        let mut f = facts(None, "s3:DeleteObject", "bkt");
        f.target = target;
        let deny_some = policy(
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::bkt/keep/*"}"#,
        );
        assert_eq!(verdict(&deny_some, &f, false), Some(Effect::Deny));
        let allow_some = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::bkt/tmp/*"}"#,
        );
        assert_eq!(verdict(&allow_some, &f, false), None);
        let allow_all = policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::bkt/*"}"#,
        );
        assert_eq!(verdict(&allow_all, &f, false), Some(Effect::Allow));
    }

    proptest::proptest! {
        /// Whatever a policy allows, a matching Deny added to it wins; and a document of any
        /// text is either a policy or a MalformedPolicy, never a panic.
        #[test]
        fn a_matching_deny_always_wins(
            key in "[a-z]{1,8}(/[a-z]{1,8}){0,3}",
            action in proptest::sample::select(vec!["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
            caller in proptest::option::of("[A-Z]{4,8}"),
            junk in ".{0,64}",
        ) {
            let target = format!("bkt/{key}");
            let allow = r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"}"#;
            let first = key.split('/').next().unwrap_or_default();
            let deny = format!(
                r#"{{"Effect":"Deny","Principal":"*","Action":"{action}","Resource":"arn:aws:s3:::bkt/{first}*"}}"#
            );
            let f = facts(caller.as_deref(), action, &target);
            proptest::prop_assert_eq!(verdict(&policy(allow), &f, false), Some(Effect::Allow));
            let both = policy(&format!("{allow},{deny}"));
            proptest::prop_assert_eq!(verdict(&both, &f, false), Some(Effect::Deny));
            let _ = Policy::parse(&junk, "bkt");
            let _ = Policy::parse(&format!(r#"{{"Statement":[{{"Effect":"Allow",{junk}}}]}}"#), "bkt");
        }
    }

    #[test]
    fn public_as_s3_judges_it() {
        assert!(policy(PUBLIC_READ).is_public());
        let deny = r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}"#;
        assert!(!policy(deny).is_public());
        let named = r#"{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}"#;
        assert!(!policy(named).is_public());
        let from = |cidr: &str| {
            policy(&format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{{"IpAddress":{{"aws:SourceIp":"{cidr}"}}}}}}"#
            ))
        };
        assert!(!from("10.0.0.0/8").is_public());
        assert!(from("0.0.0.0/0").is_public());
        let tls_only = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#;
        assert!(policy(tls_only).is_public());
    }
}
