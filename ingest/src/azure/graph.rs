//! Azure Resource Graph `resources` queries: the request the poller sends, and the responses
//! (one page each) turned into AzureResource upserts.
//!
//! Accepted payloads: a raw response `{totalRecords, count, resultTruncated, $skipToken, data}`
//! with `data` as an array of rows (`objectArray`) or a table (`{columns, rows}`); an Azure REST
//! spec example file (`{parameters, responses: {"200": {body}}}`); and an SDK test recording
//! (YAML), of which every `POST …/providers/Microsoft.ResourceGraph/resources` exchange counts.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::id::parse_at;
use super::recording::{self, arm_error, uri_path};
use super::resource::{self, Observed};
use crate::change::Change;
use crate::error::{from_json, from_value};
use crate::{Context, IngestError, Outcome, Source};

/// The outcome of one Resource Graph page plus what the poller needs to ask for the next.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub outcome: Outcome,
    /// `$skipToken` for the next page; `None` on the last page.
    pub skip_token: Option<String>,
    /// Rows the query matches over all pages.
    pub total_records: Option<i64>,
    /// The service cut the result short (no skip token can fetch the rest: narrow the query).
    pub truncated: bool,
}

/// Resource Graph's page size limit.
const MAX_TOP: u32 = 1000;

/// Columns the poller asks for: everything an AzureResource records, nothing large.
const PROJECTION: &str = "id, name, type, location, resourceGroup, subscriptionId, tags, sku, \
kind, managedBy, provisioningState = tostring(properties.provisioningState)";

/// The POST body for `/providers/Microsoft.ResourceGraph/resources`: every resource in the
/// scopes, optionally narrowed by a KQL `where` predicate (from the integration's spec, kept in
/// parentheses so it cannot add operators), ordered by id so skip-token paging is stable.
/// `top` is clamped to 1..=1000.
pub fn resource_graph_request(
    subscriptions: &[String],
    management_groups: &[String],
    filter: Option<&str>,
    skip_token: Option<&str>,
    top: u32,
) -> Value {
    let mut query = String::from("resources");
    if let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) {
        query.push_str(&format!(" | where ({f})"));
    }
    query.push_str(&format!(" | project {PROJECTION} | order by id asc"));
    let mut options = Map::new();
    options.insert("$top".into(), json!(top.clamp(1, MAX_TOP)));
    if let Some(t) = skip_token.filter(|t| !t.is_empty()) {
        options.insert("$skipToken".into(), json!(t));
    }
    options.insert("resultFormat".into(), json!("objectArray"));
    let mut body = Map::new();
    if !subscriptions.is_empty() {
        body.insert("subscriptions".into(), json!(subscriptions));
    }
    if !management_groups.is_empty() {
        body.insert("managementGroups".into(), json!(management_groups));
    }
    body.insert("query".into(), json!(query));
    body.insert("options".into(), Value::Object(options));
    Value::Object(body)
}

/// Parses a Resource Graph response (one page, or all pages of a recording).
pub fn resource_graph_page(body: &[u8], ctx: &Context) -> Result<Page, IngestError> {
    let responses = if recording::is_yaml(body) {
        recorded_responses(body)?
    } else {
        let doc: Value = from_json(body)?;
        vec![(String::new(), unwrap_example(doc)?)]
    };
    if responses.is_empty() {
        return Ok(Page {
            outcome: Outcome::ignored(
                "recording holds no Resource Graph `resources` query (POST …/providers/Microsoft.ResourceGraph/resources)",
            ),
            skip_token: None,
            total_records: None,
            truncated: false,
        });
    }
    let mut page = Page {
        outcome: Outcome::Changes(Vec::new()),
        skip_token: None,
        total_records: None,
        truncated: false,
    };
    let mut changes = Vec::new();
    let mut seen = HashSet::new();
    let mut rows_total = 0usize;
    let mut rows_with_id = 0usize;
    for (at, doc) in responses {
        let resp: Response = from_value(&doc, &at)?;
        page.skip_token = resp.skip_token.filter(|t| !t.is_empty());
        page.total_records = page.total_records.or(resp.total_records);
        page.truncated |= resp.result_truncated.is_some_and(|t| t.is_true());
        let field = |f: &str| {
            if at.is_empty() {
                f.to_string()
            } else {
                format!("{at}.{f}")
            }
        };
        let rows = rows(resp.data, &field("data"))?;
        rows_total += rows.len();
        for (i, row) in rows.iter().enumerate() {
            let at = format!("{}[{i}]", field("data"));
            if row.get("id").is_none_or(Value::is_null) {
                continue;
            }
            rows_with_id += 1;
            if let Some(c) = upsert(row, &at, ctx)? {
                let key = c.object["spec"]["resourceId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase();
                if seen.insert(key) {
                    changes.push(Change::Upsert(c));
                }
            }
        }
    }
    page.outcome = if rows_total > 0 && rows_with_id == 0 {
        Outcome::ignored(
            "query result has no resource ids: summarize/facet results are not ingested",
        )
    } else {
        Outcome::Changes(changes)
    };
    Ok(page)
}

/// The response body inside a REST spec example, or the document itself; ARM errors → `Err`.
fn unwrap_example(doc: Value) -> Result<Value, IngestError> {
    let doc = if doc.get("responses").is_some() && doc.get("parameters").is_some() {
        match doc.pointer("/responses/200/body") {
            Some(b) => b.clone(),
            None => {
                return Err(IngestError::invalid(
                    "responses.200.body",
                    "example file has no successful (200) response",
                ));
            }
        }
    } else {
        doc
    };
    if let Some(e) = arm_error(Some(&doc)) {
        return Err(IngestError::invalid(
            "error",
            format!("Resource Graph query failed: {e}"),
        ));
    }
    if doc.get("data").is_none() {
        return Err(IngestError::invalid(
            "data",
            "expected a Resource Graph `resources` response (`data` with rows)",
        ));
    }
    Ok(doc)
}

/// Every Resource Graph `resources` response body in a recording, with its field path; an
/// error response fails the whole recording (the query was wrong, nothing to apply).
fn recorded_responses(body: &[u8]) -> Result<Vec<(String, Value)>, IngestError> {
    let exchanges = recording::exchanges(body, |method, uri| {
        method == "POST" && uri_path(uri).ends_with("/providers/microsoft.resourcegraph/resources")
    })?;
    let mut out = Vec::new();
    for x in exchanges {
        if x.status == 200 {
            let Some(b) = x.body else {
                return Err(IngestError::invalid(&x.at, "empty 200 response"));
            };
            out.push((x.at, b));
        } else {
            let why = arm_error(x.body.as_ref()).unwrap_or_else(|| "no error body".into());
            return Err(IngestError::invalid(
                x.at,
                format!("Resource Graph query failed with HTTP {}: {why}", x.status),
            ));
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    total_records: Option<i64>,
    #[serde(default)]
    result_truncated: Option<Flag>,
    #[serde(default, rename = "$skipToken")]
    skip_token: Option<String>,
    data: Data,
}

/// `resultTruncated` is the string `"true"`/`"false"` in the REST API, a boolean in some SDKs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn is_true(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Text(s) => s.eq_ignore_ascii_case("true"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Data {
    Objects(Vec<Map<String, Value>>),
    Table(Table),
}

#[derive(Debug, Deserialize)]
struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: String,
}

/// Rows as objects, whichever result format the query used.
fn rows(data: Data, at: &str) -> Result<Vec<Map<String, Value>>, IngestError> {
    match data {
        Data::Objects(rows) => Ok(rows),
        Data::Table(t) => t
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if r.len() != t.columns.len() {
                    return Err(IngestError::invalid(
                        format!("{at}.rows[{i}]"),
                        format!("{} cells for {} columns", r.len(), t.columns.len()),
                    ));
                }
                Ok(t.columns.iter().map(|c| c.name.clone()).zip(r).collect())
            })
            .collect(),
    }
}

/// The columns Nexus reads from a row (others are ignored). `type`, `resourceGroup` and
/// `subscriptionId` are taken from the id, which the CRD checks them against.
#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    sku: Option<Sku>,
}

#[derive(Debug, Deserialize)]
struct Sku {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tier: Option<String>,
}

/// An upsert for a row, or `None` for ids an AzureResource cannot hold (subscription-scoped
/// resources, names with spaces): those are skipped, not fatal, so one odd resource does not
/// stop a poll.
fn upsert(
    row: &Map<String, Value>,
    at: &str,
    ctx: &Context,
) -> Result<Option<crate::Upsert>, IngestError> {
    let row: Row = from_value(&Value::Object(row.clone()), at)?;
    let Ok(rid) = parse_at(&format!("{at}.id"), &row.id) else {
        return Ok(None);
    };
    let tags = resource::string_tags(row.tags);
    let seen = Observed {
        region: row.location,
        sku: row.sku.and_then(sku_text),
        tags: tags.clone(),
        ..Observed::default()
    };
    let u = resource::upsert(Source::Azure, &row.id, &rid, seen, ctx)
        .with_status("observedTags", resource::observed_tags(&tags, ctx));
    Ok(Some(u))
}

/// `name (tier)`, or whichever of the two is present.
fn sku_text(s: Sku) -> Option<String> {
    let name = s.name.filter(|n| !n.trim().is_empty());
    let tier = s.tier.filter(|t| !t.trim().is_empty());
    match (name, tier) {
        (Some(n), Some(t)) if !n.eq_ignore_ascii_case(&t) => Some(format!("{n} ({t})")),
        (Some(n), _) => Some(n),
        (None, t) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_has_scopes_filter_and_paging() {
        let b = resource_graph_request(
            &["00000000-0000-0000-0000-000000000001".into()],
            &[],
            Some("resourceGroup startswith 'rg-'"),
            Some("tok"),
            5000,
        );
        assert_eq!(
            b["subscriptions"][0],
            "00000000-0000-0000-0000-000000000001"
        );
        assert!(b.get("managementGroups").is_none());
        let q = b["query"].as_str().unwrap();
        assert!(q.starts_with("resources | where (resourceGroup startswith 'rg-') | project id, name, type, location, resourceGroup, subscriptionId, tags, sku"), "{q}");
        assert!(q.ends_with("| order by id asc"), "{q}");
        assert_eq!(
            b["options"],
            json!({"$top": 1000, "$skipToken": "tok", "resultFormat": "objectArray"})
        );
        let b = resource_graph_request(&[], &["mg-root".into()], Some("  "), None, 0);
        assert_eq!(b["managementGroups"], json!(["mg-root"]));
        assert_eq!(
            b["options"],
            json!({"$top": 1, "resultFormat": "objectArray"})
        );
        assert!(!b["query"].as_str().unwrap().contains("where"));
    }

    #[test]
    fn raw_page_with_sku_tags_and_paging() {
        let body = json!({
            "totalRecords": 2, "count": 1, "resultTruncated": "true", "$skipToken": "next",
            "data": [{
                "id": "/subscriptions/2021d45c-1ab7-45d8-a4b3-afae981df491/resourceGroups/rg-pay/providers/Microsoft.Storage/storageAccounts/stpay",
                "type": "microsoft.storage/storageaccounts", "location": "westeurope",
                "resourceGroup": "rg-pay", "subscriptionId": "2021d45c-1ab7-45d8-a4b3-afae981df491",
                "tags": {"environment": "Prod", "costCenter": 1100, "empty": null},
                "sku": {"name": "Standard_LRS", "tier": "Standard"}, "kind": "StorageV2"
            }, {
                "id": "/subscriptions/2021d45c-1ab7-45d8-a4b3-afae981df491/providers/Microsoft.Security/pricings/VirtualMachines"
            }]
        });
        let p = resource_graph_page(
            body.to_string().as_bytes(),
            &Context::in_namespace("catalog"),
        )
        .unwrap();
        assert_eq!(p.skip_token.as_deref(), Some("next"));
        assert_eq!(p.total_records, Some(2));
        assert!(p.truncated);
        let [Change::Upsert(u)] = p.outcome.changes() else {
            panic!("{:?}", p.outcome)
        };
        assert_eq!(u.object["spec"]["sku"], "Standard_LRS (Standard)");
        assert_eq!(
            u.object["spec"]["type"],
            "Microsoft.Storage/storageAccounts"
        );
        assert_eq!(u.object["spec"]["environment"], "environment:catalog/prod");
        assert_eq!(
            u.object["spec"]["tags"],
            json!({"environment": "Prod", "costCenter": "1100"})
        );
        assert_eq!(
            u.status["observedTags"],
            json!({"environment": "Prod", "costCenter": "1100"})
        );
    }

    #[test]
    fn malformed_pages_fail_with_the_field() {
        let ctx = Context::default();
        let e = resource_graph_page(
            br#"{"data": {"columns": [{"name": "id"}], "rows": [["a", "b"]]}}"#,
            &ctx,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "data.rows[0]: 2 cells for 1 columns");
        let e = resource_graph_page(br#"{"data": [{"id": 5}]}"#, &ctx).unwrap_err();
        assert!(e.to_string().starts_with("data[0].id: invalid type"), "{e}");
        let e = resource_graph_page(br#"{"value": []}"#, &ctx).unwrap_err();
        assert!(
            e.to_string().starts_with("data: expected a Resource Graph"),
            "{e}"
        );
        let e = resource_graph_page(
            br#"{"error": {"code": "BadRequest", "message": "no"}}"#,
            &ctx,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "error: Resource Graph query failed: BadRequest: no"
        );
        let p = resource_graph_page(br#"{"data": [], "totalRecords": 0}"#, &ctx).unwrap();
        assert_eq!(p.outcome, Outcome::Changes(vec![]));
    }
}
