#![no_main]
//! The `audit` input surface: see `understudy::fuzzing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| understudy::fuzzing::load("audit", data));
