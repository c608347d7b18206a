//! From the facts ingestion writes (Component/Environment `status.deployments`, Repository
//! `status.pushes`, Pipeline runs) and from Incident objects to the engine's input.
//!
//! Lead time follows Four Keys: every commit a deployment ships gives one lead time,
//! deployment finished − commit time. (DevLake instead takes one value per pull request from
//! its first commit; per commit needs no pull-request data and weighs big changes by their
//! size.) The commits a deployment ships are those pushed after the previous successful
//! production deployment's commit, up to and including its own, in push order; when the
//! previous commit is unknown (first deployment seen, or pushed before the bounded push list),
//! only the push that contains the deployed commit counts, which is what Four Keys does
//! (the deployed commit and the other commits of its push).

use jiff::Timestamp;
use nexus_api::{
    catalog::{Environment, Incident as IncidentObject, environment::Stage, pipeline::PipelineRun},
    facts::{DeploymentRecord, PushFact},
    reference::{EntityKind, EntityRef},
};

use crate::{
    error::ConvertError,
    model::{Config, Deployment, Incident, ProductionMatcher},
};

/// Annotation on an Incident naming the deployment that caused it (a `DeploymentRecord` id,
/// e.g. `github:org/repo:123`): the explicit root-cause reference, which wins over the
/// time-based attribution.
pub const CAUSED_BY_ANNOTATION: &str = "nexus.dev/caused-by-deployment";

/// The matcher plus the names of the Environments declared with stage `prod` (object name and
/// title, so the provider's spelling matches either).
pub fn with_prod_environments(
    mut matcher: ProductionMatcher,
    environments: &[Environment],
) -> ProductionMatcher {
    for env in environments.iter().filter(|e| e.spec.stage == Stage::Prod) {
        if let Some(name) = &env.metadata.name {
            matcher = matcher.with_name(name);
        }
        if let Some(title) = &env.spec.about.title {
            matcher = matcher.with_name(title);
        }
    }
    matcher
}

/// One deployment record of a service, with the commit times it shipped. Finished is the time
/// of the latest status (`updatedAt`), else `createdAt`.
pub fn deployment_from_record(
    record: &DeploymentRecord,
    service: &str,
    team: Option<&str>,
    commit_times: Vec<Timestamp>,
) -> Result<Deployment, ConvertError> {
    let finished_at = record
        .updated_at
        .as_ref()
        .or(record.created_at.as_ref())
        .map(|t| t.0)
        .ok_or_else(|| ConvertError::MissingFinishTime {
            id: record.id.clone(),
        })?;
    Ok(Deployment {
        id: record.id.clone(),
        service: service.to_string(),
        team: team.map(str::to_string),
        person: record.creator.clone(),
        environment: record.environment.clone(),
        status: record.status.clone(),
        finished_at,
        commit_times,
    })
}

/// Every deployment record of a service (its `status.deployments`), with commit times from its
/// repository's pushes (`status.pushes`, newest first as stored). Records that do not count
/// (not production, not successful) are converted too, without commit times: the engine skips
/// them and says why.
pub fn deployments_from_records(
    records: &[DeploymentRecord],
    pushes: &[PushFact],
    service: &str,
    team: Option<&str>,
    config: &Config,
) -> Vec<Result<Deployment, ConvertError>> {
    let mut converted: Vec<Result<Deployment, ConvertError>> = records
        .iter()
        .map(|r| deployment_from_record(r, service, team, Vec::new()))
        .collect();
    // Walk the counted ones oldest first to know each one's predecessor.
    let mut order: Vec<(Timestamp, usize)> = converted
        .iter()
        .enumerate()
        .filter_map(|(n, d)| d.as_ref().ok().map(|d| (d.finished_at, n)))
        .filter(|(_, n)| {
            converted[*n]
                .as_ref()
                .is_ok_and(|d| config.classify(d).is_ok())
        })
        .collect();
    order.sort();
    let mut previous: Option<&str> = None;
    for (_, n) in order {
        let Some(sha) = records[n].sha.as_deref() else {
            continue;
        };
        let times = commit_times(pushes, sha, previous);
        if let Ok(d) = &mut converted[n] {
            d.commit_times = times;
        }
        previous = Some(sha);
    }
    converted
}

/// Commit times of the changes a deployment of `sha` shipped, given the previous deployed
/// commit (see the module documentation). `pushes` is newest first, as stored.
pub fn commit_times(pushes: &[PushFact], sha: &str, previous: Option<&str>) -> Vec<Timestamp> {
    // Commits in push order, oldest first, each once, tagged with their push.
    let mut commits: Vec<(usize, &str, Option<Timestamp>)> = Vec::new();
    for (n, push) in pushes.iter().rev().enumerate() {
        let head_listed = push.commits.iter().any(|c| same_sha(&c.sha, &push.sha));
        let listed = push
            .commits
            .iter()
            .map(|c| (c.sha.as_str(), c.timestamp.as_ref().map(|t| t.0)));
        // A head without its commit record still marks the end of its push; its time is
        // unknown.
        let head = (!head_listed).then_some((push.sha.as_str(), None));
        for (sha, at) in listed.chain(head) {
            if !commits.iter().any(|(_, s, _)| same_sha(s, sha)) {
                commits.push((n, sha, at));
            }
        }
    }
    let Some(end) = commits.iter().position(|(_, s, _)| same_sha(s, sha)) else {
        return Vec::new();
    };
    let start = previous
        .and_then(|p| commits.iter().position(|(_, s, _)| same_sha(s, p)))
        .filter(|p| *p < end)
        .map(|p| p + 1)
        .unwrap_or_else(|| {
            let push = commits[end].0;
            commits
                .iter()
                .position(|(n, _, _)| *n == push)
                .unwrap_or(end)
        });
    commits[start..=end]
        .iter()
        .filter_map(|(_, _, at)| *at)
        .collect()
}

/// Commit ids compare ignoring case; an abbreviated id (at least 7 characters) matches the
/// full one.
fn same_sha(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 7
        && long.len() >= short.len()
        && long.is_char_boundary(short.len())
        && long[..short.len()].eq_ignore_ascii_case(short)
}

/// A pipeline run that deploys to an environment (a Pipeline whose `spec.deploysTo` names it),
/// for pipelines that report no deployment records of their own; a run that is also reported as
/// a deployment would count twice. The id is `pipeline:<pipeline>:<run id>`.
pub fn deployment_from_pipeline_run(
    run: &PipelineRun,
    pipeline: &str,
    environment: &str,
    service: &str,
    team: Option<&str>,
    commit_times: Vec<Timestamp>,
) -> Result<Deployment, ConvertError> {
    let finished_at = run
        .finished_at
        .as_ref()
        .map(|t| t.0)
        .ok_or_else(|| ConvertError::NotFinished { id: run.id.clone() })?;
    Ok(Deployment {
        id: format!("pipeline:{pipeline}:{}", run.id),
        service: service.to_string(),
        team: team.map(str::to_string),
        person: None,
        environment: environment.to_string(),
        status: run.result.clone().unwrap_or_default(),
        finished_at,
        commit_times,
    })
}

/// An Incident object. Id `<namespace>/<name>`; services are the Components it affects
/// (`component:<namespace>/<name>`, in the order written; other kinds are not services);
/// created is `spec.startedAt`, resolved `spec.resolvedAt`; the explicit root cause comes from
/// the [`CAUSED_BY_ANNOTATION`]. The team is left for the caller (the first service's owner).
pub fn incident_from_object(object: &IncidentObject) -> Result<Incident, ConvertError> {
    let name = object
        .metadata
        .name
        .as_deref()
        .ok_or(ConvertError::MissingName)?;
    let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
    let services = object
        .spec
        .affects
        .iter()
        .filter_map(|raw| EntityRef::parse(raw, EntityKind::Component, &[], namespace).ok())
        .filter(|r| r.kind == EntityKind::Component)
        .map(|r| r.to_string())
        .collect();
    let caused_by = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CAUSED_BY_ANNOTATION))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    Ok(Incident {
        id: format!("{namespace}/{name}"),
        services,
        team: None,
        created_at: object.spec.started_at.0,
        resolved_at: object.spec.resolved_at.as_ref().map(|t| t.0),
        caused_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviated_shas_match() {
        assert!(same_sha("ABCDEF1", "abcdef1234567890"));
        assert!(!same_sha("abcdef", "abcdef1234567890"));
        assert!(!same_sha("abcdef2", "abcdef1234567890"));
    }
}
