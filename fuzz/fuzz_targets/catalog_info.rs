#![no_main]
//! `backstage::convert_str`: the input's first NUL-separated part is the catalog file, the
//! others are served to `Location` targets as `1.yaml`, `2.yaml`, … (anything else is refused).

use libfuzzer_sys::fuzz_target;
use nexus_ingest_fuzz::{MapFetch, ctx};

fuzz_target!(|text: &str| {
    let (main, fetch) = MapFetch::split(text);
    let _ = nexus_ingest::backstage::convert_str(main, "catalog-info.yaml", &fetch, &ctx(None));
});
