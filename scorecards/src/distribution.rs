//! Aggregating results: the Scorecard's status distribution and the daily snapshots.

use std::collections::BTreeMap;

use nexus_api::scorecards::{
    Distribution, LevelCount, MAX_SNAPSHOT_ENTITIES, ScorecardResult, ScorecardSnapshotSpec,
};

/// Adds results up one at a time (the controller streams them).
#[derive(Clone, Debug)]
pub struct DistributionBuilder {
    levels: Vec<String>,
    entities: i64,
    passed: i64,
    unknown: i64,
    score_sum: i64,
    per_level: Vec<i64>,
    no_level: i64,
}

impl DistributionBuilder {
    pub fn new(levels: &[String]) -> DistributionBuilder {
        DistributionBuilder {
            levels: levels.to_vec(),
            entities: 0,
            passed: 0,
            unknown: 0,
            score_sum: 0,
            per_level: vec![0; levels.len()],
            no_level: 0,
        }
    }

    pub fn add(&mut self, result: &ScorecardResult) {
        self.entities += 1;
        self.passed += i64::from(result.passed);
        self.unknown += i64::from(!result.unknown.is_empty());
        self.score_sum += i64::from(result.score);
        // A level the ladder no longer has (a result from an older generation) counts as none.
        match level_index(&self.levels, result) {
            Some(i) => self.per_level[i] += 1,
            None => self.no_level += 1,
        }
    }

    pub fn finish(self) -> Distribution {
        let pct = |n: i64| {
            if self.entities == 0 {
                0
            } else {
                i32::try_from(n * 100 / self.entities).unwrap_or(0)
            }
        };
        Distribution {
            entities: self.entities,
            passed: self.passed,
            pass_rate: pct(self.passed),
            average_score: if self.entities == 0 {
                0
            } else {
                i32::try_from(self.score_sum / self.entities).unwrap_or(0)
            },
            unknown: self.unknown,
            per_level: self
                .levels
                .iter()
                .zip(&self.per_level)
                .map(|(level, n)| LevelCount {
                    level: level.clone(),
                    entities: *n,
                })
                .collect(),
            no_level: self.no_level,
        }
    }
}

/// The distribution of `results` over the ladder `levels`.
pub fn distribution<'a>(
    levels: &[String],
    results: impl IntoIterator<Item = &'a ScorecardResult>,
) -> Distribution {
    let mut b = DistributionBuilder::new(levels);
    for r in results {
        b.add(r);
    }
    b.finish()
}

fn level_index(levels: &[String], result: &ScorecardResult) -> Option<usize> {
    result
        .level
        .as_ref()
        .and_then(|l| levels.iter().position(|x| x == l))
}

/// The day's snapshot objects for one scorecard: entities sorted by reference and cut into
/// shards of at most [`MAX_SNAPSHOT_ENTITIES`]; every shard carries the whole day's summary.
/// `date` is `YYYY-MM-DD`; `results` pairs entity references (`kind:namespace/name`) with
/// their results.
pub fn snapshots<'a>(
    scorecard: &str,
    date: &str,
    generation: Option<i64>,
    levels: &[String],
    results: impl IntoIterator<Item = (&'a str, &'a ScorecardResult)>,
) -> Vec<ScorecardSnapshotSpec> {
    let mut builder = DistributionBuilder::new(levels);
    let mut entries: BTreeMap<String, [i32; 2]> = BTreeMap::new();
    for (entity, r) in results {
        builder.add(r);
        let level = level_index(levels, r)
            .and_then(|i| i32::try_from(i).ok())
            .unwrap_or(-1);
        entries.insert(entity.to_string(), [r.score, level]);
    }
    let summary = builder.finish();
    let mut shards: Vec<BTreeMap<String, [i32; 2]>> = Vec::new();
    let mut current = BTreeMap::new();
    for (k, v) in entries {
        if current.len() == MAX_SNAPSHOT_ENTITIES {
            shards.push(std::mem::take(&mut current));
        }
        current.insert(k, v);
    }
    if !current.is_empty() || shards.is_empty() {
        shards.push(current);
    }
    let count = i32::try_from(shards.len()).unwrap_or(i32::MAX);
    shards
        .into_iter()
        .enumerate()
        .map(|(i, entities)| ScorecardSnapshotSpec {
            scorecard: scorecard.to_string(),
            date: date.to_string(),
            generation,
            shard: i32::try_from(i).unwrap_or(i32::MAX),
            shards: count,
            levels: levels.to_vec(),
            summary: summary.clone(),
            entities,
        })
        .collect()
}

/// `<scorecard>-<yyyymmdd>-<shard>`, with the scorecard name cut so the whole stays a valid
/// object name (at most 253 characters).
pub fn snapshot_name(scorecard: &str, date: &str, shard: i32) -> String {
    let suffix = format!("-{}-{shard}", date.replace('-', ""));
    let room = 253usize.saturating_sub(suffix.len());
    let mut base: String = scorecard.chars().take(room).collect();
    // A name must end alphanumeric before the suffix's dash is added; a cut may leave '-' or '.'.
    while base.ends_with(['-', '.']) {
        base.pop();
    }
    format!("{base}{suffix}")
}
