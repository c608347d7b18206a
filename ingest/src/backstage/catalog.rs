//! Reading catalog files (following `Location`s) and the catalog-wide pass: duplicates, group
//! children, the extra annotation, unresolved references and the output order.

use std::collections::{BTreeSet, HashMap, HashSet};

use nexus_api::{EntityKind, EntityRef};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Conversion, EXTRA, UnresolvedRef,
    entity::{Entity, RawEntity, Record},
    fetch::Fetch,
    kinds,
    names::{Names, nexus_kind},
    placeholders, yaml,
};
use crate::{IngestError, error::from_value};

/// How deep `Location`s may nest (a guard; cycles are already cut by the visited set).
const MAX_DEPTH: usize = 32;
/// Kubernetes limit on the total size of an object's annotations.
const MAX_ANNOTATIONS: usize = 256 * 1024;

pub(super) struct Loader<'a> {
    fetch: &'a dyn Fetch,
    names: Names<'a>,
    visited: HashSet<String>,
    records: Vec<Record>,
    index: HashMap<EntityRef, usize>,
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct LocationIn {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    targets: Vec<String>,
}

impl<'a> Loader<'a> {
    pub fn new(fetch: &'a dyn Fetch, ctx: &'a crate::Context) -> Self {
        Loader {
            fetch,
            names: Names { ctx },
            visited: HashSet::new(),
            records: Vec::new(),
            index: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Reads a file the caller named (a failure is an error, not a warning).
    pub fn load_path(&mut self, path: &str) -> Result<(), IngestError> {
        if let Some(loc) = self.fetch.locate("", path)
            && self.visited.contains(&loc)
        {
            return Ok(());
        }
        let (location, content) = self.fetch.read("", path)?;
        if self.visited.contains(&location) {
            return Ok(());
        }
        self.load(&location, &content, 0)
    }

    /// Converts every document of one file, then follows its `Location` targets.
    pub fn load(&mut self, location: &str, content: &str, depth: usize) -> Result<(), IngestError> {
        self.visited.insert(location.to_string());
        let mut targets = Vec::new();
        for doc in yaml::documents(content, location)? {
            self.document(location, doc, &mut targets)?;
        }
        for target in targets {
            self.follow(location, &target, depth + 1)?;
        }
        Ok(())
    }

    fn follow(&mut self, base: &str, target: &str, depth: usize) -> Result<(), IngestError> {
        if depth > MAX_DEPTH {
            self.warnings.push(format!(
                "{base}: Location target `{target}` not followed: more than {MAX_DEPTH} levels"
            ));
            return Ok(());
        }
        if let Some(loc) = self.fetch.locate(base, target)
            && self.visited.contains(&loc)
        {
            return Ok(());
        }
        match self.fetch.read(base, target) {
            Ok((location, content)) if !self.visited.contains(&location) => {
                self.load(&location, &content, depth)
            }
            Ok(_) => Ok(()),
            Err(e) => {
                self.warnings
                    .push(format!("{base}: Location target `{target}` not read: {e}"));
                Ok(())
            }
        }
    }

    fn document(
        &mut self,
        location: &str,
        doc: yaml::Document,
        targets: &mut Vec<String>,
    ) -> Result<(), IngestError> {
        let at = format!("{location}, document {}", doc.index);
        let mut value = doc.value;
        let Some(map) = value.as_object_mut() else {
            if !value.is_null() {
                self.warnings.push(format!(
                    "{at}: skipped: not a Backstage entity (not a mapping)"
                ));
            }
            return Ok(());
        };
        let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let Some(kind) = map.get("kind").and_then(Value::as_str).map(str::to_string) else {
            self.warnings
                .push(format!("{at}: skipped: not a Backstage entity (no kind)"));
            return Ok(());
        };
        if !api_version.contains("backstage.io/") {
            self.warnings.push(format!(
                "{at}: skipped: apiVersion `{api_version}` is not a Backstage catalog apiVersion"
            ));
            return Ok(());
        }
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("(no name)")
            .to_string();
        let lower = kind.to_ascii_lowercase();
        if lower == "location" {
            let spec = map
                .get("spec")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            let l: LocationIn =
                from_value(&spec, "spec").map_err(|e| prefix(e, &format!("{at} (Location)")))?;
            targets.extend(l.target);
            targets.extend(l.targets);
            return Ok(());
        }
        let Some(nexus) = nexus_kind(&lower) else {
            let why = match lower.as_str() {
                "resource" => {
                    "Nexus has no generic resource kind (an AzureResource needs an ARM id), \
                     references to it are reported unresolved"
                }
                "template" => {
                    "scaffolder templates correspond to Nexus Actions, which are not \
                               converted"
                }
                _ => "Nexus has no equivalent kind",
            };
            self.warnings
                .push(format!("{at}: {kind} `{name}` not converted: {why}"));
            return Ok(());
        };

        // The API definition is a text field: its placeholder is read as text, not parsed.
        let definition = match (nexus, map.get_mut("spec").and_then(Value::as_object_mut)) {
            (EntityKind::Api, Some(spec)) => spec
                .remove("definition")
                .and_then(|d| placeholders::text(d, location, self.fetch)),
            _ => None,
        };
        let mut placeholder_warnings = Vec::new();
        placeholders::resolve_all(
            &mut value,
            location,
            self.fetch,
            &at,
            &mut placeholder_warnings,
        );
        self.warnings.extend(placeholder_warnings);

        let raw: RawEntity =
            from_value(&value, "").map_err(|e| prefix(e, &format!("{at} ({kind} {name})")))?;
        let entity = Entity::new(self.names, nexus, &raw, location, doc.index);
        let (record, warnings) = kinds::convert(entity, raw, definition)?;
        self.warnings.extend(warnings);
        self.insert(record);
        Ok(())
    }

    /// Adds a record; the same kind/namespace/name again replaces the earlier one.
    fn insert(&mut self, record: Record) {
        match self.index.get(&record.id) {
            Some(&i) => {
                if let Some(old) = self.records.get_mut(i) {
                    self.warnings.push(format!(
                        "{}: defined in {} and again in {}; the later wins",
                        record.id, old.location, record.location
                    ));
                    *old = record;
                }
            }
            None => {
                self.index.insert(record.id.clone(), self.records.len());
                self.records.push(record);
            }
        }
    }

    pub fn finish(mut self) -> Result<Conversion, IngestError> {
        let mut unresolved = Vec::new();
        self.children(&mut unresolved);

        let mut objects = Vec::new();
        let mut known: HashSet<EntityRef> = self.index.keys().cloned().collect();
        let mut companions = BTreeSet::new();
        for r in &mut self.records {
            for c in r.companions.drain(..) {
                if let Some(id) = object_id(&c)
                    && known.insert(id.clone())
                    && companions.insert(id)
                {
                    objects.push(c);
                }
            }
        }
        for mut r in self.records {
            for (field, target) in &r.refs {
                if !known.contains(target) {
                    unresolved.push(UnresolvedRef {
                        from: r.id.to_string(),
                        field: field.clone(),
                        target: target.to_string(),
                    });
                }
            }
            for (field, target) in &r.dropped {
                unresolved.push(UnresolvedRef {
                    from: r.id.to_string(),
                    field: field.clone(),
                    target: target.clone(),
                });
            }
            if !r.extra.is_empty() {
                let json = Value::Object(std::mem::take(&mut r.extra)).to_string();
                if let Some(ann) = r
                    .object
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    ann.insert(EXTRA.into(), Value::String(json));
                }
            }
            let size: usize = r
                .object
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                        .sum()
                })
                .unwrap_or(0);
            if size > MAX_ANNOTATIONS {
                return Err(IngestError::invalid(
                    format!("{} ({})", r.id, r.location),
                    format!(
                        "annotations (with {EXTRA}) take {size} bytes, more than Kubernetes \
                         allows ({MAX_ANNOTATIONS})"
                    ),
                ));
            }
            objects.push(r.object);
        }
        objects.sort_by_cached_key(|o| {
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            let text = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                kind_order(kind),
                kind.to_string(),
                text("/metadata/namespace"),
                text("/metadata/name"),
            )
        });
        unresolved.sort();
        unresolved.dedup();
        Ok(Conversion {
            objects,
            unresolved,
            warnings: self.warnings,
        })
    }

    /// A Team has no `children`: each child listed by a Group gets the Group as `spec.parent`.
    /// Children that are not converted, or name another parent, stay in the extra.
    fn children(&mut self, unresolved: &mut Vec<UnresolvedRef>) {
        let mut parents: Vec<(usize, EntityRef)> = Vec::new();
        let mut kept: Vec<(usize, Vec<String>)> = Vec::new();
        for (gi, g) in self.records.iter().enumerate() {
            let mut keep = Vec::new();
            for (raw, target) in &g.children {
                match target {
                    Ok(child) => match self
                        .index
                        .get(child)
                        .and_then(|&i| self.records.get(i).map(|c| (i, c)))
                    {
                        Some((ci, c)) => {
                            let current = c.object.pointer("/spec/parent").and_then(Value::as_str);
                            let wanted = g.id.to_string();
                            let already = parents.iter().any(|(i, _)| *i == ci);
                            match current {
                                None if !already => parents.push((ci, g.id.clone())),
                                Some(p) if p == wanted => {}
                                _ => {
                                    self.warnings.push(format!(
                                        "{}: spec.children `{raw}`: {child} already has another parent",
                                        g.id
                                    ));
                                    keep.push(raw.clone());
                                }
                            }
                        }
                        None => {
                            unresolved.push(UnresolvedRef {
                                from: g.id.to_string(),
                                field: "spec.children".into(),
                                target: child.to_string(),
                            });
                            keep.push(raw.clone());
                        }
                    },
                    Err(why) => {
                        self.warnings
                            .push(format!("{}: spec.children `{raw}` dropped: {why}", g.id));
                        keep.push(raw.clone());
                    }
                }
            }
            if !keep.is_empty() {
                kept.push((gi, keep));
            }
        }
        for (ci, parent) in parents {
            if let Some(c) = self.records.get_mut(ci)
                && let Some(spec) = c.object.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.insert("parent".into(), Value::String(parent.to_string()));
                c.refs.push(("spec.parent".into(), parent));
            }
        }
        for (gi, keep) in kept {
            if let Some(g) = self.records.get_mut(gi) {
                let spec = g
                    .extra
                    .entry("spec")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(spec) = spec.as_object_mut() {
                    spec.insert("children".into(), Value::from(keep));
                }
            }
        }
    }
}

fn prefix(e: IngestError, at: &str) -> IngestError {
    match e {
        IngestError::Invalid { field, problem } => {
            IngestError::invalid(format!("{at}: {field}"), problem)
        }
        other => other,
    }
}

fn object_id(o: &Value) -> Option<EntityRef> {
    let kind = EntityKind::parse(o.get("kind")?.as_str()?)?;
    Some(EntityRef::new(
        kind,
        o.pointer("/metadata/namespace")?.as_str()?,
        o.pointer("/metadata/name")?.as_str()?,
    ))
}

/// Output order: what others point at first.
fn kind_order(kind: &str) -> usize {
    ["Domain", "Team", "User", "System", "API", "Component"]
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(6)
}
