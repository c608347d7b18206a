//! Where sealed entries go, and the async front used by the controller and API server.
//!
//! The file log ([`FileSink`]) owns the chain: it seals every event (seq, prev, hash) and makes it
//! durable. [`AuditLog::record`] appends there first, then hands the entries written to
//! forwarders ([`spawn_forwarder`]) that batch them into other [`Sink`]s (Azure Monitor) in the
//! background. A forwarder that gives up logs the seq range it dropped; the file stays the
//! source of truth to re-ship from.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{sync::mpsc, task::JoinHandle};

use super::{Entry, Event, OpenError, WriteError, Writer, WriterConfig};

/// A destination for sealed entries, in chain order.
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    /// Stores `entries` (consecutive, in seq order); retries are the sink's business.
    fn publish<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<(), SinkError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: misconfigured: {message}")]
    Config { sink: String, message: String },
    #[error("{sink}: token callback failed: {message}")]
    Token { sink: String, message: String },
    #[error("{sink}: HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        sink: String,
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("{sink}: {message} (after {attempts} attempt(s))")]
    Transport {
        sink: String,
        attempts: u32,
        message: String,
    },
    #[error("{sink}: {source}")]
    Write { sink: String, source: WriteError },
}

/// The file log, usable from async code: a [`Writer`] behind a mutex, driven on the blocking pool.
#[derive(Clone)]
pub struct FileSink {
    writer: Arc<Mutex<Writer>>,
    name: String,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl FileSink {
    /// Opens (and verifies) the log; blocking, call at startup or from `spawn_blocking`.
    pub fn open(cfg: WriterConfig) -> Result<FileSink, OpenError> {
        Ok(FileSink::new(Writer::open(cfg)?))
    }

    pub fn new(writer: Writer) -> FileSink {
        let name = format!("file:{}", writer.dir().display());
        FileSink {
            writer: Arc::new(Mutex::new(writer)),
            name,
        }
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T, WriteError> + Send + 'static,
    ) -> Result<T, WriteError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut guard = writer
                .lock()
                .map_err(|_| WriteError::Unavailable("writer mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| WriteError::Unavailable(e.to_string()))?
    }

    /// Appends `event`; returns its entry.
    pub async fn append(&self, event: Event) -> Result<Entry, WriteError> {
        self.with(move |w| w.append(event)).await
    }

    /// Appends `event`; returns all entries written (`segment.start` first after a rotation).
    pub async fn append_all(&self, event: Event) -> Result<Vec<Entry>, WriteError> {
        self.with(move |w| w.append_all(event)).await
    }

    pub async fn rotate(&self) -> Result<Option<Entry>, WriteError> {
        self.with(Writer::rotate).await
    }

    pub async fn sync(&self) -> Result<(), WriteError> {
        self.with(Writer::sync).await
    }
}

/// As a sink, a file log mirrors another chain ([`Writer::append_sealed`]).
impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn publish<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<(), SinkError>> {
        let entries = entries.to_vec();
        Box::pin(async move {
            self.with(move |w| entries.iter().try_for_each(|e| w.append_sealed(e)))
                .await
                .map_err(|source| SinkError::Write {
                    sink: self.name.clone(),
                    source,
                })
        })
    }
}

/// Keeps entries in memory (tests, dry runs).
#[derive(Debug, Default)]
pub struct MemorySink {
    entries: Mutex<Vec<Entry>>,
}

impl MemorySink {
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn publish<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if let Ok(mut v) = self.entries.lock() {
                v.extend_from_slice(entries);
            }
            Ok(())
        })
    }
}

/// The handle components record events with.
#[derive(Clone, Debug)]
pub struct AuditLog {
    file: FileSink,
    forwarders: Arc<Vec<Forwarder>>,
}

/// Sends entries to a background task feeding one sink (see [`spawn_forwarder`]).
#[derive(Clone, Debug)]
pub struct Forwarder {
    name: String,
    tx: mpsc::UnboundedSender<Vec<Entry>>,
}

impl AuditLog {
    pub fn new(file: FileSink) -> AuditLog {
        AuditLog {
            file,
            forwarders: Arc::new(Vec::new()),
        }
    }

    pub fn forward_to(mut self, forwarder: Forwarder) -> AuditLog {
        Arc::make_mut(&mut self.forwarders).push(forwarder);
        self
    }

    pub fn file(&self) -> &FileSink {
        &self.file
    }

    /// Makes `event` durable in the file log, then queues the entries for the forwarders (under
    /// the writer's lock, so that forwarders see entries in chain order).
    pub async fn record(&self, event: Event) -> Result<Entry, WriteError> {
        let forwarders = Arc::clone(&self.forwarders);
        let entries = self
            .file
            .with(move |w| {
                let entries = w.append_all(event)?;
                for f in forwarders.iter() {
                    if f.tx.send(entries.clone()).is_err() {
                        tracing::warn!(
                            sink = %f.name,
                            "audit forwarder stopped; entry kept in the file only"
                        );
                    }
                }
                Ok(entries)
            })
            .await?;
        entries
            .last()
            .cloned()
            .ok_or_else(|| WriteError::Unavailable("nothing written".into()))
    }
}

/// Starts a task that publishes entries to `sink` in batches of up to `max_batch`, waiting at
/// most `flush_every` for a batch to fill. The task ends (after a last flush) when every
/// [`Forwarder`] clone is dropped.
pub fn spawn_forwarder(
    sink: Arc<dyn Sink>,
    max_batch: usize,
    flush_every: Duration,
) -> (Forwarder, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Entry>>();
    let name = sink.name().to_owned();
    let task = tokio::spawn(async move {
        let max_batch = max_batch.max(1);
        let mut open = true;
        while open {
            let Some(first) = rx.recv().await else {
                break;
            };
            let mut batch = first;
            let deadline = tokio::time::Instant::now() + flush_every;
            while batch.len() < max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(more)) => batch.extend(more),
                    Ok(None) => {
                        open = false;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if let Err(error) = sink.publish(&batch).await {
                tracing::error!(
                    %error,
                    first_seq = batch.first().map(|e| e.seq),
                    last_seq = batch.last().map(|e| e.seq),
                    "audit entries not forwarded; they remain in the file log"
                );
            }
        }
    });
    (Forwarder { name, tx }, task)
}
