//! A Zoho answer's envelope in every throttling form API_FACTS lists (HTTP 400 and 200;
//! the code in `title` or `code`; the words in `details.message` or in `message` beside
//! the code): first byte the form, next two the stated lock in minutes, the rest words
//! of the message (or, for forms 0 and 1, the whole body). See
//! `trawl_sources::fuzzing::zoho_envelope` for what must hold.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (shape, rest) = data.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let (minutes, text) = if rest.len() >= 2 {
        (u16::from_be_bytes([rest[0], rest[1]]), &rest[2..])
    } else {
        (22, rest)
    };
    trawl_sources::fuzzing::zoho_envelope(shape, minutes, &String::from_utf8_lossy(text));
});
