//! Backstage catalog files (`catalog-info.yaml`) → Nexus manifests, for `nexus convert
//! backstage` and migrations.
//!
//! Unlike the other sources this produces whole manifests (for `kubectl apply` or a GitOps
//! repository), not [`crate::Change`]s: the objects carry no `managed-by` label, they belong to
//! whoever applies them.
//!
//! Mapping, kind by kind (`Location`s are followed, never emitted):
//! - Component, API, System, Domain → the Nexus kind of the same name; Group → Team;
//!   User → User. `Resource` (Nexus has no generic resource; an AzureResource needs an ARM id),
//!   `Template`, `AiResource` and other kinds are skipped with a warning naming the kind.
//! - Names: kept when already a DNS subdomain (dots are fine), else `naming::object_name`;
//!   the original is then in [`ORIGINAL_NAME`]. Every object has [`crate::change::EXTERNAL_ID`]
//!   = its Backstage reference (`component:default/petstore`).
//! - Namespaces: a `ctx.namespaces.rules` pattern matching the lower-case Backstage reference
//!   (`group:default/team-a`) wins; else Backstage `default` → `ctx.namespaces.default`, other
//!   namespaces kept (made DNS labels when needed).
//! - References become `kind:namespace/name` with Backstage's defaults (owner → group → team).
//!   References to kinds that are not converted (`resource:…`) are dropped from the spec and
//!   reported in [`Conversion::unresolved`].
//! - Free-text `type`/`lifecycle` outside the Nexus enums take the closest value with a warning.
//!   API `spec.version` (Nexus requires one) comes from the definition's `info.version`, else
//!   `unspecified`. A `$text` pointing at a URL becomes `spec.definitionUrl`; an MCP server
//!   without definition gets its first `spec.remotes` URL.
//! - Group `children` become `spec.parent` on each child Team (Team has no children list);
//!   User `memberOf` and Group `members` stay where they were written (the controller resolves
//!   both directions).
//! - A User without a usable email gets `<name>@unknown.invalid` (reserved TLD), with a warning.
//! - A Component with `github.com/project-slug` or a GitHub/Azure Repos
//!   `backstage.io/source-location` gets `spec.repository`, and a Repository object is emitted
//!   for it, named and placed as GitHub / Azure DevOps ingestion would (`object_name(org, repo)`
//!   in `ctx.namespace_for("org/repo")`); default branch from the location, else `main`.
//!
//! Nothing is lost: annotations, labels, tags, links, title and description are carried over;
//! whatever has no place in the Nexus object (or was changed on the way: a mapped type, a
//! clipped text, a dropped reference, a link's `type`, `spec.profile.picture`, `relations`, a
//! non-default `apiVersion`, …) is kept in [`EXTRA`] as compact JSON shaped like the Backstage
//! entity, holding only those fields: `{"spec":{"type":"sub-department","profile":{"picture":…}}}`.

mod catalog;
mod entity;
mod fetch;
mod kinds;
mod names;
mod placeholders;
mod repository;
mod vocab;
mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use fetch::{Fetch, FsFetch};

use crate::{Context, IngestError};

/// Annotation holding the Backstage name when the Kubernetes name had to differ.
pub const ORIGINAL_NAME: &str = "nexus.dev/backstage-original-name";
/// Annotation holding, as JSON, every part of the Backstage entity the object has no place for.
pub const EXTRA: &str = "nexus.dev/backstage-extra";

/// The result of a conversion.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Conversion {
    /// Manifests, ordered Domain, Team, User, System, API, Component, then others (Repository);
    /// by namespace and name within a kind.
    pub objects: Vec<Value>,
    /// References to entities that are not among `objects` (sorted).
    pub unresolved: Vec<UnresolvedRef>,
    /// Everything converted approximately or skipped, in reading order.
    pub warnings: Vec<String>,
}

/// A reference whose target is not among the converted objects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UnresolvedRef {
    /// The referring object, `kind:namespace/name`.
    pub from: String,
    /// The field, e.g. `spec.owner`.
    pub field: String,
    /// The target: a Nexus reference, or the Backstage reference when it has no Nexus form.
    pub target: String,
}

/// Converts the YAML documents of one catalog file. `origin` is where the content came from
/// (relative `Location` targets and placeholders resolve against it through `fetch`).
pub fn convert_str(
    content: &str,
    origin: &str,
    fetch: &dyn Fetch,
    ctx: &Context,
) -> Result<Conversion, IngestError> {
    let mut loader = catalog::Loader::new(fetch, ctx);
    loader.load(origin, content, 0)?;
    loader.finish()
}

/// Converts files and folders (every `*.yaml`/`*.yml` inside, recursively, in name order),
/// following `Location`s; each file is read once.
pub fn convert_paths(paths: &[PathBuf], ctx: &Context) -> Result<Conversion, IngestError> {
    let fetch = FsFetch;
    let mut loader = catalog::Loader::new(&fetch, ctx);
    for path in paths {
        let files = if path.is_dir() {
            yaml_files(path)?
        } else {
            vec![path.clone()]
        };
        for f in files {
            loader.load_path(&f.display().to_string())?;
        }
    }
    loader.finish()
}

/// YAML files under `dir`, sorted; symbolic links to folders are not followed (no loops).
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| IngestError::invalid(d.display().to_string(), e.to_string()))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| IngestError::invalid(d.display().to_string(), e.to_string()))?;
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if (kind.is_file() || path.is_file())
                && path.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                })
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
