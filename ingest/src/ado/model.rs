//! Payload pieces shared by every Azure DevOps payload family, and small value helpers.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::{IngestError, error::from_value, time};

/// The service-hook envelope; `resource` is parsed per event type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Envelope {
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub resource: Value,
    #[serde(default, deserialize_with = "nullable")]
    pub resource_containers: BTreeMap<String, Container>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub created_date: Option<String>,
}

impl Envelope {
    /// `baseUrl`s of the resource containers: the organisation, when present.
    pub fn container_urls(&self) -> impl Iterator<Item = &str> {
        self.resource_containers
            .values()
            .filter_map(|c| c.base_url.as_deref())
    }

    pub fn project_id(&self) -> Option<&str> {
        self.resource_containers
            .get("project")
            .and_then(|c| c.id.as_deref())
    }

    /// The message's html and markdown (they carry web links).
    pub fn message_text(&self) -> String {
        self.message
            .as_ref()
            .map(|m| {
                format!(
                    "{} {}",
                    m.html.as_deref().unwrap_or(""),
                    m.markdown.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default()
    }

    /// Parses `resource` into `T`, errors naming `resource.<field>`.
    pub fn resource<T: serde::de::DeserializeOwned>(&self) -> Result<T, IngestError> {
        if self.resource.is_null() {
            return Err(IngestError::missing("resource"));
        }
        from_value(&self.resource, "resource")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Container {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub markdown: Option<String>,
}

/// A person or group as Azure DevOps references them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Identity {
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

impl Identity {
    /// Unique name (usually the e-mail), else display name, else id.
    pub fn best(&self) -> Option<String> {
        [&self.unique_name, &self.display_name, &self.id]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .map(|s| clip(s, 256))
    }

    pub fn unique(&self) -> Option<String> {
        self.unique_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| clip(s, 256))
    }
}

/// `{id, name, url}` of a project.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// `_links`: named `{href}` objects.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Links(#[serde(default)] BTreeMap<String, Href>);

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Href {
    #[serde(default)]
    pub href: Option<String>,
}

impl Links {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|h| h.href.as_deref())
    }
}

/// `null` reads as the default (Azure DevOps sends `null` for empty lists and objects).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// An integer sent as a number or as a numeric string.
pub(crate) fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an integer id, got {n}"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected an integer id, got {s:?}"))),
        Some(other) => Err(D::Error::custom(format!(
            "expected an integer id, got {other}"
        ))),
    }
}

/// At most `max` characters (schema limits count characters).
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `Some(clip(s))` for a non-empty string.
pub(crate) fn clip_opt(s: Option<&str>, max: usize) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| clip(s, max))
}

/// A URL for a status field: kept only when it fits.
pub(crate) fn url_opt(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= 2048)
        .map(str::to_string)
}

/// `refs/heads/main` → `main`.
pub(crate) fn branch(r: &str) -> &str {
    r.strip_prefix("refs/heads/").unwrap_or(r)
}

/// An optional timestamp field; `field` names it in errors.
pub(crate) fn ts(field: &str, s: &Option<String>) -> Result<Option<Time>, IngestError> {
    time::parse_opt(field, s.as_deref())
}

/// Items of a REST list response (`{count, value: [...]}`), or the body itself when it is one
/// object; each parsed with its path (`value[3].id`) in errors.
pub(crate) fn items<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, IngestError> {
    let v: Value = crate::error::from_json(body)?;
    match v.get("value") {
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, item)| from_value(item, &format!("value[{i}]")))
            .collect(),
        Some(_) => Err(IngestError::invalid("value", "expected an array")),
        None if v.is_object() => Ok(vec![from_value(&v, "")?]),
        None => Err(IngestError::invalid("(document)", "expected a JSON object")),
    }
}
