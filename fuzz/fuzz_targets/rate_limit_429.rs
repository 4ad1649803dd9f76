//! A 429 answer: header lines (`name: value`), a blank line, then the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (headers, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    trawl_sources::fuzzing::rate_limit(headers, body);
});
