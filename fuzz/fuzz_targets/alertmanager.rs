#![no_main]
//! The `alertmanager` input surface: see `understudy::fuzzing`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| understudy::fuzzing::load("alertmanager", data));
