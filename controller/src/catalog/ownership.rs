//! Ownership resolution: explicit `spec.owner` > CODEOWNERS of the linked repository > Azure
//! tags (`owner`, `team`) > Entra ID group mapped to a Team. Pure functions; the graph supplies
//! the lookups.

use nexus_api::{EntityRef, OwnerInputs, OwnerSource};

/// The owner of an entity and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    pub owner: EntityRef,
    pub source: OwnerSource,
    pub detail: String,
}

/// What resolution needs to know about the rest of the catalog. Matches by handle, name or
/// group prefer a Team over a User and the asking entity's own namespace over others, so
/// `team: core` on a resource in `team-a` means `team-a`'s core team.
pub trait OwnerLookup {
    /// CODEOWNERS root owners recorded on a repository, if it exists.
    fn codeowners(&self, repository: &EntityRef) -> Option<Vec<String>>;
    /// A Team or User by GitHub handle without `@` (`org/slug`, `slug`, `login`).
    fn by_github(&self, handle: &str, namespace: &str) -> Option<EntityRef>;
    /// A Team or User by name, display name, alias or email.
    fn by_name(&self, name: &str, namespace: &str) -> Option<EntityRef>;
    /// A Team by Entra ID group object id.
    fn by_entra_group(&self, id: &str, namespace: &str) -> Option<EntityRef>;
}

/// Azure tag keys that name an owner, in the order they are consulted.
const OWNER_TAGS: [&str; 2] = ["owner", "team"];

/// Resolves the owner of an entity in `namespace`.
pub fn resolve(
    inputs: &OwnerInputs,
    namespace: &str,
    lookup: &impl OwnerLookup,
) -> Option<Ownership> {
    if !inputs.applicable {
        return None;
    }
    if let Some(explicit) = &inputs.explicit {
        // An explicit owner wins even when it does not resolve: the dangling reference is
        // reported, and we never guess past what a person declared.
        return explicit.target.as_ref().ok().map(|owner| Ownership {
            owner: owner.clone(),
            source: OwnerSource::Spec,
            detail: "spec.owner".to_string(),
        });
    }
    if let Some(found) = from_codeowners(inputs, namespace, lookup) {
        return Some(found);
    }
    if let Some(found) = from_tags(inputs, namespace, lookup) {
        return Some(found);
    }
    inputs.entra_groups.iter().find_map(|g| {
        lookup
            .by_entra_group(&g.to_ascii_lowercase(), namespace)
            .map(|owner| Ownership {
                owner,
                source: OwnerSource::EntraGroup,
                detail: format!("Entra ID group {g}"),
            })
    })
}

fn from_codeowners(
    inputs: &OwnerInputs,
    namespace: &str,
    lookup: &impl OwnerLookup,
) -> Option<Ownership> {
    let repo = inputs.repository.as_ref()?;
    let owners = if inputs.codeowners.is_empty() {
        lookup.codeowners(repo)?
    } else {
        inputs.codeowners.clone()
    };
    owners.iter().find_map(|entry| {
        let entry = entry.trim();
        let owner = match entry.strip_prefix('@') {
            Some(handle) => lookup.by_github(&handle.to_ascii_lowercase(), namespace),
            // CODEOWNERS also accepts email addresses.
            None if entry.contains('@') => lookup.by_name(&entry.to_ascii_lowercase(), namespace),
            None => None,
        }?;
        Some(Ownership {
            owner,
            source: OwnerSource::Codeowners,
            detail: format!("CODEOWNERS of {repo}: {entry}"),
        })
    })
}

fn from_tags(
    inputs: &OwnerInputs,
    namespace: &str,
    lookup: &impl OwnerLookup,
) -> Option<Ownership> {
    OWNER_TAGS.iter().find_map(|wanted| {
        // Azure tag names are case-insensitive.
        let (key, value) = inputs
            .azure_tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(wanted))?;
        let owner = lookup.by_name(&value.trim().to_ascii_lowercase(), namespace)?;
        Some(Ownership {
            owner,
            source: OwnerSource::AzureTags,
            detail: format!("Azure tag {key}={value}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nexus_api::{DeclaredRef, EntityKind, RelationType};

    use super::*;

    struct Org;

    fn team(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Team, "org", name)
    }

    impl OwnerLookup for Org {
        fn codeowners(&self, repository: &EntityRef) -> Option<Vec<String>> {
            (&*repository.name == "checkout-repo")
                .then(|| vec!["@nobody".into(), "@contoso/payments".into()])
        }
        fn by_github(&self, handle: &str, _: &str) -> Option<EntityRef> {
            match handle {
                "contoso/payments" | "payments" => Some(team("payments")),
                "alice" => Some(EntityRef::new(EntityKind::User, "org", "alice")),
                _ => None,
            }
        }
        fn by_name(&self, name: &str, _: &str) -> Option<EntityRef> {
            match name {
                "platform" | "platform@contoso.com" => Some(team("platform")),
                _ => None,
            }
        }
        fn by_entra_group(&self, id: &str, _: &str) -> Option<EntityRef> {
            (id == "0f0e0d0c-0000-4000-8000-000000000001").then(|| team("identity"))
        }
    }

    fn explicit(raw: &str) -> DeclaredRef {
        DeclaredRef {
            field: "spec.owner".into(),
            relation: RelationType::OwnedBy,
            raw: raw.into(),
            target: EntityRef::parse(raw, EntityKind::Team, &[], "org"),
        }
    }

    fn everything() -> OwnerInputs {
        OwnerInputs {
            applicable: true,
            explicit: Some(explicit("checkout")),
            repository: Some(EntityRef::new(
                EntityKind::Repository,
                "org",
                "checkout-repo",
            )),
            codeowners: vec![],
            azure_tags: BTreeMap::from([("Owner".into(), "Platform".into())]),
            entra_groups: vec!["0F0E0D0C-0000-4000-8000-000000000001".into()],
        }
    }

    #[test]
    fn precedence_spec_then_codeowners_then_tags_then_entra() {
        let mut inputs = everything();
        let o = resolve(&inputs, "org", &Org).unwrap();
        assert_eq!((o.owner, o.source), (team("checkout"), OwnerSource::Spec));

        inputs.explicit = None;
        let o = resolve(&inputs, "org", &Org).unwrap();
        assert_eq!(
            (o.owner.clone(), o.source),
            (team("payments"), OwnerSource::Codeowners)
        );
        assert!(o.detail.contains("@contoso/payments"), "{}", o.detail);

        inputs.repository = None;
        let o = resolve(&inputs, "org", &Org).unwrap();
        assert_eq!(
            (o.owner.clone(), o.source),
            (team("platform"), OwnerSource::AzureTags)
        );
        assert_eq!(o.detail, "Azure tag Owner=Platform");

        inputs.azure_tags.clear();
        let o = resolve(&inputs, "org", &Org).unwrap();
        assert_eq!(
            (o.owner, o.source),
            (team("identity"), OwnerSource::EntraGroup)
        );

        inputs.entra_groups.clear();
        assert_eq!(resolve(&inputs, "org", &Org), None);
    }

    #[test]
    fn unmatched_sources_fall_through_to_the_next() {
        let inputs = OwnerInputs {
            applicable: true,
            repository: Some(EntityRef::new(
                EntityKind::Repository,
                "org",
                "unknown-repo",
            )),
            azure_tags: BTreeMap::from([
                ("owner".into(), "someone-who-left".into()),
                ("team".into(), "platform@contoso.com".into()),
            ]),
            ..Default::default()
        };
        let o = resolve(&inputs, "org", &Org).unwrap();
        assert_eq!(
            (o.owner, o.source),
            (team("platform"), OwnerSource::AzureTags)
        );
    }

    #[test]
    fn repository_uses_its_own_codeowners_and_user_handles() {
        let inputs = OwnerInputs {
            applicable: true,
            repository: Some(EntityRef::new(EntityKind::Repository, "org", "solo")),
            codeowners: vec!["@Alice".into()],
            ..Default::default()
        };
        let o = resolve(&inputs, "org", &Org).unwrap();
        assert_eq!(o.owner, EntityRef::new(EntityKind::User, "org", "alice"));
        assert_eq!(o.source, OwnerSource::Codeowners);
    }

    #[test]
    fn explicit_owner_is_never_overridden_even_when_invalid() {
        let mut inputs = everything();
        inputs.explicit = Some(explicit("Not A Ref"));
        assert_eq!(resolve(&inputs, "org", &Org), None);
    }

    #[test]
    fn kinds_without_owners_resolve_nothing() {
        let inputs = OwnerInputs {
            applicable: false,
            ..everything()
        };
        assert_eq!(resolve(&inputs, "org", &Org), None);
    }
}
