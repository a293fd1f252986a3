#![no_main]
//! The `metrics` input surface: see `understudy::fuzzing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| understudy::fuzzing::load("metrics", data));
