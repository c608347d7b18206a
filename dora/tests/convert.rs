//! From the API facts and objects to the engine's input.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jiff::civil::date;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::{
    catalog::{Environment, Incident as IncidentObject, pipeline::PipelineRun},
    facts::{CommitFact, DeploymentRecord, PushFact},
};
use nexus_dora::{
    Buckets, Config, ConvertError, Event, ProductionMatcher, Scope, Window,
    convert::{
        CAUSED_BY_ANNOTATION, commit_times, deployment_from_pipeline_run, deployments_from_records,
        incident_from_object, with_prod_environments,
    },
};

fn time(s: &str) -> Option<Time> {
    Some(Time(at(s)))
}

fn commit(sha: &str, ts: &str) -> CommitFact {
    CommitFact {
        sha: sha.into(),
        timestamp: time(ts),
        author: None,
    }
}

/// Three pushes, stored newest first: p1 = c1, c2, c3; p2 = c4; p3 = c5, c6.
fn pushes() -> Vec<PushFact> {
    let push = |sha: &str, commits: Vec<CommitFact>| PushFact {
        sha: sha.into(),
        branch: "main".into(),
        commits,
        ..PushFact::default()
    };
    vec![
        push(
            "c6000000",
            vec![
                commit("c5000000", "2024-03-01T20:00:00Z"),
                commit("c6000000", "2024-03-01T21:00:00Z"),
            ],
        ),
        push("c4000000", vec![commit("c4000000", "2024-03-01T15:00:00Z")]),
        push(
            "c3000000",
            vec![
                commit("c1000000", "2024-03-01T08:00:00Z"),
                commit("c2000000", "2024-03-01T09:00:00Z"),
                commit("c3000000", "2024-03-01T10:00:00Z"),
            ],
        ),
    ]
}

fn record(id: &str, env: &str, status: &str, sha: &str, updated: Option<&str>) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        environment: env.into(),
        sha: Some(sha.into()),
        status: status.into(),
        updated_at: updated.and_then(time),
        creator: Some("ann".into()),
        ..DeploymentRecord::default()
    }
}

#[test]
fn records_with_commit_times_from_pushes() {
    let records = vec![
        // Newest first, as ingestion stores them.
        record(
            "r3",
            "production",
            "success",
            "c6000000",
            Some("2024-03-02T12:00:00Z"),
        ),
        record(
            "r4",
            "production",
            "failure",
            "c5000000",
            Some("2024-03-02T06:00:00Z"),
        ),
        record(
            "r2",
            "staging",
            "success",
            "c4000000",
            Some("2024-03-01T16:00:00Z"),
        ),
        record(
            "r1",
            "production",
            "success",
            "c3000000",
            Some("2024-03-01T12:00:00Z"),
        ),
        record("r0", "production", "success", "c1000000", None),
    ];
    let out = deployments_from_records(
        &records,
        &pushes(),
        CHECKOUT,
        Some("payments"),
        &Config::default(),
    );
    assert_eq!(out.len(), 5);
    let get = |n: usize| out[n].as_ref().unwrap();
    // r1: the first production deployment seen; its push is p1 → c1, c2, c3.
    assert_eq!(
        get(3).commit_times,
        [
            at("2024-03-01T08:00:00Z"),
            at("2024-03-01T09:00:00Z"),
            at("2024-03-01T10:00:00Z")
        ]
    );
    // r3: everything after r1's commit up to its own: c4, c5, c6 (the staging deployment and
    // the failed one are not predecessors).
    assert_eq!(
        get(0).commit_times,
        [
            at("2024-03-01T15:00:00Z"),
            at("2024-03-01T20:00:00Z"),
            at("2024-03-01T21:00:00Z")
        ]
    );
    assert!(get(1).commit_times.is_empty() && get(2).commit_times.is_empty());
    assert_eq!(get(0).person.as_deref(), Some("ann"));
    assert_eq!(get(0).team.as_deref(), Some("payments"));
    assert_eq!(
        out[4],
        Err(ConvertError::MissingFinishTime { id: "r0".into() })
    );

    // Into the engine: r1 and r3 count. Lead times: r1 4 h, 3 h, 2 h; r3 21 h, 16 h, 15 h →
    // 2, 3, 4 | 15, 16, 21 h → median (4 + 15) / 2 = 9.5 h = 34200 s.
    let events: Vec<Event> = out.into_iter().flatten().map(Event::Deployment).collect();
    let b = Buckets::from_events(Config::default(), &events);
    let m = b.metrics(
        &Scope::Service(CHECKOUT.into()),
        date(2024, 3, 2),
        Window::Week,
    );
    assert_eq!(m.deployments, 2);
    assert_eq!(m.lead_time_seconds, Some(34_200.0));
}

#[test]
fn commit_time_rules() {
    let p = pushes();
    // Abbreviated and upper-case ids match.
    assert_eq!(commit_times(&p, "C3000000", None).len(), 3);
    assert_eq!(commit_times(&p, "c300000", None).len(), 3);
    // A commit inside a push: the push's commits up to it.
    assert_eq!(
        commit_times(&p, "c2000000", None),
        [at("2024-03-01T08:00:00Z"), at("2024-03-01T09:00:00Z")]
    );
    // Unknown commit: no lead time rather than a wrong one.
    assert!(commit_times(&p, "ffffffff", None).is_empty());
    // A rollback to an older commit (the previous one is newer): only that commit's push.
    assert_eq!(
        commit_times(&p, "c4000000", Some("c6000000")),
        [at("2024-03-01T15:00:00Z")]
    );
    // A head without its commit record ends its push; its own time is unknown.
    let mut p = pushes();
    p.insert(
        0,
        PushFact {
            sha: "c8000000".into(),
            branch: "main".into(),
            commits: vec![commit("c7000000", "2024-03-02T01:00:00Z")],
            ..PushFact::default()
        },
    );
    assert_eq!(
        commit_times(&p, "c8000000", Some("c6000000")),
        [at("2024-03-02T01:00:00Z")]
    );
}

#[test]
fn pipeline_runs() {
    let run = PipelineRun {
        id: "42".into(),
        result: Some("succeeded".into()),
        source_version: Some("c3000000".into()),
        finished_at: time("2024-03-01T12:00:00Z"),
        ..PipelineRun::default()
    };
    let times = commit_times(&pushes(), "c3000000", None);
    let d = deployment_from_pipeline_run(&run, "ado:org/proj:7", "Production", SEARCH, None, times)
        .unwrap();
    assert_eq!(d.id, "pipeline:ado:org/proj:7:42");
    assert_eq!(d.commit_times.len(), 3);
    assert_eq!(Config::default().classify(&d), Ok(()));
    let running = PipelineRun {
        finished_at: None,
        ..run
    };
    assert_eq!(
        deployment_from_pipeline_run(&running, "p", "prod", SEARCH, None, vec![]),
        Err(ConvertError::NotFinished { id: "42".into() })
    );
}

#[test]
fn incident_objects() {
    let object: IncidentObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": "inc-1",
            "namespace": "shop",
            "annotations": { CAUSED_BY_ANNOTATION: "github:org/checkout:99" }
        },
        "spec": {
            "source": "pagerduty",
            "externalId": "P123",
            "severity": "high",
            "state": "resolved",
            "startedAt": "2024-03-01T10:00:00Z",
            "resolvedAt": "2024-03-01T11:00:00Z",
            "affects": ["checkout", "system:shop/web", "component:other/api", "environment:prod"]
        }
    }))
    .unwrap();
    let i = incident_from_object(&object).unwrap();
    assert_eq!(i.id, "shop/inc-1");
    // Components only, fully qualified, in the order written.
    assert_eq!(
        i.services,
        ["component:shop/checkout", "component:other/api"]
    );
    assert_eq!(i.created_at, at("2024-03-01T10:00:00Z"));
    assert_eq!(i.resolved_at, Some(at("2024-03-01T11:00:00Z")));
    assert_eq!(i.caused_by.as_deref(), Some("github:org/checkout:99"));
}

#[test]
fn production_environments_from_objects() {
    let env = |name: &str, stage: &str, title: Option<&str>| -> Environment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "catalog.nexus.dev/v1alpha1",
            "kind": "Environment",
            "metadata": { "name": name, "namespace": "shop" },
            "spec": { "stage": stage, "title": title }
        }))
        .unwrap()
    };
    let m = with_prod_environments(
        ProductionMatcher::default(),
        &[
            env("weu-main", "prod", Some("West Europe")),
            env("weu-test", "test", None),
        ],
    );
    assert!(m.is_production("weu-main"));
    assert!(m.is_production("west europe"));
    assert!(!m.is_production("weu-test"));
    assert!(m.is_production("production"));
}
