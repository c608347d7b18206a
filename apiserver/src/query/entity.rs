//! One entity with its relations expanded one level (each related entity as a summary).

use std::collections::BTreeMap;

use nexus_api::EntityRef;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{QueryError, Summary, visible};
use crate::{authz::Visibility, cache::Cache};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityView {
    #[serde(flatten)]
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_message: Option<String>,
    /// Related entities by relation type; relations to entities the caller cannot see are left
    /// out (their count is not revealed either).
    pub relations: BTreeMap<&'static str, Vec<Summary>>,
    /// The Kubernetes object (spec, status, metadata without managedFields).
    pub object: Box<RawValue>,
}

pub fn get(
    cache: &Cache,
    visibility: &Visibility,
    id: &EntityRef,
) -> Result<EntityView, QueryError> {
    let store = cache.read();
    let entity = visible(&store, visibility, id)?;
    let mut relations: BTreeMap<&'static str, Vec<Summary>> = BTreeMap::new();
    for (relation, target) in &entity.relations {
        if !visibility.can_see(target) {
            continue;
        }
        if let Some(related) = store.get(target) {
            relations
                .entry(relation.as_str())
                .or_default()
                .push(Summary::of(related));
        }
    }
    Ok(EntityView {
        summary: Summary::of(entity),
        owner_source: entity.owner_source.clone(),
        ready_message: entity.ready.message.clone(),
        relations,
        object: entity.raw.clone(),
    })
}
