//! Helpers shared by the fuzz targets: the context every parser gets, the selector byte, and an
//! in-memory [`Fetch`] for Backstage `Location` targets.

use std::collections::BTreeMap;

use nexus_ingest::{Context, IngestError, NamespaceRule, backstage::Fetch};

/// X-GitHub-Event names `github_webhook` picks from (one per line; `seed.sh` reads the same
/// file to prefix each seed with its event's index). The empty name is appended last.
pub const GITHUB_EVENTS: &str = include_str!("../github_events.txt");

/// The event names, the empty one last.
pub fn github_events() -> Vec<&'static str> {
    let mut v: Vec<&str> = GITHUB_EVENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    v.push("");
    v
}

/// Splits `data` into the choice its first byte makes among `n` options, and the rest.
pub fn pick(data: &[u8], n: usize) -> Option<(usize, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((usize::from(first) % n.max(1), rest))
}

/// The repository web URL GitHub REST lists may take from the context.
pub const REPOSITORY_URL: &str = "https://github.com/octocat/hello-world";
/// The Repository reference IaC parsers write to `spec.repository`.
pub const REPOSITORY_REF: &str = "repository:team-platform/infra";

/// A context with a namespace rule (so the rule matching runs) and the given repository.
pub fn ctx(repository: Option<&str>) -> Context {
    let mut ctx = Context::in_namespace("fuzz");
    ctx.namespaces.rules.push(NamespaceRule {
        pattern: "octo*/*".into(),
        namespace: "team-octo".into(),
    });
    ctx.repository = repository.map(str::to_string);
    ctx
}

/// Serves files from memory; anything else is refused (no file system, no network).
#[derive(Debug, Default)]
pub struct MapFetch {
    pub files: BTreeMap<String, String>,
}

impl MapFetch {
    /// The first NUL-separated part of `text` is the catalog file; the others are served as
    /// `1.yaml`, `2.yaml`, …
    pub fn split(text: &str) -> (&str, MapFetch) {
        let mut parts = text.split('\0');
        let main = parts.next().unwrap_or_default();
        let files = parts
            .enumerate()
            .map(|(i, p)| (format!("{}.yaml", i + 1), p.to_string()))
            .collect();
        (main, MapFetch { files })
    }
}

impl Fetch for MapFetch {
    fn read(&self, base: &str, target: &str) -> Result<(String, String), IngestError> {
        let key = target.trim().trim_start_matches("./");
        match self.files.get(key) {
            Some(content) => Ok((key.to_string(), content.clone())),
            None => Err(IngestError::invalid(
                if base.is_empty() { "(input)" } else { base },
                format!("{target}: not found"),
            )),
        }
    }

    fn locate(&self, _base: &str, target: &str) -> Option<String> {
        Some(target.trim().trim_start_matches("./").to_string())
    }
}
