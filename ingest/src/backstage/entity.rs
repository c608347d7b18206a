//! One Backstage entity being converted: its envelope, metadata mapping, reference mapping and
//! the "extra" that keeps whatever the Nexus object has no place for.

use std::collections::BTreeMap;

use nexus_api::{
    EntityKind, EntityRef,
    catalog::{About, Link},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::{
    EXTRA, ORIGINAL_NAME,
    names::{Names, backstage_ref, is_valid_key, is_valid_label_value, parse_ref},
};
use crate::{IngestError, change::EXTERNAL_ID, error::from_value};

/// The envelope every Backstage entity has.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEntity {
    pub api_version: String,
    pub kind: String,
    pub metadata: RawMeta,
    #[serde(default)]
    pub spec: Value,
    /// `relations`, `status` and anything else at the top level.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMeta {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub links: Vec<RawLink>,
    /// `uid`, `etag` and other fields.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub(super) struct RawLink {
    pub url: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A converted entity, before the catalog-wide pass (children, extra annotation, unresolved).
#[derive(Debug)]
pub(super) struct Record {
    pub id: EntityRef,
    pub location: String,
    pub object: Value,
    pub extra: Map<String, Value>,
    /// Every reference written into the object, by field.
    pub refs: Vec<(String, EntityRef)>,
    /// References that could not be written (field, Backstage reference).
    pub dropped: Vec<(String, String)>,
    /// Group `spec.children`: expressed as `spec.parent` of each child where possible.
    pub children: Vec<(String, Result<EntityRef, String>)>,
    /// Objects emitted alongside (the Repository of a Component).
    pub companions: Vec<Value>,
}

/// State while converting one entity.
#[derive(Debug)]
pub(super) struct Entity<'a> {
    pub names: Names<'a>,
    /// Backstage kind in lower case, namespace and name as written (namespace defaulted).
    pub kind: String,
    pub bs_namespace: String,
    pub bs_name: String,
    pub id: EntityRef,
    pub location: String,
    pub doc: usize,
    pub extra: Map<String, Value>,
    pub refs: Vec<(String, EntityRef)>,
    pub dropped: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

impl<'a> Entity<'a> {
    pub fn new(
        names: Names<'a>,
        kind: EntityKind,
        raw: &RawEntity,
        location: &str,
        doc: usize,
    ) -> Self {
        let bs_kind = raw.kind.to_ascii_lowercase();
        let bs_namespace = raw
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let bs_name = raw.metadata.name.clone();
        let id = EntityRef::new(
            kind,
            names.namespace(&bs_kind, &bs_namespace, &bs_name),
            names.name(&bs_name),
        );
        Entity {
            names,
            kind: bs_kind,
            bs_namespace,
            bs_name,
            id,
            location: location.to_string(),
            doc,
            extra: Map::new(),
            refs: Vec::new(),
            dropped: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// `component:default/petstore (apis/x.yaml, document 1)`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} ({}, document {})",
            backstage_ref(&self.kind, &self.bs_namespace, &self.bs_name),
            self.location,
            self.doc
        )
    }

    pub fn err(&self, field: &str, problem: impl Into<String>) -> IngestError {
        IngestError::invalid(format!("{}: {field}", self.label()), problem)
    }

    pub fn warn(&mut self, msg: impl AsRef<str>) {
        let label = self.label();
        self.warnings.push(format!("{label}: {}", msg.as_ref()));
    }

    /// Keeps an original value in the extra under its Backstage path, given as segments
    /// (`["spec", "profile", "picture"]`; keys may contain dots).
    pub fn keep(&mut self, path: &[&str], value: Value) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut at = &mut self.extra;
        for p in parents {
            let slot = at
                .entry((*p).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(next) = slot else { return };
            at = next;
        }
        at.insert((*last).to_string(), value);
    }

    /// Keeps a value under a dotted field path of our own (`spec.profile.picture`).
    pub fn keep_field(&mut self, field: &str, value: Value) {
        let parts: Vec<&str> = field.split('.').collect();
        self.keep(&parts, value);
    }

    /// Keeps every field of `rest` under `prefix` (a top-level section such as `spec`).
    pub fn keep_all(&mut self, prefix: &[&str], rest: Map<String, Value>) {
        for (k, v) in rest {
            let mut path = prefix.to_vec();
            path.push(&k);
            self.keep(&path, v);
        }
    }

    /// Parses the spec into a typed shape, naming the failing field.
    pub fn spec<T: DeserializeOwned>(&self, spec: &Value) -> Result<T, IngestError> {
        let spec = if spec.is_null() {
            Value::Object(Map::new())
        } else {
            spec.clone()
        };
        from_value(&spec, "spec").map_err(|e| match e {
            IngestError::Invalid { field, problem } => self.err(&field, problem),
            other => other,
        })
    }

    /// Maps one reference. Syntax errors fail the entity; a kind the field does not accept,
    /// or one Nexus does not convert, is dropped (kept in the extra, reported unresolved).
    fn map_ref(
        &mut self,
        field: &str,
        raw: &str,
        default_kind: &str,
        allowed: &[&str],
    ) -> Result<Option<String>, IngestError> {
        let r = parse_ref(raw).map_err(|p| self.err(field, p))?;
        let kind = r.kind.unwrap_or(default_kind).to_ascii_lowercase();
        let bs = backstage_ref(&kind, r.namespace.unwrap_or(&self.bs_namespace), r.name);
        if !allowed.contains(&kind.as_str()) {
            self.warn(format!(
                "{field}: `{raw}` dropped: Nexus accepts only {} here",
                allowed.join(", ")
            ));
            self.dropped.push((field.to_string(), bs));
            return Ok(None);
        }
        match self.names.target(&r, default_kind, &self.bs_namespace) {
            Ok(target) => {
                let s = target.to_string();
                self.refs.push((field.to_string(), target));
                Ok(Some(s))
            }
            Err(why) => {
                self.warn(format!("{field}: `{raw}` dropped: {why}"));
                self.dropped.push((field.to_string(), bs));
                Ok(None)
            }
        }
    }

    pub fn optional_ref(
        &mut self,
        field: &str,
        raw: Option<String>,
        default_kind: &str,
        allowed: &[&str],
    ) -> Result<Option<String>, IngestError> {
        let Some(raw) = raw else { return Ok(None) };
        let mapped = self.map_ref(field, &raw, default_kind, allowed)?;
        if mapped.is_none() {
            self.keep_field(field, Value::String(raw));
        }
        Ok(mapped)
    }

    pub fn required_ref(
        &mut self,
        field: &str,
        raw: &str,
        default_kind: &str,
        allowed: &[&str],
    ) -> Result<String, IngestError> {
        let dropped = self.dropped.len();
        match self.map_ref(field, raw, default_kind, allowed)? {
            Some(s) => Ok(s),
            None => {
                self.dropped.truncate(dropped);
                Err(self.err(field, format!("`{raw}` cannot be a Nexus reference here")))
            }
        }
    }

    /// Maps a list; when any entry is dropped or the list is longer than `max`, the whole
    /// original list is kept in the extra.
    pub fn ref_list(
        &mut self,
        field: &str,
        raws: Vec<String>,
        default_kind: &str,
        allowed: &[&str],
        max: usize,
    ) -> Result<Vec<String>, IngestError> {
        let before = self.dropped.len();
        let mut out = Vec::new();
        for raw in &raws {
            if let Some(s) = self.map_ref(field, raw, default_kind, allowed)?
                && !out.contains(&s)
            {
                out.push(s);
            }
        }
        let mut lossy = self.dropped.len() > before;
        if out.len() > max {
            self.warn(format!("{field}: only the first {max} entries fit"));
            out.truncate(max);
            lossy = true;
        }
        if lossy {
            self.keep_field(field, Value::from(raws));
        }
        Ok(out)
    }

    /// Text clipped to `max` bytes (on a character boundary); the full text goes to the extra.
    pub fn clipped(&mut self, field: &str, text: Option<String>, max: usize) -> Option<String> {
        let text = text?;
        if text.len() <= max {
            return Some(text);
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.warn(format!("{field}: longer than {max} bytes, clipped"));
        let short = text[..end].to_string();
        self.keep_field(field, Value::String(text));
        Some(short)
    }

    /// Descriptive fields, labels and annotations.
    pub fn metadata(
        &mut self,
        meta: RawMeta,
    ) -> (About, BTreeMap<String, String>, BTreeMap<String, String>) {
        let title = self.clipped("metadata.title", meta.title, 200);
        let description = self.clipped("metadata.description", meta.description, 4000);

        let tags: Vec<String> = meta
            .tags
            .iter()
            .filter(|t| is_tag(t))
            .take(32)
            .cloned()
            .collect();
        if tags.len() < meta.tags.len() {
            self.warn("metadata.tags: some tags are not valid Nexus tags or beyond 32");
            self.keep(&["metadata", "tags"], Value::from(meta.tags.clone()));
        }

        let links: Vec<Link> = meta
            .links
            .iter()
            .filter(|l| is_link_url(&l.url))
            .take(32)
            .map(|l| Link {
                url: l.url.clone(),
                title: l.title.clone().filter(|t| t.len() <= 200),
                icon: l.icon.clone().filter(|i| i.len() <= 63),
            })
            .collect();
        let links_whole = links.len() == meta.links.len()
            && meta.links.iter().all(|l| {
                l.rest.is_empty()
                    && l.title.as_ref().is_none_or(|t| t.len() <= 200)
                    && l.icon.as_ref().is_none_or(|i| i.len() <= 63)
            });
        if !links_whole {
            // `type` and other link fields have no place in a Nexus link.
            self.keep(
                &["metadata", "links"],
                serde_json::to_value(&meta.links).unwrap_or(Value::Null),
            );
        }

        let mut labels = BTreeMap::new();
        for (k, v) in meta.labels {
            if is_valid_key(&k) && is_valid_label_value(&v) {
                labels.insert(k, v);
            } else {
                self.warn(format!("metadata.labels.{k}: not a valid Kubernetes label"));
                self.keep(&["metadata", "labels", &k], Value::String(v));
            }
        }

        let mut annotations = BTreeMap::new();
        for (k, v) in meta.annotations {
            if is_valid_key(&k) && ![EXTRA, ORIGINAL_NAME, EXTERNAL_ID].contains(&k.as_str()) {
                annotations.insert(k, v);
            } else {
                self.keep(&["metadata", "annotations", &k], Value::String(v));
            }
        }
        annotations.insert(
            EXTERNAL_ID.into(),
            backstage_ref(&self.kind, &self.bs_namespace, &self.bs_name),
        );
        if *self.id.name != self.bs_name {
            annotations.insert(ORIGINAL_NAME.into(), self.bs_name.clone());
        }
        if self.bs_namespace != "default" && *self.id.namespace != self.bs_namespace {
            self.keep(
                &["metadata", "namespace"],
                Value::String(self.bs_namespace.clone()),
            );
        }
        self.keep_all(&["metadata"], meta.rest);

        let about = About {
            title,
            description,
            tags,
            links,
        };
        (about, labels, annotations)
    }

    /// Finishes the record from the typed object's JSON.
    pub fn record(self, object: Value, companions: Vec<Value>) -> (Record, Vec<String>) {
        (
            Record {
                id: self.id,
                location: self.location,
                object,
                extra: self.extra,
                refs: self.refs,
                dropped: self.dropped,
                children: Vec::new(),
                companions,
            },
            self.warnings,
        )
    }
}

/// A typed catalog object as a manifest (status, which the typed struct may carry, dropped).
pub(super) fn manifest<K: serde::Serialize>(object: &K) -> Result<Value, IngestError> {
    let mut v = serde_json::to_value(object)
        .map_err(|e| IngestError::invalid("(object)", e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    Ok(v)
}

/// Backstage tag rules and Nexus's (`^[a-z0-9][a-z0-9:+#.-]*$`, at most 63).
fn is_tag(t: &str) -> bool {
    t.len() <= 63
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && t.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b':' | b'+' | b'#' | b'.' | b'-')
        })
}

fn is_link_url(u: &str) -> bool {
    u.len() <= 2048
        && (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() > u.find("://").unwrap_or(0) + 3
        && !u.contains(' ')
}
