//! Who is calling. The aggregated face trusts kube-apiserver's front-proxy headers (after
//! verifying its client certificate); the portal face validates bearer tokens (Entra ID JWTs, or
//! local dev tokens). Both end in the same [`UserInfo`], which authorisation checks with
//! SubjectAccessReviews.

pub mod bearer;
pub mod dev;
pub mod frontproxy;
pub mod jwt;

use std::collections::BTreeMap;

use serde::Serialize;

/// A Kubernetes user as SubjectAccessReview takes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Why a caller was not authenticated. The message is safe to return to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error("no credentials: send `Authorization: Bearer <token>`")]
    MissingCredentials,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("client certificate not trusted: {0}")]
    UntrustedClient(String),
    #[error("authentication is temporarily unavailable: {0}")]
    Unavailable(String),
}
