use serde_json::json;

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn scorecard(name: &str, generation: i64, spec: Value) -> Scorecard {
    serde_json::from_value(json!({
        "apiVersion": "scorecards.nexus.dev/v1alpha1",
        "kind": "Scorecard",
        "metadata": {"name": name, "namespace": "org", "generation": generation, "uid": format!("uid-{name}")},
        "spec": spec,
    }))
    .unwrap()
}

/// Runbook linked (Bronze, 2), repository protected (Silver, 3, a fact); gate Bronze.
fn readiness(generation: i64) -> Scorecard {
    scorecard(
        "readiness",
        generation,
        json!({
            "title": "Readiness",
            "appliesTo": {"kinds": ["Component"], "filter": "entity.spec.type == 'service'"},
            "rules": [
                {"id": "runbook", "title": "Runbook linked", "level": "Bronze", "weight": 2,
                 "expression": "size(relations.hasRunbook) > 0", "message": "Link a runbook."},
                {"id": "protected", "title": "Branch protected", "level": "Silver", "weight": 3,
                 "facts": ["github.branchProtection"],
                 "expression": "facts.github.branchProtection.protected", "message": "Protect main."},
            ],
            "gate": {"minLevel": "Bronze"},
        }),
    )
}

fn component(name: &str, relations: &[(&str, &str)], extra_status: Value) -> Value {
    let rels: Vec<Value> = relations
        .iter()
        .map(|(t, r)| json!({"type": t, "targetRef": r}))
        .collect();
    let mut status = json!({"relations": rels});
    if let (Some(s), Some(e)) = (status.as_object_mut(), extra_status.as_object()) {
        s.extend(e.clone());
    }
    json!({
        "metadata": {"name": name, "namespace": "t", "resourceVersion": "1", "generation": 1},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team"},
        "status": status,
    })
}

fn repository(protected: bool) -> Value {
    json!({
        "metadata": {"name": "repo", "namespace": "t", "resourceVersion": "7"},
        "spec": {"provider": "github", "url": "https://github.com/o/repo"},
        "status": {
            "relations": [{"type": "repositoryOf", "targetRef": "component:t/api"}],
            "branchProtection": {"protected": protected},
        },
    })
}

fn runbook() -> Value {
    json!({
        "metadata": {"name": "rb", "namespace": "t"},
        "spec": {"title": "Runbook", "appliesTo": ["component:t/api"]},
        "status": {"relations": [{"type": "runbookFor", "targetRef": "component:t/api"}]},
    })
}

fn api_ref() -> EntityRef {
    EntityRef::new(EntityKind::Component, "t", "api")
}

const KEY: &str = "org/readiness";

/// Runs one batch; returns the entity writes and status writes.
fn batch(e: &mut Engine, now: Timestamp) -> (Vec<EntityWrite>, Vec<StatusWrite>) {
    let mut writes = Vec::new();
    for (r, which) in e.plan(Instant::now()) {
        writes.extend(e.evaluate(&r, &which, now));
    }
    let statuses = e.finish_batch(now);
    (writes, statuses)
}

fn engine_with_api() -> Engine {
    let mut e = Engine::new(None);
    assert_eq!(
        e.apply_scorecard(&readiness(1), Instant::now()),
        Compile::Compiled
    );
    e.apply_entity(
        EntityKind::Component,
        component(
            "api",
            &[
                ("hasRepository", "repository:t/repo"),
                ("hasRunbook", "runbook:t/rb"),
            ],
            json!({}),
        ),
    );
    e.apply_entity(EntityKind::Repository, repository(false));
    e.apply_entity(EntityKind::Runbook, runbook());
    e
}

#[test]
fn results_are_written_once_and_a_related_fact_flips_a_rule() {
    let mut e = engine_with_api();
    let now = ts("2026-03-01T12:00:00.75Z");
    let (writes, statuses) = batch(&mut e, now);
    assert_eq!(
        writes.len(),
        1,
        "only the component is measured: {writes:?}"
    );
    let r = &writes[0].results[0];
    assert_eq!(r.scorecard, KEY);
    // runbook passes (2 of 5), protection fails: floor(100 × 2/5) = 40, Bronze, gate passes.
    assert_eq!(
        (r.score, r.level.as_deref(), r.passed),
        (40, Some("Bronze"), true)
    );
    assert_eq!(r.failing[0].rule_id, "protected");
    assert_eq!(r.generation, Some(1));
    assert_eq!(
        r.evaluated_at.0.to_string(),
        "2026-03-01T12:00:00Z",
        "whole seconds"
    );
    assert_eq!(statuses.len(), 1);
    let d = statuses[0].status.distribution.as_ref().unwrap();
    assert_eq!(
        (d.entities, d.passed, d.pass_rate, d.average_score),
        (1, 1, 100, 40)
    );
    assert_eq!(d.per_level[0].entities, 1);

    // Nothing changed: no writes at all.
    let (writes, statuses) = batch(&mut e, now);
    assert!(
        writes.is_empty() && statuses.is_empty(),
        "{writes:?} {statuses:?}"
    );

    // Our own write coming back through the watch (results in status, a new
    // resourceVersion) is not a change of the entity.
    let mut echoed = component(
        "api",
        &[
            ("hasRepository", "repository:t/repo"),
            ("hasRunbook", "runbook:t/rb"),
        ],
        json!({"scorecards": [serde_json::to_value(r).unwrap()]}),
    );
    echoed["metadata"]["resourceVersion"] = json!("2");
    e.apply_entity(EntityKind::Component, echoed);
    assert!(
        !e.has_work(Instant::now()),
        "own write must not trigger: {e:?}"
    );

    // The repository gets protected: the component is re-evaluated and reaches Silver.
    e.apply_entity(EntityKind::Repository, repository(true));
    let later = ts("2026-03-01T12:05:00Z");
    let (writes, statuses) = batch(&mut e, later);
    assert_eq!(writes.len(), 1);
    let r2 = &writes[0].results[0];
    assert_eq!((r2.score, r2.level.as_deref()), (100, Some("Gold")));
    assert_eq!(r2.evaluated_at.0, later);
    assert_eq!(statuses.len(), 1, "the distribution moved");
}

#[test]
fn an_unchanged_result_keeps_its_evaluation_time() {
    let mut e = engine_with_api();
    let (w1, _) = batch(&mut e, ts("2026-03-01T12:00:00Z"));
    // A sweep an hour later computes the same result: nothing to write.
    assert!(e.set_today("2026-03-01"));
    let (w2, _) = batch(&mut e, ts("2026-03-01T13:00:00Z"));
    assert!(w2.is_empty(), "{w2:?}");
    assert_eq!(
        e.result(&api_ref(), KEY).unwrap().evaluated_at,
        w1[0].results[0].evaluated_at
    );
}

#[test]
fn compile_errors_land_on_the_status_with_positions_and_results_stay() {
    let mut e = engine_with_api();
    let (w, _) = batch(&mut e, ts("2026-03-01T12:00:00Z"));
    assert_eq!(w.len(), 1);
    let mut bad = readiness(2);
    bad.spec.rules[0].expression = "sise(relations.hasRunbook) > 0".into();
    match e.apply_scorecard(&bad, Instant::now()) {
        Compile::Failed(errors) => assert!(errors[0].contains("runbook at 1:1"), "{errors:?}"),
        other => panic!("{other:?}"),
    }
    let (writes, statuses) = batch(&mut e, ts("2026-03-01T12:01:00Z"));
    assert!(
        writes.is_empty(),
        "a scorecard that does not compile is not evaluated"
    );
    let s = &statuses[0].status;
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.rule_errors[0].rule, "runbook");
    assert_eq!((s.rule_errors[0].line, s.rule_errors[0].column), (1, 1));
    assert!(
        s.rule_errors[0].message.contains("sise"),
        "{:?}",
        s.rule_errors
    );
    let ready = conditions::find(&s.conditions, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "CompileFailed")
    );
    assert!(s.distribution.is_some(), "the last distribution stays");
    // The entity keeps its generation-1 result (which no gate accepts any more).
    assert_eq!(e.result(&api_ref(), KEY).unwrap().generation, Some(1));

    // Fixed: evaluated again at generation 3.
    let (writes, statuses) = batch_after(&mut e, readiness(3));
    assert_eq!(writes[0].results[0].generation, Some(3));
    let s = &statuses[0].status;
    assert!(s.rule_errors.is_empty());
    assert_eq!(
        conditions::find(&s.conditions, "Ready").unwrap().status,
        "True"
    );
}

fn batch_after(e: &mut Engine, sc: Scorecard) -> (Vec<EntityWrite>, Vec<StatusWrite>) {
    e.apply_scorecard(&sc, Instant::now());
    batch(e, ts("2026-03-01T12:02:00Z"))
}

#[test]
fn deleted_scorecards_and_entities_that_stop_applying_lose_their_results() {
    let mut e = engine_with_api();
    batch(&mut e, ts("2026-03-01T12:00:00Z"));
    // The component becomes a library: the filter no longer matches.
    let mut lib = component(
        "api",
        &[
            ("hasRepository", "repository:t/repo"),
            ("hasRunbook", "runbook:t/rb"),
        ],
        json!({}),
    );
    // As the watch delivers it: with the results written before.
    lib["status"]["scorecards"] =
        serde_json::to_value(e.entities[&api_ref()].results.values().collect::<Vec<_>>()).unwrap();
    lib["spec"]["type"] = json!("library");
    e.apply_entity(EntityKind::Component, lib.clone());
    let (writes, statuses) = batch(&mut e, ts("2026-03-01T12:01:00Z"));
    assert_eq!(writes.len(), 1);
    assert!(writes[0].results.is_empty(), "{writes:?}");
    assert_eq!(
        statuses[0].status.distribution.as_ref().unwrap().entities,
        0
    );

    lib["spec"]["type"] = json!("service");
    lib["status"].as_object_mut().unwrap().remove("scorecards");
    e.apply_entity(EntityKind::Component, lib);
    let (writes, _) = batch(&mut e, ts("2026-03-01T12:02:00Z"));
    assert_eq!(writes[0].results.len(), 1);
    e.delete_scorecard("org", "readiness");
    let (writes, statuses) = batch(&mut e, ts("2026-03-01T12:03:00Z"));
    assert_eq!(writes.len(), 1);
    assert!(writes[0].results.is_empty());
    assert!(
        statuses.is_empty(),
        "a deleted scorecard has no status to write"
    );
}

#[test]
fn relisting_forgets_entities_deleted_while_the_watch_was_down() {
    let mut e = engine_with_api();
    batch(&mut e, ts("2026-03-01T12:00:00Z"));
    e.begin_relist(EntityKind::Runbook);
    e.end_relist(EntityKind::Runbook);
    let (writes, _) = batch(&mut e, ts("2026-03-01T12:01:00Z"));
    // The runbook is gone: the component loses Bronze and the gate.
    let r = &writes[0].results[0];
    assert_eq!((r.score, r.level.as_deref(), r.passed), (0, None, false));
}

#[test]
fn snapshots_are_taken_once_a_day_after_the_days_full_evaluation() {
    let mut e = engine_with_api();
    assert!(e.set_today("2026-03-01"));
    batch(&mut e, ts("2026-03-01T12:00:00Z"));
    let snaps = e.snapshots_due();
    assert_eq!(snaps.len(), 1);
    let s = &snaps[0];
    assert_eq!(
        (s.namespace.as_str(), s.scorecard.as_str(), s.date.as_str()),
        ("org", "readiness", "2026-03-01")
    );
    assert_eq!(s.specs[0].entities["component:t/api"], [40, 0]);
    assert_eq!(s.specs[0].summary.entities, 1);
    assert!(e.snapshots_due().is_empty(), "once a day");
    // A failed write is retried.
    e.snapshot_failed("org", "readiness");
    assert_eq!(e.snapshots_due().len(), 1);

    // The next day: everything is evaluated again first, then that day's snapshot.
    assert!(e.set_today("2026-03-02"));
    assert!(!e.set_today("2026-03-02"));
    assert!(
        e.snapshots_due().is_empty(),
        "not before the day's evaluation"
    );
    batch(&mut e, ts("2026-03-02T00:00:05Z"));
    let snaps = e.snapshots_due();
    assert_eq!(snaps[0].date, "2026-03-02");
}

#[test]
fn filter_failures_are_reported_not_guessed() {
    let mut e = Engine::new(None);
    let sc = scorecard(
        "f",
        1,
        json!({
            "title": "F",
            "appliesTo": {"kinds": ["Component"], "filter": "entity.spec.tier == 'gold'"},
            "rules": [{"id": "a", "title": "A", "expression": "true", "message": "m"}],
        }),
    );
    e.apply_scorecard(&sc, Instant::now());
    e.apply_entity(EntityKind::Component, component("api", &[], json!({})));
    let (writes, statuses) = batch(&mut e, ts("2026-03-01T12:00:00Z"));
    assert!(writes.is_empty(), "{writes:?}");
    let s = &statuses[0].status;
    let evaluated = conditions::find(&s.conditions, "Evaluated").unwrap();
    assert_eq!(evaluated.reason, "FilterFailed");
    assert!(
        evaluated.message.contains("component:t/api"),
        "{}",
        evaluated.message
    );
    assert_eq!(s.distribution.as_ref().unwrap().entities, 0);
}

#[test]
fn at_most_sixteen_results_are_stored_and_the_rest_is_reported() {
    let mut e = Engine::new(None);
    for i in 0..17 {
        let sc = scorecard(
            &format!("s{i:02}"),
            1,
            json!({"title": "S", "appliesTo": {"kinds": ["Component"]},
                   "rules": [{"id": "a", "title": "A", "expression": "true", "message": "m"}]}),
        );
        e.apply_scorecard(&sc, Instant::now());
    }
    e.apply_entity(EntityKind::Component, component("api", &[], json!({})));
    let (writes, statuses) = batch(&mut e, ts("2026-03-01T12:00:00Z"));
    assert_eq!(writes[0].results.len(), MAX_SCORECARD_RESULTS);
    assert_eq!(writes[0].results.last().unwrap().scorecard, "org/s15");
    let last = statuses.iter().find(|s| s.name == "s16").unwrap();
    let evaluated = conditions::find(&last.status.conditions, "Evaluated").unwrap();
    assert_eq!(evaluated.reason, "ResultLimit");
}

#[test]
fn a_stale_watch_event_does_not_leave_stale_results_behind() {
    let mut e = engine_with_api();
    let (w, _) = batch(&mut e, ts("2026-03-01T12:00:00Z"));
    let written = serde_json::to_value(&w[0].results).unwrap();
    // An event from before the write (no results yet), then the spec changes so that the
    // component no longer applies, then the echo of the write arrives.
    let rels = [
        ("hasRepository", "repository:t/repo"),
        ("hasRunbook", "runbook:t/rb"),
    ];
    let mut lib = component("api", &rels, json!({}));
    lib["spec"]["type"] = json!("library");
    e.apply_entity(EntityKind::Component, lib.clone());
    let (w, _) = batch(&mut e, ts("2026-03-01T12:00:01Z"));
    assert!(
        w.is_empty(),
        "the stale event says nothing is stored: {w:?}"
    );
    lib["status"]["scorecards"] = written;
    e.apply_entity(EntityKind::Component, lib);
    let (w, _) = batch(&mut e, ts("2026-03-01T12:00:02Z"));
    assert_eq!(w.len(), 1, "the echo shows results that must go");
    assert!(w[0].results.is_empty());
}

#[test]
fn a_failed_write_is_written_again() {
    let mut e = engine_with_api();
    let (w, _) = batch(&mut e, ts("2026-03-01T12:00:00Z"));
    assert_eq!(w.len(), 1);
    e.entity_write_failed(&api_ref());
    let (w, _) = batch(&mut e, ts("2026-03-01T12:00:01Z"));
    assert_eq!(w.len(), 1, "unknown stored state forces a write");
}

#[test]
fn sweeps_come_due_on_the_interval() {
    let mut e = Engine::new(None);
    let mut sc = readiness(1);
    sc.spec.sweep_interval = "10m".into();
    let t0 = Instant::now();
    e.apply_scorecard(&sc, t0);
    e.plan(t0);
    e.finish_batch(ts("2026-03-01T12:00:00Z"));
    assert!(!e.has_work(t0 + Duration::from_secs(60)));
    assert!(e.has_work(t0 + Duration::from_secs(601)));
    assert_eq!(e.next_sweep(), Some(t0 + Duration::from_secs(600)));
}

#[test]
fn relations_read_by_expressions() {
    assert_eq!(
        relations_used(&[
            "size(relations.hasRunbook) > 0",
            "relations . ownedBy.exists(o, true)"
        ]),
        Some(["hasRunbook", "ownedBy"].map(String::from).into())
    );
    assert_eq!(
        relations_used(&["has(entity.status.relations) && entity.status.relations.size() > 0"]),
        Some(BTreeSet::new()),
        "the entity's own status.relations is not the variable"
    );
    assert_eq!(
        relations_used(&["relations['hasRunbook'].size() > 0"]),
        None
    );
    assert_eq!(relations_used(&["size(relations) > 0"]), None);
}
