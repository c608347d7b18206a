//! The built-in scorecard templates (`scorecards/templates/*.yaml`), shipped in the binary so
//! the CLI and controller can install them without the repository.

use nexus_api::scorecards::Scorecard;

/// (file stem, manifest) of every template.
pub const TEMPLATES: [(&str, &str); 5] = [
    (
        "production-readiness",
        include_str!("../templates/production-readiness.yaml"),
    ),
    (
        "security-posture",
        include_str!("../templates/security-posture.yaml"),
    ),
    (
        "cost-optimization",
        include_str!("../templates/cost-optimization.yaml"),
    ),
    (
        "devops-maturity",
        include_str!("../templates/devops-maturity.yaml"),
    ),
    ("compliance", include_str!("../templates/compliance.yaml")),
];

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {source}")]
pub struct TemplateError {
    pub name: &'static str,
    #[source]
    pub source: serde_yaml::Error,
}

/// Every template as a Scorecard object.
pub fn load() -> Result<Vec<Scorecard>, TemplateError> {
    TEMPLATES
        .iter()
        .map(|(name, yaml)| {
            serde_yaml::from_str(yaml).map_err(|source| TemplateError { name, source })
        })
        .collect()
}
