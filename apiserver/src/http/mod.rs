//! The two faces over the same queries: `aggregated` (kube-apiserver → `portal.nexus.dev`) and
//! `portal` (`/api/v1`, bearer tokens), plus the live-update stream and the OpenAPI documents.

pub mod actions;
pub mod aggregated;
pub mod assets;
pub mod error;
pub mod insights;
pub mod openapi;
pub mod openapi_actions;
pub mod params;
pub mod portal;
pub mod stream;
pub mod table;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

use nexus_api::EntityRef;
use serde::Serialize;

use crate::{
    authn::{UserInfo, bearer::BearerAuth, frontproxy::FrontProxyAuth},
    authz::{Attributes, PORTAL_GROUP, Visibility, visibility::VisibilityResolver},
    cache::{Cache, sync::Freshness},
    metrics::Metrics,
};

pub use error::ApiError;

pub const STALE_HEADER: &str = "x-nexus-cache-stale-seconds";
pub const SYNCED_HEADER: &str = "x-nexus-cache-synced";
pub const AUTHZ_STALE_HEADER: &str = "x-nexus-authz-stale";

/// Everything a handler needs.
pub struct AppState {
    pub cache: Arc<Cache>,
    pub resolver: Arc<VisibilityResolver>,
    pub metrics: Arc<Metrics>,
    pub front_proxy: Option<Arc<FrontProxyAuth>>,
    pub bearer: Option<Arc<BearerAuth>>,
    pub sse_keepalive: Duration,
    /// Writes by impersonation and the audit source (portal actions endpoints).
    pub actions: crate::actions::Backends,
}

pub type SharedState = Arc<AppState>;

/// The caller, authorised for one portal resource, with what they may see.
pub struct Caller {
    pub user: Arc<UserInfo>,
    pub visibility: Arc<Visibility>,
}

impl AppState {
    /// Checks the portal-level permission (`verb` on `portal.nexus.dev/<resource>`), then works
    /// out which entities the caller sees.
    pub async fn authorize(
        &self,
        user: UserInfo,
        verb: &'static str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<Caller, ApiError> {
        let user = Arc::new(user);
        let mut attributes = Attributes::get(PORTAL_GROUP, resource, namespace).verb(verb);
        if let Some(name) = name {
            attributes = attributes.named(name);
        }
        let decision = self.resolver.authorizer().check(&user, &attributes).await?;
        if !decision.allowed {
            return Err(ApiError::Forbidden(format!(
                "user \"{}\" cannot {verb} resource \"{resource}\" in API group \"{PORTAL_GROUP}\"{}",
                user.username,
                namespace
                    .map(|ns| format!(" in the namespace \"{ns}\""))
                    .unwrap_or_else(|| " at the cluster scope".into())
            )));
        }
        let visibility = self.resolver.resolve(&user, &self.cache).await;
        Ok(Caller { user, visibility })
    }
}

impl AppState {
    /// Authorises `get` on an entity-scoped portal resource (`entities`, `graphs`, `impacts`,
    /// `teamviews`) for this entity, and widens visibility by a name grant when RBAC gives the
    /// caller this one entity by `resourceNames`. Both faces name the object as the aggregated
    /// API does: `<kind>.<name>`, or the Team's name for `teamviews`.
    pub async fn authorize_entity(
        &self,
        user: UserInfo,
        resource: &str,
        id: &EntityRef,
    ) -> Result<Caller, ApiError> {
        let object = if resource == "teamviews" {
            id.name.to_string()
        } else {
            format!("{}.{}", id.kind.ref_name(), id.name)
        };
        let mut caller = self
            .authorize(user, "get", resource, Some(&id.namespace), Some(&object))
            .await?;
        if !caller.visibility.can_see(id)
            && self
                .resolver
                .can_get(&caller.user, &caller.visibility, id)
                .await?
        {
            caller.visibility = Arc::new(caller.visibility.with_name(id.clone()));
        }
        Ok(caller)
    }
}

/// An answer with the cache's freshness attached (both faces).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WithCache<T: Serialize> {
    #[serde(flatten)]
    pub body: T,
    pub cache: Freshness,
    /// Permissions came from last-known answers (kube-apiserver unreachable).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub permissions_stale: bool,
}

impl<T: Serialize> WithCache<T> {
    pub fn new(state: &AppState, caller: &Caller, body: T) -> Self {
        Self {
            body,
            cache: state.cache.sync.freshness(),
            permissions_stale: caller.visibility.stale,
        }
    }
}

/// Adds cache freshness headers to every answer and records request metrics.
pub async fn observe(
    State((state, face)): State<(SharedState, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let freshness = state.cache.sync.freshness();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&freshness.stale_seconds.to_string()) {
        headers.insert(HeaderName::from_static(STALE_HEADER), v);
    }
    headers.insert(
        HeaderName::from_static(SYNCED_HEADER),
        HeaderValue::from_static(if freshness.synced { "true" } else { "false" }),
    );
    state
        .metrics
        .requests
        .with_label_values(&[face, &route, response.status().as_str()])
        .inc();
    state
        .metrics
        .request_duration
        .with_label_values(&[face, &route])
        .observe(started.elapsed().as_secs_f64());
    response
}
