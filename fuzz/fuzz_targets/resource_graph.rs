#![no_main]
//! `azure::resource_graph` over arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::ctx;

fuzz_target!(|data: &[u8]| {
    let _ = nexus_ingest::azure::resource_graph(data, &ctx(None));
});
