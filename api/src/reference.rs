//! Entity references in Backstage's `[kind:][namespace/]name` form.
//!
//! The kind and namespace may be left out; each field that holds a reference says which kind
//! it defaults to, and the namespace defaults to the namespace of the entity that declares it.

use std::{fmt, str::FromStr, sync::Arc};

use kube::core::{Message, Reason, Rule};
use serde::{Deserialize, Serialize};

/// The catalog kinds, as they appear in references (case-insensitive) and in `kind:` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKind {
    Component,
    System,
    Domain,
    Repository,
    Pipeline,
    AzureResource,
    Environment,
    Team,
    User,
    #[serde(rename = "API")]
    Api,
    Package,
    Incident,
    WorkItem,
    Runbook,
}

impl EntityKind {
    pub const ALL: [EntityKind; 14] = [
        EntityKind::Component,
        EntityKind::System,
        EntityKind::Domain,
        EntityKind::Repository,
        EntityKind::Pipeline,
        EntityKind::AzureResource,
        EntityKind::Environment,
        EntityKind::Team,
        EntityKind::User,
        EntityKind::Api,
        EntityKind::Package,
        EntityKind::Incident,
        EntityKind::WorkItem,
        EntityKind::Runbook,
    ];

    /// The Kubernetes `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Component => "Component",
            EntityKind::System => "System",
            EntityKind::Domain => "Domain",
            EntityKind::Repository => "Repository",
            EntityKind::Pipeline => "Pipeline",
            EntityKind::AzureResource => "AzureResource",
            EntityKind::Environment => "Environment",
            EntityKind::Team => "Team",
            EntityKind::User => "User",
            EntityKind::Api => "API",
            EntityKind::Package => "Package",
            EntityKind::Incident => "Incident",
            EntityKind::WorkItem => "WorkItem",
            EntityKind::Runbook => "Runbook",
        }
    }

    /// The lower-case spelling used in references (`component:payments/checkout`).
    pub fn ref_name(self) -> &'static str {
        match self {
            EntityKind::Component => "component",
            EntityKind::System => "system",
            EntityKind::Domain => "domain",
            EntityKind::Repository => "repository",
            EntityKind::Pipeline => "pipeline",
            EntityKind::AzureResource => "azureresource",
            EntityKind::Environment => "environment",
            EntityKind::Team => "team",
            EntityKind::User => "user",
            EntityKind::Api => "api",
            EntityKind::Package => "package",
            EntityKind::Incident => "incident",
            EntityKind::WorkItem => "workitem",
            EntityKind::Runbook => "runbook",
        }
    }

    /// The CRD's plural resource name (`components`, `repositories`, `apis`).
    pub fn plural(self) -> &'static str {
        match self {
            EntityKind::Component => "components",
            EntityKind::System => "systems",
            EntityKind::Domain => "domains",
            EntityKind::Repository => "repositories",
            EntityKind::Pipeline => "pipelines",
            EntityKind::AzureResource => "azureresources",
            EntityKind::Environment => "environments",
            EntityKind::Team => "teams",
            EntityKind::User => "users",
            EntityKind::Api => "apis",
            EntityKind::Package => "packages",
            EntityKind::Incident => "incidents",
            EntityKind::WorkItem => "workitems",
            EntityKind::Runbook => "runbooks",
        }
    }

    /// Spellings accepted in references besides [`Self::ref_name`]: Backstage calls a team a
    /// `group` and an Azure resource a `resource`.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            EntityKind::Team => &["group"],
            EntityKind::AzureResource => &["resource"],
            _ => &[],
        }
    }

    /// Parses a kind the way references spell it, ignoring case.
    pub fn parse(s: &str) -> Option<EntityKind> {
        let lower = s.to_ascii_lowercase();
        EntityKind::ALL
            .into_iter()
            .find(|k| k.ref_name() == lower || k.aliases().contains(&lower.as_str()))
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fully qualified reference to a catalog entity. The strings are shared: the controller's
/// relation graph holds every reference several times, and a clone costs a reference count.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl EntityRef {
    pub fn new(
        kind: EntityKind,
        namespace: impl Into<Arc<str>>,
        name: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Parses `[kind:][namespace/]name`, filling the blanks with the defaults and checking the
    /// kind against the kinds the field accepts.
    pub fn parse(
        raw: &str,
        default_kind: EntityKind,
        allowed: &[EntityKind],
        default_namespace: &str,
    ) -> Result<EntityRef, RefError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(RefError::Empty);
        }
        let (kind, rest) = match raw.split_once(':') {
            Some((k, rest)) => {
                let kind = EntityKind::parse(k).ok_or_else(|| RefError::UnknownKind(k.into()))?;
                (kind, rest)
            }
            None => (default_kind, raw),
        };
        if !allowed.is_empty() && !allowed.contains(&kind) {
            return Err(RefError::KindNotAllowed {
                kind,
                allowed: allowed.to_vec(),
            });
        }
        let (namespace, name) = match rest.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => (default_namespace, rest),
        };
        if !is_dns_label(namespace) {
            return Err(RefError::InvalidNamespace(namespace.into()));
        }
        if !is_dns_subdomain(name) {
            return Err(RefError::InvalidName(name.into()));
        }
        Ok(EntityRef::new(kind, namespace, name))
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.kind.ref_name(),
            self.namespace,
            self.name
        )
    }
}

impl FromStr for EntityRef {
    type Err = RefError;

    /// Parses a fully qualified reference (`kind:namespace/name`), as written in
    /// `status.relations[].targetRef`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s.split_once(':').ok_or(RefError::MissingKind)?;
        let kind = EntityKind::parse(kind).ok_or_else(|| RefError::UnknownKind(kind.into()))?;
        let (ns, _) = rest.split_once('/').ok_or(RefError::MissingNamespace)?;
        EntityRef::parse(s, kind, &[], ns)
    }
}

/// Why a reference could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("reference is empty")]
    Empty,
    #[error("unknown kind {0:?}")]
    UnknownKind(String),
    #[error("kind {kind} is not allowed here (allowed: {})", kinds_list(allowed))]
    KindNotAllowed {
        kind: EntityKind,
        allowed: Vec<EntityKind>,
    },
    #[error("namespace {0:?} is not a valid DNS label")]
    InvalidNamespace(String),
    #[error("name {0:?} is not a valid DNS subdomain")]
    InvalidName(String),
    #[error("a fully qualified reference needs a kind")]
    MissingKind,
    #[error("a fully qualified reference needs a namespace")]
    MissingNamespace,
}

fn kinds_list(kinds: &[EntityKind]) -> String {
    kinds
        .iter()
        .map(|k| k.ref_name())
        .collect::<Vec<_>>()
        .join(", ")
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

/// Longest reference accepted by the schema (kind + namespace + name with separators).
pub const MAX_REF_LEN: u32 = 330;

/// RE2 pattern (used by CEL `matches`) for a reference to one of `kinds`.
pub fn ref_pattern(kinds: &[EntityKind]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for k in kinds {
        names.push(k.ref_name());
        names.extend(k.aliases());
    }
    let kind = if kinds.is_empty() {
        "[a-zA-Z]+".to_string()
    } else {
        format!("(?i:{})", names.join("|"))
    };
    format!(
        "^(?:{kind}:)?(?:[a-z0-9](?:[-a-z0-9]{{0,61}}[a-z0-9])?/)?[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?$"
    )
}

fn ref_hint(kinds: &[EntityKind]) -> String {
    let kinds = if kinds.is_empty() {
        "any catalog kind".to_string()
    } else {
        kinds_list(kinds)
    };
    format!("an entity reference [kind:][namespace/]name (kind: {kinds})")
}

/// CEL rule for a string field that holds one reference.
pub fn ref_rule(field: &str, kinds: &[EntityKind]) -> Rule {
    Rule::new(format!("self.matches('{}')", ref_pattern(kinds)))
        .message(Message::Message(format!(
            "{field} must be {}",
            ref_hint(kinds)
        )))
        .reason(Reason::FieldValueInvalid)
}

/// CEL rule for a list field whose every item is a reference.
pub fn ref_list_rule(field: &str, kinds: &[EntityKind]) -> Rule {
    Rule::new(format!("self.all(r, r.matches('{}'))", ref_pattern(kinds)))
        .message(Message::Message(format!(
            "every entry of {field} must be {}",
            ref_hint(kinds)
        )))
        .reason(Reason::FieldValueInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_kind_and_namespace() {
        let r = EntityRef::parse("checkout", EntityKind::Component, &[], "payments").unwrap();
        assert_eq!(r.to_string(), "component:payments/checkout");
        let r = EntityRef::parse("shared/ledger", EntityKind::Component, &[], "payments").unwrap();
        assert_eq!(r, EntityRef::new(EntityKind::Component, "shared", "ledger"));
    }

    #[test]
    fn kind_is_case_insensitive_and_backstage_aliases_work() {
        let r = EntityRef::parse("Group:org/platform", EntityKind::User, &[], "x").unwrap();
        assert_eq!(r.kind, EntityKind::Team);
        let r = EntityRef::parse("API:payments/pay", EntityKind::Component, &[], "x").unwrap();
        assert_eq!(r.kind, EntityKind::Api);
        let r = EntityRef::parse("resource:rg", EntityKind::Component, &[], "x").unwrap();
        assert_eq!(r.kind, EntityKind::AzureResource);
    }

    #[test]
    fn bad_references_name_the_problem() {
        let err = EntityRef::parse("widget:foo", EntityKind::Component, &[], "x").unwrap_err();
        assert_eq!(err, RefError::UnknownKind("widget".into()));
        let err = EntityRef::parse(
            "system:foo",
            EntityKind::Team,
            &[EntityKind::Team, EntityKind::User],
            "x",
        )
        .unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
        assert!(matches!(
            EntityRef::parse("Foo", EntityKind::Component, &[], "x"),
            Err(RefError::InvalidName(_))
        ));
        assert!(matches!(
            EntityRef::parse("a_b/foo", EntityKind::Component, &[], "x"),
            Err(RefError::InvalidNamespace(_))
        ));
        assert_eq!(
            EntityRef::parse("  ", EntityKind::Component, &[], "x"),
            Err(RefError::Empty)
        );
    }

    #[test]
    fn fully_qualified_round_trip() {
        let r: EntityRef = "azureresource:platform/kv-prod".parse().unwrap();
        assert_eq!(r.to_string(), "azureresource:platform/kv-prod");
        assert_eq!(
            "platform/kv".parse::<EntityRef>(),
            Err(RefError::MissingKind)
        );
    }

    #[test]
    fn pattern_lists_aliases() {
        let p = ref_pattern(&[EntityKind::Team]);
        assert!(p.contains("(?i:team|group)"), "{p}");
    }
}
