//! The bucket configurations this server keeps none of (encryption, replication, website,
//! logging, acceleration, request payment), read as S3 answers them for a bucket that has
//! none: a `404` naming the missing configuration, or the document of the setting's default.
//! Tools that refresh a bucket's whole state (Terraform's `aws_s3_bucket` reads every one of
//! them) stop at the first answer they do not expect, such as a `501`.

use actix_web::HttpResponse;

use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::router::Op;
use crate::xml::{xml_ok, Xml};

/// What S3 answers for a bucket without the configuration.
enum Unset {
    /// A `404` with the configuration's own error code.
    Missing(fn() -> S3Error),
    /// A document holding the default: its root element, and the one child it has, if any.
    Default(&'static str, Option<(&'static str, &'static str)>),
}

/// Each configuration read, and its answer for a bucket that has none. The messages are S3's.
const UNSET: [(Op, Unset); 6] = [
    (
        Op::GetBucketEncryption,
        Unset::Missing(|| {
            S3Error::server_side_encryption_configuration_not_found(
                "The server side encryption configuration was not found",
            )
        }),
    ),
    (
        Op::GetBucketReplication,
        Unset::Missing(|| {
            S3Error::replication_configuration_not_found(
                "The replication configuration was not found",
            )
        }),
    ),
    (
        Op::GetBucketWebsite,
        Unset::Missing(|| {
            S3Error::no_such_website_configuration(
                "The specified bucket does not have a website configuration",
            )
        }),
    ),
    // Logging off: an empty status.
    (
        Op::GetBucketLogging,
        Unset::Default("BucketLoggingStatus", None),
    ),
    // Never enabled: no Status at all (a suspended one would say `Suspended`).
    (
        Op::GetBucketAccelerateConfiguration,
        Unset::Default("AccelerateConfiguration", None),
    ),
    (
        Op::GetBucketRequestPayment,
        Unset::Default(
            "RequestPaymentConfiguration",
            Some(("Payer", "BucketOwner")),
        ),
    ),
];

/// One of the configuration reads of [`UNSET`], of an existing bucket.
pub(crate) async fn read(ctx: &Ctx, op: &Op) -> S3Result<HttpResponse> {
    ctx.vfs().head_bucket(&ctx.bucket).await?;
    let Some((_, unset)) = UNSET.iter().find(|(o, _)| o == op) else {
        return Err(S3Error::not_implemented(format!(
            "{} is not implemented by this server",
            op.name()
        )));
    };
    match unset {
        Unset::Missing(error) => Err(error()),
        Unset::Default(root, child) => {
            let mut x = Xml::document(root, true);
            if let Some((name, text)) = child {
                x.elem(name, text);
            }
            Ok(xml_ok(x.finish()))
        }
    }
}
