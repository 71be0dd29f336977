//! Shared helpers, by role: the server under test ([`server`]), SDK clients and error checks
//! ([`sdk`]), a raw HTTP/1.1 client and body encoders for requests the SDK cannot make
//! ([`raw_http`]) and SigV4 signatures for them ([`signing`]), XML scraping ([`xml`]), test
//! data with its digests ([`data`]), and the programs some tests drive ([`programs`]).

mod data;
mod programs;
mod raw_http;
mod sdk;
mod server;
mod signing;
mod xml;

pub(crate) use data::*;
pub(crate) use programs::*;
pub(crate) use raw_http::*;
pub(crate) use sdk::*;
pub(crate) use server::*;
pub(crate) use signing::*;
pub(crate) use xml::*;
