//! `meta.k8s.io/v1` Table output, so `kubectl get entities.portal.nexus.dev` prints columns.

use serde_json::{Value, json};

use crate::query::Summary;

/// Whether the client asked for a Table (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let part = part.replace(' ', "");
            part.contains("as=Table") && part.contains("g=meta.k8s.io") && part.contains("v=v1")
        })
    })
}

pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Name of an entity in the aggregated API: `<kind>.<name>` (entities of different kinds may
/// share a name within a namespace).
pub fn object_name(s: &Summary) -> String {
    format!("{}.{}", s.kind.to_ascii_lowercase(), s.name)
}

/// A Table answer with the content type kubectl expects.
pub fn table_response(table: Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(table).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(TABLE_CONTENT_TYPE),
    );
    response
}

/// Human age like kubectl prints it (`45s`, `12m`, `3h`, `5d`).
pub fn age(created: Option<&str>) -> String {
    let Some(created) = created.and_then(|c| c.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let seconds = jiff::Timestamp::now().as_second() - created.as_second();
    match seconds {
        s if s < 0 => "0s".into(),
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn entities_table(rows: &[Summary], continue_token: Option<&str>) -> Value {
    let columns = json!([
        {"name": "Name", "type": "string", "format": "name", "description": "<kind>.<name> of the entity", "priority": 0},
        {"name": "Kind", "type": "string", "format": "", "description": "Catalog kind", "priority": 0},
        {"name": "Title", "type": "string", "format": "", "description": "spec.title", "priority": 0},
        {"name": "Owner", "type": "string", "format": "", "description": "Resolved owner", "priority": 0},
        {"name": "Lifecycle", "type": "string", "format": "", "description": "spec.lifecycle", "priority": 0},
        {"name": "Ready", "type": "string", "format": "", "description": "Ready condition", "priority": 0},
        {"name": "Age", "type": "string", "format": "", "description": "Time since creation", "priority": 0},
        {"name": "Type", "type": "string", "format": "", "description": "spec.type", "priority": 1},
        {"name": "Tags", "type": "string", "format": "", "description": "spec.tags", "priority": 1},
    ]);
    let rows: Vec<Value> = rows
        .iter()
        .map(|s| {
            json!({
                "cells": [
                    object_name(s),
                    s.kind,
                    s.title,
                    s.owner.clone().unwrap_or_else(|| "<none>".into()),
                    s.lifecycle.clone().unwrap_or_else(|| "<none>".into()),
                    s.ready,
                    age(s.created_at.as_deref()),
                    s.type_.clone().unwrap_or_else(|| "<none>".into()),
                    if s.tags.is_empty() { "<none>".to_string() } else { s.tags.join(",") },
                ],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {
                        "name": object_name(s),
                        "namespace": s.namespace,
                        "uid": s.uid,
                        "creationTimestamp": s.created_at,
                    }
                }
            })
        })
        .collect();
    let mut metadata = json!({});
    if let Some(token) = continue_token {
        metadata["continue"] = Value::String(token.into());
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_accept_is_recognised_as_kubectl_sends_it() {
        assert!(wants_table(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )));
        assert!(!wants_table(Some("application/json")));
        assert!(!wants_table(None));
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(None), "<unknown>");
        let ten_min_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
        assert_eq!(age(Some(&ten_min_ago.to_string())), "10m");
    }
}
