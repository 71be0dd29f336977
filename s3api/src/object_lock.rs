//! Object lock: Put/GetObjectLockConfiguration (whether lock is on, and the default retention
//! new versions get), and per version Put/GetObjectRetention and Put/GetObjectLegalHold. The
//! documents are read with or without S3's namespace (Veeam sends none). The lock itself is
//! kept and enforced by the VFS (`object_lock.rs` there).

use actix_web::HttpResponse;
use s3gate_vfs::{
    DefaultRetention, LockChange, LockConfig, ObjectInfo, RetentionPeriod, Versioning, VfsError,
};

use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::intake::Lent;
use crate::lock_headers::{
    format_date, future_retention, missing_configuration, mode_name, parse_date, parse_mode,
};
use crate::xml::{malformed, parse, xml_ok, Node, Xml};

/// The largest lock document: a few short elements, with room for markup.
const MAX_LOCK_BODY: usize = 4 * 1024;
/// S3's longest default retention.
const MAX_DAYS: i64 = 36_500;
const MAX_YEARS: i64 = 100;

/// The text of `node`'s child `name`, trimmed.
fn text<'a>(node: &'a Node, name: &str) -> Option<&'a str> {
    node.child(name).map(|c| c.text.trim())
}

/// An `ObjectLockConfiguration` document: `ObjectLockEnabled` must say `Enabled`; a `Rule`, when
/// there is one, holds a `DefaultRetention` with a mode and exactly one positive period.
fn parse_config(body: &[u8]) -> S3Result<LockConfig> {
    let doc = parse(body, "ObjectLockConfiguration")?;
    if text(&doc, "ObjectLockEnabled") != Some("Enabled") {
        return Err(malformed("ObjectLockEnabled must be Enabled"));
    }
    let Some(rule) = doc.child("Rule") else {
        return Ok(LockConfig::default());
    };
    let retention = rule
        .child("DefaultRetention")
        .ok_or_else(|| malformed("a Rule without DefaultRetention"))?;
    let mode = text(retention, "Mode")
        .and_then(parse_mode)
        .ok_or_else(|| malformed("Mode must be GOVERNANCE or COMPLIANCE"))?;
    let number = |name| {
        text(retention, name)
            .map(|t| {
                t.parse::<i64>()
                    .map_err(|_| malformed(&format!("{name} must be an integer")))
            })
            .transpose()
    };
    let (value, max, make): (i64, i64, fn(u32) -> RetentionPeriod) =
        match (number("Days")?, number("Years")?) {
            (Some(d), None) => (d, MAX_DAYS, RetentionPeriod::Days),
            (None, Some(y)) => (y, MAX_YEARS, RetentionPeriod::Years),
            _ => {
                return Err(malformed(
                    "DefaultRetention takes exactly one of Days and Years",
                ))
            }
        };
    if value <= 0 {
        return Err(S3Error::invalid_retention_period(
            "Default retention period must be a positive integer value",
        ));
    }
    if value > max {
        return Err(S3Error::invalid_retention_period(
            "Default retention period is too large.",
        ));
    }
    Ok(LockConfig {
        default_retention: Some(DefaultRetention {
            mode,
            period: make(value as u32),
        }),
    })
}

/// GetObjectLockConfiguration.
pub(crate) async fn get_config(ctx: &Ctx) -> S3Result<HttpResponse> {
    let Some(config) = ctx.bucket_record().await?.object_lock else {
        return Err(S3Error::object_lock_configuration_not_found(
            "Object Lock configuration does not exist for this bucket",
        ));
    };
    let mut x = Xml::document("ObjectLockConfiguration", true);
    x.elem("ObjectLockEnabled", "Enabled");
    if let Some(d) = config.default_retention {
        x.open("Rule")
            .open("DefaultRetention")
            .elem("Mode", mode_name(d.mode));
        match d.period {
            RetentionPeriod::Days(n) => x.elem_num("Days", n),
            RetentionPeriod::Years(n) => x.elem_num("Years", n),
        };
        x.close().close();
    }
    Ok(xml_ok(x.finish()))
}

/// PutObjectLockConfiguration: enables lock on a bucket whose versioning is Enabled (as S3
/// allows since 2023), or replaces its default retention; lock never goes once on.
pub(crate) async fn put_config(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    ctx.bucket_record().await?;
    if let Some(why) = ctx.vfs().versions_unsupported() {
        return Err(S3Error::not_implemented(format!(
            "Object lock cannot be enabled: {why}"
        )));
    }
    let body = ctx
        .small_body(ctx.digested_body(payload)?, MAX_LOCK_BODY)
        .await?;
    let config = parse_config(&body)?;
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            if r.object_lock.is_none() && r.versioning != Versioning::Enabled {
                return Err(VfsError::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                ));
            }
            r.object_lock = Some(config);
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().finish())
}

/// The version a retention or legal hold request names (the current one without an id), in a
/// bucket with object lock.
async fn version(ctx: &Ctx, version_id: Option<&str>) -> S3Result<ObjectInfo> {
    if ctx.bucket_record().await?.object_lock.is_none() {
        return Err(missing_configuration());
    }
    ctx.object_version(version_id).await
}

fn no_lock() -> S3Error {
    S3Error::no_such_object_lock_configuration(
        "The specified object does not have a ObjectLock configuration",
    )
}

/// The document of a PutObjectRetention or PutObjectLegalHold, in a bucket with lock.
async fn document(ctx: &Ctx, payload: Lent) -> S3Result<Vec<u8>> {
    if ctx.bucket_record().await?.object_lock.is_none() {
        return Err(missing_configuration());
    }
    ctx.small_body(ctx.digested_body(payload)?, MAX_LOCK_BODY)
        .await
}

/// GetObjectRetention.
pub(crate) async fn get_retention(ctx: &Ctx, version_id: Option<&str>) -> S3Result<HttpResponse> {
    let info = version(ctx, version_id).await?;
    let r = info.attrs.lock.retention.ok_or_else(no_lock)?;
    let mut x = Xml::document("Retention", true);
    x.elem("Mode", mode_name(r.mode))
        .elem("RetainUntilDate", &format_date(r.until_ns));
    Ok(xml_ok(x.finish()))
}

/// PutObjectRetention: a `Retention` with a mode and a date, or neither (no retention). A
/// running retention is shortened, weakened or lifted only as the VFS's guard allows.
pub(crate) async fn put_retention(
    ctx: &Ctx,
    version_id: Option<&str>,
    payload: Lent,
) -> S3Result<HttpResponse> {
    let body = document(ctx, payload).await?;
    let doc = parse(&body, "Retention")?;
    let retention = match (text(&doc, "Mode"), text(&doc, "RetainUntilDate")) {
        (None, None) => None,
        (Some(m), Some(d)) => {
            let mode =
                parse_mode(m).ok_or_else(|| malformed("Mode must be GOVERNANCE or COMPLIANCE"))?;
            let until =
                parse_date(d).ok_or_else(|| malformed("RetainUntilDate must be ISO 8601"))?;
            Some(future_retention(mode, until)?)
        }
        _ => return Err(malformed("Mode and RetainUntilDate go together")),
    };
    let bypass = ctx.bypasses_governance().await?;
    ctx.vfs()
        .set_object_lock(
            &ctx.bucket,
            &ctx.key,
            version_id,
            LockChange::Retention(retention),
            bypass,
        )
        .await?;
    Ok(HttpResponse::Ok().finish())
}

/// GetObjectLegalHold.
pub(crate) async fn get_legal_hold(ctx: &Ctx, version_id: Option<&str>) -> S3Result<HttpResponse> {
    let info = version(ctx, version_id).await?;
    let on = info.attrs.lock.legal_hold.ok_or_else(no_lock)?;
    let mut x = Xml::document("LegalHold", true);
    x.elem("Status", if on { "ON" } else { "OFF" });
    Ok(xml_ok(x.finish()))
}

/// PutObjectLegalHold: `ON` or `OFF`, at any time.
pub(crate) async fn put_legal_hold(
    ctx: &Ctx,
    version_id: Option<&str>,
    payload: Lent,
) -> S3Result<HttpResponse> {
    let body = document(ctx, payload).await?;
    let on = match text(&parse(&body, "LegalHold")?, "Status") {
        Some("ON") => true,
        Some("OFF") => false,
        _ => return Err(malformed("Status must be ON or OFF")),
    };
    ctx.vfs()
        .set_object_lock(
            &ctx.bucket,
            &ctx.key,
            version_id,
            LockChange::LegalHold(on),
            false,
        )
        .await?;
    Ok(HttpResponse::Ok().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3gate_vfs::RetentionMode;

    fn code(body: &str) -> &'static str {
        parse_config(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn lock_configurations_parse_with_or_without_the_namespace() {
        let plain = parse_config(
            b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
              <Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>2</Years>\
              </DefaultRetention></Rule></ObjectLockConfiguration>",
        )
        .unwrap();
        assert_eq!(
            plain.default_retention,
            Some(DefaultRetention {
                mode: RetentionMode::Compliance,
                period: RetentionPeriod::Years(2)
            })
        );
        let ns = parse_config(
            br#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"#,
        )
        .unwrap();
        assert_eq!(ns, LockConfig::default());
    }

    #[test]
    fn lock_configurations_are_checked_as_s3_checks_them() {
        let rule = |inner: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
                 <Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        };
        assert_eq!(code("<ObjectLockConfiguration/>"), "MalformedXML");
        assert_eq!(
            code("<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>"),
            "MalformedXML"
        );
        assert_eq!(code(&rule("<Mode>GOVERNANCE</Mode>")), "MalformedXML");
        assert_eq!(
            code(&rule(
                "<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"
            )),
            "MalformedXML"
        );
        assert_eq!(
            code(&rule("<Mode>LOOSE</Mode><Days>1</Days>")),
            "MalformedXML"
        );
        assert_eq!(code(&rule("<Days>1</Days>")), "MalformedXML");
        assert_eq!(
            code(&rule("<Mode>GOVERNANCE</Mode><Days>0</Days>")),
            "InvalidRetentionPeriod"
        );
        assert_eq!(
            code(&rule("<Mode>GOVERNANCE</Mode><Years>-1</Years>")),
            "InvalidRetentionPeriod"
        );
        assert_eq!(
            code(&rule("<Mode>GOVERNANCE</Mode><Years>101</Years>")),
            "InvalidRetentionPeriod"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, failure_persistence: None, ..Default::default() })]

        /// Any rule: a configuration whose period is within S3's bounds, or an S3 error.
        #[test]
        fn lock_configurations_survive_any_rule(
            inner in "(<Mode>[A-Z]{0,11}</Mode>)?(<Days>[ -]?[0-9]{0,20}</Days>)?(<Years>[0-9]{0,6}</Years>)?",
        ) {
            let body = format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
                 <Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>"
            );
            match parse_config(body.as_bytes()) {
                Ok(c) => match c.default_retention.map(|d| d.period) {
                    Some(RetentionPeriod::Days(n)) => proptest::prop_assert!((1..=36_500).contains(&n)),
                    Some(RetentionPeriod::Years(n)) => proptest::prop_assert!((1..=100).contains(&n)),
                    None => proptest::prop_assert!(false, "a Rule read as none"),
                },
                Err(e) => proptest::prop_assert!(
                    ["MalformedXML", "InvalidRetentionPeriod"].contains(&e.code),
                    "{}", e.code
                ),
            }
        }
    }
}
