//! Dependabot alerts → `status.vulnerabilities` of the Package (found by ecosystem and name),
//! keyed by GHSA id. Fixed and dismissed alerts remove the entry.

use std::collections::BTreeMap;

use nexus_api::{catalog::package::Vulnerability, facts::MAX_VULNERABILITIES};
use serde::Deserialize;

use super::common::{one_or_many, opt_time};
use crate::{Change, Facts, IngestError, ListOp, Outcome, Source, Target, error::from_json};

#[derive(Debug, Deserialize)]
struct Alert {
    state: String,
    dependency: Dependency,
    security_advisory: Advisory,
    #[serde(default)]
    security_vulnerability: Option<Affected>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    package: PackageId,
}

#[derive(Debug, Deserialize)]
struct PackageId {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Advisory {
    ghsa_id: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    published_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Affected {
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    vulnerable_version_range: Option<String>,
    #[serde(default)]
    first_patched_version: Option<Patched>,
}

#[derive(Debug, Deserialize)]
struct Patched {
    identifier: String,
}

/// Nexus `Ecosystem` (serde name) for a GitHub ecosystem name; `None` for ecosystems Nexus has
/// no Package kind for (rubygems, composer, pub, actions, …).
pub(crate) fn ecosystem(github: &str) -> Option<&'static str> {
    Some(match github.to_ascii_lowercase().as_str() {
        "npm" => "npm",
        "nuget" => "nuget",
        "maven" => "maven",
        "pip" | "pypi" => "pypi",
        "rust" | "cargo" => "cargo",
        "go" | "golang" => "go",
        _ => return None,
    })
}

impl Alert {
    fn target(&self) -> Option<Target> {
        let p = &self.dependency.package;
        Some(Target::Package {
            ecosystem: ecosystem(&p.ecosystem)?.to_string(),
            name: p.name.clone(),
        })
    }

    fn op(&self, open: bool, at: &str) -> Result<ListOp, IngestError> {
        let id = self.security_advisory.ghsa_id.clone();
        if id.is_empty() {
            return Err(IngestError::invalid(
                format!("{at}security_advisory.ghsa_id"),
                "expected a GHSA id",
            ));
        }
        if !open {
            return Ok(ListOp::remove("vulnerabilities", "id", id));
        }
        let affected = self.security_vulnerability.as_ref();
        let severity = affected
            .and_then(|a| a.severity.as_deref())
            .or(self.security_advisory.severity.as_deref())
            .unwrap_or("unknown");
        let vuln = Vulnerability {
            id,
            // The CRD speaks the advisory database's words: GitHub alerts say `medium`.
            severity: if severity == "medium" {
                "moderate".into()
            } else {
                severity.into()
            },
            affected_versions: affected.and_then(|a| a.vulnerable_version_range.clone()),
            fixed_in: affected
                .and_then(|a| a.first_patched_version.as_ref())
                .map(|p| p.identifier.clone()),
            published_at: opt_time(
                &format!("{at}security_advisory.published_at"),
                self.security_advisory.published_at.as_deref(),
            )?,
        };
        Ok(ListOp::upsert(
            "vulnerabilities",
            "id",
            vuln,
            "publishedAt",
            MAX_VULNERABILITIES,
        ))
    }
}

/// Open (upsert) or closed (remove), from the alert's state or the webhook action.
fn is_open(state: &str) -> Option<bool> {
    match state {
        "open" | "created" | "reopened" | "reintroduced" | "auto_reopened" => Some(true),
        "fixed" | "dismissed" | "auto_dismissed" => Some(false),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct AlertEvent {
    action: String,
    alert: Alert,
}

/// `dependabot_alert` webhook.
pub(crate) fn event(body: &[u8]) -> Result<Outcome, IngestError> {
    let ev: AlertEvent = from_json(body)?;
    let Some(open) = is_open(&ev.action) else {
        return Ok(Outcome::ignored(format!(
            "`dependabot_alert` action `{}` does not change a vulnerability",
            ev.action
        )));
    };
    let Some(target) = ev.alert.target() else {
        return Ok(Outcome::ignored(format!(
            "`dependabot_alert` for ecosystem `{}`, which Nexus has no packages for",
            ev.alert.dependency.package.ecosystem
        )));
    };
    let op = ev.alert.op(open, "alert.")?;
    Ok(Outcome::Changes(vec![Change::Facts(
        Facts::new(Source::Github, target).list(op),
    )]))
}

/// REST `GET /repos/{o}/{r}/dependabot/alerts` (array) or one alert: one Facts per package.
/// Alerts of ecosystems Nexus has no packages for are skipped.
pub(crate) fn rest(body: &[u8]) -> Result<Outcome, IngestError> {
    let (alerts, _) = one_or_many::<Alert>(body)?;
    let mut by_package: BTreeMap<(String, String), Vec<ListOp>> = BTreeMap::new();
    for (i, alert) in alerts.iter().enumerate() {
        let (Some(Target::Package { ecosystem, name }), Some(open)) =
            (alert.target(), is_open(&alert.state))
        else {
            continue;
        };
        let op = alert.op(open, &format!("[{i}]."))?;
        by_package.entry((ecosystem, name)).or_default().push(op);
    }
    let changes = by_package
        .into_iter()
        .map(|((ecosystem, name), ops)| {
            let f = Facts::new(Source::Github, Target::Package { ecosystem, name });
            Change::Facts(ops.into_iter().fold(f, Facts::list))
        })
        .collect();
    Ok(Outcome::Changes(changes))
}
