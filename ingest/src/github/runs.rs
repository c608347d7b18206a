//! GitHub Actions workflow runs → `status.lastRun` and `status.recentRuns` of the Pipeline for
//! the workflow file (`Target::GithubWorkflow`).

use std::collections::BTreeMap;

use nexus_api::{catalog::pipeline::PipelineRun, facts::MAX_RUNS};
use serde::Deserialize;

use super::common::{Repo, check_web_url, opt_time};
use crate::{
    Change, Context, Facts, IngestError, ListOp, Outcome, Source, Target, error::from_json, time,
};

#[derive(Debug, Deserialize)]
struct Run {
    id: i64,
    /// `.github/workflows/ci.yml`, sometimes followed by `@<ref>`.
    path: String,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    run_started_at: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    repository: Option<Repo>,
}

impl Run {
    fn workflow(&self) -> &str {
        self.path.split('@').next().unwrap_or(&self.path)
    }

    fn pipeline_run(&self, at: &str) -> Result<PipelineRun, IngestError> {
        let started = match self.run_started_at.as_deref() {
            Some(s) if !s.is_empty() => Some(s),
            _ => self.created_at.as_deref(),
        };
        let completed = self.status.as_deref() == Some("completed");
        Ok(PipelineRun {
            id: self.id.to_string(),
            result: result(self.status.as_deref(), self.conclusion.as_deref()).map(str::to_string),
            source_version: self.head_sha.clone().filter(|s| !s.is_empty()),
            started_at: opt_time(&format!("{at}.run_started_at"), started)?,
            finished_at: if completed {
                opt_time(&format!("{at}.updated_at"), self.updated_at.as_deref())?
            } else {
                None
            },
            url: self.html_url.clone().filter(|s| !s.is_empty()),
        })
    }
}

/// Nexus run results from GitHub's status and conclusion. `neutral` counts as succeeded,
/// `skipped`/`stale` as canceled, `action_required` (waiting for approval) as in progress;
/// conclusions GitHub may add later leave the result unset.
fn result(status: Option<&str>, conclusion: Option<&str>) -> Option<&'static str> {
    match conclusion {
        Some("success" | "neutral") => Some("succeeded"),
        Some("failure" | "timed_out" | "startup_failure") => Some("failed"),
        Some("cancelled" | "skipped" | "stale") => Some("canceled"),
        Some("action_required") => Some("inProgress"),
        None | Some("") if status != Some("completed") => Some("inProgress"),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct RunEvent {
    action: String,
    workflow_run: Run,
    repository: Repo,
}

/// `workflow_run` webhook (requested, in_progress, completed).
pub(crate) fn event(body: &[u8]) -> Result<Outcome, IngestError> {
    let ev: RunEvent = from_json(body)?;
    if !matches!(
        ev.action.as_str(),
        "requested" | "in_progress" | "completed"
    ) {
        return Ok(Outcome::ignored(format!(
            "`workflow_run` action `{}` does not change a run",
            ev.action
        )));
    }
    let url = check_web_url("repository.html_url", &ev.repository.html_url)?;
    let run = ev.workflow_run.pipeline_run("workflow_run")?;
    Ok(Outcome::Changes(vec![Change::Facts(facts(
        url,
        ev.workflow_run.workflow(),
        vec![run],
    ))]))
}

fn facts(repository_url: String, workflow: &str, runs: Vec<PipelineRun>) -> Facts {
    let target = Target::GithubWorkflow {
        repository_url,
        workflow: workflow.to_string(),
    };
    let mut f = Facts::new(Source::Github, target);
    if let Some(last) = runs.first() {
        f = f.set("lastRun", last);
    }
    for run in runs {
        f = f.list(ListOp::upsert(
            "recentRuns",
            "id",
            run,
            "startedAt",
            MAX_RUNS,
        ));
    }
    f
}

#[derive(Debug, Deserialize)]
struct RunList {
    workflow_runs: Vec<serde_json::Value>,
}

/// REST `GET /repos/{o}/{r}/actions/runs` (`{total_count, workflow_runs}`) or one run: one
/// Facts per workflow file, `lastRun` = its newest run. The repository is the run's
/// `repository`, else `ctx.repository`.
pub(crate) fn rest(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let value: serde_json::Value = from_json(body)?;
    let (items, at) = if value.get("workflow_runs").is_some() {
        let list: RunList = crate::error::from_value(&value, "")?;
        (list.workflow_runs, "workflow_runs")
    } else {
        (vec![value], "")
    };
    let mut by_workflow: BTreeMap<(String, String), Vec<PipelineRun>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let field = if at.is_empty() {
            String::new()
        } else {
            format!("{at}[{i}]")
        };
        let run: Run = crate::error::from_value(item, &field)?;
        let from_body = run.repository.as_ref().map(|r| r.html_url.clone());
        let url = match from_body {
            Some(u) => check_web_url(&format!("{field}.repository.html_url"), &u)?,
            None => super::common::rest_repository(ctx, None, "workflow-runs")?,
        };
        let at = if field.is_empty() {
            "workflow_run".to_string()
        } else {
            field
        };
        by_workflow
            .entry((url, run.workflow().to_string()))
            .or_default()
            .push(run.pipeline_run(&at)?);
    }
    let changes = by_workflow
        .into_iter()
        .map(|((url, workflow), mut runs)| {
            runs.sort_by_key(|r| {
                std::cmp::Reverse(r.started_at.as_ref().map(time::rfc3339).unwrap_or_default())
            });
            runs.truncate(MAX_RUNS);
            Change::Facts(facts(url, &workflow, runs))
        })
        .collect();
    Ok(Outcome::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results() {
        assert_eq!(
            result(Some("completed"), Some("success")),
            Some("succeeded")
        );
        assert_eq!(result(Some("completed"), Some("timed_out")), Some("failed"));
        assert_eq!(
            result(Some("completed"), Some("cancelled")),
            Some("canceled")
        );
        assert_eq!(result(Some("queued"), None), Some("inProgress"));
        assert_eq!(result(Some("completed"), Some("something-new")), None);
    }
}
