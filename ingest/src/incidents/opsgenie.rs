//! Opsgenie outgoing-webhook deliveries (`{"action": …, "alert": {…}}`).
//!
//! One alert (`alert.alertId`) is one Incident `opsgenie-<alertId>`. The alias is not used as
//! the identity: Opsgenie reuses an alias for a new alert once the old one is closed.
//!
//! Mapping:
//! - state: `Close` → resolved (resolvedAt = `updatedAt`), `Acknowledge` → acknowledged
//!   (acknowledgedAt = `updatedAt`), `UnAcknowledge`/`Create` → triggered. Other actions
//!   (AddNote, AddTags, AddTeam, AssignOwnership, Escalate, …) do not say whether the alert
//!   was acknowledged or closed; `alert.status` (`closed`) and `alert.acknowledged` are read
//!   when the payload has them, otherwise the state is triggered. So an acknowledgement does
//!   NOT persist through such later events on its own: the applier applies the full spec and
//!   the state goes back to triggered (see the module report).
//! - severity: priority `P1`..`P5` (or the bare number 1..5) → critical, high, medium, low,
//!   info; no priority → medium (Opsgenie's default P3).
//! - timestamps: integers in seconds, milliseconds, microseconds or nanoseconds since the
//!   epoch, told apart by magnitude (`createdAt` is in ms, `updatedAt` in ns in real payloads).
//! - Service keys: each team, the team just added, each tag, the entity. Namespace key: first
//!   team, else entity, else the integration name.
//! - An escalation notification (`escalationId`) whose alert has only an id is Ignored;
//!   `Delete` is Ignored (the incident stays as history).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::catalog::incident::{IncidentState, Severity};
use serde::Deserialize;

use super::draft::Draft;
use crate::{Change, Context, IngestError, Outcome, Source, error::from_json, time};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    action: String,
    alert: Alert,
    #[serde(default)]
    integration_name: Option<String>,
    #[serde(default)]
    escalation_id: Option<String>,
    #[serde(default)]
    escalation_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    alert_id: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    created_at: Option<Epoch>,
    #[serde(default)]
    updated_at: Option<Epoch>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    teams: Option<Vec<TeamRef>>,
    /// The team an `AddTeam` action added.
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    acknowledged: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Epoch {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Priority {
    Number(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TeamRef {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        id: Option<String>,
    },
}

impl TeamRef {
    fn key(&self) -> Option<&str> {
        match self {
            TeamRef::Name(n) => Some(n.as_str()),
            TeamRef::Object { name, id } => name.as_deref().or(id.as_deref()),
        }
        .filter(|k| !k.is_empty())
    }
}

pub(super) fn parse(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let d: Delivery = from_json(body)?;
    let alert = &d.alert;
    if alert.alert_id.trim().is_empty() {
        return Err(IngestError::invalid("alert.alertId", "must not be empty"));
    }
    if d.action == "Delete" {
        return Ok(Outcome::ignored(
            "action `Delete` removes the alert from Opsgenie: Nexus keeps the incident as history",
        ));
    }
    let Some(created) = &alert.created_at else {
        if d.escalation_id.is_some() {
            return Ok(Outcome::ignored(format!(
                "escalation notification `{}` for alert {} carries no alert details: \
                 escalations do not change the incident",
                d.escalation_name.as_deref().unwrap_or(""),
                alert.alert_id
            )));
        }
        return Err(IngestError::missing("alert.createdAt"));
    };
    let started_at = epoch("alert.createdAt", created)?;
    let updated_at = alert
        .updated_at
        .as_ref()
        .map(|u| epoch("alert.updatedAt", u))
        .transpose()?;
    let changed_at = || updated_at.clone().unwrap_or_else(|| ctx.now());
    let (state, acknowledged_at, resolved_at) = match d.action.as_str() {
        "Close" => (IncidentState::Resolved, None, Some(changed_at())),
        "Acknowledge" => (IncidentState::Acknowledged, Some(changed_at()), None),
        "Create" | "UnAcknowledge" => (IncidentState::Triggered, None, None),
        _ if alert.status.as_deref() == Some("closed") => {
            (IncidentState::Resolved, None, Some(changed_at()))
        }
        _ if alert.acknowledged == Some(true) => (IncidentState::Acknowledged, None, None),
        _ => (IncidentState::Triggered, None, None),
    };

    let teams: Vec<String> = alert
        .teams
        .iter()
        .flatten()
        .filter_map(TeamRef::key)
        .chain(alert.team.as_deref().filter(|t| !t.is_empty()))
        .map(str::to_string)
        .collect();
    let tags = alert.tags.clone().unwrap_or_default();
    let entity = alert.entity.clone().filter(|e| !e.trim().is_empty());
    let namespace_key = teams
        .first()
        .cloned()
        .or_else(|| entity.clone())
        .or_else(|| d.integration_name.clone())
        .unwrap_or_default();
    let mut service_keys = teams;
    service_keys.extend(tags.iter().cloned());
    service_keys.extend(entity);

    let draft = Draft {
        source: Source::Opsgenie,
        name_prefix: "opsgenie",
        name_key: alert.alert_id.clone(),
        external_id: alert.alert_id.clone(),
        title: alert.message.clone(),
        description: alert.description.clone(),
        tags,
        severity: severity(alert.priority.as_ref())?,
        state,
        started_at,
        acknowledged_at,
        resolved_at,
        // Opsgenie sends no link, and the web host depends on the account and region.
        url: None,
        service_keys,
        namespace_key,
        azure_resources: Vec::new(),
        // Opsgenie alerts carry no rule name (the alias is a deduplication key).
        alert_rule: None,
    };
    Ok(Outcome::Changes(vec![Change::Upsert(
        draft.into_upsert(ctx),
    )]))
}

fn severity(priority: Option<&Priority>) -> Result<Severity, IngestError> {
    let level = match priority {
        None => return Ok(Severity::Medium),
        Some(Priority::Number(n)) => Some(*n),
        Some(Priority::Text(t)) => {
            let t = t.trim();
            let digits = t.strip_prefix(['P', 'p']).unwrap_or(t);
            digits.parse::<i64>().ok()
        }
    };
    match level {
        Some(1) => Ok(Severity::Critical),
        Some(2) => Ok(Severity::High),
        Some(3) => Ok(Severity::Medium),
        Some(4) => Ok(Severity::Low),
        Some(5) => Ok(Severity::Info),
        _ => Err(IngestError::invalid("alert.priority", "expected P1..P5")),
    }
}

/// An epoch timestamp in s, ms, µs or ns, told apart by magnitude (s below 10^11, i.e. up to
/// the year 5138; ms below 10^14; µs below 10^17), or RFC 3339 text.
fn epoch(field: &str, value: &Epoch) -> Result<Time, IngestError> {
    let nanos: i128 = match value {
        Epoch::Int(n) => scale(i128::from(*n)),
        Epoch::Float(f) if f.is_finite() && f.abs() < 1e19 => {
            // Whole units are enough; the cast cannot overflow below 10^19.
            scale(f.trunc() as i128)
        }
        Epoch::Float(f) => {
            return Err(IngestError::invalid(
                field,
                format!("timestamp {f} out of range"),
            ));
        }
        Epoch::Text(s) => match s.trim().parse::<i64>() {
            Ok(n) => scale(i128::from(n)),
            Err(_) => return time::parse(field, s),
        },
    };
    Timestamp::from_nanosecond(nanos)
        .map(Time)
        .map_err(|e| IngestError::invalid(field, format!("timestamp out of range ({e})")))
}

fn scale(n: i128) -> i128 {
    let unit = match n.unsigned_abs() {
        m if m < 100_000_000_000 => 1_000_000_000,
        m if m < 100_000_000_000_000 => 1_000_000,
        m if m < 100_000_000_000_000_000 => 1_000,
        _ => 1,
    };
    n.saturating_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(v: Epoch) -> String {
        time::rfc3339(&epoch("t", &v).unwrap())
    }

    #[test]
    fn epoch_units() {
        assert_eq!(at(Epoch::Int(1420452191)), "2015-01-05T10:03:11Z");
        assert_eq!(at(Epoch::Int(1420452191104)), "2015-01-05T10:03:11Z");
        assert_eq!(at(Epoch::Int(1420452191104000)), "2015-01-05T10:03:11Z");
        assert_eq!(at(Epoch::Int(1420452224764002246)), "2015-01-05T10:03:44Z");
        assert_eq!(at(Epoch::Float(1420452191104.0)), "2015-01-05T10:03:11Z");
        assert_eq!(
            at(Epoch::Text("1420452191104".into())),
            "2015-01-05T10:03:11Z"
        );
        assert_eq!(
            at(Epoch::Text("2015-01-05T10:03:11Z".into())),
            "2015-01-05T10:03:11Z"
        );
        assert!(epoch("t", &Epoch::Float(f64::NAN)).is_err());
        assert!(epoch("t", &Epoch::Float(1e300)).is_err());
        assert!(epoch("t", &Epoch::Int(i64::MAX)).is_ok());
        assert!(epoch("t", &Epoch::Int(i64::MIN)).is_ok());
        let e = epoch("alert.createdAt", &Epoch::Text("soon".into())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("alert.createdAt: expected an RFC 3339"),
            "{e}"
        );
    }

    #[test]
    fn priorities() {
        assert_eq!(severity(None).unwrap(), Severity::Medium);
        assert_eq!(
            severity(Some(&Priority::Text("P1".into()))).unwrap(),
            Severity::Critical
        );
        assert_eq!(
            severity(Some(&Priority::Number(5))).unwrap(),
            Severity::Info
        );
        assert!(severity(Some(&Priority::Text("urgent".into()))).is_err());
        assert!(severity(Some(&Priority::Number(0))).is_err());
    }

    #[test]
    fn neutral_actions_read_status_flags() {
        let body = |extra: &str| {
            format!(
                r#"{{"action":"AddNote","alert":{{"alertId":"a1","createdAt":1000,"updatedAt":2000{extra}}}}}"#
            )
        };
        let ctx = Context::in_namespace("ops");
        let state = |extra: &str| {
            let out = parse(body(extra).as_bytes(), &ctx).unwrap();
            out.changes()[0].clone()
        };
        let Change::Upsert(u) = state(r#","status":"closed""#) else {
            panic!()
        };
        assert_eq!(u.object["spec"]["state"], "resolved");
        assert_eq!(u.object["spec"]["resolvedAt"], "1970-01-01T00:33:20Z");
        let Change::Upsert(u) = state(r#","acknowledged":true"#) else {
            panic!()
        };
        assert_eq!(u.object["spec"]["state"], "acknowledged");
        let Change::Upsert(u) = state("") else {
            panic!()
        };
        assert_eq!(u.object["spec"]["state"], "triggered");
    }
}
