//! XML in and out: responses written (`write.rs`, a leaf, which the error document is written
//! with) and request bodies parsed (`parse.rs`, which answers errors).

pub(crate) mod parse;
pub(crate) mod write;

pub(crate) use parse::*;
pub(crate) use write::*;
