//! Backstage catalog files (`catalog-info.yaml`) → Nexus manifests.
