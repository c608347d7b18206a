//! The actions pages' endpoints on the portal face: the catalogue of Actions, runs, approvals,
//! the approver's inbox, the audit log and the scorecard builder's apply.
//!
//! Reads answer from the watch cache, filtered by RBAC on `actions.nexus.dev` (a run in a
//! namespace where the caller may not `list actionruns` is `404`, like a missing one). Writes
//! are made as the caller by impersonation ([`crate::actions::impersonate`]): kube-apiserver's
//! RBAC and admission policies judge them, and their refusals come back verbatim. The
//! requester of a run and the author of an approval are always the signed-in user.

use std::{cmp::Ordering, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nexus_api::actions::{ActionApproval, ActionRun};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{ApiError, SharedState, WithCache, params::Params, portal::authenticate};
use crate::{
    actions::{
        access::{self, Namespaces},
        audit::{AuditQuery, SOURCE},
        impersonate::{self, content},
        view::{self, RunRights},
    },
    authn::UserInfo,
    cache::actions::{ActionKind, GROUP, VERSION},
    query::parse_ref,
};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// Longest generateName prefix kube-apiserver keeps whole (it appends 5 characters).
const GENERATE_NAME_MAX: usize = 57;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/actions", get(list_actions))
        .route("/api/v1/actions/{namespace}/{name}", get(get_action))
        .route("/api/v1/runs", get(list_runs))
        .route("/api/v1/runs/{namespace}", post(create_run))
        .route("/api/v1/runs/{namespace}/{name}", get(get_run))
        .route(
            "/api/v1/runs/{namespace}/{name}/approvals",
            post(create_approval),
        )
        .route("/api/v1/runs/{namespace}/{name}/cancel", post(cancel_run))
        .route("/api/v1/runs/{namespace}/{name}/retry", post(retry_run))
        .route("/api/v1/approvals/inbox", get(inbox))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/scorecards/{namespace}", post(apply_scorecard))
}

/// An answer with the cache's freshness, like every other portal answer.
fn reply<T: Serialize>(state: &SharedState, status: StatusCode, stale: bool, body: T) -> Response {
    let body = WithCache {
        body,
        cache: state.cache.sync.freshness(),
        permissions_stale: stale,
    };
    (status, Json(body)).into_response()
}

fn not_found(what: &str, namespace: &str, name: &str) -> ApiError {
    ApiError::NotFound(format!("{what} {namespace}/{name} not found"))
}

fn kube(state: &SharedState) -> Result<&kube::Client, ApiError> {
    state.actions.kube.as_ref().ok_or_else(|| {
        ApiError::Unavailable("writes are not available: no Kubernetes client".into())
    })
}

fn path(kind: ActionKind, namespace: &str, name: Option<&str>) -> String {
    let base = format!(
        "/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{}",
        kind.resource()
    );
    match name {
        Some(n) => format!("{base}/{n}"),
        None => base,
    }
}

fn limit(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit must be 1 to {MAX_LIMIT}, not `{raw}`"))
            }),
    }
}

/// The kind of a `kind:namespace/name` target.
fn target_ref(raw: &str, param: &str) -> Result<nexus_api::EntityRef, ApiError> {
    parse_ref(raw).map_err(|e| ApiError::BadRequest(format!("{param}: {e}")))
}

// --- actions ---------------------------------------------------------------------------------

async fn list_actions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    let params = Params::parse(raw.as_deref(), &["namespace", "target"])?;
    let wanted = params.list("namespace");
    let target = params
        .get("target")
        .map(|t| target_ref(t, "target"))
        .transpose()?;
    let candidates: Vec<String> = state
        .cache
        .actions
        .read()
        .namespaces(ActionKind::Action)
        .into_iter()
        .filter(|ns| wanted.is_empty() || wanted.contains(ns))
        .collect();
    let authz = state.resolver.authorizer();
    let visible =
        access::allowed(authz, &user, "list", ActionKind::Action, candidates.clone()).await?;
    let seen: Vec<String> = candidates
        .into_iter()
        .filter(|ns| visible.allows(ns))
        .collect();
    let runnable = access::allowed(authz, &user, "create", ActionKind::Run, seen.clone()).await?;
    let mut items: Vec<view::ActionSummary> = {
        let store = state.cache.actions.read();
        store
            .actions
            .iter()
            .filter(|((ns, _), _)| seen.contains(ns))
            .filter(|(_, a)| {
                target
                    .as_ref()
                    .is_none_or(|t| view::fits_target(a, t.kind.as_str()))
            })
            .map(|((ns, _), a)| view::action_summary(a, &user, runnable.allows(ns)))
            .collect()
    };
    view::sort_actions(&mut items);
    Ok(reply(
        &state,
        StatusCode::OK,
        visible.stale || runnable.stale,
        json!({ "items": items }),
    ))
}

async fn get_action(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    let authz = state.resolver.authorizer();
    if !access::allowed_in(authz, &user, "list", ActionKind::Action, &namespace).await? {
        return Err(not_found("Action", &namespace, &name));
    }
    let action = state
        .cache
        .actions
        .read()
        .actions
        .get(&(namespace.clone(), name.clone()))
        .cloned()
        .ok_or_else(|| not_found("Action", &namespace, &name))?;
    let may_run = access::allowed_in(authz, &user, "create", ActionKind::Run, &namespace).await?;
    Ok(reply(
        &state,
        StatusCode::OK,
        false,
        view::action_summary(&action, &user, may_run),
    ))
}

// --- runs ------------------------------------------------------------------------------------

/// Newest first: creation time descending, then namespace and name.
type RunKey = (Option<Time>, String, String);

fn run_key(run: &ActionRun) -> RunKey {
    (
        run.metadata.creation_timestamp.clone(),
        run.metadata.namespace.clone().unwrap_or_default(),
        run.metadata.name.clone().unwrap_or_default(),
    )
}

fn newest_first(a: &RunKey, b: &RunKey) -> Ordering {
    b.0.cmp(&a.0)
        .then_with(|| a.1.cmp(&b.1))
        .then_with(|| a.2.cmp(&b.2))
}

fn encode_continue(key: &RunKey) -> String {
    let raw = json!([key.0, key.1, key.2]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<RunKey, ApiError> {
    let bad = || ApiError::BadRequest("continue is not a token this server issued".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    serde_json::from_slice::<RunKey>(&bytes).map_err(|_| bad())
}

/// The filters of `GET /api/v1/runs`.
#[derive(Debug, Default)]
pub struct RunFilters {
    pub namespaces: Vec<String>,
    /// A normalised `kind:namespace/name`.
    pub target: Option<String>,
    pub actions: Vec<String>,
    pub requester: Option<String>,
    pub phases: Vec<String>,
}

impl RunFilters {
    fn parse(params: &Params, user: &UserInfo) -> Result<Self, ApiError> {
        Ok(Self {
            namespaces: params.list("namespace"),
            target: params
                .get("target")
                .map(|t| target_ref(t, "target").map(|r| r.to_string()))
                .transpose()?,
            actions: params.list("action"),
            requester: params.get("requester").map(|r| {
                if r == "me" {
                    user.username.clone()
                } else {
                    r.to_string()
                }
            }),
            phases: params.list("phase"),
        })
    }

    pub fn pass(&self, run: &ActionRun) -> bool {
        let ns = run.metadata.namespace.as_deref().unwrap_or_default();
        let target = run.spec.target.as_deref().map(|t| {
            t.parse::<nexus_api::EntityRef>()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| t.to_string())
        });
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == ns))
            && self
                .target
                .as_ref()
                .is_none_or(|t| target.as_ref() == Some(t))
            && (self.actions.is_empty() || self.actions.contains(&run.spec.action))
            && self
                .requester
                .as_ref()
                .is_none_or(|r| *r == run.spec.requester)
            && (self.phases.is_empty() || self.phases.contains(&view::phase(run)))
    }
}

/// One page of the runs `visible` lets the caller see, newest first.
pub fn page_runs(
    runs: Vec<Arc<ActionRun>>,
    filters: &RunFilters,
    visible: &Namespaces,
    after: Option<&RunKey>,
    limit: usize,
) -> (Vec<Arc<ActionRun>>, Option<String>) {
    let mut runs: Vec<(RunKey, Arc<ActionRun>)> = runs
        .into_iter()
        .filter(|r| visible.allows(r.metadata.namespace.as_deref().unwrap_or_default()))
        .filter(|r| filters.pass(r))
        .map(|r| (run_key(&r), r))
        .filter(|(k, _)| after.is_none_or(|a| newest_first(a, k) == Ordering::Less))
        .collect();
    runs.sort_by(|a, b| newest_first(&a.0, &b.0));
    let more = runs.len() > limit;
    runs.truncate(limit);
    let token = more
        .then(|| runs.last().map(|(k, _)| encode_continue(k)))
        .flatten();
    (runs.into_iter().map(|(_, r)| r).collect(), token)
}

async fn list_runs(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    let params = Params::parse(
        raw.as_deref(),
        &[
            "namespace",
            "target",
            "action",
            "requester",
            "phase",
            "limit",
            "continue",
        ],
    )?;
    let filters = RunFilters::parse(&params, &user)?;
    let limit = limit(&params)?;
    let after = params.get("continue").map(decode_continue).transpose()?;
    let candidates = state.cache.actions.read().namespaces(ActionKind::Run);
    let visible = access::allowed(
        state.resolver.authorizer(),
        &user,
        "list",
        ActionKind::Run,
        candidates,
    )
    .await?;
    let (items, token) = {
        let store = state.cache.actions.read();
        let runs = store.runs.values().cloned().collect();
        let (page, token) = page_runs(runs, &filters, &visible, after.as_ref(), limit);
        let items: Vec<view::RunSummary> = page
            .iter()
            .map(|r| view::run_summary(r, current_action(&store, r).as_deref()))
            .collect();
        (items, token)
    };
    let mut body = json!({ "items": items });
    if let Some(t) = token {
        body["continue"] = json!(t);
    }
    Ok(reply(&state, StatusCode::OK, visible.stale, body))
}

fn current_action(
    store: &crate::cache::actions::ActionStore,
    run: &ActionRun,
) -> Option<Arc<nexus_api::actions::Action>> {
    store
        .actions
        .get(&(
            run.metadata.namespace.clone().unwrap_or_default(),
            run.spec.action.clone(),
        ))
        .cloned()
}

/// A run the caller may see, from the cache; hidden and missing are both 404.
async fn visible_run(
    state: &SharedState,
    user: &Arc<UserInfo>,
    namespace: &str,
    name: &str,
) -> Result<Arc<ActionRun>, ApiError> {
    let authz = state.resolver.authorizer();
    if !access::allowed_in(authz, user, "list", ActionKind::Run, namespace).await? {
        return Err(not_found("ActionRun", namespace, name));
    }
    state
        .cache
        .actions
        .read()
        .runs
        .get(&(namespace.to_string(), name.to_string()))
        .cloned()
        .ok_or_else(|| not_found("ActionRun", namespace, name))
}

/// The detail of `run` for the caller, with the approvals they may see.
async fn detail(
    state: &SharedState,
    user: &Arc<UserInfo>,
    run: &ActionRun,
) -> Result<view::RunDetail, ApiError> {
    let ns = run.metadata.namespace.clone().unwrap_or_default();
    let name = run.metadata.name.clone().unwrap_or_default();
    let authz = state.resolver.authorizer();
    let sees_approvals = access::allowed_in(authz, user, "list", ActionKind::Approval, &ns).await?;
    let rights = RunRights {
        create_approvals: access::allowed_in(authz, user, "create", ActionKind::Approval, &ns)
            .await?,
        patch_runs: access::allowed_in(authz, user, "patch", ActionKind::Run, &ns).await?,
    };
    let store = state.cache.actions.read();
    let approvals = if sees_approvals {
        store.approvals_of(&ns, &name)
    } else {
        Vec::new()
    };
    let current = current_action(&store, run);
    Ok(view::run_detail(
        run,
        current.as_deref(),
        &approvals,
        user,
        rights,
    ))
}

async fn get_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    let run = visible_run(&state, &user, &namespace, &name).await?;
    let detail = detail(&state, &user, &run).await?;
    Ok(reply(&state, StatusCode::OK, false, detail))
}

/// A JSON object body, or a 400 saying what is wrong with it.
fn object_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest("body must be a JSON object".into())),
        Err(e) => Err(ApiError::BadRequest(format!("body is not JSON: {e}"))),
    }
}

/// Rejects fields other than `accepted`; `who` names a field the server fills itself.
fn only_fields(
    body: &Map<String, Value>,
    accepted: &[&str],
    who: (&str, &str),
) -> Result<(), ApiError> {
    for key in body.keys() {
        if key == who.0 {
            return Err(ApiError::BadRequest(format!(
                "{} is not accepted: {}",
                who.0, who.1
            )));
        }
        if !accepted.contains(&key.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown field `{key}`; accepted: {}",
                accepted.join(", ")
            )));
        }
    }
    Ok(())
}

fn string_field(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::BadRequest(format!("{field} must not be empty")))
        }
        Some(Value::String(s)) if s.len() > max => Err(ApiError::BadRequest(format!(
            "{field} is longer than {max} characters"
        ))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::BadRequest(format!("{field} must be a string"))),
    }
}

/// A generateName prefix from `parts`, short enough to be kept whole.
fn generate_name(parts: &[&str]) -> String {
    let mut base = parts.join("-");
    base.truncate(GENERATE_NAME_MAX);
    let base = base.trim_end_matches(['-', '.']);
    format!("{base}-")
}

/// `POST /api/v1/runs/{namespace}` body, checked.
#[derive(Debug, PartialEq)]
pub struct NewRun {
    pub action: String,
    pub target: Option<String>,
    pub inputs: Value,
}

pub fn parse_new_run(body: &Bytes) -> Result<NewRun, ApiError> {
    let map = object_body(body)?;
    only_fields(
        &map,
        &["action", "target", "inputs"],
        ("requester", "the run is requested by the signed-in user"),
    )?;
    let action = string_field(&map, "action", 253)?
        .ok_or_else(|| ApiError::BadRequest("action is required".into()))?;
    let target = string_field(&map, "target", 512)?
        .map(|t| target_ref(&t, "target").map(|r| r.to_string()))
        .transpose()?;
    let inputs = match map.get("inputs") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(ApiError::BadRequest("inputs must be an object".into())),
    };
    Ok(NewRun {
        action,
        target,
        inputs,
    })
}

async fn create_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    let new = parse_new_run(&body)?;
    let client = kube(&state)?;
    let mut spec = json!({
        "action": new.action,
        "requester": user.username,
        "inputs": new.inputs,
    });
    if let Some(t) = &new.target {
        spec["target"] = json!(t);
    }
    let object = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "ActionRun",
        "metadata": {"generateName": generate_name(&[&new.action]), "namespace": namespace},
        "spec": spec,
    });
    let created = impersonate::send(
        client,
        &user,
        Method::POST,
        &path(ActionKind::Run, &namespace, None),
        content::JSON,
        &object,
    )
    .await?;
    let run = decode_run(created)?;
    let detail = detail(&state, &user, &run).await?;
    Ok(reply(&state, StatusCode::CREATED, false, detail))
}

fn decode_run(object: Value) -> Result<ActionRun, ApiError> {
    serde_json::from_value(object).map_err(|e| {
        ApiError::Unavailable(format!(
            "kube-apiserver answered with an ActionRun that does not decode: {e}"
        ))
    })
}

/// `POST …/approvals` body, checked.
#[derive(Debug, PartialEq)]
pub struct NewApproval {
    pub decision: &'static str,
    pub stage: Option<String>,
    pub comment: Option<String>,
}

pub fn parse_new_approval(body: &Bytes) -> Result<NewApproval, ApiError> {
    let map = object_body(body)?;
    only_fields(
        &map,
        &["decision", "stage", "comment"],
        ("author", "the approval is authored by the signed-in user"),
    )?;
    let decision = match string_field(&map, "decision", 16)?.as_deref() {
        Some("Approve") => "Approve",
        Some("Reject") => "Reject",
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "decision must be Approve or Reject, not `{other}`"
            )));
        }
        None => return Err(ApiError::BadRequest("decision is required".into())),
    };
    Ok(NewApproval {
        decision,
        stage: string_field(&map, "stage", 40)?,
        comment: string_field(&map, "comment", 2048)?,
    })
}

async fn create_approval(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    let new = parse_new_approval(&body)?;
    let run = visible_run(&state, &user, &namespace, &name).await?;
    let stage = match new.stage {
        Some(s) => s,
        None => {
            let current = current_action(&state.cache.actions.read(), &run);
            view::open_stage(&run, current.as_deref())
                .map(|(s, _)| s.name.clone())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "run {namespace}/{name} has no stage open for approval (phase {})",
                        view::phase(&run)
                    ))
                })?
        }
    };
    let client = kube(&state)?;
    let mut spec = json!({
        "run": name,
        "stage": stage,
        "decision": new.decision,
        "author": user.username,
    });
    if let Some(c) = &new.comment {
        spec["comment"] = json!(c);
    }
    let object = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "ActionApproval",
        "metadata": {"generateName": generate_name(&[&name, &stage]), "namespace": namespace},
        "spec": spec,
    });
    let created = impersonate::send(
        client,
        &user,
        Method::POST,
        &path(ActionKind::Approval, &namespace, None),
        content::JSON,
        &object,
    )
    .await?;
    let approval: ActionApproval = serde_json::from_value(created).map_err(|e| {
        ApiError::Unavailable(format!(
            "kube-apiserver answered with an ActionApproval that does not decode: {e}"
        ))
    })?;
    Ok(reply(
        &state,
        StatusCode::CREATED,
        false,
        view::approval_item(&approval),
    ))
}

async fn cancel_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    visible_run(&state, &user, &namespace, &name).await?;
    let patched = impersonate::send(
        kube(&state)?,
        &user,
        Method::PATCH,
        &path(ActionKind::Run, &namespace, Some(&name)),
        content::MERGE_PATCH,
        &json!({"spec": {"cancel": true}}),
    )
    .await?;
    let run = decode_run(patched)?;
    let detail = detail(&state, &user, &run).await?;
    Ok(reply(&state, StatusCode::OK, false, detail))
}

async fn retry_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    let run = visible_run(&state, &user, &namespace, &name).await?;
    let phase = view::phase(&run);
    if phase != "Failed" {
        return Err(ApiError::Conflict(format!(
            "only a Failed run can be retried; {namespace}/{name} is {phase}"
        )));
    }
    // The test makes two retries of one failure one attempt, not two.
    let attempt = run.spec.attempt;
    let patch = json!([
        {"op": "test", "path": "/spec/attempt", "value": attempt},
        {"op": "replace", "path": "/spec/attempt", "value": attempt + 1},
    ]);
    let patched = impersonate::send(
        kube(&state)?,
        &user,
        Method::PATCH,
        &path(ActionKind::Run, &namespace, Some(&name)),
        content::JSON_PATCH,
        &patch,
    )
    .await?;
    let run = decode_run(patched)?;
    let detail = detail(&state, &user, &run).await?;
    Ok(reply(&state, StatusCode::OK, false, detail))
}

// --- inbox -----------------------------------------------------------------------------------

async fn inbox(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    Params::parse(raw.as_deref(), &[])?;
    let authz = state.resolver.authorizer();
    let candidates = state.cache.actions.read().namespaces(ActionKind::Run);
    let visible = access::allowed(authz, &user, "list", ActionKind::Run, candidates).await?;
    // Only namespaces with an open stage need the approval-create review.
    let open: Vec<String> = {
        let store = state.cache.actions.read();
        let mut ns: Vec<String> = store
            .runs
            .iter()
            .filter(|((n, _), r)| visible.allows(n) && view::open_stage(r, None).is_some())
            .map(|((n, _), _)| n.clone())
            .collect();
        ns.dedup();
        ns
    };
    let may_approve = access::allowed(authz, &user, "create", ActionKind::Approval, open).await?;
    let mut items: Vec<(RunKey, view::InboxItem)> = {
        let store = state.cache.actions.read();
        store
            .runs
            .iter()
            .filter(|((n, _), _)| visible.allows(n))
            .filter_map(|((n, name), r)| {
                let approvals = store.approvals_of(n, name);
                let current = current_action(&store, r);
                view::inbox_item(
                    r,
                    current.as_deref(),
                    &approvals,
                    &user,
                    may_approve.allows(n),
                )
                .map(|i| (run_key(r), i))
            })
            .collect()
    };
    // Oldest first: what has waited longest comes first.
    items.sort_by(|a, b| newest_first(&b.0, &a.0));
    let items: Vec<view::InboxItem> = items.into_iter().map(|(_, i)| i).collect();
    Ok(reply(
        &state,
        StatusCode::OK,
        visible.stale || may_approve.stale,
        json!({ "items": items }),
    ))
}

// --- audit -----------------------------------------------------------------------------------

async fn audit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = Arc::new(authenticate(&state, &headers).await?);
    let params = Params::parse(
        raw.as_deref(),
        &["namespace", "run", "actor", "limit", "continue"],
    )?;
    let Some(source) = state.actions.audit.clone() else {
        return Err(ApiError::Unavailable(
            "audit is not configured: start nexus-apiserver with --audit-url (the controller's \
             webhook listener) and --audit-token-file"
                .into(),
        ));
    };
    let query = AuditQuery {
        namespace: params.get("namespace").map(str::to_string),
        run: params.get("run").map(str::to_string),
        actor: params.get("actor").map(str::to_string),
        after: params
            .get("continue")
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest("continue is not a token this server issued".into())
                })
            })
            .transpose()?,
        limit: limit(&params)?,
    };
    let authz = state.resolver.authorizer().clone();
    let (items, next) =
        source
            .page(query, |namespaces| {
                let (authz, user) = (authz.clone(), user.clone());
                async move {
                    Ok(access::allowed(&authz, &user, "list", ActionKind::Run, namespaces).await?)
                }
            })
            .await?;
    let mut body = json!({ "items": items, "source": SOURCE });
    if let Some(n) = next {
        body["continue"] = json!(n.to_string());
    }
    Ok(Json(body).into_response())
}

// --- scorecards ------------------------------------------------------------------------------

const SCORECARD_API_VERSION: &str = "scorecards.nexus.dev/v1alpha1";

/// The Scorecard manifest to apply in `namespace`: its name, and the object with the namespace
/// filled in.
pub fn scorecard_manifest(body: &Bytes, namespace: &str) -> Result<(String, Value), ApiError> {
    let mut map = object_body(body)?;
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(SCORECARD_API_VERSION) => {}
        other => {
            return Err(ApiError::BadRequest(format!(
                "apiVersion must be {SCORECARD_API_VERSION}, not {other:?}"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        Some("Scorecard") => {}
        other => {
            return Err(ApiError::BadRequest(format!(
                "kind must be Scorecard, not {other:?}"
            )));
        }
    }
    let metadata = map
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::BadRequest("metadata.name is required".into()))?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("metadata.name is required".into()))?
        .to_string();
    match metadata.get("namespace").and_then(Value::as_str) {
        Some(ns) if ns != namespace => {
            return Err(ApiError::BadRequest(format!(
                "metadata.namespace {ns} differs from the path's namespace {namespace}"
            )));
        }
        _ => {}
    }
    metadata.insert("namespace".into(), json!(namespace));
    // Server-side apply refuses managedFields in the applied configuration.
    metadata.remove("managedFields");
    Ok((name, Value::Object(map)))
}

async fn apply_scorecard(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let params = Params::parse(raw.as_deref(), &["dryRun"])?;
    let dry_run = match params.get("dryRun") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "dryRun must be true or false, not `{other}`"
            )));
        }
    };
    let (name, manifest) = scorecard_manifest(&body, &namespace)?;
    let mut url = format!(
        "/apis/{SCORECARD_API_VERSION}/namespaces/{namespace}/scorecards/{name}?fieldManager=nexus-portal"
    );
    if dry_run {
        url.push_str("&dryRun=All");
    }
    let stored = impersonate::send(
        kube(&state)?,
        &user,
        Method::PATCH,
        &url,
        content::APPLY,
        &manifest,
    )
    .await?;
    Ok(Json(stored).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ns: &str, name: &str, created: &str, phase: &str, requester: &str) -> Arc<ActionRun> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "actions.nexus.dev/v1alpha1", "kind": "ActionRun",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
                "spec": {"action": "scale", "target": "Component:pay/checkout", "requester": requester, "inputs": {}},
                "status": {"phase": phase}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn runs_are_paged_newest_first_within_what_is_visible() {
        let runs = vec![
            run("pay", "a", "2025-01-01T00:00:01Z", "Succeeded", "dana"),
            run("pay", "b", "2025-01-01T00:00:03Z", "Failed", "lee"),
            run("pay", "c", "2025-01-01T00:00:03Z", "Failed", "dana"),
            run("ship", "d", "2025-01-01T00:00:09Z", "Failed", "dana"),
        ];
        let pay = Namespaces::only(["pay"]);
        let all = RunFilters::default();
        let (page, token) = page_runs(runs.clone(), &all, &pay, None, 2);
        let names: Vec<_> = page
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["b", "c"]);
        let after = decode_continue(&token.unwrap()).unwrap();
        let (page, token) = page_runs(runs.clone(), &all, &pay, Some(&after), 2);
        assert_eq!(page[0].metadata.name.as_deref(), Some("a"));
        assert!(token.is_none());
        let user = UserInfo {
            username: "dana".into(),
            ..Default::default()
        };
        let params = Params::parse(
            Some("requester=me&phase=Failed&target=component:pay/checkout"),
            &["requester", "phase", "target"],
        )
        .unwrap();
        let mine = RunFilters::parse(&params, &user).unwrap();
        let (page, _) = page_runs(runs, &mine, &Namespaces::everywhere(), None, 10);
        let names: Vec<_> = page
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["d", "c"]);
        assert!(decode_continue("garbage").is_err());
    }

    #[test]
    fn bodies_are_checked_and_identity_fields_refused() {
        let ok = parse_new_run(&Bytes::from(
            r#"{"action":"scale","target":"component:pay/checkout","inputs":{"replicas":3}}"#,
        ))
        .unwrap();
        assert_eq!(ok.target.as_deref(), Some("component:pay/checkout"));
        for (body, wanted) in [
            (
                r#"{"action":"scale","requester":"lee"}"#,
                "requester is not accepted",
            ),
            (r#"{"target":"component:pay/x"}"#, "action is required"),
            (
                r#"{"action":"scale","inputs":[1]}"#,
                "inputs must be an object",
            ),
            (r#"{"action":"scale","target":"nope"}"#, "target:"),
            (
                r#"{"action":"scale","replicas":3}"#,
                "unknown field `replicas`",
            ),
            ("[]", "JSON object"),
        ] {
            let e = parse_new_run(&Bytes::from(body)).unwrap_err().to_string();
            assert!(e.contains(wanted), "{body}: {e}");
        }
        let a =
            parse_new_approval(&Bytes::from(r#"{"decision":"Reject","comment":"no"}"#)).unwrap();
        assert_eq!((a.decision, a.stage), ("Reject", None));
        for (body, wanted) in [
            (
                r#"{"decision":"Approve","author":"lee"}"#,
                "author is not accepted",
            ),
            (r#"{"decision":"Maybe"}"#, "Approve or Reject"),
            (r#"{}"#, "decision is required"),
            (
                r#"{"decision":"Approve","stage":3}"#,
                "stage must be a string",
            ),
        ] {
            let e = parse_new_approval(&Bytes::from(body))
                .unwrap_err()
                .to_string();
            assert!(e.contains(wanted), "{body}: {e}");
        }
        assert_eq!(generate_name(&["run", "lead"]), "run-lead-");
        assert_eq!(
            generate_name(&[&"x".repeat(80)]).len(),
            GENERATE_NAME_MAX + 1
        );
    }

    #[test]
    fn scorecard_manifests_are_checked() {
        let body = Bytes::from(
            r#"{"apiVersion":"scorecards.nexus.dev/v1alpha1","kind":"Scorecard","metadata":{"name":"prod"},"spec":{}}"#,
        );
        let (name, m) = scorecard_manifest(&body, "org").unwrap();
        assert_eq!(
            (name.as_str(), m["metadata"]["namespace"].as_str()),
            ("prod", Some("org"))
        );
        let other = Bytes::from(
            r#"{"apiVersion":"scorecards.nexus.dev/v1alpha1","kind":"Scorecard","metadata":{"name":"p","namespace":"x"}}"#,
        );
        assert!(scorecard_manifest(&other, "org").is_err());
        let wrong =
            Bytes::from(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p"}}"#);
        assert!(
            scorecard_manifest(&wrong, "org")
                .unwrap_err()
                .to_string()
                .contains("apiVersion")
        );
    }
}
