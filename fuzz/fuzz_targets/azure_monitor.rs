#![no_main]
//! `incidents::azure_monitor` over arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::ctx;

fuzz_target!(|data: &[u8]| {
    let _ = nexus_ingest::incidents::azure_monitor(data, &ctx(None));
});
