//! Azure Boards work items: service-hook events, REST work items, WIQL delta queries.

use std::collections::BTreeMap;

use nexus_api::{
    EntityKind, EntityRef,
    catalog::{
        About, WorkItem,
        work_item::{WorkItemProvider, WorkItemSpec, WorkItemType},
    },
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    model::{Envelope, Links, clip, clip_opt, items, nullable},
    scope::{Finder, Scope},
};
use crate::{
    Change, Context, Gone, IngestError, Outcome, Source, Target, Upsert,
    change::{EXTERNAL_ID, SOURCE_URL},
    naming::object_name,
};

/// A work item: `id` and its `fields`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    id: i64,
    #[serde(default, deserialize_with = "nullable")]
    fields: Map<String, Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(rename = "_links", default, deserialize_with = "nullable")]
    links: Links,
}

/// `workitem.updated`: `id` is the update's; `revision` is the work item after the update and
/// `fields` holds `{oldValue, newValue}` pairs of what changed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Update {
    #[serde(default)]
    work_item_id: i64,
    #[serde(default)]
    revision: Option<Item>,
    #[serde(default, deserialize_with = "nullable")]
    fields: Map<String, Value>,
    #[serde(default)]
    url: Option<String>,
}

/// Work item types Nexus tracks; test-management, review and feedback types are not work to
/// track and are ignored; any other (custom) type is kept as a Task.
fn item_type(t: &str) -> Option<WorkItemType> {
    Some(match t {
        "Epic" => WorkItemType::Epic,
        "Feature" => WorkItemType::Feature,
        "User Story" | "Requirement" => WorkItemType::UserStory,
        "Product Backlog Item" => WorkItemType::ProductBacklogItem,
        "Bug" => WorkItemType::Bug,
        "Issue" | "Impediment" => WorkItemType::Issue,
        "Test Case"
        | "Test Plan"
        | "Test Suite"
        | "Shared Steps"
        | "Shared Parameter"
        | "Code Review Request"
        | "Code Review Response"
        | "Feedback Request"
        | "Feedback Response" => return None,
        _ => WorkItemType::Task,
    })
}

fn text<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<&'a str>, IngestError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.trim().is_empty())),
        Some(other) => Err(IngestError::invalid(
            format!("{at}.fields.{name}"),
            format!("expected a string, got {other}"),
        )),
    }
}

/// `System.AssignedTo`: an identity object (unique name) or, in old payloads, `Name <email>`.
fn person(fields: &Map<String, Value>, name: &str) -> Option<String> {
    let s = match fields.get(name)? {
        Value::Object(o) => o
            .get("uniqueName")
            .or_else(|| o.get("displayName"))
            .and_then(Value::as_str)?
            .to_string(),
        Value::String(s) => match (s.rfind('<'), s.ends_with('>')) {
            (Some(i), true) => s.get(i + 1..s.len() - 1).unwrap_or(s).to_string(),
            _ => s.clone(),
        },
        _ => return None,
    };
    clip_opt(Some(&s), 320)
}

/// What a parsed work item becomes.
enum Built {
    Item(Box<WorkItem>),
    Skipped(String),
}

/// Builds the WorkItem. Name `ado-<org>-<id>` (ids are unique per organisation); namespace of
/// the first entity `ctx.services` maps the area path or a tag to, else the namespace for
/// `org/project`; `spec.relatesTo` lists those entities.
fn build(
    id: i64,
    fields: &Map<String, Value>,
    urls: &[Option<&str>],
    given: Option<&Scope>,
    ctx: &Context,
    at: &str,
) -> Result<Built, IngestError> {
    if id < 1 {
        return Err(IngestError::invalid(
            format!("{at}.id"),
            format!("expected a positive work item id, got {id}"),
        ));
    }
    let project = text(fields, "System.TeamProject", at)?;
    let origin = Finder::new(given)
        .urls(urls.iter().flatten().copied())
        .name(project)
        .resolve()?;
    let kind = text(fields, "System.WorkItemType", at)?
        .ok_or_else(|| IngestError::missing(format!("{at}.fields.System.WorkItemType")))?;
    let Some(type_) = item_type(kind) else {
        return Ok(Built::Skipped(format!(
            "work item {id} is a {kind}, a type Nexus does not track"
        )));
    };
    let state = text(fields, "System.State", at)?
        .ok_or_else(|| IngestError::missing(format!("{at}.fields.System.State")))?;
    let area = text(fields, "System.AreaPath", at)?;
    let tags: Vec<&str> = text(fields, "System.Tags", at)?
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let fallback = ctx.namespace_for(&origin.key()).to_string();
    let mut relates_to: Vec<String> = Vec::new();
    for key in area.into_iter().chain(tags.iter().copied()) {
        for raw in ctx.services.lookup(key) {
            let Ok(r) = EntityRef::parse(raw, EntityKind::Component, &[], &fallback) else {
                continue;
            };
            let s = r.to_string();
            if !relates_to.contains(&s) && relates_to.len() < 32 && s.len() <= 330 {
                relates_to.push(s);
            }
        }
    }
    let namespace = relates_to
        .first()
        .and_then(|r| r.parse::<EntityRef>().ok())
        .map(|r| r.namespace.to_string())
        .unwrap_or(fallback);
    let url = origin.web(&format!("_workitems/edit/{id}"));
    let name = object_name(&["ado", &origin.organization, &id.to_string()]);
    let mut wi = WorkItem::new(
        &name,
        WorkItemSpec {
            about: About {
                title: clip_opt(text(fields, "System.Title", at)?, 200),
                tags: tags.iter().filter_map(|t| tag(t)).take(32).collect(),
                ..About::default()
            },
            provider: WorkItemProvider::AzureBoards,
            id,
            type_,
            state: clip(state.trim(), 64),
            organization: Some(clip(&origin.organization, 100)),
            project: Some(clip(&origin.project, 100)),
            iteration: clip_opt(text(fields, "System.IterationPath", at)?, 256),
            area_path: clip_opt(area, 256),
            assignee: person(fields, "System.AssignedTo"),
            url: (url.chars().count() <= 2048).then(|| url.clone()),
            relates_to,
        },
    );
    wi.metadata.namespace = Some(namespace);
    let mut annotations = BTreeMap::from([(EXTERNAL_ID.to_string(), id.to_string())]);
    if url.chars().count() <= 2048 {
        annotations.insert(SOURCE_URL.into(), url);
    }
    wi.metadata.annotations = Some(annotations);
    Ok(Built::Item(Box::new(wi)))
}

/// A Backstage-style tag (`[a-z0-9:+#.-]`, at most 63) from a Boards tag, when one can be made.
fn tag(t: &str) -> Option<String> {
    let mut s: String = t
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '_' {
                '-'
            } else {
                c
            }
        })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '+' | '#' | '.' | '-'))
        .take(63)
        .collect();
    while s.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
        s.remove(0);
    }
    (!s.is_empty()).then_some(s)
}

fn upsert(wi: &WorkItem) -> Change {
    Change::Upsert(Upsert::new(Source::AzureDevOps, wi))
}

/// `workitem.created`, `.updated`, `.restored`, `.commented` → upsert; `.deleted` → gone.
pub(crate) fn event(env: &Envelope, event: &str, ctx: &Context) -> Result<Outcome, IngestError> {
    let (id, fields, urls) = if event == "workitem.updated" {
        let u: Update = env.resource()?;
        let rev = u.revision.as_ref();
        let id = rev
            .map(|r| r.id)
            .filter(|id| *id > 0)
            .unwrap_or(u.work_item_id);
        // The revision is the work item after the update; the deltas' new values win where
        // both are present, and a field whose new value is absent was cleared.
        let mut fields = rev.map(|r| r.fields.clone()).unwrap_or_default();
        for (k, v) in &u.fields {
            match v.get("newValue") {
                Some(nv) => {
                    fields.insert(k.clone(), nv.clone());
                }
                None if v.get("oldValue").is_some() => {
                    fields.remove(k);
                }
                None => {}
            }
        }
        let urls = vec![u.url.clone(), rev.and_then(|r| r.url.clone())];
        (id, fields, urls)
    } else {
        let item: Item = env.resource()?;
        let urls = vec![item.url.clone(), item.links.get("self").map(str::to_string)];
        (item.id, item.fields, urls)
    };
    let mut all: Vec<Option<&str>> = env.container_urls().map(Some).collect();
    all.extend(urls.iter().map(Option::as_deref));
    let built = build(id, &fields, &all, None, ctx, "resource")?;
    let wi = match built {
        Built::Item(wi) => wi,
        Built::Skipped(reason) => return Ok(Outcome::Ignored(reason)),
    };
    if event == "workitem.deleted" {
        return Ok(Outcome::Changes(vec![Change::Gone(Gone {
            source: Source::AzureDevOps,
            target: Target::Entity {
                kind: "WorkItem".into(),
                namespace: wi.metadata.namespace.clone().unwrap_or_default(),
                name: wi.metadata.name.clone().unwrap_or_default(),
            },
            reason: format!("work item {id} was deleted in Azure Boards"),
            delete: true,
        })]));
    }
    Ok(Outcome::Changes(vec![upsert(&wi)]))
}

/// REST `wit/workitems?ids=…` / `wit/workitemsbatch` (or one work item): each becomes a
/// WorkItem; types Nexus does not track are skipped.
pub(crate) fn rest(
    body: &[u8],
    given: Option<&Scope>,
    ctx: &Context,
) -> Result<Outcome, IngestError> {
    let list: Vec<Item> = items(body)?;
    let mut changes = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let urls = [item.url.as_deref(), item.links.get("self")];
        if let Built::Item(wi) = build(
            item.id,
            &item.fields,
            &urls,
            given,
            ctx,
            &format!("value[{i}]"),
        )? {
            changes.push(upsert(&wi));
        }
    }
    Ok(Outcome::Changes(changes))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WiqlResult {
    #[serde(default, deserialize_with = "nullable")]
    work_items: Vec<WiqlRef>,
}

#[derive(Debug, Deserialize)]
struct WiqlRef {
    id: i64,
}

/// Ids from a WIQL query result (`{workItems: [{id, url}]}`), in the query's order.
pub(crate) fn wiql_ids(body: &[u8]) -> Result<Vec<i64>, IngestError> {
    let r: WiqlResult = crate::error::from_json(body)?;
    Ok(r.work_items.into_iter().map(|w| w.id).collect())
}

/// WIQL selecting the project's work items changed at or after `since` (RFC 3339), oldest
/// change first. Send it with `timePrecision=true`, or Azure DevOps compares dates only.
pub(crate) fn wiql_changed_since(project: &str, since: &str) -> String {
    let since = since
        .parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| since.to_string());
    format!(
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = '{}' AND [System.ChangedDate] >= '{}' ORDER BY [System.ChangedDate] ASC",
        project.replace('\'', "''"),
        since.replace('\'', "''"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_people_and_tags() {
        assert_eq!(item_type("Requirement"), Some(WorkItemType::UserStory));
        assert_eq!(item_type("Spike"), Some(WorkItemType::Task));
        assert_eq!(item_type("Test Case"), None);
        let f: Map<String, Value> = serde_json::from_value(json!({
            "a": "Jamal Hartnett <jamal@contoso.com>", "b": {"displayName": "X", "uniqueName": "x@c.com"}, "c": "<>", "d": 3
        }))
        .unwrap();
        assert_eq!(person(&f, "a").as_deref(), Some("jamal@contoso.com"));
        assert_eq!(person(&f, "b").as_deref(), Some("x@c.com"));
        assert_eq!(person(&f, "c"), None);
        assert_eq!(person(&f, "d"), None);
        assert!(
            text(&f, "d", "resource")
                .unwrap_err()
                .to_string()
                .starts_with("resource.fields.d: expected a string")
        );
        assert_eq!(tag("Needs Review!").as_deref(), Some("needs-review"));
        assert_eq!(tag("--"), None);
    }

    #[test]
    fn untracked_types_are_skipped_in_rest_and_ignored_in_hooks() {
        let body = json!({"value": [{"id": 1, "url": "https://dev.azure.com/o/_apis/wit/workItems/1",
            "fields": {"System.TeamProject": "P", "System.WorkItemType": "Test Case", "System.State": "Design"}}]});
        let out = rest(
            &serde_json::to_vec(&body).unwrap(),
            None,
            &Context::default(),
        )
        .unwrap();
        assert!(out.changes().is_empty());
        let hook = json!({"eventType": "workitem.created", "resource": body["value"][0]});
        let out =
            super::super::service_hook(&serde_json::to_vec(&hook).unwrap(), &Context::default())
                .unwrap();
        assert_eq!(
            out,
            Outcome::ignored("work item 1 is a Test Case, a type Nexus does not track")
        );
    }
}
