//! What the three incident parsers share: an incident as read from one event, turned into a
//! CRD-valid `Incident` upsert (name, namespace, affected entities, length limits, time rules).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::{
    EntityKind, EntityRef,
    catalog::{
        About, Incident,
        incident::{IncidentSource, IncidentSpec, IncidentState, Severity},
    },
    reference::MAX_REF_LEN,
};

use crate::{
    Context, Source, Target, Upsert,
    change::{EXTERNAL_ID, SOURCE_URL},
    naming::object_name,
};

/// Kinds `spec.affects` accepts (the api crate keeps its own list private).
const AFFECTABLE: &[EntityKind] = &[
    EntityKind::Component,
    EntityKind::System,
    EntityKind::AzureResource,
    EntityKind::Api,
    EntityKind::Environment,
];
/// Schema limits of the Incident CRD.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_EXTERNAL_ID: usize = 512;
const MAX_URL: usize = 2048;
const MAX_ALERT_RULE: usize = 256;
const MAX_AFFECTS: usize = 64;
const MAX_TAGS: usize = 32;
const MAX_TAG: usize = 63;

/// One incident as a single event describes it. Every event yields a full spec, because the
/// applier server-side-applies the whole object with the source's field manager.
#[derive(Debug)]
pub(super) struct Draft {
    pub source: Source,
    /// First part of the object name (`pagerduty`, `opsgenie`, `azure-monitor`).
    pub name_prefix: &'static str,
    /// The part of the external id that is unique per incident; with the prefix it names the
    /// object, so every event of one incident updates the same object.
    pub name_key: String,
    pub external_id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub severity: Severity,
    pub state: IncidentState,
    pub started_at: Time,
    pub acknowledged_at: Option<Time>,
    pub resolved_at: Option<Time>,
    pub url: Option<String>,
    /// Keys looked up in the context's service mapping, in order.
    pub service_keys: Vec<String>,
    /// Key for `ctx.namespace_for` when no mapped reference gives the namespace.
    pub namespace_key: String,
    /// Azure resource ids the applier resolves into `spec.affects`.
    pub azure_resources: Vec<String>,
    /// The alert rule that raised the incident, when the source names one (runbooks list it).
    pub alert_rule: Option<String>,
}

impl Draft {
    pub fn into_upsert(self, ctx: &Context) -> Upsert {
        let fallback_ns = ctx.namespace_for(&self.namespace_key).to_string();
        let affects = mapped_refs(ctx, &self.service_keys, &fallback_ns);
        let namespace = affects
            .first()
            .map(|r| r.namespace.to_string())
            .unwrap_or(fallback_ns);

        let started_at = self.started_at;
        // CEL: acknowledgedAt/resolvedAt never before startedAt; resolvedAt iff resolved.
        let not_before = |t: Time| {
            if t.0 < started_at.0 {
                started_at.clone()
            } else {
                t
            }
        };
        let acknowledged_at = self.acknowledged_at.map(not_before);
        let resolved_at = match self.state {
            IncidentState::Resolved => {
                Some(not_before(self.resolved_at.unwrap_or_else(|| ctx.now())))
            }
            _ => None,
        };

        let external_id = clip(&self.external_id, MAX_EXTERNAL_ID);
        let url = self
            .url
            .filter(|u| !u.is_empty() && u.chars().count() <= MAX_URL);
        let spec = IncidentSpec {
            about: About {
                title: non_empty(self.title).map(|t| clip(&t, MAX_TITLE)),
                description: non_empty(self.description).map(|d| clip(&d, MAX_DESCRIPTION)),
                tags: tags(&self.tags),
                links: Vec::new(),
            },
            source: incident_source(self.source),
            external_id: Some(external_id.clone()),
            severity: self.severity,
            state: self.state,
            started_at,
            acknowledged_at,
            resolved_at,
            affects: affects.iter().map(ToString::to_string).collect(),
            url: url.clone(),
            alert_rule: non_empty(self.alert_rule).map(|r| clip(&r, MAX_ALERT_RULE)),
        };
        let mut incident = Incident::new(&object_name(&[self.name_prefix, &self.name_key]), spec);
        incident.metadata.namespace = Some(namespace);
        let mut annotations = BTreeMap::from([(EXTERNAL_ID.to_string(), external_id)]);
        if let Some(url) = url {
            annotations.insert(SOURCE_URL.to_string(), url);
        }
        incident.metadata.annotations = Some(annotations);

        let mut upsert = Upsert::new(self.source, &incident);
        let mut seen = Vec::<String>::new();
        for id in self.azure_resources {
            let lower = id.to_ascii_lowercase();
            if !seen.contains(&lower) {
                seen.push(lower);
                upsert = upsert.with_resolve("/spec/affects", Target::AzureResourceId { id });
            }
        }
        upsert
    }
}

/// Entity refs the service mapping gives for `keys`, fully qualified, deduplicated and bounded.
/// Refs that do not parse, name a kind an incident cannot affect, or exceed the schema length
/// are skipped: one bad mapping entry must not make the whole incident invalid.
fn mapped_refs(ctx: &Context, keys: &[String], default_ns: &str) -> Vec<EntityRef> {
    let mut out: Vec<EntityRef> = Vec::new();
    for key in keys {
        for raw in ctx.services.lookup(key) {
            let Ok(r) = EntityRef::parse(raw, EntityKind::Component, AFFECTABLE, default_ns) else {
                continue;
            };
            let fits = usize::try_from(MAX_REF_LEN).is_ok_and(|max| r.to_string().len() <= max);
            if fits && !out.contains(&r) && out.len() < MAX_AFFECTS {
                out.push(r);
            }
        }
    }
    out
}

fn incident_source(source: Source) -> IncidentSource {
    match source {
        Source::AzureMonitor => IncidentSource::AzureMonitor,
        Source::Pagerduty => IncidentSource::Pagerduty,
        Source::Opsgenie => IncidentSource::Opsgenie,
        // Only the three incident parsers build drafts.
        _ => IncidentSource::Manual,
    }
}

/// Source tags as catalog tags (`[a-z0-9][a-z0-9:+#.-]*`, ≤ 63): lower-cased, other characters
/// become `-`; tags left empty are dropped.
fn tags(raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw {
        let mapped: String = t
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | ':' | '+' | '#' | '.' | '-' => c,
                _ => '-',
            })
            .collect();
        let tag = clip(
            mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()),
            MAX_TAG,
        );
        if !tag.is_empty() && !out.contains(&tag) && out.len() < MAX_TAGS {
            out.push(tag);
        }
    }
    out
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// At most `max` characters (the schema counts characters, and this never splits one).
pub(super) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time;

    fn draft() -> Draft {
        Draft {
            source: Source::Pagerduty,
            name_prefix: "pagerduty",
            name_key: "PABC".into(),
            external_id: "PABC".into(),
            title: Some("t".repeat(300)),
            description: Some("  ".into()),
            tags: vec!["Vip".into(), "_x y".into(), "!!".into()],
            severity: Severity::High,
            state: IncidentState::Resolved,
            started_at: time::parse("t", "2024-01-02T00:00:00Z").unwrap(),
            acknowledged_at: Some(time::parse("t", "2024-01-01T00:00:00Z").unwrap()),
            resolved_at: None,
            url: Some("https://x.example/incidents/PABC".into()),
            service_keys: vec!["svc".into()],
            namespace_key: "svc".into(),
            azure_resources: vec!["/subscriptions/a/x".into(), "/SUBSCRIPTIONS/A/X".into()],
            alert_rule: Some(format!("  {}", "r".repeat(300))),
        }
    }

    #[test]
    fn limits_time_rules_and_refs() {
        let mut ctx = Context::in_namespace("ops");
        ctx.now = Some(time::parse("t", "2024-01-03T00:00:00Z").unwrap());
        ctx.services.entries.insert(
            "svc".into(),
            vec![
                "Not A Ref!".into(),
                "team:x/y".into(),
                "payments/checkout".into(),
                "system:payments/shop".into(),
                "component:payments/checkout".into(),
            ],
        );
        let u = draft().into_upsert(&ctx);
        let spec = &u.object["spec"];
        assert_eq!(u.name(), "pagerduty-pabc");
        assert_eq!(u.namespace(), "payments");
        assert_eq!(spec["title"].as_str().unwrap().chars().count(), 200);
        assert!(spec.get("description").is_none());
        assert_eq!(spec["tags"], serde_json::json!(["vip", "x-y"]));
        assert_eq!(
            spec["affects"],
            serde_json::json!(["component:payments/checkout", "system:payments/shop"])
        );
        // Acknowledged before it started: clamped. Resolved without a time: now.
        assert_eq!(spec["acknowledgedAt"], "2024-01-02T00:00:00Z");
        assert_eq!(spec["resolvedAt"], "2024-01-03T00:00:00Z");
        assert_eq!(u.resolve.len(), 1);
        assert_eq!(
            spec["alertRule"].as_str().unwrap().len(),
            256,
            "trimmed, clipped"
        );
        assert_eq!(
            u.object["metadata"]["annotations"][SOURCE_URL],
            "https://x.example/incidents/PABC"
        );
    }

    #[test]
    fn unresolved_states_carry_no_resolved_time() {
        let mut d = draft();
        d.state = IncidentState::Triggered;
        d.resolved_at = Some(d.started_at.clone());
        let u = d.into_upsert(&Context::in_namespace("ops"));
        assert!(u.object["spec"].get("resolvedAt").is_none());
        assert_eq!(u.namespace(), "ops");
        assert!(u.object["spec"].get("affects").is_none());
    }
}
