//! GitHub deployment protection rules backed by the scorecard gate.
//!
//! A GitHub App (the GitHubIntegration's) subscribed to "Deployment protection rule" and
//! enabled as a custom protection rule on the production environment receives a
//! `deployment_protection_rule` delivery (action `requested`) whenever a workflow job reaches
//! that environment. Nexus finds the Components of the delivery's repository (by URL, as
//! ingestion does), asks the gate for each (`--gate-scorecards`), and answers through the
//! delivery's `deployment_callback_url` (`POST /repos/{owner}/{repo}/actions/runs/{run_id}/
//! deployment_protection_rule` with `environment_name`, `state: approved|rejected` and a
//! comment naming what to fix), as the App's installation. It also concludes a check run
//! "Nexus production readiness" on the deployment's commit, with the reasons as its summary.
//!
//! Fail closed: a repository no Component links, a scorecard that does not exist or compile,
//! and a gate the API could not decide after retries are all rejections with the reason.

use std::{sync::Arc, time::Duration};

use http::Method;
use nexus_api::{EntityKind, integrations::GitHubIntegration};
use nexus_ingest::Target;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::gate::{Decision, GateChecker, GateError};
use crate::{
    actions::executors::{
        ExecError,
        providers::{Providers, base_url, call, json_req},
    },
    ingestion::{
        Delivery,
        apply::CatalogIndex,
        pollers::BoxFut,
        registry::{IntegrationKey, Integrations},
    },
};

/// The check run's name on the deployment's commit.
pub const CHECK_NAME: &str = "Nexus production readiness";
const API_VERSION: &str = "2022-11-28";
/// GitHub's limit for a check run summary is 65,535 characters; comments are kept short.
const MAX_SUMMARY: usize = 60_000;
const MAX_COMMENT: usize = 1_000;
/// Attempts at deciding when the Kubernetes API is unreachable, before rejecting.
const DECIDE_ATTEMPTS: u32 = 3;

/// Why a delivery could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ProtectionError {
    #[error("deployment_protection_rule payload: {0}")]
    Payload(String),
    #[error("{0} is not configured (no such GitHubIntegration)")]
    NoIntegration(String),
    #[error(
        "deployment_callback_url {url:?} is not under the integration's spec.apiUrl {api:?}; refusing to send the installation token there"
    )]
    CallbackOutsideApi { url: String, api: String },
    #[error("GitHub: {0}")]
    GitHub(#[from] ExecError),
    #[error("GitHub answered the protection rule callback with {0}")]
    Callback(String),
}

/// What a `deployment_protection_rule` delivery asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub environment: String,
    pub callback_url: String,
    /// `owner/repo`.
    pub repository: String,
    pub repository_url: String,
    /// The deployment's commit (for the check run), when the payload names it.
    pub sha: Option<String>,
}

/// Reads the delivery; None when its action is not `requested` (nothing to answer).
pub fn parse(body: &[u8]) -> Result<Option<Request>, ProtectionError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let v: Value =
        serde_json::from_slice(body).map_err(|e| ProtectionError::Payload(e.to_string()))?;
    if v.get("action").and_then(Value::as_str) != Some("requested") {
        return Ok(None);
    }
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let missing = |f: &str| ProtectionError::Payload(format!("{f} is missing"));
    let repository = s("/repository/full_name").ok_or_else(|| missing("repository.full_name"))?;
    let repository_url =
        s("/repository/html_url").unwrap_or_else(|| format!("https://github.com/{repository}"));
    Ok(Some(Request {
        environment: s("/environment").ok_or_else(|| missing("environment"))?,
        callback_url: s("/deployment_callback_url")
            .ok_or_else(|| missing("deployment_callback_url"))?,
        repository,
        repository_url,
        sha: s("/deployment/sha").filter(|x| !x.is_empty()),
    }))
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub approved: bool,
    /// Short, for the callback's comment.
    pub comment: String,
    /// Markdown, for the check run.
    pub summary: String,
}

/// Turns the gate's decisions for the repository's components into the answer.
pub fn answer(req: &Request, decisions: &[(String, Result<Decision, GateError>)]) -> Answer {
    if decisions.is_empty() {
        let why = format!(
            "no Component in the Nexus catalog links repository {} ({}): register the service and set its spec.repository, so its production readiness can be checked",
            req.repository, req.repository_url
        );
        return Answer {
            approved: false,
            comment: bounded(&format!("Rejected by Nexus: {why}"), MAX_COMMENT),
            summary: why,
        };
    }
    let approved = decisions
        .iter()
        .all(|(_, d)| d.as_ref().is_ok_and(|d| d.allowed));
    let mut lines = Vec::new();
    let mut short = Vec::new();
    for (entity, d) in decisions {
        match d {
            Ok(d) if d.allowed => {
                lines.push(format!("- `{entity}`: passes"));
                short.push(format!("{entity} passes"));
            }
            Ok(d) => {
                lines.push(format!("- `{entity}`: blocked"));
                for r in &d.reasons {
                    lines.push(format!("  - {r}"));
                }
                short.push(format!("{entity}: {}", d.reasons.join("; ")));
            }
            Err(e) => {
                lines.push(format!("- `{entity}`: could not be decided: {e}"));
                short.push(format!("{entity}: could not be decided: {e}"));
            }
        }
    }
    let verdict = if approved { "Approved" } else { "Rejected" };
    Answer {
        approved,
        comment: bounded(
            &format!(
                "{verdict} by Nexus production readiness for {}: {}",
                req.environment,
                short.join(" | ")
            ),
            MAX_COMMENT,
        ),
        summary: bounded(
            &format!(
                "Deployment to **{}** of `{}`.\n\n{}",
                req.environment,
                req.repository,
                lines.join("\n")
            ),
            MAX_SUMMARY,
        ),
    }
}

fn bounded(s: &str, max: usize) -> String {
    crate::actions::executors::providers::bounded(s, max)
}

/// Answers `deployment_protection_rule` deliveries.
pub struct ProtectionRules {
    pub checker: Arc<GateChecker>,
    pub providers: Arc<Providers>,
    pub index: CatalogIndex,
    pub integrations: Integrations,
    /// Scorecards every component must pass (`--gate-scorecards`).
    pub scorecards: Vec<String>,
}

impl ProtectionRules {
    /// Decides and answers one delivery; the outcome in words (for logs and status).
    pub async fn handle(
        &self,
        key: &IntegrationKey,
        body: &[u8],
    ) -> Result<String, ProtectionError> {
        let Some(req) = parse(body)? else {
            return Ok("not a request (action is not `requested`): nothing to answer".into());
        };
        let integration = self
            .integrations
            .github(&key.namespace, &key.name)
            .ok_or_else(|| ProtectionError::NoIntegration(key.to_string()))?;
        let api = base_url(&format!("{key}: spec.apiUrl"), &integration.spec.api_url)?;
        // The installation token goes only to the integration's own API.
        if !req.callback_url.starts_with(&format!("{api}/repos/"))
            || !req.callback_url.ends_with("/deployment_protection_rule")
        {
            return Err(ProtectionError::CallbackOutsideApi {
                url: req.callback_url.clone(),
                api,
            });
        }
        let decisions = self.decide(&req).await;
        let answer = answer(&req, &decisions);
        self.respond(key, &integration, &api, &req, &answer).await?;
        Ok(format!(
            "{} deployment of {} to {} ({} component(s))",
            if answer.approved {
                "approved"
            } else {
                "rejected"
            },
            req.repository,
            req.environment,
            decisions.len()
        ))
    }

    async fn decide(&self, req: &Request) -> Vec<(String, Result<Decision, GateError>)> {
        let components = self.index.resolve(
            &Target::ComponentsOfRepository {
                url: req.repository_url.clone(),
            },
            &[],
        );
        let mut out = Vec::new();
        for c in components
            .into_iter()
            .filter(|c| c.kind == EntityKind::Component)
        {
            let r = c.entity_ref();
            let mut attempt = 0;
            let decision = loop {
                attempt += 1;
                match self.checker.check_all(&r, &self.scorecards, "github").await {
                    Err(e) if e.is_transient() && attempt < DECIDE_ATTEMPTS => {
                        warn!(entity = %r, error = %e, attempt, "gate undecided; retrying");
                        tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
                    }
                    other => break other,
                }
            };
            out.push((r.to_string(), decision));
        }
        out
    }

    async fn respond(
        &self,
        key: &IntegrationKey,
        integration: &GitHubIntegration,
        api: &str,
        req: &Request,
        answer: &Answer,
    ) -> Result<(), ProtectionError> {
        let http = self.providers.client(key, "github-gate", true)?;
        let auth = self.providers.github_token(key, integration).await?;
        let state = if answer.approved {
            "approved"
        } else {
            "rejected"
        };
        let body = json!({
            "environment_name": req.environment,
            "state": state,
            "comment": answer.comment,
        });
        let ans = call(
            &http,
            &json_req(Method::POST, req.callback_url.clone(), &auth, Some(&body))
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", API_VERSION),
        )
        .await?;
        if ans.status == 401 {
            self.providers.forget_tokens(key);
        }
        if !ans.success() {
            return Err(ProtectionError::Callback(ans.describe()));
        }
        info!(integration = %key, repository = %req.repository, environment = %req.environment, state, "deployment protection rule answered");
        // The check run is a record on the commit; the callback above is what gates, so a
        // failure here (e.g. the App lacks "Checks: write") is logged, not fatal.
        if let Some(sha) = &req.sha {
            let check = json!({
                "name": CHECK_NAME,
                "head_sha": sha,
                "status": "completed",
                "conclusion": if answer.approved { "success" } else { "failure" },
                "output": {
                    "title": if answer.approved { "Production readiness: passes" } else { "Production readiness: blocked" },
                    "summary": answer.summary,
                },
            });
            let url = format!("{api}/repos/{}/check-runs", req.repository);
            match call(
                &http,
                &json_req(Method::POST, url, &auth, Some(&check))
                    .header("accept", "application/vnd.github+json")
                    .header("x-github-api-version", API_VERSION),
            )
            .await
            {
                Ok(a) if a.success() => {}
                Ok(a) => {
                    warn!(repository = %req.repository, answer = %a.describe(), "check run not created")
                }
                Err(e) => warn!(repository = %req.repository, error = %e, "check run not created"),
            }
        }
        Ok(())
    }
}

impl crate::ingestion::DeliveryHook for ProtectionRules {
    fn handle<'a>(&'a self, delivery: &'a Delivery) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move {
            ProtectionRules::handle(self, &delivery.integration, &delivery.body)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Value {
        json!({
            "action": "requested",
            "environment": "production",
            "event": "push",
            "deployment_callback_url": "https://api.github.com/repos/contoso/payments-api/actions/runs/42/deployment_protection_rule",
            "deployment": {"id": 7, "sha": "abc123", "ref": "main", "environment": "production"},
            "repository": {"full_name": "contoso/payments-api", "html_url": "https://github.com/contoso/payments-api", "name": "payments-api", "owner": {"login": "contoso"}},
            "installation": {"id": 1},
        })
    }

    #[test]
    fn reads_requests_and_skips_other_actions() {
        let req = parse(&serde_json::to_vec(&payload()).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(req.environment, "production");
        assert_eq!(req.repository, "contoso/payments-api");
        assert_eq!(req.sha.as_deref(), Some("abc123"));
        let mut other = payload();
        other["action"] = json!("completed");
        assert_eq!(parse(&serde_json::to_vec(&other).unwrap()).unwrap(), None);
        let mut broken = payload();
        broken
            .as_object_mut()
            .unwrap()
            .remove("deployment_callback_url");
        let err = parse(&serde_json::to_vec(&broken).unwrap()).unwrap_err();
        assert!(err.to_string().contains("deployment_callback_url"), "{err}");
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn no_component_or_any_block_rejects_with_the_reasons() {
        let req = parse(&serde_json::to_vec(&payload()).unwrap())
            .unwrap()
            .unwrap();
        let none = answer(&req, &[]);
        assert!(!none.approved);
        assert!(none.comment.contains("no Component"), "{}", none.comment);
        let ok = Decision {
            allowed: true,
            reasons: vec!["level Bronze meets the required Bronze".into()],
            verdicts: Vec::new(),
        };
        let blocked = Decision {
            allowed: false,
            reasons: vec!["no level reached; Bronze is required".into()],
            verdicts: Vec::new(),
        };
        let a = answer(
            &req,
            &[
                ("component:p/api".into(), Ok(ok.clone())),
                ("component:p/worker".into(), Ok(blocked)),
            ],
        );
        assert!(!a.approved);
        assert!(
            a.comment.contains("component:p/worker: no level reached"),
            "{}",
            a.comment
        );
        assert!(
            a.summary.contains("- `component:p/api`: passes"),
            "{}",
            a.summary
        );
        let a = answer(&req, &[("component:p/api".into(), Ok(ok))]);
        assert!(a.approved);
        let err = answer(
            &req,
            &[(
                "component:p/api".into(),
                Err(GateError::ScorecardNotFound("nexus-org/x".into())),
            )],
        );
        assert!(!err.approved, "an undecidable gate rejects");
    }
}
