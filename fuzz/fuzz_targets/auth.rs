#![no_main]
//! See `s3gate_s3api::fuzzing::auth`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3gate_s3api::fuzzing::auth(data));
