//! OpenAPI documents: v3 for the aggregated group (what kube-apiserver merges into
//! `/openapi/v3`, and what `kubectl explain` reads) and one for the portal API.

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::aggregated::{GROUP_VERSION, RESOURCES};

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
    json!({
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
    for (plural, _, namespaced, kind, verbs) in RESOURCES {
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
    Json(json!({
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
            "/api/v1/status": {"get": {"summary": "Cache freshness and visible entity counts", "responses": ok("Cache")}},
            "/api/v1/stream": {"get": {"summary": "Server-Sent Events: ready, change, status, resync", "parameters": [q("kind", "Only these kinds"), q("namespace", "Only these namespaces"), q("ref", "Only these entities")],
                "responses": {"200": {"description": "text/event-stream"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas("#/components/schemas/")
        }
    }))
}
