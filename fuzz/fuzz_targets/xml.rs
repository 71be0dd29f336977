#![no_main]
//! See `s3gate_s3api::fuzzing::xml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3gate_s3api::fuzzing::xml(data));
