//! CORS, as S3 does it: a bucket's rules (Put/Get/DeleteBucketCors, kept in its record), the
//! preflight `OPTIONS` that a browser sends unsigned before a cross-origin request, and the
//! headers that let a page read the answer of the request itself, errors included. Buckets
//! without rules of their own follow the server-wide rule (`--allow-origin`) when there is one.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use s3gate_config::Config;
use s3gate_vfs::{BucketRecord, CorsRule};

use crate::ctx::{Ctx, ServerState};
use crate::error::{S3Error, S3Result};
use crate::headers::header;
use crate::intake::Lent;
use crate::xml::{self, malformed, xml_ok, Xml};

/// The methods a rule may allow, as S3 spells them (case matters).
const METHODS: [&str; 5] = ["GET", "HEAD", "PUT", "POST", "DELETE"];

/// The most rules one configuration holds, as in S3.
const MAX_RULES: usize = 100;

/// The longest rule ID, as in S3.
const MAX_ID: usize = 255;

/// S3's limit on a CORS configuration document.
const MAX_BODY: usize = 64 * 1024;

/// A refused preflight, in S3's words (its spelling included).
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// What a cacheable CORS answer depends on.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

pub(crate) async fn put(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let body = ctx.digested_body(payload)?;
    let rules = parse_rules(&ctx.small_body(body, MAX_BODY).await?)?;
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.cors = Some(rules.clone());
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().finish())
}

pub(crate) async fn get(ctx: &Ctx) -> S3Result<HttpResponse> {
    let rules = ctx.bucket_record().await?.cors.as_deref().ok_or_else(|| {
        S3Error::no_such_cors_configuration("The CORS configuration does not exist")
    })?;
    let mut x = Xml::document("CORSConfiguration", true);
    for rule in rules {
        x.open("CORSRule");
        if let Some(id) = &rule.id {
            x.elem("ID", id);
        }
        for (tag, values) in [
            ("AllowedHeader", &rule.allowed_headers),
            ("AllowedMethod", &rule.allowed_methods),
            ("AllowedOrigin", &rule.allowed_origins),
            ("ExposeHeader", &rule.expose_headers),
        ] {
            for v in values {
                x.elem(tag, v);
            }
        }
        if let Some(age) = rule.max_age_seconds {
            x.elem_num("MaxAgeSeconds", age);
        }
        x.close();
    }
    Ok(xml_ok(x.finish()))
}

pub(crate) async fn delete(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.cors = None;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A `CORSConfiguration` document, checked as S3 checks it.
fn parse_rules(body: &[u8]) -> S3Result<Vec<CorsRule>> {
    let doc = xml::parse(body, "CORSConfiguration")?;
    if doc.children.iter().any(|c| c.name != "CORSRule") {
        return Err(malformed("CORSConfiguration holds only CORSRule elements"));
    }
    let rules = doc
        .all("CORSRule")
        .map(parse_rule)
        .collect::<S3Result<Vec<_>>>()?;
    if rules.is_empty() {
        return Err(malformed("no CORSRule"));
    }
    if rules.len() > MAX_RULES {
        return Err(malformed("more than 100 CORSRule elements"));
    }
    Ok(rules)
}

fn parse_rule(node: &xml::Node) -> S3Result<CorsRule> {
    let mut rule = CorsRule::default();
    for c in &node.children {
        let text = c.text.trim().to_string();
        match c.name.as_str() {
            "ID" if rule.id.is_none() => {
                if text.len() > MAX_ID {
                    return Err(S3Error::invalid_argument(
                        "ID length should not exceed allowed limit of 255",
                    ));
                }
                rule.id = Some(text);
            }
            "AllowedMethod" => {
                if !METHODS.contains(&text.as_str()) {
                    return Err(S3Error::invalid_request(format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {text}"
                    )));
                }
                rule.allowed_methods.push(text);
            }
            "AllowedOrigin" => rule.allowed_origins.push(one_wildcard(c, text)?),
            "AllowedHeader" => rule.allowed_headers.push(one_wildcard(c, text)?),
            "ExposeHeader" => {
                if text.contains('*') {
                    return Err(S3Error::invalid_request(format!(
                        "ExposeHeader \"{text}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                    )));
                }
                rule.expose_headers.push(header_text(c, text)?);
            }
            "MaxAgeSeconds" if rule.max_age_seconds.is_none() => {
                let age = text
                    .parse::<u32>()
                    .map_err(|_| malformed("MaxAgeSeconds must be a non-negative integer"))?;
                rule.max_age_seconds = Some(age);
            }
            other => return Err(malformed(&format!("unexpected {other} in a CORSRule"))),
        }
    }
    if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
        return Err(malformed(
            "a CORSRule needs an AllowedMethod and an AllowedOrigin",
        ));
    }
    Ok(rule)
}

/// An origin or header pattern: at most one `*`.
fn one_wildcard(node: &xml::Node, text: String) -> S3Result<String> {
    if text.matches('*').count() > 1 {
        return Err(S3Error::invalid_request(format!(
            "{} \"{text}\" can not have more than one wildcard.",
            node.name
        )));
    }
    header_text(node, text)
}

/// Every value of a rule is sent back in a response header one day: it must be one.
fn header_text(node: &xml::Node, text: String) -> S3Result<String> {
    if HeaderValue::from_str(&text).is_err() || text.contains(',') {
        return Err(S3Error::invalid_request(format!(
            "{} \"{}\" is not a valid value",
            node.name,
            text.escape_debug()
        )));
    }
    Ok(text)
}

/// The rule the server applies to buckets without rules of their own (`--allow-origin`).
fn server_rule(config: &Config) -> Option<CorsRule> {
    config.server.allow_origin.as_ref().map(|origin| CorsRule {
        allowed_origins: vec![origin.clone()],
        allowed_methods: METHODS.iter().map(|m| m.to_string()).collect(),
        allowed_headers: vec!["*".to_string()],
        expose_headers: vec!["ETag".to_string()],
        ..CorsRule::default()
    })
}

/// The rules a bucket's browser requests are held to: its own, or else the server-wide one
/// (`record` is `None` when there is no bucket to ask, or it does not exist).
fn rules_of<'a>(
    record: Option<&'a BucketRecord>,
    fallback: &'a Option<CorsRule>,
) -> &'a [CorsRule] {
    match record.and_then(|r| r.cors.as_deref()) {
        Some(rules) => rules,
        None => fallback.as_slice(),
    }
}

/// `value` matches `pattern`, whose one `*` stands for any run of characters.
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.is_char_boundary(head.len())
                && value.is_char_boundary(value.len() - tail.len())
                && eq(head, &value[..head.len()])
                && eq(tail, &value[value.len() - tail.len()..])
        }
    }
}

/// The first rule that allows `origin` to send `method` with `headers` (S3 takes the first).
fn find<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|p| wildcard_match(p, h, true)))
    })
}

/// The headers that grant `origin` what `rule` allows. An origin allowed as `*` is answered
/// `*`, without credentials, as S3 does.
fn grant(headers: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    if rule.allowed_origins.iter().any(|o| o == "*") {
        set("access-control-allow-origin", "*");
    } else {
        set("access-control-allow-origin", origin);
        set("access-control-allow-credentials", "true");
    }
    set(
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set("access-control-max-age", &age.to_string());
    }
    set("vary", VARY);
}

/// The preflight `OPTIONS`: may a page of `Origin` send `Access-Control-Request-Method` with
/// `Access-Control-Request-Headers` here? Answered before authentication, presigned URLs
/// included; a bucket that does not exist is refused like one that allows nothing.
pub(crate) async fn preflight(ctx: &Ctx) -> S3Result<HttpResponse> {
    let origin = ctx.header("origin").ok_or_else(|| {
        S3Error::bad_request("Insufficient information. Origin request header needed.")
    })?;
    let method = ctx.header("access-control-request-method").unwrap_or("");
    if !METHODS.contains(&method) {
        return Err(S3Error::bad_request(format!(
            "Invalid Access-Control-Request-Method: {method}"
        )));
    }
    let requested: Vec<&str> = ctx
        .header("access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let record = match ctx.bucket.is_empty() {
        true => None,
        false => match ctx.bucket_record().await {
            Ok(r) => Some(r),
            Err(e) if is_no_bucket(&e) => None,
            Err(e) => return Err(e),
        },
    };
    let fallback = server_rule(&ctx.state.config);
    let rules = rules_of(record, &fallback);
    if rules.is_empty() {
        return Err(S3Error::access_forbidden(match record {
            Some(_) => "CORSResponse: CORS is not enabled for this bucket.",
            None => "CORSResponse: Bucket not found",
        }));
    }
    let rule = find(rules, origin, method, &requested)
        .ok_or_else(|| S3Error::access_forbidden(NOT_ALLOWED))?;
    let mut resp = HttpResponse::Ok().finish();
    grant(resp.headers_mut(), rule, origin);
    if !requested.is_empty() {
        let asked = requested.join(", ").to_ascii_lowercase();
        if let Ok(v) = HeaderValue::from_str(&asked) {
            resp.headers_mut()
                .insert(HeaderName::from_static("access-control-allow-headers"), v);
        }
    }
    Ok(resp)
}

/// The bucket's record could not be read because there is no such bucket to read it from.
fn is_no_bucket(e: &S3Error) -> bool {
    e.status == StatusCode::NOT_FOUND || e.code == "InvalidBucketName"
}

/// Grants a browser request what the rule matching its `Origin` and method allows, on any
/// answer, errors included (so that a page can read a 404 or a refused signature). `ctx` is
/// the request's context when it got that far, whose record may be read already; `bucket` is
/// the bucket the request named. Requests without `Origin` cost nothing here.
pub(crate) async fn answer(
    req: &HttpRequest,
    state: &ServerState,
    ctx: Option<&Ctx>,
    bucket: &str,
    resp: &mut HttpResponse,
) {
    let Some(origin) = header(req.head(), "origin") else {
        return;
    };
    let read;
    let record = match ctx {
        _ if bucket.is_empty() => None,
        Some(ctx) => ctx.bucket_record().await.ok(),
        None => {
            read = state.vfs.bucket(bucket).await.ok();
            read.as_ref()
        }
    };
    let fallback = server_rule(&state.config);
    if let Some(rule) = find(
        rules_of(record, &fallback),
        origin,
        req.method().as_str(),
        &[],
    ) {
        grant(resp.headers_mut(), rule, origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rules: &str) -> Vec<u8> {
        format!("<CORSConfiguration>{rules}</CORSConfiguration>").into_bytes()
    }

    fn code(body: &[u8]) -> &'static str {
        parse_rules(body).unwrap_err().code
    }

    #[test]
    fn wildcards_stand_for_any_run() {
        assert!(wildcard_match("*", "https://a.example", false));
        assert!(wildcard_match(
            "https://*.example",
            "https://a.b.example",
            false
        ));
        assert!(!wildcard_match(
            "https://*.example",
            "http://a.example",
            false
        ));
        // The run may be empty, but head and tail may not overlap.
        assert!(wildcard_match("ab*ba", "abba", false));
        assert!(!wildcard_match("ab*ba", "aba", false));
        assert!(wildcard_match("x-amz-*", "X-Amz-Date", true));
        assert!(!wildcard_match("x-amz-*", "X-Amz-Date", false));
        assert!(!wildcard_match("é*", "e", false));
    }

    #[test]
    fn documents_are_checked_as_s3_checks_them() {
        let rules = parse_rules(&doc("<CORSRule><ID> r1 </ID><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://*.example</AllowedOrigin><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>")).unwrap();
        assert_eq!(
            rules,
            [CorsRule {
                id: Some("r1".into()),
                allowed_origins: vec!["https://*.example".into()],
                allowed_methods: vec!["GET".into(), "PUT".into()],
                allowed_headers: vec!["*".into()],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(3000),
            }]
        );
        let ok = "<AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>";
        for (body, want) in [
            (doc(""), "MalformedXML"),
            (doc("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"), "MalformedXML"),
            (doc("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"), "MalformedXML"),
            (doc("<CORSRule><AllowedMethod>PATCH</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>"), "InvalidRequest"),
            (doc("<CORSRule><AllowedMethod>get</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>"), "InvalidRequest"),
            (doc("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*.*</AllowedOrigin></CORSRule>"), "InvalidRequest"),
            (doc(&format!("<CORSRule>{ok}<AllowedHeader>a*b*</AllowedHeader></CORSRule>")), "InvalidRequest"),
            (doc(&format!("<CORSRule>{ok}<ExposeHeader>x-*</ExposeHeader></CORSRule>")), "InvalidRequest"),
            (doc(&format!("<CORSRule>{ok}<MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule>")), "MalformedXML"),
            (doc(&format!("<CORSRule>{ok}<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>")), "MalformedXML"),
            (doc(&format!("<CORSRule>{ok}<ID>{}</ID></CORSRule>", "i".repeat(256))), "InvalidArgument"),
            (doc(&format!("<CORSRule>{ok}<Bogus/></CORSRule>")), "MalformedXML"),
            (doc(&format!("<CORSRule>{ok}</CORSRule><Other/>")), "MalformedXML"),
            (doc(&format!("<CORSRule>{ok}</CORSRule>").repeat(101)), "MalformedXML"),
            (b"<CORSConfiguration><CORSRule>".to_vec(), "MalformedXML"),
        ] {
            assert_eq!(code(&body), want, "{}", String::from_utf8_lossy(&body));
        }
        assert_eq!(
            parse_rules(&doc(&format!("<CORSRule>{ok}</CORSRule>").repeat(100)))
                .unwrap()
                .len(),
            100
        );
    }

    #[test]
    fn the_first_rule_that_allows_everything_asked_wins() {
        let rule = |origin: &str, method: &str, header: &str| CorsRule {
            allowed_origins: vec![origin.into()],
            allowed_methods: vec![method.into()],
            allowed_headers: vec![header.into()],
            ..CorsRule::default()
        };
        let rules = [
            rule("https://a.example", "PUT", "content-*"),
            rule("*", "PUT", "*"),
            rule("*", "GET", "x-one"),
        ];
        let found = |o, m, h: &[&str]| find(&rules, o, m, h).map(|r| r.allowed_origins[0].clone());
        assert_eq!(
            found("https://a.example", "PUT", &["Content-Type"]).as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            found("https://a.example", "PUT", &["x-amz-date"]).as_deref(),
            Some("*")
        );
        assert_eq!(
            found("https://b.example", "GET", &["X-One"]).as_deref(),
            Some("*")
        );
        assert_eq!(found("https://b.example", "GET", &["x-one", "x-two"]), None);
        assert_eq!(found("https://b.example", "DELETE", &[]), None);
    }
}
