//! What the controller keeps in memory of each object between events.
//!
//! The spec is read once per watch event into the relation graph; the reconciler then needs
//! only the metadata and a summary of the status it compares against. Keeping full objects in the reflector
//! was the largest memory cost at 100k entities, so the watch stream is narrowed to [`Cached`].

use std::{borrow::Cow, marker::PhantomData};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, core::DeserializeGuard};
use nexus_api::CatalogEntity;
use serde::{Deserialize, Serialize};

use super::status::{self, StoredStatus};

#[derive(Serialize, Deserialize)]
pub struct Cached<K> {
    pub metadata: ObjectMeta,
    /// What the reconciler needs of the stored status.
    #[serde(skip)]
    pub status: Option<StoredStatus>,
    /// Why the object could not be decoded, when it could not.
    pub invalid: Option<String>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Cached<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            status: self.status.clone(),
            invalid: self.invalid.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Cached<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("name", &self.metadata.name)
            .field("namespace", &self.metadata.namespace)
            .field("invalid", &self.invalid)
            .finish_non_exhaustive()
    }
}

impl<K: CatalogEntity> Cached<K> {
    pub fn from_guard(obj: DeserializeGuard<K>) -> Self {
        let (status, invalid) = match &obj.0 {
            Ok(o) => (o.entity_status().map(status::stored), None),
            Err(e) => (None, Some(e.error.clone())),
        };
        // Only what the reconciler and object references use: labels, annotations and the rest
        // went into the graph already.
        let m = obj.meta();
        let metadata = ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            generation: m.generation,
            ..Default::default()
        };
        Self {
            metadata,
            status,
            invalid,
            kind: PhantomData,
        }
    }
}

impl<K: CatalogEntity> Resource for Cached<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use nexus_api::catalog::Component;
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_metadata_and_status_drops_the_rest() {
        let guard: DeserializeGuard<Component> = serde_json::from_value(json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Component",
            "metadata": {"name": "a", "namespace": "n", "generation": 3, "labels": {"x": "y"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"}},
            "spec": {"type": "service", "lifecycle": "production", "owner": "t"},
            "status": {"observedGeneration": 3, "relations": [{"type": "ownedBy", "targetRef": "team:n/t"}]},
        }))
        .unwrap();
        let c = Cached::from_guard(guard);
        assert!(
            c.status
                .is_some_and(|s| s.conditions().is_empty() && s.hash != 0)
        );
        assert!(c.metadata.annotations.is_none() && c.metadata.labels.is_none());
        assert_eq!(
            (c.metadata.name.as_deref(), c.metadata.generation),
            (Some("a"), Some(3))
        );
        assert_eq!(Cached::<Component>::kind(&()), "Component");

        let bad: DeserializeGuard<Component> = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "n"}, "spec": {"type": 7},
        }))
        .unwrap();
        let c = Cached::from_guard(bad);
        assert!(c.invalid.is_some() && c.status.is_none());
    }
}
