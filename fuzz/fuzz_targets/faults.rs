#![no_main]
//! The `faults` input surface: see `understudy::fuzzing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| understudy::fuzzing::load("faults", data));
