#![no_main]
//! `github::rest`: the first byte picks the resource (low bits) and whether the context names
//! the repository (bit 7); the rest is the body.

use libfuzzer_sys::fuzz_target;
use nexus_ingest::github::{REST_RESOURCES, rest};
use nexus_ingest_fuzz::{REPOSITORY_URL, ctx};

fuzz_target!(|data: &[u8]| {
    if let Some((&first, body)) = data.split_first() {
        let resource = REST_RESOURCES[usize::from(first & 0x7f) % REST_RESOURCES.len()];
        let _ = rest(
            resource,
            body,
            &ctx((first & 0x80 != 0).then_some(REPOSITORY_URL)),
        );
    }
});
