//! The portal API, `/api/v1`: the same queries as the aggregated face, authenticated with
//! bearer tokens (Entra ID, or dev tokens under `make dev`) and authorised with the same
//! SubjectAccessReviews.

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::HeaderMap,
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use nexus_api::{EntityKind, EntityRef};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, Caller, SharedState, WithCache, observe, params::Params};
use crate::{
    authn::UserInfo,
    query::{
        self, dashboard, entity, graph, parse_kind, parse_ref, runbooks,
        search::{self, SearchParams},
        team,
    },
};

/// Search parameters `/api/v1/runbooks` takes (the kind is fixed; type and lifecycle mean
/// nothing for runbooks).
const RUNBOOK_SEARCH_KEYS: &[&str] = &[
    "q",
    "namespace",
    "owner",
    "tag",
    "sort",
    "limit",
    "cursor",
    "facets",
];

/// Headers of rendered runbooks: the HTML is sanitised already; the policy is the second
/// line of defence should a browser open it directly (no script, no plugin, no form, no
/// styles, images over https only, nothing may frame it but the portal itself).
const RUNBOOK_CSP: &str = "default-src 'none'; img-src https:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'self'; sandbox allow-popups \
     allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation";

pub fn router(state: SharedState) -> Router {
    let mut router = Router::new()
        .route("/api/v1/search", get(search_handler))
        .route("/api/v1/facets", get(facets_handler))
        .route(
            "/api/v1/entities/{kind}/{namespace}/{name}",
            get(entity_handler),
        )
        .route(
            "/api/v1/entities/{kind}/{namespace}/{name}/graph",
            get(graph_handler),
        )
        .route(
            "/api/v1/entities/{kind}/{namespace}/{name}/impact",
            get(impact_handler),
        )
        .route("/api/v1/runbooks", get(runbook_search_handler))
        .route(
            "/api/v1/runbooks/for/{kind}/{namespace}/{name}",
            get(runbooks_for_handler),
        )
        .route(
            "/api/v1/runbooks/{namespace}/{name}/html",
            get(runbook_html_handler),
        )
        .route("/api/v1/teams/{namespace}/{name}", get(team_handler))
        .route("/api/v1/me", get(me_handler))
        .route("/api/v1/me/dashboard", get(dashboard_handler))
        .route("/api/v1/insights/{view}", get(insights_handler))
        .route("/api/v1/status", get(status_handler))
        .route("/api/v1/stream", get(super::stream::portal_stream))
        .route("/api/v1/openapi.json", get(super::openapi::portal_document))
        .merge(super::actions::routes());
    if state.bearer.as_ref().is_some_and(|b| b.is_dev()) {
        router = router
            .route("/api/v1/dev/users", get(dev_users))
            .route("/api/v1/dev/token", post(dev_token));
    }
    router
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
        })
        .layer(middleware::from_fn_with_state(
            (state.clone(), "portal"),
            observe,
        ))
        .with_state(state)
}

pub fn answer<T: Serialize>(state: &SharedState, caller: &Caller, body: T) -> Response {
    let mut response = Json(WithCache::new(state, caller, body)).into_response();
    mark_authz_stale(&mut response, caller);
    response
}

/// Says so on the answer when permissions came from last-known SubjectAccessReview answers.
fn mark_authz_stale(response: &mut Response, caller: &Caller) {
    if caller.visibility.stale {
        response.headers_mut().insert(
            axum::http::HeaderName::from_static(super::AUTHZ_STALE_HEADER),
            axum::http::HeaderValue::from_static("true"),
        );
    }
}

pub async fn authenticate(state: &SharedState, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let bearer = state
        .bearer
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("portal authentication is not configured".into()))?;
    Ok(bearer.authenticate(headers).await?)
}

async fn search_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let search = Params::parse(raw.as_deref(), SearchParams::KEYS)?.search()?;
    let caller = state
        .authorize(user, "list", "searches", None, None)
        .await?;
    let result = search::run(&state.cache, &caller.visibility, &search)?;
    Ok(answer(&state, &caller, result))
}

async fn facets_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let mut search = Params::parse(raw.as_deref(), SearchParams::FILTER_KEYS)?.search()?;
    search.limit = 0;
    search.facets = true;
    let caller = state.authorize(user, "list", "facets", None, None).await?;
    let result = search::run(&state.cache, &caller.visibility, &search)?;
    Ok(answer(
        &state,
        &caller,
        json!({"total": result.total, "facets": result.facets}),
    ))
}

fn entity_ref(kind: &str, namespace: &str, name: &str) -> Result<EntityRef, ApiError> {
    let kind = parse_kind(kind)?;
    Ok(parse_ref(&format!(
        "{}:{namespace}/{name}",
        kind.ref_name()
    ))?)
}

/// The common start of an entity-scoped request: who, which parameters, which entity, and what
/// the caller may see.
async fn scoped(
    state: &SharedState,
    headers: &HeaderMap,
    raw: Option<&str>,
    accepted: &[&str],
    resource: &str,
    id: Result<EntityRef, ApiError>,
) -> Result<(Caller, EntityRef, Params), ApiError> {
    let user = authenticate(state, headers).await?;
    let params = Params::parse(raw, accepted)?;
    let id = id?;
    let caller = state.authorize_entity(user, resource, &id).await?;
    Ok((caller, id, params))
}

async fn entity_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = entity_ref(&kind, &namespace, &name);
    let (caller, id, _) = scoped(&state, &headers, raw.as_deref(), &[], "entities", id).await?;
    let view = entity::get(&state.cache, &caller.visibility, &id)?;
    Ok(answer(&state, &caller, view))
}

async fn graph_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = entity_ref(&kind, &namespace, &name);
    let accepted = ["depth", "relations"];
    let (caller, id, params) =
        scoped(&state, &headers, raw.as_deref(), &accepted, "graphs", id).await?;
    let graph_params = graph::parse_params(params.get("depth"), params.get("relations"))?;
    let graph = graph::neighbourhood(&state.cache, &caller.visibility, &id, &graph_params)?;
    Ok(answer(&state, &caller, graph))
}

async fn impact_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = entity_ref(&kind, &namespace, &name);
    let (caller, id, _) = scoped(&state, &headers, raw.as_deref(), &[], "impacts", id).await?;
    let impact = graph::impact(&state.cache, &caller.visibility, &id)?;
    Ok(answer(&state, &caller, impact))
}

/// `/api/v1/runbooks`: search over runbooks only (text covers title, tags, description, the
/// Markdown, alerts and resource types), with facets — `tag` among them.
async fn runbook_search_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let mut params = Params::parse(raw.as_deref(), RUNBOOK_SEARCH_KEYS)?;
    params.append("kind", "runbook");
    let search = params.search()?;
    let caller = state
        .authorize(user, "list", "searches", None, None)
        .await?;
    let result = search::run(&state.cache, &caller.visibility, &search)?;
    Ok(answer(&state, &caller, result))
}

/// `/api/v1/runbooks/for/{kind}/{namespace}/{name}`: the runbooks that match an entity, ranked,
/// with reasons. Authorised like the entity's impact analysis (`impacts`), of which it is part.
async fn runbooks_for_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((kind, namespace, name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = entity_ref(&kind, &namespace, &name);
    let (caller, id, _) = scoped(&state, &headers, raw.as_deref(), &[], "impacts", id).await?;
    let found = runbooks::for_entity(&state.cache, &caller.visibility, &id)?;
    Ok(answer(&state, &caller, found))
}

/// `/api/v1/runbooks/{namespace}/{name}/html`: the runbook's Markdown as sanitised HTML (a
/// fragment), authorised like reading the Runbook entity.
async fn runbook_html_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = entity_ref("runbook", &namespace, &name);
    let (caller, id, _) = scoped(&state, &headers, raw.as_deref(), &[], "entities", id).await?;
    let rendered = runbooks::html(&state.cache, &caller.visibility, &id)?;
    let mut response = rendered.html.into_response();
    let h = response.headers_mut();
    use axum::http::{HeaderValue, header};
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(RUNBOOK_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    mark_authz_stale(&mut response, &caller);
    Ok(response)
}

async fn team_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let id = entity_ref("team", &namespace, &name);
    let (caller, id, _) = scoped(&state, &headers, raw.as_deref(), &[], "teamviews", id).await?;
    let view = team::view(&state.cache, &caller.visibility, &id)?;
    Ok(answer(&state, &caller, view))
}

async fn dashboard_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    Params::parse(raw.as_deref(), &[])?;
    let caller = state
        .authorize(user, "get", "dashboards", None, Some("me"))
        .await?;
    let board = dashboard::build(&state.cache, &caller.visibility, &caller.user);
    Ok(answer(&state, &caller, board))
}

/// `/api/v1/insights/<view>`: heatmap, rankings, distribution, trends, dora, dora-trend.
async fn insights_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(view): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let params = super::insights::params(&view, raw.as_deref(), &[])?;
    let caller = state
        .authorize(user, "get", super::insights::RESOURCE, None, Some(&view))
        .await?;
    let body = super::insights::answer(&state, &caller, &view, &params)?;
    Ok(answer(&state, &caller, body))
}

async fn me_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let caller = state
        .authorize(user, "get", "dashboards", None, Some("me"))
        .await?;
    let visible_kinds: Vec<&str> = EntityKind::ALL
        .into_iter()
        .filter(|k| caller.visibility.sees_all_of(*k))
        .map(EntityKind::as_str)
        .collect();
    let body = json!({
        "user": &*caller.user,
        "seesEverything": caller.visibility.sees_everything(),
        "kindsVisibleEverywhere": visible_kinds,
    });
    Ok(answer(&state, &caller, body))
}

async fn status_handler(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, &headers).await?;
    let caller = state.authorize(user, "list", "facets", None, None).await?;
    let all = search::Search {
        limit: 0,
        ..Default::default()
    };
    let result = query::search::run(&state.cache, &caller.visibility, &all)?;
    let kinds = result.facets.map(|f| f.kind).unwrap_or_default();
    let body = json!({
        "entities": result.total,
        "byKind": kinds,
        "indexPending": state.cache.index.pending(),
    });
    Ok(answer(&state, &caller, body))
}

const DEV_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevTokenRequest {
    user: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// Dev-auth only: the example users to sign in as.
async fn dev_users(State(state): State<SharedState>) -> Response {
    let store = state.cache.read();
    let users: Vec<_> = store
        .iter()
        .filter(|e| e.id.kind == EntityKind::User)
        .map(|e| {
            let email = match &e.facts {
                crate::cache::entity::KindFacts::User(u) => u.email.clone(),
                _ => None,
            };
            let teams: Vec<String> = e
                .related(nexus_api::RelationType::MemberOf)
                .map(ToString::to_string)
                .collect();
            json!({"ref": e.id.to_string(), "name": e.display_name(), "email": email, "teams": teams})
        })
        .collect();
    Json(json!({ "users": users })).into_response()
}

/// Dev-auth only: a token for a chosen user and groups.
async fn dev_token(
    State(state): State<SharedState>,
    body: Result<Json<DevTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    if request.user.trim().is_empty() {
        return Err(ApiError::BadRequest("user must not be empty".into()));
    }
    let Some(crate::authn::bearer::BearerAuth::Dev(dev)) = state.bearer.as_deref() else {
        return Err(ApiError::NotFound("dev-auth is off".into()));
    };
    let token = dev
        .mint(&request.user, &request.groups, DEV_TOKEN_TTL)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(
        Json(json!({"token": token, "user": request.user, "groups": request.groups}))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::{
        authn::{bearer::BearerAuth, dev::DevAuth},
        authz::{Authorizer, visibility::VisibilityResolver},
        http::AppState,
        metrics::Metrics,
        query::fixtures::org,
    };

    fn app(allowed: bool) -> (Router, DevAuth, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let dev = DevAuth::load_or_create(&key).unwrap();
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(AppState {
            cache: org(),
            resolver: Arc::new(VisibilityResolver::new(
                Arc::new(Authorizer::fixed(allowed, metrics.clone())),
                Duration::from_secs(10),
            )),
            metrics,
            front_proxy: None,
            bearer: Some(Arc::new(BearerAuth::Dev(DevAuth::load(&key).unwrap()))),
            sse_keepalive: Duration::from_secs(15),
            actions: Default::default(),
        });
        (router(state), dev, dir)
    }

    async fn call(
        app: &Router,
        uri: &str,
        token: Option<&str>,
    ) -> (u16, HeaderMap, serde_json::Value) {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn tokens_parameters_and_freshness_over_http() {
        let (app, dev, _dir) = app(true);
        let token = dev
            .mint("alice@contoso.com", &[], Duration::from_secs(60))
            .unwrap();
        let (code, headers, body) =
            call(&app, "/api/v1/search?q=checkout&limit=1", Some(&token)).await;
        assert_eq!(code, 200);
        assert_eq!(body["items"][0]["ref"], "component:pay/checkout");
        assert!(body["nextCursor"].is_string());
        assert!(headers.contains_key("x-nexus-cache-stale-seconds"));
        assert_eq!(
            body["cache"]["synced"], false,
            "the fixture never listed from a cluster"
        );

        let (code, _, body) = call(&app, "/api/v1/search?q=x", None).await;
        assert_eq!((code, body["reason"].as_str()), (401, Some("Unauthorized")));
        let (code, _, _) = call(&app, "/api/v1/search", Some("not.a.jwt")).await;
        assert_eq!(code, 401);
        let (code, _, body) = call(&app, "/api/v1/search?limti=3", Some(&token)).await;
        assert_eq!(code, 400);
        assert!(body["message"].as_str().unwrap().contains("`limti`"));
        let (code, _, _) = call(&app, "/api/v1/entities/widget/pay/checkout", Some(&token)).await;
        assert_eq!(code, 400);
        let (code, _, body) = call(
            &app,
            "/api/v1/entities/component/pay/checkout",
            Some(&token),
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(
            body["relations"]["dependsOn"][0]["ref"],
            "component:pay/ledger"
        );
        let (code, _, _) = call(&app, "/api/v1/entities/component/pay/nope", Some(&token)).await;
        assert_eq!(code, 404);
        let (code, _, body) = call(&app, "/api/v1/me/dashboard", Some(&token)).await;
        assert_eq!(code, 200);
        assert_eq!(body["myServices"]["total"], 2);
        let (code, _, body) = call(&app, "/api/v1/openapi.json", None).await;
        assert_eq!(code, 200);
        assert!(body["paths"]["/api/v1/search"].is_object());
    }

    #[tokio::test]
    async fn runbook_routes_over_http() {
        let (app, dev, _dir) = app(true);
        let token = dev
            .mint("alice@contoso.com", &[], Duration::from_secs(60))
            .unwrap();
        // Search: runbooks only, tag facets, tag filter; kind cannot be widened.
        let (code, _, body) = call(&app, "/api/v1/runbooks?q=ledger", Some(&token)).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["total"], 1);
        assert_eq!(body["items"][0]["ref"], "runbook:pay/ledger-down");
        assert!(
            body["facets"]["tag"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["value"] == "sev1"),
            "{body}"
        );
        let (_, _, body) = call(&app, "/api/v1/runbooks?tag=nope", Some(&token)).await;
        assert_eq!(body["total"], 0);
        let (code, _, body) = call(&app, "/api/v1/runbooks?kind=component", Some(&token)).await;
        assert_eq!(code, 400, "{body}");
        // Surfacing for the incident on the ledger: matched through what it affects.
        let (code, _, body) = call(
            &app,
            "/api/v1/runbooks/for/incident/pay/inc-1",
            Some(&token),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["items"][0]["ref"], "runbook:pay/ledger-down");
        assert_eq!(body["items"][0]["reasons"][0]["via"], "affected");
        assert!(body["cache"].is_object());
        let (code, _, _) = call(&app, "/api/v1/runbooks/for/widget/pay/x", Some(&token)).await;
        assert_eq!(code, 400);
        // HTML: sanitised, with the headers that keep a browser from running anything.
        let response = app
            .clone()
            .oneshot(
                Request::get("/api/v1/runbooks/pay/ledger-down/html")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let h = response.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'; img-src https:;"),
            "{csp}"
        );
        assert!(csp.contains("sandbox"), "{csp}");
        let text = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(text.to_vec()).unwrap();
        assert!(
            text.contains("<h1>Ledger down</h1>") && !text.contains("<script"),
            "{text}"
        );
        let (code, _, _) = call(&app, "/api/v1/runbooks/pay/missing/html", Some(&token)).await;
        assert_eq!(code, 404);
        let (code, _, _) = call(&app, "/api/v1/runbooks/pay/ledger-down/html", None).await;
        assert_eq!(code, 401);
        // Documented, with every schema it refers to.
        let (_, _, doc) = call(&app, "/api/v1/openapi.json", None).await;
        for path in [
            "/api/v1/runbooks",
            "/api/v1/runbooks/for/{kind}/{namespace}/{name}",
            "/api/v1/runbooks/{namespace}/{name}/html",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        let text = doc.to_string();
        for name in ["RunbooksFor", "RunbookMatch", "RunbookReason"] {
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
            assert!(
                text.contains(&format!("#/components/schemas/{name}")),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn insights_parameters_are_checked_on_the_portal_face() {
        let (app, dev, _dir) = app(true);
        let token = dev
            .mint("alice@contoso.com", &[], Duration::from_secs(60))
            .unwrap();
        let (code, _, body) = call(&app, "/api/v1/insights/heatmap", Some(&token)).await;
        assert_eq!(code, 200);
        assert!(
            body["teams"].is_array() && body["cache"].is_object(),
            "{body}"
        );
        let (code, _, body) = call(&app, "/api/v1/insights/heatmaps", Some(&token)).await;
        assert_eq!(code, 404);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("heatmap, rankings")
        );
        for (uri, wanted) in [
            ("/api/v1/insights/rankings", "scorecard is required"),
            (
                "/api/v1/insights/rankings?scorecard=nope",
                "not namespace/name",
            ),
            (
                "/api/v1/insights/heatmap?team=x",
                "unknown query parameter `team`",
            ),
            (
                "/api/v1/insights/dora?name=pay/checkout",
                "scope is required",
            ),
            (
                "/api/v1/insights/dora?scope=squad&name=x",
                "not one of service, team, person",
            ),
            (
                "/api/v1/insights/dora?scope=service&name=pay/checkout&window=year",
                "window `year`",
            ),
            (
                "/api/v1/insights/dora?scope=service&name=pay/checkout&end=31-03-2024",
                "not a date",
            ),
            (
                "/api/v1/insights/dora-trend?scope=team&name=pay/payments&weeks=0",
                "from 1 to 57",
            ),
            (
                "/api/v1/insights/trends?scorecard=org/x&days=100000",
                "days",
            ),
        ] {
            let (code, _, body) = call(&app, uri, Some(&token)).await;
            assert_eq!(code, 400, "{uri}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains(wanted), "{uri}: {message}");
        }
        let (code, _, body) = call(
            &app,
            "/api/v1/insights/dora?scope=service&name=pay/checkout&window=week&end=2024-03-31",
            Some(&token),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["metrics"]["deployments"], 0);
        assert_eq!(body["metrics"]["tiers"]["leadTime"], "unknown");
        let (code, _, _) = call(
            &app,
            "/api/v1/insights/dora?scope=service&name=pay/nope",
            Some(&token),
        )
        .await;
        assert_eq!(code, 404);
    }

    #[tokio::test]
    async fn without_the_portal_permission_it_is_403() {
        let (app, dev, _dir) = app(false);
        let token = dev.mint("mallory", &[], Duration::from_secs(60)).unwrap();
        let (code, _, body) = call(&app, "/api/v1/search", Some(&token)).await;
        assert_eq!(code, 403);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("cannot list resource \"searches\"")
        );
    }
}
