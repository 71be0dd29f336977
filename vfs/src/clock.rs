//! The wall clock as records keep it: nanoseconds since the Unix epoch. A leaf, so that the
//! data types below the index (a retention's date, a record's own time) can read it.

use std::time::SystemTime;

use crate::remote::ns_from_time;

pub(crate) fn now_ns() -> i64 {
    ns_from_time(SystemTime::now())
}
