//! The queries both faces answer. Each takes the cache, the caller's [`Visibility`] and typed
//! parameters, and returns a serialisable answer; hidden entities never reach an answer, its
//! counts or its facets.

pub mod dashboard;
pub mod entity;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod graph;
pub mod insights;
pub mod markdown;
pub mod runbooks;
pub mod search;
pub mod team;

use std::sync::Arc;

use nexus_api::{EntityKind, EntityRef};
use serde::Serialize;

use crate::{authz::Visibility, cache::entity::Entity};

/// Why a query could not be answered. Messages are for the caller.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// Stored data the cache accepted turned out unreadable (a bug, not the caller's fault).
    #[error("{0}")]
    Internal(String),
}

/// An entity as lists show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "type")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub ready: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip)]
    pub uid: String,
    #[serde(skip)]
    pub resource_version: String,
}

/// Descriptions longer than this are cut in lists (the entity page has the whole text).
const SUMMARY_DESCRIPTION: usize = 240;

impl Summary {
    pub fn of(e: &Entity) -> Summary {
        Summary {
            ref_: e.id.to_string(),
            kind: e.id.kind.as_str(),
            namespace: e.id.namespace.to_string(),
            name: e.id.name.to_string(),
            title: e.display_name().to_string(),
            description: e
                .description
                .as_ref()
                .map(|d| truncate(d, SUMMARY_DESCRIPTION)),
            type_: e.type_.clone(),
            lifecycle: e.lifecycle.clone(),
            tags: e.tags.clone(),
            owner: e.owner.as_ref().map(ToString::to_string),
            ready: e.ready.status.clone(),
            ready_reason: e.ready.reason.clone(),
            created_at: e.created.clone(),
            uid: e.uid.clone(),
            resource_version: e.resource_version.clone(),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Parses an entity reference given by a caller, e.g. `component:team-a/checkout`.
pub fn parse_ref(raw: &str) -> Result<EntityRef, QueryError> {
    raw.parse::<EntityRef>().map_err(|e| {
        QueryError::BadRequest(format!(
            "`{raw}` is not an entity reference (kind:namespace/name): {e}"
        ))
    })
}

/// Parses a kind name as references spell it (case-insensitive; `group` and `resource` aliases).
pub fn parse_kind(raw: &str) -> Result<EntityKind, QueryError> {
    EntityKind::parse(raw).ok_or_else(|| {
        let known: Vec<_> = EntityKind::ALL.iter().map(|k| k.ref_name()).collect();
        QueryError::BadRequest(format!(
            "unknown kind `{raw}`; known kinds: {}",
            known.join(", ")
        ))
    })
}

/// Looks an entity up if the caller may see it; hidden and missing look the same (404), so
/// probing names reveals nothing.
pub fn visible<'a>(
    store: &'a crate::cache::store::Store,
    visibility: &Visibility,
    id: &EntityRef,
) -> Result<&'a Arc<Entity>, QueryError> {
    store
        .get(id)
        .filter(|_| visibility.can_see(id))
        .ok_or_else(|| QueryError::NotFound(format!("{id} not found")))
}
