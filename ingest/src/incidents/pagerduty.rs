//! PagerDuty V3 webhooks (`{"event": {…}}`).
//!
//! Every `incident.*` event whose `data` is the incident itself (triggered, acknowledged,
//! unacknowledged, resolved, reopened, reassigned, escalated, delegated, priority_updated, …)
//! yields the whole Incident `pagerduty-<incident id>`. Events whose data is something else
//! (`incident.annotated` → a note, `incident.responder.added` → a responder) and non-incident
//! resources (`service.*`, `pagey.ping`) are Ignored.
//!
//! Mapping:
//! - state: `data.status` (triggered | acknowledged | resolved); without it, from the event type.
//! - severity: priority `P1`..`P5` → critical, high, medium, low, info; any other or no priority
//!   → urgency `high` → high, `low` → low, `suppressed` → info.
//! - startedAt: `data.created_at`; deliveries without it fall back to `occurred_at`.
//! - acknowledgedAt: `occurred_at` of `incident.acknowledged` only (V3 carries no acknowledgement
//!   time, so later events of an acknowledged incident leave it out).
//! - resolvedAt: `occurred_at` while the status is resolved (exact for `incident.resolved`).
//! - Service keys: service id, then service name; namespace key: service name, else id.

use nexus_api::catalog::incident::{IncidentState, Severity};
use serde::Deserialize;
use serde_json::Value;

use super::draft::Draft;
use crate::{
    Change, Context, IngestError, Outcome, Source,
    error::{from_json, from_value},
    time,
};

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    event: Option<Event>,
    /// V1/V2 webhooks hold their events here.
    #[serde(default)]
    messages: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Event {
    event_type: String,
    #[serde(default)]
    resource_type: Option<String>,
    /// Required for incident events only.
    #[serde(default)]
    occurred_at: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct IncidentData {
    id: String,
    #[serde(default)]
    number: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    priority: Option<Reference>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    summary: Option<String>,
}

pub(super) fn parse(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let delivery: Delivery = from_json(body)?;
    let Some(event) = delivery.event else {
        if delivery.messages.is_some() {
            return Ok(Outcome::ignored(
                "PagerDuty V1/V2 webhook (`messages`) is not read: subscribe with a V3 webhook",
            ));
        }
        return Err(IngestError::missing("event"));
    };
    let resource = event.resource_type.as_deref().unwrap_or_else(|| {
        event
            .event_type
            .split_once('.')
            .map_or("", |(resource, _)| resource)
    });
    if resource != "incident" {
        return Ok(Outcome::ignored(format!(
            "event `{}` is about a `{resource}`, not an incident: not used by Nexus",
            event.event_type
        )));
    }
    let data = event
        .data
        .as_ref()
        .ok_or_else(|| IngestError::missing("event.data"))?;
    let data_type = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("incident");
    if data_type != "incident" {
        return Ok(Outcome::ignored(format!(
            "event `{}` carries a `{data_type}`, not the incident: nothing to update",
            event.event_type
        )));
    }
    let incident: IncidentData = from_value(data, "event.data")?;
    let draft = draft(&event, incident)?;
    Ok(Outcome::Changes(vec![Change::Upsert(
        draft.into_upsert(ctx),
    )]))
}

fn draft(event: &Event, d: IncidentData) -> Result<Draft, IngestError> {
    if d.id.trim().is_empty() {
        return Err(IngestError::invalid("event.data.id", "must not be empty"));
    }
    let occurred_at = event
        .occurred_at
        .as_deref()
        .ok_or_else(|| IngestError::missing("event.occurred_at"))?;
    let occurred_at = time::parse("event.occurred_at", occurred_at)?;
    let started_at = match d.created_at.as_deref() {
        Some(created) => time::parse("event.data.created_at", created)?,
        None => occurred_at.clone(),
    };
    let state = state(&event.event_type, d.status.as_deref())?;
    let acknowledged_at =
        (event.event_type == "incident.acknowledged").then(|| occurred_at.clone());
    let resolved_at = (state == IncidentState::Resolved).then_some(occurred_at);
    let severity = severity(
        d.priority.as_ref().and_then(|p| p.summary.as_deref()),
        d.urgency.as_deref(),
    )?;
    let service_id = d
        .service
        .as_ref()
        .and_then(|s| s.id.clone())
        .unwrap_or_default();
    let service_name = d
        .service
        .as_ref()
        .and_then(|s| s.summary.clone())
        .unwrap_or_default();
    let namespace_key = if service_name.is_empty() {
        &service_id
    } else {
        &service_name
    }
    .clone();
    let service_keys = [service_id, service_name]
        .into_iter()
        .filter(|k| !k.is_empty())
        .collect();
    let title = d
        .title
        .or_else(|| d.number.map(|n| format!("PagerDuty incident #{n}")));
    Ok(Draft {
        source: Source::Pagerduty,
        name_prefix: "pagerduty",
        name_key: d.id.clone(),
        external_id: d.id,
        title,
        description: None,
        tags: Vec::new(),
        severity,
        state,
        started_at,
        acknowledged_at,
        resolved_at,
        url: d.html_url,
        service_keys,
        namespace_key,
        azure_resources: Vec::new(),
        // V3 incident events name the service, not the alert rule behind the incident.
        alert_rule: None,
    })
}

fn state(event_type: &str, status: Option<&str>) -> Result<IncidentState, IngestError> {
    let from_status = |s: &str| match s {
        "triggered" => Some(IncidentState::Triggered),
        "acknowledged" => Some(IncidentState::Acknowledged),
        "resolved" => Some(IncidentState::Resolved),
        _ => None,
    };
    match status {
        Some(s) => from_status(s).ok_or_else(|| {
            IngestError::invalid(
                "event.data.status",
                format!("expected triggered, acknowledged or resolved, got {s:?}"),
            )
        }),
        None => match event_type {
            "incident.triggered" | "incident.reopened" | "incident.unacknowledged" => {
                Ok(IncidentState::Triggered)
            }
            "incident.acknowledged" => Ok(IncidentState::Acknowledged),
            "incident.resolved" => Ok(IncidentState::Resolved),
            _ => Err(IngestError::missing("event.data.status")),
        },
    }
}

fn severity(priority: Option<&str>, urgency: Option<&str>) -> Result<Severity, IngestError> {
    let by_priority = priority.and_then(|p| match p.trim().to_ascii_uppercase().as_str() {
        "P1" => Some(Severity::Critical),
        "P2" => Some(Severity::High),
        "P3" => Some(Severity::Medium),
        "P4" => Some(Severity::Low),
        "P5" => Some(Severity::Info),
        _ => None,
    });
    if let Some(s) = by_priority {
        return Ok(s);
    }
    match urgency {
        Some("high") => Ok(Severity::High),
        Some("low") => Ok(Severity::Low),
        Some("suppressed") => Ok(Severity::Info),
        Some(other) => Err(IngestError::invalid(
            "event.data.urgency",
            format!("expected high, low or suppressed, got {other:?}"),
        )),
        None => Err(IngestError::invalid(
            "event.data.urgency",
            "required field is missing (and no P1..P5 priority)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_wins_over_urgency() {
        assert_eq!(
            severity(Some("P1"), Some("low")).unwrap(),
            Severity::Critical
        );
        assert_eq!(severity(Some("p5"), None).unwrap(), Severity::Info);
        assert_eq!(severity(Some("SEV-A"), Some("low")).unwrap(), Severity::Low);
        assert_eq!(severity(None, Some("high")).unwrap(), Severity::High);
        assert!(severity(None, None).is_err());
        assert!(severity(None, Some("urgent")).is_err());
    }

    #[test]
    fn state_without_status_follows_the_event() {
        assert_eq!(
            state("incident.reopened", None).unwrap(),
            IncidentState::Triggered
        );
        assert_eq!(
            state("incident.resolved", None).unwrap(),
            IncidentState::Resolved
        );
        assert_eq!(
            state("incident.escalated", Some("acknowledged")).unwrap(),
            IncidentState::Acknowledged
        );
        assert!(state("incident.escalated", None).is_err());
        assert!(state("incident.triggered", Some("open")).is_err());
    }

    #[test]
    fn non_incident_events_are_ignored() {
        let ctx = Context::default();
        let ping = br#"{"event":{"id":"1","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"2024-01-01T00:00:00Z","data":{"message":"Hello"}}}"#;
        let out = parse(ping, &ctx).unwrap();
        assert!(
            matches!(&out, Outcome::Ignored(r) if r.contains("pagey.ping")),
            "{out:?}"
        );
        let note = br#"{"event":{"id":"1","event_type":"incident.annotated","resource_type":"incident","occurred_at":"2024-01-01T00:00:00Z","data":{"type":"incident_note","incident":{"id":"P1"}}}}"#;
        let out = parse(note, &ctx).unwrap();
        assert!(
            matches!(&out, Outcome::Ignored(r) if r.contains("incident_note")),
            "{out:?}"
        );
        let service = br#"{"event":{"event_type":"service.updated"}}"#;
        assert!(matches!(parse(service, &ctx).unwrap(), Outcome::Ignored(_)));
        let v2 = br#"{"messages":[{"event":"incident.trigger"}]}"#;
        assert!(matches!(parse(v2, &ctx).unwrap(), Outcome::Ignored(_)));
    }

    #[test]
    fn reopened_without_created_at_starts_at_the_event() {
        let body = br#"{"event":{"event_type":"incident.reopened","resource_type":"incident","occurred_at":"2024-01-01T10:00:00Z","data":{"id":"PX","type":"incident","status":"triggered","urgency":"low","priority":{"summary":"P2"}}}}"#;
        let out = parse(body, &Context::in_namespace("ops")).unwrap();
        let Change::Upsert(u) = &out.changes()[0] else {
            panic!()
        };
        let spec = &u.object["spec"];
        assert_eq!(spec["startedAt"], "2024-01-01T10:00:00Z");
        assert_eq!(spec["severity"], "high");
        assert_eq!(spec["state"], "triggered");
        assert!(spec.get("resolvedAt").is_none());
        assert!(spec.get("title").is_none());
    }
}
