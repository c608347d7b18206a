//! Reading the log back, newest first, for people (the portal's audit page through the
//! controller's `/audit/entries`). Entries are returned as stored; this does not verify the
//! chain (`nexus audit verify` does), and a line that does not parse is skipped, not fatal, so
//! one damaged line does not hide the rest of the history.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use super::{Entry, Kind, segment_number};

/// Most entries one read returns.
pub const MAX_LIMIT: usize = 500;

/// Which entries to return.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// The run's namespace (`run` is `namespace/name`).
    pub namespace: Option<String>,
    /// The run, `namespace/name` or just its name.
    pub run: Option<String>,
    pub actor: Option<String>,
    /// Only entries older than this seq (the previous page's last seq).
    pub before: Option<u64>,
    /// Page size, 1–[`MAX_LIMIT`].
    pub limit: usize,
}

impl Query {
    fn matches(&self, e: &Entry) -> bool {
        if e.event.kind == Kind::SegmentStart {
            return false;
        }
        if self.before.is_some_and(|b| e.seq >= b) {
            return false;
        }
        let (ns, name) = e.event.run.split_once('/').unwrap_or(("", &e.event.run));
        self.namespace.as_deref().is_none_or(|n| n == ns)
            && self
                .run
                .as_deref()
                .is_none_or(|r| r == e.event.run || r == name)
            && self.actor.as_deref().is_none_or(|a| a == e.event.actor)
    }
}

/// One page, newest first; `more` when older matching entries may exist.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The segments of `dir`, newest first.
fn segments(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|p| segment_number(&p).map(|n| (n, p)))
        .collect();
    found.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

fn first_seq(path: &Path) -> Result<Option<u64>, ReadError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut line = String::new();
    BufReader::new(file)
        .read_line(&mut line)
        .map_err(io(path))?;
    Ok(serde_json::from_str::<Entry>(&line).ok().map(|e| e.seq))
}

/// Matching entries of the log in `dir`, newest first, at most `query.limit` (bounded by
/// [`MAX_LIMIT`]). Segments wholly newer than `query.before` are not read.
pub fn read_newest_first(dir: &Path, query: &Query) -> Result<Page, ReadError> {
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let mut page = Page::default();
    for path in segments(dir)? {
        if let (Some(before), Some(first)) = (query.before, first_seq(&path)?)
            && first >= before
        {
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // Retention may delete a segment between listing and reading.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        for line in text.lines().rev() {
            let Ok(entry) = serde_json::from_str::<Entry>(line) else {
                continue;
            };
            if !query.matches(&entry) {
                continue;
            }
            if page.entries.len() == limit {
                page.more = true;
                return Ok(page);
            }
            page.entries.push(entry);
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Event, Writer, WriterConfig};

    #[test]
    fn newest_first_filtered_and_paged_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = WriterConfig::new(dir.path());
        cfg.max_segment_bytes = 900;
        let mut w = Writer::open(cfg).unwrap();
        for i in 0..12 {
            let ns = if i % 2 == 0 { "pay" } else { "ship" };
            let actor = if i % 3 == 0 { "lee" } else { "dana" };
            w.append(Event::new(
                Kind::RunCreated,
                actor,
                format!("{ns}/run-{i}"),
                "scale",
                "component:pay/x",
            ))
            .unwrap();
        }
        assert!(segments(dir.path()).unwrap().len() > 1, "rotated");
        let all = read_newest_first(
            dir.path(),
            &Query {
                limit: 100,
                ..Query::default()
            },
        )
        .unwrap();
        let runs: Vec<&str> = all.entries.iter().map(|e| e.event.run.as_str()).collect();
        assert_eq!(runs.len(), 12, "segment.start entries are left out");
        assert_eq!(runs[0], "ship/run-11");
        assert!(all.entries.windows(2).all(|w| w[0].seq > w[1].seq));
        let q = Query {
            namespace: Some("pay".into()),
            limit: 2,
            ..Query::default()
        };
        let first = read_newest_first(dir.path(), &q).unwrap();
        assert!(first.more);
        let names: Vec<&str> = first.entries.iter().map(|e| e.event.run.as_str()).collect();
        assert_eq!(names, ["pay/run-10", "pay/run-8"]);
        let next = read_newest_first(
            dir.path(),
            &Query {
                before: Some(first.entries[1].seq),
                ..q.clone()
            },
        )
        .unwrap();
        assert_eq!(next.entries[0].event.run, "pay/run-6");
        let by_run = read_newest_first(
            dir.path(),
            &Query {
                run: Some("run-3".into()),
                actor: Some("lee".into()),
                limit: 10,
                ..Query::default()
            },
        )
        .unwrap();
        assert_eq!(by_run.entries.len(), 1);
        assert!(!by_run.more);
    }
}
