//! Helpers shared by the integration tests (panicking is how a helper fails a test).
#![allow(dead_code, clippy::unwrap_used)]

use k8s_openapi::jiff::Timestamp;
use nexus_api::scorecards::ScorecardSpec;
use nexus_scorecards::{Compiled, Input, RuleError, compile};
use serde_json::{Value, json};

/// 2026-06-01T00:00:00Z.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_780_272_000).unwrap()
}

pub fn spec(yaml: &str) -> ScorecardSpec {
    serde_yaml::from_str(yaml).unwrap()
}

pub fn compiled(yaml: &str) -> Compiled {
    match compile(&spec(yaml)) {
        Ok(c) => c.with_identity("nexus-org/test", Some(3)),
        Err(e) => panic!("does not compile: {e:?}"),
    }
}

pub fn errors(yaml: &str) -> Vec<RuleError> {
    match compile(&spec(yaml)) {
        Ok(_) => panic!("compiled, expected errors"),
        Err(e) => e,
    }
}

pub fn component(name: &str, spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "catalog.nexus.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": "team-payments", "labels": {"tier": "1"}},
        "spec": spec,
        "status": status,
    })
}

pub fn input(entity: Value) -> Input {
    Input::new(entity, now())
}
