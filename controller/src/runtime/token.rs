//! Shared-secret tokens of the controller's own HTTP endpoints (the promotion gate, the audit
//! entries): the expected token is a file (mounted from a Secret), read on every request so a
//! rotated Secret takes effect without a restart — a few bytes on tmpfs, cheaper than a task.

use std::path::Path;

use http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

/// Checks the token a request offers against `file`. `endpoint` names the endpoint and its
/// flag (`gate` → `--gate-token-file`) in the refusals. `Err` carries the status and a message
/// for the caller; no message says anything about the expected token.
pub fn check(
    file: Option<&Path>,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<(), (StatusCode, String)> {
    let Some(file) = file else {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "the {endpoint} endpoint is off: start the controller with --{endpoint}-token-file"
            ),
        ));
    };
    let expected = match std::fs::read(file) {
        Ok(t) => t.trim_ascii().to_vec(),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "{endpoint} token unreadable");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the {endpoint} token cannot be read; see the controller log"),
            ));
        }
    };
    // An empty token would let anyone with an empty password through.
    if expected.is_empty() {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the {endpoint} token file is empty; see the controller log"),
        ));
    }
    match offered(headers) {
        None => Err((
            StatusCode::UNAUTHORIZED,
            format!(
                "send the {endpoint} token as `Authorization: Bearer <token>` (or as the password of basic auth)"
            ),
        )),
        Some(t) if !bool::from(t.as_slice().ct_eq(&expected)) => Err((
            StatusCode::UNAUTHORIZED,
            format!("the {endpoint} token does not match"),
        )),
        Some(_) => Ok(()),
    }
}

/// The token a caller offers: `Authorization: Bearer <token>`, or the password of basic auth
/// (an Azure DevOps "Generic" service connection sends its password that way).
pub fn offered(headers: &HeaderMap) -> Option<Vec<u8>> {
    let auth = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    if let Some(t) = auth.strip_prefix("Bearer ") {
        return Some(t.trim().as_bytes().to_vec());
    }
    let basic = auth.strip_prefix("Basic ")?;
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let pos = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[pos + 1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_bearer_and_basic_auth() {
        let mut h = HeaderMap::new();
        assert_eq!(offered(&h), None);
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert_eq!(offered(&h).as_deref(), Some(b"s3cret".as_slice()));
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode("ado:s3cret");
        h.insert("authorization", format!("Basic {basic}").parse().unwrap());
        assert_eq!(offered(&h).as_deref(), Some(b"s3cret".as_slice()));
        h.insert("authorization", "Token s3cret".parse().unwrap());
        assert_eq!(offered(&h), None);
    }

    #[test]
    fn check_refuses_off_empty_missing_and_wrong_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let mut h = HeaderMap::new();
        let status = |r: Result<(), (StatusCode, String)>| r.err().map(|(s, _)| s);
        assert_eq!(status(check(None, &h, "gate")), Some(StatusCode::NOT_FOUND));
        assert_eq!(
            status(check(Some(&file), &h, "gate")),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        std::fs::write(&file, "  \n").unwrap();
        assert_eq!(
            status(check(Some(&file), &h, "gate")),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(
            status(check(Some(&file), &h, "gate")),
            Some(StatusCode::UNAUTHORIZED)
        );
        h.insert("authorization", "Bearer wrong".parse().unwrap());
        let (_, message) = check(Some(&file), &h, "audit").unwrap_err();
        assert_eq!(message, "the audit token does not match");
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(check(Some(&file), &h, "gate").is_ok());
    }
}
