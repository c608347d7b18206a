//! Writes on behalf of the signed-in user (DESIGN.md §3): requests go to kube-apiserver with
//! the shared client and `Impersonate-User` / `Impersonate-Group` headers, so RBAC and the
//! actions admission policies judge the true author exactly as they would for `kubectl`. The
//! server never writes anything as itself here; a refusal comes back with kube-apiserver's
//! message verbatim.

use http::{HeaderValue, Method, Request, header};
use kube::Client;
use serde_json::Value;

use crate::{authn::UserInfo, http::ApiError};

const IMPERSONATE_USER: &str = "Impersonate-User";
const IMPERSONATE_GROUP: &str = "Impersonate-Group";

/// Content types of the writes this module sends.
pub mod content {
    pub const JSON: &str = "application/json";
    pub const MERGE_PATCH: &str = "application/merge-patch+json";
    pub const JSON_PATCH: &str = "application/json-patch+json";
    /// Server-side apply; a JSON document is valid YAML.
    pub const APPLY: &str = "application/apply-patch+yaml";
}

/// One impersonated request. `path_and_query` is relative to the API server
/// (`/apis/…`).
pub fn request(
    user: &UserInfo,
    method: Method,
    path_and_query: &str,
    content_type: &str,
    body: &Value,
) -> Result<Request<Vec<u8>>, ApiError> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| ApiError::BadRequest(format!("body does not serialise: {e}")))?;
    let header_value = |what: &str, v: &str| {
        HeaderValue::from_str(v).map_err(|_| {
            // Header values cannot carry control characters; such a name cannot be a
            // Kubernetes user anyway.
            ApiError::Forbidden(format!("the {what} {v:?} cannot be impersonated"))
        })
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT, content::JSON)
        .header(IMPERSONATE_USER, header_value("user", &user.username)?);
    for group in &user.groups {
        builder = builder.header(IMPERSONATE_GROUP, header_value("group", group)?);
    }
    builder
        .body(bytes)
        .map_err(|e| ApiError::BadRequest(format!("cannot build the request: {e}")))
}

/// Sends an impersonated request with the shared client; the object kube-apiserver answers
/// with, or its Status as an [`ApiError`].
pub async fn send(
    client: &Client,
    user: &UserInfo,
    method: Method,
    path_and_query: &str,
    content_type: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let request = request(user, method, path_and_query, content_type, body)?;
    client.request::<Value>(request).await.map_err(from_kube)
}

/// kube-apiserver's refusal as the portal's error, its message kept verbatim.
pub fn from_kube(error: kube::Error) -> ApiError {
    match error {
        kube::Error::Api(status) => ApiError::Kube {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => ApiError::Unavailable(format!("cannot reach the Kubernetes API: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_group_header_per_group_and_no_client_identity() {
        let user = UserInfo {
            username: "dana@contoso.com".into(),
            groups: vec!["devs".into(), "leads".into()],
            ..Default::default()
        };
        let r = request(
            &user,
            Method::POST,
            "/apis/actions.nexus.dev/v1alpha1/namespaces/pay/actionruns",
            content::JSON,
            &json!({"spec": {}}),
        )
        .unwrap();
        assert_eq!(r.headers()["impersonate-user"], "dana@contoso.com");
        let groups: Vec<_> = r
            .headers()
            .get_all("impersonate-group")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(groups, ["devs", "leads"]);
        assert_eq!(r.headers()["content-type"], "application/json");
        let bad = UserInfo {
            username: "a\nb".into(),
            ..Default::default()
        };
        assert!(request(&bad, Method::POST, "/x", content::JSON, &json!({})).is_err());
    }

    #[test]
    fn kube_status_keeps_code_reason_and_message() {
        let status: kube::core::Status = serde_json::from_value(json!({
            "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": "actionapprovals.actions.nexus.dev \"x\" is forbidden: ValidatingAdmissionPolicy 'nexus-actions-approvals' denied request: you requested this run; someone else must approve it"
        }))
        .unwrap();
        let e = from_kube(kube::Error::Api(Box::new(status)));
        assert!(matches!(e, ApiError::Kube { code: 403, .. }));
        assert!(e.to_string().ends_with("someone else must approve it"));
    }
}
