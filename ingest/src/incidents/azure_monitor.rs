//! Azure Monitor action-group webhooks in the common alert schema.
//!
//! One alert (`essentials.alertId`) is one Incident named `azure-monitor-<alert guid>`; the
//! Fired and Resolved deliveries of an alert share the id, so they update the same object.
//! Namespace key: the alert rule name (also kept in `spec.alertRule`, which runbooks match).
//! Service keys: the alert rule, then each target id.
//! Target ids that are ARM resource ids are also handed to the applier
//! (`Target::AzureResourceId`) so the AzureResource entity lands in `spec.affects`.
//!
//! Not accepted: classic (pre common schema) alerts and other `schemaId`s are Ignored, asking
//! for the common schema on the action group. A body holding only `{"alertContext": …}` (the
//! documentation's per-signal fragments) is never a delivery: it lacks every field an incident
//! needs, so it is an error naming `data.essentials`.

use nexus_api::catalog::incident::{IncidentState, Severity};
use serde::Deserialize;
use serde_json::Value;

use super::draft::Draft;
use crate::{Change, Context, IngestError, Outcome, Source, error::from_json, time};

const COMMON_SCHEMA: &str = "azureMonitorCommonAlertSchema";
pub(super) const CLASSIC_REASON: &str =
    "classic alert schema: enable the common alert schema on the action group";

#[derive(Deserialize)]
struct Common {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    essentials: Essentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Essentials {
    alert_id: String,
    alert_rule: String,
    severity: String,
    monitor_condition: String,
    #[serde(default, rename = "alertTargetIDs")]
    alert_target_ids: Option<Vec<String>>,
    fired_date_time: String,
    #[serde(default)]
    resolved_date_time: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    signal_type: Option<String>,
}

pub(super) fn parse(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let doc: Value = from_json(body)?;
    let Some(top) = doc.as_object() else {
        return Err(IngestError::invalid("(document)", "expected a JSON object"));
    };
    match top.get("schemaId") {
        Some(Value::String(s)) if s == COMMON_SCHEMA => {}
        Some(Value::String(s)) => {
            return Ok(Outcome::ignored(format!(
                "alert schema `{s}` is not the common alert schema: enable the common alert \
                 schema on the action group"
            )));
        }
        Some(_) => return Err(IngestError::invalid("schemaId", "expected a string")),
        None if top.contains_key("status") && top.contains_key("context") => {
            return Ok(Outcome::ignored(CLASSIC_REASON));
        }
        None if top.contains_key("alertContext") && !top.contains_key("data") => {
            return Err(IngestError::invalid(
                "data.essentials",
                "required field is missing: the body is a bare `alertContext` fragment, not a \
                 common alert schema delivery",
            ));
        }
        // Without a schemaId, a body with essentials is still read as the common schema.
        None if doc.pointer("/data/essentials").is_some() => {}
        None => return Err(IngestError::missing("schemaId")),
    }
    // Parsed again, typed, so errors name the field path.
    let common: Common = from_json(body)?;
    Ok(Outcome::Changes(vec![Change::Upsert(
        draft(common.data.essentials)?.into_upsert(ctx),
    )]))
}

fn draft(e: Essentials) -> Result<Draft, IngestError> {
    let severity = match e.severity.as_str() {
        "Sev0" => Severity::Critical,
        "Sev1" => Severity::High,
        "Sev2" => Severity::Medium,
        "Sev3" => Severity::Low,
        "Sev4" => Severity::Info,
        other => {
            return Err(IngestError::invalid(
                "data.essentials.severity",
                format!("expected Sev0..Sev4, got {other:?}"),
            ));
        }
    };
    let started_at = time::parse("data.essentials.firedDateTime", &e.fired_date_time)?;
    let (state, resolved_at) = match e.monitor_condition.as_str() {
        "Fired" => (IncidentState::Triggered, None),
        "Resolved" => {
            let at = e
                .resolved_date_time
                .as_deref()
                .ok_or_else(|| IngestError::missing("data.essentials.resolvedDateTime"))?;
            let at = time::parse("data.essentials.resolvedDateTime", at)?;
            (IncidentState::Resolved, Some(at))
        }
        other => {
            return Err(IngestError::invalid(
                "data.essentials.monitorCondition",
                format!("expected Fired or Resolved, got {other:?}"),
            ));
        }
    };
    if e.alert_id.trim().is_empty() {
        return Err(IngestError::invalid(
            "data.essentials.alertId",
            "must not be empty",
        ));
    }
    // `/subscriptions/…/providers/Microsoft.AlertsManagement/alerts/<guid>`: the guid is unique.
    let name_key = e
        .alert_id
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or(&e.alert_id)
        .to_string();
    let targets = e.alert_target_ids.unwrap_or_default();
    let mut service_keys = vec![e.alert_rule.clone()];
    service_keys.extend(targets.iter().cloned());
    let azure_resources = targets
        .into_iter()
        .filter(|t| is_arm_id(t))
        .collect::<Vec<_>>();
    Ok(Draft {
        source: Source::AzureMonitor,
        name_prefix: "azure-monitor",
        name_key,
        external_id: e.alert_id,
        title: Some(e.alert_rule.clone()),
        description: e.description,
        tags: e.signal_type.into_iter().collect(),
        severity,
        state,
        started_at,
        acknowledged_at: None,
        resolved_at,
        // The schema carries no link to the alert; a portal URL would be a guess.
        url: None,
        service_keys,
        alert_rule: Some(e.alert_rule.clone()),
        namespace_key: e.alert_rule,
        azure_resources,
    })
}

/// An ARM resource id (`/subscriptions/<id>/…`), as `alertTargetIDs` holds for Azure resources
/// (Log Analytics and Prometheus targets are also ARM ids).
fn is_arm_id(s: &str) -> bool {
    s.get(..15)
        .is_some_and(|p| p.eq_ignore_ascii_case("/subscriptions/"))
        && s.len() > 15
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_ids() {
        assert!(is_arm_id("/SUBSCRIPTIONS/x/resourceGroups/rg"));
        assert!(!is_arm_id("/subscriptions/"));
        assert!(!is_arm_id("vm-1"));
        assert!(!is_arm_id("/subscriptionsé"));
    }

    #[test]
    fn severities_and_conditions() {
        let body = |sev: &str, cond: &str| {
            format!(
                r#"{{"schemaId":"azureMonitorCommonAlertSchema","data":{{"essentials":{{
                "alertId":"/x/alerts/A1","alertRule":"r","severity":"{sev}",
                "monitorCondition":"{cond}","alertTargetIDs":null,
                "firedDateTime":"2024-01-01T00:00:00Z"}}}}}}"#
            )
        };
        let ctx = Context::in_namespace("ops");
        let out = parse(body("Sev0", "Fired").as_bytes(), &ctx).unwrap();
        let crate::Change::Upsert(u) = &out.changes()[0] else {
            panic!()
        };
        assert_eq!(u.object["spec"]["severity"], "critical");
        assert_eq!(u.name(), "azure-monitor-a1");
        let e = parse(body("Sev9", "Fired").as_bytes(), &ctx).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("data.essentials.severity: expected Sev0..Sev4"),
            "{e}"
        );
        let e = parse(body("Sev1", "Resolved").as_bytes(), &ctx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data.essentials.resolvedDateTime: required field is missing"
        );
        let e = parse(body("Sev1", "Flapping").as_bytes(), &ctx).unwrap_err();
        assert!(e.to_string().contains("expected Fired or Resolved"), "{e}");
    }

    #[test]
    fn other_shapes() {
        let ctx = Context::default();
        let ignored = parse(br#"{"schemaId":"AzureMonitorMetricAlert","data":{}}"#, &ctx).unwrap();
        assert!(matches!(ignored, Outcome::Ignored(r) if r.contains("AzureMonitorMetricAlert")));
        assert!(parse(b"[]", &ctx).is_err());
        let e = parse(br#"{"data":{}}"#, &ctx).unwrap_err();
        assert_eq!(e.to_string(), "schemaId: required field is missing");
        let e = parse(
            br#"{"schemaId":"azureMonitorCommonAlertSchema","data":{}}"#,
            &ctx,
        );
        assert!(e.unwrap_err().to_string().contains("essentials"));
    }
}
