//! Object lock in headers, both ways: the `x-amz-object-lock-*` a write asks for (PutObject,
//! CopyObject, CreateMultipartUpload, a form upload's fields), the ones GET and HEAD answer,
//! and the names of modes and the dates they travel as. What a request asks of its bucket's
//! lock, and whether its caller may bypass a GOVERNANCE retention, are the request's questions
//! (`Ctx::lock_asked`, `Ctx::bypasses_governance`).

use std::time::{Duration, SystemTime};

use actix_web::HttpResponseBuilder;
use s3gate_vfs::{BucketRecord, ObjectLock, Retention, RetentionMode};

use crate::error::{S3Error, S3Result};
use crate::xml::timestamp;

pub(crate) const MODE: &str = "x-amz-object-lock-mode";
pub(crate) const UNTIL: &str = "x-amz-object-lock-retain-until-date";
pub(crate) const LEGAL_HOLD: &str = "x-amz-object-lock-legal-hold";

/// A mode as S3 names it.
pub(crate) fn parse_mode(s: &str) -> Option<RetentionMode> {
    match s {
        "GOVERNANCE" => Some(RetentionMode::Governance),
        "COMPLIANCE" => Some(RetentionMode::Compliance),
        _ => None,
    }
}

pub(crate) fn mode_name(mode: RetentionMode) -> &'static str {
    match mode {
        RetentionMode::Governance => "GOVERNANCE",
        RetentionMode::Compliance => "COMPLIANCE",
    }
}

/// An ISO 8601 date and time (`2030-01-01T00:00:00.000Z`, or with an offset), in nanoseconds
/// since the Unix epoch.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

pub(crate) fn format_date(ns: i64) -> String {
    let t = match u64::try_from(ns) {
        Ok(n) => SystemTime::UNIX_EPOCH + Duration::from_nanos(n),
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs()),
    };
    timestamp(t)
}

/// A retention a client sets, which must end in the future.
pub(crate) fn future_retention(mode: RetentionMode, until_ns: i64) -> S3Result<Retention> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    if until_ns <= now {
        return Err(S3Error::invalid_argument(
            "The retain until date must be in the future!",
        ));
    }
    Ok(Retention { mode, until_ns })
}

/// S3's answer to a lock asked of a bucket that has no object lock.
pub(crate) fn missing_configuration() -> S3Error {
    S3Error::invalid_request("Bucket is missing Object Lock Configuration")
}

/// The lock a write asks for, from its headers (or a form's fields, through `get`); refused in
/// a bucket without object lock, as S3 does.
pub(crate) fn requested<'a>(
    record: &BucketRecord,
    get: impl Fn(&str) -> Option<&'a str>,
) -> S3Result<ObjectLock> {
    let (mode, until, hold) = (get(MODE), get(UNTIL), get(LEGAL_HOLD));
    if mode.is_none() && until.is_none() && hold.is_none() {
        return Ok(ObjectLock::default());
    }
    if record.object_lock.is_none() {
        return Err(missing_configuration());
    }
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(m), Some(u)) => {
            let mode = parse_mode(m.trim())
                .ok_or_else(|| S3Error::invalid_argument("Unknown wormMode directive."))?;
            let until = parse_date(u).ok_or_else(|| {
                S3Error::invalid_argument("The retain until date must be in ISO 8601 format")
            })?;
            Some(future_retention(mode, until)?)
        }
        _ => return Err(S3Error::invalid_argument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )),
    };
    let legal_hold = match hold.map(str::trim) {
        None => None,
        Some("ON") => Some(true),
        Some("OFF") => Some(false),
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
            ))
        }
    };
    Ok(ObjectLock {
        retention,
        legal_hold,
    })
}

/// The lock headers GET and HEAD answer with.
pub(crate) fn write(resp: &mut HttpResponseBuilder, lock: &ObjectLock) {
    if let Some(r) = &lock.retention {
        resp.insert_header((MODE, mode_name(r.mode)));
        resp.insert_header((UNTIL, format_date(r.until_ns)));
    }
    if let Some(on) = lock.legal_hold {
        resp.insert_header((LEGAL_HOLD, if on { "ON" } else { "OFF" }));
    }
}
