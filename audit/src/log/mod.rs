//! Append-only, tamper-evident audit log of self-service actions (DESIGN.md §3).
//!
//! # Entries and the hash chain
//!
//! Every line of a segment file is one [`Entry`]:
//!
//! ```json
//! {"event":{"action":"restart","actor":"alice","details":{},"kind":"run.created","run":"team-a/restart-1","target":"Component/team-a/web"},"hash":"…","prev":"…","seq":0,"time":"2025-01-01T00:00:00Z"}
//! ```
//!
//! - `seq` counts entries from 0 across all segments, without gaps;
//! - `prev` is the `hash` of the previous entry (64 zeros for seq 0);
//! - `hash` is the hex SHA-256 of the entry's **canonical form without the `hash` key**.
//!
//! **Canonical form**: the entry as a JSON value, serialized compactly (no whitespace) with the
//! keys of every object sorted by their UTF-8 bytes, at every depth (also inside `details`);
//! strings and numbers are written as `serde_json` writes them. It is computed by
//! [`canonical`] over a `serde_json::Value`, whatever the map type `serde_json` was built with
//! (`preserve_order` or not). Lines on disk are themselves the canonical form of the whole
//! entry, so any byte changed in a line shows (as a wrong hash or a non-canonical line).
//!
//! # Segments
//!
//! A log is a directory of JSON Lines files `audit-00000001.jsonl`, `audit-00000002.jsonl`, …
//! ([`segment_file_name`]). The writer rotates into the next segment by size; the first entry of
//! every segment after the first is a `segment.start` entry whose `prev` is the last hash of the
//! previous segment and whose `details` record that segment's name, last seq and last hash. So the
//! chain runs across segments, and once retention has deleted old segments the first remaining
//! one still starts at a verifiable anchor.

mod azure;
pub mod read;
mod sink;
mod verify;
mod writer;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use azure::{AzureConfig, AzureSink, BoxError, TokenFuture, TokenSource};
pub use sink::{AuditLog, FileSink, Forwarder, MemorySink, Sink, SinkError, spawn_forwarder};
pub use verify::{Problem, Summary, VerifyError, segment_number, verify};
pub use writer::{Clock, OpenError, WriteError, Writer, WriterConfig};

/// `prev` of the first entry (seq 0).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// File name of segment `n` (1-based).
pub fn segment_file_name(n: u64) -> String {
    format!("audit-{n:08}.jsonl")
}

/// What happened. Serialized as its dotted name (`run.created`); names this crate does not know
/// are kept as [`Kind::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    RunCreated,
    RunValidated,
    ApprovalRecorded,
    RunApproved,
    RunRejected,
    RunExpired,
    RunStarted,
    RunSucceeded,
    RunFailed,
    RunCancelled,
    RunRolledBack,
    RunArchived,
    /// First entry of every segment after the first; written by the writer only.
    SegmentStart,
    Other(String),
}

impl Kind {
    pub fn as_str(&self) -> &str {
        match self {
            Kind::RunCreated => "run.created",
            Kind::RunValidated => "run.validated",
            Kind::ApprovalRecorded => "approval.recorded",
            Kind::RunApproved => "run.approved",
            Kind::RunRejected => "run.rejected",
            Kind::RunExpired => "run.expired",
            Kind::RunStarted => "run.started",
            Kind::RunSucceeded => "run.succeeded",
            Kind::RunFailed => "run.failed",
            Kind::RunCancelled => "run.cancelled",
            Kind::RunRolledBack => "run.rolledBack",
            Kind::RunArchived => "run.archived",
            Kind::SegmentStart => "segment.start",
            Kind::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "run.created" => Kind::RunCreated,
            "run.validated" => Kind::RunValidated,
            "approval.recorded" => Kind::ApprovalRecorded,
            "run.approved" => Kind::RunApproved,
            "run.rejected" => Kind::RunRejected,
            "run.expired" => Kind::RunExpired,
            "run.started" => Kind::RunStarted,
            "run.succeeded" => Kind::RunSucceeded,
            "run.failed" => Kind::RunFailed,
            "run.cancelled" => Kind::RunCancelled,
            "run.rolledBack" => Kind::RunRolledBack,
            "run.archived" => Kind::RunArchived,
            "segment.start" => Kind::SegmentStart,
            other => Kind::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Kind::parse(&s))
    }
}

/// One self-service fact: who did what to which run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub kind: Kind,
    /// The user or controller that caused the event (`alice@example.com`, `system:nexus-controller`).
    pub actor: String,
    /// The ActionRun as `namespace/name`.
    pub run: String,
    /// The Action the run executes.
    pub action: String,
    /// What the action acts on (`Component/team-a/web`).
    pub target: String,
    /// Anything else (approval stage, reason, old/new state…).
    #[serde(default)]
    pub details: Value,
}

impl Event {
    pub fn new(
        kind: Kind,
        actor: impl Into<String>,
        run: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Event {
        Event {
            kind,
            actor: actor.into(),
            run: run.into(),
            action: action.into(),
            target: target.into(),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Event {
        self.details = details;
        self
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339.
    pub time: jiff::Timestamp,
    /// `hash` of the previous entry, [`GENESIS`] for seq 0.
    pub prev: String,
    /// Hex SHA-256 of the canonical form of this entry without `hash`.
    pub hash: String,
    pub event: Event,
}

impl Entry {
    /// Builds the entry and computes its hash.
    pub fn seal(
        seq: u64,
        time: jiff::Timestamp,
        prev: String,
        event: Event,
    ) -> Result<Entry, serde_json::Error> {
        let mut entry = Entry {
            seq,
            time,
            prev,
            hash: String::new(),
            event,
        };
        entry.hash = hash_of_value(&serde_json::to_value(&entry)?)?;
        Ok(entry)
    }

    /// The hash this entry should have (recomputed from its contents).
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        hash_of_value(&serde_json::to_value(self)?)
    }

    /// The line written to a segment, newline included.
    pub fn to_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = canonical(&serde_json::to_value(self)?)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// Hex SHA-256 of the canonical form of `entry` (a JSON object) without its `hash` key.
pub fn hash_of_value(entry: &Value) -> Result<String, serde_json::Error> {
    let bytes = match entry {
        Value::Object(map) => {
            let mut map = map.clone();
            map.remove("hash");
            canonical(&Value::Object(map))?
        }
        other => canonical(other)?,
    };
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Canonical JSON bytes of `value`: compact, object keys sorted by bytes at every depth.
pub fn canonical(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": "é\n"}, "A": null});
        let s = String::from_utf8(canonical(&v).unwrap()).unwrap();
        assert_eq!(s, r#"{"A":null,"a":{"c":"é\n","z":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn hash_ignores_hash_key_and_key_order() {
        let a = json!({"seq": 1, "prev": GENESIS, "hash": "x"});
        let b = json!({"prev": GENESIS, "seq": 1});
        assert_eq!(hash_of_value(&a).unwrap(), hash_of_value(&b).unwrap());
        assert_eq!(hash_of_value(&a).unwrap().len(), 64);
    }

    #[test]
    fn seal_and_line_round_trip() {
        let time: jiff::Timestamp = "2025-01-02T03:04:05.5Z".parse().unwrap();
        let event = Event::new(
            Kind::RunCreated,
            "alice",
            "ns/run",
            "restart",
            "Component/ns/web",
        )
        .with_details(json!({"z": 1, "a": [1.5, "x"]}));
        let e = Entry::seal(0, time, GENESIS.into(), event).unwrap();
        assert_eq!(e.compute_hash().unwrap(), e.hash);
        let line = e.to_line().unwrap();
        assert!(line.ends_with(b"\n"));
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(r#"{"event":{"action":"restart","actor":"alice","details":{"a":[1.5,"x"],"z":1},"kind":"run.created""#), "{text}");
        let back: Entry = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, e);
        let raw: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(hash_of_value(&raw).unwrap(), e.hash);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            Kind::RunRolledBack,
            Kind::ApprovalRecorded,
            Kind::Other("run.paused".into()),
        ] {
            let s = serde_json::to_string(&k).unwrap();
            assert_eq!(serde_json::from_str::<Kind>(&s).unwrap(), k);
        }
        assert_eq!(Kind::parse("run.rolledBack"), Kind::RunRolledBack);
    }

    #[test]
    fn hex_encodes() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
    }
}
