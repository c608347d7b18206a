//! ARM resource ids: parsing, and the Kubernetes object name of the AzureResource for an id.
//!
//! Every source that knows an ARM id (Resource Graph, Terraform state, ARM deployments, alerts)
//! names the AzureResource with [`resource_name`], so they all meet on the same object.

use crate::{IngestError, naming};

/// The parts of a resource-group-scoped ARM resource id that an AzureResource records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription_id: String,
    pub resource_group: String,
    /// Provider namespace and type segments, nested types joined: `Microsoft.Web/sites`,
    /// `Microsoft.Sql/servers/databases`. For an extension resource (a second `/providers/`),
    /// the extension's type.
    pub provider_type: String,
    /// The last name segment (`RBTest` for `…/automationAccounts/TestAA/runbooks/RBTest`).
    pub name: String,
}

/// Longest id the AzureResource CRD accepts (`spec.resourceId`).
const MAX_ID: usize = 1024;

const EXPECTED: &str = "expected an ARM resource id /subscriptions/<guid>/resourceGroups/<group>/providers/<namespace>/<type>/<name>";

/// Parses a resource-group-scoped ARM resource id. Rejects ids the AzureResource CRD would reject
/// (subscription- or tenant-scoped ids, resource groups themselves, names with spaces,
/// non-ASCII group names), so whatever parses can be applied.
pub fn parse_resource_id(id: &str) -> Result<ResourceId, IngestError> {
    parse_at("id", id)
}

/// [`parse_resource_id`] with the payload's field path in the error.
pub(crate) fn parse_at(field: &str, id: &str) -> Result<ResourceId, IngestError> {
    let bad = |why: &str| {
        let shown: String = id.chars().take(200).collect();
        IngestError::invalid(field, format!("{EXPECTED}, got {shown:?} ({why})"))
    };
    if id.len() > MAX_ID {
        return Err(bad("longer than 1024 characters"));
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains white space"));
    }
    let trimmed = id.trim_end_matches('/');
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Err(bad("does not start with /"));
    };
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(bad("empty path segment"));
    }
    let (sub, rg) = match segs.as_slice() {
        [s, sub, r, rg, ..]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups") =>
        {
            (*sub, *rg)
        }
        [s, ..] if s.eq_ignore_ascii_case("subscriptions") => {
            return Err(bad("not inside a resource group"));
        }
        _ => return Err(bad("does not start with /subscriptions/")),
    };
    if !is_guid(sub) {
        return Err(bad("subscription id is not a GUID"));
    }
    if rg.len() > 90
        || !rg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'(' | b')'))
    {
        return Err(bad(
            "resource group name is not 1-90 ASCII letters, digits or -_.()",
        ));
    }
    // `providers/<namespace>`, then type/name pairs; a `providers` where a type would be starts
    // an extension resource (diagnostic settings on a VM), whose own type is the one we want.
    let after_rg = segs.get(4..).unwrap_or_default();
    match after_rg.first() {
        None => {
            return Err(bad(
                "no /providers/ segment: a resource group, not a resource",
            ));
        }
        Some(s) if !s.eq_ignore_ascii_case("providers") => {
            return Err(bad(
                "unexpected segments between the resource group and /providers/",
            ));
        }
        Some(_) => {}
    }
    let mut p = 0;
    let mut j = 2;
    while let Some(s) = after_rg.get(j) {
        if s.eq_ignore_ascii_case("providers") {
            p = j;
        }
        j += 2;
    }
    let typed = after_rg.get(p + 1..).unwrap_or_default();
    // namespace, then (type, name) pairs.
    let (Some(namespace), pairs) = (typed.first(), typed.get(1..).unwrap_or_default()) else {
        return Err(bad("no provider namespace"));
    };
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(bad("types and names do not pair up"));
    }
    if !namespace
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(bad(
            "provider namespace has characters other than letters, digits, _ and .",
        ));
    }
    let mut provider_type = (*namespace).to_string();
    for t in pairs.iter().step_by(2) {
        if !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
            return Err(bad(
                "resource type has characters other than letters, digits and .",
            ));
        }
        provider_type.push('/');
        provider_type.push_str(t);
    }
    if provider_type.len() > 200 {
        return Err(bad("resource type longer than 200 characters"));
    }
    let name = pairs.last().copied().unwrap_or_default();
    Ok(ResourceId {
        subscription_id: sub.to_string(),
        resource_group: rg.to_string(),
        provider_type,
        name: name.to_string(),
    })
}

/// `8-4-4-4-12` hex digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The Kubernetes object name of the AzureResource for an ARM id: the sanitised last path
/// segment, `-`, and the 6-hex [`naming::short_hash`] of the lower-cased id (trailing `/`
/// dropped). ARM ids are case-insensitive, so every casing of an id gives the same name, and
/// the hash keeps same-named resources in different groups apart. At most 63 characters.
pub fn resource_name(resource_id: &str) -> String {
    let id = resource_id.trim().trim_end_matches('/');
    let hash = naming::short_hash(&id.to_lowercase());
    let last = id.rsplit('/').next().unwrap_or_default();
    let mut base = String::with_capacity(last.len());
    for c in last.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    // ASCII only from here on, so byte truncation is safe.
    base.truncate(naming::MAX_NAME - hash.len() - 1);
    let base = base.trim_end_matches('-');
    if base.is_empty() {
        hash
    } else {
        format!("{base}-{hash}")
    }
}

/// Link to the resource in the Azure portal (public cloud).
pub(crate) fn portal_url(id: &str) -> String {
    format!(
        "https://portal.azure.com/#resource{}",
        id.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VNET: &str = "/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups/RG2/providers/Microsoft.Network/virtualNetworks/myVnet";

    #[test]
    fn parses_plain_nested_and_extension_ids() {
        let r = parse_resource_id(VNET).unwrap();
        assert_eq!(r.subscription_id, "cfbbd179-59d2-4052-aa06-9270a38aa9d6");
        assert_eq!(r.resource_group, "RG2");
        assert_eq!(r.provider_type, "Microsoft.Network/virtualNetworks");
        assert_eq!(r.name, "myVnet");

        let r = parse_resource_id("/subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6/resourceGroups/RG2/providers/Microsoft.Automation/automationAccounts/TestAA/runbooks/RBTest").unwrap();
        assert_eq!(
            r.provider_type,
            "Microsoft.Automation/automationAccounts/runbooks"
        );
        assert_eq!(r.name, "RBTest");

        let r = parse_resource_id("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Insights/diagnosticSettings/diag").unwrap();
        assert_eq!(r.provider_type, "Microsoft.Insights/diagnosticSettings");
        assert_eq!(r.resource_group, "rg");
    }

    #[test]
    fn rejects_what_the_crd_rejects() {
        for (id, why) in [
            ("", "does not start with /"),
            (
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg",
                "a resource group",
            ),
            (
                "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Security/pricings/x",
                "not inside a resource group",
            ),
            (
                "/subscriptions/not-a-guid/resourceGroups/rg/providers/A.B/c/d",
                "not a GUID",
            ),
            (
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/A.B/c",
                "pair up",
            ),
            (
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/A.B/c/my vm",
                "white space",
            ),
            (
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/grüppe/providers/A.B/c/d",
                "resource group name",
            ),
            (
                "https://kv.vault.azure.net/secrets/x",
                "does not start with /",
            ),
            (
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/x/providers/A.B/c/d",
                "between",
            ),
        ] {
            let e = parse_resource_id(id).unwrap_err().to_string();
            assert!(e.starts_with("id: expected an ARM resource id"), "{e}");
            assert!(e.contains(why), "{id}: {e}");
        }
    }

    #[test]
    fn names_are_stable_across_casing_and_bounded() {
        let n = resource_name(VNET);
        assert!(
            n.starts_with("myvnet-") && n.len() == "myvnet-".len() + 6,
            "{n}"
        );
        assert_eq!(n, resource_name(&VNET.to_uppercase()));
        assert_eq!(
            n,
            format!("myvnet-{}", naming::short_hash(&VNET.to_lowercase()))
        );
        assert_ne!(n, resource_name(&VNET.replace("RG2", "RG3")));
        let long = format!("{VNET}/subnets/{}", "s_".repeat(80));
        let n = resource_name(&long);
        assert!(n.len() <= 63 && !n.contains("--"), "{n}");
        assert_eq!(resource_name("/x/!!!").len(), 6);
        assert_eq!(resource_name(""), naming::short_hash(""));
    }
}
