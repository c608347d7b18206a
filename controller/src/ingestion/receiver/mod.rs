//! The webhook receiver: one endpoint per integration object,
//!
//! ```text
//! POST /webhooks/github/{namespace}/{name}
//! POST /webhooks/azure-devops/{namespace}/{name}
//! POST /webhooks/incidents/{namespace}/{name}
//! ```
//!
//! Each delivery is size-limited, verified (constant-time), de-duplicated by its delivery id,
//! queued, and answered `202 Accepted` at once; parsing and writing happen in the workers.
//! Refusals write nothing: 400 (GitHub delivery without X-GitHub-Event / X-GitHub-Delivery),
//! 401 (missing or wrong signature/token), 404 (no such integration), 409 (a delivery id already
//! accepted), 413 (body too large), 503 (starting, the verification Secret cannot be read, the
//! integration is suspended — told only to verified senders —, or the queue is full; with
//! `Retry-After` where retrying helps). `/healthz` answers while the process lives, `/readyz` once
//! the caches have synced.

pub mod verify;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{
    Delivery, Shared,
    registry::{IntegrationKey, IntegrationKind},
};
use nexus_api::integrations::{IncidentProvider, SecretKeyRef};
use verify::Refusal;

/// How long a delivery id is remembered for replay protection.
pub const DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
pub struct Receiver {
    pub shared: Arc<Shared>,
    pub queue: mpsc::Sender<Delivery>,
    pub max_body: usize,
}

pub fn router(r: Receiver) -> Router {
    Router::new()
        .route("/webhooks/github/{namespace}/{name}", post(github))
        .route(
            "/webhooks/azure-devops/{namespace}/{name}",
            post(azure_devops),
        )
        .route("/webhooks/incidents/{namespace}/{name}", post(incidents))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(r)
}

fn reply(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "status": status.as_u16(), "message": message.into() });
    (status, axum::Json(body)).into_response()
}

/// Ready once the caches have synced (deliveries are accepted).
async fn readyz(State(r): State<Receiver>) -> Response {
    match r.starting() {
        Some(busy) => busy,
        None => reply(StatusCode::OK, "ready"),
    }
}

fn retry_later(message: &str) -> Response {
    let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("5"),
    );
    r
}

impl Receiver {
    /// What every endpoint checks, in this order: the caches have synced, the integration
    /// exists (`config` = its verification secret and `suspend`), the body fits the limit,
    /// the secret is readable, the delivery verifies, and only then — so only a verified sender
    /// learns it — whether the integration is suspended. Returns the body.
    async fn check(
        &self,
        key: &IntegrationKey,
        source: &str,
        config: Option<(&SecretKeyRef, bool)>,
        headers: &HeaderMap,
        body: Body,
        verify: impl FnOnce(&[u8], &[u8]) -> Result<(), Refusal>,
    ) -> Result<bytes::Bytes, Response> {
        if let Some(busy) = self.starting() {
            return Err(busy);
        }
        let Some((secret_ref, suspended)) = config else {
            self.shared
                .metrics
                .deliveries
                .with_label_values(&[source, "unknown_integration"])
                .inc();
            return Err(reply(StatusCode::NOT_FOUND, format!("no {key}")));
        };
        let body = match self.body(headers, body).await {
            Ok(b) => b,
            Err(resp) => {
                self.shared
                    .metrics
                    .deliveries
                    .with_label_values(&[source, "too_large"])
                    .inc();
                self.shared.status.rejected(key);
                return Err(resp);
            }
        };
        let secret = self.secret(key, source, secret_ref).await?;
        if let Err(e) = verify(&secret, &body) {
            let (outcome, msg) = refusal_outcome(e);
            return Err(self.refuse(key, source, outcome, StatusCode::UNAUTHORIZED, msg));
        }
        if suspended {
            return Err(self.refuse(
                key,
                source,
                "suspended",
                StatusCode::SERVICE_UNAVAILABLE,
                "integration is suspended",
            ));
        }
        Ok(body)
    }

    /// 503 until the caches have synced (the integration may not be known yet).
    fn starting(&self) -> Option<Response> {
        (!self
            .shared
            .synced
            .load(std::sync::atomic::Ordering::Acquire))
        .then(|| retry_later("starting, retry later"))
    }

    /// Reads the body up to the limit (the Content-Length is checked first).
    async fn body(&self, headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, Response> {
        let declared = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let too_large = || {
            reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {} bytes", self.max_body),
            )
        };
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        axum::body::to_bytes(body, self.max_body)
            .await
            .map_err(|_| too_large())
    }

    async fn secret(
        &self,
        key: &IntegrationKey,
        source: &str,
        r: &SecretKeyRef,
    ) -> Result<Arc<Vec<u8>>, Response> {
        match self.shared.secrets.read(&key.namespace, r).await {
            Ok(s) => {
                self.shared.status.config_problem(key, None);
                Ok(s)
            }
            Err(e) => {
                self.shared.status.config_problem(key, Some(e.to_string()));
                self.shared
                    .metrics
                    .deliveries
                    .with_label_values(&[source, "secret_unreadable"])
                    .inc();
                tracing::warn!(integration = %key, error = %e, "cannot verify deliveries");
                Err(reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the integration's verification secret cannot be read; see its status",
                ))
            }
        }
    }

    fn refuse(
        &self,
        key: &IntegrationKey,
        source: &str,
        outcome: &str,
        status: StatusCode,
        msg: &str,
    ) -> Response {
        self.shared
            .metrics
            .deliveries
            .with_label_values(&[source, outcome])
            .inc();
        self.shared.status.rejected(key);
        tracing::info!(integration = %key, outcome, "delivery refused");
        reply(status, msg)
    }

    /// De-duplicates and queues a verified delivery.
    fn accept(&self, delivery: Delivery, source: &str) -> Response {
        let key = delivery.integration.clone();
        let dedupe = delivery.dedupe_key.clone();
        if self.shared.seen.contains_key(&dedupe) {
            return self.refuse(
                &key,
                source,
                "duplicate",
                StatusCode::CONFLICT,
                "delivery already received",
            );
        }
        self.shared.seen.insert(dedupe.clone(), ());
        match self.queue.try_send(delivery) {
            Ok(()) => {
                self.shared
                    .metrics
                    .deliveries
                    .with_label_values(&[source, "accepted"])
                    .inc();
                self.shared.metrics.queue_depth.inc();
                self.shared.status.accepted(&key);
                reply(StatusCode::ACCEPTED, "accepted")
            }
            Err(_) => {
                self.shared.seen.invalidate(&dedupe);
                self.shared
                    .metrics
                    .deliveries
                    .with_label_values(&[source, "queue_full"])
                    .inc();
                let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, "busy, retry later");
                r.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("5"),
                );
                r
            }
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

fn key(kind: IntegrationKind, namespace: String, name: String) -> IntegrationKey {
    IntegrationKey {
        kind,
        namespace,
        name,
    }
}

fn refusal_outcome(r: Refusal) -> (&'static str, &'static str) {
    match r {
        Refusal::Missing => ("missing_signature", "signature or token missing"),
        Refusal::Invalid => ("bad_signature", "signature or token does not match"),
    }
}

async fn github(
    State(r): State<Receiver>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received = Instant::now();
    let key = key(IntegrationKind::GitHub, namespace, name);
    let source = "github";
    let integration = r.shared.integrations.github(&key.namespace, &key.name);
    let spec = integration.as_ref().map(|i| &i.spec);
    let checked = r
        .check(
            &key,
            source,
            spec.map(|s| (&s.webhook_secret_ref, s.suspend)),
            &headers,
            body,
            |secret, body| verify::github(secret, body, &headers),
        )
        .await;
    let body = match checked {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    let (Some(event), Some(delivery_id)) = (
        header(&headers, "x-github-event"),
        header(&headers, "x-github-delivery"),
    ) else {
        return r.refuse(
            &key,
            source,
            "malformed",
            StatusCode::BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery headers are required",
        );
    };
    let delivery = Delivery {
        dedupe_key: format!("{key}/{delivery_id}"),
        integration: key,
        kind: DeliveryKind::Github {
            event: event.to_string(),
        },
        id: delivery_id.to_string(),
        body,
        received,
    };
    r.accept(delivery, source)
}

async fn azure_devops(
    State(r): State<Receiver>,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received = Instant::now();
    let key = key(IntegrationKind::AzureDevOps, namespace, name);
    let source = "azure-devops";
    let integration = r
        .shared
        .integrations
        .azure_devops(&key.namespace, &key.name);
    let spec = integration.as_ref().map(|i| &i.spec);
    let checked = r
        .check(
            &key,
            source,
            spec.map(|s| (&s.service_hook_secret_ref, s.suspend)),
            &headers,
            body,
            |secret, _| verify::token(secret, &headers, query.as_deref()),
        )
        .await;
    let body = match checked {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    // Service hooks carry a notification id per delivery; fall back to the body's hash.
    let id = json_field(&body, &["id"]).unwrap_or_else(|| body_hash(&body));
    let delivery = Delivery {
        dedupe_key: format!("{key}/{id}"),
        integration: key,
        kind: DeliveryKind::AzureDevOps,
        id,
        body,
        received,
    };
    r.accept(delivery, source)
}

async fn incidents(
    State(r): State<Receiver>,
    Path((namespace, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received = Instant::now();
    let key = key(IntegrationKind::Incident, namespace, name);
    let integration = r
        .shared
        .integrations
        .incident_source(&key.namespace, &key.name);
    let provider = integration.as_ref().map(|i| i.spec.provider);
    let source = match provider {
        Some(IncidentProvider::AzureMonitor) => "azure-monitor",
        Some(IncidentProvider::Pagerduty) => "pagerduty",
        Some(IncidentProvider::Opsgenie) => "opsgenie",
        None => "incidents",
    };
    let spec = integration.as_ref().map(|i| &i.spec);
    let checked = r
        .check(
            &key,
            source,
            spec.map(|s| (&s.verification_secret_ref, s.suspend)),
            &headers,
            body,
            |secret, body| match provider {
                Some(IncidentProvider::Pagerduty) => verify::pagerduty(secret, body, &headers),
                _ => verify::token(secret, &headers, query.as_deref()),
            },
        )
        .await;
    let body = match checked {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    // `check` refused unknown integrations, so the provider is known here.
    let Some(provider) = provider else {
        return reply(StatusCode::NOT_FOUND, format!("no {key}"));
    };
    // PagerDuty names each event; the others are de-duplicated by content.
    let id = match provider {
        IncidentProvider::Pagerduty => json_field(&body, &["event", "id"]),
        _ => None,
    }
    .unwrap_or_else(|| body_hash(&body));
    let delivery = Delivery {
        dedupe_key: format!("{key}/{id}"),
        integration: key,
        kind: DeliveryKind::Incident(provider),
        id,
        body,
        received,
    };
    r.accept(delivery, source)
}

/// What kind of payload a delivery holds.
#[derive(Clone, Debug)]
pub enum DeliveryKind {
    Github { event: String },
    AzureDevOps,
    Incident(IncidentProvider),
}

fn json_field(body: &[u8], path: &[&str]) -> Option<String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut cur = &v;
    for p in path {
        cur = cur.get(*p)?;
    }
    match cur {
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 200 => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn body_hash(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}
