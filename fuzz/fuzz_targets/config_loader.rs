//! A configuration file through the loader; whatever it accepts must be safe to run:
//! the conversions the engine makes from the loaded values (timers, instants, dates,
//! rates) are made here too, so a value that would panic at run time is a finding.
#![no_main]
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = trawl::config::load_str(text) else {
        return;
    };
    let now = chrono::Utc::now();
    let start = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    for t in &config.engine.tenants {
        let s = &t.settings;
        for d in [s.poll_interval, s.backfill, s.lookback] {
            let c = chrono::Duration::from_std(d).expect("fits chrono");
            let _ = now - c - c;
            let _ = now + c + c;
            let _ = start + d + d;
            rt.block_on(async { drop(tokio::time::interval(d)) });
        }
        for o in t.rate_limits.values() {
            if let Some(r) = o.per_second {
                let _ = Duration::from_secs_f64(1.0 / (r * s.quota_share * 0.05));
            }
        }
    }
});
