//! One AzureResource object from what a source knows about an ARM id. Shared by Resource Graph,
//! Terraform state and ARM deployments so that all of them name, place and shape the object
//! the same way (they meet on it under different field managers).

use std::collections::BTreeMap;

use serde_json::Value;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nexus_api::catalog::{
    About,
    azure_resource::{AzureResource, AzureResourceSpec},
};
use nexus_api::{EntityKind, EntityRef};

use super::id::{ResourceId, portal_url, resource_name};
use crate::change::{EXTERNAL_ID, SOURCE_URL};
use crate::{Context, Source, TagMapping, Target, Upsert, naming};

/// Region written when the source does not say (the CRD requires one): ARM deployment output
/// resources and Terraform resources without a `location` attribute. Resource Graph replaces it
/// with the real region on its next poll.
pub const UNKNOWN_REGION: &str = "unknown";

/// Azure allows 50 tags per resource; so does the CRD.
const MAX_TAGS: usize = 50;
const MAX_SKU: usize = 100;
const MAX_TITLE: usize = 200;

/// What one source observed about a resource, beyond its id.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub region: Option<String>,
    pub sku: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Annotations beyond external id and source URL.
    pub annotations: BTreeMap<String, String>,
    /// `spec.repository` (a Repository reference).
    pub repository: Option<String>,
}

/// The upsert of the AzureResource for `id` (already parsed into `rid`), with identity
/// [`Target::AzureResourceId`].
///
/// Namespace: the value of the `ctx.tags.namespace` tag when configured, present and a DNS
/// label (lower-cased); else `ctx.namespace_for("<subscriptionId>/<resourceGroup>")`.
/// `spec.environment` / `spec.system` are references built from the mapped tags, in the same
/// namespace.
pub(crate) fn upsert(
    source: Source,
    id: &str,
    rid: &ResourceId,
    seen: Observed,
    ctx: &Context,
) -> Upsert {
    let id = id.trim_end_matches('/');
    let tags: BTreeMap<String, String> = seen.tags.into_iter().take(MAX_TAGS).collect();
    let namespace = namespace(rid, &tags, ctx);
    let tag_ref = |keys: &[String], kind: EntityKind| {
        TagMapping::pick(keys, &tags).and_then(|v| entity_ref(kind, &namespace, v))
    };
    let environment = tag_ref(&ctx.tags.environment, EntityKind::Environment);
    let system = tag_ref(&ctx.tags.system, EntityKind::System);

    let mut annotations = seen.annotations;
    annotations.insert(EXTERNAL_ID.into(), id.to_string());
    annotations.insert(SOURCE_URL.into(), portal_url(id));
    let obj = AzureResource {
        metadata: ObjectMeta {
            name: Some(resource_name(id)),
            namespace: Some(namespace),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: AzureResourceSpec {
            about: About {
                title: Some(truncate(&rid.name, MAX_TITLE)),
                ..About::default()
            },
            resource_id: id.to_string(),
            type_: rid.provider_type.clone(),
            subscription_id: rid.subscription_id.clone(),
            resource_group: rid.resource_group.clone(),
            region: seen
                .region
                .as_deref()
                .and_then(normalise_region)
                .unwrap_or_else(|| UNKNOWN_REGION.into()),
            sku: seen
                .sku
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| truncate(s, MAX_SKU)),
            tags,
            owner: None,
            system,
            environment,
            repository: seen.repository,
        },
        status: None,
    };
    Upsert::new(source, &obj).with_identity(Target::AzureResourceId { id: id.to_string() })
}

/// `status.observedTags`: the tags, plus the canonical `owner` / `team` keys the controller's
/// ownership-from-tags reads, copied from the tags `ctx.tags.owner` / `ctx.tags.team` name.
pub(crate) fn observed_tags(
    tags: &BTreeMap<String, String>,
    ctx: &Context,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = tags.clone().into_iter().take(MAX_TAGS).collect();
    for (canonical, keys) in [("owner", &ctx.tags.owner), ("team", &ctx.tags.team)] {
        let Some(value) = TagMapping::pick(keys, tags).map(str::to_string) else {
            continue;
        };
        let same = out
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(canonical) && *v == value);
        if !same {
            // Another casing of the canonical key would be read first; the mapping wins.
            out.retain(|k, _| !k.eq_ignore_ascii_case(canonical));
            out.insert(canonical.into(), value);
        }
    }
    out
}

/// Tags as strings: Azure tag values are strings; nulls are dropped, anything else is written
/// as JSON text.
pub(crate) fn string_tags(tags: Option<BTreeMap<String, Value>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect()
}

/// Lower case without spaces, as ARM normalises locations (`West Europe` → `westeurope`).
pub(crate) fn normalise_region(s: &str) -> Option<String> {
    let r: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    (!r.is_empty() && r.len() <= 64).then_some(r)
}

fn namespace(rid: &ResourceId, tags: &BTreeMap<String, String>, ctx: &Context) -> String {
    let from_tag = ctx.tags.namespace.as_ref().and_then(|key| {
        let v = TagMapping::pick(std::slice::from_ref(key), tags)?;
        let v = v.trim().to_ascii_lowercase();
        is_dns_label(&v).then_some(v)
    });
    from_tag.unwrap_or_else(|| {
        ctx.namespace_for(&format!("{}/{}", rid.subscription_id, rid.resource_group))
            .to_string()
    })
}

/// `kind:namespace/name` from a tag value: lower-cased when that is a valid name, else the
/// sanitised [`naming::object_name`].
fn entity_ref(kind: EntityKind, namespace: &str, value: &str) -> Option<String> {
    let v = value.trim().to_lowercase();
    if v.is_empty() {
        return None;
    }
    let name = if is_dns_subdomain(&v) {
        v
    } else {
        naming::object_name(&[value.trim()])
    };
    let r = EntityRef::parse(&name, kind, &[kind], namespace).ok()?;
    Some(r.to_string())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// At most `max` bytes, cut on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NamespaceMap, NamespaceRule, azure::parse_resource_id};

    const ID: &str = "/subscriptions/2021d45c-1ab7-45d8-a4b3-afae981df491/resourceGroups/rg-platform-aks-prod-weu/providers/Microsoft.ContainerService/managedClusters/aks-contoso-prod-weu";

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn object_is_shaped_for_the_crd() {
        let mut ctx = Context::in_namespace("catalog");
        ctx.namespaces = NamespaceMap {
            default: "catalog".into(),
            rules: vec![NamespaceRule {
                pattern: "*/rg-platform-*".into(),
                namespace: "team-platform".into(),
            }],
        };
        let rid = parse_resource_id(ID).unwrap();
        let seen = Observed {
            region: Some("West Europe".into()),
            sku: Some("Standard".into()),
            tags: tags(&[("Env", "Prod"), ("system", "Developer Platform")]),
            ..Observed::default()
        };
        let u = upsert(Source::Azure, ID, &rid, seen, &ctx);
        let o = &u.object;
        assert_eq!(o["kind"], "AzureResource");
        assert_eq!(o["apiVersion"], "catalog.nexus.dev/v1alpha1");
        assert_eq!(u.namespace(), "team-platform");
        assert_eq!(u.name(), resource_name(ID));
        assert_eq!(o["spec"]["region"], "westeurope");
        assert_eq!(
            o["spec"]["type"],
            "Microsoft.ContainerService/managedClusters"
        );
        assert_eq!(o["spec"]["title"], "aks-contoso-prod-weu");
        assert_eq!(o["spec"]["environment"], "environment:team-platform/prod");
        assert_eq!(
            o["spec"]["system"],
            "system:team-platform/developer-platform"
        );
        assert_eq!(o["spec"]["tags"]["Env"], "Prod");
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "nexus-azure"
        );
        assert_eq!(o["metadata"]["annotations"][EXTERNAL_ID], ID);
        assert_eq!(
            o["metadata"]["annotations"][SOURCE_URL],
            format!("https://portal.azure.com/#resource{ID}")
        );
        assert_eq!(u.identity, Some(Target::AzureResourceId { id: ID.into() }));
        assert!(o.get("status").is_none());
    }

    #[test]
    fn namespace_tag_wins_when_valid() {
        let mut ctx = Context::in_namespace("catalog");
        ctx.tags.namespace = Some("nexus-namespace".into());
        let rid = parse_resource_id(ID).unwrap();
        let ns = |v: &str| {
            let seen = Observed {
                tags: tags(&[("Nexus-Namespace", v)]),
                ..Observed::default()
            };
            upsert(Source::Iac, ID, &rid, seen, &ctx)
                .namespace()
                .to_string()
        };
        assert_eq!(ns("Team-Payments"), "team-payments");
        assert_eq!(ns("not a namespace"), "catalog");
    }

    #[test]
    fn observed_tags_carry_canonical_owner_and_team() {
        let mut ctx = Context::in_namespace("x");
        ctx.tags.owner = vec!["techOwner".into()];
        ctx.tags.team = vec!["squad".into()];
        let t = tags(&[
            ("Owner", "old"),
            ("TechOwner", "payments"),
            ("squad", "core"),
        ]);
        let o = observed_tags(&t, &ctx);
        assert_eq!(o.get("owner").map(String::as_str), Some("payments"));
        assert!(!o.contains_key("Owner"));
        assert_eq!(o.get("team").map(String::as_str), Some("core"));
        assert_eq!(o.get("TechOwner").map(String::as_str), Some("payments"));
        // Default mapping: an existing `Owner` tag already says it.
        let t = tags(&[("Owner", "platform")]);
        assert_eq!(observed_tags(&t, &Context::default()), t);
    }

    #[test]
    fn odd_tag_values_still_make_valid_refs() {
        assert_eq!(
            entity_ref(EntityKind::Environment, "ns", "Pre Prod!").unwrap(),
            format!("environment:ns/{}", naming::object_name(&["Pre Prod!"]))
        );
        assert_eq!(entity_ref(EntityKind::Environment, "ns", "  "), None);
        assert_eq!(truncate("ééé", 3), "é");
    }
}
