#![no_main]
//! `ado::rest`: the first byte picks the resource, the rest is the body.

use libfuzzer_sys::fuzz_target;
use nexus_ingest::ado::{REST_RESOURCES, rest};
use nexus_ingest_fuzz::{ctx, pick};

fuzz_target!(|data: &[u8]| {
    if let Some((i, body)) = pick(data, REST_RESOURCES.len()) {
        let _ = rest(REST_RESOURCES[i], body, &ctx(None));
    }
});
