//! Markdown runbooks: a `.md` file with a YAML front matter block becomes a `Runbook` upsert.
//!
//! ```markdown
//! ---
//! title: Ledger database failover
//! description: Fail the ledger database over to the paired region.
//! tags: [database, failover]
//! appliesTo: [component:payments/ledger, azureresource:ledger-sql]
//! alerts: [ledger-db-cpu-high, "ledger-db-*"]
//! resourceTypes: [microsoft.sql/servers/databases]
//! owner: team:payments/payments
//! ---
//! # Ledger database failover
//! …
//! ```
//!
//! Every key is optional; list keys take one string or a list. `applies-to` and
//! `resource-types` are accepted spellings too. Other keys are refused (a typo such as
//! `appliesto` would otherwise silently surface the runbook nowhere). A file without a front
//! matter block is not a runbook (`Ignored`): a `README.md` beside the runbooks stays out of
//! the catalog. A file whose front matter is broken is an error naming the file and line, and
//! nothing is produced for it.
//!
//! The Runbook keeps the Markdown after the front matter in `spec.content` (searchable, and
//! rendered by nexus-apiserver) and the file it came from in `spec.source` plus the
//! `nexus.dev/source-url` annotation (`<repo>/blob/<ref>/<path>`), which is also how the runbooks
//! of a repository are found again when their file disappears ([`gone_except`]).
//!
//! Names: `<owner>-<repo>-<path segments>` without `.md` (`octocat-hello-world-runbooks-db-failover`),
//! in the namespace the integration maps `owner/repo` to — the same as the Repository's.

pub mod paths;

use std::collections::BTreeMap;

use nexus_api::{
    EntityKind, EntityRef,
    catalog::{
        About, Runbook,
        runbook::{RunbookSource, RunbookSpec},
    },
    entity::OWNER_KINDS,
    reference::MAX_REF_LEN,
};
use serde::{Deserialize, Deserializer, de};

pub use paths::{PatternError, RunbookPaths};

use crate::{
    Change, Context, Gone, IngestError, Outcome, Source, Target, Upsert,
    change::{EXTERNAL_ID, SOURCE_URL, normalise_repo_url},
    naming::object_name,
};

/// Largest runbook file read, in bytes (the CRD's `spec.content` bound, so a file that passes
/// always fits).
pub const MAX_RUNBOOK_BYTES: usize = 262_144;
/// Longest repository path (the CRD bound of `spec.source.path`).
const MAX_PATH: usize = 1024;
/// Longest git ref (the CRD bound of `spec.source.ref`).
const MAX_REF: usize = 250;
/// CRD bounds of the spec fields the front matter fills.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_TAGS: usize = 32;
const MAX_TAG: usize = 63;
const MAX_APPLIES_TO: usize = 64;
const MAX_ALERTS: usize = 64;
const MAX_ALERT: usize = 256;
const MAX_RESOURCE_TYPES: usize = 32;
const MAX_RESOURCE_TYPE: usize = 200;

/// Keys the front matter may hold, as error messages list them.
const KEYS: &str = "title, description, tags, appliesTo, alerts, resourceTypes, owner";

/// Why a runbook file could not be read. Every variant names the file; those about its text
/// name the line too (1-based, counting the opening `---` as line 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunbookError {
    #[error(
        "{path}: {size} bytes; a runbook may have at most {MAX_RUNBOOK_BYTES} bytes (split it, or link to the long parts)"
    )]
    TooLarge { path: String, size: usize },
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { path: String, offset: usize },
    #[error(
        "{path}:{line}: the front matter opened here is never closed: end it with a line `---`"
    )]
    Unclosed { path: String, line: usize },
    #[error("{path}:{line}: front matter: {message}")]
    Yaml {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}:{line}: {field}: {problem}")]
    Field {
        path: String,
        line: usize,
        field: String,
        problem: String,
    },
    #[error("{path}: {problem}")]
    Path { path: String, problem: String },
    #[error("repository {url:?}: {problem}")]
    Repository { url: String, problem: String },
}

impl From<RunbookError> for IngestError {
    fn from(e: RunbookError) -> Self {
        match e {
            RunbookError::Yaml {
                path,
                line,
                message,
            } => IngestError::invalid(format!("{path}:{line}"), format!("front matter: {message}")),
            RunbookError::Unclosed { path, line } => IngestError::invalid(
                format!("{path}:{line}"),
                "the front matter opened here is never closed: end it with a line `---`",
            ),
            RunbookError::Field {
                path,
                line,
                field,
                problem,
            } => IngestError::invalid(format!("{path}:{line}: {field}"), problem),
            RunbookError::TooLarge { ref path, .. }
            | RunbookError::NotUtf8 { ref path, .. }
            | RunbookError::Path { ref path, .. } => {
                let field = path.clone();
                let full = e.to_string();
                let problem = full
                    .strip_prefix(&format!("{field}: "))
                    .unwrap_or(&full)
                    .to_string();
                IngestError::invalid(field, problem)
            }
            RunbookError::Repository { url, problem } => {
                IngestError::invalid("repository", format!("{url:?}: {problem}"))
            }
        }
    }
}

/// One Markdown file and where it lives.
#[derive(Debug, Clone, Copy)]
pub struct RunbookFile<'a> {
    /// Path in the repository (`runbooks/db/failover.md`), or the file name when there is no
    /// repository.
    pub path: &'a str,
    pub text: &'a [u8],
    /// Web URL of the repository (`https://github.com/owner/repo`); `None` for a runbook that
    /// is not in a repository (then it is stored inline only).
    pub repository: Option<&'a str>,
    /// Branch, tag or commit the file was read at (`spec.source.ref`).
    pub git_ref: Option<&'a str>,
}

/// The front matter as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FrontMatter {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    tags: Vec<String>,
    #[serde(
        default,
        alias = "applies-to",
        alias = "applies_to",
        deserialize_with = "one_or_many"
    )]
    applies_to: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    alerts: Vec<String>,
    #[serde(
        default,
        alias = "resource-types",
        alias = "resource_types",
        deserialize_with = "one_or_many"
    )]
    resource_types: Vec<String>,
    #[serde(default)]
    owner: Option<String>,
}

/// A string or a list of strings (`tags: database` and `tags: [database]` mean the same);
/// `null` is an empty list.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// The front matter block of a file: its YAML, the 1-based line it starts on, and the Markdown
/// after it. `None` when the file has no front matter.
struct Split<'a> {
    yaml: &'a str,
    /// File line of the first YAML line (the opening `---` is the line before).
    first_line: usize,
    body: &'a str,
}

fn split<'a>(path: &str, text: &'a str) -> Result<Option<Split<'a>>, RunbookError> {
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    if first.trim_end() != "---" {
        return Ok(None);
    }
    let start = first.len();
    let mut offset = start;
    for line in lines {
        let marker = line.trim_end();
        if marker == "---" || marker == "..." {
            return Ok(Some(Split {
                yaml: &text[start..offset],
                first_line: 2,
                body: &text[offset + line.len()..],
            }));
        }
        offset += line.len();
    }
    Err(RunbookError::Unclosed {
        path: path.to_string(),
        line: 1,
    })
}

/// The file line of a top-level `key:` in the front matter (any of its spellings), or of
/// `item` below it when given; the opening `---` line when neither is found.
fn line_of(split: &Split<'_>, keys: &[&str], item: Option<&str>) -> usize {
    let lines: Vec<&str> = split.yaml.lines().collect();
    let key_at = lines.iter().position(|l| {
        keys.iter().any(|k| {
            l.strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
    });
    let Some(k) = key_at else {
        return split.first_line - 1;
    };
    if let Some(item) = item.filter(|i| !i.is_empty()) {
        // The item on the key's line (`tags: [a, B]`) or on a later indented line (`- B`).
        for (i, l) in lines.iter().enumerate().skip(k) {
            if i > k && !l.starts_with([' ', '\t', '-']) {
                break;
            }
            if l.contains(item) {
                return split.first_line + i;
            }
        }
    }
    split.first_line + k
}

/// Parses one runbook file. `Ignored` when it has no front matter (not a runbook); an error
/// naming the file and line when the front matter is broken or a value is out of bounds.
pub fn parse(file: &RunbookFile<'_>, ctx: &Context) -> Result<Outcome, RunbookError> {
    let path = file.path;
    if file.text.len() > MAX_RUNBOOK_BYTES {
        return Err(RunbookError::TooLarge {
            path: path.into(),
            size: file.text.len(),
        });
    }
    let text = std::str::from_utf8(file.text).map_err(|e| RunbookError::NotUtf8 {
        path: path.into(),
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let location = Location::of(file)?;
    let Some(split) = split(path, text)? else {
        return Ok(Outcome::ignored(format!(
            "{path}: no front matter (a `---` block on the first line), so not a runbook"
        )));
    };
    let fm: FrontMatter = if split.yaml.trim().is_empty() {
        FrontMatter::default()
    } else {
        serde_yaml::from_str(split.yaml).map_err(|e| yaml_error(path, &split, &e))?
    };
    let namespace = location.namespace(ctx);
    let field =
        |keys: &[&str], item: Option<&str>, name: String, problem: String| RunbookError::Field {
            path: path.into(),
            line: line_of(&split, keys, item),
            field: name,
            problem,
        };

    let title = match fm.title.as_deref().map(str::trim) {
        Some("") => {
            return Err(field(
                &["title"],
                None,
                "title".into(),
                "is empty: leave it out to use the first `# heading`".into(),
            ));
        }
        Some(t) if t.chars().count() > MAX_TITLE => {
            return Err(field(
                &["title"],
                None,
                "title".into(),
                format!("is longer than {MAX_TITLE} characters"),
            ));
        }
        Some(t) => t.to_string(),
        None => heading(split.body)
            .unwrap_or_else(|| location.stem.to_string())
            .chars()
            .take(MAX_TITLE)
            .collect(),
    };
    let description = match fm.description.as_deref().map(str::trim) {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            return Err(field(
                &["description"],
                None,
                "description".into(),
                format!("is longer than {MAX_DESCRIPTION} characters"),
            ));
        }
        Some("") | None => None,
        Some(d) => Some(d.to_string()),
    };

    let tags = bounded(&fm.tags, MAX_TAGS, &["tags"], "tags", &field, |raw| {
        let tag = raw.trim().to_lowercase();
        if valid_tag(&tag) {
            Ok(tag)
        } else {
            Err(format!(
                "{raw:?} is not a tag: lower-case letters, digits or :+#.-, starting with a \
                     letter or digit, at most {MAX_TAG} characters"
            ))
        }
    })?;
    let applies_to = bounded(
        &fm.applies_to,
        MAX_APPLIES_TO,
        &["appliesTo", "applies-to", "applies_to"],
        "appliesTo",
        &field,
        |raw| {
            let r = EntityRef::parse(raw, EntityKind::Component, &[], &namespace).map_err(|e| {
                format!("{raw:?} is not an entity reference [kind:][namespace/]name: {e}")
            })?;
            fits_ref(&r)
        },
    )?;
    let alerts = bounded(
        &fm.alerts,
        MAX_ALERTS,
        &["alerts"],
        "alerts",
        &field,
        |raw| {
            let a = raw.trim();
            match a.chars().count() {
                0 => Err("an alert rule name is empty".into()),
                n if n > MAX_ALERT => Err(format!("{a:?} is longer than {MAX_ALERT} characters")),
                _ => Ok(a.to_string()),
            }
        },
    )?;
    let resource_types = bounded(
        &fm.resource_types,
        MAX_RESOURCE_TYPES,
        &["resourceTypes", "resource-types", "resource_types"],
        "resourceTypes",
        &field,
        |raw| {
            let t = raw.trim().to_ascii_lowercase();
            if valid_resource_type(&t) {
                Ok(t)
            } else {
                Err(format!(
                    "{raw:?} is not an Azure resource type such as microsoft.web/sites \
                     (wildcards * and ? allowed), at most {MAX_RESOURCE_TYPE} characters"
                ))
            }
        },
    )?;
    let owner = match fm.owner.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let r = EntityRef::parse(raw, EntityKind::Team, OWNER_KINDS, &namespace)
                .map_err(|e| format!("{raw:?} is not a team or user reference: {e}"))
                .and_then(|r| fits_ref(&r))
                .map_err(|p| field(&["owner"], None, "owner".into(), p))?;
            Some(r)
        }
    };

    let spec = RunbookSpec {
        about: About {
            title: Some(title),
            description,
            tags,
            links: Vec::new(),
        },
        content: Some(split.body.to_string()),
        source: location.repo.as_ref().map(|repo| RunbookSource {
            repository: repo.guessed_ref(&namespace),
            path: location.path.clone(),
            r#ref: location.git_ref.clone(),
        }),
        applies_to,
        alerts,
        resource_types,
        owner,
    };
    let mut runbook = Runbook::new(&location.name(), spec);
    runbook.metadata.namespace = Some(namespace);
    if let Some(repo) = &location.repo {
        runbook.metadata.annotations = Some(BTreeMap::from([
            (SOURCE_URL.to_string(), location.source_url(repo)),
            (
                EXTERNAL_ID.to_string(),
                format!("{}/{}:{}", repo.owner, repo.name, location.path),
            ),
        ]));
    }
    let mut upsert = Upsert::new(Source::Github, &runbook);
    if let Some(repo) = &location.repo {
        // The guessed `repository:<ns>/<owner>-<repo>` is right for discovered repositories;
        // one declared by hand under another name is found by its URL and replaces it.
        upsert = upsert.with_resolve(
            "/spec/source/repository",
            Target::RepositoryUrl {
                url: repo.url.clone(),
            },
        );
    }
    Ok(Outcome::Changes(vec![Change::Upsert(upsert)]))
}

/// The change that marks (or, with `delete`, removes) the runbooks Nexus created from files of
/// `repository_url` that are not among `present` (repository paths) any more. Runbooks people
/// declare are never touched: the applier matches only Runbooks labelled
/// `managed-by: nexus-github` whose `nexus.dev/source-url` lies in the repository.
pub fn gone_except(repository_url: &str, present: &[String], delete: bool) -> Change {
    let mut keep = present.to_vec();
    keep.sort();
    keep.dedup();
    Change::Gone(Gone {
        source: Source::Github,
        target: Target::RunbooksOfRepository {
            url: normalise_repo_url(repository_url),
            keep,
        },
        reason: "the runbook's file is no longer in the repository (deleted, moved, or no \
                 longer under spec.runbooks.paths)"
            .into(),
        delete,
    })
}

/// Applies `check` to each entry, in order, without duplicates; the first bad entry (or one
/// too many) is an error naming the entry and its line.
fn bounded<F>(
    raw: &[String],
    max: usize,
    keys: &[&str],
    name: &str,
    field: &F,
    check: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, RunbookError>
where
    F: Fn(&[&str], Option<&str>, String, String) -> RunbookError,
{
    if raw.len() > max {
        return Err(field(
            keys,
            None,
            name.into(),
            format!("has {} entries; at most {max} are allowed", raw.len()),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        let value =
            check(item).map_err(|p| field(keys, Some(item.trim()), format!("{name}[{i}]"), p))?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

fn fits_ref(r: &EntityRef) -> Result<String, String> {
    let s = r.to_string();
    if usize::try_from(MAX_REF_LEN).is_ok_and(|max| s.len() <= max) {
        Ok(s)
    } else {
        Err(format!("{s} is longer than {MAX_REF_LEN} characters"))
    }
}

fn yaml_error(path: &str, split: &Split<'_>, e: &serde_yaml::Error) -> RunbookError {
    let line = e
        .location()
        .map_or(split.first_line - 1, |l| split.first_line + l.line() - 1);
    let message = e.to_string();
    // serde_yaml appends ` at line L column C` relative to the block; the file line is ours.
    let message = match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    };
    // serde lists every accepted spelling; name the key and the canonical ones instead.
    let message = match message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((key, _)) => format!("unknown key `{key}`; the keys are {KEYS}"),
        None => message,
    };
    RunbookError::Yaml {
        path: path.into(),
        line,
        message,
    }
}

/// The text of the first `# heading` outside fenced code, for runbooks without a title.
fn heading(body: &str) -> Option<String> {
    let mut fence: Option<&str> = None;
    for line in body.lines() {
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if t.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let text = rest.trim().trim_end_matches('#').trim();
            if !text.is_empty() {
                return Some(text.to_string());
            }
        }
    }
    None
}

/// Backstage tag rules the CRD enforces: `^[a-z0-9][a-z0-9:+#.-]*$`, at most 63 characters.
fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    t.len() <= MAX_TAG
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":+#.-".contains(c))
}

/// `namespace/type[/subtype…]` as the CRD pattern `^[A-Za-z0-9.*?]+/[A-Za-z0-9./*?]+$` says.
fn valid_resource_type(t: &str) -> bool {
    let Some((ns, ty)) = t.split_once('/') else {
        return false;
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '?');
    t.len() <= MAX_RESOURCE_TYPE
        && !ns.is_empty()
        && !ty.is_empty()
        && ns.chars().all(ok)
        && ty.chars().all(|c| ok(c) || c == '/')
}

/// The repository a runbook lives in.
struct Repo {
    /// Web URL as given (trailing `/` and `.git` removed).
    url: String,
    owner: String,
    name: String,
}

impl Repo {
    fn parse(url: &str) -> Result<Repo, RunbookError> {
        let bad = |problem: &str| RunbookError::Repository {
            url: url.into(),
            problem: problem.into(),
        };
        let trimmed = url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
        let rest = trimmed
            .strip_prefix("https://")
            .ok_or_else(|| bad("expected the https web URL of the repository"))?;
        if rest.contains(char::is_whitespace) || trimmed.len() > 2048 {
            return Err(bad("expected the https web URL of the repository"));
        }
        let mut parts = rest.split('/');
        let host = parts.next().unwrap_or_default();
        let segments: Vec<&str> = parts.collect();
        match segments.as_slice() {
            [owner, name] if !host.is_empty() && !owner.is_empty() && !name.is_empty() => {
                Ok(Repo {
                    url: trimmed.to_string(),
                    owner: (*owner).to_string(),
                    name: (*name).to_string(),
                })
            }
            _ => Err(bad(
                "expected https://HOST/OWNER/REPO (the repository's web URL)",
            )),
        }
    }

    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The Repository entity ingestion creates for this repository (`<owner>-<repo>`).
    fn guessed_ref(&self, namespace: &str) -> String {
        EntityRef::new(
            EntityKind::Repository,
            namespace,
            object_name(&[&self.owner, &self.name]),
        )
        .to_string()
    }
}

/// Where the file is and what it is called.
struct Location {
    repo: Option<Repo>,
    path: String,
    /// File name without `.md`.
    stem: String,
    git_ref: Option<String>,
}

impl Location {
    fn of(file: &RunbookFile<'_>) -> Result<Location, RunbookError> {
        let bad = |problem: &str| RunbookError::Path {
            path: file.path.into(),
            problem: problem.into(),
        };
        let path = file.path.trim().trim_start_matches("./");
        if path.is_empty() {
            return Err(bad("the path is empty"));
        }
        if path.starts_with('/') || path.split('/').any(|s| s == "..") || path.contains('\\') {
            return Err(bad(
                "the path must be relative to the repository root, without `..`",
            ));
        }
        if path.len() > MAX_PATH {
            return Err(bad("the path is longer than 1024 characters"));
        }
        let repo = file.repository.map(Repo::parse).transpose()?;
        if repo.is_some() && !path.ends_with(".md") {
            return Err(bad("a runbook in a repository must be a `.md` file"));
        }
        let git_ref = match file.git_ref.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) if r.len() > MAX_REF || r.contains(char::is_whitespace) => {
                return Err(bad(
                    "the git ref must be at most 250 characters, without spaces",
                ));
            }
            other => other.map(str::to_string),
        };
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let stem = file_name.strip_suffix(".md").unwrap_or(file_name);
        if stem.is_empty() {
            return Err(bad("the file has no name before `.md`"));
        }
        Ok(Location {
            stem: stem.to_string(),
            path: path.to_string(),
            repo,
            git_ref,
        })
    }

    fn namespace(&self, ctx: &Context) -> String {
        match &self.repo {
            Some(r) => ctx.namespace_for(&r.full_name()).to_string(),
            None => ctx.namespaces.default.clone(),
        }
    }

    /// `<owner>-<repo>-<dir>-…-<stem>`, or `<dir>-…-<stem>` outside a repository.
    fn name(&self) -> String {
        let without_ext = self.path.strip_suffix(".md").unwrap_or(&self.path);
        let mut parts: Vec<&str> = Vec::new();
        if let Some(r) = &self.repo {
            parts.push(&r.owner);
            parts.push(&r.name);
        }
        parts.extend(without_ext.split('/').filter(|s| !s.is_empty()));
        object_name(&parts)
    }

    fn source_url(&self, repo: &Repo) -> String {
        format!(
            "{}/blob/{}/{}",
            repo.url,
            self.git_ref.as_deref().unwrap_or("HEAD"),
            self.path
        )
    }
}

#[cfg(test)]
mod tests;
