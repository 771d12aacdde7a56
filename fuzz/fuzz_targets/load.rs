//! `build_types::load_bytes` must never panic, whatever the bytes: bad YAML, bad UTF-8 and
//! invalid objects all come back as errors in the `Loaded` value.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = build_types::load_bytes("<fuzz>", data);
});
