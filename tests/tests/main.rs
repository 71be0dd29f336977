//! Integration tests: the real s3gate server, started in-process on `127.0.0.1:0` over a
//! temporary directory, driven by the official `aws-sdk-s3` client (path style, static
//! credentials) and, where the SDK cannot express a request, by raw HTTP.
//!
//! Every test starts its own server and directory, so tests are independent and run in parallel.

mod common;

mod acl;
mod auth;
mod bucket_config;
mod buckets;
mod checksums;
mod console;
mod copy;
mod cors;
mod crypt;
mod delete;
mod errors;
mod fleet;
mod get;
mod hostile;
mod key_safety;
mod keys;
mod keys_anywhere;
mod lifecycle;
mod list;
mod list_model;
mod metadata;
mod metrics;
mod multipart;
mod mutation;
mod object_attributes;
mod object_lock;
mod objects;
mod policy;
mod post_object;
mod put;
mod put_log;
mod readcache;
mod remotes;
mod shutdown;
mod subresources;
mod tagging;
mod tls;
mod transport;
mod unavailable;
mod users;
mod version_model;
mod versioning;
mod watch;
mod writeback;
mod writeback_versions;
