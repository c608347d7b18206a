//! `GET /audit/entries`: the file audit log read back, newest first, for nexus-apiserver's
//! portal audit page. Served on the webhook listener next to the gate, with its own bearer
//! token (`--audit-token-file`, a Secret shared with nexus-apiserver only): the log names
//! every run and person, so the gate's pipeline token must not open it. nexus-apiserver
//! filters the entries by each caller's RBAC; this endpoint answers whoever holds the token.
//!
//! Any replica answers: the log's directory is the shared volume the leader writes.

use std::{path::PathBuf, sync::Arc};

use axum::{
    Json, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use nexus_audit::log::read::{MAX_LIMIT, Query, read_newest_first};
use serde_json::{Value, json};

/// Page size without `limit`.
const DEFAULT_LIMIT: usize = 100;

pub struct AuditEntries {
    /// The log's directory (`--audit-log-dir`); None: no file log, the endpoint says so.
    pub dir: Option<PathBuf>,
    /// `--audit-token-file`; None: the endpoint is off.
    pub token_file: Option<PathBuf>,
}

pub fn router(state: Arc<AuditEntries>) -> Router {
    Router::new()
        .route("/audit/entries", get(entries))
        .with_state(state)
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"status": status.as_u16(), "message": message.into()});
    (status, Json(body)).into_response()
}

/// The query: `namespace`, `run`, `actor`, `after` (a seq: entries older than it), `limit`.
pub fn parse_query(raw: Option<&str>) -> Result<Query, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|e| format!("query string does not parse: {e}"))?;
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "namespace" => q.namespace = Some(v),
            "run" => q.run = Some(v),
            "actor" => q.actor = Some(v),
            "after" => {
                q.before = Some(
                    v.parse()
                        .map_err(|_| format!("after must be a sequence number, not {v:?}"))?,
                );
            }
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit must be 1 to {MAX_LIMIT}, not {v:?}"))?;
            }
            other => {
                return Err(format!(
                    "unknown query parameter `{other}`; accepted: namespace, run, actor, after, limit"
                ));
            }
        }
    }
    Ok(q)
}

async fn entries(
    State(s): State<Arc<AuditEntries>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err((status, message)) =
        crate::runtime::token::check(s.token_file.as_deref(), &headers, "audit")
    {
        return refuse(status, message);
    }
    let query = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(m) => return refuse(StatusCode::BAD_REQUEST, m),
    };
    let Some(dir) = s.dir.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "there is no file audit log: the controller runs without --audit-log-dir",
        );
    };
    // Reading a segment is blocking file I/O of up to its size.
    let read = tokio::task::spawn_blocking(move || read_newest_first(&dir, &query)).await;
    match read {
        Ok(Ok(page)) => {
            let next = page.entries.last().map(|e| e.seq).filter(|_| page.more);
            let items: Vec<Value> = page
                .entries
                .iter()
                .filter_map(|e| {
                    let mut v = serde_json::to_value(e).ok()?;
                    let ns = e.event.run.split_once('/').map(|(ns, _)| ns.to_string());
                    if let Some(m) = v.as_object_mut() {
                        m.insert("namespace".into(), json!(ns));
                    }
                    Some(v)
                })
                .collect();
            let mut body = json!({ "items": items });
            if let Some(n) = next {
                body["next"] = json!(n);
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "audit log unreadable");
            refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use nexus_audit::log::{Event, Kind, Writer, WriterConfig};
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn query_is_checked() {
        let q = parse_query(Some("namespace=pay&after=7&limit=3")).unwrap();
        assert_eq!(
            (q.namespace.as_deref(), q.before, q.limit),
            (Some("pay"), Some(7), 3)
        );
        assert!(parse_query(Some("limit=0")).unwrap_err().contains("limit"));
        assert!(
            parse_query(Some("nmspace=x"))
                .unwrap_err()
                .contains("nmspace")
        );
    }

    #[tokio::test]
    async fn token_then_entries_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut w = Writer::open(WriterConfig::new(&log)).unwrap();
        for run in ["pay/a", "ship/b", "pay/c"] {
            w.append(Event::new(Kind::RunCreated, "dana", run, "scale", ""))
                .unwrap();
        }
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let app = router(Arc::new(AuditEntries {
            dir: Some(log),
            token_file: Some(token),
        }));
        let call = |auth: Option<&str>, q: &str| {
            let mut r = Request::get(format!("/audit/entries{q}"));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            app.clone().oneshot(r.body(Body::empty()).unwrap())
        };
        let r = call(None, "").await.unwrap();
        assert_eq!(r.status(), 401);
        let r = call(Some("Bearer nope"), "").await.unwrap();
        assert_eq!(r.status(), 401);
        let r = call(Some("Bearer s3cret"), "?namespace=pay&limit=1")
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["items"][0]["event"]["run"], "pay/c");
        assert_eq!(body["items"][0]["namespace"], "pay");
        assert_eq!(body["items"][0]["seq"], 2);
        assert!(body["items"][0]["hash"].is_string());
        assert_eq!(body["next"], 2);
    }
}
