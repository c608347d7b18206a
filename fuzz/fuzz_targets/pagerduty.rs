#![no_main]
//! `incidents::pagerduty` over arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::ctx;

fuzz_target!(|data: &[u8]| {
    let _ = nexus_ingest::incidents::pagerduty(data, &ctx(None));
});
