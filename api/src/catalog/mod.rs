//! The `catalog.nexus.dev/v1alpha1` kinds, one module per kind.

pub mod about;
pub mod api;
pub mod azure_resource;
pub mod component;
pub mod domain;
pub mod environment;
pub mod incident;
pub mod package;
pub mod pipeline;
pub mod repository;
pub mod runbook;
pub mod system;
pub mod team;
pub mod user;
pub mod work_item;

pub use about::{About, Lifecycle, Link};
pub use api::ApiEntity;
pub use azure_resource::AzureResource;
pub use component::Component;
pub use domain::Domain;
pub use environment::Environment;
pub use incident::Incident;
pub use package::Package;
pub use pipeline::Pipeline;
pub use repository::Repository;
pub use runbook::Runbook;
pub use system::System;
pub use team::Team;
pub use user::User;
pub use work_item::WorkItem;
