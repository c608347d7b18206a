//! Parser errors: each names the field and what was expected, so `nexus ingest` can say
//! `file: field: problem`.

/// Why a payload could not be turned into changes.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not JSON / YAML at all, or truncated.
    #[error("not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    /// Parsed, but a field is missing or has the wrong type or value.
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    /// A format version Nexus does not read (e.g. Terraform state v3).
    #[error("unsupported version: {0}")]
    UnsupportedVersion(String),
}

impl IngestError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        IngestError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        IngestError::invalid(field, "required field is missing")
    }
}

/// Parses JSON into `T`, reporting the path of the field that failed (`repository.owner.login:
/// invalid type: null, expected a string`). A UTF-8 byte-order mark is skipped (Azure DevOps
/// sends one).
pub fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, IngestError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            IngestError::Syntax {
                format: "JSON",
                message: inner.to_string(),
            }
        } else if path == "." || path.is_empty() {
            IngestError::invalid("(document)", inner.to_string())
        } else {
            IngestError::invalid(path, inner.to_string())
        }
    })?;
    de.end().map_err(|e| IngestError::Syntax {
        format: "JSON",
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Converts an already-parsed JSON value into `T` with the failing field's path.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    at: &str,
) -> Result<T, IngestError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (at.is_empty(), path.as_str()) {
            (true, p) => p.to_string(),
            (false, "." | "") => at.to_string(),
            (false, p) => format!("{at}.{p}"),
        };
        IngestError::invalid(field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        repository: Inner,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        full_name: String,
    }

    #[test]
    fn errors_name_the_field() {
        let e = from_json::<Outer>(br#"{"repository": {"full_name": 3}}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("repository.full_name: invalid type"),
            "{e}"
        );
        let e = from_json::<Outer>(br#"{"repository": {"full_na"#).unwrap_err();
        assert!(matches!(e, IngestError::Syntax { .. }), "{e}");
        let ok = from_json::<Outer>(b"\xEF\xBB\xBF{\"repository\": {\"full_name\": \"a/b\"}}");
        assert!(ok.is_ok());
    }
}
