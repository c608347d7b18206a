//! `nexus audit verify` over a log written by the library: exit 0 with a summary, or exit 1 with
//! `error: <file>:<line>: …` for an edited, removed, reordered or truncated entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use nexus_audit::log::{Event, Kind, Writer, WriterConfig, segment_file_name};

const NEXUS: &str = env!("CARGO_BIN_EXE_nexus");

/// Writes 8 entries into one segment and returns its path.
fn write_log(dir: &Path) -> PathBuf {
    let mut w = Writer::open(WriterConfig::new(dir)).unwrap();
    for i in 0..8 {
        let kind = if i % 2 == 0 {
            Kind::RunCreated
        } else {
            Kind::RunApproved
        };
        w.append(Event::new(
            kind,
            format!("user{i}"),
            "team-a/run",
            "restart",
            "Component/team-a/web",
        ))
        .unwrap();
    }
    dir.join(segment_file_name(1))
}

fn run(args: &[&Path]) -> (i32, String, String) {
    let out = Command::new(NEXUS)
        .args(["audit", "verify"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    f(&mut lines);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn assert_fails_at(path: &Path, line: usize, what: &str) {
    let (code, _, stderr) = run(&[path]);
    assert_eq!(code, 1, "{stderr}");
    let prefix = format!("error: {}:{line}: ", path.display());
    assert!(
        stderr.starts_with(&prefix),
        "expected {prefix:?}, got {stderr:?}"
    );
    assert!(stderr.contains(what), "expected {what:?} in {stderr:?}");
}

#[test]
fn verifies_a_good_log_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path());
    for arg in [path.as_path(), dir.path()] {
        let (code, stdout, stderr) = run(&[arg]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("ok: 8 entries in 1 segment(s)"), "{stdout}");
        assert!(stdout.contains("last:  seq 7 at "), "{stdout}");
        assert!(stdout.contains("last hash: "), "{stdout}");
    }
}

#[test]
fn edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path());
    rewrite(&path, |l| l[2] = l[2].replace("user2", "admin"));
    assert_fails_at(&path, 3, "seq 2: hash does not match");
}

#[test]
fn removed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path());
    rewrite(&path, |l| {
        l.remove(4);
    });
    assert_fails_at(&path, 5, "expected seq 4, found seq 5");
}

#[test]
fn reordered_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path());
    rewrite(&path, |l| l.swap(1, 2));
    assert_fails_at(&path, 2, "expected seq 1, found seq 2");
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 30]).unwrap();
    assert_fails_at(&path, 8, "truncated entry");
}

#[test]
fn missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let (code, _, stderr) = run(&[&missing]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!("error: {}: cannot read", missing.display())),
        "{stderr}"
    );
}
