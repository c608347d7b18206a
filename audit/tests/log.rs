//! File log: writing, resuming, rotation, retention and verification against tampering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use nexus_audit::log::{
    AuditLog, Event, FileSink, GENESIS, Kind, MemorySink, OpenError, Problem, Writer, WriterConfig,
    segment_file_name, spawn_forwarder, verify,
};
use serde_json::json;

/// A clock the test moves: seconds since the epoch.
fn clock(start: i64) -> (Arc<AtomicI64>, nexus_audit::log::Clock) {
    let now = Arc::new(AtomicI64::new(start));
    let c = Arc::clone(&now);
    (
        now,
        Arc::new(move || jiff::Timestamp::from_second(c.load(Ordering::SeqCst)).unwrap()),
    )
}

const T0: i64 = 1_750_000_000;

fn cfg(dir: &Path, max_segment_bytes: u64) -> (Arc<AtomicI64>, WriterConfig) {
    let (now, clock) = clock(T0);
    let mut cfg = WriterConfig::new(dir);
    cfg.max_segment_bytes = max_segment_bytes;
    cfg.clock = clock;
    (now, cfg)
}

fn event(i: u64) -> Event {
    let kinds = [
        Kind::RunCreated,
        Kind::RunValidated,
        Kind::ApprovalRecorded,
        Kind::RunApproved,
        Kind::RunStarted,
        Kind::RunSucceeded,
    ];
    Event::new(
        kinds[(i % 6) as usize].clone(),
        format!("user{}@example.com", i % 3),
        format!("team-a/run-{}", i / 6),
        "restart",
        "Component/team-a/web",
    )
    .with_details(
        json!({"i": i, "note": "ünïcode \"quoted\"", "nested": {"b": [1, 2.5], "a": null}}),
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(path, s).unwrap();
}

#[test]
fn append_verify_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = cfg(dir.path(), 1 << 20);
    let mut w = Writer::open(c.clone()).unwrap();
    let first = w.append(event(0)).unwrap();
    assert_eq!(first.seq, 0);
    assert_eq!(first.prev, GENESIS);
    let second = w.append(event(1)).unwrap();
    assert_eq!(second.prev, first.hash);
    drop(w);

    // Restart: the chain resumes after the last line.
    let mut w = Writer::open(c).unwrap();
    assert_eq!(w.next_seq(), 2);
    let third = w.append(event(2)).unwrap();
    assert_eq!(third.prev, second.hash);
    drop(w);

    let s = verify(&[dir.path()]).unwrap();
    assert_eq!((s.entries, s.segments), (3, 1));
    assert_eq!(s.first, first);
    assert_eq!(s.last, third);
    assert_eq!(
        segments(dir.path()),
        vec![dir.path().join(segment_file_name(1))]
    );
}

#[test]
fn segment_start_is_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = cfg(dir.path(), 1 << 20);
    let mut w = Writer::open(c).unwrap();
    let e = Event::new(Kind::SegmentStart, "mallory", "", "", "");
    assert!(w.append(e).is_err());
}

#[test]
fn rotation_chains_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = cfg(dir.path(), 1500);
    let mut w = Writer::open(c).unwrap();
    let mut rotated = 0;
    for i in 0..40 {
        let written = w.append_all(event(i)).unwrap();
        if written.len() == 2 {
            rotated += 1;
            assert_eq!(written[0].event.kind, Kind::SegmentStart);
            assert_eq!(written[1].prev, written[0].hash);
        }
    }
    drop(w);
    let segs = segments(dir.path());
    assert!(segs.len() > 3, "{segs:?}");
    assert_eq!(rotated + 1, segs.len());
    for s in &segs[..segs.len() - 1] {
        assert!(std::fs::metadata(s).unwrap().len() <= 1500);
    }
    let s = verify(&[dir.path()]).unwrap();
    assert_eq!(s.entries, 40 + rotated as u64);
    assert_eq!(s.segments, segs.len());
    // Files given one by one, in any order, verify the same.
    let mut shuffled = segs.clone();
    shuffled.reverse();
    assert_eq!(verify(&shuffled).unwrap().entries, s.entries);

    // A segment missing in the middle is named.
    let e = verify(&[&segs[0], &segs[2]]).unwrap_err();
    assert!(
        matches!(
            e.problem,
            Problem::SegmentMissing {
                expected: 2,
                found: 3
            }
        ),
        "{e}"
    );
    // A later segment alone verifies: it starts with segment.start.
    let alone = verify(&segs[1..]).unwrap();
    assert_eq!(alone.first.event.kind, Kind::SegmentStart);
    assert_eq!(
        alone.first.event.details["previousLastHash"],
        json!(alone.first.prev)
    );
}

#[test]
fn retention_deletes_old_segments_and_the_rest_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (now, mut c) = cfg(dir.path(), 1 << 20);
    c.retention_days = Some(90);
    let mut w = Writer::open(c.clone()).unwrap();
    for i in 0..5 {
        w.append(event(i)).unwrap();
    }
    w.rotate().unwrap();
    for i in 5..10 {
        w.append(event(i)).unwrap();
    }
    // 100 days later: segment 1 (last entry at T0) is past retention.
    now.fetch_add(100 * 86_400, Ordering::SeqCst);
    w.rotate().unwrap();
    w.append(event(10)).unwrap();
    // Segment 2's last entry was also at T0, so both older segments go; the current stays.
    let remaining = w.segments();
    drop(w);
    assert_eq!(
        remaining,
        vec![dir.path().join(segment_file_name(3))],
        "{remaining:?}"
    );
    assert_eq!(segments(dir.path()), remaining);
    let s = verify(&[dir.path()]).unwrap();
    assert_eq!(s.first.event.kind, Kind::SegmentStart);
    assert_eq!(s.first.seq, 11);
    assert_eq!(s.last.seq, 12);
    // And the writer resumes on what remains.
    let mut w = Writer::open(c).unwrap();
    assert_eq!(w.append(event(11)).unwrap().seq, 13);
}

#[test]
fn retention_keeps_recent_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (now, c) = cfg(dir.path(), 1 << 20);
    let mut w = Writer::open(c).unwrap();
    w.append(event(0)).unwrap();
    w.rotate().unwrap();
    now.fetch_add(89 * 86_400, Ordering::SeqCst);
    w.append(event(1)).unwrap();
    w.rotate().unwrap();
    assert_eq!(w.segments().len(), 3);
    now.fetch_add(2 * 86_400, Ordering::SeqCst);
    // Segment 1 ended at T0 (91 days ago), segment 2 at T0 + 89 days.
    assert_eq!(w.apply_retention().unwrap(), 1);
    assert_eq!(w.segments().len(), 2);
    drop(w);
    verify(&[dir.path()]).unwrap();
}

/// A log of 10 entries in one segment; returns its path.
fn small_log(dir: &Path) -> PathBuf {
    let (_, c) = cfg(dir, 1 << 20);
    let mut w = Writer::open(c).unwrap();
    for i in 0..10 {
        w.append(event(i)).unwrap();
    }
    dir.join(segment_file_name(1))
}

fn fails_at(path: &Path, line: u64) -> Problem {
    let e = verify(&[path]).unwrap_err();
    assert_eq!(e.file, path);
    assert_eq!(e.line, line, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:{line}: ", path.display())),
        "{e}"
    );
    e.problem
}

#[test]
fn detects_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l[4] = l[4].replace("user1@example.com", "user2@example.com");
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 5),
        Problem::HashMismatch { seq: 4 }
    ));
}

#[test]
fn detects_whitespace_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l[2] = l[2].replacen(':', ": ", 1);
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 3),
        Problem::NotCanonical { seq: 2 }
    ));
}

#[test]
fn detects_removal() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l.remove(3);
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 4),
        Problem::SeqMismatch {
            expected: 3,
            found: 4
        }
    ));
}

#[test]
fn detects_removal_of_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l.remove(0);
    write_lines(&path, &l);
    assert!(matches!(fails_at(&path, 1), Problem::BadStart { seq: 1 }));
}

#[test]
fn detects_reorder() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l.swap(5, 6);
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 6),
        Problem::SeqMismatch {
            expected: 5,
            found: 6
        }
    ));
}

#[test]
fn detects_forged_insertion() {
    // A well-formed, correctly hashed entry inserted with the next seq breaks the line after it.
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    let prev: nexus_audit::log::Entry = serde_json::from_str(&l[4]).unwrap();
    let forged = nexus_audit::log::Entry::seal(5, prev.time, prev.hash, event(99)).unwrap();
    let forged = String::from_utf8(forged.to_line().unwrap()).unwrap();
    l.insert(5, forged.trim_end().to_owned());
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 7),
        Problem::SeqMismatch {
            expected: 6,
            found: 5
        }
    ));
    // Renumbering the following entries breaks their hashes instead.
    let mut l = lines(&path);
    l[6] = l[6].replace("\"seq\":5", "\"seq\":6");
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 7),
        Problem::HashMismatch { seq: 6 }
    ));
}

#[test]
fn detects_relinked_prev() {
    // Forging prev without the hash shows as an edit; a fully resealed entry shows as a
    // broken link to the next one.
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    let e: nexus_audit::log::Entry = serde_json::from_str(&l[3]).unwrap();
    let mut ev = e.event.clone();
    ev.actor = "mallory".into();
    let resealed = nexus_audit::log::Entry::seal(e.seq, e.time, e.prev, ev).unwrap();
    l[3] = String::from_utf8(resealed.to_line().unwrap())
        .unwrap()
        .trim_end()
        .to_owned();
    write_lines(&path, &l);
    assert!(matches!(
        fails_at(&path, 5),
        Problem::PrevMismatch { seq: 4 }
    ));
}

#[test]
fn detects_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    assert!(matches!(fails_at(&path, 10), Problem::Truncated));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(fails_at(&path, 1), Problem::Empty));
}

#[test]
fn detects_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l[1] = "{not json".into();
    write_lines(&path, &l);
    assert!(matches!(fails_at(&path, 2), Problem::Malformed(_)));
}

#[test]
fn detects_tampering_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = cfg(dir.path(), 1 << 20);
    let mut w = Writer::open(c).unwrap();
    for i in 0..3 {
        w.append(event(i)).unwrap();
    }
    w.rotate().unwrap();
    for i in 3..6 {
        w.append(event(i)).unwrap();
    }
    drop(w);
    // Drop the last entry of segment 1: segment 2's segment.start no longer links.
    let seg1 = dir.path().join(segment_file_name(1));
    let mut l = lines(&seg1);
    l.pop();
    write_lines(&seg1, &l);
    let e = verify(&[dir.path()]).unwrap_err();
    assert_eq!(e.file, dir.path().join(segment_file_name(2)));
    assert_eq!(e.line, 1);
    assert!(matches!(e.problem, Problem::SeqMismatch { .. }), "{e}");
}

#[test]
fn writer_refuses_a_corrupt_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_log(dir.path());
    let mut l = lines(&path);
    l[7] = l[7].replace("restart", "delete");
    write_lines(&path, &l);
    let (_, c) = cfg(dir.path(), 1 << 20);
    let e = Writer::open(c).unwrap_err();
    assert!(matches!(e, OpenError::Corrupt { .. }));
    let msg = e.to_string();
    assert!(msg.starts_with("refusing to append"), "{msg}");
    assert!(msg.contains(":8: seq 7: hash does not match"), "{msg}");
}

#[test]
fn batched_sync_still_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut c) = cfg(dir.path(), 1 << 20);
    c.sync_every = 16;
    let mut w = Writer::open(c).unwrap();
    for i in 0..20 {
        w.append(event(i)).unwrap();
    }
    w.sync().unwrap();
    assert_eq!(verify(&[dir.path()]).unwrap().entries, 20);
}

/// Small deterministic PRNG (xorshift64*), so the "property" test needs no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_appends_rotations_and_restarts_always_verify() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let dir = tempfile::tempdir().unwrap();
        let (now, mut c) = cfg(dir.path(), 400 + rng.below(3000));
        c.sync_every = 1 + rng.below(4) as u32;
        c.retention_days = if rng.below(2) == 0 { None } else { Some(30) };
        let mut w = Writer::open(c.clone()).unwrap();
        let mut written = 0u64;
        for _ in 0..rng.below(60) {
            match rng.below(10) {
                0 => {
                    w.rotate().unwrap();
                }
                1 => {
                    drop(w);
                    w = Writer::open(c.clone()).unwrap();
                }
                2 => {
                    now.fetch_add(rng.below(20 * 86_400) as i64, Ordering::SeqCst);
                }
                _ => {
                    w.append(event(rng.below(1000))).unwrap();
                    written += 1;
                }
            }
        }
        let next = w.next_seq();
        drop(w);
        if next == 0 {
            assert!(
                verify(&[dir.path()]).is_err(),
                "empty log has nothing to verify"
            );
            continue;
        }
        let s = verify(&[dir.path()]).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(s.last.seq + 1, next, "seed {seed}");
        assert_eq!(s.last.seq - s.first.seq + 1, s.entries, "seed {seed}");
        if c.retention_days.is_none() {
            assert_eq!(s.first.seq, 0);
            assert!(s.entries >= written, "seed {seed}");
        }

        // Any single edited line is caught, at that line.
        let segs = segments(dir.path());
        let seg = &segs[rng.below(segs.len() as u64) as usize];
        let mut l = lines(seg);
        let i = rng.below(l.len() as u64) as usize;
        l[i] = l[i].replacen("\"time\":\"20", "\"time\":\"19", 1);
        write_lines(seg, &l);
        let e = verify(&[dir.path()]).unwrap_err();
        assert_eq!((&e.file, e.line), (seg, i as u64 + 1), "seed {seed}: {e}");
    }
}

#[test]
fn mirror_file_sink_follows_the_chain() {
    let primary = tempfile::tempdir().unwrap();
    let mirror = tempfile::tempdir().unwrap();
    let (_, c) = cfg(primary.path(), 1200);
    let mut w = Writer::open(c).unwrap();
    let (_, mc) = cfg(mirror.path(), 1 << 30);
    let mut m = Writer::open(mc).unwrap();
    for i in 0..30 {
        for e in w.append_all(event(i)).unwrap() {
            m.append_sealed(&e).unwrap();
        }
    }
    // Out of order is refused.
    let held = w.append_all(event(99)).unwrap();
    let next = w.append_all(event(100)).unwrap();
    assert!(m.append_sealed(next.last().unwrap()).is_err());
    for e in held.iter().chain(&next) {
        m.append_sealed(e).unwrap();
    }
    drop((w, m));
    let a = verify(&[primary.path()]).unwrap();
    let b = verify(&[mirror.path()]).unwrap();
    assert_eq!((a.segments, a.entries), (b.segments, b.entries));
    assert_eq!(a.last, b.last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_async_appends_and_forwarding() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = cfg(dir.path(), 4000);
    let file = FileSink::open(c).unwrap();
    let memory = Arc::new(MemorySink::default());
    let (fwd, task) = spawn_forwarder(memory.clone(), 7, std::time::Duration::from_millis(20));
    let log = AuditLog::new(file).forward_to(fwd);
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                log.record(event(t * 100 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log.file().sync().await.unwrap();
    drop(log);
    task.await.unwrap();
    let s = verify(&[dir.path()]).unwrap();
    let forwarded = memory.entries();
    assert_eq!(forwarded.len() as u64, s.entries);
    assert!(s.segments > 1);
    for (i, e) in forwarded.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
    }
    assert_eq!(forwarded.last().unwrap(), &s.last);
}
