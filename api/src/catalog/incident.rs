//! Incident: from Azure Monitor alerts, PagerDuty, Opsgenie, or declared by hand.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::about::About;
use crate::{
    entity::{CatalogEntity, DeclaredRef, RefCollector},
    reference::{EntityKind::*, MAX_REF_LEN, ref_list_rule},
    relation::RelationType,
    status::EntityStatus,
};

/// Kinds an incident can affect.
const AFFECTABLE: &[crate::EntityKind] = &[Component, System, AzureResource, Api, Environment];

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "catalog.nexus.dev",
    version = "v1alpha1",
    kind = "Incident",
    namespaced,
    status = "EntityStatus",
    shortname = "inc",
    category = "nexus",
    category = "catalog",
    printcolumn(name = "Severity", type_ = "string", json_path = ".spec.severity"),
    printcolumn(name = "State", type_ = "string", json_path = ".spec.state"),
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source"),
    printcolumn(name = "Started", type_ = "date", json_path = ".spec.startedAt"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    doc = "An incident: source, severity, state, timestamps and the entities it affects."
)]
#[x_kube(validation = Rule::new("!has(self.acknowledgedAt) || self.acknowledgedAt >= self.startedAt").message("spec.acknowledgedAt must not be before spec.startedAt"))]
#[x_kube(validation = Rule::new("!has(self.resolvedAt) || self.resolvedAt >= self.startedAt").message("spec.resolvedAt must not be before spec.startedAt"))]
#[x_kube(validation = Rule::new("self.state != 'resolved' || has(self.resolvedAt)").message("spec.resolvedAt is required when spec.state is resolved").reason(Reason::FieldValueRequired))]
#[x_kube(validation = Rule::new("!has(self.resolvedAt) || self.state == 'resolved'").message("spec.state must be resolved when spec.resolvedAt is set"))]
#[x_kube(validation = Rule::new("self.source == 'manual' || has(self.externalId)").message("spec.externalId is required unless spec.source is manual").reason(Reason::FieldValueRequired))]
#[serde(rename_all = "camelCase")]
pub struct IncidentSpec {
    #[serde(flatten)]
    pub about: About,
    pub source: IncidentSource,
    /// Id in the source system (alert id, PagerDuty incident id, Opsgenie alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub external_id: Option<String>,
    pub severity: Severity,
    pub state: IncidentState,
    pub started_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Time>,
    /// Entities the incident affects (kind defaults to component).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = MAX_REF_LEN)))]
    #[x_kube(validation = ref_list_rule("spec.affects", AFFECTABLE))]
    pub affects: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// Name of the alert rule that raised the incident (Azure Monitor `essentials.alertRule`);
    /// runbooks listing it in `spec.alerts` are surfaced next to the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub alert_rule: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IncidentSource {
    AzureMonitor,
    Pagerduty,
    Opsgenie,
    Manual,
}

/// Normalised severity; Azure Monitor Sev0–Sev4 and PagerDuty/Opsgenie priorities map onto it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Triggered,
    Acknowledged,
    Resolved,
}

impl CatalogEntity for Incident {
    const KIND: crate::EntityKind = Incident;

    fn declared_refs(&self) -> Vec<DeclaredRef> {
        RefCollector::new(self.namespace_or_default())
            .many(
                "spec.affects",
                RelationType::Affects,
                &self.spec.affects,
                Component,
                AFFECTABLE,
            )
            .finish()
    }

    fn entity_status(&self) -> Option<&EntityStatus> {
        self.status.as_ref()
    }
}
