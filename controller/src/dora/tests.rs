//! The DORA controller's pure part: events derived from catalog objects, the restored state,
//! what is written and when.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::{Timestamp, civil::date};
use nexus_api::{
    EntityRef,
    catalog::{Component, Environment, Incident, Pipeline, Repository, User},
    dora::{DoraRecomputeOutcome, DoraStatus},
};
use nexus_dora::{Scope, Window, metrics_from_statuses};
use serde_json::{Value, json};

use super::{
    engine::{Engine, Write},
    world::World,
};

const NS: &str = "shop";

fn component(
    name: &str,
    owner: Option<&str>,
    deployments: Value,
    dora: Option<Value>,
) -> Component {
    let mut status = json!({"deployments": deployments});
    if let Some(o) = owner {
        status["owner"] = json!({"ref": o, "source": "Spec"});
    }
    if let Some(d) = dora {
        status["dora"] = d;
    }
    serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Component",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"type": "service", "lifecycle": "production", "owner": "payments", "repository": format!("{name}-repo")},
        "status": status,
    }))
    .unwrap()
}

fn record(id: &str, env: &str, status: &str, at: &str, sha: &str, creator: &str) -> Value {
    json!({"id": id, "environment": env, "status": status, "createdAt": at, "updatedAt": at,
        "sha": sha, "creator": creator})
}

fn repository(name: &str, pushes: Value) -> Repository {
    serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Repository",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"provider": "github", "url": format!("https://github.com/contoso/{name}")},
        "status": {"pushes": pushes},
    }))
    .unwrap()
}

fn incident(name: &str, affects: &[&str], started: &str, resolved: Option<&str>) -> Incident {
    let mut spec = json!({"source": "manual", "severity": "high", "state": "triggered",
        "startedAt": started, "affects": affects});
    if let Some(r) = resolved {
        spec["state"] = json!("resolved");
        spec["resolvedAt"] = json!(r);
    }
    serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Incident",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .unwrap()
}

fn user(name: &str, github: &str) -> User {
    serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "User",
        "metadata": {"name": name, "namespace": "org"},
        "spec": {"email": format!("{name}@contoso.com"), "githubLogin": github},
    }))
    .unwrap()
}

fn key(name: &str) -> EntityRef {
    format!("component:{NS}/{name}").parse().unwrap()
}

fn now() -> Timestamp {
    "2024-03-31T12:00:00Z".parse().unwrap()
}

/// checkout: two production deployments by ann (matched to her User through her GitHub login)
/// and one to staging; its repository has the pushes. ledger: one deployment by bob.
///
/// Lead times (deployment finished − commit time):
/// - d1 (2024-03-10 12:00, sha c2): first deployment seen, so only its push (c1 09:00, c2
///   10:00): 3 h and 2 h → 10_800 s, 7_200 s.
/// - d2 (2024-03-20 12:00, sha c4): the commits after c2 up to c4: c3 (2024-03-19 12:00),
///   c4 (2024-03-20 06:00) → 86_400 s, 21_600 s.
fn world() -> World {
    let mut w = World::default();
    w.upsert_user(&user("ann", "Ann-GH"));
    w.upsert_repository(&repository(
        "checkout-repo",
        json!([
            {"sha": "c400000", "branch": "main", "commits": [
                {"sha": "c300000", "timestamp": "2024-03-19T12:00:00Z"},
                {"sha": "c400000", "timestamp": "2024-03-20T06:00:00Z"}]},
            {"sha": "c200000", "branch": "main", "commits": [
                {"sha": "c100000", "timestamp": "2024-03-10T09:00:00Z"},
                {"sha": "c200000", "timestamp": "2024-03-10T10:00:00Z"}]},
        ]),
    ));
    w.upsert_component(&component(
        "checkout",
        Some("team:shop/payments"),
        json!([
            record(
                "d3",
                "staging",
                "success",
                "2024-03-21T12:00:00Z",
                "c400000",
                "ann-gh"
            ),
            record(
                "d2",
                "production",
                "success",
                "2024-03-20T12:00:00Z",
                "c400000",
                "ann-gh"
            ),
            record(
                "d1",
                "production",
                "success",
                "2024-03-10T12:00:00Z",
                "c200000",
                "ann-gh"
            ),
        ]),
        None,
    ));
    w.upsert_component(&component(
        "ledger",
        Some("team:shop/payments"),
        json!([record(
            "l1",
            "prod",
            "success",
            "2024-03-15T08:00:00Z",
            "x",
            "bob"
        )]),
        None,
    ));
    w
}

fn feed_all(engine: &mut Engine, w: &World) {
    let keys: Vec<EntityRef> = w.components.keys().cloned().collect();
    for k in keys {
        engine.feed_component(w, &k, now());
    }
    let keys: Vec<EntityRef> = w.incidents.keys().cloned().collect();
    for k in keys {
        engine.feed_incident(w, &k);
    }
}

fn status_of<'a>(writes: &'a [Write], name: &str) -> &'a DoraStatus {
    &writes
        .iter()
        .find(|w| w.component == key(name))
        .unwrap_or_else(|| panic!("no write for {name}: {writes:?}"))
        .status
}

/// What the stored statuses say over a window: `(deployments, failed, lead time median)`.
fn month(statuses: &[(String, DoraStatus)], scope: Scope) -> nexus_dora::Metrics {
    metrics_from_statuses(
        statuses.iter().map(|(s, st)| (s.as_str(), st)),
        &scope,
        date(2024, 3, 31),
        Window::Month,
    )
    .unwrap()
}

/// The world's components with `stored` set to what was written (a restart's view).
fn with_stored(w: &mut World, writes: &[Write]) {
    for write in writes {
        w.components.get_mut(&write.component).unwrap().stored = Some(write.status.clone());
    }
}

#[test]
fn counts_production_deployments_with_lead_times_and_credits_team_and_person() {
    let w = world();
    let (mut engine, unreadable) = Engine::build(&w, None);
    assert!(unreadable.is_empty());
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    assert_eq!(writes.len(), 2, "{writes:?}");
    let checkout = status_of(&writes, "checkout");
    assert_eq!(checkout.updated_at.as_ref().unwrap().0, now());
    let ids: Vec<&str> = checkout.deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d2", "d1"], "staging is not production; newest first");
    assert_eq!(
        checkout.deployments[0].person.as_deref(),
        Some("user:org/ann"),
        "the GitHub login matched ann's User, ignoring case"
    );
    assert_eq!(
        checkout.deployments[0].team.as_deref(),
        Some("team:shop/payments")
    );
    let statuses: Vec<(String, DoraStatus)> = writes
        .iter()
        .map(|w| (w.component.to_string(), w.status.clone()))
        .collect();
    let m = month(&statuses, Scope::Service(key("checkout").to_string()));
    assert_eq!(m.deployments, 2);
    // Lead times 7_200, 10_800, 21_600, 86_400 → median (10_800 + 21_600) / 2.
    assert_eq!(m.lead_time_samples, 4);
    assert_eq!(m.lead_time_seconds, Some(16_200.0));
    let team = month(&statuses, Scope::Team("team:shop/payments".into()));
    assert_eq!(team.deployments, 3);
    let ann = month(&statuses, Scope::Person("user:org/ann".into()));
    assert_eq!(ann.deployments, 2);
    let bob = month(&statuses, Scope::Person("bob".into()));
    assert_eq!(
        bob.deployments, 1,
        "no User matches bob: the creator as written"
    );

    // Nothing new: nothing written.
    feed_all(&mut engine, &w);
    assert!(engine.collect(&w, now()).is_empty());
}

#[test]
fn a_restart_restores_from_status_and_writes_only_what_is_new() {
    let mut w = world();
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    with_stored(&mut w, &writes);

    // A fresh process: restored from the stored statuses, fed the same objects again.
    let (mut restarted, _) = Engine::build(&w, None);
    feed_all(&mut restarted, &w);
    assert!(
        restarted.collect(&w, now()).is_empty(),
        "re-fed deployments are duplicates: no write"
    );

    // A new deployment changes checkout only.
    let mut c = w.components.get(&key("checkout")).unwrap().clone();
    c.deployments.insert(
        0,
        serde_json::from_value(record(
            "d4",
            "production",
            "success",
            "2024-03-25T12:00:00Z",
            "c400000",
            "ann-gh",
        ))
        .unwrap(),
    );
    w.components.insert(key("checkout"), c);
    restarted.feed_component(&w, &key("checkout"), now());
    let writes = restarted.collect(&w, now());
    assert_eq!(writes.len(), 1);
    assert_eq!(status_of(&writes, "checkout").deployments.len(), 3);
}

#[test]
fn incidents_fail_the_last_deployment_before_them_and_deletion_withdraws() {
    let mut w = world();
    // 2024-03-20 13:00, resolved 14:30: after d2 (12:00) → d2 failed, recovery 5_400 s.
    w.upsert_incident(&incident(
        "inc-1",
        &["checkout"],
        "2024-03-20T13:00:00Z",
        Some("2024-03-20T14:30:00Z"),
    ));
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    let checkout = status_of(&writes, "checkout");
    assert_eq!(checkout.incidents[0].id, "shop/inc-1");
    assert_eq!(
        checkout.incidents[0].team.as_deref(),
        Some("team:shop/payments")
    );
    assert_eq!(checkout.incidents[0].deployment.as_ref().unwrap().id, "d2");
    let statuses = vec![(key("checkout").to_string(), checkout.clone())];
    let m = month(&statuses, Scope::Service(key("checkout").to_string()));
    assert_eq!((m.failed_deployments, m.incidents), (1, 1));
    assert_eq!(m.change_failure_rate, Some(0.5));
    assert_eq!(m.recovery_time_seconds, Some(5_400.0));

    w.incidents.remove(&"incident:shop/inc-1".parse().unwrap());
    engine.feed_incident(&w, &"incident:shop/inc-1".parse().unwrap());
    let writes = engine.collect(&w, now());
    let checkout = status_of(&writes, "checkout");
    assert!(checkout.incidents.is_empty());
    assert!(
        checkout
            .days
            .iter()
            .all(|d| d.failed_deployments == 0 && d.incidents == 0)
    );
}

#[test]
fn an_incident_deleted_while_the_controller_was_down_is_withdrawn_on_restore() {
    let mut w = world();
    w.upsert_incident(&incident(
        "inc-1",
        &["checkout"],
        "2024-03-20T13:00:00Z",
        None,
    ));
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    with_stored(&mut w, &writes);
    w.incidents.clear();
    let (mut restarted, _) = Engine::build(&w, None);
    feed_all(&mut restarted, &w);
    let writes = restarted.collect(&w, now());
    assert!(status_of(&writes, "checkout").incidents.is_empty());
}

#[test]
fn an_unreadable_status_is_reported_and_never_overwritten() {
    let mut w = world();
    let mut bad = DoraStatus::default();
    bad.days.push(nexus_api::dora::DoraDay {
        date: "2024-02-31".into(),
        deployments: 7,
        ..Default::default()
    });
    w.components.get_mut(&key("checkout")).unwrap().stored = Some(bad);
    let (mut engine, unreadable) = Engine::build(&w, None);
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].component, key("checkout"));
    assert!(
        unreadable[0].reason.contains("2024-02-31"),
        "{unreadable:?}"
    );
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    assert!(
        writes.iter().all(|w| w.component != key("checkout")),
        "{writes:?}"
    );
    assert!(writes.iter().any(|w| w.component == key("ledger")));
}

#[test]
fn pipeline_runs_count_only_for_services_without_deployment_records() {
    let mut w = World::default();
    w.upsert_component(&component(
        "worker",
        Some("team:shop/payments"),
        json!([]),
        None,
    ));
    let env: Environment = serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Environment",
        "metadata": {"name": "emea-live-1", "namespace": NS},
        "spec": {"stage": "prod", "subscriptionId": "00000000-0000-0000-0000-000000000000"},
    }))
    .unwrap();
    w.upsert_environment(&env);
    let pipeline: Pipeline = serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": "worker-cd", "namespace": NS},
        "spec": {"provider": "githubActions", "githubActions": {"workflow": ".github/workflows/cd.yml"},
            "component": "worker", "deploysTo": ["emea-live-1"]},
        "status": {"recentRuns": [
            {"id": "2", "result": "succeeded", "finishedAt": "2024-03-12T10:00:00Z"},
            {"id": "1", "result": "failed", "finishedAt": "2024-03-11T10:00:00Z"},
            {"id": "3", "result": "inProgress"}]},
    }))
    .unwrap();
    w.upsert_pipeline(&pipeline);
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    let worker = status_of(&writes, "worker");
    let ids: Vec<&str> = worker.deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["pipeline:shop/worker-cd:2"],
        "the prod Environment's own name counts as production"
    );
}

#[test]
fn recompute_requests_are_checked_and_recorded() {
    let w = world();
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    engine.collect(&w, now());
    for (request, wanted) in [
        ("next tuesday", "is not a date"),
        ("2024-04-02", "in the future"),
    ] {
        let r = engine.recompute(&w, &key("ledger"), request, now());
        assert_eq!(r.outcome, DoraRecomputeOutcome::Rejected);
        assert!(r.message.contains(wanted), "{}", r.message);
    }
    let r = engine.recompute(&w, &key("ledger"), "2024-03-01", now());
    assert_eq!(r.outcome, DoraRecomputeOutcome::Recomputed, "{}", r.message);
    let writes = engine.collect(&w, now());
    // Recorded on the requesting component, even though its buckets are the same.
    let ledger = status_of(&writes, "ledger");
    assert_eq!(ledger.recompute.as_ref().unwrap().requested, "2024-03-01");
    assert_eq!(ledger.frozen_before.as_deref(), Some("2024-03-01"));
    let checkout = status_of(&writes, "checkout");
    assert_eq!(
        checkout.deployments.len(),
        2,
        "recomputed to the same counts"
    );
    assert!(checkout.recompute.is_none());
    // Everything was applied by the recompute: feeding again changes nothing.
    feed_all(&mut engine, &w);
    assert!(engine.collect(&w, now()).is_empty());
}

#[test]
fn a_recompute_earlier_than_a_full_list_covers_is_refused() {
    let mut w = World::default();
    let records: Vec<Value> = (0..50)
        .map(|n| {
            record(
                &format!("d{n}"),
                "production",
                "success",
                &format!("2024-03-{:02}T10:00:00Z", 1 + n % 28),
                "x",
                "ann",
            )
        })
        .collect();
    w.upsert_component(&component("busy", None, json!(records), None));
    let (mut engine, _) = Engine::build(&w, None);
    let r = engine.recompute(&w, &key("busy"), "2024-03-01", now());
    assert_eq!(r.outcome, DoraRecomputeOutcome::Rejected);
    assert!(
        r.message.contains("recompute from 2024-03-02 or later"),
        "{}",
        r.message
    );
    let r = engine.recompute(&w, &key("busy"), "2024-03-02", now());
    assert_eq!(r.outcome, DoraRecomputeOutcome::Recomputed, "{}", r.message);
}

#[test]
fn a_new_production_environment_rebuilds_the_matcher_and_counts_its_deployments() {
    let mut w = World::default();
    w.upsert_component(&component(
        "api",
        None,
        json!([record(
            "a1",
            "emea-live-1",
            "success",
            "2024-03-12T10:00:00Z",
            "x",
            "ann"
        )]),
        None,
    ));
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    assert!(
        engine.collect(&w, now()).is_empty(),
        "not a production name yet"
    );
    let env: Environment = serde_json::from_value(json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1", "kind": "Environment",
        "metadata": {"name": "emea-live-1", "namespace": NS},
        "spec": {"stage": "prod", "subscriptionId": "00000000-0000-0000-0000-000000000000"},
    }))
    .unwrap();
    w.upsert_environment(&env);
    assert!(engine.matcher_changed(&w));
    let (mut rebuilt, _) = Engine::build(&w, Some(&engine));
    feed_all(&mut rebuilt, &w);
    let writes = rebuilt.collect(&w, now());
    assert_eq!(status_of(&writes, "api").deployments.len(), 1);
}

#[test]
fn events_the_stored_status_can_no_longer_take_are_skipped_quietly_after_a_restart() {
    let mut w = world();
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    let mut writes = engine.collect(&w, now());
    // As if the ledger had dropped everything up to d2: its horizon is d2's finish.
    for write in &mut writes {
        if write.component == key("checkout") {
            write.status.horizon = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2024-03-20T12:00:00Z".parse().unwrap(),
            ));
        }
    }
    with_stored(&mut w, &writes);
    let (mut restarted, _) = Engine::build(&w, None);
    feed_all(&mut restarted, &w);
    let writes = restarted.collect(&w, now());
    assert!(
        writes.iter().all(|w| w.status.ignored_late == 0),
        "d1 was handled before the restart; it is not late news: {writes:?}"
    );
    let counts = restarted.take_counts();
    assert!(counts.contains_key(&("deployment", "known")), "{counts:?}");
}

#[test]
fn a_recompute_that_would_lose_a_counted_deployment_no_longer_listed_is_refused() {
    let mut w = world();
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    engine.collect(&w, now());
    // d1 (2024-03-10) leaves checkout's bounded list; the buckets still count it.
    let c = w.components.get_mut(&key("checkout")).unwrap();
    c.deployments.retain(|d| d.id != "d1");
    engine.feed_component(&w, &key("checkout"), now());
    assert!(engine.collect(&w, now()).is_empty(), "nothing is uncounted");
    let r = engine.recompute(&w, &key("checkout"), "2024-03-05", now());
    assert_eq!(r.outcome, DoraRecomputeOutcome::Rejected);
    assert!(
        r.message
            .contains("deployment d1 of component:shop/checkout (2024-03-10)")
            && r.message.contains("recompute from 2024-03-11 or later"),
        "{}",
        r.message
    );
    let r = engine.recompute(&w, &key("checkout"), "2024-03-11", now());
    assert_eq!(r.outcome, DoraRecomputeOutcome::Recomputed, "{}", r.message);
    let writes = engine.collect(&w, now());
    let checkout = status_of(&writes, "checkout");
    let m = month(
        &[(key("checkout").to_string(), checkout.clone())],
        Scope::Service(key("checkout").to_string()),
    );
    assert_eq!(
        m.deployments, 2,
        "d1's day, before the recompute date, is kept"
    );
    assert_eq!(checkout.frozen_before.as_deref(), Some("2024-03-11"));
}

#[test]
fn a_deployment_waits_for_its_push_within_the_grace_then_counts_with_its_lead_time() {
    let mut w = world();
    // d9 of commit c900000, pushed after the deployment is reported.
    let c = w.components.get_mut(&key("checkout")).unwrap();
    c.deployments.insert(
        0,
        serde_json::from_value(record(
            "d9",
            "production",
            "success",
            "2024-03-31T11:55:00Z",
            "c900000",
            "ann-gh",
        ))
        .unwrap(),
    );
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    let writes = engine.collect(&w, now());
    let ids: Vec<&str> = status_of(&writes, "checkout")
        .deployments
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(ids, ["d2", "d1"], "d9 waits: its commit is in no push yet");
    assert!(engine.due(now()).is_empty());
    assert_eq!(
        engine.next_due(),
        Some("2024-03-31T12:05:00Z".parse().unwrap())
    );
    // The push arrives: d9 counts, with the lead time of c900000 (11:00 → 55 min).
    w.upsert_repository(&repository(
        "checkout-repo",
        json!([{"sha": "c900000", "branch": "main", "commits": [
            {"sha": "c900000", "timestamp": "2024-03-31T11:00:00Z"}]}]),
    ));
    engine.feed_component(&w, &key("checkout"), now());
    let writes = engine.collect(&w, now());
    let checkout = status_of(&writes, "checkout");
    assert_eq!(checkout.deployments[0].id, "d9");
    let day = checkout
        .days
        .iter()
        .find(|d| d.date == "2024-03-31")
        .unwrap();
    assert_eq!(day.lead_times, [3_300]);

    // Without the push, past the grace it counts anyway, without a lead time.
    let mut w = world();
    let c = w.components.get_mut(&key("checkout")).unwrap();
    c.deployments.insert(
        0,
        serde_json::from_value(record(
            "d9",
            "production",
            "success",
            "2024-03-31T11:55:00Z",
            "c900000",
            "ann-gh",
        ))
        .unwrap(),
    );
    let (mut engine, _) = Engine::build(&w, None);
    feed_all(&mut engine, &w);
    engine.collect(&w, now());
    let later: Timestamp = "2024-03-31T12:05:00Z".parse().unwrap();
    assert_eq!(engine.due(later), [key("checkout")]);
    assert_eq!(engine.next_due(), None);
    engine.feed_component(&w, &key("checkout"), later);
    let writes = engine.collect(&w, later);
    let checkout = status_of(&writes, "checkout");
    assert_eq!(checkout.deployments[0].id, "d9");
    let day = checkout
        .days
        .iter()
        .find(|d| d.date == "2024-03-31")
        .unwrap();
    assert!(day.lead_times.is_empty());
}
