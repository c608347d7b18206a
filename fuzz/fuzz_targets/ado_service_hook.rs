#![no_main]
//! `ado::service_hook` over arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::ctx;

fuzz_target!(|data: &[u8]| {
    let _ = nexus_ingest::ado::service_hook(data, &ctx(None));
});
