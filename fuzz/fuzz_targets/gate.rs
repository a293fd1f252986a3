#![no_main]
//! The `gate` input surface: see `understudy::fuzzing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| understudy::fuzzing::load("gate", data));
