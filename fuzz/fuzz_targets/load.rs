//! `build_types::load_bytes` must never panic, whatever the bytes (see `knative_build_fuzz::load`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| knative_build_fuzz::load(data));
