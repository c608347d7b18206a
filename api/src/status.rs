//! The status block every catalog kind shares. The catalog controller owns most of these fields
//! (field manager `nexus-catalog`); the scorecard controller owns `scorecards` (field manager
//! `nexus-scorecards`); ingestion writes its facts next to them under its own manager.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::scorecards::ScorecardResult;

/// Most scorecard results one entity keeps in `status.scorecards` (one per scorecard that
/// applies to it). Each result is bounded too, so the entity stays far below etcd's object
/// limit; a scorecard beyond the limit is reported on its own status instead.
pub const MAX_SCORECARD_RESULTS: usize = 16;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` summarises the others: `RelationsResolved` and `OwnerResolved`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The owner after applying the precedence spec > CODEOWNERS > Azure tags > Entra group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ResolvedOwner>,
    /// Resolved relations in both directions, sorted by type then target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
    /// References declared in the spec that do not resolve to an existing entity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved_refs: Vec<UnresolvedRef>,
    /// Set when there were more relations than are kept in status (see `relations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relations_truncated: Option<bool>,
    /// The entity's result against every scorecard that applies to it, by scorecard
    /// (`namespace/name`): score, level, whether it passes, and the failing and unknown rules.
    /// Written by the scorecard controller (field manager `nexus-scorecards`); a list map keyed
    /// by `scorecard`, so each entry has its own owner under server-side apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SCORECARD_RESULTS))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["scorecard".into()]))]
    pub scorecards: Vec<ScorecardResult>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    /// Relation name, e.g. `ownedBy`, `dependencyOf`, `apiProvidedBy`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The other side, fully qualified: `kind:namespace/name`.
    pub target_ref: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedRef {
    /// Spec field that holds the reference, e.g. `spec.owner` or `spec.dependsOn[2]`.
    pub field: String,
    /// The reference as written.
    pub target_ref: String,
    /// `NotFound` or `Invalid`.
    pub reason: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedOwner {
    /// The owning Team or User, fully qualified.
    #[serde(rename = "ref")]
    pub ref_: String,
    pub source: OwnerSource,
    /// Where the owner came from, e.g. the CODEOWNERS entry or the tag that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where an owner came from, highest precedence first.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum OwnerSource {
    /// `spec.owner`.
    Spec,
    /// CODEOWNERS of the linked repository (observed by GitHub ingestion).
    Codeowners,
    /// The `owner` or `team` tag of the Azure resource.
    AzureTags,
    /// An Entra ID group mapped to a Team (`Team.spec.entraGroup`).
    EntraGroup,
}
