//! Verification of one or more segments: every line is a canonical, correctly hashed entry that
//! continues the chain of the line before it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Entry, GENESIS, Kind, canonical, hash_of_value};

/// What [`verify`] found in a log that verifies.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub entries: u64,
    pub segments: usize,
    pub first: Entry,
    pub last: Entry,
}

/// Where verification failed: file, 1-based line (0 for a problem with the file as a whole) and
/// what is wrong (the problem names the seq where one could be read).
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {problem}", file.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct VerifyError {
    pub file: PathBuf,
    pub line: u64,
    pub problem: Problem,
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("no audit segments (audit-NNNNNNNN.jsonl) found")]
    NoSegments,
    #[error("segment {expected} is missing (found segment {found} next)")]
    SegmentMissing { expected: u64, found: u64 },
    #[error("empty segment")]
    Empty,
    #[error("truncated entry (no newline at end of file)")]
    Truncated,
    #[error("not a valid audit entry: {0}")]
    Malformed(String),
    #[error("seq {seq}: hash does not match the entry's contents (entry edited)")]
    HashMismatch { seq: u64 },
    #[error("seq {seq}: entry is not in canonical form (entry edited)")]
    NotCanonical { seq: u64 },
    #[error(
        "expected seq {expected}, found seq {found} (entry removed, inserted or reordered before this line)"
    )]
    SeqMismatch { expected: u64, found: u64 },
    #[error(
        "seq {seq}: prev does not match the hash of the previous entry (entry removed, inserted or reordered)"
    )]
    PrevMismatch { seq: u64 },
    #[error("seq 0: prev must be 64 zeros")]
    GenesisPrev,
    #[error("log starts at seq {seq} without a segment.start entry (earlier entries removed)")]
    BadStart { seq: u64 },
    #[error("seq {seq}: segment does not start with a segment.start entry")]
    SegmentStartMissing { seq: u64 },
    #[error("seq {seq}: segment.start entry in the middle of a segment")]
    MisplacedSegmentStart { seq: u64 },
    #[error("seq {seq}: segment.start details do not record the previous hash")]
    SegmentStartDetails { seq: u64 },
}

/// The segment number of a file named like [`super::segment_file_name`].
pub fn segment_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Per-segment result, used by the writer to resume and to apply retention.
#[derive(Clone, Debug)]
pub(crate) struct SegmentInfo {
    pub path: PathBuf,
    pub number: Option<u64>,
    pub last: Entry,
}

/// Verifies the given segment files, or directories of segments, as one log. Numbered segments
/// (`audit-NNNNNNNN.jsonl`) are checked in number order and must be consecutive; other files
/// are taken in the order given. Detects edited, removed, inserted, reordered and truncated
/// entries, and names the file and line.
///
/// A log may start at seq 0 (prev = 64 zeros) or, after retention removed older segments, at a
/// `segment.start` entry. Removing whole lines from the *end* of the last segment cannot be seen
/// from the files alone: compare `Summary::last` with a copy shipped elsewhere (Azure Monitor).
pub fn verify<P: AsRef<Path>>(paths: &[P]) -> Result<Summary, VerifyError> {
    let mut entries = 0;
    let mut first = None;
    let segments = verify_segments(paths, |e| {
        entries += 1;
        if first.is_none() {
            first = Some(e.clone());
        }
    })?;
    let file = paths
        .first()
        .map(|p| p.as_ref().to_path_buf())
        .unwrap_or_default();
    match (first, segments.last()) {
        (Some(first), Some(last)) => Ok(Summary {
            entries,
            segments: segments.len(),
            first,
            last: last.last.clone(),
        }),
        _ => Err(VerifyError {
            file,
            line: 0,
            problem: Problem::NoSegments,
        }),
    }
}

fn collect(paths: &[impl AsRef<Path>]) -> Result<Vec<(PathBuf, Option<u64>)>, VerifyError> {
    let mut files = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let err = |e: std::io::Error| VerifyError {
            file: p.to_path_buf(),
            line: 0,
            problem: Problem::Io(e),
        };
        if p.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(p).map_err(err)? {
                let path = entry.map_err(err)?.path();
                if let Some(n) = segment_number(&path) {
                    found.push((path, Some(n)));
                }
            }
            if found.is_empty() {
                return Err(VerifyError {
                    file: p.to_path_buf(),
                    line: 0,
                    problem: Problem::NoSegments,
                });
            }
            files.extend(found);
        } else {
            files.push((p.to_path_buf(), segment_number(p)));
        }
    }
    if files.iter().all(|(_, n)| n.is_some()) {
        files.sort_by_key(|(_, n)| *n);
        files.dedup_by_key(|(_, n)| *n);
        for pair in files.windows(2) {
            if let [(_, Some(a)), (path, Some(b))] = pair
                && *b != a + 1
            {
                return Err(VerifyError {
                    file: path.clone(),
                    line: 0,
                    problem: Problem::SegmentMissing {
                        expected: a + 1,
                        found: *b,
                    },
                });
            }
        }
    }
    Ok(files)
}

/// Verifies and calls `each` for every entry in order.
pub(crate) fn verify_segments<P: AsRef<Path>>(
    paths: &[P],
    mut each: impl FnMut(&Entry),
) -> Result<Vec<SegmentInfo>, VerifyError> {
    let files = collect(paths)?;
    let mut prev: Option<(u64, String)> = None;
    let mut out = Vec::with_capacity(files.len());
    for (index, (path, number)) in files.into_iter().enumerate() {
        let bytes = std::fs::read(&path).map_err(|e| VerifyError {
            file: path.clone(),
            line: 0,
            problem: Problem::Io(e),
        })?;
        let fail = |line: u64, problem: Problem| VerifyError {
            file: path.clone(),
            line,
            problem,
        };
        if bytes.is_empty() {
            return Err(fail(1, Problem::Empty));
        }
        let mut last = None;
        let mut rest = &bytes[..];
        let mut line_no = 0u64;
        while !rest.is_empty() {
            line_no += 1;
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                return Err(fail(line_no, Problem::Truncated));
            };
            let line = &rest[..nl];
            rest = &rest[nl + 1..];
            let entry = check_line(line, line_no, index, &prev).map_err(|p| fail(line_no, p))?;
            prev = Some((entry.seq, entry.hash.clone()));
            each(&entry);
            last = Some(entry);
        }
        if let Some(last) = last {
            out.push(SegmentInfo { path, number, last });
        }
    }
    Ok(out)
}

fn check_line(
    line: &[u8],
    line_no: u64,
    segment_index: usize,
    prev: &Option<(u64, String)>,
) -> Result<Entry, Problem> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| Problem::Malformed(e.to_string()))?;
    let entry: Entry =
        serde_json::from_value(value.clone()).map_err(|e| Problem::Malformed(e.to_string()))?;
    let seq = entry.seq;
    let computed = hash_of_value(&value).map_err(|e| Problem::Malformed(e.to_string()))?;
    if computed != entry.hash {
        return Err(Problem::HashMismatch { seq });
    }
    if canonical(&value).map_err(|e| Problem::Malformed(e.to_string()))? != line {
        return Err(Problem::NotCanonical { seq });
    }
    match prev {
        Some((prev_seq, prev_hash)) => {
            if seq != prev_seq + 1 {
                return Err(Problem::SeqMismatch {
                    expected: prev_seq + 1,
                    found: seq,
                });
            }
            if entry.prev != *prev_hash {
                return Err(Problem::PrevMismatch { seq });
            }
        }
        None if seq == 0 && entry.prev != GENESIS => return Err(Problem::GenesisPrev),
        None if seq == 0 => {}
        None if entry.event.kind != Kind::SegmentStart => return Err(Problem::BadStart { seq }),
        None => {}
    }
    let is_start = entry.event.kind == Kind::SegmentStart;
    if is_start && line_no != 1 {
        return Err(Problem::MisplacedSegmentStart { seq });
    }
    if line_no == 1 && segment_index > 0 && !is_start {
        return Err(Problem::SegmentStartMissing { seq });
    }
    if is_start
        && entry
            .event
            .details
            .get("previousLastHash")
            .and_then(Value::as_str)
            != Some(entry.prev.as_str())
    {
        return Err(Problem::SegmentStartDetails { seq });
    }
    Ok(entry)
}
