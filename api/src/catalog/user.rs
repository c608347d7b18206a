//! User: a person (Backstage User); needed for team membership and personal views.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, MatchKeys, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "User",
    namespaced,
    status = "EntityStatus",
    shortname = "nxuser",
    category = "nexus",
    category = "catalog",
    printcolumn(
        name = "Display Name",
        type_ = "string",
        json_path = ".spec.displayName"
    ),
    printcolumn(name = "Email", type_ = "string", json_path = ".spec.email"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "A person: identity links (Entra ID, GitHub) and team membership."
)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    #[serde(flatten)]
    pub about: About,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub display_name: Option<String>,
    #[schemars(length(max = 320))]
    #[x_kube(validation = Rule::new("self.matches('^[^@ ]+@[^@ ]+$')").message("spec.email must be an email address"))]
    pub email: String,
    /// Entra ID object id; this is how a signed-in user is matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("spec.entraObjectId must be a GUID"))]
    pub entra_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 39))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$')").message("spec.githubLogin must be a GitHub login"))]
    pub github_login: Option<String>,
    /// Teams, as Team references (the Team may list the user in `members` instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.memberOf", &[Team]))]
    pub member_of: Vec<String>,
}

impl CatalogEntity for User {
    const KIND: crate::EntityKind = User;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        RefCollector::new(self.namespace_or_default())
            .many(
                "spec.memberOf",
                RelationType::MemberOf,
                &self.spec.member_of,
                Team,
                &[Team],
            )
            .finish()
    }

    fn match_keys(&self) -> Option<MatchKeys> {
        let s = &self.spec;
        let mut names: Vec<String> = self.metadata.name.iter().cloned().collect();
        names.push(s.email.clone());
        Some(MatchKeys {
            names: names.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
            github: s
                .github_login
                .iter()
                .map(|l| l.to_ascii_lowercase())
                .collect(),
            entra_groups: Vec::new(),
        })
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref()
    }
}
