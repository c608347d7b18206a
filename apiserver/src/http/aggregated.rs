//! The aggregated API `portal.nexus.dev/v1alpha1`, reached through kube-apiserver (APIService).
//! Callers are authenticated by kube-apiserver's front-proxy client certificate plus the
//! `X-Remote-*` headers it sets, and authorised with SubjectAccessReviews like the portal face.
//!
//! Resources: `entities` (namespaced; get, list — Table output for kubectl), `searches` and
//! `facets` (list), `graphs`, `impacts`, `teamviews` (namespaced; get), `dashboards` (get `me`),
//! `insights` (get `heatmap`, `rankings`, `distribution`, `trends`, `dora`, `dora-trend`).
//! Entity names are `<kind>.<name>`, e.g. `component.checkout`.

use axum::{
    Json, Router,
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use serde_json::{Value, json};

use nexus_api::EntityRef;

use super::{
    ApiError, Caller, SharedState, WithCache, observe,
    params::Params,
    table::{entities_table, object_name, table_response, wants_table},
};
use crate::{
    authn::UserInfo,
    authz::PORTAL_GROUP,
    query::{
        Summary, dashboard, entity, graph, parse_kind, parse_ref,
        search::{self, SearchParams},
        team,
    },
    tls::PeerCertificates,
};

pub const VERSION: &str = "v1alpha1";
pub const GROUP_VERSION: &str = "portal.nexus.dev/v1alpha1";

/// (plural, singular, namespaced, kind, verbs)
pub const RESOURCES: &[(&str, &str, bool, &str, &[&str])] = &[
    ("entities", "entity", true, "Entity", &["get", "list"]),
    ("searches", "search", false, "SearchResult", &["list"]),
    ("facets", "facet", false, "FacetCounts", &["list"]),
    ("graphs", "graph", true, "Graph", &["get"]),
    ("impacts", "impact", true, "Impact", &["get"]),
    ("teamviews", "teamview", true, "TeamView", &["get"]),
    ("dashboards", "dashboard", false, "Dashboard", &["get"]),
    ("insights", "insight", false, "Insight", &["get"]),
];

/// Parameters kubectl sends on list that change nothing here.
const KUBECTL_LIST_PARAMS: &[&str] = &[
    "limit",
    "continue",
    "fieldSelector",
    "labelSelector",
    "resourceVersion",
    "resourceVersionMatch",
    "timeoutSeconds",
    "watch",
    "allowWatchBookmarks",
    "includeObject",
    "sendInitialEvents",
    "pretty",
];

pub fn router(state: SharedState) -> Router {
    let v = "/apis/portal.nexus.dev/v1alpha1";
    Router::new()
        .route("/apis", get(group_list))
        .route("/apis/portal.nexus.dev", get(group))
        .route(v, get(resource_list))
        .route("/openapi/v3", get(super::openapi::v3_root))
        .route(
            "/openapi/v3/apis/portal.nexus.dev/v1alpha1",
            get(super::openapi::v3_group_version),
        )
        .route(&format!("{v}/entities"), get(list_entities_all))
        .route(
            &format!("{v}/namespaces/{{namespace}}/entities"),
            get(list_entities_ns),
        )
        .route(
            &format!("{v}/namespaces/{{namespace}}/entities/{{name}}"),
            get(get_entity),
        )
        .route(&format!("{v}/searches"), get(searches))
        .route(&format!("{v}/facets"), get(facets))
        .route(
            &format!("{v}/namespaces/{{namespace}}/graphs/{{name}}"),
            get(get_graph),
        )
        .route(
            &format!("{v}/namespaces/{{namespace}}/impacts/{{name}}"),
            get(get_impact),
        )
        .route(
            &format!("{v}/namespaces/{{namespace}}/teamviews/{{name}}"),
            get(get_teamview),
        )
        .route(&format!("{v}/dashboards/{{name}}"), get(get_dashboard))
        .route(&format!("{v}/insights/{{name}}"), get(get_insight))
        .fallback(|| async {
            ApiError::NotFound("the server could not find the requested resource".into())
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            (state.clone(), "aggregated"),
            observe,
        ))
        .with_state(state)
}

/// Who kube-apiserver says is calling; only after its client certificate checks out.
#[derive(Clone)]
struct Authenticated(UserInfo);

async fn authenticate(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(front_proxy) = state.front_proxy.as_ref() else {
        return ApiError::Unavailable("front-proxy authentication is not configured".into())
            .into_response();
    };
    let peer = request.extensions().get::<PeerCertificates>().cloned();
    match front_proxy.authenticate(peer.as_ref(), request.headers()) {
        Ok(user) => {
            request.extensions_mut().insert(Authenticated(user));
            next.run(request).await
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

fn user_of(request_user: &axum::http::Extensions) -> Result<UserInfo, ApiError> {
    request_user
        .get::<Authenticated>()
        .map(|a| a.0.clone())
        .ok_or_else(|| ApiError::Unauthorized("not authenticated".into()))
}

fn api_group() -> Value {
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": PORTAL_GROUP,
        "versions": [{"groupVersion": GROUP_VERSION, "version": VERSION}],
        "preferredVersion": {"groupVersion": GROUP_VERSION, "version": VERSION},
    })
}

const DISCOVERY_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

async fn group_list(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default()
        .replace(' ', "");
    if accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2") {
        let resources: Vec<Value> = RESOURCES
            .iter()
            .map(|(plural, singular, namespaced, kind, verbs)| {
                json!({
                    "resource": plural,
                    "responseKind": {"group": PORTAL_GROUP, "version": VERSION, "kind": kind},
                    "scope": if *namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": singular,
                    "verbs": verbs,
                })
            })
            .collect();
        let body = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": [{
                "metadata": {"name": PORTAL_GROUP},
                "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}],
            }],
        });
        let mut response = Json(body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(DISCOVERY_V2));
        return response;
    }
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group()]}))
        .into_response()
}

async fn group() -> Json<Value> {
    Json(api_group())
}

async fn resource_list() -> Json<Value> {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|(plural, singular, namespaced, kind, verbs)| {
            json!({
                "name": plural,
                "singularName": singular,
                "namespaced": namespaced,
                "kind": kind,
                "verbs": verbs,
            })
        })
        .collect();
    Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": resources,
    }))
}

fn entity_object(s: &Summary, status: Value) -> Value {
    json!({
        "kind": "Entity",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": object_name(s),
            "namespace": s.namespace,
            "uid": s.uid,
            "resourceVersion": s.resource_version,
            "creationTimestamp": s.created_at,
        },
        "spec": s,
        "status": status,
    })
}

/// `<kind>.<name>` in `namespace` → reference.
fn entity_ref(namespace: &str, name: &str) -> Result<EntityRef, ApiError> {
    let (kind, rest) = name.split_once('.').ok_or_else(|| {
        ApiError::BadRequest(format!(
            "entity name `{name}` must be <kind>.<name>, e.g. component.checkout"
        ))
    })?;
    let kind = parse_kind(kind)?;
    Ok(parse_ref(&format!(
        "{}:{namespace}/{rest}",
        kind.ref_name()
    ))?)
}

/// Turns `fieldSelector` (`kind=Component,owner=payments`) into the search filters of the same
/// name, so `kubectl get --field-selector` works.
fn apply_field_selector(params: &mut Params, selector: Option<String>) -> Result<(), ApiError> {
    for part in selector
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part.contains("!=") {
            return Err(ApiError::BadRequest(format!(
                "fieldSelector `{part}`: only = is supported"
            )));
        }
        let (key, value) = part
            .split_once("==")
            .or_else(|| part.split_once('='))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("fieldSelector `{part}` is not key=value"))
            })?;
        let key = match key.trim() {
            "metadata.namespace" => "namespace",
            "kind" | "spec.kind" => "kind",
            "owner" | "spec.owner" => "owner",
            "lifecycle" | "spec.lifecycle" => "lifecycle",
            "type" | "spec.type" => "type",
            "tag" | "spec.tags" => "tag",
            other => {
                return Err(ApiError::BadRequest(format!(
                    "fieldSelector key `{other}` is not supported; use kind, owner, lifecycle, type, tag or metadata.namespace"
                )));
            }
        };
        params.append(key, value.trim());
    }
    Ok(())
}

/// List parameters as kubectl sends them (`limit`, `continue`, `fieldSelector`) plus the
/// search parameters (`q`, `kind`, …).
fn list_params(raw: Option<&str>) -> Result<search::Search, ApiError> {
    let accepted: Vec<&str> = SearchParams::KEYS
        .iter()
        .chain(KUBECTL_LIST_PARAMS)
        .copied()
        .collect();
    let mut params = Params::parse(raw, &accepted)?;
    if params.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return Err(ApiError::BadRequest(
            "watch is not supported on portal.nexus.dev; use the portal API's /api/v1/stream or watch the catalog kinds".into(),
        ));
    }
    if params.get("labelSelector").is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::BadRequest(
            "labelSelector is not supported; use fieldSelector (kind, owner, lifecycle, type, tag) or q".into(),
        ));
    }
    if let Some(token) = params.take("continue").filter(|c| !c.is_empty()) {
        params.append("cursor", &token);
    }
    let selector = params.take("fieldSelector");
    apply_field_selector(&mut params, selector)?;
    params.search()
}

async fn list_entities(
    state: SharedState,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    raw: Option<String>,
    namespace: Option<String>,
) -> Result<Response, ApiError> {
    let mut search = list_params(raw.as_deref())?;
    if let Some(ns) = &namespace {
        search.namespaces = vec![ns.clone()];
    }
    search.facets = false;
    let user = user_of(&extensions)?;
    let caller = state
        .authorize(user, "list", "entities", namespace.as_deref(), None)
        .await?;
    let result = search::run(&state.cache, &caller.visibility, &search)?;
    let summaries: Vec<Summary> = result.items.into_iter().map(|h| h.entity).collect();
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok());
    if wants_table(accept) {
        return Ok(table_response(entities_table(
            &summaries,
            result.next_cursor.as_deref(),
        )));
    }
    let items: Vec<Value> = summaries
        .iter()
        .map(|s| entity_object(s, json!({"ready": s.ready, "readyReason": s.ready_reason})))
        .collect();
    let mut metadata = json!({});
    if let Some(token) = result.next_cursor {
        metadata["continue"] = Value::String(token);
        metadata["remainingItemCount"] = json!(result.total.saturating_sub(items.len()));
    }
    Ok(Json(json!({
        "kind": "EntityList",
        "apiVersion": GROUP_VERSION,
        "metadata": metadata,
        "items": items,
    }))
    .into_response())
}

async fn list_entities_all(
    State(state): State<SharedState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let raw = parts.uri.query().map(str::to_string);
    list_entities(state, parts.extensions, parts.headers, raw, None).await
}

async fn list_entities_ns(
    State(state): State<SharedState>,
    Path(namespace): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let raw = parts.uri.query().map(str::to_string);
    list_entities(state, parts.extensions, parts.headers, raw, Some(namespace)).await
}

/// The common start of an entity-scoped request: which parameters, which entity (a Team for
/// `teamviews`, `<kind>.<name>` otherwise), and what the caller may see.
async fn scoped(
    state: &SharedState,
    parts: &axum::http::request::Parts,
    accepted: &[&str],
    resource: &str,
    namespace: &str,
    name: &str,
) -> Result<(Caller, EntityRef, Params), ApiError> {
    let params = Params::parse(parts.uri.query(), accepted)?;
    let id = if resource == "teamviews" {
        parse_ref(&format!("team:{namespace}/{name}"))?
    } else {
        entity_ref(namespace, name)?
    };
    let user = user_of(&parts.extensions)?;
    let caller = state.authorize_entity(user, resource, &id).await?;
    Ok((caller, id, params))
}

fn typed<T: Serialize>(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    body: T,
) -> Result<Response, ApiError> {
    let mut value = serde_json::to_value(body)
        .map_err(|e| ApiError::Unavailable(format!("could not encode answer: {e}")))?;
    if let Value::Object(map) = &mut value {
        map.insert("kind".into(), Value::String(kind.into()));
        map.insert("apiVersion".into(), Value::String(GROUP_VERSION.into()));
        let mut metadata = json!({"name": name});
        if let Some(ns) = namespace {
            metadata["namespace"] = Value::String(ns.into());
        }
        map.insert("metadata".into(), metadata);
    }
    Ok(Json(value).into_response())
}

async fn get_entity(
    State(state): State<SharedState>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let accepted = ["pretty", "resourceVersion"];
    let (caller, id, _) = scoped(&state, &parts, &accepted, "entities", &namespace, &name).await?;
    let view = entity::get(&state.cache, &caller.visibility, &id)?;
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    if wants_table(accept) {
        return Ok(table_response(entities_table(
            std::slice::from_ref(&view.summary),
            None,
        )));
    }
    let status = json!({
        "ready": view.summary.ready,
        "readyReason": view.summary.ready_reason,
        "readyMessage": view.ready_message,
        "ownerSource": view.owner_source,
        "relations": view.relations,
    });
    Ok(Json(entity_object(&view.summary, status)).into_response())
}

async fn searches(
    State(state): State<SharedState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let search = list_params(parts.uri.query())?;
    let user = user_of(&parts.extensions)?;
    let caller = state
        .authorize(user, "list", "searches", None, None)
        .await?;
    let result = search::run(&state.cache, &caller.visibility, &search)?;
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    if wants_table(accept) {
        let summaries: Vec<Summary> = result.items.into_iter().map(|h| h.entity).collect();
        return Ok(table_response(entities_table(
            &summaries,
            result.next_cursor.as_deref(),
        )));
    }
    typed(
        "SearchResult",
        None,
        "search",
        WithCache::new(&state, &caller, result),
    )
}

async fn facets(State(state): State<SharedState>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let mut search = list_params(parts.uri.query())?;
    search.limit = 0;
    search.facets = true;
    let user = user_of(&parts.extensions)?;
    let caller = state.authorize(user, "list", "facets", None, None).await?;
    let result = search::run(&state.cache, &caller.visibility, &search)?;
    typed(
        "FacetCounts",
        None,
        "facets",
        WithCache::new(
            &state,
            &caller,
            json!({"total": result.total, "facets": result.facets}),
        ),
    )
}

async fn get_graph(
    State(state): State<SharedState>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let accepted = ["depth", "relations", "pretty"];
    let (caller, id, params) =
        scoped(&state, &parts, &accepted, "graphs", &namespace, &name).await?;
    let graph_params = graph::parse_params(params.get("depth"), params.get("relations"))?;
    let graph = graph::neighbourhood(&state.cache, &caller.visibility, &id, &graph_params)?;
    typed("Graph", Some(&namespace), &name, graph)
}

async fn get_impact(
    State(state): State<SharedState>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (caller, id, _) = scoped(&state, &parts, &["pretty"], "impacts", &namespace, &name).await?;
    let impact = graph::impact(&state.cache, &caller.visibility, &id)?;
    typed("Impact", Some(&namespace), &name, impact)
}

async fn get_teamview(
    State(state): State<SharedState>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (caller, id, _) =
        scoped(&state, &parts, &["pretty"], "teamviews", &namespace, &name).await?;
    let view = team::view(&state.cache, &caller.visibility, &id)?;
    typed("TeamView", Some(&namespace), &name, view)
}

async fn get_dashboard(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    Params::parse(parts.uri.query(), &["pretty"])?;
    if name != "me" {
        return Err(ApiError::NotFound(format!(
            "dashboards/{name}: only dashboards/me exists (the caller's own dashboard)"
        )));
    }
    let user = user_of(&parts.extensions)?;
    let caller = state
        .authorize(user, "get", "dashboards", None, Some("me"))
        .await?;
    let board = dashboard::build(&state.cache, &caller.visibility, &caller.user);
    typed(
        "Dashboard",
        None,
        "me",
        WithCache::new(&state, &caller, board),
    )
}

async fn get_insight(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (kind, _) = super::insights::view(&name)?;
    let params = super::insights::params(&name, parts.uri.query(), &["pretty"])?;
    let user = user_of(&parts.extensions)?;
    let caller = state
        .authorize(user, "get", super::insights::RESOURCE, None, Some(&name))
        .await?;
    let body = super::insights::answer(&state, &caller, &name, &params)?;
    typed(kind, None, &name, WithCache::new(&state, &caller, body))
}
