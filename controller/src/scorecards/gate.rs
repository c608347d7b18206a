//! The promotion gate: may this entity go to production?
//!
//! The decision is read from the cluster, not from the scorecard controller's memory, so every
//! replica answers it the same way (the leader evaluates; any replica serves the gate): the
//! Scorecard (compiled once per generation and cached) and the entity's stored result for it go
//! through the engine's [`Compiled::decide`] — no result yet, or a result from an older
//! generation of the scorecard, never passes.
//!
//! Callers: the `/gate/{namespace}/{kind}/{name}` endpoint on the webhook listener (Azure DevOps
//! "Invoke REST API" checks, `nexus gate` in pipeline scripts), the actions controller before a
//! gated Action runs, and GitHub deployment protection rules (`github`).

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Api, Client, api::DynamicObject};
use nexus_api::{
    EntityKind, EntityRef,
    scorecards::{Scorecard, ScorecardResult},
};
use nexus_scorecards::{Compiled, compile_scorecard};
use serde::Serialize;
use serde_json::{Value, json};

use super::{engine::scorecard_key, metrics::ScorecardMetrics};

/// Why a gate could not be decided. Every one of them blocks: a gate never opens on data it
/// could not read.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    EntityNotFound(String),
    #[error("Scorecard {0} not found")]
    ScorecardNotFound(String),
    #[error("Scorecard {scorecard} does not compile, so it cannot decide: {errors}")]
    CompileFailed { scorecard: String, errors: String },
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
}

impl GateError {
    /// The HTTP status the gate endpoint answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            GateError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GateError::EntityNotFound(_) | GateError::ScorecardNotFound(_) => StatusCode::NOT_FOUND,
            GateError::CompileFailed { .. } => StatusCode::CONFLICT,
            GateError::Kube(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether asking again later may give a decision (the API was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, GateError::Kube(_))
    }
}

/// One scorecard's decision for one entity.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `namespace/name`.
    pub scorecard: String,
    pub allowed: bool,
    /// Shortfalls first, then every failing and unknown rule with what to do.
    pub reasons: Vec<String>,
    pub score: Option<i32>,
    pub level: Option<String>,
    pub evaluated_at: Option<Time>,
    /// The Scorecard generation the result was computed with.
    pub generation: Option<i64>,
}

/// The decision over several scorecards: allowed when every one allows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub reasons: Vec<String>,
    pub verdicts: Vec<Verdict>,
}

impl Decision {
    fn of(verdicts: Vec<Verdict>) -> Decision {
        let allowed = !verdicts.is_empty() && verdicts.iter().all(|v| v.allowed);
        let several = verdicts.len() > 1;
        let reasons = verdicts
            .iter()
            .flat_map(|v| {
                v.reasons.iter().map(move |r| {
                    if several {
                        format!("{}: {r}", v.scorecard)
                    } else {
                        r.clone()
                    }
                })
            })
            .collect();
        Decision {
            allowed,
            reasons,
            verdicts,
        }
    }

    /// The reasons as one message (for conditions and comments), bounded.
    pub fn summary(&self, max: usize) -> String {
        let mut out = self.reasons.join("; ");
        if out.len() > max {
            let mut end = max.saturating_sub(3);
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str("...");
        }
        out
    }
}

type CompiledOutcome = Arc<Result<Arc<Compiled>, String>>;

/// Decides gates from what the cluster holds.
pub struct GateChecker {
    client: Client,
    /// Where bare scorecard names live (`--scorecards-namespace`).
    org_namespace: String,
    /// Compiled scorecards by (uid, generation): a generation compiles once.
    compiled: moka::sync::Cache<(String, i64), CompiledOutcome>,
    metrics: ScorecardMetrics,
}

impl std::fmt::Debug for GateChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateChecker")
            .field("org_namespace", &self.org_namespace)
            .finish_non_exhaustive()
    }
}

impl GateChecker {
    pub fn new(client: Client, org_namespace: String, metrics: ScorecardMetrics) -> Self {
        GateChecker {
            client,
            org_namespace,
            compiled: moka::sync::Cache::builder()
                .max_capacity(256)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            metrics,
        }
    }

    /// `namespace/name`, or a bare name in the organisation's scorecard namespace.
    pub fn resolve(&self, scorecard: &str) -> Result<(String, String), GateError> {
        resolve_scorecard(scorecard, &self.org_namespace)
    }

    /// Every scorecard's verdict for `entity`; allowed when all allow. `caller` labels the
    /// metric (http, action, github).
    pub async fn check_all(
        &self,
        entity: &EntityRef,
        scorecards: &[String],
        caller: &str,
    ) -> Result<Decision, GateError> {
        if scorecards.is_empty() {
            return Err(GateError::BadRequest(
                "no scorecard to check: name at least one".into(),
            ));
        }
        let outcome = async {
            let object = self.entity(entity).await?;
            let mut verdicts = Vec::with_capacity(scorecards.len());
            for s in scorecards {
                verdicts.push(self.verdict(&object, s).await?);
            }
            Ok(Decision::of(verdicts))
        }
        .await;
        let label = match &outcome {
            Ok(d) if d.allowed => "allowed",
            Ok(_) => "blocked",
            Err(_) => "error",
        };
        self.metrics
            .gate_decisions
            .with_label_values(&[caller, label])
            .inc();
        outcome
    }

    async fn entity(&self, r: &EntityRef) -> Result<Value, GateError> {
        let ar = crate::ingestion::apply::api_resource(r.kind);
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &r.namespace, &ar);
        match api.get_opt(&r.name).await.map_err(GateError::Kube)? {
            Some(o) => Ok(o.data),
            None => Err(GateError::EntityNotFound(r.to_string())),
        }
    }

    async fn verdict(&self, entity: &Value, scorecard: &str) -> Result<Verdict, GateError> {
        let (ns, name) = self.resolve(scorecard)?;
        let key = scorecard_key(&ns, &name);
        let api: Api<Scorecard> = Api::namespaced(self.client.clone(), &ns);
        let sc = api
            .get_opt(&name)
            .await
            .map_err(GateError::Kube)?
            .ok_or_else(|| GateError::ScorecardNotFound(key.clone()))?;
        let compiled = self.compiled(&sc);
        let compiled = match compiled.as_ref() {
            Ok(c) => c.clone(),
            Err(errors) => {
                return Err(GateError::CompileFailed {
                    scorecard: key,
                    errors: errors.clone(),
                });
            }
        };
        let result = stored_result(entity, &key);
        let decision = compiled.decide(result.as_ref());
        Ok(Verdict {
            scorecard: key,
            allowed: decision.allowed,
            reasons: decision.reasons,
            score: result.as_ref().map(|r| r.score),
            level: result.as_ref().and_then(|r| r.level.clone()),
            evaluated_at: result.as_ref().map(|r| r.evaluated_at.clone()),
            generation: result.as_ref().and_then(|r| r.generation),
        })
    }

    fn compiled(&self, sc: &Scorecard) -> CompiledOutcome {
        let id = (
            sc.metadata.uid.clone().unwrap_or_default(),
            sc.metadata.generation.unwrap_or(0),
        );
        if let Some(c) = self.compiled.get(&id) {
            return c;
        }
        let outcome = Arc::new(compile_scorecard(sc).map(Arc::new).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        }));
        self.compiled.insert(id, outcome.clone());
        outcome
    }
}

/// `namespace/name` of a scorecard named `namespace/name`, or by a bare name in
/// `org_namespace`. Bare names never resolve in the entity's namespace: a team could otherwise
/// shadow the organisation's gate with a lenient scorecard of the same name.
pub fn resolve_scorecard(
    scorecard: &str,
    org_namespace: &str,
) -> Result<(String, String), GateError> {
    let s = scorecard.trim();
    let (ns, name) = match s.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (org_namespace, s),
    };
    let ok = |x: &str, max: usize| {
        !x.is_empty()
            && x.len() <= max
            && x.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !ok(ns, 63) || !ok(name, 253) {
        return Err(GateError::BadRequest(format!(
            "scorecard {scorecard:?} is not a name or namespace/name"
        )));
    }
    Ok((ns.to_string(), name.to_string()))
}

/// The entity's stored result for `scorecard` (`namespace/name`), if any.
fn stored_result(entity: &Value, scorecard: &str) -> Option<ScorecardResult> {
    entity
        .pointer("/status/scorecards")?
        .as_array()?
        .iter()
        .find(|r| r.get("scorecard").and_then(Value::as_str) == Some(scorecard))
        .and_then(|r| serde_json::from_value(r.clone()).ok())
}

// --- the HTTP endpoint ---------------------------------------------------------------------

/// What the `/gate/…` endpoint needs.
pub struct GateHttp {
    pub checker: Arc<GateChecker>,
    /// File holding the bearer token callers must present (mounted from a Secret; read on
    /// every request, so a rotated Secret takes effect without a restart). None: the endpoint
    /// is off.
    pub token_file: Option<PathBuf>,
    /// Scorecards checked when the request names none (`--gate-scorecards`).
    pub defaults: Vec<String>,
}

/// The routes: `GET /gate/{namespace}/{kind}/{name}?scorecard=…` (repeatable).
pub fn router(state: Arc<GateHttp>) -> Router {
    Router::new()
        .route("/gate/{namespace}/{kind}/{name}", get(gate))
        .with_state(state)
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"allowed": false, "status": status.as_u16(), "message": message.into()});
    (status, Json(body)).into_response()
}

async fn gate(
    State(s): State<Arc<GateHttp>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err((status, message)) =
        crate::runtime::token::check(s.token_file.as_deref(), &headers, "gate")
    {
        return refuse(status, message);
    }
    let Some(kind) = EntityKind::parse(&kind) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{kind:?} is not a catalog kind"),
        );
    };
    // The kind comes from the path alone: a name with a `kind:` prefix is not a name.
    let entity = match EntityRef::parse(&name, kind, &[], &namespace) {
        Ok(r) if r.namespace.as_ref() == namespace && r.kind == kind && !name.contains(':') => r,
        Ok(_) | Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("{namespace}/{name} is not a valid namespace and name"),
            );
        }
    };
    let mut scorecards: Vec<String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query.as_deref().unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == "scorecard")
            .map(|(_, v)| v)
            .collect();
    if scorecards.is_empty() {
        scorecards = s.defaults.clone();
    }
    match s.checker.check_all(&entity, &scorecards, "http").await {
        Ok(d) => (StatusCode::OK, Json(response(&entity, &d))).into_response(),
        Err(e) => {
            if e.is_transient() {
                tracing::warn!(entity = %entity, error = %e, "gate could not be decided");
            }
            refuse(e.status(), e.to_string())
        }
    }
}

/// The answer body: the decision, and for a single scorecard its score, level, evaluation
/// time and generation at the top (the contract in docs/scorecards.md).
fn response(entity: &EntityRef, d: &Decision) -> Value {
    let mut body = json!({
        "allowed": d.allowed,
        "reasons": d.reasons,
        "entity": entity.to_string(),
        "scorecards": d.verdicts,
    });
    if let ([v], Some(map)) = (d.verdicts.as_slice(), body.as_object_mut()) {
        map.insert("scorecard".into(), json!(v.scorecard));
        map.insert("score".into(), json!(v.score));
        map.insert("level".into(), json!(v.level));
        map.insert("evaluatedAt".into(), json!(v.evaluated_at));
        map.insert("generation".into(), json!(v.generation));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(scorecard: &str, allowed: bool, reasons: &[&str]) -> Verdict {
        Verdict {
            scorecard: scorecard.into(),
            allowed,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            score: Some(40),
            level: None,
            evaluated_at: None,
            generation: Some(1),
        }
    }

    #[test]
    fn every_scorecard_must_allow_and_reasons_name_them_when_several() {
        let one = Decision::of(vec![verdict("o/a", false, &["no level reached"])]);
        assert!(!one.allowed);
        assert_eq!(one.reasons, ["no level reached"]);
        let two = Decision::of(vec![
            verdict("o/a", true, &["level Bronze meets the required Bronze"]),
            verdict("o/b", false, &["score 40 is below the required 80"]),
        ]);
        assert!(!two.allowed);
        assert_eq!(
            two.reasons,
            [
                "o/a: level Bronze meets the required Bronze",
                "o/b: score 40 is below the required 80"
            ]
        );
        assert!(
            !Decision::of(Vec::new()).allowed,
            "nothing checked, nothing allowed"
        );
        let long = Decision::of(vec![verdict("o/a", false, &[&"x".repeat(100)])]);
        assert_eq!(long.summary(10), "xxxxxxx...");
    }

    #[test]
    fn bare_names_resolve_in_the_organisation_namespace_only() {
        assert_eq!(
            resolve_scorecard("production-readiness", "nexus-org").unwrap(),
            ("nexus-org".into(), "production-readiness".into())
        );
        assert_eq!(
            resolve_scorecard("platform/sec", "nexus-org").unwrap(),
            ("platform".into(), "sec".into())
        );
        for bad in ["", "a/b/c", "Upper", "a/", "/b", "a b"] {
            assert!(resolve_scorecard(bad, "nexus-org").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn single_scorecard_answers_carry_score_and_level_at_the_top() {
        let e = EntityRef::new(EntityKind::Component, "team-a", "api");
        let d = Decision::of(vec![verdict(
            "nexus-org/production-readiness",
            false,
            &["x"],
        )]);
        let v = response(&e, &d);
        assert_eq!(v["allowed"], false);
        assert_eq!(v["score"], 40);
        assert_eq!(v["entity"], "component:team-a/api");
        assert_eq!(v["scorecard"], "nexus-org/production-readiness");
        assert!(v["level"].is_null());
    }
}
