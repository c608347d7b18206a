//! Team: a group of people that owns things (Backstage Group).

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, MatchKeys, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule, ref_rule},
    relation::RelationType,
    status::EntityStatus,
};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Team",
    namespaced,
    status = "EntityStatus",
    shortname = "nxteam",
    category = "nexus",
    category = "catalog",
    printcolumn(
        name = "Display Name",
        type_ = "string",
        json_path = ".spec.displayName"
    ),
    printcolumn(name = "Parent", type_ = "string", json_path = ".spec.parent"),
    printcolumn(
        name = "On-call",
        type_ = "string",
        json_path = ".spec.onCall.provider"
    ),
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
    doc = "A team: members, Entra ID group, GitHub team, on-call; owns entities."
)]
#[serde(rename_all = "camelCase")]
pub struct TeamSpec {
    #[serde(flatten)]
    pub about: About,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 320))]
    #[x_kube(validation = Rule::new("self.matches('^[^@ ]+@[^@ ]+$')").message("spec.email must be an email address"))]
    pub email: Option<String>,
    /// Parent team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.parent", &[Team]))]
    pub parent: Option<String>,
    /// Members, as User references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.members", &[User]))]
    pub members: Vec<String>,
    /// The Entra ID group whose members make up the team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra_group: Option<EntraGroup>,
    /// The GitHub team, so CODEOWNERS entries like `@org/slug` map to this team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubTeam>,
    /// Other names Azure tags may use for this team.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 100)))]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call: Option<OnCall>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntraGroup {
    /// Object id of the group.
    #[schemars(length(max = 36))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("spec.entraGroup.id must be the group's object id (a GUID)"))]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub display_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubTeam {
    #[schemars(length(min = 1, max = 100))]
    pub org: String,
    #[schemars(length(min = 1, max = 100))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9][a-z0-9_.-]*$')").message("spec.github.slug must be a GitHub team slug (lower-case)"))]
    pub slug: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.provider == 'manual' || has(self.scheduleId)").message("spec.onCall.scheduleId is required for pagerduty and opsgenie").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("self.provider != 'manual' || has(self.primary)").message("spec.onCall.primary is required when spec.onCall.provider is manual").reason(Reason::FieldValueRequired))]
pub struct OnCall {
    pub provider: OnCallProvider,
    /// Schedule id in PagerDuty or Opsgenie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub schedule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub schedule_url: Option<String>,
    /// Who is on call when the rota is kept by hand (a User reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_REF_LEN))]
    #[x_kube(validation = ref_rule("spec.onCall.primary", &[User]))]
    pub primary: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnCallProvider {
    Pagerduty,
    Opsgenie,
    Manual,
}

impl CatalogEntity for Team {
    const KIND: crate::EntityKind = Team;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        let s = &self.spec;
        RefCollector::new(self.namespace_or_default())
            .one(
                "spec.parent",
                RelationType::ChildOf,
                s.parent.as_ref(),
                Team,
                &[Team],
            )
            .many(
                "spec.members",
                RelationType::HasMember,
                &s.members,
                User,
                &[User],
            )
            .one(
                "spec.onCall.primary",
                RelationType::HasOnCall,
                s.on_call.as_ref().and_then(|o| o.primary.as_ref()),
                User,
                &[User],
            )
            .finish()
    }

    fn match_keys(&self) -> Option<MatchKeys> {
        let s = &self.spec;
        let mut names: Vec<String> = self.metadata.name.iter().cloned().collect();
        names.extend(s.display_name.iter().cloned());
        names.extend(s.aliases.iter().cloned());
        names.extend(s.email.iter().cloned());
        let mut github = Vec::new();
        if let Some(gh) = &s.github {
            github.push(format!("{}/{}", gh.org, gh.slug));
            github.push(gh.slug.clone());
        }
        Some(MatchKeys {
            names: names.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
            github: github.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
            entra_groups: s
                .entra_group
                .iter()
                .map(|g| g.id.to_ascii_lowercase())
                .collect(),
        })
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref()
    }
}
