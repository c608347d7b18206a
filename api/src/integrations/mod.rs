//! The `integrations.nexus.dev/v1alpha1` kinds: how Nexus reaches GitHub, Azure DevOps, Azure
//! Resource Graph and incident tools. Credentials are always Secret references; the status
//! reports health, the last sync, resume cursors and errors — never a secret value.

pub mod azure_devops;
pub mod azure_subscription;
pub mod common;
pub mod github;
pub mod incident_source;

pub use azure_devops::{AzureDevOpsIntegration, AzureDevOpsIntegrationSpec};
pub use azure_subscription::{AzureSubscriptionSource, AzureSubscriptionSourceSpec};
pub use common::{
    AzureAuth, IntegrationStatus, LastError, NamespaceMapping, NamespaceRule, SecretKeyRef,
};
pub use github::{GitHubIntegration, GitHubIntegrationSpec};
pub use incident_source::{IncidentProvider, IncidentSource, IncidentSourceSpec};

/// API group of the integration kinds.
pub const GROUP: &str = "integrations.nexus.dev";
