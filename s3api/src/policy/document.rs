//! A bucket policy document, parsed and checked against the bucket it is put on. Everything the
//! language has that this server does not evaluate is refused with S3's `MalformedPolicy`
//! (`NotPrincipal`, `NotAction`, `NotResource`, unknown fields, operators and keys): never
//! ignored, since a part skipped would widen what a statement grants.

use serde_json::{Map, Value};

use super::action::{Level, ACTIONS};
use super::condition::{self, Condition};
use super::pattern;
use super::Malformed;

/// The prefix of every S3 resource a bucket policy names.
const ARN: &str = "arn:aws:s3:::";
/// The prefix of a user's ARN: `arn:aws:iam::<account>:user/<access key>`.
const IAM_ARN: &str = "arn:aws:iam::";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// Whom a statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous requests included.
    Anyone,
    /// Access keys or canonical ids of the server's users.
    Named(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    pub(crate) principal: Principal,
    /// Action patterns, compared without regard to case.
    pub(crate) actions: Vec<String>,
    /// Resource patterns without the `arn:aws:s3:::` prefix: `bucket` or `bucket/key…`.
    pub(crate) resources: Vec<String>,
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// Parses `text` as a policy of `bucket`.
    pub(crate) fn parse(text: &str, bucket: &str) -> Result<Policy, Malformed> {
        let bad = |m: &str| Malformed(m.to_string());
        if !text.trim_start().starts_with('{') {
            return Err(bad(
                "Policies must be valid JSON and the first byte must be '{'",
            ));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|_| bad("Policies must be valid JSON and the first byte must be '{'"))?;
        let doc = doc
            .as_object()
            .ok_or_else(|| bad("Policy must be a JSON object"))?;
        for field in doc.keys() {
            if !matches!(field.as_str(), "Version" | "Id" | "Statement") {
                return Err(Malformed(format!("Unknown field {field}")));
            }
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => return Err(bad("The policy must contain a valid version string")),
        }
        if doc.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(bad("Policy Id must be a string"));
        }
        let statements = match doc.get("Statement") {
            None => return Err(bad("Missing required field Statement")),
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(one) => vec![one],
        };
        if statements.is_empty() {
            return Err(bad("Could not parse the policy: Statement is empty!"));
        }
        let mut sids = Vec::new();
        let statements = statements
            .into_iter()
            .map(|s| {
                let s = s
                    .as_object()
                    .ok_or_else(|| bad("Statement must be a JSON object"))?;
                if let Some(sid) = s.get("Sid") {
                    let sid = sid.as_str().ok_or_else(|| bad("Sid must be a string"))?;
                    if sids.contains(&sid) {
                        return Err(bad("Statement IDs (SID) in a single policy must be unique"));
                    }
                    sids.push(sid);
                }
                Statement::parse(s, bucket)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }
}

impl Statement {
    fn parse(s: &Map<String, Value>, bucket: &str) -> Result<Statement, Malformed> {
        for field in s.keys() {
            match field.as_str() {
                "Sid" | "Effect" | "Principal" | "Action" | "Resource" | "Condition" => {}
                "NotPrincipal" | "NotAction" | "NotResource" => {
                    return Err(Malformed(format!(
                        "Policy has an unsupported field: {field} is not supported by this server"
                    )))
                }
                _ => return Err(Malformed(format!("Unknown field {field}"))),
            }
        }
        let required = |name: &str| {
            s.get(name)
                .ok_or_else(|| Malformed(format!("Missing required field {name}")))
        };
        let effect = match required("Effect")? {
            Value::String(e) if e == "Allow" => Effect::Allow,
            Value::String(e) if e == "Deny" => Effect::Deny,
            other => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string);
                return Err(Malformed(format!("Invalid effect: {shown}")));
            }
        };
        let principal = parse_principal(required("Principal")?)?;
        let actions = strings(required("Action")?)
            .ok_or_else(|| Malformed("Policy has invalid action".into()))?
            .into_iter()
            .map(|a| check_action(&a).map(|()| a))
            .collect::<Result<Vec<_>, _>>()?;
        let resources = strings(required("Resource")?)
            .ok_or_else(|| Malformed("Policy has invalid resource".into()))?
            .into_iter()
            .map(|r| check_resource(&r, bucket))
            .collect::<Result<Vec<_>, _>>()?;
        let conditions = match s.get("Condition") {
            Some(block) => condition::parse_block(block)?,
            None => Vec::new(),
        };
        let statement = Statement {
            effect,
            principal,
            actions,
            resources,
            conditions,
        };
        if !statement.applies_to_some_resource() {
            return Err(Malformed(
                "Action does not apply to any resource(s) in statement".into(),
            ));
        }
        Ok(statement)
    }

    /// S3 refuses a statement none of whose actions can act on any of its resources (object
    /// actions on the bucket alone, or bucket actions on objects only).
    fn applies_to_some_resource(&self) -> bool {
        let levels: Vec<Level> = self
            .resources
            .iter()
            .map(|r| match r.contains('/') {
                true => Level::Object,
                false => Level::Bucket,
            })
            .collect();
        ACTIONS.iter().any(|(name, level)| {
            levels.contains(level)
                && self
                    .actions
                    .iter()
                    .any(|a| a == "*" || pattern::matches(a, name, true))
        })
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Value) -> Option<Vec<String>> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    (!list.is_empty()).then_some(list)
}

/// `*`, or `s3:` and an action (with wildcards) that names at least one of S3's.
fn check_action(action: &str) -> Result<(), Malformed> {
    let known = action == "*"
        || (action.len() > 3
            && action[..3].eq_ignore_ascii_case("s3:")
            && ACTIONS
                .iter()
                .any(|(name, _)| pattern::matches(action, name, true)));
    match known {
        true => Ok(()),
        false => Err(Malformed("Policy has invalid action".into())),
    }
}

/// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key…` (with wildcards in the key) of the bucket
/// the policy is put on; the resource as matched, without the prefix.
fn check_resource(resource: &str, bucket: &str) -> Result<String, Malformed> {
    let invalid = || Malformed("Policy has invalid resource".into());
    let rest = resource.strip_prefix(ARN).ok_or_else(invalid)?;
    let own = rest == bucket
        || rest
            .strip_prefix(bucket)
            .is_some_and(|k| k.starts_with('/'));
    match own {
        true => Ok(rest.to_string()),
        false => Err(invalid()),
    }
}

fn parse_principal(v: &Value) -> Result<Principal, Malformed> {
    let invalid = || Malformed("Invalid principal in policy".into());
    let map = match v {
        Value::String(s) if s == "*" => return Ok(Principal::Anyone),
        Value::Object(map) if !map.is_empty() => map,
        _ => return Err(invalid()),
    };
    let mut names = Vec::new();
    for (kind, value) in map {
        let values = strings(value).ok_or_else(invalid)?;
        for name in values {
            match kind.as_str() {
                "AWS" if name == "*" => return Ok(Principal::Anyone),
                "AWS" => names.push(aws_principal(&name).ok_or_else(invalid)?),
                "CanonicalUser" if !name.is_empty() && name != "*" => names.push(name),
                _ => return Err(invalid()),
            }
        }
    }
    Ok(Principal::Named(names))
}

/// A user named in `"AWS"`: a user's ARN (`arn:aws:iam::<account>:user/<access key>`, the
/// account not checked: this server is one account), or an access key or canonical id as is.
fn aws_principal(name: &str) -> Option<String> {
    match name.strip_prefix(IAM_ARN) {
        Some(rest) => {
            let (_account, resource) = rest.split_once(':')?;
            let user = resource.strip_prefix("user/")?;
            // An IAM path (`user/path/name`) ends in the name.
            let user = user.rsplit('/').next()?;
            (!user.is_empty() && !user.contains('*')).then(|| user.to_string())
        }
        None if !name.is_empty() && !name.contains(['*', ':', '/']) => Some(name.to_string()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Policy, String> {
        Policy::parse(json, "bkt").map_err(|e| e.0)
    }

    fn statement(fields: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{{{fields}}}]}}"#)
    }

    const BASE: &str = r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#;

    #[test]
    fn a_full_policy_parses() {
        let p = parse(&format!(
            r#"{{"Version":"2012-10-17","Id":"p1","Statement":[
                {{"Sid":"a",{BASE}}},
                {{"Sid":"b","Effect":"Deny","Principal":{{"AWS":["arn:aws:iam::123456789012:user/alice","bob"],"CanonicalUser":"c0ffee"}},
                 "Action":["s3:Put*","s3:DeleteObject"],"Resource":["arn:aws:s3:::bkt","arn:aws:s3:::bkt/private/*"],
                 "Condition":{{"IpAddress":{{"aws:SourceIp":["10.0.0.0/8"]}},"Bool":{{"aws:SecureTransport":false}}}}}}
            ]}}"#
        ))
        .unwrap();
        assert_eq!(p.statements.len(), 2);
        assert_eq!(p.statements[0].principal, Principal::Anyone);
        assert_eq!(
            p.statements[1].principal,
            Principal::Named(vec!["alice".into(), "bob".into(), "c0ffee".into()])
        );
        assert_eq!(p.statements[1].resources, ["bkt", "bkt/private/*"]);
        assert_eq!(p.statements[1].conditions.len(), 2);
        // One statement alone, not in a list, and the old version.
        let one = format!(r#"{{"Version":"2008-10-17","Statement":{{{BASE}}}}}"#);
        assert_eq!(parse(&one).unwrap().statements.len(), 1);
    }

    #[test]
    fn malformed_policies_are_refused_with_s3s_messages() {
        let cases = [
            (
                "not json".to_string(),
                "Policies must be valid JSON and the first byte must be '{'",
            ),
            (
                "{\"Statement\":".to_string(),
                "Policies must be valid JSON and the first byte must be '{'",
            ),
            (
                r#"{"Version":"2012-10-17"}"#.to_string(),
                "Missing required field Statement",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[]}"#.to_string(),
                "Could not parse the policy: Statement is empty!",
            ),
            (
                format!(r#"{{"Version":"2020-01-01","Statement":{{{BASE}}}}}"#),
                "The policy must contain a valid version string",
            ),
            (
                format!(r#"{{"Statement":{{{BASE}}},"Extra":1}}"#),
                "Unknown field Extra",
            ),
            (
                statement(
                    r#""Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Missing required field Effect",
            ),
            (
                statement(
                    r#""Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Invalid effect: Maybe",
            ),
            (
                statement(
                    r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Missing required field Principal",
            ),
            (
                statement(r#""Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::bkt/*""#),
                "Missing required field Action",
            ),
            (
                statement(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject""#),
                "Missing required field Resource",
            ),
            (
                statement(&format!(r#"{BASE},"NotPrincipal":{{"AWS":"x"}}"#)),
                "Policy has an unsupported field: NotPrincipal is not supported by this server",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Policy has an unsupported field: NotAction is not supported by this server",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::bkt/*""#,
                ),
                "Policy has an unsupported field: NotResource is not supported by this server",
            ),
            (
                statement(&format!(r#"{BASE},"Foo":1"#)),
                "Unknown field Foo",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"iam:CreateUser","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Policy has invalid action",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Policy has invalid action",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*""#,
                ),
                "Policy has invalid resource",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt2/*""#,
                ),
                "Policy has invalid resource",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*""#,
                ),
                "Policy has invalid resource",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt""#,
                ),
                "Action does not apply to any resource(s) in statement",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Action does not apply to any resource(s) in statement",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":"someone@example.com:x","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Invalid principal in policy",
            ),
            (
                statement(
                    r#""Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#,
                ),
                "Invalid principal in policy",
            ),
            (
                statement(&format!(
                    r#"{BASE},"Condition":{{"StringEquals":{{"aws:username":"x"}}}}"#
                )),
                "Policy has an invalid condition key",
            ),
            (
                statement(&format!(
                    r#"{BASE},"Condition":{{"StringSortOf":{{"aws:Referer":"x"}}}}"#
                )),
                "Invalid Condition type : StringSortOf",
            ),
            (
                format!(r#"{{"Statement":[{{"Sid":"x",{BASE}}},{{"Sid":"x",{BASE}}}]}}"#),
                "Statement IDs (SID) in a single policy must be unique",
            ),
        ];
        for (doc, message) in cases {
            assert_eq!(parse(&doc).unwrap_err(), message, "{doc}");
        }
    }

    #[test]
    fn principals() {
        let p = |v: &str| parse_principal(&serde_json::from_str(v).unwrap());
        assert_eq!(p(r#""*""#).unwrap(), Principal::Anyone);
        assert_eq!(p(r#"{"AWS":"*"}"#).unwrap(), Principal::Anyone);
        assert_eq!(p(r#"{"AWS":["*"]}"#).unwrap(), Principal::Anyone);
        assert_eq!(
            p(r#"{"AWS":"arn:aws:iam::s3gate:user/team/AKIDALICE"}"#).unwrap(),
            Principal::Named(vec!["AKIDALICE".into()])
        );
        assert!(p(r#"{"AWS":"arn:aws:iam::1:root"}"#).is_err());
        assert!(p(r#"{"AWS":[]}"#).is_err());
        assert!(p(r#"{}"#).is_err());
        assert!(p(r#""alice""#).is_err());
    }
}
