//! The S3 front end: an actix-web server whose every request goes parse → authenticate →
//! handler → [`s3gate_vfs::Vfs`] ([`dispatch`]). Handlers are grouped by operation family, one
//! module each; what they share lives in [`ctx`], [`headers`], [`xml`] and [`copy`].

mod access;
mod access_log;
mod acl;
mod auth;
mod body;
mod bucket;
mod bucket_config;
mod bucket_policy;
mod checksum;
mod console;
mod copy;
mod cors;
mod ctx;
mod dispatch;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod intake;
mod lifecycle;
mod list;
mod lock_headers;
mod metrics;
mod multipart;
mod object;
mod object_attributes;
mod object_lock;
mod ops_listener;
mod policy;
mod post_object;
mod router;
mod server;
mod tagging;
mod tags;
mod timed;
mod token;
mod xml;

pub use metrics::{malformed_requests, note_malformed_request};
pub use server::{check_tls, HttpServer};
