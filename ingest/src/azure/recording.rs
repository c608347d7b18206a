//! Azure SDK test recordings (vcrpy / azure-devtools YAML): a list of HTTP interactions whose
//! bodies are strings. Nexus reads them offline (`nexus ingest --dry-run`) and in tests, as the
//! same responses a poller would get.

use serde::Deserialize;
use serde_json::Value;

use crate::IngestError;
use crate::error::from_json;

#[derive(Debug, Deserialize)]
struct Recording {
    interactions: Vec<Interaction>,
}

#[derive(Debug, Deserialize)]
struct Interaction {
    request: Request,
    response: Response,
}

#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Response {
    status: Status,
    #[serde(default)]
    body: Option<Body>,
}

#[derive(Debug, Deserialize)]
struct Status {
    code: u16,
}

#[derive(Debug, Deserialize)]
struct Body {
    /// Absent or binary for non-text bodies.
    #[serde(default)]
    string: Option<serde_yaml::Value>,
}

/// One recorded exchange, with the response body parsed as JSON (`None` when empty).
#[derive(Debug)]
pub(crate) struct Exchange {
    /// `interactions[i]`, for error messages.
    pub at: String,
    pub status: u16,
    pub body: Option<Value>,
}

/// Whether the payload is YAML rather than JSON (JSON documents start with `{` or `[`).
pub(crate) fn is_yaml(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    !matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Parses a recording; `keep` selects the interactions (method, uri) whose bodies are parsed.
pub(crate) fn exchanges(
    body: &[u8],
    keep: impl Fn(&str, &str) -> bool,
) -> Result<Vec<Exchange>, IngestError> {
    let doc: serde_yaml::Value = serde_yaml::from_slice(body).map_err(|e| IngestError::Syntax {
        format: "YAML",
        message: e.to_string(),
    })?;
    if doc.get("interactions").is_none() {
        return Err(IngestError::invalid(
            "interactions",
            "expected a recorded HTTP session (YAML with `interactions`)",
        ));
    }
    let rec: Recording = serde_path_to_error::deserialize(doc)
        .map_err(|e| IngestError::invalid(e.path().to_string(), e.into_inner().to_string()))?;
    let mut out = Vec::new();
    for (i, it) in rec.interactions.into_iter().enumerate() {
        let method = it.request.method.unwrap_or_default().to_ascii_uppercase();
        let uri = it.request.uri.unwrap_or_default();
        if !keep(&method, &uri) {
            continue;
        }
        let at = format!("interactions[{i}].response.body.string");
        let text = match it.response.body.and_then(|b| b.string) {
            Some(serde_yaml::Value::String(s)) => s,
            _ => String::new(),
        };
        let body = if text.trim().is_empty() {
            None
        } else {
            Some(from_json::<Value>(text.as_bytes()).map_err(|e| match e {
                IngestError::Syntax { message, .. } => {
                    IngestError::invalid(&at, format!("response body is not JSON: {message}"))
                }
                other => other,
            })?)
        };
        out.push(Exchange {
            at,
            status: it.response.status.code,
            body,
        });
    }
    Ok(out)
}

/// The path of a request URI, lower-cased, without scheme, host and query.
pub(crate) fn uri_path(uri: &str) -> String {
    let no_scheme = uri.split_once("://").map_or(uri, |(_, r)| r);
    let path = no_scheme
        .find('/')
        .map_or("", |i| no_scheme.get(i..).unwrap_or(""));
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.to_ascii_lowercase()
}

/// `code: message` of an ARM error body (`{"error":{"code","message","details":[…]}}`).
pub(crate) fn arm_error(body: Option<&Value>) -> Option<String> {
    let err = body?.get("error")?;
    let text = |v: &Value| {
        let code = v.get("code").and_then(Value::as_str).unwrap_or("error");
        match v.get("message").and_then(Value::as_str) {
            Some(m) if !m.is_empty() && m != code => format!("{code}: {m}"),
            _ => code.to_string(),
        }
    };
    let mut s = text(err);
    let details: Vec<String> = err
        .get("details")
        .and_then(Value::as_array)
        .map(|d| d.iter().map(text).collect())
        .unwrap_or_default();
    if !details.is_empty() {
        s.push_str(&format!(" (details: {})", details.join("; ")));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interactions_and_parses_bodies() {
        let y = br#"
interactions:
- request: {method: post, uri: "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=1"}
  response:
    body: {string: '{"count": 0}'}
    status: {code: 200, message: OK}
- request: {method: HEAD, uri: "https://x/y"}
  response:
    body: {string: ''}
    status: {code: 404}
version: 1
"#;
        let all = exchanges(y, |_, _| true).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].status, 200);
        let posts = exchanges(y, |m, u| {
            m == "POST" && uri_path(u) == "/providers/microsoft.resourcegraph/resources"
        })
        .unwrap();
        assert_eq!(posts.len(), 1);
        assert_eq!(all[0].body.as_ref().unwrap()["count"], 0);
        assert!(all[1].body.is_none());
        let e = exchanges(
            b"interactions: [{request: {}, response: {body: {string: '{'}, status: {code: 200}}}]",
            |_, _| true,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("interactions[0].response.body.string: response body is not JSON"),
            "{e}"
        );
        let e = exchanges(b"version: 1", |_, _| true).unwrap_err();
        assert!(e.to_string().contains("recorded HTTP session"), "{e}");
        assert!(is_yaml(b"interactions: []") && !is_yaml(b" \n{}"));
    }

    #[test]
    fn arm_errors_name_code_message_and_details() {
        let v: Value = serde_json::json!({"error": {"code": "BadRequest", "message": "m",
            "details": [{"code": "InvalidQuery", "message": "Query is invalid."}, {"code": "ParserFailure", "message": "ParserFailure"}]}});
        assert_eq!(
            arm_error(Some(&v)).unwrap(),
            "BadRequest: m (details: InvalidQuery: Query is invalid.; ParserFailure)"
        );
        assert_eq!(arm_error(Some(&serde_json::json!({"data": []}))), None);
    }
}
