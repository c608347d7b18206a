//! Azure DevOps poller: PAT basic auth (or an Entra token when `spec.azure` is set).
//!
//! A sync lists the organisation's projects (`_apis/projects`, continuation tokens), keeps
//! those `spec.projects` names (all when empty), and per project reads git repositories, build
//! definitions, the most recent builds and the work items changed since the project's cursor:
//! WIQL (`timePrecision=true`) gives the ids, `_apis/wit/workitems?ids=…&$expand=relations`
//! (batches of 200) the items. The cursor `workItemsChangedSince.<project>` advances to the
//! latest `System.ChangedDate` applied, and is read back from the integration status on start,
//! so a restart asks only for what changed since. The first sync of a project looks back
//! [`FIRST_LOOKBACK_DAYS`] days.

use std::collections::BTreeMap;

use nexus_api::integrations::AzureDevOpsIntegrationSpec;
use nexus_ingest::{Context, ado::Scope};
use serde_json::{Value, json};

use super::{
    Env, PollError, SyncReport,
    entra::{ADO_SCOPE, EntraToken},
    http::{Auth, HttpClient, HttpError, Req, Resp, with_query},
};
use crate::ingestion::registry::{IntegrationKey, ado_context};

pub const API_VERSION: &str = "7.1";
pub const FIRST_LOOKBACK_DAYS: i64 = 30;
const WORK_ITEM_BATCH: usize = 200;
const RECENT_BUILDS: usize = 50;
const MAX_PAGES: usize = 100;
pub const CURSOR_PREFIX: &str = "workItemsChangedSince.";

pub struct AdoPoller {
    key: IntegrationKey,
    spec: AzureDevOpsIntegrationSpec,
    env: Env,
    http: HttpClient,
    entra: Option<EntraToken>,
    base: String,
    /// project name → RFC 3339 time of the latest change applied.
    since: BTreeMap<String, String>,
}

impl AdoPoller {
    pub fn new(
        key: IntegrationKey,
        spec: AzureDevOpsIntegrationSpec,
        env: Env,
        cursors: &BTreeMap<String, String>,
    ) -> Result<Self, PollError> {
        let http = env.client(&key, "azure-devops")?;
        let since = cursors
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(CURSOR_PREFIX)?.to_string(), v.clone())))
            .collect();
        Ok(AdoPoller {
            entra: spec.azure.as_ref().map(|a| EntraToken::new(a, ADO_SCOPE)),
            base: format!(
                "{}/{}",
                spec.api_url.trim_end_matches('/'),
                spec.organization
            ),
            key,
            spec,
            env,
            http,
            since,
        })
    }

    /// The Entra token source (tests point its federated token file elsewhere).
    pub fn entra_mut(&mut self) -> Option<&mut EntraToken> {
        self.entra.as_mut()
    }

    async fn auth(&self) -> Result<Auth, PollError> {
        if let Some(e) = &self.entra {
            let t = e.token(&self.http, &self.env, &self.key).await?;
            return Ok(Auth::Bearer(t));
        }
        let Some(r) = &self.spec.pat_ref else {
            let p = "set spec.patRef or spec.azure".to_string();
            self.env.status.config_problem(&self.key, Some(p.clone()));
            return Err(PollError::Config(p));
        };
        let pat = self.env.secret(&self.key, r).await?;
        Ok(Auth::Basic(
            "".into(),
            String::from_utf8_lossy(&pat).into_owned().into(),
        ))
    }

    pub async fn sync(&mut self) -> Result<SyncReport, PollError> {
        let mut report = SyncReport::default();
        match self.sync_inner(&mut report).await {
            Ok(()) => {
                if report.errors == 0 {
                    self.env.status.synced(&self.key);
                }
                Ok(report)
            }
            Err(e) => {
                self.failed(&e);
                Err(e)
            }
        }
    }

    fn failed(&self, e: &PollError) {
        match e {
            PollError::Http(HttpError::Unauthorized { .. }) => {
                if let Some(t) = &self.entra {
                    t.invalidate();
                }
            }
            PollError::Apply(_) => self.http.clear_cache(),
            _ => {}
        }
        self.env.status.error(&self.key, e.to_string());
    }

    async fn get(&self, url: String, auth: &Auth) -> Result<Resp, HttpError> {
        self.http
            .send(&Req::get(url, auth).header("accept", "application/json"))
            .await
    }

    async fn sync_inner(&mut self, report: &mut SyncReport) -> Result<(), PollError> {
        let auth = self.auth().await?;
        // Projects, every page.
        let mut projects = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = format!("{}/_apis/projects?api-version={API_VERSION}", self.base);
            if let Some(t) = &token {
                url = with_query(&url, "continuationToken", t);
            }
            let resp = self.get(url, &auth).await?;
            let page = nexus_ingest::ado::projects(&resp.body)
                .map_err(|e| HttpError::parse(&resp.call, e))?;
            projects.extend(page);
            token = resp.continuation_token();
            if token.is_none() {
                break;
            }
        }
        let wanted = &self.spec.projects;
        let projects: Vec<_> = projects
            .into_iter()
            .filter(|p| wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(&p.name)))
            .collect();
        let ctx = {
            let i =
                nexus_api::integrations::AzureDevOpsIntegration::new("poller", self.spec.clone());
            ado_context(&i)
        };
        for p in projects {
            let scope = Scope {
                organization: self.spec.organization.clone(),
                project: p.name.clone(),
            };
            if let Err(e) = self.project(&scope, &auth, &ctx, report).await {
                if matches!(
                    e,
                    PollError::Http(HttpError::Unauthorized { .. } | HttpError::RateLimited { .. })
                        | PollError::Config(_)
                ) {
                    return Err(e);
                }
                report.errors += 1;
                self.failed(&e);
            }
        }
        self.env
            .status
            .cursor(&self.key, "lastFullSync", super::github::rfc3339_now());
        Ok(())
    }

    async fn read_apply(
        &self,
        resource: &str,
        url: String,
        scope: &Scope,
        auth: &Auth,
        ctx: &Context,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let mut url = Some(url);
        let mut pages = 0;
        while let Some(u) = url.take() {
            pages += 1;
            let resp = self.get(u.clone(), auth).await?;
            if !resp.not_modified {
                let out = nexus_ingest::ado::rest_in(resource, scope, &resp.body, ctx)
                    .map_err(|e| HttpError::parse(&resp.call, e))?;
                self.apply(report, &resp.call, out.changes()).await?;
            }
            if pages < MAX_PAGES
                && let Some(t) = resp.continuation_token()
            {
                url = Some(with_query(
                    &strip_query(&u, "continuationToken"),
                    "continuationToken",
                    &t,
                ));
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        report: &mut SyncReport,
        what: &str,
        changes: &[nexus_ingest::Change],
    ) -> Result<(), PollError> {
        if changes.is_empty() {
            return Ok(());
        }
        report.batches += 1;
        report.changes += changes.len();
        self.env.apply(&self.key, what, changes).await.map(|_| ())
    }

    async fn project(
        &mut self,
        scope: &Scope,
        auth: &Auth,
        ctx: &Context,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let p = encode(&scope.project);
        let base = format!("{}/{p}/_apis", self.base);
        self.read_apply(
            "repositories",
            format!("{base}/git/repositories?api-version={API_VERSION}"),
            scope,
            auth,
            ctx,
            report,
        )
        .await?;
        self.read_apply(
            "buildDefinitions",
            format!("{base}/build/definitions?api-version={API_VERSION}&includeLatestBuilds=false"),
            scope,
            auth,
            ctx,
            report,
        )
        .await?;
        // Recent builds: one page, newest first.
        let resp = self
            .get(
                format!(
                    "{base}/build/builds?api-version={API_VERSION}&queryOrder=finishTimeDescending&$top={RECENT_BUILDS}"
                ),
                auth,
            )
            .await?;
        if !resp.not_modified {
            let out = nexus_ingest::ado::rest_in("builds", scope, &resp.body, ctx)
                .map_err(|e| HttpError::parse(&resp.call, e))?;
            self.apply(report, &resp.call, out.changes()).await?;
        }
        self.work_items(scope, auth, ctx, report).await
    }

    /// Work items changed since the project's cursor; the cursor advances after each batch.
    async fn work_items(
        &mut self,
        scope: &Scope,
        auth: &Auth,
        ctx: &Context,
        report: &mut SyncReport,
    ) -> Result<(), PollError> {
        let since = self.since.get(&scope.project).cloned().unwrap_or_else(|| {
            let t =
                jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * FIRST_LOOKBACK_DAYS);
            t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
        let p = encode(&scope.project);
        let wiql = nexus_ingest::ado::wiql_changed_since(&scope.project, &since);
        let url = format!(
            "{}/{p}/_apis/wit/wiql?api-version={API_VERSION}&timePrecision=true",
            self.base
        );
        let resp = self
            .http
            .send(&Req::post_json(url, auth, &json!({ "query": wiql })))
            .await?;
        let ids =
            nexus_ingest::ado::wiql_ids(&resp.body).map_err(|e| HttpError::parse(&resp.call, e))?;
        let mut latest = since.clone();
        for batch in ids.chunks(WORK_ITEM_BATCH) {
            let ids: Vec<String> = batch.iter().map(i64::to_string).collect();
            let url = format!(
                "{}/{p}/_apis/wit/workitems?ids={}&$expand=relations&errorPolicy=omit&api-version={API_VERSION}",
                self.base,
                ids.join(",")
            );
            let resp = self.get(url, auth).await?;
            if resp.not_modified {
                continue;
            }
            let out = nexus_ingest::ado::rest_in("workItems", scope, &resp.body, ctx)
                .map_err(|e| HttpError::parse(&resp.call, e))?;
            self.apply(report, &resp.call, out.changes()).await?;
            if let Some(t) = latest_change(&resp.body)
                && later(&t, &latest)
            {
                latest = t;
            }
            // Advance after every applied batch, so a failure later resumes from here.
            self.set_since(&scope.project, &latest);
        }
        self.set_since(&scope.project, &latest);
        Ok(())
    }

    fn set_since(&mut self, project: &str, at: &str) {
        self.since.insert(project.to_string(), at.to_string());
        self.env
            .status
            .cursor(&self.key, &format!("{CURSOR_PREFIX}{project}"), at);
    }

    /// The cursor of a project (tests).
    pub fn since(&self, project: &str) -> Option<&str> {
        self.since.get(project).map(String::as_str)
    }
}

/// The latest `System.ChangedDate` of a work-items response.
fn latest_change(body: &[u8]) -> Option<String> {
    let v: Value = nexus_ingest::error::from_json(body).ok()?;
    let items = match v.get("value") {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![v],
    };
    items
        .iter()
        .filter_map(|i| i.pointer("/fields/System.ChangedDate")?.as_str())
        .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
        .max()
        .map(|t| t.to_string())
}

fn later(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a > b,
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

fn strip_query(url: &str, name: &str) -> String {
    let Some((base, q)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|p| p.split('=').next() != Some(name))
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// Percent-encodes a path segment (project names may hold spaces).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(encode("Fabrikam Fiber"), "Fabrikam%20Fiber");
        assert_eq!(
            strip_query(
                "http://x/a?api-version=7.1&continuationToken=1",
                "continuationToken"
            ),
            "http://x/a?api-version=7.1"
        );
        assert_eq!(
            latest_change(
                br#"{"value":[{"fields":{"System.ChangedDate":"2024-01-02T03:04:05.123Z"}},{"fields":{"System.ChangedDate":"2023-01-01T00:00:00Z"}}]}"#
            )
            .as_deref(),
            Some("2024-01-02T03:04:05.123Z")
        );
        assert!(later("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"));
    }
}
