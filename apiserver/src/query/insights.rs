//! Leadership and team views: how teams stand on each scorecard (heatmap, rankings, score
//! distribution), how that moved (daily snapshots), and DORA metrics of a service, a team or a
//! person with their tiers, now and week by week.
//!
//! Everything is computed from the cache at request time, over the entities the caller may
//! see: a team's row, rank or DORA figures only ever include the entities visible to the
//! caller, so a number never reveals a hidden entity. Scores come from `status.scorecards`
//! (written by the scorecard controller), trends from ScorecardSnapshots, DORA from the daily
//! buckets in Components' `status.dora` (written by the DORA controller) merged per scope by
//! `nexus-dora` — team and personal figures are merges of the cells those buckets credit.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use jiff::{ToSpan, civil::Date};
use nexus_api::{EntityKind, EntityRef, dora::DoraStatus};
use nexus_dora::{Metrics, Scope, Window, metrics_from_statuses};
use serde::Serialize;

use super::QueryError;
use crate::{
    authz::Visibility,
    cache::{
        Cache,
        entity::{Entity, KindFacts, ScoreFact},
        store::Store,
    },
};

/// Score bins of the distribution: 0–9, 10–19, …, 90–100.
const BINS: usize = 10;
/// Most weeks a DORA trend reaches back (the buckets keep 400 days).
pub const MAX_WEEKS: u32 = 57;
pub const DEFAULT_WEEKS: u32 = 12;
pub const DEFAULT_TREND_DAYS: i32 = 30;

/// How a group of entities stands on one scorecard (the shape of a Scorecard's
/// `status.distribution`, with the average to one decimal).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub entities: u64,
    pub passed: u64,
    /// `floor(100 × passed / entities)`.
    pub pass_rate: u64,
    /// Mean score, to one decimal.
    pub average_score: f64,
    /// Entities whose highest level is each level, in ladder order.
    pub per_level: Vec<LevelCount>,
    /// Entities below the first level.
    pub no_level: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelCount {
    pub level: String,
    pub entities: u64,
}

#[derive(Debug, Default, Clone)]
struct Acc {
    entities: u64,
    passed: u64,
    score_sum: u64,
    levels: BTreeMap<Arc<str>, u64>,
    no_level: u64,
}

impl Acc {
    fn add(&mut self, score: u8, level: Option<&Arc<str>>, passed: bool) {
        self.entities += 1;
        self.passed += u64::from(passed);
        self.score_sum += u64::from(score);
        match level {
            Some(l) => *self.levels.entry(l.clone()).or_default() += 1,
            None => self.no_level += 1,
        }
    }

    fn add_fact(&mut self, f: &ScoreFact) {
        self.add(f.score, f.level.as_ref(), f.passed);
    }

    /// Exact mean (for ranking).
    fn mean(&self) -> f64 {
        if self.entities == 0 {
            0.0
        } else {
            self.score_sum as f64 / self.entities as f64
        }
    }

    fn finish(&self, ladder: &[String]) -> Cell {
        let mut per_level: Vec<LevelCount> = ladder
            .iter()
            .map(|l| LevelCount {
                level: l.clone(),
                entities: self.levels.get(l.as_str()).copied().unwrap_or(0),
            })
            .collect();
        // Levels the ladder does not (or no longer) name, after it.
        for (l, n) in &self.levels {
            if !ladder.iter().any(|x| x.as_str() == &**l) {
                per_level.push(LevelCount {
                    level: l.to_string(),
                    entities: *n,
                });
            }
        }
        Cell {
            entities: self.entities,
            passed: self.passed,
            pass_rate: (self.passed * 100).checked_div(self.entities).unwrap_or(0),
            average_score: (self.mean() * 10.0).round() / 10.0,
            per_level,
            no_level: self.no_level,
        }
    }
}

/// A scorecard as the views list it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardRef {
    /// `namespace/name`.
    pub scorecard: String,
    pub title: String,
    /// The ladder, lowest first (empty while the Scorecard itself is not known here).
    pub levels: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Heatmap {
    /// Columns: every scorecard with a result on a visible entity.
    pub scorecards: Vec<ScorecardRef>,
    /// Rows: owning teams by title, then `team: null` for entities no Team owns.
    pub teams: Vec<HeatmapRow>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeatmapRow {
    /// `team:<namespace>/<name>`; null for entities without a Team owner.
    pub team: Option<String>,
    pub title: String,
    /// By scorecard (`namespace/name`); a scorecard none of the row's entities has is absent.
    pub cells: BTreeMap<String, Cell>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rankings {
    #[serde(flatten)]
    pub scorecard: ScorecardRef,
    /// Best first: by average score, then pass rate, then reference; equal average and pass
    /// rate share a rank.
    pub teams: Vec<Ranked>,
    /// The visible entities (services and everything else the scorecard measures) at both ends.
    pub entities: EntityRankings,
}

/// How many entities each end of [`EntityRankings`] lists.
pub const ENTITY_RANKING_SIZE: usize = 10;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRankings {
    /// Entities with a result on the scorecard.
    pub total: usize,
    /// Highest score first (then reference), at most [`ENTITY_RANKING_SIZE`].
    pub best: Vec<RankedEntity>,
    /// Lowest score first (then reference), at most [`ENTITY_RANKING_SIZE`]: what to fix first.
    pub needs_attention: Vec<RankedEntity>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedEntity {
    #[serde(rename = "ref")]
    pub reference: String,
    pub kind: String,
    pub title: String,
    /// The owning Team, when it is one (`team:<namespace>/<name>`).
    pub team: Option<String>,
    pub score: u8,
    pub level: Option<String>,
    pub passed: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    pub rank: usize,
    pub team: String,
    pub title: String,
    #[serde(flatten)]
    pub cell: Cell,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    #[serde(flatten)]
    pub scorecard: ScorecardRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(flatten)]
    pub cell: Cell,
    /// Entities per 10-point bin: 0–9, 10–19, …, 90–100.
    pub bins: Vec<Bin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bin {
    pub from: u8,
    pub to: u8,
    pub entities: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreTrend {
    #[serde(flatten)]
    pub scorecard: ScorecardRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub days: i32,
    /// First day asked for (UTC).
    pub from: Date,
    /// Whether the ScorecardSnapshots have been listed (false: their CRD is missing or the
    /// watch has not caught up; the series may be incomplete).
    pub snapshots_listed: bool,
    /// One point per day with a snapshot, oldest first. `passed` is absent: snapshots keep the
    /// score and level only.
    pub points: Vec<TrendPoint>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub date: Date,
    pub entities: u64,
    pub average_score: f64,
    pub per_level: Vec<LevelCount>,
    pub no_level: u64,
}

/// Whose DORA metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DoraScope {
    Service,
    Team,
    Person,
}

impl DoraScope {
    pub fn parse(raw: Option<&str>) -> Result<DoraScope, QueryError> {
        match raw.map(str::trim) {
            Some("service") => Ok(DoraScope::Service),
            Some("team") => Ok(DoraScope::Team),
            Some("person") => Ok(DoraScope::Person),
            Some(other) => Err(QueryError::BadRequest(format!(
                "scope `{other}` is not one of service, team, person"
            ))),
            None => Err(QueryError::BadRequest(
                "scope is required: service, team or person".into(),
            )),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoraAnswer {
    pub scope: DoraScope,
    /// What the metrics are of: the Component or Team reference, the User reference, or the
    /// login as deployments name their creator.
    pub name: String,
    /// Visible services whose buckets went into the figures.
    pub services: usize,
    pub metrics: Metrics,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoraTrend {
    pub scope: DoraScope,
    pub name: String,
    pub services: usize,
    pub weeks: u32,
    /// One week window each, the last ending on the requested end date, oldest first.
    pub points: Vec<Metrics>,
}

/// The signed-in user's own DORA metrics, on the dashboard.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalDora {
    /// The person the deployments credit: the User reference, or the username when no User
    /// matches.
    pub person: String,
    pub services: usize,
    pub week: Metrics,
    pub month: Metrics,
    pub quarter: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_state: Option<String>,
}

/// `namespace/name` of a scorecard.
pub fn parse_scorecard(raw: Option<&str>) -> Result<String, QueryError> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            QueryError::BadRequest("scorecard is required (namespace/name of a Scorecard)".into())
        })?;
    match raw.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(raw.to_string())
        }
        _ => Err(QueryError::BadRequest(format!(
            "scorecard `{raw}` is not namespace/name, e.g. nexus-org/production-readiness"
        ))),
    }
}

/// A Team reference given as `team:<ns>/<name>` or `<ns>/<name>`.
pub fn parse_team(raw: &str) -> Result<EntityRef, QueryError> {
    EntityRef::parse(raw, EntityKind::Team, &[EntityKind::Team], "").map_err(|e| {
        QueryError::BadRequest(format!(
            "team `{raw}` is not a Team reference (team:namespace/name or namespace/name): {e}"
        ))
    })
}

pub fn parse_window(raw: Option<&str>) -> Result<Window, QueryError> {
    match raw.map(str::trim) {
        None | Some("month") => Ok(Window::Month),
        Some("day") => Ok(Window::Day),
        Some("week") => Ok(Window::Week),
        Some("quarter") => Ok(Window::Quarter),
        Some(other) => Err(QueryError::BadRequest(format!(
            "window `{other}` is not one of day, week, month, quarter"
        ))),
    }
}

/// `YYYY-MM-DD`, default `today`.
pub fn parse_date(raw: Option<&str>, name: &str, today: Date) -> Result<Date, QueryError> {
    match raw {
        None => Ok(today),
        Some(d) => d.trim().parse::<Date>().map_err(|e| {
            QueryError::BadRequest(format!("{name} `{d}` is not a date (YYYY-MM-DD): {e}"))
        }),
    }
}

/// An integer parameter within `[1, max]`.
pub fn parse_count(
    raw: Option<&str>,
    name: &str,
    default: u32,
    max: u32,
) -> Result<u32, QueryError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(QueryError::BadRequest(format!(
            "{name} `{raw}` must be a whole number from 1 to {max}"
        ))),
    }
}

pub fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// The owning Team of an entity, if a Team owns it.
fn team_of(e: &Entity) -> Option<&EntityRef> {
    e.owner.as_ref().filter(|o| o.kind == EntityKind::Team)
}

fn team_title(store: &Store, visibility: &Visibility, team: &EntityRef) -> String {
    store
        .get(team)
        .filter(|_| visibility.can_see(team))
        .map(|t| t.display_name().to_string())
        .unwrap_or_else(|| team.name.to_string())
}

fn scorecard_ref(cache: &Cache, id: &str) -> ScorecardRef {
    let sc = cache.read_scorecards();
    match sc.scorecard(id) {
        Some(info) => ScorecardRef {
            scorecard: id.to_string(),
            title: info.title.clone(),
            levels: info.levels.clone(),
        },
        None => ScorecardRef {
            scorecard: id.to_string(),
            title: id.rsplit('/').next().unwrap_or(id).to_string(),
            levels: Vec::new(),
        },
    }
}

/// A team the caller asked for: it must exist and be visible (hidden and missing look alike).
fn visible_team(
    store: &Store,
    visibility: &Visibility,
    raw: &str,
) -> Result<EntityRef, QueryError> {
    let team = parse_team(raw)?;
    store
        .get(&team)
        .filter(|_| visibility.can_see(&team))
        .map(|_| team.clone())
        .ok_or_else(|| QueryError::NotFound(format!("{team} not found")))
}

/// Org-wide heatmap: for every owning team (rows) and scorecard (columns), how the team's
/// visible entities stand.
pub fn heatmap(cache: &Cache, visibility: &Visibility) -> Heatmap {
    let store = cache.read();
    let mut rows: BTreeMap<Option<EntityRef>, BTreeMap<Arc<str>, Acc>> = BTreeMap::new();
    for e in store.with_scorecards() {
        if !visibility.can_see(&e.id) {
            continue;
        }
        let row = rows.entry(team_of(e).cloned()).or_default();
        for f in &e.scorecards {
            row.entry(f.scorecard.clone()).or_default().add_fact(f);
        }
    }
    let ids: BTreeSet<Arc<str>> = rows.values().flat_map(|r| r.keys().cloned()).collect();
    let scorecards: Vec<ScorecardRef> = ids.iter().map(|id| scorecard_ref(cache, id)).collect();
    let ladder = |id: &str| -> Vec<String> {
        scorecards
            .iter()
            .find(|s| s.scorecard == id)
            .map(|s| s.levels.clone())
            .unwrap_or_default()
    };
    let mut teams: Vec<HeatmapRow> = rows
        .into_iter()
        .map(|(team, cells)| HeatmapRow {
            title: match &team {
                Some(t) => team_title(&store, visibility, t),
                None => "No team".into(),
            },
            team: team.map(|t| t.to_string()),
            cells: cells
                .into_iter()
                .map(|(id, acc)| (id.to_string(), acc.finish(&ladder(&id))))
                .collect(),
        })
        .collect();
    teams.sort_by(|a, b| {
        a.team
            .is_none()
            .cmp(&b.team.is_none())
            .then_with(|| a.title.to_lowercase().cmp(&b.title.to_lowercase()))
            .then_with(|| a.team.cmp(&b.team))
    });
    Heatmap { scorecards, teams }
}

fn known_scorecard(cache: &Cache, store: &Store, id: &str) -> Result<(), QueryError> {
    let known = cache.read_scorecards().scorecard(id).is_some()
        || store
            .with_scorecards()
            .any(|e| e.scorecards.iter().any(|f| &*f.scorecard == id));
    if known {
        Ok(())
    } else {
        Err(QueryError::NotFound(format!(
            "scorecard {id} not found (no Scorecard of that name, and no entity has a result for it)"
        )))
    }
}

/// Teams ranked by the average score of their visible entities on one scorecard.
pub fn rankings(
    cache: &Cache,
    visibility: &Visibility,
    scorecard: &str,
) -> Result<Rankings, QueryError> {
    let store = cache.read();
    known_scorecard(cache, &store, scorecard)?;
    let mut per_team: BTreeMap<EntityRef, Acc> = BTreeMap::new();
    let mut scored: Vec<(u8, &Entity, &ScoreFact)> = Vec::new();
    for e in store.with_scorecards() {
        if !visibility.can_see(&e.id) {
            continue;
        }
        let Some(f) = e.scorecards.iter().find(|f| &*f.scorecard == scorecard) else {
            continue;
        };
        scored.push((f.score, e, f));
        if let Some(team) = team_of(e) {
            per_team.entry(team.clone()).or_default().add_fact(f);
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let ranked_entity = |(score, e, f): &(u8, &Entity, &ScoreFact)| RankedEntity {
        reference: e.id.to_string(),
        kind: e.id.kind.to_string(),
        title: e.display_name().to_string(),
        team: team_of(e).map(ToString::to_string),
        score: *score,
        level: f.level.as_deref().map(str::to_string),
        passed: f.passed,
    };
    let best: Vec<RankedEntity> = scored
        .iter()
        .take(ENTITY_RANKING_SIZE)
        .map(ranked_entity)
        .collect();
    let mut low: Vec<&(u8, &Entity, &ScoreFact)> = scored.iter().collect();
    low.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let needs_attention: Vec<RankedEntity> = low
        .into_iter()
        .take(ENTITY_RANKING_SIZE)
        .map(ranked_entity)
        .collect();
    let entities = EntityRankings {
        total: scored.len(),
        best,
        needs_attention,
    };
    let sc = scorecard_ref(cache, scorecard);
    let mut ranked: Vec<(EntityRef, Acc)> = per_team.into_iter().collect();
    let rate = |a: &Acc| (a.passed * 100).checked_div(a.entities).unwrap_or(0);
    ranked.sort_by(|(ta, a), (tb, b)| {
        b.mean()
            .total_cmp(&a.mean())
            .then_with(|| rate(b).cmp(&rate(a)))
            .then_with(|| ta.cmp(tb))
    });
    let mut teams: Vec<Ranked> = Vec::with_capacity(ranked.len());
    for (n, (team, acc)) in ranked.iter().enumerate() {
        // Competition ranking: ties share the rank of the first of them (1, 1, 3).
        let rank = match (n.checked_sub(1).map(|p| &ranked[p].1), teams.last()) {
            (Some(prev), Some(last)) if prev.mean() == acc.mean() && rate(prev) == rate(acc) => {
                last.rank
            }
            _ => n + 1,
        };
        teams.push(Ranked {
            rank,
            team: team.to_string(),
            title: team_title(&store, visibility, team),
            cell: acc.finish(&sc.levels),
        });
    }
    Ok(Rankings {
        scorecard: sc,
        teams,
        entities,
    })
}

/// Histogram of the scores of the visible entities (of one team, when given) on one scorecard.
pub fn distribution(
    cache: &Cache,
    visibility: &Visibility,
    scorecard: &str,
    team: Option<&str>,
) -> Result<Distribution, QueryError> {
    let store = cache.read();
    known_scorecard(cache, &store, scorecard)?;
    let team = team
        .map(|t| visible_team(&store, visibility, t))
        .transpose()?;
    let mut acc = Acc::default();
    let mut bins = vec![0u64; BINS];
    for e in store.with_scorecards() {
        if !visibility.can_see(&e.id) || team.as_ref().is_some_and(|t| team_of(e) != Some(t)) {
            continue;
        }
        if let Some(f) = e.scorecards.iter().find(|f| &*f.scorecard == scorecard) {
            acc.add_fact(f);
            bins[usize::from(f.score / 10).min(BINS - 1)] += 1;
        }
    }
    let sc = scorecard_ref(cache, scorecard);
    let cell = acc.finish(&sc.levels);
    Ok(Distribution {
        scorecard: sc,
        team: team.map(|t| t.to_string()),
        cell,
        bins: bins
            .into_iter()
            .enumerate()
            .map(|(n, entities)| {
                let from = u8::try_from(n * 10).unwrap_or(u8::MAX);
                Bin {
                    from,
                    to: if n == BINS - 1 { 100 } else { from + 9 },
                    entities,
                }
            })
            .collect(),
    })
}

/// Daily average score and level counts of the visible entities (of one team, by their
/// current owner, when given) from the ScorecardSnapshots of the last `days` days up to
/// `today`.
pub fn trends(
    cache: &Cache,
    visibility: &Visibility,
    scorecard: &str,
    team: Option<&str>,
    days: i32,
    today: Date,
) -> Result<ScoreTrend, QueryError> {
    let store = cache.read();
    let team = team
        .map(|t| visible_team(&store, visibility, t))
        .transpose()?;
    let sc = cache.read_scorecards();
    let max = sc.retention_days();
    if !(1..=max).contains(&days) {
        return Err(QueryError::BadRequest(format!(
            "days `{days}` must be from 1 to {max} (the snapshots kept, --insights-retention-days)"
        )));
    }
    let from = today.checked_sub((days - 1).days()).unwrap_or(Date::MIN);
    // Decide once per entity, not once per entity-day.
    let allowed: Vec<bool> = sc
        .entities()
        .iter()
        .map(|id| {
            visibility.can_see(id)
                && team.as_ref().is_none_or(|t| {
                    store
                        .get(id)
                        .and_then(|e| team_of(e))
                        .is_some_and(|owner| owner == t)
                })
        })
        .collect();
    let mut points = Vec::new();
    for (date, day) in sc.days(scorecard, from) {
        if date > today {
            break;
        }
        let mut acc = Acc::default();
        for entry in day.entries() {
            if !allowed.get(entry.entity as usize).copied().unwrap_or(false) {
                continue;
            }
            let level = usize::try_from(entry.level)
                .ok()
                .and_then(|l| day.levels.get(l));
            acc.add(entry.score, level, false);
        }
        let ladder: Vec<String> = day.levels.iter().map(|l| l.to_string()).collect();
        let cell = acc.finish(&ladder);
        points.push(TrendPoint {
            date,
            entities: cell.entities,
            average_score: cell.average_score,
            per_level: cell.per_level,
            no_level: cell.no_level,
        });
    }
    let snapshots_listed = sc.snapshots_listed;
    drop(sc);
    let scorecard_ref = scorecard_ref(cache, scorecard);
    if points.is_empty()
        && cache.read_scorecards().scorecard(scorecard).is_none()
        && snapshots_listed
    {
        return Err(QueryError::NotFound(format!(
            "scorecard {scorecard} not found (no Scorecard of that name, and no snapshot of it in the last {days} days)"
        )));
    }
    Ok(ScoreTrend {
        scorecard: scorecard_ref,
        team: team.map(|t| t.to_string()),
        days,
        from,
        snapshots_listed,
        points,
    })
}

/// The statuses a scope's metrics are computed from (visible Components only) and the engine
/// scope.
struct Resolved<'a> {
    name: String,
    scope: Scope,
    statuses: Vec<(String, &'a DoraStatus)>,
}

fn dora_of(e: &Entity) -> Option<&DoraStatus> {
    match &e.facts {
        KindFacts::Component(c) => c.dora.as_deref(),
        _ => None,
    }
}

fn visible_statuses<'a>(
    visibility: &Visibility,
    entities: impl Iterator<Item = &'a Arc<Entity>>,
) -> Vec<(String, &'a DoraStatus)> {
    entities
        .filter(|e| visibility.can_see(&e.id))
        .filter_map(|e| Some((e.id.to_string(), dora_of(e)?)))
        .collect()
}

fn resolve<'a>(
    store: &'a Store,
    visibility: &Visibility,
    scope: DoraScope,
    raw: Option<&str>,
) -> Result<Resolved<'a>, QueryError> {
    let raw = raw
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| QueryError::BadRequest("name is required".into()))?;
    let not_found =
        |what: &dyn std::fmt::Display| QueryError::NotFound(format!("{what} not found"));
    match scope {
        DoraScope::Service => {
            let id = EntityRef::parse(raw, EntityKind::Component, &[EntityKind::Component], "")
                .map_err(|e| {
                    QueryError::BadRequest(format!(
                        "name `{raw}` is not a Component reference (component:namespace/name or namespace/name): {e}"
                    ))
                })?;
            let e = store
                .get(&id)
                .filter(|_| visibility.can_see(&id))
                .ok_or_else(|| not_found(&id))?;
            Ok(Resolved {
                name: id.to_string(),
                scope: Scope::Service(id.to_string()),
                statuses: visible_statuses(visibility, std::iter::once(e)),
            })
        }
        DoraScope::Team => {
            let team = visible_team(store, visibility, raw)?;
            let name = team.to_string();
            Ok(Resolved {
                statuses: visible_statuses(visibility, store.dora_of_team(&name)),
                scope: Scope::Team(name.clone()),
                name,
            })
        }
        DoraScope::Person => {
            let person = person_name(store, visibility, raw)?;
            Ok(Resolved {
                statuses: visible_statuses(visibility, store.dora_of_person(&person)),
                scope: Scope::Person(person.clone()),
                name: person,
            })
        }
    }
}

/// A person as the DORA controller credits them: the User (by reference, or by name, email,
/// GitHub login or Entra object id), else the login as given. A User the caller may not see
/// is not found.
fn person_name(store: &Store, visibility: &Visibility, raw: &str) -> Result<String, QueryError> {
    let user = match raw.parse::<EntityRef>() {
        Ok(id) if id.kind == EntityKind::User => Some(
            store
                .get(&id)
                .filter(|_| visibility.can_see(&id))
                .ok_or_else(|| QueryError::NotFound(format!("{id} not found")))?,
        ),
        Ok(id) => {
            return Err(QueryError::BadRequest(format!(
                "name `{id}` is not a User reference or a login"
            )));
        }
        Err(_) => store.find_user(raw),
    };
    match user {
        Some(u) if visibility.can_see(&u.id) => Ok(u.id.to_string()),
        Some(u) => Err(QueryError::NotFound(format!("{} not found", u.id))),
        None => Ok(raw.to_string()),
    }
}

fn metrics(
    statuses: &[(String, &DoraStatus)],
    scope: &Scope,
    end: Date,
    window: Window,
) -> Result<Metrics, QueryError> {
    metrics_from_statuses(
        statuses.iter().map(|(s, st)| (s.as_str(), *st)),
        scope,
        end,
        window,
    )
    .map_err(|e| QueryError::Internal(e.to_string()))
}

/// DORA metrics of a service, team or person over one window ending at `end`.
pub fn dora(
    cache: &Cache,
    visibility: &Visibility,
    scope: DoraScope,
    name: Option<&str>,
    window: Window,
    end: Date,
) -> Result<DoraAnswer, QueryError> {
    let store = cache.read();
    let r = resolve(&store, visibility, scope, name)?;
    Ok(DoraAnswer {
        scope,
        metrics: metrics(&r.statuses, &r.scope, end, window)?,
        services: r.statuses.len(),
        name: r.name,
    })
}

/// Weekly DORA metrics of a service, team or person: `weeks` consecutive 7-day windows, the
/// last ending at `end`.
pub fn dora_trend(
    cache: &Cache,
    visibility: &Visibility,
    scope: DoraScope,
    name: Option<&str>,
    weeks: u32,
    end: Date,
) -> Result<DoraTrend, QueryError> {
    let store = cache.read();
    let r = resolve(&store, visibility, scope, name)?;
    let mut points = Vec::with_capacity(weeks as usize);
    for n in (0..weeks).rev() {
        let Ok(week_end) = end.checked_sub((i64::from(n) * 7).days()) else {
            continue;
        };
        points.push(metrics(&r.statuses, &r.scope, week_end, Window::Week)?);
    }
    Ok(DoraTrend {
        scope,
        services: r.statuses.len(),
        weeks,
        points,
        name: r.name,
    })
}

/// The personal DORA section of the dashboard: the deployments the person started, over the
/// services the caller may see.
pub fn personal(store: &Store, visibility: &Visibility, person: &str, end: Date) -> PersonalDora {
    let statuses = visible_statuses(visibility, store.dora_of_person(person));
    let scope = Scope::Person(person.to_string());
    // The cache keeps only statuses whose dates parse, so this cannot fail; should it, the
    // section shows nothing rather than a partial figure.
    let window = |w| {
        metrics_from_statuses(
            statuses.iter().map(|(s, st)| (s.as_str(), *st)),
            &scope,
            end,
            w,
        )
        .unwrap_or_else(|_| {
            nexus_dora::batch(
                &nexus_dora::Config::default(),
                std::iter::empty::<&nexus_dora::Event>(),
                &scope,
                end,
                w,
            )
        })
    };
    let (week, month, quarter) = (
        window(Window::Week),
        window(Window::Month),
        window(Window::Quarter),
    );
    let empty_state = (quarter.deployments == 0).then(|| {
        format!(
            "No production deployments started by {person} in the last 90 days on services you can see. They are counted from the deployments GitHub and Azure DevOps report (the creator must match your User's name, email or GitHub login)."
        )
    });
    PersonalDora {
        person: person.to_string(),
        services: statuses.len(),
        week,
        month,
        quarter,
        empty_state,
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use serde_json::{Value, json};

    use super::*;
    use crate::query::fixtures::{object, org};

    /// The fixture org plus scorecard results, DORA buckets, a Scorecard and two days of
    /// snapshots:
    ///
    /// | entity | team | org/prod-ready | org/security |
    /// |---|---|---|---|
    /// | component:pay/checkout | payments | 80 Silver passed | 100 Gold passed |
    /// | component:pay/ledger | payments | 40 Bronze | — |
    /// | component:web/storefront | web | 95 Gold passed | — |
    fn cache() -> Arc<Cache> {
        let cache = org();
        let result = |sc: &str, score: u8, level: Option<&str>, passed: bool| {
            json!({"scorecard": sc, "score": score, "level": level, "passed": passed,
                "rulesPassed": 1, "rulesTotal": 1, "evaluatedAt": "2024-03-31T00:00:00Z"})
        };
        let with = |mut obj: Value, scorecards: Value, dora: Option<Value>| {
            obj["status"]["scorecards"] = scorecards;
            if let Some(d) = dora {
                obj["status"]["dora"] = d;
            }
            obj["metadata"]["resourceVersion"] = json!("2");
            obj
        };
        use EntityKind::*;
        let pay = Some("team:pay/payments");
        cache.apply(
            Component,
            with(
                object(
                    Component,
                    "pay",
                    "checkout",
                    json!({"type": "service"}),
                    pay,
                    &[],
                ),
                json!([
                    result("org/prod-ready", 80, Some("Silver"), true),
                    result("org/security", 100, Some("Gold"), true)
                ]),
                // 2024-03-20: alice deployed twice, one failed; lead times 1 h and 2 h; one
                // incident resolved in 30 min.
                Some(
                    json!({"days": [{"date": "2024-03-20", "team": "team:pay/payments",
                    "person": "user:org/alice", "deployments": 2, "failedDeployments": 1,
                    "incidents": 1, "leadTimes": [3600, 7200], "recoveries": [1800]}]}),
                ),
            ),
        );
        cache.apply(
            Component,
            with(
                object(
                    Component,
                    "pay",
                    "ledger",
                    json!({"type": "service"}),
                    pay,
                    &[],
                ),
                json!([result("org/prod-ready", 40, Some("Bronze"), false)]),
                // 2024-03-25: bob (no User) deployed once; lead time 10 min.
                Some(
                    json!({"days": [{"date": "2024-03-25", "team": "team:pay/payments",
                    "person": "bob-gh", "deployments": 1, "leadTimes": [600]}]}),
                ),
            ),
        );
        cache.apply(
            Component,
            with(
                object(
                    Component,
                    "web",
                    "storefront",
                    json!({"type": "website"}),
                    Some("team:web/web"),
                    &[],
                ),
                json!([result("org/prod-ready", 95, Some("Gold"), true)]),
                None,
            ),
        );
        let today = date(2024, 3, 31);
        let mut sc = cache.write_scorecards();
        sc.apply_scorecard(
            &json!({"metadata": {"name": "prod-ready", "namespace": "org"},
            "spec": {"title": "Production Readiness", "levels": ["Bronze", "Silver", "Gold"]}}),
        );
        for (day, entities) in [
            (
                "2024-03-30",
                json!({"component:pay/checkout": [70, 1], "component:web/storefront": [90, 2]}),
            ),
            (
                "2024-03-31",
                json!({"component:pay/checkout": [80, 1], "component:pay/ledger": [40, 0],
                "component:web/storefront": [95, 2]}),
            ),
        ] {
            sc.apply_snapshot(
                &json!({"metadata": {"name": format!("prod-ready-{day}-0"), "namespace": "org"},
                    "spec": {"scorecard": "prod-ready", "date": day, "levels": ["Bronze", "Silver", "Gold"],
                        "entities": entities}}),
                today,
            );
        }
        drop(sc);
        cache
    }

    fn pay_only() -> Visibility {
        Visibility::namespaces([(EntityKind::Team, "pay"), (EntityKind::Component, "pay")])
    }

    fn levels(cell: &Cell) -> Vec<(String, u64)> {
        cell.per_level
            .iter()
            .map(|l| (l.level.clone(), l.entities))
            .collect()
    }

    #[test]
    fn heatmap_rows_are_teams_and_cells_their_visible_entities() {
        let cache = cache();
        let h = heatmap(&cache, &Visibility::everything());
        let columns: Vec<&str> = h.scorecards.iter().map(|s| s.scorecard.as_str()).collect();
        assert_eq!(columns, ["org/prod-ready", "org/security"]);
        assert_eq!(h.scorecards[0].title, "Production Readiness");
        let rows: Vec<(Option<&str>, &str)> = h
            .teams
            .iter()
            .map(|r| (r.team.as_deref(), r.title.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (Some("team:pay/payments"), "Payments"),
                (Some("team:web/web"), "Web")
            ]
        );
        // Payments on prod-ready: 80 and 40 → 60.0; one passed of two → 50 %.
        let pay = &h.teams[0].cells["org/prod-ready"];
        assert_eq!((pay.entities, pay.passed, pay.pass_rate), (2, 1, 50));
        assert_eq!(pay.average_score, 60.0);
        assert_eq!(
            levels(pay),
            [
                ("Bronze".into(), 1),
                ("Silver".into(), 1),
                ("Gold".into(), 0)
            ]
        );
        assert_eq!(h.teams[0].cells["org/security"].entities, 1);
        assert!(!h.teams[1].cells.contains_key("org/security"));

        let limited = heatmap(&cache, &pay_only());
        assert_eq!(
            limited.teams.len(),
            1,
            "web's namespace is hidden: no Web row"
        );
        assert_eq!(limited.teams[0].team.as_deref(), Some("team:pay/payments"));
    }

    #[test]
    fn rankings_and_distribution() {
        let cache = cache();
        let all = Visibility::everything();
        let r = rankings(&cache, &all, "org/prod-ready").unwrap();
        let order: Vec<(usize, &str, f64)> = r
            .teams
            .iter()
            .map(|t| (t.rank, t.team.as_str(), t.cell.average_score))
            .collect();
        assert_eq!(
            order,
            [(1, "team:web/web", 95.0), (2, "team:pay/payments", 60.0)]
        );
        // Entities at both ends: 95, 80, 40 best first; 40 first where attention is needed.
        let scores = |v: &[RankedEntity]| v.iter().map(|e| e.score).collect::<Vec<_>>();
        assert_eq!(r.entities.total, 3);
        assert_eq!(scores(&r.entities.best), [95, 80, 40]);
        assert_eq!(scores(&r.entities.needs_attention), [40, 80, 95]);
        let limited = rankings(&cache, &pay_only(), "org/prod-ready").unwrap();
        assert_eq!(limited.teams.len(), 1);
        assert!(
            limited
                .entities
                .best
                .iter()
                .all(|e| e.reference.contains(":pay/")),
            "hidden entities are not ranked"
        );
        assert_eq!(limited.teams[0].rank, 1);
        assert!(matches!(
            rankings(&cache, &all, "org/nope"),
            Err(QueryError::NotFound(_))
        ));

        // 40 → bin 40–49, 80 → 80–89, 95 → 90–100; mean 215 / 3 = 71.7.
        let d = distribution(&cache, &all, "org/prod-ready", None).unwrap();
        let filled: Vec<(u8, u8, u64)> = d
            .bins
            .iter()
            .filter(|b| b.entities > 0)
            .map(|b| (b.from, b.to, b.entities))
            .collect();
        assert_eq!(filled, [(40, 49, 1), (80, 89, 1), (90, 100, 1)]);
        assert_eq!(d.bins.len(), 10);
        assert_eq!(d.cell.average_score, 71.7);
        assert_eq!((d.cell.passed, d.cell.pass_rate), (2, 66));
        let web = distribution(&cache, &all, "org/prod-ready", Some("web/web")).unwrap();
        assert_eq!(web.cell.entities, 1);
        assert!(matches!(
            distribution(&cache, &pay_only(), "org/prod-ready", Some("team:web/web")),
            Err(QueryError::NotFound(_))
        ));
        assert!(parse_scorecard(Some("prod-ready")).is_err());
        assert!(parse_scorecard(None).is_err());
    }

    #[test]
    fn trends_come_from_the_snapshots_of_visible_entities() {
        let cache = cache();
        let today = date(2024, 3, 31);
        let t = trends(
            &cache,
            &Visibility::everything(),
            "org/prod-ready",
            None,
            7,
            today,
        )
        .unwrap();
        let points: Vec<(Date, u64, f64)> = t
            .points
            .iter()
            .map(|p| (p.date, p.entities, p.average_score))
            .collect();
        // 03-30: 70, 90 → 80.0; 03-31: 80, 40, 95 → 71.7.
        assert_eq!(
            points,
            [(date(2024, 3, 30), 2, 80.0), (date(2024, 3, 31), 3, 71.7)]
        );
        let team = trends(
            &cache,
            &Visibility::everything(),
            "org/prod-ready",
            Some("pay/payments"),
            7,
            today,
        )
        .unwrap();
        let avg: Vec<(u64, f64)> = team
            .points
            .iter()
            .map(|p| (p.entities, p.average_score))
            .collect();
        assert_eq!(avg, [(1, 70.0), (2, 60.0)]);
        let limited = trends(&cache, &pay_only(), "org/prod-ready", None, 7, today).unwrap();
        assert_eq!(limited.points[1].entities, 2, "storefront is hidden");
        let one_day = trends(
            &cache,
            &Visibility::everything(),
            "org/prod-ready",
            None,
            1,
            today,
        )
        .unwrap();
        assert_eq!(one_day.points.len(), 1);
        assert!(matches!(
            trends(
                &cache,
                &Visibility::everything(),
                "org/prod-ready",
                None,
                9999,
                today
            ),
            Err(QueryError::BadRequest(_))
        ));
    }

    #[test]
    fn dora_of_a_team_a_person_and_a_service_with_tiers() {
        let cache = cache();
        let all = Visibility::everything();
        let end = date(2024, 3, 31);
        // Team payments over the month: 3 deployments (0.1 a day: medium), 1 failed (33 %:
        // low), lead times 600, 3600, 7200 → 3600 (elite), recovery 1800 (elite).
        let team = dora(
            &cache,
            &all,
            DoraScope::Team,
            Some("pay/payments"),
            Window::Month,
            end,
        )
        .unwrap();
        assert_eq!(team.name, "team:pay/payments");
        assert_eq!(team.services, 2);
        let m = &team.metrics;
        assert_eq!(
            (m.deployments, m.failed_deployments, m.incidents),
            (3, 1, 1)
        );
        assert_eq!(m.lead_time_seconds, Some(3600.0));
        assert_eq!(m.recovery_time_seconds, Some(1800.0));
        let tiers = serde_json::to_value(m.tiers).unwrap();
        assert_eq!(
            tiers,
            json!({"deploymentFrequency": "medium", "leadTime": "elite", "changeFailureRate": "low", "recoveryTime": "elite"})
        );
        // alice, found by her email: the User reference the controller credits.
        let alice = dora(
            &cache,
            &all,
            DoraScope::Person,
            Some("alice@contoso.com"),
            Window::Month,
            end,
        )
        .unwrap();
        assert_eq!(alice.name, "user:org/alice");
        assert_eq!(alice.metrics.deployments, 2);
        // bob has no User: his login as the deployments name him.
        let bob = dora(
            &cache,
            &all,
            DoraScope::Person,
            Some("bob-gh"),
            Window::Week,
            end,
        )
        .unwrap();
        assert_eq!(bob.metrics.deployments, 1);
        let service = dora(
            &cache,
            &all,
            DoraScope::Service,
            Some("pay/ledger"),
            Window::Quarter,
            end,
        )
        .unwrap();
        assert_eq!(service.metrics.deployments, 1);
        // A week before the ledger deployment: nothing, tiers unknown.
        let early = dora(
            &cache,
            &all,
            DoraScope::Service,
            Some("pay/ledger"),
            Window::Week,
            date(2024, 3, 21),
        )
        .unwrap();
        assert_eq!(early.metrics.deployments, 0);
        assert_eq!(
            serde_json::to_value(early.metrics.tiers.deployment_frequency).unwrap(),
            "unknown"
        );

        // Hidden team and service are not found; a service in a visible namespace is.
        let web_only =
            Visibility::namespaces([(EntityKind::Component, "web"), (EntityKind::Team, "web")]);
        assert!(matches!(
            dora(
                &cache,
                &web_only,
                DoraScope::Team,
                Some("pay/payments"),
                Window::Month,
                end
            ),
            Err(QueryError::NotFound(_))
        ));
        assert!(matches!(
            dora(
                &cache,
                &web_only,
                DoraScope::Service,
                Some("pay/checkout"),
                Window::Month,
                end
            ),
            Err(QueryError::NotFound(_))
        ));
        // A person's figures only count the services the caller sees.
        let bob_hidden = dora(
            &cache,
            &web_only,
            DoraScope::Person,
            Some("bob-gh"),
            Window::Week,
            end,
        )
        .unwrap();
        assert_eq!(
            (bob_hidden.services, bob_hidden.metrics.deployments),
            (0, 0)
        );
        assert!(matches!(
            dora(&cache, &all, DoraScope::Service, None, Window::Week, end),
            Err(QueryError::BadRequest(_))
        ));
    }

    #[test]
    fn dora_trend_is_weekly_and_ends_on_the_end_date() {
        let cache = cache();
        let t = dora_trend(
            &cache,
            &Visibility::everything(),
            DoraScope::Team,
            Some("team:pay/payments"),
            3,
            date(2024, 3, 31),
        )
        .unwrap();
        let weeks: Vec<(Date, Date, u32)> = t
            .points
            .iter()
            .map(|m| (m.start, m.end, m.deployments))
            .collect();
        // 03-11..03-17: 0; 03-18..03-24: 2 (03-20); 03-25..03-31: 1 (03-25).
        assert_eq!(
            weeks,
            [
                (date(2024, 3, 11), date(2024, 3, 17), 0),
                (date(2024, 3, 18), date(2024, 3, 24), 2),
                (date(2024, 3, 25), date(2024, 3, 31), 1)
            ]
        );
    }

    #[test]
    fn the_dashboard_shows_the_users_own_dora() {
        let cache = cache();
        let user = crate::authn::UserInfo {
            username: "alice@contoso.com".into(),
            ..Default::default()
        };
        let d = crate::query::dashboard::build_at(
            &cache,
            &Visibility::everything(),
            &user,
            date(2024, 3, 31),
        );
        assert_eq!(d.my_dora.person, "user:org/alice");
        assert_eq!(d.my_dora.month.deployments, 2);
        assert_eq!(d.my_dora.week.deployments, 0);
        assert!(d.my_dora.empty_state.is_none());
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["myDora"]["quarter"]["deployments"], 2);
        assert!(v["myServices"].is_object(), "existing sections stay");
    }
}
