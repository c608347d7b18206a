//! OpenAPI documents: v3 for the aggregated group (what kube-apiserver merges into
//! `/openapi/v3`, and what `kubectl explain` reads) and one for the portal API.

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    aggregated::{GROUP_VERSION, RESOURCES},
    insights::VIEWS as INSIGHT_VIEWS,
};

fn summary_schema() -> Value {
    json!({
        "type": "object",
        "description": "An entity as lists show it.",
        "properties": {
            "ref": {"type": "string", "description": "kind:namespace/name"},
            "kind": {"type": "string"},
            "namespace": {"type": "string"},
            "name": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "type": {"type": "string"},
            "lifecycle": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": "string", "description": "Resolved owner reference"},
            "ready": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "readyReason": {"type": "string"},
            "createdAt": {"type": "string", "format": "date-time"}
        },
        "required": ["ref", "kind", "namespace", "name", "title", "ready"]
    })
}

fn schemas(prefix: &str) -> Value {
    let r = |name: &str| json!({"$ref": format!("{prefix}{name}")});
    let facet = json!({"type": "array", "items": {"type": "object", "properties": {"value": {"type": "string"}, "count": {"type": "integer"}}}});
    let cache = json!({"type": "object", "description": "How current the cache is.", "properties": {
        "synced": {"type": "boolean", "description": "Every kind has been listed at least once"},
        "staleSeconds": {"type": "number", "description": "Seconds since the oldest broken watch broke; 0 when live"}}});
    let node = json!({"allOf": [r("Summary"), {"type": "object", "properties": {"depth": {"type": "integer"}}}]});
    let edge = json!({"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}, "type": {"type": "string"}}});
    let section = |items: Value| {
        json!({"type": "object", "properties": {
        "items": {"type": "array", "items": items}, "total": {"type": "integer"},
        "emptyState": {"type": "string", "description": "What would fill this section, when it is empty"}}})
    };
    let int = json!({"type": "integer"});
    let num = |d: &str| json!({"type": "number", "description": d});
    let level_count = json!({"type": "object", "properties": {"level": {"type": "string"}, "entities": int.clone()}});
    let cell_props = json!({
        "entities": int.clone(), "passed": int.clone(),
        "passRate": {"type": "integer", "description": "floor(100 × passed / entities)"},
        "averageScore": num("Mean score, one decimal"),
        "perLevel": {"type": "array", "items": level_count.clone(), "description": "Entities at each level (their highest), in ladder order"},
        "noLevel": {"type": "integer", "description": "Entities below the first level"}});
    let scorecard_props = json!({
        "scorecard": {"type": "string", "description": "namespace/name"},
        "title": {"type": "string"},
        "levels": {"type": "array", "items": {"type": "string"}, "description": "The ladder, lowest first"}});
    let merged = |a: &Value, b: Value| {
        let mut m = a.as_object().cloned().unwrap_or_default();
        if let Value::Object(b) = b {
            m.extend(b);
        }
        Value::Object(m)
    };
    let tier = json!({"type": "string", "enum": ["elite", "high", "medium", "low", "unknown"]});
    let metrics = json!({"type": "object", "description": "The four DORA keys over one window, with their tiers", "properties": {
        "window": {"type": "string", "enum": ["day", "week", "month", "quarter"]},
        "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
        "deployments": int.clone(), "failedDeployments": int.clone(), "incidents": int.clone(),
        "deploymentFrequency": num("Deployments per day, averaged over the window"),
        "leadTimeSeconds": num("Median lead time for changes; absent without samples"),
        "changeFailureRate": num("Failed deployments / deployments, 0–1; absent without deployments"),
        "recoveryTimeSeconds": num("Median time to restore of the incidents created in the window; absent without resolved incidents"),
        "leadTimeSamples": int.clone(), "leadTimesDropped": int.clone(),
        "recoverySamples": int.clone(), "recoveriesDropped": int.clone(),
        "tiers": {"type": "object", "properties": {"deploymentFrequency": tier.clone(), "leadTime": tier.clone(),
            "changeFailureRate": tier.clone(), "recoveryTime": tier}}}});
    let dora_scope = json!({"type": "string", "enum": ["service", "team", "person"]});
    json!({
        "Cell": {"type": "object", "description": "How a group of entities stands on one scorecard", "properties": cell_props.clone()},
        "ScoreHeatmap": {"type": "object", "properties": {
            "scorecards": {"type": "array", "items": {"type": "object", "properties": scorecard_props.clone()}},
            "teams": {"type": "array", "items": {"type": "object", "properties": {
                "team": {"type": "string", "nullable": true, "description": "team:namespace/name; null for entities no Team owns"},
                "title": {"type": "string"},
                "cells": {"type": "object", "description": "By scorecard (namespace/name)", "additionalProperties": r("Cell")}}}},
            "cache": r("Cache")}},
        "TeamRankings": {"type": "object", "properties": merged(&scorecard_props, json!({
            "teams": {"type": "array", "items": {"type": "object", "properties": merged(&cell_props, json!({
                "rank": int.clone(), "team": {"type": "string"}, "title": {"type": "string"}}))}},
            "entities": {"type": "object", "description": "The visible entities at both ends (at most 10 each)", "properties": {
                "total": int.clone(),
                "best": {"type": "array", "items": r("RankedEntity")},
                "needsAttention": {"type": "array", "items": r("RankedEntity"), "description": "Lowest score first"}}},
            "cache": r("Cache")}))},
        "RankedEntity": {"type": "object", "properties": {
            "ref": {"type": "string"}, "kind": {"type": "string"}, "title": {"type": "string"},
            "team": {"type": "string", "nullable": true}, "score": int.clone(),
            "level": {"type": "string", "nullable": true}, "passed": {"type": "boolean"}}},
        "ScoreDistribution": {"type": "object", "properties": merged(&merged(&scorecard_props, cell_props.clone()), json!({
            "team": {"type": "string"},
            "bins": {"type": "array", "items": {"type": "object", "properties": {"from": int.clone(), "to": int.clone(), "entities": int.clone()}},
                "description": "0–9, 10–19, …, 90–100"},
            "cache": r("Cache")}))},
        "ScoreTrend": {"type": "object", "properties": merged(&scorecard_props, json!({
            "team": {"type": "string"}, "days": int.clone(), "from": {"type": "string", "format": "date"},
            "snapshotsListed": {"type": "boolean"},
            "points": {"type": "array", "items": {"type": "object", "properties": {
                "date": {"type": "string", "format": "date"}, "entities": int.clone(), "averageScore": num("Mean score, one decimal"),
                "perLevel": {"type": "array", "items": level_count}, "noLevel": int.clone()}}},
            "cache": r("Cache")}))},
        "DoraWindowMetrics": metrics,
        "DoraMetrics": {"type": "object", "properties": {
            "scope": dora_scope.clone(), "name": {"type": "string"}, "services": int.clone(),
            "metrics": r("DoraWindowMetrics"), "cache": r("Cache")}},
        "DoraTrend": {"type": "object", "properties": {
            "scope": dora_scope, "name": {"type": "string"}, "services": int.clone(), "weeks": int.clone(),
            "points": {"type": "array", "items": r("DoraWindowMetrics")}, "cache": r("Cache")}},
        "PersonalDora": {"type": "object", "properties": {
            "person": {"type": "string"}, "services": int,
            "week": r("DoraWindowMetrics"), "month": r("DoraWindowMetrics"), "quarter": r("DoraWindowMetrics"),
            "emptyState": {"type": "string"}}},
        "Summary": summary_schema(),
        "Cache": cache,
        "Facets": {"type": "object", "properties": {
            "kind": facet, "namespace": facet, "owner": facet, "lifecycle": facet, "type": facet, "tag": facet}},
        "SearchResult": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"allOf": [r("Summary"), {"type": "object", "properties": {"score": {"type": "number"}}}]}},
            "total": {"type": "integer", "description": "Visible matches on all pages"},
            "facets": r("Facets"),
            "nextCursor": {"type": "string", "description": "Pass as cursor for the next page"},
            "cache": r("Cache")}},
        "EntityView": {"allOf": [r("Summary"), {"type": "object", "properties": {
            "ownerSource": {"type": "string"},
            "readyMessage": {"type": "string"},
            "relations": {"type": "object", "additionalProperties": {"type": "array", "items": r("Summary")}},
            "object": {"type": "object", "description": "The catalog object", "x-kubernetes-preserve-unknown-fields": true}}}]},
        "Graph": {"type": "object", "properties": {
            "root": {"type": "string"}, "nodes": {"type": "array", "items": node.clone()},
            "edges": {"type": "array", "items": edge.clone()}, "truncated": {"type": "boolean"}}},
        "Impact": {"type": "object", "properties": {
            "root": {"type": "string"},
            "affected": {"type": "array", "items": r("Summary")},
            "downstream": {"type": "array", "items": node.clone()},
            "upstream": {"type": "array", "items": node},
            "edges": {"type": "array", "items": edge},
            "owners": {"type": "array", "items": r("Summary")},
            "runbooks": {"type": "array", "items": r("Summary")},
            "openIncidents": {"type": "array", "items": r("Summary")},
            "truncated": {"type": "boolean"}}},
        "TeamView": {"type": "object", "properties": {
            "team": r("Summary"), "parent": r("Summary"),
            "subteams": {"type": "array", "items": r("Summary")},
            "members": {"type": "array", "items": r("Summary")},
            "owned": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "count": {"type": "integer"}, "items": {"type": "array", "items": r("Summary")}}}},
            "onCall": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "openIncidents": {"type": "array", "items": r("Summary")}}},
        "Dashboard": {"type": "object", "properties": {
            "user": {"type": "object", "properties": {"username": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}, "entity": r("Summary")}},
            "teams": {"type": "array", "items": r("Summary")},
            "myServices": section(r("Summary")),
            "myDeployments": section(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})),
            "myPullRequests": section(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})),
            "myAlerts": section(r("Summary")),
            "myCosts": section(json!({"type": "object"})),
            "myDora": r("PersonalDora"),
            "cache": r("Cache")}},
        "RunbookReason": {"type": "object", "description": "One reason a runbook matched.", "properties": {
            "match": {"type": "string", "enum": ["entity", "alertRule", "resourceType"]},
            "ref": {"type": "string", "description": "entity: the entity spec.appliesTo names; resourceType: the AzureResource whose type matched"},
            "via": {"type": "string", "enum": ["subject", "affected"], "description": "entity: the entity asked about, or one the incident affects"},
            "pattern": {"type": "string", "description": "The runbook's spec.alerts or spec.resourceTypes entry that matched"},
            "alertRule": {"type": "string", "description": "alertRule: the incident's rule name (or title)"},
            "type": {"type": "string", "description": "resourceType: the Azure type that matched"}},
            "required": ["match"]},
        "RunbookMatch": {"allOf": [r("Summary"), {"type": "object", "properties": {
            "match": {"type": "string", "enum": ["entity", "alertRule", "resourceType"], "description": "The strongest reason, which ranks the item"},
            "reasons": {"type": "array", "items": r("RunbookReason")},
            "sourceUrl": {"type": "string", "description": "Web URL of the Markdown file"}}}]},
        "RunbooksFor": {"type": "object", "properties": {
            "subject": {"type": "string"},
            "alertRule": {"type": "string", "description": "Name alert patterns were matched against (Incidents)"},
            "alertFrom": {"type": "string", "enum": ["spec.alertRule", "spec.title"]},
            "matchedAgainst": {"type": "array", "items": {"type": "string"}, "description": "The subject and, for an Incident, the visible entities it affects"},
            "items": {"type": "array", "items": r("RunbookMatch"), "description": "Ranked: entity > alertRule > resourceType, then number of reasons, then title"},
            "total": {"type": "integer"},
            "cache": r("Cache")}},
        "Status": {"type": "object", "description": "Errors use the Kubernetes Status shape", "properties": {
            "kind": {"type": "string"}, "status": {"type": "string"}, "message": {"type": "string"},
            "reason": {"type": "string"}, "code": {"type": "integer"}}}
    })
}

/// `/openapi/v3`: the discovery document kube-apiserver reads to merge this group.
pub async fn v3_root() -> Json<Value> {
    Json(json!({"paths": {
        format!("apis/{GROUP_VERSION}"): {"serverRelativeURL": format!("/openapi/v3/apis/{GROUP_VERSION}")}
    }}))
}

pub async fn v3_group_version() -> Response {
    let mut schemas = schemas("#/components/schemas/");
    let gvk =
        |kind: &str| json!([{"group": "portal.nexus.dev", "version": "v1alpha1", "kind": kind}]);
    if let Value::Object(map) = &mut schemas {
        map.insert(
            "Entity".into(),
            json!({"type": "object", "x-kubernetes-group-version-kind": gvk("Entity"),
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "spec": {"$ref": "#/components/schemas/Summary"},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}),
        );
        map.insert(
            "EntityList".into(),
            json!({"type": "object", "x-kubernetes-group-version-kind": gvk("EntityList"),
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Entity"}}}}),
        );
    }
    let mut paths = serde_json::Map::new();
    for (view, kind, params) in INSIGHT_VIEWS {
        let parameters: Vec<Value> = params
            .iter()
            .map(|p| json!({"name": p, "in": "query", "required": false, "schema": {"type": "string"}}))
            .collect();
        paths.insert(
            format!("/apis/{GROUP_VERSION}/insights/{view}"),
            json!({"get": {"operationId": format!("read{kind}"), "parameters": parameters,
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{kind}")}}}}},
                "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": {"group": "portal.nexus.dev", "version": "v1alpha1", "kind": kind}}}),
        );
    }
    for (plural, _, namespaced, kind, verbs) in RESOURCES {
        if *plural == "insights" {
            continue;
        }
        let base = if *namespaced {
            format!("/apis/{GROUP_VERSION}/namespaces/{{namespace}}/{plural}")
        } else {
            format!("/apis/{GROUP_VERSION}/{plural}")
        };
        let schema = match *kind {
            "Entity" => "EntityList",
            "SearchResult" => "SearchResult",
            "FacetCounts" => "Facets",
            other => other,
        };
        let ok = |s: &str| json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{s}")}}}}});
        if verbs.contains(&"list") {
            paths.insert(base.clone(), json!({"get": {"operationId": format!("list{kind}"), "responses": ok(schema),
                "x-kubernetes-action": "list", "x-kubernetes-group-version-kind": {"group": "portal.nexus.dev", "version": "v1alpha1", "kind": kind}}}));
        }
        if verbs.contains(&"get") {
            let single = if *kind == "Entity" {
                "EntityView"
            } else {
                schema
            };
            paths.insert(format!("{base}/{{name}}"), json!({"get": {"operationId": format!("read{kind}"), "responses": ok(single),
                "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": {"group": "portal.nexus.dev", "version": "v1alpha1", "kind": kind}}}));
        }
    }
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Nexus portal.nexus.dev", "version": "v1alpha1"},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    let mut response = Json(doc).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `/api/v1/openapi.json`.
pub async fn portal_document() -> Json<Value> {
    let r = |s: &str| json!({"$ref": format!("#/components/schemas/{s}")});
    let ok = |s: &str| {
        json!({
            "200": {"description": "OK", "content": {"application/json": {"schema": r(s)}}},
            "400": {"description": "Bad parameters", "content": {"application/json": {"schema": r("Status")}}},
            "401": {"description": "No or invalid token", "content": {"application/json": {"schema": r("Status")}}},
            "403": {"description": "RBAC does not allow this portal resource", "content": {"application/json": {"schema": r("Status")}}},
            "404": {"description": "Not found, or not visible to the caller", "content": {"application/json": {"schema": r("Status")}}},
            "503": {"description": "Permissions cannot be checked (Kubernetes API unavailable)", "content": {"application/json": {"schema": r("Status")}}}
        })
    };
    let q = |name: &str, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": desc});
    let p = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let search_params = json!([
        q(
            "q",
            "Free text: every word must match name, title, tags, description, owner, annotations or spec fields; prefixes and small typos match"
        ),
        q("kind", "Comma-separated kinds (component, api, team, …)"),
        q("namespace", "Comma-separated namespaces"),
        q("owner", "Owner reference or team name"),
        q("lifecycle", "e.g. production"),
        q("type", "spec.type, e.g. service"),
        q("tag", "Entities carrying every given tag"),
        q(
            "sort",
            "relevance (default with q), name (default without), kind, namespace"
        ),
        q("limit", "Page size, 0-500 (default 25)"),
        q("cursor", "nextCursor of the previous page"),
        q("facets", "false to skip facet counts")
    ]);
    let entity_path = [p("kind"), p("namespace"), p("name")];
    let runbook_params = json!([
        q("q", "Free text, as for /api/v1/search"),
        q("tag", "Runbooks carrying every given tag"),
        q("namespace", "Comma-separated namespaces"),
        q("owner", "Owner reference or team name"),
        q(
            "sort",
            "relevance (default with q), name (default without), kind, namespace"
        ),
        q("limit", "Page size, 0-500 (default 25)"),
        q("cursor", "nextCursor of the previous page"),
        q("facets", "false to skip facet counts")
    ]);
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "Nexus portal API", "version": "v1",
            "description": "Read API of the Nexus catalog. Authenticate with an Entra ID access token (Authorization: Bearer). Every answer carries X-Nexus-Cache-Stale-Seconds and X-Nexus-Cache-Synced headers."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/search": {"get": {"summary": "Search and browse the catalog", "parameters": search_params, "responses": ok("SearchResult")}},
            "/api/v1/facets": {"get": {"summary": "Counts per kind, namespace, owner, lifecycle, type and tag", "responses": ok("Facets")}},
            "/api/v1/entities/{kind}/{namespace}/{name}": {"get": {"summary": "One entity with its relations expanded one level", "parameters": entity_path, "responses": ok("EntityView")}},
            "/api/v1/entities/{kind}/{namespace}/{name}/graph": {"get": {"summary": "Neighbourhood to a depth", "parameters": [p("kind"), p("namespace"), p("name"), q("depth", "1-6, default 2"), q("relations", "Comma-separated relation types to follow")], "responses": ok("Graph")}},
            "/api/v1/entities/{kind}/{namespace}/{name}/impact": {"get": {"summary": "Upstream and downstream of an entity (for an Incident: of what it affects)", "parameters": entity_path, "responses": ok("Impact")}},
            "/api/v1/runbooks": {"get": {"summary": "Search runbooks (title, tags, description, Markdown, alerts, resource types) with facets; RBAC: list searches", "parameters": runbook_params, "responses": ok("SearchResult")}},
            "/api/v1/runbooks/for/{kind}/{namespace}/{name}": {"get": {"summary": "Runbooks for an entity (for an Incident: by the entities it affects, its alert rule and the types of affected Azure resources), ranked, each with why it matched; RBAC: get impacts", "parameters": entity_path, "responses": ok("RunbooksFor")}},
            "/api/v1/runbooks/{namespace}/{name}/html": {"get": {"summary": "The runbook's Markdown as sanitised HTML (a fragment; no scripts, event handlers or javascript: URLs; images over https only; relative links resolved against the source repository), served with Content-Security-Policy and X-Content-Type-Options: nosniff; RBAC: get entities", "parameters": [p("namespace"), p("name")],
                "responses": {"200": {"description": "Sanitised HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                    "401": {"description": "No or invalid token", "content": {"application/json": {"schema": r("Status")}}},
                    "403": {"description": "RBAC does not allow this portal resource", "content": {"application/json": {"schema": r("Status")}}},
                    "404": {"description": "Not found, not visible, or no Markdown stored (spec.source only)", "content": {"application/json": {"schema": r("Status")}}}}}},
            "/api/v1/teams/{namespace}/{name}": {"get": {"summary": "Team page", "parameters": [p("namespace"), p("name")], "responses": ok("TeamView")}},
            "/api/v1/me": {"get": {"summary": "The signed-in user as Kubernetes sees them", "responses": ok("Status")}},
            "/api/v1/me/dashboard": {"get": {"summary": "Personal dashboard", "responses": ok("Dashboard")}},
            "/api/v1/insights/heatmap": {"get": {"summary": "Team × scorecard heatmap over the visible entities: per owning team and scorecard the entities, pass rate, average score and level counts", "responses": ok("ScoreHeatmap")}},
            "/api/v1/insights/rankings": {"get": {"summary": "Teams ranked by the average score of their visible entities on one scorecard, and the best and lowest-scoring entities", "parameters": [q("scorecard", "Required: namespace/name of the Scorecard")], "responses": ok("TeamRankings")}},
            "/api/v1/insights/distribution": {"get": {"summary": "Histogram of scores (10-point bins) and level counts on one scorecard", "parameters": [q("scorecard", "Required: namespace/name"), q("team", "Only the entities this Team owns (team:namespace/name or namespace/name)")], "responses": ok("ScoreDistribution")}},
            "/api/v1/insights/trends": {"get": {"summary": "Daily average score and level counts from the ScorecardSnapshots", "parameters": [q("scorecard", "Required: namespace/name"), q("team", "Only the entities this Team owns now"), q("days", "1 to --insights-retention-days, default 30")], "responses": ok("ScoreTrend")}},
            "/api/v1/insights/dora": {"get": {"summary": "DORA four keys with tiers of a service, team or person over one window", "parameters": [q("scope", "Required: service, team or person"), q("name", "Required: Component reference, Team reference, or User reference / login"), q("window", "day, week, month (default) or quarter"), q("end", "Last day of the window, YYYY-MM-DD (UTC); default today")], "responses": ok("DoraMetrics")}},
            "/api/v1/insights/dora-trend": {"get": {"summary": "Weekly DORA metrics of a service, team or person", "parameters": [q("scope", "Required: service, team or person"), q("name", "Required"), q("weeks", "1-57, default 12"), q("end", "Last day of the last week, YYYY-MM-DD; default today")], "responses": ok("DoraTrend")}},
            "/api/v1/status": {"get": {"summary": "Cache freshness and visible entity counts", "responses": ok("Cache")}},
            "/api/v1/stream": {"get": {"summary": "Server-Sent Events: ready, change, status, resync", "parameters": [q("kind", "Only these kinds"), q("namespace", "Only these namespaces"), q("ref", "Only these entities")],
                "responses": {"200": {"description": "text/event-stream"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas("#/components/schemas/")
        }
    });
    // Self-service actions: their paths and schemas live with their handlers' documentation.
    for (at, extra) in [
        ("paths", super::openapi_actions::paths()),
        (
            "components",
            json!({"schemas": super::openapi_actions::schemas()}),
        ),
    ] {
        merge(&mut doc[at], extra);
    }
    Json(doc)
}

/// Adds `extra`'s keys to `into`, recursively for objects.
fn merge(into: &mut Value, extra: Value) {
    match (into, extra) {
        (Value::Object(into), Value::Object(extra)) => {
            for (k, v) in extra {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, extra) => *into = extra,
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn every_insight_view_is_documented_on_both_faces() {
        let Json(portal) = portal_document().await;
        let body = v3_group_version()
            .await
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let v3: Value = serde_json::from_slice(&body).unwrap();
        for (view, kind, _) in INSIGHT_VIEWS {
            assert!(
                portal["paths"][format!("/api/v1/insights/{view}")].is_object(),
                "portal lacks {view}"
            );
            let path = &v3["paths"][format!("/apis/{GROUP_VERSION}/insights/{view}")];
            assert_eq!(
                path["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
                format!("#/components/schemas/{kind}")
            );
            assert!(
                v3["components"]["schemas"][kind].is_object(),
                "no schema {kind}"
            );
        }
        assert!(portal["components"]["schemas"]["Dashboard"]["properties"]["myDora"].is_object());
        for (path, verb) in [
            ("/api/v1/actions", "get"),
            ("/api/v1/runs/{namespace}", "post"),
            ("/api/v1/runs/{namespace}/{name}/approvals", "post"),
            ("/api/v1/approvals/inbox", "get"),
            ("/api/v1/audit", "get"),
            ("/api/v1/scorecards/{namespace}", "post"),
        ] {
            assert!(portal["paths"][path][verb].is_object(), "{verb} {path}");
        }
        // Every schema referred to is defined.
        let text = portal.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(portal["components"]["schemas"][&name].is_object(), "{name}");
        }
    }
}
