//! A `Retry-After` header value.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    trawl_sources::fuzzing::retry_after(&String::from_utf8_lossy(data));
});
