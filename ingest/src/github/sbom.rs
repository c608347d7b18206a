//! Dependency graph SBOM (`GET /repos/{o}/{r}/dependency-graph/sbom`, SPDX JSON) → Package
//! objects for every dependency with a package URL, and the repository as their consumer.
//!
//! Packages are shared by many repositories, so their namespace key is
//! `packages/<ecosystem>/<name>` (not the repository's), and their name
//! `object_name(&[ecosystem, name])`; the identity lets an existing declared Package win.

use std::collections::BTreeMap;

use nexus_api::{
    catalog::{
        About,
        package::{Ecosystem, Package, PackageSpec},
    },
    facts::PackageConsumer,
};
use serde::Deserialize;

use super::common::clip_opt;
use crate::{
    Change, Context, Facts, IngestError, ListOp, Outcome, Source, Target, Upsert,
    change::EXTERNAL_ID, error::from_json, naming::object_name,
};

/// The CRD bound on `status.consumers`.
const MAX_CONSUMERS: usize = 1000;

#[derive(Debug, Deserialize)]
struct Response {
    sbom: Document,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    document_namespace: Option<String>,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    license_concluded: Option<String>,
    #[serde(default)]
    license_declared: Option<String>,
    #[serde(default)]
    external_refs: Vec<ExternalRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_type: String,
    reference_locator: String,
}

/// A package URL (`pkg:type/namespace/name@version?qualifiers#subpath`) reduced to what Nexus
/// keys packages by.
#[derive(Debug, PartialEq)]
pub(crate) struct Purl {
    pub ecosystem: Ecosystem,
    /// Registry name: `@scope/name` (npm), `group:artifact` (maven), module path (go).
    pub name: String,
    pub version: Option<String>,
}

/// Parses a package URL; `None` for malformed ones and types Nexus has no ecosystem for.
pub(crate) fn parse_purl(purl: &str) -> Option<Purl> {
    let rest = purl.strip_prefix("pkg:")?.trim_start_matches('/');
    let rest = rest.split('#').next().unwrap_or(rest);
    let rest = rest.split('?').next().unwrap_or(rest);
    let (path, version) = match rest.rsplit_once('@') {
        // An `@` inside the path is an encoded npm scope only when percent-encoded; a raw one
        // before the last `/` is not a version separator.
        Some((p, v)) if !v.contains('/') => (p, Some(decode(v)?)),
        _ => (rest, None),
    };
    let (kind, path) = path.split_once('/')?;
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect::<Option<_>>()?;
    let (name, namespace) = segments.split_last()?;
    let (ecosystem, name) = match kind.to_ascii_lowercase().as_str() {
        "npm" => (Ecosystem::Npm, join(namespace, name, "/")),
        "nuget" => (Ecosystem::Nuget, name.clone()),
        "maven" => (Ecosystem::Maven, join(namespace, name, ":")),
        "pypi" => (Ecosystem::Pypi, name.clone()),
        "cargo" => (Ecosystem::Cargo, name.clone()),
        "golang" => (Ecosystem::Go, join(namespace, name, "/")),
        "docker" | "oci" => (Ecosystem::Container, join(namespace, name, "/")),
        _ => return None,
    };
    if name.is_empty() || name.len() > 214 {
        return None;
    }
    Some(Purl {
        ecosystem,
        name,
        version: version.filter(|v| !v.is_empty()),
    })
}

/// The package URL without version, qualifiers and subpath: the package's external id.
fn without_version(purl: &str) -> &str {
    let purl = purl.split(['#', '?']).next().unwrap_or(purl);
    match purl.rsplit_once('@') {
        Some((p, v)) if !v.contains('/') => p,
        _ => purl,
    }
}

fn join(namespace: &[String], name: &str, sep: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{}{sep}{name}", namespace.join("/"))
    }
}

/// Percent-decoding; `None` when the result is not UTF-8 or an escape is cut short.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Serde name of an ecosystem (`npm`, `pypi`, …): what `Target::Package` carries.
fn ecosystem_name(e: Ecosystem) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// SPDX licence expressions the CRD accepts; `NOASSERTION`/`NONE` mean unknown.
fn license(p: &SpdxPackage) -> Option<String> {
    [
        p.license_concluded.as_deref(),
        p.license_declared.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find(|l| {
        !matches!(*l, "NOASSERTION" | "NONE" | "")
            && l.len() <= 200
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+:() -".contains(c))
    })
    .map(str::to_string)
}

/// Repository web URL from the SPDX document namespace
/// (`https://github.com/o/r/dependency_graph/sbom-…`).
fn repository_from(doc: &Document) -> Option<String> {
    let ns = doc.document_namespace.as_deref()?;
    ns.split_once("/dependency_graph/")
        .map(|(repo, _)| repo.to_string())
}

/// REST `sbom`: the repository is `ctx.repository`, else the SPDX `documentNamespace`.
pub(crate) fn rest(body: &[u8], ctx: &Context) -> Result<Outcome, IngestError> {
    let resp: Response = from_json(body)?;
    let repository = super::common::rest_repository(ctx, repository_from(&resp.sbom), "sbom")?;
    // One entry per package, first version seen.
    let mut found: BTreeMap<(String, String), (Purl, String, &SpdxPackage)> = BTreeMap::new();
    for p in &resp.sbom.packages {
        let purls = p
            .external_refs
            .iter()
            .filter(|r| r.reference_type.eq_ignore_ascii_case("purl"));
        for r in purls {
            let Some(purl) = parse_purl(&r.reference_locator) else {
                continue;
            };
            let key = (ecosystem_name(purl.ecosystem), purl.name.clone());
            let base = without_version(&r.reference_locator).to_string();
            found.entry(key).or_insert((purl, base, p));
        }
    }
    let mut changes = Vec::with_capacity(found.len() * 2);
    for ((eco, name), (purl, base, p)) in found {
        let spec = PackageSpec {
            about: About::default(),
            ecosystem: purl.ecosystem,
            package_name: name.clone(),
            version: None,
            license: license(p),
            registry_url: None,
            produced_by: None,
            owner: None,
        };
        let mut object = Package::new(&object_name(&[&eco, &name]), spec);
        object.metadata.namespace = Some(
            ctx.namespace_for(&format!("packages/{eco}/{name}"))
                .to_string(),
        );
        object.metadata.annotations = Some(BTreeMap::from([(
            EXTERNAL_ID.to_string(),
            super::common::clip(&base, 1024),
        )]));
        let target = Target::Package {
            ecosystem: eco,
            name,
        };
        changes.push(Change::Upsert(
            Upsert::new(Source::Github, &object).with_identity(target.clone()),
        ));
        let consumer = PackageConsumer {
            repository: repository.clone(),
            version: clip_opt(purl.version.as_deref().or(p.version_info.as_deref()), 256),
        };
        // Consumers have no time: ordered by repository URL so the bound is deterministic.
        let op = ListOp::upsert(
            "consumers",
            "repository",
            consumer,
            "repository",
            MAX_CONSUMERS,
        );
        changes.push(Change::Facts(Facts::new(Source::Github, target).list(op)));
    }
    Ok(Outcome::Changes(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        let p = parse_purl("pkg:npm/%40contoso/ui-kit@1.2.3").unwrap();
        assert_eq!(
            (p.ecosystem, p.name.as_str(), p.version.as_deref()),
            (Ecosystem::Npm, "@contoso/ui-kit", Some("1.2.3"))
        );
        let p = parse_purl("pkg:maven/org.apache.commons/commons-lang3@3.12.0?type=jar").unwrap();
        assert_eq!(p.name, "org.apache.commons:commons-lang3");
        let p = parse_purl("pkg:golang/github.com/stretchr/testify@v1.8.0").unwrap();
        assert_eq!(
            (p.ecosystem, p.name.as_str()),
            (Ecosystem::Go, "github.com/stretchr/testify")
        );
        assert_eq!(parse_purl("pkg:pypi/requests").unwrap().version, None);
        assert_eq!(parse_purl("pkg:github/actions/checkout@v4"), None);
        assert_eq!(parse_purl("pkg:npm/%4"), None);
        assert_eq!(parse_purl("pkg:npm/%ff%fe@1"), None);
        assert_eq!(parse_purl("npm/x"), None);
        assert_eq!(parse_purl("pkg:npm"), None);
        assert_eq!(parse_purl("pkg:npm/%+f"), None);
        assert_eq!(without_version("pkg:npm/%40s/x@1?a=b"), "pkg:npm/%40s/x");
    }
}
