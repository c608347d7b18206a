#![no_main]
//! `iac::arm_deployment` over arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::{REPOSITORY_REF, ctx};

fuzz_target!(|data: &[u8]| {
    let _ = nexus_ingest::iac::arm_deployment(data, &ctx(Some(REPOSITORY_REF)));
});
