//! The `${NAME}` engine must never panic, and text without `$` must come back unchanged (see
//! `knative_build_fuzz::substitute` for the input layout).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| knative_build_fuzz::substitute(data));
