//! What the catalog controller needs to know about every kind, independent of its spec shape.

use std::{borrow::Cow, collections::BTreeMap, fmt::Debug};

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    reference::{EntityKind, EntityRef, RefError},
    relation::RelationType,
    status::EntityStatus,
};

/// Kinds that can own things.
pub const OWNER_KINDS: &[EntityKind] = &[EntityKind::Team, EntityKind::User];

/// Annotation naming the Entra ID group (object id) responsible for an entity; used for
/// ownership when nothing with higher precedence names an owner.
pub const ENTRA_GROUP_ANNOTATION: &str = "nexus.dev/entra-group";

/// One reference found in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredRef {
    /// Path of the field, e.g. `spec.dependsOn[1]`, used in conditions (borrowed for single
    /// fields: the controller keeps one per reference of every entity).
    pub field: Cow<'static, str>,
    /// The relation from the declaring entity's point of view.
    pub relation: RelationType,
    /// The reference as written.
    pub raw: String,
    pub target: Result<EntityRef, RefError>,
}

impl OwnerInputs {
    /// Inputs of an entity that can have an owner: `spec.owner` and the repository (the
    /// reference in `repository_field`) taken from its declared references, plus Entra groups.
    pub fn from_refs(
        refs: &[DeclaredRef],
        repository_field: Option<&str>,
        entra_groups: Vec<String>,
    ) -> Self {
        OwnerInputs {
            applicable: true,
            explicit: refs.iter().find(|r| r.field == "spec.owner").cloned(),
            repository: repository_field.and_then(|f| {
                refs.iter()
                    .find(|r| r.field == f)
                    .and_then(|r| r.target.clone().ok())
            }),
            entra_groups,
            ..Default::default()
        }
    }
}

/// Everything ownership resolution may look at, in precedence order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerInputs {
    /// Whether this kind has an owner at all (teams and incidents do not).
    pub applicable: bool,
    /// `spec.owner`, parsed.
    pub explicit: Option<DeclaredRef>,
    /// The repository whose CODEOWNERS apply (a Repository points at itself).
    pub repository: Option<EntityRef>,
    /// CODEOWNERS owners observed on this entity (Repository only), e.g. `@contoso/payments`.
    pub codeowners: Vec<String>,
    /// Azure tags, declared and observed.
    pub azure_tags: BTreeMap<String, String>,
    /// Entra ID group object ids responsible for the entity.
    pub entra_groups: Vec<String>,
}

/// How a Team or User can be recognised from facts that do not use entity references.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchKeys {
    /// Lower-cased names a tag value may use: the object name, display name, aliases, email.
    pub names: Vec<String>,
    /// Lower-cased GitHub handles as CODEOWNERS writes them without `@`: `org/team-slug` and
    /// `team-slug` for a team, `login` for a user.
    pub github: Vec<String>,
    /// Lower-cased Entra ID group object ids.
    pub entra_groups: Vec<String>,
}

/// Implemented by every catalog kind.
pub trait CatalogEntity:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: EntityKind;

    /// References declared in the spec, `spec.owner` included.
    fn declared_refs(&self) -> Vec<DeclaredRef>;

    /// Inputs for ownership resolution, given this entity's [`Self::declared_refs`] (passed in
    /// so a watch event parses the references once).
    fn owner_inputs(&self, _refs: &[DeclaredRef]) -> OwnerInputs {
        OwnerInputs::default()
    }

    /// Keys to recognise this entity as an owner (Team and User only).
    fn match_keys(&self) -> Option<MatchKeys> {
        None
    }

    /// The shared part of the status.
    fn entity_status(&self) -> Option<&EntityStatus>;

    /// The declaring namespace, the default for references without one.
    fn namespace_or_default(&self) -> String {
        self.meta()
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    }

    /// Entra groups named by the annotation.
    fn annotated_entra_groups(&self) -> Vec<String> {
        self.meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(ENTRA_GROUP_ANNOTATION))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Collects the references of a spec with their field paths.
#[derive(Debug)]
pub struct RefCollector {
    namespace: std::sync::Arc<str>,
    pub refs: Vec<DeclaredRef>,
}

impl RefCollector {
    pub fn new(namespace: impl Into<std::sync::Arc<str>>) -> Self {
        Self {
            namespace: namespace.into(),
            refs: Vec::new(),
        }
    }

    fn parse(
        &self,
        raw: &str,
        default_kind: EntityKind,
        allowed: &[EntityKind],
    ) -> Result<EntityRef, RefError> {
        let mut r = EntityRef::parse(raw, default_kind, allowed, &self.namespace)?;
        // Share the declaring namespace's string instead of one copy per reference.
        if r.namespace == self.namespace {
            r.namespace = self.namespace.clone();
        }
        Ok(r)
    }

    /// A single optional reference field.
    pub fn one(
        &mut self,
        field: &'static str,
        relation: RelationType,
        raw: Option<&String>,
        default_kind: EntityKind,
        allowed: &[EntityKind],
    ) -> &mut Self {
        if let Some(raw) = raw {
            let target = self.parse(raw, default_kind, allowed);
            self.refs.push(DeclaredRef {
                field: Cow::Borrowed(field),
                relation,
                raw: raw.clone(),
                target,
            });
        }
        self
    }

    /// A list of references.
    pub fn many(
        &mut self,
        field: &str,
        relation: RelationType,
        raws: &[String],
        default_kind: EntityKind,
        allowed: &[EntityKind],
    ) -> &mut Self {
        for (i, raw) in raws.iter().enumerate() {
            let target = self.parse(raw, default_kind, allowed);
            self.refs.push(DeclaredRef {
                field: Cow::Owned(format!("{field}[{i}]")),
                relation,
                raw: raw.clone(),
                target,
            });
        }
        self
    }

    /// `spec.owner`: a Team or User, kind defaulting to team.
    pub fn owner(&mut self, raw: Option<&String>) -> &mut Self {
        self.one(
            "spec.owner",
            RelationType::OwnedBy,
            raw,
            EntityKind::Team,
            OWNER_KINDS,
        )
    }

    /// `spec.system`: the System the entity is part of.
    pub fn system(&mut self, raw: Option<&String>) -> &mut Self {
        self.one(
            "spec.system",
            RelationType::PartOf,
            raw,
            EntityKind::System,
            &[EntityKind::System],
        )
    }

    pub fn finish(&mut self) -> Vec<DeclaredRef> {
        std::mem::take(&mut self.refs)
    }
}
