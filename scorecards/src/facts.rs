//! The facts rules can declare: what each is, where it comes from, and which the catalog
//! already holds ([`derive`]). A fact whose source is not integrated yet is never produced, so
//! every rule declaring it is `unknown` — never passed — until the source lands.

use std::collections::BTreeMap;

use nexus_api::EntityKind;
use serde_json::{Map, Value, json};

/// One fact rules may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    /// Path under `facts`, e.g. `azure.policyCompliance`.
    pub name: &'static str,
    /// Where the value comes from.
    pub source: &'static str,
    /// Whether a source delivers it today ([`derive`] produces it).
    pub available: bool,
    /// The value's shape, for rule authors.
    pub shape: &'static str,
}

/// Every fact the templates use, available ones first.
pub const CATALOGUE: &[Fact] = &[
    Fact {
        name: "github.branchProtection",
        source: "GitHub ingestion: protection and rulesets of the default branch of the entity's repository (Repository.status.branchProtection; the entity itself or its hasRepository relation)",
        available: true,
        shape: "{protected, requiredApprovingReviews, requireCodeOwnerReviews, requiredStatusChecks[], allowForcePushes, allowDeletions, rulesets[], rules[]}",
    },
    Fact {
        name: "github.codeowners",
        source: "GitHub ingestion: CODEOWNERS of the entity's repository (Repository.status.codeowners)",
        available: true,
        shape: "{owners[], path}",
    },
    Fact {
        name: "github.vulnerabilities",
        source: "GitHub dependency graph and Dependabot alerts: vulnerabilities of the Packages the entity depends on (Package.status.vulnerabilities); present once the entity depends on at least one Package",
        available: true,
        shape: "[{package, id, severity, fixedIn}]",
    },
    Fact {
        name: "azure.resources",
        source: "Azure Resource Graph ingestion: the entity itself when it is an AzureResource, else the AzureResources in its dependsOn relation; present once there is at least one",
        available: true,
        shape: "[{ref, type, sku, region, tags{}, owner, health, gone}]",
    },
    Fact {
        name: "kubernetes.probes",
        source: "AKS workload inspection (liveness and readiness probes of the service's Deployments)",
        available: false,
        shape: "{liveness: bool, readiness: bool}",
    },
    Fact {
        name: "monitor.alertRules",
        source: "Azure Monitor alert rules targeting the service or its resources",
        available: false,
        shape: "{enabled: int}",
    },
    Fact {
        name: "slo.objectives",
        source: "service-level objectives (Azure Monitor SLIs or an SLO tool)",
        available: false,
        shape: "[{name, target}]",
    },
    Fact {
        name: "defender.secureScore",
        source: "Microsoft Defender for Cloud secure score of the subscriptions hosting the entity",
        available: false,
        shape: "{percentage: int}",
    },
    Fact {
        name: "azure.networkExposure",
        source: "Azure Resource Graph network properties (publicNetworkAccess, public IPs, ingress)",
        available: false,
        shape: "{publicEndpoints: int}",
    },
    Fact {
        name: "security.plainTextSecrets",
        source: "scan of App Service / Container Apps settings and AKS manifests for secrets not referenced from Key Vault",
        available: false,
        shape: "{count: int}",
    },
    Fact {
        name: "azure.identity",
        source: "Azure Resource Graph identity properties (system- or user-assigned managed identity)",
        available: false,
        shape: "{managedIdentity: bool}",
    },
    Fact {
        name: "ci.testResults",
        source: "Azure DevOps test runs and GitHub check runs of the default branch",
        available: false,
        shape: "{total: int, passed: int, failed: int}",
    },
    Fact {
        name: "azure.advisor",
        source: "Azure Advisor cost recommendations (right-sizing, idle resources)",
        available: false,
        shape: "{rightSizing: int}",
    },
    Fact {
        name: "azure.budgets",
        source: "Azure Cost Management budgets with alert notifications covering the entity's scope",
        available: false,
        shape: "{active: int}",
    },
    Fact {
        name: "azure.policyCompliance",
        source: "Azure Policy assignments and compliance state",
        available: false,
        shape: "{assignments: int, nonCompliant: int}",
    },
    Fact {
        name: "azure.diagnostics",
        source: "Azure diagnostic settings (audit log categories sent to Log Analytics)",
        available: false,
        shape: "{auditLogs: bool}",
    },
    Fact {
        name: "azure.encryption",
        source: "Azure Resource Graph encryption properties (at rest, TLS minimum version)",
        available: false,
        shape: "{atRest: bool, inTransit: bool}",
    },
    Fact {
        name: "azure.backup",
        source: "Azure Backup protected items and backup policies",
        available: false,
        shape: "{protected: bool}",
    },
];

/// Looks a fact up in the [`CATALOGUE`].
pub fn lookup(name: &str) -> Option<&'static Fact> {
    CATALOGUE.iter().find(|f| f.name == name)
}

/// Why a rule declaring `name` is unknown for an entity that lacks it.
pub(crate) fn absent_reason(name: &str) -> String {
    match lookup(name) {
        Some(f) if f.available => format!(
            "fact {name} is not available for this entity ({}); it has not been observed yet",
            f.source
        ),
        Some(f) => format!(
            "fact {name} has no source yet: {} is not integrated",
            f.source
        ),
        None => format!("fact {name} is not available for this entity"),
    }
}

/// The facts the catalog already holds for `entity`, read from its own status and from the
/// related entities in `relations` (whole objects by relation type). Only what was observed is
/// set: a repository whose branch protection ingestion has not seen yet gives no
/// `github.branchProtection`, so rules on it are unknown rather than failing.
pub fn derive(entity: &Value, relations: &BTreeMap<String, Vec<Value>>) -> Map<String, Value> {
    let mut github = Map::new();
    let mut azure = Map::new();
    let kind = entity.get("kind").and_then(Value::as_str).unwrap_or("");

    let repository = if kind == "Repository" {
        Some(entity)
    } else {
        relations.get("hasRepository").and_then(|r| r.first())
    };
    if let Some(repo) = repository {
        for (field, fact) in [
            ("/status/branchProtection", "branchProtection"),
            ("/status/codeowners", "codeowners"),
        ] {
            if let Some(v) = repo.pointer(field).filter(|v| !v.is_null()) {
                github.insert(fact.to_string(), v.clone());
            }
        }
    }

    let depends_on = relations.get("dependsOn").map(Vec::as_slice).unwrap_or(&[]);
    let of_kind = |k: &str| -> Vec<&Value> {
        let own = (kind == k).then_some(entity);
        own.into_iter()
            .chain(
                depends_on
                    .iter()
                    .filter(|d| d.get("kind").and_then(Value::as_str) == Some(k)),
            )
            .collect()
    };

    let packages = of_kind("Package");
    if !packages.is_empty() {
        let vulns: Vec<Value> = packages
            .iter()
            .flat_map(|p| {
                let package = p
                    .pointer("/spec/packageName")
                    .cloned()
                    .unwrap_or(Value::Null);
                p.pointer("/status/vulnerabilities")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(move |v| {
                        json!({
                            "package": package,
                            "id": v.get("id").cloned().unwrap_or(Value::Null),
                            "severity": v.get("severity").cloned().unwrap_or(Value::Null),
                            "fixedIn": v.get("fixedIn").cloned().unwrap_or(Value::Null),
                        })
                    })
            })
            .collect();
        github.insert("vulnerabilities".into(), Value::Array(vulns));
    }

    let resources = of_kind("AzureResource");
    if !resources.is_empty() {
        azure.insert(
            "resources".into(),
            Value::Array(resources.into_iter().map(resource_summary).collect()),
        );
    }

    let mut facts = Map::new();
    if !github.is_empty() {
        facts.insert("github".into(), Value::Object(github));
    }
    if !azure.is_empty() {
        facts.insert("azure".into(), Value::Object(azure));
    }
    facts
}

fn resource_summary(r: &Value) -> Value {
    let s = |p: &str| r.pointer(p).cloned().unwrap_or(Value::Null);
    // Observed tags win over declared ones: Azure is the truth for what is tagged now.
    let mut tags = r
        .pointer("/spec/tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(observed) = r.pointer("/status/observedTags").and_then(Value::as_object) {
        tags.extend(observed.clone());
    }
    let reference = format!(
        "{}:{}/{}",
        EntityKind::AzureResource.ref_name(),
        r.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        r.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    let mut out = json!({
        "ref": reference,
        "type": s("/spec/type"),
        "region": s("/spec/region"),
        "tags": tags,
        "gone": r.pointer("/status/sourceGone").is_some_and(|g| !g.is_null()),
    });
    // Optional fields stay absent rather than null, so `has(r.owner)` reads naturally.
    for (field, path) in [
        ("sku", "/spec/sku"),
        ("owner", "/status/owner/ref"),
        ("health", "/status/health/state"),
    ] {
        if let Some(v) = r.pointer(path).filter(|v| !v.is_null())
            && let Some(obj) = out.as_object_mut()
        {
            obj.insert(field.into(), v.clone());
        }
    }
    out
}
