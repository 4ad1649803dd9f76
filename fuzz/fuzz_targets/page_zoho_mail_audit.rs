//! A page body through the real parser and normalizer (a panic is a finding).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    trawl_sources::fuzzing::page(2, &String::from_utf8_lossy(data));
});
