//! The actions part of the portal's OpenAPI document (`/api/v1/openapi.json`): paths and
//! schemas of [`super::actions`], merged into the document by [`super::openapi`].

use serde_json::{Value, json};

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn status(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": r("Status")}}})
}

fn answer(code: &str, schema: &str, writes: bool) -> Value {
    let mut out = json!({
        code: {"description": "OK", "content": {"application/json": {"schema": r(schema)}}},
        "400": status("Bad parameters or body (the message names the field)"),
        "401": status("No or invalid token"),
        "404": status("Not found, or not visible to the caller (RBAC list on the resource in its namespace)"),
        "503": status("Permissions cannot be checked, or the backend is not configured")
    });
    if writes {
        out["403"] = status(
            "kube-apiserver refused the impersonated write: RBAC, or an admission policy (e.g. self-approval); the message is kube-apiserver's, verbatim",
        );
        out["409"] = status(
            "Conflict (retry of a run that is not Failed, a concurrent change, a server-side apply conflict)",
        );
        out["422"] =
            status("Invalid (schema or CEL validation), kube-apiserver's message verbatim");
    }
    out
}

fn q(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description})
}

fn p(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

pub fn paths() -> Value {
    let ns_name = json!([p("namespace"), p("name")]);
    json!({
        "/api/v1/actions": {"get": {"summary": "Actions the caller may see (RBAC list actions per namespace), by category then title, with canRun/whyNot",
            "parameters": [q("namespace", "Comma-separated namespaces"), q("target", "kind:namespace/name: only actions whose targetKinds include its kind")],
            "responses": answer("200", "ActionList", false)}},
        "/api/v1/actions/{namespace}/{name}": {"get": {"summary": "One Action", "parameters": ns_name, "responses": answer("200", "ActionSummary", false)}},
        "/api/v1/runs": {"get": {"summary": "Runs the caller may see (RBAC list actionruns), newest first",
            "parameters": [q("namespace", "Comma-separated namespaces"), q("target", "kind:namespace/name"), q("action", "Action name(s)"),
                q("requester", "A user name, or `me`"), q("phase", "Phase(s), e.g. Failed"), q("limit", "1-500, default 50"), q("continue", "The previous page's continue")],
            "responses": answer("200", "RunList", false)}},
        "/api/v1/runs/{namespace}": {"post": {"summary": "Request a run, as the caller (impersonated; spec.requester is the signed-in user)",
            "parameters": [p("namespace")],
            "requestBody": body(json!({"type": "object", "required": ["action"], "additionalProperties": false, "properties": {
                "action": {"type": "string"}, "target": {"type": "string", "description": "kind:namespace/name"},
                "inputs": {"type": "object", "description": "Checked against the Action's inputs schema by the controller"}}})),
            "responses": answer("201", "RunDetail", true)}},
        "/api/v1/runs/{namespace}/{name}": {"get": {"summary": "One run with its approvals, conditions, outputs and what the caller may do", "parameters": ns_name, "responses": answer("200", "RunDetail", false)}},
        "/api/v1/runs/{namespace}/{name}/approvals": {"post": {"summary": "Approve or reject a stage, as the caller (impersonated; spec.author is the signed-in user); stage defaults to the open one",
            "parameters": ns_name,
            "requestBody": body(json!({"type": "object", "required": ["decision"], "additionalProperties": false, "properties": {
                "decision": {"type": "string", "enum": ["Approve", "Reject"]}, "stage": {"type": "string"}, "comment": {"type": "string", "maxLength": 2048}}})),
            "responses": answer("201", "Approval", true)}},
        "/api/v1/runs/{namespace}/{name}/cancel": {"post": {"summary": "Cancel the run (spec.cancel=true, impersonated)", "parameters": ns_name, "responses": answer("200", "RunDetail", true)}},
        "/api/v1/runs/{namespace}/{name}/retry": {"post": {"summary": "Retry a Failed run (spec.attempt+1, impersonated); 409 for any other phase", "parameters": ns_name, "responses": answer("200", "RunDetail", true)}},
        "/api/v1/approvals/inbox": {"get": {"summary": "Runs the caller may approve now, oldest first", "responses": answer("200", "Inbox", false)}},
        "/api/v1/audit": {"get": {"summary": "The controller's audit log, newest first, only namespaces where the caller may list actionruns; 503 when --audit-url is not set",
            "parameters": [q("namespace", "One namespace"), q("run", "Run name"), q("actor", "Who caused the entry"), q("limit", "1-500, default 50"), q("continue", "The previous page's continue")],
            "responses": answer("200", "AuditPage", false)}},
        "/api/v1/scorecards/{namespace}": {"post": {"summary": "Server-side apply of a Scorecard manifest as the caller (field manager nexus-portal); the stored object, or kube-apiserver's error verbatim",
            "parameters": [p("namespace"), q("dryRun", "true: validate only (dryRun=All)")],
            "requestBody": body(json!({"type": "object", "description": "A scorecards.nexus.dev/v1alpha1 Scorecard", "x-kubernetes-preserve-unknown-fields": true})),
            "responses": answer("200", "KubernetesObject", true)}}
    })
}

pub fn schemas() -> Value {
    let s = |d: &str| json!({"type": "string", "description": d});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let time = json!({"type": "string", "format": "date-time"});
    let object = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    let subjects = json!({"type": "object", "properties": {"groups": strings.clone(), "users": strings.clone()}});
    json!({
        "ActionSummary": {"type": "object", "required": ["namespace", "name", "title", "version", "targetKinds", "inputs", "approval", "timeout", "ready", "canRun"], "properties": {
            "namespace": {"type": "string"}, "name": {"type": "string"}, "title": {"type": "string"},
            "description": {"type": "string"}, "category": {"type": "string"}, "version": {"type": "string"},
            "targetKinds": strings.clone(),
            "inputs": {"type": "object", "nullable": true, "description": "The inputs JSON Schema"},
            "approval": {"type": "object", "properties": {
                "stages": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "required": {"type": "integer"}, "approvers": subjects}}},
                "timeout": {"type": "string"}, "onTimeout": {"type": "string", "enum": ["Reject", "Approve"]}}},
            "gate": {"type": "object", "properties": {"scorecards": strings.clone()}},
            "timeout": {"type": "string"}, "ready": {"type": "boolean"}, "readyMessage": {"type": "string"},
            "canRun": {"type": "boolean", "description": "Ready, RBAC create actionruns in the namespace, and among the runners"},
            "whyNot": s("Why canRun is false, in plain words")}},
        "ActionList": {"type": "object", "properties": {"items": {"type": "array", "items": r("ActionSummary")}, "cache": r("Cache")}},
        "RunSummary": {"type": "object", "properties": {
            "namespace": {"type": "string"}, "name": {"type": "string"}, "action": {"type": "string"}, "actionTitle": {"type": "string"},
            "target": s("kind:namespace/name"), "requester": {"type": "string"},
            "phase": s("Pending, Invalid, Refused, WaitingForApproval, Approved, Running, Succeeded, Failed, Rejected, Expired, Cancelled, RolledBack"),
            "attempt": {"type": "integer"}, "cancel": {"type": "boolean"}, "createdAt": time.clone(), "startedAt": time.clone(), "finishedAt": time.clone(),
            "message": s("The condition message that explains the phase"),
            "stages": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "required": {"type": "integer"}, "state": s("Waiting, Open, Approved, Rejected, Expired"),
                "approvals": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "author": {"type": "string"}, "decision": {"type": "string", "enum": ["Approve", "Reject"]},
                    "comment": {"type": "string"}, "time": time.clone()}}}}}}}},
        "RunList": {"type": "object", "properties": {"items": {"type": "array", "items": r("RunSummary")}, "continue": {"type": "string"}, "cache": r("Cache")}},
        "Approval": {"type": "object", "properties": {
            "name": {"type": "string"}, "stage": {"type": "string"}, "decision": {"type": "string", "enum": ["Approve", "Reject"]},
            "author": {"type": "string"}, "comment": {"type": "string"}, "createdAt": time.clone(),
            "counted": {"type": "boolean", "description": "Absent until the controller has looked at it"},
            "countedMessage": s("reason: message, when not counted")}},
        "RunDetail": {"allOf": [r("RunSummary"), {"type": "object", "properties": {
            "inputs": object.clone(), "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
            "logTail": strings.clone(), "execution": object.clone(), "approvalDeadline": time.clone(), "rollbackRun": {"type": "string"},
            "conditions": {"type": "array", "items": object.clone()},
            "approvals": {"type": "array", "items": r("Approval")},
            "canApprove": {"type": "object", "properties": {"stage": {"type": "string"}, "allowed": {"type": "boolean"}, "whyNot": {"type": "string"}}},
            "canCancel": {"type": "boolean"}}}]},
        "Inbox": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
            "run": r("RunSummary"), "stage": {"type": "string"}, "required": {"type": "integer"}, "approved": {"type": "integer"}}}},
            "cache": r("Cache")}},
        "AuditEntry": {"type": "object", "properties": {
            "seq": {"type": "integer"}, "time": time, "kind": s("run.created, approval.recorded, run.approved, run.started, run.succeeded, …"),
            "namespace": {"type": "string"}, "run": {"type": "string"}, "action": {"type": "string"}, "target": {"type": "string"},
            "actor": {"type": "string"}, "details": object.clone(), "hash": s("SHA-256 of the entry (hash chain)"), "prev": s("hash of the previous entry")}},
        "AuditPage": {"type": "object", "properties": {"items": {"type": "array", "items": r("AuditEntry")}, "continue": {"type": "string"}, "source": {"type": "string"}}},
        "KubernetesObject": object
    })
}
