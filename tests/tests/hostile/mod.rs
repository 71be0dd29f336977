//! The hostile-input suite: what an attacker or a careless program sends, by raw sockets and
//! hand-signed requests where the SDK would refuse to, one case per hole found, each failing
//! without its fix. Grouped by the layer that must stop it.

mod auth;
mod conditional;
pub(crate) mod fs;
mod transport;
