//! A token endpoint answer: the first byte picks the HTTP status, the rest is the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 400, 401, 403, 429, 500, 503, 302];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(*first) % STATUSES.len()];
    trawl_sources::fuzzing::zoho_token(status, &String::from_utf8_lossy(body));
});
