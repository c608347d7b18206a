//! The two faces over the same queries: `aggregated` (kube-apiserver → `portal.nexus.dev`) and
//! `portal` (`/api/v1`, bearer tokens), plus the live-update stream and the OpenAPI documents.

pub mod aggregated;
pub mod error;
pub mod openapi;
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

use crate::{
    authn::{UserInfo, bearer::BearerAuth, frontproxy::FrontProxyAuth},
    authz::{Attributes, PORTAL_GROUP, Visibility, visibility::VisibilityResolver},
    cache::Cache,
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
        let visibility = self.resolver.resolve(&user, &self.cache).await?;
        Ok(Caller { user, visibility })
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
