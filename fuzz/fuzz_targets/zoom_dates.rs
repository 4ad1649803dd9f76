//! Zoom's date arithmetic (which dates to ask for a window when the account's zone is
//! unknown) on windows, offsets and record times read from the input; see
//! `trawl_sources::fuzzing::zoom_dates` for what must hold.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    trawl_sources::fuzzing::zoom_dates(data);
});
