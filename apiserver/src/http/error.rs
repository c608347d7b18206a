//! Errors as Kubernetes `Status` objects (both faces), so kubectl prints them and portal
//! clients read one shape.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{authn::AuthnError, authz::AuthzError, query::QueryError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    Conflict(String),
    /// kube-apiserver refused an impersonated write: its code, reason and message, verbatim
    /// (403 incl. admission denials, 422 Invalid, 409 Conflict, 404…).
    #[error("{message}")]
    Kube {
        code: u16,
        reason: String,
        message: String,
    },
}

impl From<AuthnError> for ApiError {
    fn from(e: AuthnError) -> Self {
        match e {
            AuthnError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

impl From<AuthzError> for ApiError {
    fn from(e: AuthzError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadRequest(m) => ApiError::BadRequest(m),
            QueryError::NotFound(m) => ApiError::NotFound(m),
            QueryError::Internal(m) => ApiError::Unavailable(m),
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &str) {
        match self {
            ApiError::Kube { code, reason, .. } => (
                StatusCode::from_u16(*code)
                    .ok()
                    .filter(|c| c.is_client_error() || c.is_server_error())
                    .unwrap_or(StatusCode::BAD_GATEWAY),
                reason.as_str(),
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "NotAcceptable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, reason) = self.parts();
        let reason = reason.to_string();
        let body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": reason,
            "code": code.as_u16(),
        });
        let mut response = (code, Json(body)).into_response();
        if code == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
