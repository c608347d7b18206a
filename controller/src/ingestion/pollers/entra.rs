//! Entra ID access tokens for Azure Resource Manager and Azure DevOps, by the client-credentials
//! grant: with a workload-identity federated token (`AZURE_FEDERATED_TOKEN_FILE`, sent as the
//! client assertion) or with a client secret read from a Secret.
//!
//! Deliberately not `azure_identity`: the exchange is one form POST to
//! `{authorityHost}/{tenant}/oauth2/v2.0/token`, and the authority must be configurable
//! (`spec.auth.authorityHost`, else `AZURE_AUTHORITY_HOST`, else the public cloud) so tests and
//! sovereign clouds point it elsewhere. Tokens are cached until five minutes before they expire.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use nexus_api::integrations::AzureAuth;
use serde::Deserialize;

use super::{
    Env, PollError,
    http::{HttpClient, HttpError, Req},
};
use crate::ingestion::registry::IntegrationKey;

/// Azure Resource Manager (and Resource Graph).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// Azure DevOps' resource id.
pub const ADO_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// A token is renewed this long before it expires.
const EARLY: Duration = Duration::from_secs(300);

pub struct EntraToken {
    auth: AzureAuth,
    scope: String,
    token_file: Option<PathBuf>,
    cached: Mutex<Option<(Arc<str>, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl EntraToken {
    pub fn new(auth: &AzureAuth, scope: &str) -> Self {
        EntraToken {
            auth: auth.clone(),
            scope: scope.into(),
            token_file: std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            cached: Mutex::new(None),
        }
    }

    /// Reads the federated token from `path` instead of `AZURE_FEDERATED_TOKEN_FILE`.
    pub fn set_token_file(&mut self, path: impl Into<PathBuf>) {
        self.token_file = Some(path.into());
        self.invalidate();
    }

    pub fn authority(&self) -> String {
        self.auth
            .authority_host
            .clone()
            .or_else(|| std::env::var("AZURE_AUTHORITY_HOST").ok())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_AUTHORITY.into())
            .trim_end_matches('/')
            .to_string()
    }

    /// Forgets the cached token (after a 401).
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.cached.lock() {
            *c = None;
        }
    }

    /// A valid access token, from the cache or a new exchange.
    pub async fn token(
        &self,
        http: &HttpClient,
        env: &Env,
        key: &IntegrationKey,
    ) -> Result<Arc<str>, PollError> {
        if let Ok(c) = self.cached.lock()
            && let Some((t, until)) = c.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority(),
            self.auth.tenant_id
        );
        let secret;
        let assertion;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.auth.client_id),
            ("scope", &self.scope),
        ];
        if let Some(r) = &self.auth.client_secret_ref {
            secret = String::from_utf8_lossy(&env.secret(key, r).await?).into_owned();
            form.push(("client_secret", &secret));
        } else {
            let Some(path) = &self.token_file else {
                let p = "workload identity: AZURE_FEDERATED_TOKEN_FILE is not set (is the pod \
                         labelled azure.workload.identity/use=true?)";
                env.status.config_problem(key, Some(p.into()));
                return Err(PollError::Config(p.into()));
            };
            assertion = match std::fs::read_to_string(path) {
                Ok(t) => t.trim().to_string(),
                Err(e) => {
                    let p = format!(
                        "workload identity: reading the federated token {}: {e}",
                        path.display()
                    );
                    env.status.config_problem(key, Some(p.clone()));
                    return Err(PollError::Config(p));
                }
            };
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
            form.push(("client_assertion", &assertion));
        }
        let resp = http.send(&Req::post_form(&url, &form)).await?;
        let t: TokenResponse = nexus_ingest::error::from_json(&resp.body)
            .map_err(|e| HttpError::parse(&resp.call, e))?;
        let secs = match &t.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        let keep = Duration::from_secs(secs)
            .saturating_sub(EARLY)
            .max(Duration::from_secs(30));
        let token: Arc<str> = t.access_token.into();
        if let Ok(mut c) = self.cached.lock() {
            *c = Some((token.clone(), Instant::now() + keep));
        }
        Ok(token)
    }
}
