//! A statement's `Condition`: operators and keys, each checked when the policy is put (one
//! this server does not know is refused, never ignored: a condition skipped would turn a
//! conditional Allow into an unconditional one) and evaluated against a request's facts.

use std::net::IpAddr;

use serde_json::Value;

use super::facts::RequestFacts;
use super::pattern;
use super::Malformed;

/// How the values of one key are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    StringEquals,
    StringLike,
    Bool,
    Ip,
    Numeric(Order),
    Date(Order),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// An operator: what it compares, whether it is the negated form (true when no value
/// matches), and whether a key absent from the request passes (`…IfExists`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Compare {
        how: Compare,
        negated: bool,
        if_exists: bool,
    },
    /// `Null`: whether the key is absent.
    Null,
}

impl Operator {
    fn parse(name: &str) -> Result<Operator, Malformed> {
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let (how, negated) = match base {
            "Null" if !if_exists => return Ok(Operator::Null),
            "StringEquals" => (Compare::StringEquals, false),
            "StringNotEquals" => (Compare::StringEquals, true),
            "StringLike" => (Compare::StringLike, false),
            "StringNotLike" => (Compare::StringLike, true),
            "Bool" => (Compare::Bool, false),
            "IpAddress" => (Compare::Ip, false),
            "NotIpAddress" => (Compare::Ip, true),
            "NumericEquals" => (Compare::Numeric(Order::Equals), false),
            "NumericNotEquals" => (Compare::Numeric(Order::Equals), true),
            "NumericLessThan" => (Compare::Numeric(Order::LessThan), false),
            "NumericLessThanEquals" => (Compare::Numeric(Order::LessThanEquals), false),
            "NumericGreaterThan" => (Compare::Numeric(Order::GreaterThan), false),
            "NumericGreaterThanEquals" => (Compare::Numeric(Order::GreaterThanEquals), false),
            "DateEquals" => (Compare::Date(Order::Equals), false),
            "DateNotEquals" => (Compare::Date(Order::Equals), true),
            "DateLessThan" => (Compare::Date(Order::LessThan), false),
            "DateLessThanEquals" => (Compare::Date(Order::LessThanEquals), false),
            "DateGreaterThan" => (Compare::Date(Order::GreaterThan), false),
            "DateGreaterThanEquals" => (Compare::Date(Order::GreaterThanEquals), false),
            _ => return Err(Malformed(format!("Invalid Condition type : {name}"))),
        };
        Ok(Operator::Compare {
            how,
            negated,
            if_exists,
        })
    }
}

/// The condition keys this server fills in, in lower case (keys compare without regard to
/// case); the tag keys are prefixes followed by a tag's own key, which keeps its case.
const KEYS: [&str; 13] = [
    "aws:sourceip",
    "aws:securetransport",
    "aws:referer",
    "aws:useragent",
    "aws:currenttime",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:x-amz-acl",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption",
    "s3:versionid",
];
pub(crate) const EXISTING_TAG: &str = "s3:existingobjecttag/";
pub(crate) const REQUEST_TAG: &str = "s3:requestobjecttag/";

/// A key as the facts name it: lower case, but for the tag key after a tag prefix.
fn key_name(key: &str) -> Result<String, Malformed> {
    let lower = key.to_ascii_lowercase();
    for prefix in [EXISTING_TAG, REQUEST_TAG] {
        if lower.starts_with(prefix) && key.len() > prefix.len() {
            return Ok(format!("{prefix}{}", &key[prefix.len()..]));
        }
    }
    if KEYS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    Err(Malformed("Policy has an invalid condition key".into()))
}

/// One test: an operator over one key and its values (any of which may match).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    op: Operator,
    pub(crate) key: String,
    values: Vec<String>,
}

/// A statement's `Condition` block: every operator, every key under it.
pub(crate) fn parse_block(block: &Value) -> Result<Vec<Condition>, Malformed> {
    let bad = || Malformed("Invalid Condition block".into());
    let ops = block.as_object().ok_or_else(bad)?;
    let mut out = Vec::new();
    for (name, keys) in ops {
        let op = Operator::parse(name)?;
        for (key, values) in keys.as_object().ok_or_else(bad)? {
            let values = match values {
                Value::Array(list) => list.iter().map(scalar).collect::<Option<Vec<_>>>(),
                one => scalar(one).map(|v| vec![v]),
            }
            .filter(|v| !v.is_empty())
            .ok_or_else(bad)?;
            let c = Condition {
                op,
                key: key_name(key)?,
                values,
            };
            c.check_values()?;
            out.push(c);
        }
    }
    Ok(out)
}

/// A condition value: JSON text, a number or a boolean, as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Condition {
    /// Values that can never match are refused when the policy is put, not found out later.
    fn check_values(&self) -> Result<(), Malformed> {
        let ok = match self.op {
            Operator::Null => self.values.iter().all(|v| parse_bool(v).is_some()),
            Operator::Compare { how, .. } => self.values.iter().all(|v| match how {
                Compare::StringEquals | Compare::StringLike => true,
                Compare::Bool => parse_bool(v).is_some(),
                Compare::Ip => Cidr::parse(v).is_some(),
                Compare::Numeric(_) => v.trim().parse::<f64>().is_ok(),
                Compare::Date(_) => parse_date(v).is_some(),
            }),
        };
        if ok {
            Ok(())
        } else {
            Err(Malformed(format!(
                "Invalid Condition value for key {}",
                self.key
            )))
        }
    }

    /// Whether the request passes this condition.
    pub(crate) fn holds(&self, facts: &RequestFacts) -> bool {
        let present = facts.value(&self.key);
        match self.op {
            Operator::Null => {
                let want_absent = self.values.iter().any(|v| parse_bool(v) == Some(true));
                let want_present = self.values.iter().any(|v| parse_bool(v) == Some(false));
                (want_absent && present.is_none()) || (want_present && present.is_some())
            }
            Operator::Compare {
                how,
                negated,
                if_exists,
            } => match present {
                // A key the request lacks: only the negated operators and `…IfExists` pass.
                None => negated || if_exists,
                Some(actual) => {
                    let any = self.values.iter().any(|want| compare(how, actual, want));
                    any != negated
                }
            },
        }
    }

    /// Whether this condition holds the statement to a fixed set of source addresses, which
    /// makes a statement granting everyone non-public as S3 judges it.
    pub(crate) fn restricts_source(&self) -> bool {
        self.key == "aws:sourceip"
            && self.op
                == (Operator::Compare {
                    how: Compare::Ip,
                    negated: false,
                    if_exists: false,
                })
            && self
                .values
                .iter()
                .filter_map(|v| Cidr::parse(v))
                .all(|c| c.len >= if c.addr.is_ipv4() { 8 } else { 32 })
    }
}

fn compare(how: Compare, actual: &str, want: &str) -> bool {
    match how {
        Compare::StringEquals => actual == want,
        Compare::StringLike => pattern::matches(want, actual, false),
        Compare::Bool => parse_bool(actual).is_some() && parse_bool(actual) == parse_bool(want),
        Compare::Ip => match (actual.parse::<IpAddr>(), Cidr::parse(want)) {
            (Ok(ip), Some(net)) => net.contains(ip),
            _ => false,
        },
        Compare::Numeric(order) => match (actual.trim().parse::<f64>(), want.trim().parse::<f64>())
        {
            (Ok(a), Ok(w)) => order.holds(a.partial_cmp(&w)),
            _ => false,
        },
        Compare::Date(order) => match (parse_date(actual), parse_date(want)) {
            (Some(a), Some(w)) => order.holds(Some(a.cmp(&w))),
            _ => false,
        },
    }
}

impl Order {
    fn holds(self, ord: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::*;
        matches!(
            (self, ord),
            (Order::Equals, Some(Equal))
                | (Order::LessThan, Some(Less))
                | (Order::LessThanEquals, Some(Less | Equal))
                | (Order::GreaterThan, Some(Greater))
                | (Order::GreaterThanEquals, Some(Greater | Equal))
        )
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A date as policies write it: ISO 8601 (RFC 3339) or seconds since the epoch; in
/// nanoseconds since the epoch.
fn parse_date(v: &str) -> Option<i128> {
    if let Ok(secs) = v.trim().parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// An address block, `a.b.c.d/n` or IPv6; an address alone is its own block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    fn parse(v: &str) -> Option<Cidr> {
        let (addr, len) = match v.trim().split_once('/') {
            Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
            None => {
                let a = v.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(Cidr { addr, len })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(json: &str) -> Result<Vec<Condition>, Malformed> {
        parse_block(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn unknown_operators_and_keys_are_refused() {
        let e = block(r#"{"StringEqualz": {"aws:Referer": "x"}}"#).unwrap_err();
        assert_eq!(e.0, "Invalid Condition type : StringEqualz");
        let e = block(r#"{"ForAnyValue:StringEquals": {"aws:Referer": "x"}}"#).unwrap_err();
        assert!(e.0.starts_with("Invalid Condition type"));
        let e = block(r#"{"StringEquals": {"aws:PrincipalOrgID": "x"}}"#).unwrap_err();
        assert_eq!(e.0, "Policy has an invalid condition key");
        assert!(block(r#"{"NullIfExists": {"s3:prefix": "true"}}"#).is_err());
        assert!(block(r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}"#).is_err());
        assert!(block(r#"{"Bool": {"aws:SecureTransport": "maybe"}}"#).is_err());
        assert!(block(r#"{"NumericLessThan": {"s3:max-keys": "ten"}}"#).is_err());
        assert!(block(r#"{"DateLessThan": {"aws:CurrentTime": "tomorrow"}}"#).is_err());
        assert!(block(r#"{"StringEquals": {"s3:prefix": []}}"#).is_err());
        assert!(block(r#"{"StringEquals": {"s3:prefix": {"a": 1}}}"#).is_err());
    }

    #[test]
    fn keys_compare_without_case_but_tag_keys_keep_theirs() {
        let c =
            block(r#"{"StringEquals": {"S3:ExistingObjectTag/Team": "x", "AWS:REFERER": "y"}}"#)
                .unwrap();
        let keys: Vec<_> = c.iter().map(|c| c.key.as_str()).collect();
        assert!(keys.contains(&"s3:existingobjecttag/Team"));
        assert!(keys.contains(&"aws:referer"));
    }

    #[test]
    fn address_blocks() {
        let net = Cidr::parse("192.168.1.0/24").unwrap();
        assert!(net.contains("192.168.1.77".parse().unwrap()));
        assert!(!net.contains("192.168.2.1".parse().unwrap()));
        assert!(net.contains("::ffff:192.168.1.5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn orders_and_dates() {
        assert!(compare(Compare::Numeric(Order::LessThanEquals), "10", "10"));
        assert!(!compare(Compare::Numeric(Order::LessThan), "10", "10"));
        assert!(compare(
            Compare::Date(Order::LessThan),
            "2020-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z"
        ));
        assert!(compare(
            Compare::Date(Order::GreaterThan),
            "2020-01-01T00:00:00Z",
            "0"
        ));
        assert!(compare(Compare::Bool, "TRUE", "true"));
        assert!(compare(
            Compare::StringLike,
            "photos/2024/a.jpg",
            "photos/*.jpg"
        ));
        assert!(!compare(Compare::StringEquals, "Photos", "photos"));
    }
}
