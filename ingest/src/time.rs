//! Timestamps from payloads: RFC 3339 (any precision, any offset) and epoch milliseconds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::IngestError;

/// Parses an RFC 3339 timestamp; `field` names it in the error.
pub fn parse(field: &str, s: &str) -> Result<Time, IngestError> {
    s.parse::<jiff::Timestamp>().map(Time).map_err(|e| {
        IngestError::invalid(
            field,
            format!("expected an RFC 3339 timestamp, got {s:?} ({e})"),
        )
    })
}

/// Parses an optional timestamp; empty strings and the .NET "zero" date count as absent.
pub fn parse_opt(field: &str, s: Option<&str>) -> Result<Option<Time>, IngestError> {
    match s {
        None | Some("") => Ok(None),
        Some(s) if s.starts_with("0001-01-01") => Ok(None),
        Some(s) => parse(field, s).map(Some),
    }
}

/// Epoch milliseconds (Opsgenie).
pub fn from_millis(field: &str, ms: i64) -> Result<Time, IngestError> {
    jiff::Timestamp::from_millisecond(ms)
        .map(Time)
        .map_err(|e| IngestError::invalid(field, format!("timestamp {ms} out of range ({e})")))
}

/// RFC 3339 text of a time (UTC, as Kubernetes serialises it).
pub fn rfc3339(t: &Time) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provider_timestamps() {
        assert!(parse("t", "2016-09-19T13:03:27.0379153Z").is_ok());
        assert!(parse("t", "2019-05-15T15:20:13-04:00").is_ok());
        assert!(
            parse_opt("t", Some("0001-01-01T00:00:00"))
                .unwrap()
                .is_none()
        );
        let e = parse("closed_at", "yesterday").unwrap_err();
        assert!(
            e.to_string().starts_with("closed_at: expected an RFC 3339"),
            "{e}"
        );
        assert_eq!(
            rfc3339(&from_millis("t", 0).unwrap()),
            "1970-01-01T00:00:00Z"
        );
    }
}
