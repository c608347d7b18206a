#![no_main]
//! `github::webhook`: the first byte picks the X-GitHub-Event name, the rest is the body.

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::{ctx, github_events, pick};

fuzz_target!(|data: &[u8]| {
    let events = github_events();
    if let Some((i, body)) = pick(data, events.len()) {
        let _ = nexus_ingest::github::webhook(events[i], body, &ctx(None));
    }
});
