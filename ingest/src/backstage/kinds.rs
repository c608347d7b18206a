//! Per-kind mapping: Component, API, System, Domain, Group → Team, User.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nexus_api::{
    EntityKind, EntityRef,
    catalog::{
        ApiEntity, Component, Domain, Lifecycle, System, Team, User,
        api::{ApiSpec, ApiType},
        component::ComponentSpec,
        domain::DomainSpec,
        system::SystemSpec,
        team::{EntraGroup, GithubTeam, TeamSpec},
        user::UserSpec,
    },
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    entity::{Entity, RawEntity, Record, manifest},
    names::parse_ref,
    placeholders::Text,
    repository, vocab, yaml,
};
use crate::{IngestError, change::SOURCE_URL};

const OWNER: &[&str] = &["group", "user"];
/// Longest inline API definition the schema accepts.
const MAX_DEFINITION: usize = 262_144;

type Converted = (Record, Vec<String>);

/// Converts one entity of a kind Nexus has. `definition` is the API's `spec.definition`,
/// taken out before placeholders were resolved.
pub(super) fn convert(
    mut e: Entity<'_>,
    raw: RawEntity,
    definition: Option<Text>,
) -> Result<Converted, IngestError> {
    if raw.api_version != "backstage.io/v1alpha1" {
        e.keep(&["apiVersion"], Value::String(raw.api_version.clone()));
    }
    e.keep_all(&[], raw.rest);
    let spec = raw.spec;
    let meta = raw.metadata;
    match e.id.kind {
        EntityKind::Component => component(e, meta, &spec),
        EntityKind::Api => api(e, meta, &spec, definition),
        EntityKind::System => system(e, meta, &spec),
        EntityKind::Domain => domain(e, meta, &spec),
        EntityKind::Team => team(e, meta, &spec),
        EntityKind::User => user(e, meta, &spec),
        other => Err(e.err("kind", format!("{other} is not converted from Backstage"))),
    }
}

fn object_meta(
    id: &EntityRef,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(id.name.to_string()),
        namespace: Some(id.namespace.to_string()),
        labels: (!labels.is_empty()).then_some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

/// Maps a free-text value through `f`; a non-exact match warns and keeps the original.
fn closest<T: serde::Serialize + Copy>(
    e: &mut Entity<'_>,
    field: &str,
    raw: &str,
    f: fn(&str) -> vocab::Mapped<T>,
) -> T {
    let (v, exact) = f(raw);
    if !exact {
        e.warn(format!(
            "{field} `{raw}` is not a Nexus value; using `{}`",
            vocab::spelling(v)
        ));
        e.keep_field(field, Value::String(raw.to_string()));
    }
    v
}

fn lifecycle(e: &mut Entity<'_>, raw: &str) -> Lifecycle {
    closest(e, "spec.lifecycle", raw, vocab::lifecycle)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComponentIn {
    #[serde(rename = "type")]
    type_: String,
    lifecycle: String,
    owner: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    subcomponent_of: Option<String>,
    #[serde(default)]
    provides_apis: Vec<String>,
    #[serde(default)]
    consumes_apis: Vec<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn component(
    mut e: Entity<'_>,
    meta: super::entity::RawMeta,
    spec: &Value,
) -> Result<Converted, IngestError> {
    let s: ComponentIn = e.spec(spec)?;
    let repo = repository::from_annotations(&meta.annotations);
    let (about, labels, annotations) = e.metadata(meta);
    let type_ = closest(&mut e, "spec.type", &s.type_, vocab::component_type);
    let lifecycle = lifecycle(&mut e, &s.lifecycle);
    let owner = e.required_ref("spec.owner", &s.owner, "group", OWNER)?;
    let system_raw = s.system.clone();
    let mut system = e.optional_ref("spec.system", s.system, "system", &["system"])?;
    let subcomponent_of = e.optional_ref(
        "spec.subcomponentOf",
        s.subcomponent_of,
        "component",
        &["component"],
    )?;
    if subcomponent_of.is_some() && system.take().is_some() {
        // The schema forbids both: a subcomponent inherits its parent's system.
        e.warn("spec.system dropped: a subcomponent takes the system of its parent");
        e.refs.retain(|(f, _)| f != "spec.system");
        if let Some(raw) = system_raw {
            e.keep_field("spec.system", Value::String(raw));
        }
    }
    let provides_apis = e.ref_list("spec.providesApis", s.provides_apis, "api", &["api"], 64)?;
    let consumes_apis = e.ref_list("spec.consumesApis", s.consumes_apis, "api", &["api"], 64)?;
    // Backstage Resources are not converted: `resource:` entries are dropped and reported.
    let depends_on = e.ref_list(
        "spec.dependsOn",
        s.depends_on,
        "component",
        &["component", "system", "resource"],
        64,
    )?;
    e.keep_all(&["spec"], s.rest);

    let mut companions = Vec::new();
    let repository = match repo {
        Some(info) => {
            let ns = e.names.ctx.namespace_for(&info.key).to_string();
            let mut r = info.object(&ns);
            r.metadata.annotations = Some(BTreeMap::from([(SOURCE_URL.into(), info.url.clone())]));
            if info.branch.is_none() {
                e.warn(format!(
                    "spec.repository: the default branch of {} is not known; the Repository \
                     uses the schema default `main`",
                    info.url
                ));
            }
            companions.push(manifest(&r)?);
            let target = EntityRef::new(EntityKind::Repository, ns, info.name.clone());
            let s = target.to_string();
            e.refs.push(("spec.repository".into(), target));
            Some(s)
        }
        None => None,
    };

    let mut c = Component::new(
        &e.id.name,
        ComponentSpec {
            about,
            type_,
            lifecycle,
            owner,
            system,
            subcomponent_of,
            provides_apis,
            consumes_apis,
            depends_on,
            repository,
            environments: Vec::new(),
        },
    );
    c.metadata = object_meta(&e.id, labels, annotations);
    let object = manifest(&c)?;
    Ok(e.record(object, companions))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiIn {
    #[serde(rename = "type")]
    type_: String,
    lifecycle: String,
    owner: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn api(
    mut e: Entity<'_>,
    meta: super::entity::RawMeta,
    spec: &Value,
    definition: Option<Text>,
) -> Result<Converted, IngestError> {
    let mut s: ApiIn = e.spec(spec)?;
    let (about, labels, annotations) = e.metadata(meta);
    let type_ = closest(&mut e, "spec.type", &s.type_, vocab::api_type);
    let lifecycle = lifecycle(&mut e, &s.lifecycle);
    let owner = e.required_ref("spec.owner", &s.owner, "group", OWNER)?;
    let system = e.optional_ref("spec.system", s.system, "system", &["system"])?;

    let (definition, definition_url) = match definition {
        Some(Text::Inline(text)) => (Some(text), None),
        Some(Text::Remote(url)) => {
            e.warn(format!(
                "spec.definition: {url} is not read offline; it becomes spec.definitionUrl"
            ));
            e.keep_field("spec.definition", serde_json::json!({ "$text": url }));
            (None, Some(url))
        }
        Some(Text::Failed(why)) => return Err(e.err("spec.definition", why)),
        None => {
            // An MCP server describes itself: its endpoint is where the definition lives.
            let remote = s
                .rest
                .get("remotes")
                .and_then(Value::as_array)
                .and_then(|r| r.iter().find_map(|r| r.get("url").and_then(Value::as_str)))
                .filter(|u| super::fetch::is_remote(u) && u.len() <= 2048 && !u.contains(' '))
                .map(str::to_string);
            match remote {
                Some(url) => {
                    e.warn(format!(
                        "spec.definition is missing; spec.definitionUrl is the first of \
                         spec.remotes ({url})"
                    ));
                    (None, Some(url))
                }
                None => return Err(e.err("spec.definition", "required field is missing")),
            }
        }
    };
    if let Some(d) = &definition
        && d.len() > MAX_DEFINITION
    {
        return Err(e.err(
            "spec.definition",
            format!(
                "{} bytes, more than the {MAX_DEFINITION} Nexus stores inline",
                d.len()
            ),
        ));
    }

    // Backstage has no API version: take `spec.version` when someone wrote one, else the
    // definition's `info.version` (OpenAPI, AsyncAPI).
    let written = match s.rest.remove("version") {
        Some(Value::String(v)) if !v.trim().is_empty() => Some(v),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            e.keep(&["spec", "version"], other);
            None
        }
        None => None,
    };
    let version = written
        .or_else(|| {
            let d = definition.as_deref()?;
            if !matches!(type_, ApiType::Openapi | ApiType::Asyncapi) {
                return None;
            }
            let doc = yaml::parse_value(d, "spec.definition").ok()?;
            match doc.pointer("/info/version")? {
                Value::String(v) if !v.trim().is_empty() => Some(v.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        })
        .unwrap_or_else(|| {
            e.warn("spec.version: no version in Backstage or the definition; set to `unspecified`");
            "unspecified".into()
        });
    let version = e
        .clipped("spec.version", Some(version), 64)
        .unwrap_or_default();
    e.keep_all(&["spec"], s.rest);

    let mut a = ApiEntity::new(
        &e.id.name,
        ApiSpec {
            about,
            type_,
            lifecycle,
            owner,
            system,
            version,
            definition,
            definition_url,
            auth_scheme: None,
            sla: None,
        },
    );
    a.metadata = object_meta(&e.id, labels, annotations);
    let object = manifest(&a)?;
    Ok(e.record(object, Vec::new()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemIn {
    owner: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn system(
    mut e: Entity<'_>,
    meta: super::entity::RawMeta,
    spec: &Value,
) -> Result<Converted, IngestError> {
    let s: SystemIn = e.spec(spec)?;
    let (about, labels, annotations) = e.metadata(meta);
    let owner = e.required_ref("spec.owner", &s.owner, "group", OWNER)?;
    let domain = e.optional_ref("spec.domain", s.domain, "domain", &["domain"])?;
    e.keep_all(&["spec"], s.rest);
    let mut o = System::new(
        &e.id.name,
        SystemSpec {
            about,
            owner,
            domain,
        },
    );
    o.metadata = object_meta(&e.id, labels, annotations);
    let object = manifest(&o)?;
    Ok(e.record(object, Vec::new()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DomainIn {
    owner: String,
    #[serde(default)]
    subdomain_of: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn domain(
    mut e: Entity<'_>,
    meta: super::entity::RawMeta,
    spec: &Value,
) -> Result<Converted, IngestError> {
    let s: DomainIn = e.spec(spec)?;
    let (about, labels, annotations) = e.metadata(meta);
    let owner = e.required_ref("spec.owner", &s.owner, "group", OWNER)?;
    let subdomain_of = e.optional_ref("spec.subdomainOf", s.subdomain_of, "domain", &["domain"])?;
    e.keep_all(&["spec"], s.rest);
    let mut o = Domain::new(
        &e.id.name,
        DomainSpec {
            about,
            owner,
            subdomain_of,
        },
    );
    o.metadata = object_meta(&e.id, labels, annotations);
    let object = manifest(&o)?;
    Ok(e.record(object, Vec::new()))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileIn {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    picture: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Display name and a valid email from a profile; the rest (picture, …) goes to the extra.
fn profile(e: &mut Entity<'_>, p: Option<ProfileIn>) -> (Option<String>, Option<String>) {
    let p = p.unwrap_or_default();
    let display_name = e.clipped("spec.profile.displayName", p.display_name, 200);
    let email = match p.email {
        Some(m) if is_email(&m) => Some(m),
        Some(m) => {
            e.warn(format!(
                "spec.profile.email `{m}` is not an email address Nexus accepts"
            ));
            e.keep_field("spec.profile.email", Value::String(m));
            None
        }
        None => None,
    };
    if let Some(pic) = p.picture {
        e.keep_field("spec.profile.picture", Value::String(pic));
    }
    e.keep_all(&["spec", "profile"], p.rest);
    (display_name, email)
}

fn is_email(m: &str) -> bool {
    m.len() <= 320
        && m.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !m.contains(' ')
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupIn {
    #[serde(default)]
    profile: Option<ProfileIn>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    members: Vec<String>,
    /// `type` (team, department, …) and anything else: no place in a Team.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn team(
    mut e: Entity<'_>,
    meta: super::entity::RawMeta,
    spec: &Value,
) -> Result<Converted, IngestError> {
    let s: GroupIn = e.spec(spec)?;
    // Annotations of Backstage's GitHub and Microsoft Graph org providers.
    let github = meta
        .annotations
        .get("github.com/team-slug")
        .and_then(|v| v.split_once('/'))
        .filter(|(org, slug)| {
            !org.is_empty()
                && org.len() <= 100
                && slug.len() <= 100
                && slug
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && slug.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
                })
        })
        .map(|(org, slug)| GithubTeam {
            org: org.into(),
            slug: slug.into(),
        });
    let entra_group = meta
        .annotations
        .get("graph.microsoft.com/group-id")
        .filter(|id| is_guid(id))
        .map(|id| EntraGroup {
            id: id.clone(),
            display_name: None,
        });
    let (about, labels, annotations) = e.metadata(meta);
    let (display_name, email) = profile(&mut e, s.profile);
    let parent = e.optional_ref("spec.parent", s.parent, "group", &["group"])?;
    let members = e.ref_list("spec.members", s.members, "user", &["user"], 500)?;
    let mut children = Vec::new();
    for raw in s.children {
        let r = parse_ref(&raw).map_err(|p| e.err("spec.children", p))?;
        let target = match r.kind.map(str::to_ascii_lowercase) {
            Some(k) if k != "group" => Err(format!("a child must be a group, not `{k}`")),
            _ => e.names.target(&r, "group", &e.bs_namespace),
        };
        children.push((raw, target));
    }
    e.keep_all(&["spec"], s.rest);
    let mut o = Team::new(
        &e.id.name,
        TeamSpec {
            about,
            display_name,
            email,
            parent,
            members,
            entra_group,
            github,
            aliases: Vec::new(),
            on_call: None,
        },
    );
    o.metadata = object_meta(&e.id, labels, annotations);
    let object = manifest(&o)?;
    let (mut record, warnings) = e.record(object, Vec::new());
    record.children = children;
    Ok((record, warnings))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIn {
    #[serde(default)]
    profile: Option<ProfileIn>,
    #[serde(default)]
    member_of: Vec<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn user(
    mut e: Entity<'_>,
    meta: super::entity::RawMeta,
    spec: &Value,
) -> Result<Converted, IngestError> {
    let s: UserIn = e.spec(spec)?;
    let github_login = meta
        .annotations
        .get("github.com/user-login")
        .filter(|l| {
            l.len() <= 39
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
                && !l.is_empty()
        })
        .cloned();
    let entra_object_id = meta
        .annotations
        .get("graph.microsoft.com/user-id")
        .filter(|id| is_guid(id))
        .cloned();
    let (about, labels, annotations) = e.metadata(meta);
    let (display_name, email) = profile(&mut e, s.profile);
    // Nexus needs an email; a reserved `.invalid` address says plainly that none is known.
    let email = email.unwrap_or_else(|| {
        let placeholder = format!("{}@unknown.invalid", e.id.name);
        e.warn(format!(
            "spec.profile.email is missing; using {placeholder}"
        ));
        placeholder
    });
    let member_of = e.ref_list("spec.memberOf", s.member_of, "group", &["group"], 64)?;
    e.keep_all(&["spec"], s.rest);
    let mut o = User::new(
        &e.id.name,
        UserSpec {
            about,
            display_name,
            email,
            entra_object_id,
            github_login,
            member_of,
        },
    );
    o.metadata = object_meta(&e.id, labels, annotations);
    let object = manifest(&o)?;
    Ok(e.record(object, Vec::new()))
}
