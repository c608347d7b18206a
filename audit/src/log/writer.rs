//! The file writer: appends entries to the current segment, rotates by size, deletes segments past
//! retention. Synchronous (std::fs); async callers use [`super::FileSink`].

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::json;

use super::{
    Entry, Event, GENESIS, Kind, segment_file_name,
    verify::{SegmentInfo, VerifyError, verify_segments},
};

/// Where entry times come from (tests move time).
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

#[derive(Clone)]
pub struct WriterConfig {
    /// Directory holding the segments (created if missing).
    pub dir: PathBuf,
    /// Rotate before an append would make the current segment larger than this.
    pub max_segment_bytes: u64,
    /// Delete segments whose last entry is older than this many days (never the current one).
    /// `None` keeps everything. Default 90.
    pub retention_days: Option<u32>,
    /// fsync after this many appends (1 = every append, the default). Larger values trade the
    /// last few entries on power loss for throughput; [`Writer::sync`] flushes explicitly.
    pub sync_every: u32,
    pub clock: Clock,
}

impl WriterConfig {
    pub fn new(dir: impl Into<PathBuf>) -> WriterConfig {
        WriterConfig {
            dir: dir.into(),
            max_segment_bytes: 64 * 1024 * 1024,
            retention_days: Some(90),
            sync_every: 1,
            clock: Arc::new(jiff::Timestamp::now),
        }
    }
}

impl std::fmt::Debug for WriterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterConfig")
            .field("dir", &self.dir)
            .field("max_segment_bytes", &self.max_segment_bytes)
            .field("retention_days", &self.retention_days)
            .field("sync_every", &self.sync_every)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The existing log does not verify: appending would hide the damage behind a valid tail.
    #[error(
        "refusing to append: the existing audit log in {} fails verification: {source}",
        dir.display()
    )]
    Corrupt { dir: PathBuf, source: VerifyError },
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialize entry: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("event kind {0} is reserved for the writer")]
    Reserved(Kind),
    #[error("entry seq {seq} does not continue the chain (expected seq {expected})")]
    Discontinuous { seq: u64, expected: u64 },
    #[error(
        "the writer stopped after a failed write to {}; reopen it (the log is verified on open)",
        path.display()
    )]
    Broken { path: PathBuf },
    #[error("audit writer unavailable: {0}")]
    Unavailable(String),
}

struct Current {
    file: File,
    path: PathBuf,
    number: u64,
    bytes: u64,
}

pub struct Writer {
    cfg: WriterConfig,
    current: Option<Current>,
    /// Closed segments still on disk, oldest first: (path, time of last entry).
    closed: VecDeque<(PathBuf, jiff::Timestamp)>,
    next_seq: u64,
    last_hash: String,
    last_time: Option<jiff::Timestamp>,
    unsynced: u32,
    broken: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.cfg.dir)
            .field("segment", &self.current.as_ref().map(|c| c.number))
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens the log in `cfg.dir`, verifying every segment there and resuming the chain after the
    /// last entry. Refuses ([`OpenError::Corrupt`]) when the existing log does not verify.
    pub fn open(cfg: WriterConfig) -> Result<Writer, OpenError> {
        let io = |source| OpenError::Io {
            dir: cfg.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&cfg.dir).map_err(io)?;
        let mut existing = Vec::new();
        for entry in std::fs::read_dir(&cfg.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if super::segment_number(&path).is_some() {
                existing.push(path);
            }
        }
        let mut writer = Writer {
            current: None,
            closed: VecDeque::new(),
            next_seq: 0,
            last_hash: GENESIS.to_owned(),
            last_time: None,
            unsynced: 0,
            broken: false,
            cfg,
        };
        if existing.is_empty() {
            return Ok(writer);
        }
        let segments: Vec<SegmentInfo> =
            verify_segments(&existing, |_| {}).map_err(|source| OpenError::Corrupt {
                dir: writer.cfg.dir.clone(),
                source,
            })?;
        let Some((last, older)) = segments.split_last() else {
            // Every file was empty would have failed verification; nothing to resume.
            return Ok(writer);
        };
        writer.closed = older
            .iter()
            .map(|s| (s.path.clone(), s.last.time))
            .collect();
        let file = OpenOptions::new()
            .append(true)
            .open(&last.path)
            .map_err(|source| OpenError::Io {
                dir: last.path.clone(),
                source,
            })?;
        let bytes = file
            .metadata()
            .map_err(|source| OpenError::Io {
                dir: last.path.clone(),
                source,
            })?
            .len();
        writer.current = Some(Current {
            file,
            path: last.path.clone(),
            number: last.number.unwrap_or(1),
            bytes,
        });
        writer.next_seq = last.last.seq + 1;
        writer.last_hash = last.last.hash.clone();
        writer.last_time = Some(last.last.time);
        // Retention is best effort at open; failures show on the next rotation too.
        if let Err(e) = writer.apply_retention() {
            tracing::warn!(error = %e, "audit retention failed");
        }
        Ok(writer)
    }

    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Seq the next entry gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Hash of the last entry ([`GENESIS`] for an empty log).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Paths of the segments on disk, oldest first.
    pub fn segments(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.closed.iter().map(|(p, _)| p.clone()).collect();
        v.extend(self.current.as_ref().map(|c| c.path.clone()));
        v
    }

    /// Appends `event`; returns the entry written.
    pub fn append(&mut self, event: Event) -> Result<Entry, WriteError> {
        let mut written = self.append_all(event)?;
        written
            .pop()
            .ok_or_else(|| WriteError::Unavailable("nothing written".into()))
    }

    /// Appends `event`; returns every entry written, in order: a `segment.start` entry first when
    /// the append rotated, then the event's entry. Forwarders ship all of them.
    pub fn append_all(&mut self, event: Event) -> Result<Vec<Entry>, WriteError> {
        if event.kind == Kind::SegmentStart {
            return Err(WriteError::Reserved(event.kind));
        }
        self.check_usable()?;
        let mut out = Vec::with_capacity(2);
        let entry = self.seal(event.clone())?;
        let line = entry.to_line()?;
        let entry = match &self.current {
            Some(c) if c.bytes > 0 && c.bytes + line.len() as u64 > self.cfg.max_segment_bytes => {
                out.extend(self.rotate()?);
                self.seal(event)?
            }
            _ => entry,
        };
        self.write_entry(&entry)?;
        out.push(entry);
        Ok(out)
    }

    /// Appends an entry sealed elsewhere (mirroring another writer's chain): it must continue this
    /// log's chain; a `segment.start` entry starts a new segment here too.
    pub fn append_sealed(&mut self, entry: &Entry) -> Result<(), WriteError> {
        self.check_usable()?;
        let fresh = self.current.is_none() && self.next_seq == 0;
        let continues = entry.seq == self.next_seq && entry.prev == self.last_hash;
        let starts_mirror = fresh && (entry.event.kind == Kind::SegmentStart || entry.seq == 0);
        if !(continues || starts_mirror) || entry.compute_hash()? != entry.hash {
            return Err(WriteError::Discontinuous {
                seq: entry.seq,
                expected: self.next_seq,
            });
        }
        if entry.event.kind == Kind::SegmentStart && self.current.is_some() {
            let number = self.current_number() + 1;
            self.close_current()?;
            self.open_segment(number)?;
        }
        self.write_entry(entry)
    }

    /// Starts a new segment now (no-op on an empty log); returns its `segment.start` entry.
    pub fn rotate(&mut self) -> Result<Option<Entry>, WriteError> {
        self.check_usable()?;
        let Some(current) = &self.current else {
            return Ok(None);
        };
        let previous = current
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let number = current.number + 1;
        self.close_current()?;
        self.open_segment(number)?;
        let event = Event::new(
            Kind::SegmentStart,
            "nexus-audit",
            "",
            "rotate",
            segment_file_name(number),
        )
        .with_details(json!({
            "previousSegment": previous,
            "previousLastSeq": self.next_seq.checked_sub(1),
            "previousLastHash": self.last_hash,
        }));
        let entry = self.seal(event)?;
        self.write_entry(&entry)?;
        self.sync()?;
        if let Err(e) = self.apply_retention() {
            tracing::warn!(error = %e, "audit retention failed");
        }
        Ok(Some(entry))
    }

    /// fsyncs the current segment.
    pub fn sync(&mut self) -> Result<(), WriteError> {
        if let Some(c) = &self.current {
            c.file.sync_data().map_err(|source| WriteError::Io {
                path: c.path.clone(),
                source,
            })?;
        }
        self.unsynced = 0;
        Ok(())
    }

    /// Deletes closed segments whose last entry is older than the retention, oldest first, so
    /// the remaining ones stay consecutive and the first of them starts with `segment.start`.
    pub fn apply_retention(&mut self) -> Result<usize, WriteError> {
        let Some(days) = self.cfg.retention_days else {
            return Ok(0);
        };
        let cutoff = (self.cfg.clock)() - jiff::SignedDuration::from_hours(24 * i64::from(days));
        let mut removed = 0;
        while let Some((path, last_time)) = self.closed.front() {
            if *last_time >= cutoff {
                break;
            }
            std::fs::remove_file(path).map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?;
            self.closed.pop_front();
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.cfg.dir);
        }
        Ok(removed)
    }

    fn check_usable(&self) -> Result<(), WriteError> {
        if self.broken {
            return Err(WriteError::Broken {
                path: self
                    .current
                    .as_ref()
                    .map(|c| c.path.clone())
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn current_number(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.number)
    }

    fn seal(&self, event: Event) -> Result<Entry, WriteError> {
        Ok(Entry::seal(
            self.next_seq,
            (self.cfg.clock)(),
            self.last_hash.clone(),
            event,
        )?)
    }

    fn close_current(&mut self) -> Result<(), WriteError> {
        self.sync()?;
        if let (Some(c), Some(t)) = (self.current.take(), self.last_time) {
            self.closed.push_back((c.path, t));
        }
        Ok(())
    }

    fn open_segment(&mut self, number: u64) -> Result<(), WriteError> {
        let path = self.cfg.dir.join(segment_file_name(number));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?;
        sync_dir(&self.cfg.dir);
        self.current = Some(Current {
            file,
            path,
            number,
            bytes: 0,
        });
        Ok(())
    }

    fn write_entry(&mut self, entry: &Entry) -> Result<(), WriteError> {
        let line = entry.to_line()?;
        if self.current.is_none() {
            self.open_segment(1)?;
        }
        let Some(c) = self.current.as_mut() else {
            return Err(WriteError::Unavailable("no current segment".into()));
        };
        if let Err(source) = c.file.write_all(&line) {
            // A partial line may be on disk: stop, so that the next open reports it.
            self.broken = true;
            return Err(WriteError::Io {
                path: c.path.clone(),
                source,
            });
        }
        c.bytes += line.len() as u64;
        self.next_seq = entry.seq + 1;
        self.last_hash.clone_from(&entry.hash);
        self.last_time = Some(entry.time);
        self.unsynced += 1;
        if self.unsynced >= self.cfg.sync_every.max(1) {
            self.sync()?;
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(c) = &self.current {
            let _ = c.file.sync_data();
        }
    }
}

/// fsync a directory so that created/removed segment files survive power loss (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
