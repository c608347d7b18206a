//! ARM/Bicep deployments: each `properties.outputResources` entry becomes an AzureResource
//! annotated with the deployment id and the deployment's non-secure outputs.
//!
//! Accepted payloads: a deployment (GET response), a deployment list (`{value: […]}`), or a
//! recorded SDK session whose `…/providers/Microsoft.Resources/deployments/…` responses are read
//! (only deployments carrying `outputResources` or `outputs`: PUT/validate answers lack them).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::azure::recording::{self, arm_error, uri_path};
use crate::azure::{
    parse_resource_id,
    resource::{self, Observed, normalise_region},
};
use crate::change::Change;
use crate::error::{from_json, from_value};
use crate::{Context, IngestError, Outcome, Source};

/// Annotation: id of the deployment that created or last updated the resource.
pub const ARM_DEPLOYMENT: &str = "nexus.dev/arm-deployment";
/// Annotation: the deployment's outputs as JSON `{name: value}`; `secureString` and
/// `secureObject` outputs are left out, and the annotation is dropped above 16 KiB.
pub const ARM_OUTPUTS: &str = "nexus.dev/arm-outputs";

const MAX_OUTPUTS_JSON: usize = 16 * 1024;
const DEPLOYMENTS_PATH: &str = "/providers/microsoft.resources/deployments/";

#[derive(Debug, Deserialize)]
struct Deployment {
    id: String,
    #[serde(default)]
    name: Option<String>,
    /// Set for subscription, management group and tenant scope deployments.
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    properties: Properties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Properties {
    #[serde(default)]
    provisioning_state: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    outputs: Option<BTreeMap<String, Output>>,
    #[serde(default)]
    output_resources: Option<Vec<ResourceRef>>,
    #[serde(default)]
    providers: Vec<Provider>,
}

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
struct ResourceRef {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    resource_types: Vec<ProviderType>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderType {
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    locations: Vec<Option<String>>,
}

pub(super) fn parse(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let deployments = if recording::is_yaml(body) {
        let d = recorded(body)?;
        if d.is_empty() {
            return Ok(Outcome::ignored(
                "recording holds no deployment response with outputResources or outputs",
            ));
        }
        d
    } else {
        let doc: Value = from_json(body)?;
        if let Some(e) = arm_error(Some(&doc)) {
            return Err(IngestError::invalid(
                "error",
                format!("ARM answered an error: {e}"),
            ));
        }
        documents(&doc, "")?
    };
    let repository = super::repository(ctx)?;

    // Newest deployment first, so a resource several deployments list takes the latest.
    let mut deployments = latest_per_id(deployments);
    deployments.sort_by_key(|d| std::cmp::Reverse(timestamp(d)));

    let mut seen = HashSet::new();
    let mut changes = Vec::new();
    let mut listed = 0usize;
    let mut skipped = Vec::new();
    for d in &deployments {
        let outputs = outputs_json(d);
        for r in d.properties.output_resources.iter().flatten() {
            listed += 1;
            let rid = match parse_resource_id(&r.id) {
                Ok(rid) => rid,
                Err(e) => {
                    skipped.push(e.to_string());
                    continue;
                }
            };
            if !seen.insert(r.id.trim_end_matches('/').to_lowercase()) {
                continue;
            }
            let mut annotations = BTreeMap::from([(ARM_DEPLOYMENT.to_string(), d.id.clone())]);
            if let Some(o) = &outputs {
                annotations.insert(ARM_OUTPUTS.into(), o.clone());
            }
            let seen_attrs = Observed {
                region: region(d, &rid.provider_type),
                annotations,
                repository: repository.clone(),
                ..Observed::default()
            };
            changes.push(Change::Upsert(resource::upsert(
                Source::Iac,
                &r.id,
                &rid,
                seen_attrs,
                ctx,
            )));
        }
    }
    if changes.is_empty() {
        let names: Vec<String> = deployments
            .iter()
            .map(|d| {
                format!(
                    "{} ({})",
                    d.name.as_deref().unwrap_or(&d.id),
                    d.properties
                        .provisioning_state
                        .as_deref()
                        .unwrap_or("no state")
                )
            })
            .collect();
        let reason = if listed == 0 {
            format!("deployment lists no outputResources: {}", names.join(", "))
        } else {
            format!(
                "no outputResource is a resource-group-scoped resource ({})",
                skipped.first().map(String::as_str).unwrap_or_default()
            )
        };
        return Ok(Outcome::ignored(reason));
    }
    Ok(Outcome::Changes(changes))
}

/// A deployment or a list of them from one JSON document.
fn documents(doc: &Value, at: &str) -> Result<Vec<Deployment>, IngestError> {
    let field = |f: &str| {
        if at.is_empty() {
            f.to_string()
        } else {
            format!("{at}.{f}")
        }
    };
    if let Some(list) = doc.get("value").and_then(Value::as_array) {
        return list
            .iter()
            .enumerate()
            .map(|(i, d)| deployment(d, &field(&format!("value[{i}]"))))
            .collect();
    }
    Ok(vec![deployment(doc, at)?])
}

fn deployment(doc: &Value, at: &str) -> Result<Deployment, IngestError> {
    let d: Deployment = from_value(doc, at)?;
    if !d.id.to_ascii_lowercase().contains(DEPLOYMENTS_PATH) {
        let field = if at.is_empty() {
            "id".to_string()
        } else {
            format!("{at}.id")
        };
        return Err(IngestError::invalid(
            field,
            format!(
                "expected a Microsoft.Resources/deployments id, got {:?}",
                d.id.chars().take(200).collect::<String>()
            ),
        ));
    }
    Ok(d)
}

/// Deployments with outputs or output resources among a recording's successful responses
/// about deployments; other calls (operation status, what-if, errors) are part of the session
/// and skipped.
fn recorded(body: &[u8]) -> Result<Vec<Deployment>, IngestError> {
    let exchanges = recording::exchanges(body, |_, uri| uri_path(uri).contains(DEPLOYMENTS_PATH))?;
    let mut out = Vec::new();
    for x in exchanges {
        let Some(doc) = x.body.filter(|_| (200..300).contains(&x.status)) else {
            continue;
        };
        // A deployment, or a list of them; operations and status bodies are neither.
        let candidates: Vec<(String, &Value)> = match doc.get("value").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("{}.value[{i}]", x.at), d))
                .collect(),
            None => vec![(x.at.clone(), &doc)],
        };
        for (at, d) in candidates {
            let has_results = d.pointer("/properties/outputResources").is_some()
                || d.pointer("/properties/outputs").is_some();
            let id = d.get("id").and_then(Value::as_str).unwrap_or_default();
            let is_deployment = id
                .to_ascii_lowercase()
                .rsplit_once(DEPLOYMENTS_PATH)
                .is_some_and(|(_, name)| !name.contains('/'));
            if has_results && is_deployment {
                out.push(deployment(d, &at)?);
            }
        }
    }
    Ok(out)
}

/// The latest response per deployment id (ids compared case-insensitively), in first-seen
/// order; later responses win ties.
fn latest_per_id(all: Vec<Deployment>) -> Vec<Deployment> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Deployment> = Vec::new();
    for d in all {
        let key = d.id.to_lowercase();
        match index.get(&key).and_then(|&i| out.get_mut(i)) {
            Some(prev) if timestamp(&d) >= timestamp(prev) => *prev = d,
            Some(_) => {}
            None => {
                index.insert(key, out.len());
                out.push(d);
            }
        }
    }
    out
}

fn timestamp(d: &Deployment) -> Option<jiff::Timestamp> {
    d.properties
        .timestamp
        .as_deref()
        .and_then(|t| t.parse().ok())
}

/// Where ARM says the deployment put resources of this type (`properties.providers`), when
/// that is exactly one location; else the deployment's own location; else unknown.
fn region(d: &Deployment, provider_type: &str) -> Option<String> {
    let (ns, rtype) = provider_type.split_once('/')?;
    let mut locations: Vec<String> = d
        .properties
        .providers
        .iter()
        .filter(|p| {
            p.namespace
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(ns))
        })
        .flat_map(|p| &p.resource_types)
        .filter(|t| {
            t.resource_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(rtype))
        })
        .flat_map(|t| t.locations.iter().flatten())
        .filter_map(|l| normalise_region(l))
        .collect();
    locations.sort();
    locations.dedup();
    match locations.as_slice() {
        [one] => Some(one.clone()),
        _ => d.location.clone(),
    }
}

/// Non-secure outputs as JSON, or `None` when there are none or they are too large.
fn outputs_json(d: &Deployment) -> Option<String> {
    let outputs: BTreeMap<&str, &Value> = d
        .properties
        .outputs
        .iter()
        .flatten()
        .filter(|(_, o)| {
            !o.type_.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("securestring") || t.eq_ignore_ascii_case("secureobject")
            })
        })
        .map(|(k, o)| (k.as_str(), &o.value))
        .collect();
    if outputs.is_empty() {
        return None;
    }
    serde_json::to_string(&outputs)
        .ok()
        .filter(|s| s.len() <= MAX_OUTPUTS_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEP: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Resources/deployments/web";
    const SITE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Web/sites/app";

    fn doc(props: Value) -> Vec<u8> {
        json!({"id": DEP, "name": "web", "properties": props})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn secure_outputs_are_dropped_and_region_comes_from_providers() {
        let body = doc(
            json!({"provisioningState": "Succeeded", "timestamp": "2024-05-01T10:00:00Z",
            "outputs": {"url": {"type": "String", "value": "https://app.azurewebsites.net"},
                        "key": {"type": "SecureString", "value": "hunter2"},
                        "cfg": {"type": "secureObject", "value": {"pw": "hunter3"}}},
            "providers": [{"namespace": "Microsoft.Web", "resourceTypes": [{"resourceType": "sites", "locations": ["West Europe"]}]}],
            "outputResources": [{"id": SITE}, {"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"}]}),
        );
        let o = parse(&body, &Context::default()).unwrap();
        let [Change::Upsert(u)] = o.changes() else {
            panic!("{o:?}")
        };
        let a = &u.object["metadata"]["annotations"];
        assert_eq!(a[ARM_DEPLOYMENT], DEP);
        assert_eq!(a[ARM_OUTPUTS], r#"{"url":"https://app.azurewebsites.net"}"#);
        assert!(!u.object.to_string().contains("hunter"));
        assert_eq!(u.object["spec"]["region"], "westeurope");
        assert_eq!(u.object["spec"]["type"], "Microsoft.Web/sites");
    }

    #[test]
    fn no_resources_is_ignored_and_errors_fail() {
        let o = parse(
            &doc(json!({"provisioningState": "Running"})),
            &Context::default(),
        )
        .unwrap();
        assert_eq!(
            o,
            Outcome::ignored("deployment lists no outputResources: web (Running)")
        );
        let o = parse(&doc(json!({"outputResources": [{"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"}]})), &Context::default()).unwrap();
        assert!(
            matches!(&o, Outcome::Ignored(r) if r.starts_with("no outputResource is a resource-group-scoped")),
            "{o:?}"
        );
        let e = parse(
            br#"{"error": {"code": "DeploymentNotFound", "message": "gone"}}"#,
            &Context::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "error: ARM answered an error: DeploymentNotFound: gone"
        );
        let e = parse(
            br#"{"id": "/subscriptions/x", "properties": {}}"#,
            &Context::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("id: expected a Microsoft.Resources/deployments id"),
            "{e}"
        );
        let e = parse(
            &doc(json!({"outputResources": [{"nope": 1}]})),
            &Context::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("properties.outputResources[0]: missing field `id`"),
            "{e}"
        );
    }

    #[test]
    fn newest_response_per_deployment_wins() {
        let d = |ts: &str, loc: &str| {
            json!({"id": DEP, "properties": {"timestamp": ts, "outputResources": [{"id": SITE}],
                "providers": [{"namespace": "Microsoft.Web", "resourceTypes": [{"resourceType": "sites", "locations": [loc]}]}]}})
        };
        let body = json!({"value": [d("2024-05-02T00:00:00Z", "westus"), d("2024-05-01T00:00:00Z", "eastus")]});
        let o = parse(body.to_string().as_bytes(), &Context::default()).unwrap();
        assert_eq!(o.changes().len(), 1);
        let Change::Upsert(u) = &o.changes()[0] else {
            panic!()
        };
        assert_eq!(u.object["spec"]["region"], "westus");
    }
}
