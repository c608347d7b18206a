//! Backstage's free-text `type` and `lifecycle` values → the fixed Nexus enums. An exact match
//! is silent; anything else takes the closest value and the caller warns and keeps the original.

use nexus_api::catalog::{Lifecycle, api::ApiType, component::ComponentType};

/// The value and whether it was an exact match.
pub(super) type Mapped<T> = (T, bool);

pub(super) fn component_type(raw: &str) -> Mapped<ComponentType> {
    use ComponentType::*;
    let t = raw.trim().to_ascii_lowercase();
    let exact = match t.as_str() {
        "service" => Some(Service),
        "website" => Some(Website),
        "library" => Some(Library),
        "worker" => Some(Worker),
        "function" => Some(Function),
        "job" => Some(Job),
        "data-pipeline" => Some(DataPipeline),
        "tool" => Some(Tool),
        "documentation" => Some(Documentation),
        _ => None,
    };
    if let Some(e) = exact {
        return (e, true);
    }
    let closest = match t.as_str() {
        "frontend" | "web" | "webapp" | "web-app" | "spa" | "ui" | "site" | "portal" => Website,
        "lib" | "sdk" | "package" | "module" | "framework" | "plugin" => Library,
        "lambda" | "serverless" | "faas" | "azure-function" | "cloud-function" => Function,
        "cronjob" | "cron" | "batch" | "scheduled-job" | "task" => Job,
        "consumer" | "daemon" | "queue-worker" | "background" | "processor" => Worker,
        "pipeline" | "etl" | "data" | "dataflow" | "stream" => DataPipeline,
        "cli" | "tooling" | "script" | "utility" => Tool,
        "docs" | "doc" | "techdocs" => Documentation,
        // backend, api, microservice, app, … and anything unknown: a running service.
        _ => Service,
    };
    (closest, false)
}

pub(super) fn lifecycle(raw: &str) -> Mapped<Lifecycle> {
    use Lifecycle::*;
    match raw.trim().to_ascii_lowercase().as_str() {
        "experimental" => (Experimental, true),
        "production" => (Production, true),
        "deprecated" => (Deprecated, true),
        "prod" | "stable" | "ga" | "live" | "mature" | "active" => (Production, false),
        "retired" | "sunset" | "end-of-life" | "eol" | "legacy" | "decommissioned" | "obsolete" => {
            (Deprecated, false)
        }
        // development, alpha, beta, poc, … and anything unknown: not yet production.
        _ => (Experimental, false),
    }
}

pub(super) fn api_type(raw: &str) -> Mapped<ApiType> {
    use ApiType::*;
    let t = raw.trim().to_ascii_lowercase();
    match t.as_str() {
        "openapi" => (Openapi, true),
        "asyncapi" => (Asyncapi, true),
        "graphql" => (Graphql, true),
        "grpc" => (Grpc, true),
        _ if t.contains("graphql") => (Graphql, false),
        _ if t.contains("async") || t.contains("event") => (Asyncapi, false),
        // trpc, json-rpc, protobuf: an RPC contract.
        _ if t.contains("rpc") || t.contains("proto") => (Grpc, false),
        // swagger, rest, mcp-server, …: an HTTP API.
        _ => (Openapi, false),
    }
}

/// The serialised spelling of an enum value, for messages.
pub(super) fn spelling<T: serde::Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_values() {
        assert_eq!(component_type("service"), (ComponentType::Service, true));
        assert_eq!(component_type("frontend"), (ComponentType::Website, false));
        assert_eq!(component_type("whatever"), (ComponentType::Service, false));
        assert_eq!(lifecycle("beta"), (Lifecycle::Experimental, false));
        assert_eq!(lifecycle("Production"), (Lifecycle::Production, true));
        assert_eq!(api_type("trpc"), (ApiType::Grpc, false));
        assert_eq!(api_type("mcp-server"), (ApiType::Openapi, false));
        assert_eq!(spelling(ComponentType::DataPipeline), "data-pipeline");
    }
}
