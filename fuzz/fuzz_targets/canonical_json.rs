//! The canonical JSON every event id is computed from: any JSON value, canonicalized,
//! parses back to the same value, and canonicalizing that gives the same bytes (so an
//! id computed again from a published record's `raw` is the same id).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let canonical = trawl_model::canonical_json(&value);
    let again: serde_json::Value =
        serde_json::from_str(&canonical).expect("canonical JSON parses");
    assert_eq!(again, value, "canonical JSON changed the value: {canonical}");
    assert_eq!(
        trawl_model::canonical_json(&again),
        canonical,
        "canonical JSON is not canonical"
    );
});
