//! Reads credential values from Secrets, cached briefly so a busy webhook endpoint does not
//! read the Secret per delivery, yet a rotated secret takes effect within the TTL. Values are
//! never logged, put in errors, events or statuses.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use nexus_api::integrations::SecretKeyRef;

/// How long a read value is reused.
pub const SECRET_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secret {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    MissingKey {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("Secret {namespace}/{name} key {key:?} is empty")]
    Empty {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("reading Secret {namespace}/{name}: {message}")]
    Api {
        namespace: String,
        name: String,
        message: String,
    },
}

#[derive(Clone)]
pub struct SecretReader {
    client: Client,
    cache: moka::future::Cache<(String, String, String), std::sync::Arc<Vec<u8>>>,
}

impl SecretReader {
    pub fn new(client: Client) -> Self {
        SecretReader {
            client,
            cache: moka::future::Cache::builder()
                .time_to_live(SECRET_TTL)
                .max_capacity(10_000)
                .build(),
        }
    }

    /// The value of `r` in `namespace` (trailing newline trimmed: `kubectl create secret
    /// --from-file` keeps the file's last newline, which no sender includes).
    pub async fn read(
        &self,
        namespace: &str,
        r: &SecretKeyRef,
    ) -> Result<std::sync::Arc<Vec<u8>>, SecretError> {
        let key = (namespace.to_string(), r.name.clone(), r.key.clone());
        if let Some(v) = self.cache.get(&key).await {
            return Ok(v);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(&r.name).await.map_err(|e| SecretError::Api {
            namespace: namespace.into(),
            name: r.name.clone(),
            message: e.to_string(),
        })?;
        let Some(secret) = secret else {
            return Err(SecretError::NotFound {
                namespace: namespace.into(),
                name: r.name.clone(),
            });
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&r.key))
                    .map(|s| s.as_bytes().to_vec())
            })
            .ok_or_else(|| SecretError::MissingKey {
                namespace: namespace.into(),
                name: r.name.clone(),
                key: r.key.clone(),
            })?;
        let mut value = value;
        while value.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            value.pop();
        }
        if value.is_empty() {
            return Err(SecretError::Empty {
                namespace: namespace.into(),
                name: r.name.clone(),
                key: r.key.clone(),
            });
        }
        let value = std::sync::Arc::new(value);
        self.cache.insert(key, value.clone()).await;
        Ok(value)
    }
}
