#![no_main]
//! `runbooks::parse` over arbitrary bytes as a repository file, then the path patterns: the
//! input's first line is read as comma-separated patterns and every later line as a path.

use libfuzzer_sys::fuzz_target;
use nexus_ingest::runbooks::{RunbookFile, RunbookPaths, parse};
use nexus_ingest_fuzz::{REPOSITORY_URL, ctx};

fuzz_target!(|data: &[u8]| {
    let file = RunbookFile {
        path: "runbooks/fuzz/case.md",
        text: data,
        repository: Some(REPOSITORY_URL),
        git_ref: Some("main"),
    };
    let _ = parse(&file, &ctx(None));
    let inline = RunbookFile {
        repository: None,
        git_ref: None,
        ..file
    };
    let _ = parse(&inline, &ctx(None));
    if let Ok(text) = std::str::from_utf8(data) {
        let mut lines = text.lines();
        let patterns: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        if let Ok(paths) = RunbookPaths::new(&patterns) {
            for line in lines.take(32) {
                let _ = paths.matches(line);
            }
        }
    }
});
