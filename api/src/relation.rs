//! Relation names. Where Backstage has a name for a relation we use it; the rest follow the
//! same `verb` / `inverse` pattern. Every relation is declared once, in the spec of one side,
//! and the catalog controller writes both directions into `status.relations`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RelationType {
    OwnedBy,
    OwnerOf,
    DependsOn,
    DependencyOf,
    ProvidesApi,
    ApiProvidedBy,
    ConsumesApi,
    ApiConsumedBy,
    PartOf,
    HasPart,
    MemberOf,
    HasMember,
    ChildOf,
    ParentOf,
    HasRepository,
    RepositoryOf,
    Builds,
    BuiltBy,
    DeploysTo,
    DeployedBy,
    DeployedTo,
    Hosts,
    Produces,
    ProducedBy,
    Affects,
    AffectedBy,
    Tracks,
    TrackedBy,
    RunbookFor,
    HasRunbook,
    HasOnCall,
    OnCallFor,
}

impl RelationType {
    pub const ALL: [RelationType; 32] = [
        RelationType::OwnedBy,
        RelationType::OwnerOf,
        RelationType::DependsOn,
        RelationType::DependencyOf,
        RelationType::ProvidesApi,
        RelationType::ApiProvidedBy,
        RelationType::ConsumesApi,
        RelationType::ApiConsumedBy,
        RelationType::PartOf,
        RelationType::HasPart,
        RelationType::MemberOf,
        RelationType::HasMember,
        RelationType::ChildOf,
        RelationType::ParentOf,
        RelationType::HasRepository,
        RelationType::RepositoryOf,
        RelationType::Builds,
        RelationType::BuiltBy,
        RelationType::DeploysTo,
        RelationType::DeployedBy,
        RelationType::DeployedTo,
        RelationType::Hosts,
        RelationType::Produces,
        RelationType::ProducedBy,
        RelationType::Affects,
        RelationType::AffectedBy,
        RelationType::Tracks,
        RelationType::TrackedBy,
        RelationType::RunbookFor,
        RelationType::HasRunbook,
        RelationType::HasOnCall,
        RelationType::OnCallFor,
    ];

    /// Parses the camelCase name written in `status.relations[].type`.
    pub fn parse(s: &str) -> Option<RelationType> {
        RelationType::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The name of the same relation seen from the other side.
    pub fn inverse(self) -> RelationType {
        use RelationType::*;
        match self {
            OwnedBy => OwnerOf,
            OwnerOf => OwnedBy,
            DependsOn => DependencyOf,
            DependencyOf => DependsOn,
            ProvidesApi => ApiProvidedBy,
            ApiProvidedBy => ProvidesApi,
            ConsumesApi => ApiConsumedBy,
            ApiConsumedBy => ConsumesApi,
            PartOf => HasPart,
            HasPart => PartOf,
            MemberOf => HasMember,
            HasMember => MemberOf,
            ChildOf => ParentOf,
            ParentOf => ChildOf,
            HasRepository => RepositoryOf,
            RepositoryOf => HasRepository,
            Builds => BuiltBy,
            BuiltBy => Builds,
            DeploysTo => DeployedBy,
            DeployedBy => DeploysTo,
            DeployedTo => Hosts,
            Hosts => DeployedTo,
            Produces => ProducedBy,
            ProducedBy => Produces,
            Affects => AffectedBy,
            AffectedBy => Affects,
            Tracks => TrackedBy,
            TrackedBy => Tracks,
            RunbookFor => HasRunbook,
            HasRunbook => RunbookFor,
            HasOnCall => OnCallFor,
            OnCallFor => HasOnCall,
        }
    }

    /// The camelCase name written into `status.relations[].type`.
    pub fn as_str(self) -> &'static str {
        use RelationType::*;
        match self {
            OwnedBy => "ownedBy",
            OwnerOf => "ownerOf",
            DependsOn => "dependsOn",
            DependencyOf => "dependencyOf",
            ProvidesApi => "providesApi",
            ApiProvidedBy => "apiProvidedBy",
            ConsumesApi => "consumesApi",
            ApiConsumedBy => "apiConsumedBy",
            PartOf => "partOf",
            HasPart => "hasPart",
            MemberOf => "memberOf",
            HasMember => "hasMember",
            ChildOf => "childOf",
            ParentOf => "parentOf",
            HasRepository => "hasRepository",
            RepositoryOf => "repositoryOf",
            Builds => "builds",
            BuiltBy => "builtBy",
            DeploysTo => "deploysTo",
            DeployedBy => "deployedBy",
            DeployedTo => "deployedTo",
            Hosts => "hosts",
            Produces => "produces",
            ProducedBy => "producedBy",
            Affects => "affects",
            AffectedBy => "affectedBy",
            Tracks => "tracks",
            TrackedBy => "trackedBy",
            RunbookFor => "runbookFor",
            HasRunbook => "hasRunbook",
            HasOnCall => "hasOnCall",
            OnCallFor => "onCallFor",
        }
    }
}

impl fmt::Display for RelationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for r in RelationType::ALL {
            assert_eq!(RelationType::parse(r.as_str()), Some(r));
        }
        assert_eq!(RelationType::parse("nope"), None);
    }

    #[test]
    fn inverse_is_an_involution_and_names_match_serde() {
        let all = [
            RelationType::OwnedBy,
            RelationType::DependsOn,
            RelationType::ProvidesApi,
            RelationType::ConsumesApi,
            RelationType::PartOf,
            RelationType::MemberOf,
            RelationType::ChildOf,
            RelationType::HasRepository,
            RelationType::Builds,
            RelationType::DeploysTo,
            RelationType::DeployedTo,
            RelationType::Produces,
            RelationType::Affects,
            RelationType::Tracks,
            RelationType::RunbookFor,
            RelationType::HasOnCall,
        ];
        for r in all {
            assert_eq!(r.inverse().inverse(), r);
            assert_ne!(r.inverse(), r);
            for x in [r, r.inverse()] {
                let json = serde_json::to_value(x).unwrap();
                assert_eq!(json, serde_json::json!(x.as_str()));
            }
        }
    }
}
