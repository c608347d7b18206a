//! Payload pieces many GitHub events share (repository, user, timestamps) and small helpers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;

use crate::{Context, IngestError, time};

/// The `repository` object of webhook deliveries and REST repository lists.
#[derive(Debug, Deserialize)]
pub(crate) struct Repo {
    pub id: i64,
    /// `owner/repo`: the namespace key of everything scoped to the repository.
    pub full_name: String,
    pub html_url: String,
    pub owner: Login,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub private: Option<bool>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    #[serde(default)]
    pub archived: Option<bool>,
    /// Epoch seconds in `push` deliveries, RFC 3339 elsewhere.
    #[serde(default)]
    pub pushed_at: Option<Stamp>,
}

/// A user, bot or organisation: only the login matters.
#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    pub login: String,
}

/// GitHub writes some timestamps as epoch seconds (`push`) and most as RFC 3339 text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stamp {
    Seconds(i64),
    Text(String),
}

impl Stamp {
    pub fn time(&self, field: &str) -> Result<Time, IngestError> {
        match self {
            Stamp::Seconds(s) => {
                let ms = s.checked_mul(1000).ok_or_else(|| {
                    IngestError::invalid(field, format!("timestamp {s} out of range"))
                })?;
                time::from_millis(field, ms)
            }
            Stamp::Text(t) => time::parse(field, t),
        }
    }
}

/// Parses an optional RFC 3339 timestamp that GitHub may send as `null` or `""`.
pub(crate) fn opt_time(field: &str, s: Option<&str>) -> Result<Option<Time>, IngestError> {
    time::parse_opt(field, s)
}

/// The text, cut to at most `max` bytes on a character boundary (CRD length limits).
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// `Some(text)` clipped, or `None` for absent or empty text.
pub(crate) fn clip_opt(s: Option<&str>, max: usize) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(|s| clip(s, max))
}

/// A repository web URL as the CRD accepts it (`https://host/path`, no spaces).
pub(crate) fn check_web_url(field: &str, url: &str) -> Result<String, IngestError> {
    let rest = url.strip_prefix("https://").unwrap_or("");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || path.is_empty() || url.contains(char::is_whitespace) || url.len() > 2048 {
        return Err(IngestError::invalid(
            field,
            format!("expected an https web URL of a repository, got {url:?}"),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Web URL of the repository behind a REST API URL: `https://api.github.com/repos/o/r/…` →
/// `https://github.com/o/r`, `https://ghe.example/api/v3/repos/o/r/…` → `https://ghe.example/o/r`.
pub(crate) fn web_url_from_api(api_url: &str) -> Option<String> {
    let rest = api_url.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let (host, path) = if host == "api.github.com" {
        ("github.com", path)
    } else {
        (host, path.strip_prefix("api/v3/")?)
    };
    let mut parts = path.strip_prefix("repos/")?.split('/');
    let owner = parts.next().filter(|s| !s.is_empty())?;
    let repo = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("https://{host}/{owner}/{repo}"))
}

/// The repository a REST body is about: `ctx.repository` first, else what the body says.
pub(crate) fn rest_repository(
    ctx: &Context,
    from_body: Option<String>,
    resource: &str,
) -> Result<String, IngestError> {
    match ctx.repository.as_deref().or(from_body.as_deref()) {
        Some(url) => check_web_url("repository", url),
        None => Err(IngestError::invalid(
            "repository",
            format!(
                "the `{resource}` response does not name its repository: pass the repository \
                 web URL in the context"
            ),
        )),
    }
}

/// Parses a body that is one object or an array of them, keeping field paths in errors (an
/// untagged enum would hide which field failed).
pub(crate) fn one_or_many<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<(Vec<T>, bool), IngestError> {
    let value: serde_json::Value = crate::error::from_json(body)?;
    match &value {
        serde_json::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(crate::error::from_value(item, &format!("[{i}]"))?);
            }
            Ok((out, true))
        }
        serde_json::Value::Object(_) => Ok((vec![crate::error::from_value(&value, "")?], false)),
        _ => Err(IngestError::invalid(
            "(document)",
            "expected a JSON object or an array of objects",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_become_web_urls() {
        assert_eq!(
            web_url_from_api("https://api.github.com/repos/octocat/example/deployments/1")
                .as_deref(),
            Some("https://github.com/octocat/example")
        );
        assert_eq!(
            web_url_from_api("https://ghe.example/api/v3/repos/o/r").as_deref(),
            Some("https://ghe.example/o/r")
        );
        assert_eq!(web_url_from_api("https://api.github.com/users/x"), None);
        assert_eq!(web_url_from_api("nonsense"), None);
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[test]
    fn stamps_of_both_kinds() {
        let t = Stamp::Seconds(1557933657).time("pushed_at").unwrap();
        assert_eq!(time::rfc3339(&t), "2019-05-15T15:20:57Z");
        assert!(Stamp::Seconds(i64::MAX).time("x").is_err());
        assert!(Stamp::Text("x".into()).time("x").is_err());
    }
}
