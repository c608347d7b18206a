//! Backstage names, namespaces and references → Nexus names, namespaces and references.
//!
//! Every mapping is a pure function of the Backstage identity, so a reference maps to exactly
//! the name and namespace its target entity gets, whichever file is converted first.

use nexus_api::{EntityKind, EntityRef};

use crate::{Context, context::glob_match, naming};

/// A Backstage reference `[kind:][namespace/]name`, parts as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BackstageRef<'a> {
    pub kind: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// Parses a Backstage reference the way Backstage does: a `:` before any `/` ends the kind.
pub(super) fn parse_ref(raw: &str) -> Result<BackstageRef<'_>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("reference is empty".into());
    }
    let (kind, rest) = match (raw.split_once(':'), raw.find('/')) {
        (Some((k, rest)), slash) if slash.is_none_or(|s| k.len() < s) => (Some(k), rest),
        _ => (None, raw),
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, rest),
    };
    let bad = |part: &str| {
        part.is_empty() || part.contains([':', '/']) || part.contains(char::is_whitespace)
    };
    if kind.is_some_and(bad) || namespace.is_some_and(bad) || bad(name) {
        return Err(format!(
            "`{raw}` is not a reference [kind:][namespace/]name"
        ));
    }
    Ok(BackstageRef {
        kind,
        namespace,
        name,
    })
}

/// The Nexus kind a Backstage kind converts to; `None` for kinds that are not converted.
pub(super) fn nexus_kind(backstage_kind: &str) -> Option<EntityKind> {
    match backstage_kind.to_ascii_lowercase().as_str() {
        "component" => Some(EntityKind::Component),
        "api" => Some(EntityKind::Api),
        "system" => Some(EntityKind::System),
        "domain" => Some(EntityKind::Domain),
        "group" => Some(EntityKind::Team),
        "user" => Some(EntityKind::User),
        _ => None,
    }
}

/// Maps Backstage identities into the cluster.
#[derive(Clone, Copy, Debug)]
pub(super) struct Names<'a> {
    pub ctx: &'a Context,
}

impl Names<'_> {
    /// The namespace for an entity. The key matched against `ctx.namespaces.rules` is the
    /// Backstage entity reference in lower case (`group:default/team-a`); without a matching
    /// rule, Backstage's `default` namespace goes to `ctx.namespaces.default` and any other
    /// namespace is kept (made a DNS label when it is not one).
    pub fn namespace(&self, kind: &str, namespace: &str, name: &str) -> String {
        let key = format!("{kind}:{namespace}/{name}").to_ascii_lowercase();
        if let Some(rule) = self
            .ctx
            .namespaces
            .rules
            .iter()
            .find(|r| glob_match(&r.pattern, &key))
        {
            return rule.namespace.clone();
        }
        if namespace.eq_ignore_ascii_case("default") {
            return self.ctx.namespaces.default.clone();
        }
        if is_dns_label(namespace) {
            namespace.to_string()
        } else {
            naming::object_name(&[namespace])
        }
    }

    /// A Kubernetes name for a Backstage name: kept when it already is a DNS subdomain (dots
    /// are fine), else [`naming::object_name`] (lower case, other characters → `-`).
    pub fn name(&self, name: &str) -> String {
        if is_dns_subdomain(name) {
            name.to_string()
        } else {
            naming::object_name(&[name])
        }
    }

    /// Resolves a Backstage reference written in an entity of namespace `from_namespace`.
    /// `Err` says why it cannot point at a Nexus entity.
    pub fn target(
        &self,
        r: &BackstageRef<'_>,
        default_kind: &str,
        from_namespace: &str,
    ) -> Result<EntityRef, String> {
        let kind = r.kind.unwrap_or(default_kind).to_ascii_lowercase();
        let nexus = nexus_kind(&kind)
            .ok_or_else(|| format!("Backstage kind `{kind}` is not converted to Nexus"))?;
        let ns = r.namespace.unwrap_or(from_namespace);
        Ok(EntityRef::new(
            nexus,
            self.namespace(&kind, ns, r.name),
            self.name(r.name),
        ))
    }
}

/// The Backstage reference of an entity, as Backstage prints it (`component:default/petstore`).
pub(super) fn backstage_ref(kind: &str, namespace: &str, name: &str) -> String {
    format!("{}:{namespace}/{name}", kind.to_ascii_lowercase())
}

pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(super) fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A Kubernetes label value, or the name part of a label/annotation key.
fn is_qualified_name_part(s: &str, max: usize) -> bool {
    s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A Kubernetes label or annotation key: `[prefix/]name`.
pub(super) fn is_valid_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_qualified_name_part(name, 63),
        None => is_qualified_name_part(key, 63),
    }
}

pub(super) fn is_valid_label_value(v: &str) -> bool {
    v.is_empty() || is_qualified_name_part(v, 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backstage_refs() {
        let r = parse_ref("group:default/team-a").unwrap();
        assert_eq!(
            (r.kind, r.namespace, r.name),
            (Some("group"), Some("default"), "team-a")
        );
        let r = parse_ref("team-a").unwrap();
        assert_eq!((r.kind, r.namespace, r.name), (None, None, "team-a"));
        let r = parse_ref("ns/x").unwrap();
        assert_eq!((r.kind, r.namespace), (None, Some("ns")));
        assert!(parse_ref("a:b:c").is_err());
        assert!(parse_ref(" ").is_err());
        assert!(parse_ref("a/b/c").is_err());
    }

    #[test]
    fn names_and_namespaces() {
        let ctx = Context::in_namespace("catalog");
        let n = Names { ctx: &ctx };
        assert_eq!(n.name("breanna.davison"), "breanna.davison");
        assert_eq!(n.name("Team_A"), "team-a");
        assert_eq!(n.namespace("group", "default", "x"), "catalog");
        assert_eq!(n.namespace("user", "development", "x"), "development");
        assert_eq!(n.namespace("user", "Dev_Ops", "x"), "dev-ops");
        let r = n
            .target(&parse_ref("guest").unwrap(), "group", "default")
            .unwrap();
        assert_eq!(r.to_string(), "team:catalog/guest");
        assert!(
            n.target(&parse_ref("resource:db").unwrap(), "component", "default")
                .is_err()
        );
    }

    #[test]
    fn kubernetes_keys() {
        assert!(is_valid_key("backstage.io/techdocs-ref"));
        assert!(is_valid_key("goVersion"));
        assert!(!is_valid_key("Bad.Prefix/x"));
        assert!(!is_valid_key("a/b/c"));
        assert!(is_valid_label_value("go1.15.3"));
        assert!(!is_valid_label_value("with space"));
    }
}
