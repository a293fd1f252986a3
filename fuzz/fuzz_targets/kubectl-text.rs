#![no_main]
//! The `kubectl-text` input surface: see `understudy::fuzzing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| understudy::fuzzing::load("kubectl-text", data));
