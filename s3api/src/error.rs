//! S3 errors: every failure a client can see is one of these, and every [`VfsError`] becomes one
//! here and nowhere else.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use s3gate_vfs::VfsError;

use crate::xml::write::Xml;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub(crate) struct S3Error {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Headers the error answers with (a delete marker's, on a 404 or 405).
    pub(crate) headers: Vec<(&'static str, String)>,
}

pub(crate) type S3Result<T> = Result<T, S3Error>;

macro_rules! codes {
    ($($fn_name:ident => $status:ident, $code:literal;)*) => {
        impl S3Error {
            $(
                pub(crate) fn $fn_name(message: impl Into<String>) -> S3Error {
                    S3Error { status: StatusCode::$status, code: $code, message: message.into(), headers: Vec::new() }
                }
            )*
        }
    };
}

codes! {
    access_control_list_not_supported => BAD_REQUEST, "AccessControlListNotSupported";
    access_denied => FORBIDDEN, "AccessDenied";
    access_forbidden => FORBIDDEN, "AccessForbidden";
    authorization_header_malformed => BAD_REQUEST, "AuthorizationHeaderMalformed";
    authorization_query_parameters_error => BAD_REQUEST, "AuthorizationQueryParametersError";
    bad_digest => BAD_REQUEST, "BadDigest";
    bad_request => BAD_REQUEST, "BadRequest";
    bucket_already_exists => CONFLICT, "BucketAlreadyExists";
    bucket_already_owned_by_you => CONFLICT, "BucketAlreadyOwnedByYou";
    bucket_not_empty => CONFLICT, "BucketNotEmpty";
    entity_too_large => BAD_REQUEST, "EntityTooLarge";
    entity_too_small => BAD_REQUEST, "EntityTooSmall";
    header_too_large => BAD_REQUEST, "RequestHeaderSectionTooLarge";
    incomplete_body => BAD_REQUEST, "IncompleteBody";
    internal => INTERNAL_SERVER_ERROR, "InternalError";
    invalid_access_key_id => FORBIDDEN, "InvalidAccessKeyId";
    invalid_argument => BAD_REQUEST, "InvalidArgument";
    invalid_bucket_acl_with_object_ownership => BAD_REQUEST, "InvalidBucketAclWithObjectOwnership";
    invalid_bucket_name => BAD_REQUEST, "InvalidBucketName";
    invalid_bucket_state => CONFLICT, "InvalidBucketState";
    invalid_digest => BAD_REQUEST, "InvalidDigest";
    invalid_part => BAD_REQUEST, "InvalidPart";
    invalid_part_order => BAD_REQUEST, "InvalidPartOrder";
    invalid_policy_document => BAD_REQUEST, "InvalidPolicyDocument";
    invalid_part_number => RANGE_NOT_SATISFIABLE, "InvalidPartNumber";
    invalid_range => RANGE_NOT_SATISFIABLE, "InvalidRange";
    invalid_request => BAD_REQUEST, "InvalidRequest";
    invalid_retention_period => BAD_REQUEST, "InvalidRetentionPeriod";
    invalid_tag => BAD_REQUEST, "InvalidTag";
    key_too_long => BAD_REQUEST, "KeyTooLongError";
    malformed_policy => BAD_REQUEST, "MalformedPolicy";
    malformed_post_request => BAD_REQUEST, "MalformedPOSTRequest";
    malformed_acl => BAD_REQUEST, "MalformedACLError";
    malformed_xml => BAD_REQUEST, "MalformedXML";
    missing_security_header => BAD_REQUEST, "MissingSecurityHeader";
    max_post_pre_data_length_exceeded => BAD_REQUEST, "MaxPostPreDataLengthExceededError";
    metadata_too_large => BAD_REQUEST, "MetadataTooLarge";
    method_not_allowed => METHOD_NOT_ALLOWED, "MethodNotAllowed";
    missing_content_length => LENGTH_REQUIRED, "MissingContentLength";
    no_such_bucket => NOT_FOUND, "NoSuchBucket";
    no_such_cors_configuration => NOT_FOUND, "NoSuchCORSConfiguration";
    no_such_bucket_policy => NOT_FOUND, "NoSuchBucketPolicy";
    no_such_key => NOT_FOUND, "NoSuchKey";
    no_such_lifecycle_configuration => NOT_FOUND, "NoSuchLifecycleConfiguration";
    no_such_object_lock_configuration => NOT_FOUND, "NoSuchObjectLockConfiguration";
    no_such_public_access_block_configuration => NOT_FOUND, "NoSuchPublicAccessBlockConfiguration";
    no_such_tag_set => NOT_FOUND, "NoSuchTagSet";
    no_such_upload => NOT_FOUND, "NoSuchUpload";
    no_such_version => NOT_FOUND, "NoSuchVersion";
    no_such_website_configuration => NOT_FOUND, "NoSuchWebsiteConfiguration";
    not_implemented => NOT_IMPLEMENTED, "NotImplemented";
    operation_aborted => CONFLICT, "OperationAborted";
    object_lock_configuration_not_found => NOT_FOUND, "ObjectLockConfigurationNotFoundError";
    ownership_controls_not_found => NOT_FOUND, "OwnershipControlsNotFoundError";
    policy_too_large => BAD_REQUEST, "PolicyTooLarge";
    precondition_failed => PRECONDITION_FAILED, "PreconditionFailed";
    replication_configuration_not_found => NOT_FOUND, "ReplicationConfigurationNotFoundError";
    request_time_too_skewed => FORBIDDEN, "RequestTimeTooSkewed";
    request_timeout => BAD_REQUEST, "RequestTimeout";
    server_side_encryption_configuration_not_found => NOT_FOUND, "ServerSideEncryptionConfigurationNotFoundError";
    service_unavailable => SERVICE_UNAVAILABLE, "ServiceUnavailable";
    signature_does_not_match => FORBIDDEN, "SignatureDoesNotMatch";
    slow_down => SERVICE_UNAVAILABLE, "SlowDown";
    content_sha256_mismatch => BAD_REQUEST, "XAmzContentSHA256Mismatch";
    unexpected_content => BAD_REQUEST, "UnexpectedContent";
    unresolvable_grant_by_email_address => BAD_REQUEST, "UnresolvableGrantByEmailAddress";
}

impl From<VfsError> for S3Error {
    fn from(e: VfsError) -> S3Error {
        let msg = e.to_string();
        match e {
            VfsError::NoSuchBucket => S3Error::no_such_bucket(msg),
            VfsError::NoSuchKey => S3Error::no_such_key(msg),
            VfsError::BucketAlreadyOwnedByYou => S3Error::bucket_already_owned_by_you(msg),
            VfsError::BucketNotEmpty => S3Error::bucket_not_empty(msg),
            VfsError::InvalidBucketName(_) => S3Error::invalid_bucket_name(msg),
            VfsError::InvalidKey(_) | VfsError::KeyConflict(_) => S3Error::invalid_argument(msg),
            VfsError::KeyTooLong => S3Error::key_too_long(msg),
            VfsError::PreconditionFailed => S3Error::precondition_failed(msg),
            VfsError::BadDigest => S3Error::bad_digest(msg),
            VfsError::NoSuchUpload => S3Error::no_such_upload(msg),
            VfsError::NoSuchVersion => S3Error::no_such_version(msg),
            VfsError::InvalidVersion(_) => S3Error::invalid_argument(msg),
            VfsError::VersionIsDeleteMarker => S3Error::method_not_allowed(msg),
            VfsError::VersionsUnsupported(_) => S3Error::not_implemented(msg),
            VfsError::ObjectLocked => S3Error::access_denied(msg),
            VfsError::InvalidBucketState(_) => S3Error::invalid_bucket_state(msg),
            VfsError::InvalidPart(_) => S3Error::invalid_part(msg),
            VfsError::InvalidPartOrder => S3Error::invalid_part_order(msg),
            VfsError::EntityTooSmall(_) => S3Error::entity_too_small(msg),
            VfsError::EntityTooLarge(_) => S3Error::entity_too_large(msg),
            VfsError::InvalidRange(_) => S3Error::invalid_range(msg),
            VfsError::LimitReached(_) => S3Error::invalid_request(msg),
            VfsError::MetadataTooLarge(_) => S3Error::metadata_too_large(msg),
            VfsError::ConflictingChange(_) => S3Error::operation_aborted(msg),
            VfsError::Body(inner) => match inner.downcast::<S3Error>() {
                Ok(s3) => *s3,
                // The connection failed mid-body: the client is most likely gone.
                Err(other) => S3Error::incomplete_body(other.to_string()),
            },
            // Not this server's fault, and likely to pass: the client backs off and tries again,
            // as after S3's own 503. No `Retry-After`: S3 sends none and its clients read none.
            VfsError::Unavailable(_) => {
                tracing::warn!(error = %msg, "the storage is unavailable");
                S3Error::service_unavailable(
                    "the storage behind this gateway is unavailable; please try again",
                )
            }
            // The storage throttles: S3's own answer when a client goes too fast, which its
            // clients take as the cue to lower their rate.
            VfsError::SlowDown(_) => {
                tracing::warn!(error = %msg, "the storage asks for fewer requests");
                S3Error::slow_down("Please reduce your request rate.")
            }
            VfsError::Store(_) | VfsError::Io(_) => {
                tracing::error!(error = %msg, "internal error");
                S3Error::internal("we encountered an internal error, please try again")
            }
        }
    }
}

/// Errors that the handlers produce from protocol problems rather than from the VFS.
impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> S3Error {
        S3Error::from(VfsError::Io(e))
    }
}

impl S3Error {
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.headers.push((name, value.into()));
        self
    }

    /// The XML error document (no body for HEAD requests, as S3 does).
    pub(crate) fn to_response(&self, resource: &str, request_id: &str, head: bool) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header(("x-amz-request-id", request_id));
        for (name, value) in &self.headers {
            resp.insert_header((*name, value.as_str()));
        }
        if head {
            return resp.finish();
        }
        resp.content_type("application/xml")
            .body(self.document(resource, request_id))
    }

    /// A whole HTTP/1.1 response carrying the error, for the connection to write in place of
    /// one the HTTP layer made itself; the connection closes after it.
    pub(crate) fn to_raw_response(&self, request_id: &str) -> Vec<u8> {
        let body = self.document("", request_id);
        let mut raw = format!(
            "HTTP/1.1 {}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nx-amz-request-id: {request_id}\r\nconnection: close\r\n\r\n",
            self.status,
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body.as_bytes());
        raw
    }

    fn document(&self, resource: &str, request_id: &str) -> String {
        let mut x = Xml::document("Error", false);
        x.elem("Code", self.code);
        x.elem("Message", &self.message);
        if !resource.is_empty() {
            x.elem("Resource", resource);
        }
        x.elem("RequestId", request_id);
        x.finish()
    }
}
