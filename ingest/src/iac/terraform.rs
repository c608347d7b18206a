//! Terraform state (format v4, Terraform ≥ 0.12) and `terraform show -json` output: every
//! managed azurerm (or azapi) resource instance whose `id` is an ARM resource id becomes an
//! AzureResource. Only `id`, `location`, `tags` and the SKU are read, and none of them when
//! Terraform marks it sensitive; other attributes (where secrets live) are never copied.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::azure::{
    parse_resource_id,
    resource::{self, Observed},
};
use crate::change::Change;
use crate::error::{from_json, from_value};
use crate::{Context, IngestError, Outcome, Source};

/// Annotation: the resource instance's Terraform address (`module.net.azurerm_subnet.app[0]`).
pub const TERRAFORM_ADDRESS: &str = "nexus.dev/terraform-address";

pub(super) fn parse(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let doc: Value = from_json(body)?;
    let instances = if let Some(v) = doc.get("format_version") {
        show_json(&doc, v)?
    } else {
        match doc.get("version") {
            Some(v) => match v.as_u64() {
                Some(4) => state_v4(&doc)?,
                Some(n @ 1..) => {
                    return Err(IngestError::UnsupportedVersion(format!(
                        "Terraform state version {n}; only version 4 (Terraform ≥ 0.12) is read"
                    )));
                }
                _ => {
                    return Err(IngestError::invalid(
                        "version",
                        format!("expected a state format version number (4), got {v}"),
                    ));
                }
            },
            None => {
                return Err(IngestError::invalid(
                    "version",
                    "expected a Terraform state (`version`) or `terraform show -json` output (`format_version`)",
                ));
            }
        }
    };
    let repository = super::repository(ctx)?;

    let mut providers = BTreeSet::new();
    let mut azure = 0usize;
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    let mut changes = Vec::new();
    for inst in instances {
        if !inst.provider.is_empty() {
            providers.insert(inst.provider.clone());
        }
        if !inst.is_azure() {
            continue;
        }
        azure += 1;
        let id = match &inst.id {
            Some(id) if !inst.sensitive.covers("id") => id,
            _ => {
                skipped.push(format!("{} (no id)", inst.address));
                continue;
            }
        };
        let rid = match parse_resource_id(id) {
            Ok(r) => r,
            Err(e) => {
                skipped.push(format!("{}: {e}", inst.address));
                continue;
            }
        };
        if !seen.insert(id.trim_end_matches('/').to_lowercase()) {
            // Association resources reuse the id of what they associate; the first wins.
            continue;
        }
        let mut seen_attrs = inst.observed();
        seen_attrs.repository = repository.clone();
        seen_attrs
            .annotations
            .insert(TERRAFORM_ADDRESS.into(), inst.address.clone());
        changes.push(Change::Upsert(resource::upsert(
            Source::Iac,
            id,
            &rid,
            seen_attrs,
            ctx,
        )));
    }
    if azure == 0 {
        let found = if providers.is_empty() {
            "none".to_string()
        } else {
            providers.into_iter().collect::<Vec<_>>().join(", ")
        };
        return Ok(Outcome::ignored(format!(
            "no azurerm resources in state (found providers: {found})"
        )));
    }
    if changes.is_empty() {
        let first = skipped.first().map(String::as_str).unwrap_or_default();
        return Ok(Outcome::ignored(format!(
            "none of the {azure} azurerm resource instances has a resource-group-scoped ARM id (first: {first})"
        )));
    }
    Ok(Outcome::Changes(changes))
}

/// One resource instance, from either format.
#[derive(Debug)]
struct Instance {
    address: String,
    /// Short provider name: `hashicorp/azurerm`, `azurerm` (0.12 states), `hashicorp/aws`.
    provider: String,
    type_: String,
    id: Option<String>,
    attrs: Map<String, Value>,
    sensitive: Sensitive,
}

impl Instance {
    fn is_azure(&self) -> bool {
        let p = self.provider.rsplit('/').next().unwrap_or_default();
        matches!(p, "azurerm" | "azapi")
            || self.type_.starts_with("azurerm_")
            || self.type_.starts_with("azapi_")
    }

    fn observed(&self) -> Observed {
        let get = |k: &str| self.attrs.get(k).filter(|_| !self.sensitive.covers(k));
        let tags = get("tags")
            .and_then(|t| from_value::<BTreeMap<String, Value>>(t, "tags").ok())
            .map(|t| resource::string_tags(Some(t)))
            .unwrap_or_default();
        Observed {
            region: get("location").and_then(Value::as_str).map(str::to_string),
            sku: sku(get("sku_name"), get("sku")),
            tags,
            ..Observed::default()
        }
    }
}

/// The SKU where attribute names allow: `sku_name`, a string `sku`, or a `sku` block's
/// `name` (with `tier`).
fn sku(sku_name: Option<&Value>, sku: Option<&Value>) -> Option<String> {
    if let Some(s) = sku_name.and_then(Value::as_str) {
        return Some(s.to_string());
    }
    match sku? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => {
            let b = a.first()?;
            let field = |k: &str| {
                b.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
            };
            match (field("name"), field("tier")) {
                (Some(n), Some(t)) if !n.eq_ignore_ascii_case(t) => Some(format!("{n} ({t})")),
                (Some(n), _) => Some(n.to_string()),
                (None, t) => t.map(str::to_string),
            }
        }
        _ => None,
    }
}

/// Which top-level attributes Terraform marks sensitive.
#[derive(Debug, Default)]
enum Sensitive {
    #[default]
    None,
    Attrs(HashSet<String>),
    /// A marking Nexus cannot read: treat everything but the id as sensitive.
    All,
}

impl Sensitive {
    fn covers(&self, attr: &str) -> bool {
        match self {
            Sensitive::None => false,
            Sensitive::Attrs(a) => a.contains(attr),
            Sensitive::All => attr != "id",
        }
    }

    /// v4 `sensitive_attributes`: paths, each a list of steps `{type: get_attr, value}` (or a
    /// single step).
    fn from_paths(v: Option<&Value>) -> Self {
        let Some(Value::Array(paths)) = v else {
            return if v.is_none_or(Value::is_null) {
                Sensitive::None
            } else {
                Sensitive::All
            };
        };
        let mut attrs = HashSet::new();
        for p in paths {
            let step = match p {
                Value::Array(steps) => steps.first(),
                other => Some(other),
            };
            match step.and_then(|s| s.get("value")).and_then(Value::as_str) {
                Some(a) => {
                    attrs.insert(a.to_string());
                }
                None => return Sensitive::All,
            }
        }
        if attrs.is_empty() {
            Sensitive::None
        } else {
            Sensitive::Attrs(attrs)
        }
    }

    /// show -json `sensitive_values`: the attributes' shape with `true` where sensitive.
    fn from_shape(v: Option<&Value>) -> Self {
        match v {
            None | Some(Value::Null) => Sensitive::None,
            Some(Value::Object(m)) => Sensitive::Attrs(
                m.iter()
                    .filter(|(_, v)| has_true(v))
                    .map(|(k, _)| k.clone())
                    .collect(),
            ),
            Some(_) => Sensitive::All,
        }
    }
}

fn has_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Array(a) => a.iter().any(has_true),
        Value::Object(m) => m.values().any(has_true),
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
struct StateV4 {
    #[serde(default)]
    resources: Vec<ResourceV4>,
}

#[derive(Debug, Deserialize)]
struct ResourceV4 {
    #[serde(default)]
    module: Option<String>,
    mode: String,
    #[serde(rename = "type")]
    type_: String,
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    instances: Vec<InstanceV4>,
}

#[derive(Debug, Deserialize)]
struct InstanceV4 {
    #[serde(default)]
    index_key: Option<Value>,
    /// Set on instances kept only until their replacement is done (create_before_destroy).
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
    /// States upgraded from v3 keep flatmap attributes (`tags.%`, `tags.owner`).
    #[serde(default)]
    attributes_flat: Option<BTreeMap<String, String>>,
    #[serde(default)]
    sensitive_attributes: Option<Value>,
}

fn state_v4(doc: &Value) -> Result<Vec<Instance>, IngestError> {
    let state: StateV4 = from_value(doc, "")?;
    let mut out = Vec::new();
    for r in state.resources {
        if r.mode != "managed" {
            continue;
        }
        let provider = short_provider(&r.provider);
        for inst in r.instances {
            if inst.deposed.is_some() {
                continue;
            }
            let mut address = match &r.module {
                Some(m) if !m.is_empty() => format!("{m}.{}.{}", r.type_, r.name),
                _ => format!("{}.{}", r.type_, r.name),
            };
            match &inst.index_key {
                Some(Value::Number(n)) => address.push_str(&format!("[{n}]")),
                Some(Value::String(s)) => address.push_str(&format!("[{s:?}]")),
                _ => {}
            }
            let attrs = match (inst.attributes, inst.attributes_flat) {
                (Some(a), _) => a,
                (None, Some(flat)) => unflatten(flat),
                (None, None) => Map::new(),
            };
            out.push(Instance {
                address,
                provider: provider.clone(),
                type_: r.type_.clone(),
                id: attrs.get("id").and_then(Value::as_str).map(str::to_string),
                attrs,
                sensitive: Sensitive::from_paths(inst.sensitive_attributes.as_ref()),
            });
        }
    }
    Ok(out)
}

/// The flatmap attributes Nexus reads, as structured values.
fn unflatten(flat: BTreeMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut tags = Map::new();
    for (k, v) in flat {
        if let Some(tag) = k.strip_prefix("tags.") {
            if tag != "%" {
                tags.insert(tag.to_string(), Value::String(v));
            }
        } else if matches!(k.as_str(), "id" | "location" | "sku" | "sku_name") {
            out.insert(k, Value::String(v));
        }
    }
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Object(tags));
    }
    out
}

/// `provider["registry.terraform.io/hashicorp/azurerm"].alias` → `hashicorp/azurerm`;
/// `provider.azurerm.alias` (0.12) → `azurerm`.
fn short_provider(p: &str) -> String {
    let inner = match (p.find("[\""), p.rfind("\"]")) {
        (Some(a), Some(b)) if a + 2 <= b => p.get(a + 2..b).unwrap_or_default(),
        _ => p
            .rsplit_once("provider.")
            .map_or(p, |(_, rest)| rest.split('.').next().unwrap_or_default()),
    };
    inner
        .strip_prefix("registry.terraform.io/")
        .unwrap_or(inner)
        .to_string()
}

#[derive(Debug, Deserialize)]
struct Show {
    #[serde(default)]
    values: Option<Values>,
}

#[derive(Debug, Deserialize)]
struct Values {
    #[serde(default)]
    root_module: Option<Module>,
}

#[derive(Debug, Deserialize)]
struct Module {
    #[serde(default)]
    resources: Vec<ShowResource>,
    #[serde(default)]
    child_modules: Vec<Module>,
}

#[derive(Debug, Deserialize)]
struct ShowResource {
    address: String,
    mode: String,
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    provider_name: String,
    #[serde(default)]
    deposed_key: Option<String>,
    #[serde(default)]
    values: Option<Map<String, Value>>,
    #[serde(default)]
    sensitive_values: Option<Value>,
}

fn show_json(doc: &Value, version: &Value) -> Result<Vec<Instance>, IngestError> {
    let v = version.as_str().ok_or_else(|| {
        IngestError::invalid(
            "format_version",
            format!("expected a version string, got {version}"),
        )
    })?;
    match v.split('.').next().and_then(|m| m.parse::<u32>().ok()) {
        Some(0 | 1) => {}
        Some(_) => {
            return Err(IngestError::UnsupportedVersion(format!(
                "terraform show -json format_version {v}; only 0.x and 1.x are read"
            )));
        }
        None => {
            return Err(IngestError::invalid(
                "format_version",
                format!("expected a version like 1.0, got {v:?}"),
            ));
        }
    }
    let show: Show = from_value(doc, "")?;
    let mut out = Vec::new();
    let mut stack: Vec<Module> = show
        .values
        .and_then(|v| v.root_module)
        .into_iter()
        .collect();
    while let Some(m) = stack.pop() {
        for r in m.resources {
            if r.mode != "managed" || r.deposed_key.is_some() {
                continue;
            }
            let attrs = r.values.unwrap_or_default();
            out.push(Instance {
                address: r.address,
                provider: short_provider(&r.provider_name),
                type_: r.type_,
                id: attrs.get("id").and_then(Value::as_str).map(str::to_string),
                attrs,
                sensitive: Sensitive::from_shape(r.sensitive_values.as_ref()),
            });
        }
        stack.extend(m.child_modules);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SA: &str = "/subscriptions/508f906f-b287-4882-b038-c653fe001aa0/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdata";

    fn upserts(o: &Outcome) -> Vec<&crate::Upsert> {
        o.changes()
            .iter()
            .filter_map(|c| match c {
                Change::Upsert(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn v4_reads_location_tags_sku_and_skips_sensitive() {
        let state = json!({"version": 4, "terraform_version": "1.6.0", "resources": [
            {"mode": "managed", "type": "azurerm_storage_account", "name": "data",
             "provider": "provider[\"registry.terraform.io/hashicorp/azurerm\"]",
             "instances": [{"attributes": {"id": SA, "location": "westeurope",
                "tags": {"env": "dev", "owner": "data"}, "sku": [{"name": "Standard_LRS", "tier": "Standard"}],
                "primary_access_key": "c2VjcmV0"},
                "sensitive_attributes": [[{"type": "get_attr", "value": "primary_access_key"}], [{"type": "get_attr", "value": "tags"}]]}]},
            {"mode": "managed", "type": "azurerm_resource_group", "name": "rg",
             "provider": "provider[\"registry.terraform.io/hashicorp/azurerm\"]",
             "instances": [{"attributes": {"id": "/subscriptions/508f906f-b287-4882-b038-c653fe001aa0/resourceGroups/rg-data"}}]},
            {"mode": "data", "type": "azurerm_key_vault", "name": "kv",
             "provider": "provider[\"registry.terraform.io/hashicorp/azurerm\"]",
             "instances": [{"attributes": {"id": SA.replace("stdata", "other")}}]}
        ]});
        let mut ctx = Context::in_namespace("infra");
        ctx.repository = Some("repository:team-platform/infra".into());
        let o = parse(state.to_string().as_bytes(), &ctx).unwrap();
        let u = upserts(&o);
        assert_eq!(u.len(), 1);
        let s = &u[0].object["spec"];
        assert_eq!(s["region"], "westeurope");
        assert_eq!(s["sku"], "Standard_LRS (Standard)");
        assert!(
            s.get("tags").is_none(),
            "sensitive tags must not be copied: {s}"
        );
        assert_eq!(s["repository"], "repository:team-platform/infra");
        assert_eq!(
            u[0].object["metadata"]["annotations"][TERRAFORM_ADDRESS],
            "azurerm_storage_account.data"
        );
        assert_eq!(
            u[0].object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "nexus-iac"
        );
        assert!(!u[0].object.to_string().contains("c2VjcmV0"));
        assert!(u[0].status.is_empty());
    }

    #[test]
    fn show_json_children_index_and_sensitive_shape() {
        let doc = json!({"format_version": "1.0", "values": {"root_module": {"child_modules": [{
            "address": "module.data", "resources": [{
                "address": "module.data.azurerm_storage_account.data[\"a\"]", "mode": "managed",
                "type": "azurerm_storage_account", "name": "data", "index": "a",
                "provider_name": "registry.terraform.io/hashicorp/azurerm",
                "values": {"id": SA, "location": "West Europe", "tags": {"env": "prod"}, "sku_name": "premium"},
                "sensitive_values": {"tags": {}, "location": true}}]}]}}});
        let o = parse(doc.to_string().as_bytes(), &Context::default()).unwrap();
        let u = upserts(&o);
        let s = &u[0].object["spec"];
        assert_eq!(s["region"], crate::azure::UNKNOWN_REGION);
        assert_eq!(s["tags"]["env"], "prod");
        assert_eq!(s["sku"], "premium");
        assert_eq!(s["environment"], "environment:default/prod");
        assert_eq!(
            u[0].object["metadata"]["annotations"][TERRAFORM_ADDRESS],
            "module.data.azurerm_storage_account.data[\"a\"]"
        );
        let e = parse(br#"{"format_version": "2.0"}"#, &Context::default()).unwrap_err();
        assert!(matches!(e, IngestError::UnsupportedVersion(_)), "{e}");
    }

    #[test]
    fn versions_and_shapes() {
        let ctx = Context::default();
        let e = parse(br#"{"version": 5}"#, &ctx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported version: Terraform state version 5; only version 4 (Terraform ≥ 0.12) is read"
        );
        let e = parse(br#"{"version": "4"}"#, &ctx).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("version: expected a state format version number"),
            "{e}"
        );
        let e = parse(br#"{"resources": []}"#, &ctx).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("version: expected a Terraform state"),
            "{e}"
        );
        let e = parse(
            br#"{"version": 4, "resources": [{"mode": "managed"}]}"#,
            &ctx,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("resources[0]: missing field `type`"),
            "{e}"
        );
        assert_eq!(
            parse(br#"{"version": 4}"#, &ctx).unwrap(),
            Outcome::ignored("no azurerm resources in state (found providers: none)")
        );
        assert_eq!(
            short_provider("module.a.provider[\"registry.terraform.io/hashicorp/azurerm\"].west"),
            "hashicorp/azurerm"
        );
        assert_eq!(short_provider("provider.azurerm.west"), "azurerm");
    }

    #[test]
    fn flatmap_attributes_are_read() {
        let state = json!({"version": 4, "resources": [{"mode": "managed", "type": "azurerm_storage_account",
            "name": "x", "provider": "provider.azurerm", "each": "list", "instances": [{"index_key": 0,
            "attributes_flat": {"id": SA, "location": "eastus", "tags.%": "1", "tags.team": "data", "sku": "Standard"}}]}]});
        let o = parse(state.to_string().as_bytes(), &Context::default()).unwrap();
        let u = upserts(&o);
        assert_eq!(u[0].object["spec"]["tags"], json!({"team": "data"}));
        assert_eq!(u[0].object["spec"]["sku"], "Standard");
        assert_eq!(
            u[0].object["metadata"]["annotations"][TERRAFORM_ADDRESS],
            "azurerm_storage_account.x[0]"
        );
    }
}
