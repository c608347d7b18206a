//! Aggregation into the Scorecard's status and the daily snapshots.

mod common;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::scorecards::{LevelCount, MAX_SNAPSHOT_ENTITIES, RuleFinding, ScorecardResult};
use nexus_scorecards::{DistributionBuilder, distribution, snapshot_name, snapshots};

fn levels() -> Vec<String> {
    ["Bronze", "Silver", "Gold"].map(String::from).to_vec()
}

fn result(score: i32, level: Option<&str>, passed: bool, unknown: bool) -> ScorecardResult {
    ScorecardResult {
        scorecard: "nexus-org/prod".into(),
        generation: Some(1),
        score,
        level: level.map(String::from),
        passed,
        rules_passed: 0,
        rules_total: 0,
        failing: Vec::new(),
        unknown: if unknown {
            vec![RuleFinding {
                rule_id: "x".into(),
                title: "X".into(),
                message: "m".into(),
            }]
        } else {
            Vec::new()
        },
        evaluated_at: Time(common::now()),
    }
}

#[test]
fn counts_rates_and_levels() {
    let results = [
        result(100, Some("Gold"), true, false),
        result(70, Some("Silver"), true, true),
        result(55, Some("Bronze"), false, true),
        result(10, None, false, false),
        result(0, Some("Retired"), false, false), // a level the ladder no longer has
        result(90, Some("Gold"), true, false),
    ];
    let d = distribution(&levels(), &results);
    assert_eq!(d.entities, 6);
    assert_eq!(d.passed, 3);
    assert_eq!(d.pass_rate, 50);
    assert_eq!(d.average_score, 54); // 325 / 6 = 54.17
    assert_eq!(d.unknown, 2);
    assert_eq!(
        d.per_level,
        [
            LevelCount {
                level: "Bronze".into(),
                entities: 1
            },
            LevelCount {
                level: "Silver".into(),
                entities: 1
            },
            LevelCount {
                level: "Gold".into(),
                entities: 2
            },
        ]
    );
    assert_eq!(d.no_level, 2);

    let two_of_three = distribution(
        &levels(),
        &[
            result(100, None, true, false),
            result(100, None, true, false),
            result(0, None, false, false),
        ],
    );
    assert_eq!(two_of_three.pass_rate, 66);

    let empty = DistributionBuilder::new(&levels()).finish();
    assert_eq!(
        (empty.entities, empty.pass_rate, empty.average_score),
        (0, 0, 0)
    );
    assert_eq!(empty.per_level.len(), 3);
}

#[test]
fn snapshots_are_sorted_compact_and_sharded() {
    let n = MAX_SNAPSHOT_ENTITIES + 5;
    let refs: Vec<String> = (0..n)
        .rev()
        .map(|i| format!("component:team-a/svc-{i:05}"))
        .collect();
    let results: Vec<ScorecardResult> = (0..n)
        .map(|i| match i % 3 {
            0 => result(100, Some("Gold"), true, false),
            1 => result(40, Some("Bronze"), false, false),
            _ => result(5, None, false, true),
        })
        .collect();
    let shards = snapshots(
        "production-readiness",
        "2026-06-01",
        Some(4),
        &levels(),
        refs.iter().map(String::as_str).zip(&results),
    );
    assert_eq!(shards.len(), 2);
    assert_eq!(shards[0].entities.len(), MAX_SNAPSHOT_ENTITIES);
    assert_eq!(shards[1].entities.len(), 5);
    assert_eq!((shards[0].shard, shards[0].shards), (0, 2));
    assert_eq!((shards[1].shard, shards[1].shards), (1, 2));
    // Every shard carries the whole day's summary.
    assert_eq!(shards[0].summary, shards[1].summary);
    assert_eq!(shards[0].summary.entities, n as i64);
    // Sorted by reference: the first shard starts at svc-00000.
    let first = shards[0].entities.iter().next().unwrap();
    assert_eq!(first.0, "component:team-a/svc-00000");
    // refs were reversed, so svc-00000 got the last result.
    let last = &results[n - 1];
    let expect_level = match last.level.as_deref() {
        Some("Gold") => 2,
        Some("Bronze") => 0,
        _ => -1,
    };
    assert_eq!(*first.1, [last.score, expect_level]);
    assert_eq!(shards[1].generation, Some(4));

    let none = snapshots("s", "2026-06-01", None, &levels(), std::iter::empty());
    assert_eq!(none.len(), 1);
    assert!(none[0].entities.is_empty());
}

#[test]
fn snapshot_names_fit_an_object_name() {
    assert_eq!(
        snapshot_name("production-readiness", "2026-06-01", 0),
        "production-readiness-20260601-0"
    );
    let long = format!("{}-x", "a".repeat(249));
    let name = snapshot_name(&long, "2026-06-01", 12);
    assert!(name.len() <= 253, "{}", name.len());
    assert!(name.ends_with("a-20260601-12"), "{name}");
}
