//! ScorecardSnapshot: a compact daily record of every entity's score and level, for trends.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::scorecard::Distribution;

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "scorecards.nexus.dev",
    version = "v1alpha1",
    kind = "ScorecardSnapshot",
    namespaced,
    shortname = "nxscs",
    category = "nexus",
    category = "scorecards",
    printcolumn(name = "Scorecard", type_ = "string", json_path = ".spec.scorecard"),
    printcolumn(name = "Date", type_ = "string", json_path = ".spec.date"),
    printcolumn(name = "Shard", type_ = "integer", json_path = ".spec.shard"),
    printcolumn(
        name = "Entities",
        type_ = "integer",
        json_path = ".spec.summary.entities"
    ),
    printcolumn(
        name = "Pass Rate",
        type_ = "integer",
        json_path = ".spec.summary.passRate"
    ),
    doc = "One day of one scorecard (one shard of at most 3000 entities): each entity's [score, levelIndex] and the day's distribution. Written whole by the scorecard controller, named <scorecard>-<yyyymmdd>-<shard>."
)]
#[x_kube(validation = Rule::new("self.shard < self.shards").message("spec.shard must be below spec.shards"))]
#[serde(rename_all = "camelCase")]
pub struct ScorecardSnapshotSpec {
    /// The Scorecard, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    pub scorecard: String,
    /// The day, `YYYY-MM-DD` (UTC).
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}$')").message("spec.date must be YYYY-MM-DD"))]
    pub date: String,
    /// The scorecard's `metadata.generation` the results came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// This object's place among the day's shards (0-based).
    #[serde(default)]
    #[schemars(range(min = 0, max = 999))]
    pub shard: i32,
    /// How many shards the day has.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1000))]
    pub shards: i32,
    /// The ladder at the time, lowest first: `levelIndex` indexes it.
    #[schemars(length(max = 10), inner(length(max = 32)))]
    pub levels: Vec<String>,
    /// The distribution over all of the day's entities (the same on every shard).
    pub summary: Distribution,
    /// Entity reference (`kind:namespace/name`) → `[score, levelIndex]`; `levelIndex` is -1
    /// below the first level.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "entity_scores_schema")]
    pub entities: BTreeMap<String, [i32; 2]>,
}

fn one() -> i32 {
    1
}

fn entity_scores_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": super::MAX_SNAPSHOT_ENTITIES,
        "additionalProperties": {
            "type": "array",
            "items": { "type": "integer" },
            "minItems": 2,
            "maxItems": 2
        }
    })
}
