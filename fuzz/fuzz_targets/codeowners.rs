#![no_main]
//! `github::codeowners::parse` over arbitrary text, then the lookups on the result.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let owners = nexus_ingest::github::codeowners::parse(text);
    let _ = owners.root_owners();
    for path in ["/", "README.md", "src/main.rs", "docs/a/b.md", ""] {
        let _ = owners.owners_for(path);
    }
    // Each line's first word as a path, so patterns meet paths they can match.
    for line in text.lines().take(16) {
        if let Some(word) = line.split_whitespace().next() {
            let _ = owners.owners_for(word.trim_start_matches('/'));
        }
    }
});
