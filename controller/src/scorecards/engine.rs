//! The scorecard engine's state and decisions, without any I/O: what the watches delivered
//! (entities, scorecards), what needs evaluating, each entity's results, and what must be
//! written (entity results, Scorecard status, snapshots). The controller loop (`mod.rs`) feeds
//! it watch events and carries out the writes it returns; unit tests drive it directly.
//!
//! Writes happen only on change: an entity's results are compared with what is stored (the
//! evaluation time aside), a Scorecard's status with what it holds. The entity's own
//! `status.scorecards` never counts as a change of the entity (it is this controller's output),
//! so writing results never triggers another evaluation.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use nexus_api::{
    EntityKind, EntityRef,
    conditions::{self, NewCondition, TRUE},
    integrations::common::parse_duration,
    scorecards::{
        Distribution, RuleErrorStatus, Scorecard, ScorecardResult, ScorecardSnapshotSpec,
        ScorecardStatus, scorecard::condition,
    },
    status::MAX_SCORECARD_RESULTS,
};
use nexus_scorecards::{
    Compiled, DistributionBuilder, Input, RuleError, applies, compile_conditions,
    compile_scorecard, evaluate_activation,
};
use serde_json::Value;

use super::{clock::day_of, metrics::ScorecardMetrics};

/// Relations the engine always hands to rules, whatever the expressions mention: the facts
/// the catalog derives (`nexus_scorecards::facts`) read them.
const FACT_RELATIONS: [&str; 2] = ["hasRepository", "dependsOn"];

/// Most compile errors kept in `status.ruleErrors` (the CRD's bound).
const MAX_RULE_ERRORS: usize = 100;

/// Default `spec.sweepInterval` when the stored value does not parse (the CRD validates the
/// pattern, so only a hand-made object gets here).
const DEFAULT_SWEEP: Duration = Duration::from_secs(3600);

/// A catalog entity as the engine keeps it.
#[derive(Debug)]
struct Entity {
    /// The object as rules see it (managed fields, the last-applied annotation, the
    /// resourceVersion and `status.scorecards` removed), as compact JSON text: parsed when
    /// evaluated. A parsed `Value` takes several times the memory of its text, and the engine
    /// holds every catalog entity.
    json: Arc<str>,
    /// Hash of `json`: a new value means the entity changed.
    fingerprint: u64,
    /// `status.relations`: (relation type, target).
    relations: Vec<(String, EntityRef)>,
    /// What `status.scorecards` holds in the cluster (as last read or written); None when
    /// unknown (after a failed write), which forces the next write.
    /// (A hash of it: comparing is all it is for, and the results themselves are in
    /// `results`; a second copy would double the engine's largest memory cost.)
    stored: Option<u64>,
    /// The current result per scorecard (`namespace/name`), including any beyond the
    /// per-entity limit that cannot be stored.
    results: BTreeMap<String, ScorecardResult>,
    /// Watch events in a row whose stored results differed from the current ones. Each one
    /// triggers a re-check (the event may predate our last write, or someone else wrote);
    /// the count stops a loop should the stored form never match.
    mismatches: u8,
}

/// Re-checks in a row after stored results that differ from the current ones.
const MAX_MISMATCHES: u8 = 3;

/// A Scorecard as the engine keeps it.
#[derive(Debug)]
struct Card {
    namespace: String,
    name: String,
    generation: Option<i64>,
    /// None when this generation does not compile: the scorecard is then not evaluated and
    /// entities keep their previous results (from an older generation, which no gate accepts).
    compiled: Option<Arc<Compiled>>,
    errors: Vec<RuleError>,
    kinds: Vec<EntityKind>,
    /// Relation types the expressions read; None: they read `relations` as a whole.
    relations_used: Option<BTreeSet<String>>,
    sweep: Duration,
    next_sweep: Option<Instant>,
    /// The status as last read from the cluster or written.
    status: Option<ScorecardStatus>,
    /// Entities whose filter failed since the last full evaluation, and one example.
    filter_errors: u64,
    filter_error_sample: Option<String>,
    /// When every entity was last evaluated against this generation.
    full_eval_at: Option<Timestamp>,
    /// The (clock) day of that evaluation and of the last snapshot written.
    full_eval_day: Option<String>,
    snapshot_day: Option<String>,
}

/// Which scorecards an entity is evaluated against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every scorecard (the entity changed).
    All,
    /// These scorecards (they changed, or their sweep is due).
    Only(Vec<String>),
}

/// New results for one entity: the whole list this controller owns in its status.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityWrite {
    pub entity: EntityRef,
    pub results: Vec<ScorecardResult>,
}

/// A Scorecard status to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusWrite {
    pub namespace: String,
    pub name: String,
    pub status: ScorecardStatus,
}

/// The day's snapshot objects of one scorecard.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotWrite {
    pub namespace: String,
    pub scorecard: String,
    pub date: String,
    pub specs: Vec<ScorecardSnapshotSpec>,
}

/// What compiling a Scorecard generation gave (for logs and metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compile {
    /// Same generation as before: nothing to do.
    Unchanged,
    Compiled,
    Failed(Vec<String>),
}

/// The engine. All methods are synchronous and fast enough to run between awaits, except
/// [`Engine::evaluate`], which callers run in chunks.
#[derive(Default)]
pub struct Engine {
    entities: HashMap<EntityRef, Entity>,
    cards: BTreeMap<String, Card>,
    dirty_entities: HashSet<EntityRef>,
    dirty_cards: BTreeSet<String>,
    /// Scorecards whose distribution may have changed.
    status_dirty: BTreeSet<String>,
    /// Scorecards evaluated against every entity in the batch under way.
    batch_full: BTreeSet<String>,
    /// Entities listed during a relist of their kind (deletions missed while the watch was
    /// down are the ones not listed again).
    relisting: HashMap<EntityKind, HashSet<EntityRef>>,
    relisting_cards: Option<HashSet<String>>,
    today: Option<String>,
    metrics: Option<ScorecardMetrics>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("entities", &self.entities.len())
            .field("scorecards", &self.cards.len())
            .field("dirty_entities", &self.dirty_entities.len())
            .field("dirty_scorecards", &self.dirty_cards)
            .finish_non_exhaustive()
    }
}

/// `namespace/name` of a Scorecard, as results name it.
pub fn scorecard_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A timestamp cut to whole seconds: Kubernetes stores times with second precision, and a
/// value compared with its stored copy must round-trip unchanged.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

impl Engine {
    pub fn new(metrics: Option<ScorecardMetrics>) -> Self {
        Engine {
            metrics,
            ..Default::default()
        }
    }

    /// Entities waiting for evaluation (dirty ones, not counting scorecard-wide work).
    pub fn pending(&self) -> usize {
        self.dirty_entities.len()
    }

    /// Whether a batch has work to do at `now` (dirty entities or scorecards, a due sweep).
    pub fn has_work(&self, now: Instant) -> bool {
        !self.dirty_entities.is_empty()
            || !self.dirty_cards.is_empty()
            || !self.status_dirty.is_empty()
            || self.cards.values().any(|c| sweep_due(c, now))
    }

    /// The earliest sweep still to come, for the loop's timer.
    pub fn next_sweep(&self) -> Option<Instant> {
        self.cards
            .values()
            .filter(|c| c.compiled.is_some())
            .filter_map(|c| c.next_sweep)
            .min()
    }

    // --- watch events: entities ---------------------------------------------------------

    /// An entity was added or changed.
    pub fn apply_entity(&mut self, kind: EntityKind, obj: Value) {
        let Some(parsed) = parse_entity(kind, obj) else {
            return;
        };
        let Parsed {
            key,
            json,
            fingerprint,
            relations,
            stored,
        } = parsed;
        if let Some(seen) = self.relisting.get_mut(&kind) {
            seen.insert(key.clone());
        }
        match self.entities.get_mut(&key) {
            Some(e) => {
                let desired: Vec<ScorecardResult> = e
                    .results
                    .values()
                    .take(MAX_SCORECARD_RESULTS)
                    .cloned()
                    .collect();
                let stored = results_hash(&stored);
                let matches = stored == results_hash(&desired);
                e.stored = Some(stored);
                if matches {
                    e.mismatches = 0;
                } else if e.mismatches < MAX_MISMATCHES {
                    // What the cluster holds is not what this engine computed: an event from
                    // before our last write, or another writer. Look again (a write follows
                    // only if the stored results really are out of date).
                    e.mismatches += 1;
                    self.dirty_entities.insert(key.clone());
                } else if e.mismatches == MAX_MISMATCHES {
                    e.mismatches += 1;
                    tracing::warn!(entity = %key, "stored scorecard results keep differing from the computed ones; not rewriting them until the entity changes");
                }
                if e.fingerprint == fingerprint {
                    // Only its scorecard results (our own write) or its resourceVersion moved.
                    return;
                }
                let mut affected: Vec<EntityRef> =
                    e.relations.iter().map(|(_, t)| t.clone()).collect();
                affected.extend(relations.iter().map(|(_, t)| t.clone()));
                e.json = json;
                e.fingerprint = fingerprint;
                e.relations = relations;
                e.mismatches = 0;
                self.dirty_entities.insert(key);
                self.dirty_entities.extend(affected);
            }
            None => {
                let affected: Vec<EntityRef> = relations.iter().map(|(_, t)| t.clone()).collect();
                let results = stored
                    .iter()
                    .map(|r| (r.scorecard.clone(), r.clone()))
                    .collect();
                self.entities.insert(
                    key.clone(),
                    Entity {
                        json,
                        fingerprint,
                        relations,
                        stored: Some(results_hash(&stored)),
                        results,
                        mismatches: 0,
                    },
                );
                self.dirty_entities.insert(key);
                self.dirty_entities.extend(affected);
            }
        }
    }

    /// An entity was deleted: its results go with it; whoever related to it is re-evaluated.
    pub fn delete_entity(&mut self, key: &EntityRef) {
        if let Some(e) = self.entities.remove(key) {
            for scorecard in e.results.keys() {
                self.status_dirty.insert(scorecard.clone());
            }
            self.dirty_entities
                .extend(e.relations.into_iter().map(|(_, t)| t));
        }
        self.dirty_entities.remove(key);
    }

    /// A watch of `kind` (re)lists: entities not listed again by [`Engine::end_relist`] were
    /// deleted meanwhile.
    pub fn begin_relist(&mut self, kind: EntityKind) {
        self.relisting.insert(kind, HashSet::new());
    }

    pub fn end_relist(&mut self, kind: EntityKind) {
        let Some(seen) = self.relisting.remove(&kind) else {
            return;
        };
        let gone: Vec<EntityRef> = self
            .entities
            .keys()
            .filter(|k| k.kind == kind && !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            self.delete_entity(&k);
        }
    }

    // --- watch events: scorecards -------------------------------------------------------

    /// A Scorecard was added or changed: a new generation is compiled (once) and every entity
    /// is evaluated against it; a status-only change just updates what the engine compares
    /// against.
    pub fn apply_scorecard(&mut self, sc: &Scorecard, now: Instant) -> Compile {
        let (Some(namespace), Some(name)) = (&sc.metadata.namespace, &sc.metadata.name) else {
            return Compile::Unchanged;
        };
        let key = scorecard_key(namespace, name);
        if let Some(seen) = self.relisting_cards.as_mut() {
            seen.insert(key.clone());
        }
        let generation = sc.metadata.generation;
        if let Some(card) = self.cards.get_mut(&key)
            && card.generation == generation
        {
            card.status = sc.status.clone();
            return Compile::Unchanged;
        }
        let outcome = compile_scorecard(sc);
        let sweep = parse_duration(&sc.spec.sweep_interval)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_SWEEP);
        let kinds = sc
            .spec
            .applies_to
            .kinds
            .iter()
            .filter_map(|k| EntityKind::ALL.into_iter().find(|e| e.as_str() == k))
            .collect();
        let mut expressions: Vec<&str> = sc
            .spec
            .rules
            .iter()
            .map(|r| r.expression.as_str())
            .collect();
        expressions.extend(sc.spec.applies_to.filter.as_deref());
        let (compiled, errors, result) = match outcome {
            Ok(c) => (Some(Arc::new(c)), Vec::new(), Compile::Compiled),
            Err(errors) => {
                if let Some(m) = &self.metrics {
                    m.compile_failures.with_label_values(&[&key]).inc();
                }
                let shown = errors.iter().map(ToString::to_string).collect();
                (None, errors, Compile::Failed(shown))
            }
        };
        let previous = self.cards.remove(&key);
        let card = Card {
            namespace: namespace.clone(),
            name: name.clone(),
            generation,
            compiled,
            errors,
            kinds,
            relations_used: relations_used(&expressions),
            sweep,
            next_sweep: Some(now + sweep),
            // The object's status, or (before the watch brings it) the one last written.
            status: sc
                .status
                .clone()
                .or_else(|| previous.as_ref().and_then(|p| p.status.clone())),
            filter_errors: 0,
            filter_error_sample: None,
            full_eval_at: previous.as_ref().and_then(|p| p.full_eval_at),
            full_eval_day: None,
            snapshot_day: previous.and_then(|p| p.snapshot_day),
        };
        if card.compiled.is_some() {
            self.dirty_cards.insert(key.clone());
        }
        self.status_dirty.insert(key.clone());
        self.cards.insert(key, card);
        result
    }

    /// A Scorecard was deleted: its results are removed from every entity.
    pub fn delete_scorecard(&mut self, namespace: &str, name: &str) {
        let key = scorecard_key(namespace, name);
        self.cards.remove(&key);
        self.dirty_cards.remove(&key);
        self.status_dirty.remove(&key);
        for (r, e) in &self.entities {
            // `results` holds every stored entry (it starts from them), so it is enough to look.
            if e.results.contains_key(&key) {
                self.dirty_entities.insert(r.clone());
            }
        }
    }

    pub fn begin_relist_scorecards(&mut self) {
        self.relisting_cards = Some(HashSet::new());
    }

    pub fn end_relist_scorecards(&mut self) {
        let Some(seen) = self.relisting_cards.take() else {
            return;
        };
        let gone: Vec<(String, String)> = self
            .cards
            .iter()
            .filter(|(k, _)| !seen.contains(*k))
            .map(|(_, c)| (c.namespace.clone(), c.name.clone()))
            .collect();
        for (ns, name) in gone {
            self.delete_scorecard(&ns, &name);
        }
    }

    // --- the clock ------------------------------------------------------------------------

    /// Sets the (clock) day. A new day re-evaluates everything with the new `now` (rules may
    /// read it), after which the day's snapshots are taken. Returns whether the day changed.
    pub fn set_today(&mut self, today: &str) -> bool {
        if self.today.as_deref() == Some(today) {
            return false;
        }
        self.today = Some(today.to_string());
        for (k, c) in &self.cards {
            if c.compiled.is_some() {
                self.dirty_cards.insert(k.clone());
            }
        }
        true
    }

    // --- evaluation ----------------------------------------------------------------------

    /// Starts a batch: what to evaluate, and against which scorecards. Due sweeps join in.
    pub fn plan(&mut self, now: Instant) -> Vec<(EntityRef, Which)> {
        let due: Vec<String> = self
            .cards
            .iter()
            .filter(|(_, c)| sweep_due(c, now))
            .map(|(k, _)| k.clone())
            .collect();
        self.dirty_cards.extend(due);
        let full: Vec<String> = std::mem::take(&mut self.dirty_cards)
            .into_iter()
            .filter(|k| self.cards.get(k).is_some_and(|c| c.compiled.is_some()))
            .collect();
        for k in &full {
            if let Some(c) = self.cards.get_mut(k) {
                c.filter_errors = 0;
                c.filter_error_sample = None;
                c.next_sweep = Some(now + c.sweep);
            }
        }
        self.batch_full = full.iter().cloned().collect();
        let dirty = std::mem::take(&mut self.dirty_entities);
        let mut items = Vec::new();
        if full.is_empty() {
            // Only changed entities: no need to look at the others.
            items.extend(
                dirty
                    .into_iter()
                    .filter(|r| self.entities.contains_key(r))
                    .map(|r| (r, Which::All)),
            );
            items.sort_by(|a, b| a.0.cmp(&b.0));
            return items;
        }
        for (r, e) in &self.entities {
            if dirty.contains(r) {
                items.push((r.clone(), Which::All));
                continue;
            }
            let relevant: Vec<String> = full
                .iter()
                .filter(|k| {
                    e.results.contains_key(*k)
                        || self
                            .cards
                            .get(*k)
                            .is_some_and(|c| c.kinds.contains(&r.kind))
                })
                .cloned()
                .collect();
            if !relevant.is_empty() {
                items.push((r.clone(), Which::Only(relevant)));
            }
        }
        // A stable order keeps logs and tests readable.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }

    /// Evaluates one entity of the batch; returns its results when they differ from what is
    /// stored.
    pub fn evaluate(
        &mut self,
        key: &EntityRef,
        which: &Which,
        now: Timestamp,
    ) -> Option<EntityWrite> {
        let now = whole_seconds(now);
        let (new_results, changed_cards, filter_failures) = self.compute(key, which, now)?;
        for k in &changed_cards {
            self.status_dirty.insert(k.clone());
        }
        for (k, message) in filter_failures {
            if let Some(c) = self.cards.get_mut(&k) {
                c.filter_errors += 1;
                if c.filter_error_sample.is_none() {
                    c.filter_error_sample = Some(message);
                }
                self.status_dirty.insert(k);
            }
        }
        let e = self.entities.get_mut(key)?;
        e.results = new_results;
        let desired: Vec<ScorecardResult> = e
            .results
            .values()
            .take(MAX_SCORECARD_RESULTS)
            .cloned()
            .collect();
        let hash = results_hash(&desired);
        if e.stored == Some(hash) {
            if let Some(m) = &self.metrics {
                m.result_writes_skipped.inc();
            }
            return None;
        }
        e.stored = Some(hash);
        Some(EntityWrite {
            entity: key.clone(),
            results: desired,
        })
    }

    /// The entity's results after evaluating `which`, the scorecards whose result for it
    /// changed, and the scorecards whose filter failed on it (with the message).
    #[allow(clippy::type_complexity)]
    fn compute(
        &self,
        key: &EntityRef,
        which: &Which,
        now: Timestamp,
    ) -> Option<(
        BTreeMap<String, ScorecardResult>,
        Vec<String>,
        Vec<(String, String)>,
    )> {
        let e = self.entities.get(key)?;
        let keys: Vec<&String> = match which {
            Which::All => self.cards.keys().collect(),
            Which::Only(k) => k.iter().collect(),
        };
        let mut results = e.results.clone();
        if *which == Which::All {
            // Results of scorecards that no longer exist go.
            results.retain(|k, _| self.cards.contains_key(k));
        }
        let mut to_run: Vec<(&String, &Card, &Arc<Compiled>)> = Vec::new();
        for k in keys {
            let Some(card) = self.cards.get(k) else {
                results.remove(k);
                continue;
            };
            let Some(compiled) = &card.compiled else {
                // Not compiled: the previous result stays as it is (its generation tells).
                continue;
            };
            if card.kinds.contains(&key.kind) {
                to_run.push((k, card, compiled));
            } else {
                results.remove(k);
            }
        }
        let mut filter_failures: Vec<(String, String)> = Vec::new();
        if !to_run.is_empty() {
            let input = self.input(e, key, &to_run, now);
            let activation = input.activate();
            for (k, _card, compiled) in &to_run {
                if let Some(m) = &self.metrics {
                    m.evaluations.with_label_values(&[k.as_str()]).inc();
                }
                match applies(compiled, &activation) {
                    Ok(true) => {
                        let mut r = evaluate_activation(compiled, &activation);
                        if let Some(old) = results.get(*k)
                            && same_result(old, &r)
                        {
                            r.evaluated_at = old.evaluated_at.clone();
                        }
                        results.insert((*k).clone(), r);
                    }
                    Ok(false) => {
                        results.remove(*k);
                    }
                    Err(err) => {
                        // A filter that fails says nothing about applying: the entity is not
                        // measured, and the scorecard's status reports it.
                        results.remove(*k);
                        filter_failures.push(((*k).clone(), format!("{key}: {err}")));
                    }
                }
            }
        }
        let mut changed: Vec<String> = Vec::new();
        let all_keys: BTreeSet<&String> = results.keys().chain(e.results.keys()).collect();
        for k in all_keys {
            let same = match (e.results.get(k), results.get(k)) {
                (Some(a), Some(b)) => same_result(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                changed.push(k.clone());
            }
        }
        Some((results, changed, filter_failures))
    }

    fn input(
        &self,
        e: &Entity,
        key: &EntityRef,
        cards: &[(&String, &Card, &Arc<Compiled>)],
        now: Timestamp,
    ) -> Input {
        let all = cards.iter().any(|(_, c, _)| c.relations_used.is_none());
        let wanted: BTreeSet<&str> = cards
            .iter()
            .filter_map(|(_, c, _)| c.relations_used.as_ref())
            .flat_map(|s| s.iter().map(String::as_str))
            .chain(FACT_RELATIONS)
            .collect();
        let mut input = Input::new(parse_json(&e.json), now);
        for (rel, target) in &e.relations {
            if !all && !wanted.contains(rel.as_str()) {
                continue;
            }
            if target == key {
                continue;
            }
            if let Some(t) = self.entities.get(target) {
                input = input.relation(rel.clone(), parse_json(&t.json));
            }
        }
        input.derive_facts()
    }

    /// Ends a batch: scorecards evaluated against every entity record it, and every
    /// scorecard whose results changed gets its status recomputed; returns the statuses that
    /// differ from what is stored.
    pub fn finish_batch(&mut self, now: Timestamp) -> Vec<StatusWrite> {
        let now = whole_seconds(now);
        let day = day_of(now);
        for k in std::mem::take(&mut self.batch_full) {
            if let Some(c) = self.cards.get_mut(&k) {
                c.full_eval_at = Some(now);
                c.full_eval_day = Some(day.clone());
                self.status_dirty.insert(k);
            }
        }
        let keys: Vec<String> = std::mem::take(&mut self.status_dirty).into_iter().collect();
        let mut writes = Vec::new();
        for k in keys {
            let Some(desired) = self.desired_status(&k, now) else {
                continue;
            };
            let Some(card) = self.cards.get_mut(&k) else {
                continue;
            };
            if card.status.as_ref() == Some(&desired) {
                continue;
            }
            card.status = Some(desired.clone());
            writes.push(StatusWrite {
                namespace: card.namespace.clone(),
                name: card.name.clone(),
                status: desired,
            });
        }
        writes
    }

    /// The status a scorecard should show. None before its first full evaluation (the
    /// distribution would be partial), except for a compile failure, which shows at once.
    fn desired_status(&self, key: &str, now: Timestamp) -> Option<ScorecardStatus> {
        let card = self.cards.get(key)?;
        let existing: Vec<Condition> = card
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let previous = card.status.clone().unwrap_or_default();
        let Some(compiled) = &card.compiled else {
            let new = compile_conditions(&Err(card.errors.clone()));
            return Some(ScorecardStatus {
                observed_generation: card.generation,
                conditions: conditions::merge(&existing, &new, card.generation, now),
                rule_errors: card
                    .errors
                    .iter()
                    .take(MAX_RULE_ERRORS)
                    .map(RuleError::to_status)
                    .collect::<Vec<RuleErrorStatus>>(),
                // The last distribution stays: it describes results entities still hold.
                distribution: previous.distribution,
                last_evaluated_at: previous.last_evaluated_at,
            });
        };
        // Not evaluated against this generation yet: nothing to report.
        let evaluated_at = card.full_eval_at?;
        let (distribution, over_limit) = self.distribution(key, compiled.levels());
        let mut new = vec![NewCondition::new(
            condition::COMPILED,
            TRUE,
            condition::COMPILED_OK,
            format!("{} rules compiled", compiled.rule_ids().count()),
        )];
        let mut notes = vec![format!("{} entities evaluated", distribution.entities)];
        let mut reason = "Evaluated";
        if card.filter_errors > 0 {
            reason = "FilterFailed";
            notes.push(format!(
                "appliesTo.filter failed for {} entities, which are not measured (e.g. {})",
                card.filter_errors,
                card.filter_error_sample.as_deref().unwrap_or("-")
            ));
        }
        if over_limit > 0 {
            reason = "ResultLimit";
            notes.push(format!(
                "{over_limit} entities already keep results of {MAX_SCORECARD_RESULTS} other scorecards (the limit), so this one's result is not stored on them"
            ));
        }
        new.push(NewCondition::new(
            condition::EVALUATED,
            TRUE,
            reason,
            notes.join("; "),
        ));
        new.push(NewCondition::new(
            condition::READY,
            TRUE,
            reason,
            format!(
                "{} entities, {} pass ({}%)",
                distribution.entities, distribution.passed, distribution.pass_rate
            ),
        ));
        Some(ScorecardStatus {
            observed_generation: card.generation,
            conditions: conditions::merge(&existing, &new, card.generation, now),
            rule_errors: Vec::new(),
            distribution: Some(distribution),
            last_evaluated_at: Some(Time(evaluated_at)),
        })
    }

    /// The distribution of a scorecard's results, and how many entities hold it beyond the
    /// per-entity limit.
    fn distribution(&self, key: &str, levels: &[String]) -> (Distribution, u64) {
        let mut b = DistributionBuilder::new(levels);
        let mut over = 0u64;
        for e in self.entities.values() {
            if let Some(r) = e.results.get(key) {
                b.add(r);
                if e.results.len() > MAX_SCORECARD_RESULTS
                    && e.results
                        .keys()
                        .position(|k| k == key)
                        .is_some_and(|i| i >= MAX_SCORECARD_RESULTS)
                {
                    over += 1;
                }
            }
        }
        (b.finish(), over)
    }

    /// A write of results failed: what is stored is unknown, so the entity is evaluated and
    /// written again.
    pub fn entity_write_failed(&mut self, key: &EntityRef) {
        if let Some(e) = self.entities.get_mut(key) {
            e.stored = None;
            self.dirty_entities.insert(key.clone());
        }
    }

    /// A status write failed: recompute and write it at the next batch.
    pub fn status_write_failed(&mut self, namespace: &str, name: &str) {
        let key = scorecard_key(namespace, name);
        if let Some(c) = self.cards.get_mut(&key) {
            c.status = None;
            self.status_dirty.insert(key);
        }
    }

    // --- snapshots -----------------------------------------------------------------------

    /// Snapshots due today: for each compiled scorecard evaluated in full on today's clock
    /// and not snapshotted today yet.
    pub fn snapshots_due(&mut self) -> Vec<SnapshotWrite> {
        let Some(today) = self.today.clone() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let keys: Vec<String> = self.cards.keys().cloned().collect();
        for k in keys {
            let Some(card) = self.cards.get(&k) else {
                continue;
            };
            let Some(compiled) = card.compiled.clone() else {
                continue;
            };
            if card.full_eval_day.as_deref() != Some(today.as_str())
                || card.snapshot_day.as_deref() == Some(today.as_str())
            {
                continue;
            }
            let mut pairs: Vec<(String, &ScorecardResult)> = self
                .entities
                .iter()
                .filter_map(|(r, e)| e.results.get(&k).map(|res| (r.to_string(), res)))
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let specs = nexus_scorecards::snapshots(
                &card.name,
                &today,
                card.generation,
                compiled.levels(),
                pairs.iter().map(|(r, res)| (r.as_str(), *res)),
            );
            out.push(SnapshotWrite {
                namespace: card.namespace.clone(),
                scorecard: card.name.clone(),
                date: today.clone(),
                specs,
            });
            if let Some(c) = self.cards.get_mut(&k) {
                c.snapshot_day = Some(today.clone());
            }
        }
        out
    }

    /// Writing a snapshot failed: try again at the next tick.
    pub fn snapshot_failed(&mut self, namespace: &str, name: &str) {
        if let Some(c) = self.cards.get_mut(&scorecard_key(namespace, name)) {
            c.snapshot_day = None;
        }
    }

    /// The current result of an entity against a scorecard (tests and diagnostics).
    pub fn result(&self, entity: &EntityRef, scorecard: &str) -> Option<&ScorecardResult> {
        self.entities.get(entity)?.results.get(scorecard)
    }
}

fn sweep_due(c: &Card, now: Instant) -> bool {
    c.compiled.is_some() && c.next_sweep.is_some_and(|t| t <= now)
}

/// Results equal but for when they were computed.
fn same_result(a: &ScorecardResult, b: &ScorecardResult) -> bool {
    ScorecardResult {
        evaluated_at: b.evaluated_at.clone(),
        ..a.clone()
    } == *b
}

/// A hash of a list of results that ignores their order and evaluation times: two lists with
/// the same hash need no write.
fn results_hash(results: &[ScorecardResult]) -> u64 {
    let mut sorted: Vec<ScorecardResult> = results
        .iter()
        .map(|r| ScorecardResult {
            evaluated_at: Time(Timestamp::UNIX_EPOCH),
            ..r.clone()
        })
        .collect();
    sorted.sort_by(|x, y| x.scorecard.cmp(&y.scorecard));
    fingerprint(&serde_json::to_vec(&sorted).unwrap_or_default())
}

/// Text this engine serialised itself parses; Null (which no rule passes on) would only come of
/// a bug, never of input.
fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

struct Parsed {
    key: EntityRef,
    json: Arc<str>,
    fingerprint: u64,
    relations: Vec<(String, EntityRef)>,
    stored: Vec<ScorecardResult>,
}

/// Reads a watched object: its key, the JSON rules see, its relations and stored results.
fn parse_entity(kind: EntityKind, mut obj: Value) -> Option<Parsed> {
    let map = obj.as_object_mut()?;
    // Watch events carry apiVersion and kind, list items may not: rules can rely on them.
    map.insert(
        "apiVersion".into(),
        Value::String(format!(
            "{}/{}",
            nexus_api::CATALOG_GROUP,
            nexus_api::CATALOG_VERSION
        )),
    );
    map.insert("kind".into(), Value::String(kind.as_str().into()));
    let meta = map.get_mut("metadata")?.as_object_mut()?;
    meta.remove("managedFields");
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    let namespace = meta.get("namespace")?.as_str()?.to_string();
    let name = meta.get("name")?.as_str()?.to_string();
    // Changes with every write, our own included: not part of what rules see.
    meta.remove("resourceVersion");
    let stored_raw = map
        .get_mut("status")
        .and_then(Value::as_object_mut)
        .and_then(|s| s.remove("scorecards"));
    // A malformed entry (another writer) is ignored: the next write replaces the list.
    let stored: Vec<ScorecardResult> = stored_raw
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let relations: Vec<(String, EntityRef)> = map
        .get("status")
        .and_then(|s| s.get("relations"))
        .and_then(Value::as_array)
        .map(|rels| {
            rels.iter()
                .filter_map(|r| {
                    let t = r.get("type")?.as_str()?;
                    let target = r.get("targetRef")?.as_str()?.parse::<EntityRef>().ok()?;
                    Some((t.to_string(), target))
                })
                .collect()
        })
        .unwrap_or_default();
    let text = serde_json::to_string(&obj).ok()?;
    let fingerprint = fingerprint(text.as_bytes());
    Some(Parsed {
        key: EntityRef::new(kind, namespace, name),
        json: text.into(),
        fingerprint,
        relations,
        stored,
    })
}

fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The relation types the expressions read as `relations.<type>`; None when one reads
/// `relations` any other way (`relations[t]`, the whole map), so every relation is needed.
pub fn relations_used(expressions: &[&str]) -> Option<BTreeSet<String>> {
    const WORD: &str = "relations";
    let mut used = BTreeSet::new();
    for expr in expressions {
        let bytes = expr.as_bytes();
        let mut from = 0;
        while let Some(pos) = expr[from..].find(WORD) {
            let start = from + pos;
            let end = start + WORD.len();
            from = end;
            let before = start.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
                continue; // part of another identifier, or a field named `relations`
            }
            if bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                continue; // `relationsX`
            }
            let rest = expr[end..].trim_start();
            // Anything but `.ident` after the variable reads the map as a whole.
            let after_dot = rest.strip_prefix('.')?;
            let ident: String = after_dot
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() {
                return None;
            }
            used.insert(ident);
        }
    }
    Some(used)
}

#[cfg(test)]
mod tests;
