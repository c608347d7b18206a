//! Rendering changes as YAML documents or JSON.

use anyhow::Context as _;
use clap::ValueEnum;
use nexus_ingest::Change;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// One printable document per change: an upsert prints the manifest itself (then, when it
/// carries facts, a status patch for it); facts print as a status patch naming its target;
/// gone prints what would be marked (and deleted when Nexus created it).
pub fn documents(changes: &[Change]) -> Vec<Value> {
    let mut docs = Vec::new();
    for change in changes {
        match change {
            Change::Upsert(u) => {
                let object = u.object.clone();
                docs.push(object);
                if !u.status.is_empty() || !u.lists.is_empty() || !u.resolve.is_empty() {
                    docs.push(json!({
                        "statusPatch": {
                            "fieldManager": u.source.manager(),
                            "target": {"by": "entity", "kind": u.kind(), "namespace": u.namespace(), "name": u.name()},
                            "set": u.status,
                            "lists": u.lists,
                            "resolveRefs": u.resolve,
                            "identity": u.identity,
                        }
                    }));
                }
            }
            Change::Facts(f) => docs.push(json!({
                "statusPatch": {
                    "fieldManager": f.source.manager(),
                    "target": f.target,
                    "set": f.set,
                    "lists": f.lists,
                }
            })),
            Change::Gone(g) => docs.push(json!({
                "gone": {
                    "fieldManager": g.source.manager(),
                    "target": g.target,
                    "reason": g.reason,
                    "deleteIfCreatedByNexus": g.delete,
                }
            })),
        }
    }
    docs
}

/// Prints documents to stdout in the chosen format. A closed pipe (`| head`) ends the output
/// quietly instead of failing.
pub fn print(docs: &[Value], format: Format) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let result = match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(docs).context("rendering JSON")?;
            writeln!(out, "{text}")
        }
        Format::Yaml => docs.iter().try_for_each(|doc| {
            let text = serde_yaml::to_string(doc).map_err(std::io::Error::other)?;
            write!(out, "---\n{text}")
        }),
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
