//! What the external executors (`azure`, `azureDevOps`, `github`, `azureFunction`,
//! `terraformCloud`) need besides templates: the integration objects (the ingestion registry's
//! stores), credential values (Secrets), cached tokens and HTTP clients. They reuse the
//! pollers' machinery — [`HttpClient`] (retries, backoff, `Retry-After`, typed errors that
//! name the call), [`EntraToken`] (workload identity or client secret, configurable authority)
//! and the GitHub App installation token of [`GitHubPoller`].
//!
//! Nothing here needs a Kubernetes client: tests build [`Providers`] from hand-filled stores and
//! a map of credentials, and drive the executors through [`External`].

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use kube::runtime::reflector::Store;
use nexus_api::{
    actions::ActionSpec,
    integrations::{
        AzureAuth, AzureDevOpsIntegration, AzureSubscriptionSource, GitHubIntegration, SecretKeyRef,
    },
};
use serde_json::Value;

use super::ExecError;
use crate::ingestion::{
    pollers::{
        BoxFut, Credentials, Env, HttpConfig, PollError, Sink,
        entra::EntraToken,
        github::GitHubPoller,
        http::{Auth, HttpClient, HttpError, Req, Resp, error_message},
    },
    registry::{IntegrationKey, IntegrationKind, Integrations},
    status::StatusBook,
};

/// Most outputs one call records, and the longest value kept.
pub const MAX_OUTPUTS: usize = 32;
pub const MAX_OUTPUT_CHARS: usize = 1024;
/// Longest excerpt of a response body put in a failure message.
pub const MAX_EXCERPT: usize = 300;
/// Cached clients and tokens before the caches are cleared (integrations are few).
const MAX_CACHED: usize = 256;

/// Integrations, credentials, token caches and HTTP clients of the external executors.
pub struct Providers {
    integrations: Option<Integrations>,
    /// Namespace of the integration objects (`--integrations-namespace`); None: any namespace,
    /// as long as the name is unique.
    integrations_namespace: Option<String>,
    secrets: Arc<dyn Credentials>,
    pub http: HttpConfig,
    status: StatusBook,
    clients: Mutex<HashMap<String, HttpClient>>,
    entra: Mutex<HashMap<String, Arc<EntraToken>>>,
    github: Mutex<HashMap<String, Arc<tokio::sync::Mutex<GitHubPoller>>>>,
}

/// Executors apply nothing to the catalog: the poller machinery they reuse gets this sink.
struct NoSink;

impl Sink for NoSink {
    fn apply<'a>(&'a self, _: &'a [nexus_ingest::Change]) -> BoxFut<'a, Result<usize, String>> {
        Box::pin(async { Ok(0) })
    }

    fn azure_resources_of(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
}

impl Providers {
    /// `integrations`: the ingestion registry's stores (None when ingestion is off: executors
    /// that need an integration then fail saying so). `secrets` reads Secrets in any namespace.
    pub fn new(
        integrations: Option<Integrations>,
        integrations_namespace: Option<String>,
        secrets: Arc<dyn Credentials>,
    ) -> Self {
        Providers {
            integrations,
            integrations_namespace,
            secrets,
            http: HttpConfig::default(),
            status: StatusBook::default(),
            clients: Mutex::default(),
            entra: Mutex::default(),
            github: Mutex::default(),
        }
    }

    /// Replaces the HTTP timeouts and retry bounds (tests shorten them).
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }

    fn env(&self) -> Env {
        Env {
            sink: Arc::new(NoSink),
            secrets: self.secrets.clone(),
            status: self.status.clone(),
            api_calls: None,
            http: self.http.clone(),
        }
    }

    /// A cached HTTP client for `key`. `retries: false` for calls that must not be repeated
    /// (a POST that starts something): one try, whatever happens.
    pub fn client(
        &self,
        key: &IntegrationKey,
        source: &'static str,
        retries: bool,
    ) -> Result<HttpClient, ExecError> {
        let id = format!("{key}|{source}|{retries}");
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ExecError::Invalid("HTTP client cache poisoned".into()))?;
        if let Some(c) = clients.get(&id) {
            return Ok(c.clone());
        }
        let mut cfg = self.http.clone();
        if !retries {
            cfg.max_attempts = 1;
        }
        let c = HttpClient::new(cfg, self.status.clone(), key.clone(), None, source)?;
        if clients.len() >= MAX_CACHED {
            clients.clear();
        }
        clients.insert(id, c.clone());
        Ok(c)
    }

    /// A credential value; errors name the Secret, never the value.
    pub async fn secret(
        &self,
        namespace: &str,
        r: &SecretKeyRef,
    ) -> Result<Arc<Vec<u8>>, ExecError> {
        self.secrets
            .read(namespace, r)
            .await
            .map_err(ExecError::Credentials)
    }

    fn stores(&self, kind: IntegrationKind, name: &str) -> Result<&Integrations, ExecError> {
        self.integrations.as_ref().ok_or_else(|| {
            ExecError::Credentials(format!(
                "{} {name}: the controller does not watch integrations (ingestion is off: \
                 enable the webhook receiver or polling)",
                kind.kind()
            ))
        })
    }

    pub fn azure_source(
        &self,
        name: &str,
    ) -> Result<(IntegrationKey, Arc<AzureSubscriptionSource>), ExecError> {
        let kind = IntegrationKind::AzureSubscription;
        let s = &self.stores(kind, name)?.azure;
        self.lookup(s, kind, name)
    }

    pub fn azure_devops(
        &self,
        name: &str,
    ) -> Result<(IntegrationKey, Arc<AzureDevOpsIntegration>), ExecError> {
        let kind = IntegrationKind::AzureDevOps;
        let s = &self.stores(kind, name)?.azure_devops;
        self.lookup(s, kind, name)
    }

    pub fn github(
        &self,
        name: &str,
    ) -> Result<(IntegrationKey, Arc<GitHubIntegration>), ExecError> {
        let kind = IntegrationKind::GitHub;
        let s = &self.stores(kind, name)?.github;
        self.lookup(s, kind, name)
    }

    /// The integration named `name`: in the integrations namespace when one is configured, else
    /// the only one of that name (several in different namespaces: an error naming them).
    fn lookup<K>(
        &self,
        store: &Store<K>,
        kind: IntegrationKind,
        name: &str,
    ) -> Result<(IntegrationKey, Arc<K>), ExecError>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let all: Vec<Arc<K>> = store
            .state()
            .into_iter()
            .filter(|o| o.meta().name.as_deref() == Some(name))
            .collect();
        let ns_of = |o: &K| o.meta().namespace.clone().unwrap_or_default();
        let found = match &self.integrations_namespace {
            Some(ns) => all.into_iter().find(|o| &ns_of(o) == ns),
            None if all.len() > 1 => {
                let mut nss: Vec<String> = all.iter().map(|o| ns_of(o)).collect();
                nss.sort();
                return Err(ExecError::Credentials(format!(
                    "{} {name} exists in several namespaces ({}); configure the integrations \
                     namespace",
                    kind.kind(),
                    nss.join(", ")
                )));
            }
            None => all.into_iter().next(),
        };
        let o = found.ok_or_else(|| {
            ExecError::Credentials(format!(
                "{} {name} not found{}",
                kind.kind(),
                self.integrations_namespace
                    .as_ref()
                    .map(|ns| format!(" in namespace {ns}"))
                    .unwrap_or_default()
            ))
        })?;
        let key = IntegrationKey {
            kind,
            namespace: ns_of(&o),
            name: name.to_string(),
        };
        Ok((key, o))
    }

    /// An Entra access token for `scope` with the integration's identity (cached per identity
    /// and scope until shortly before it expires).
    pub async fn entra_token(
        &self,
        key: &IntegrationKey,
        auth: &AzureAuth,
        scope: &str,
        http: &HttpClient,
    ) -> Result<Auth, ExecError> {
        let id = format!(
            "{key}|{scope}|{}",
            serde_json::to_string(auth).unwrap_or_default()
        );
        let token = {
            let mut m = self
                .entra
                .lock()
                .map_err(|_| ExecError::Invalid("token cache poisoned".into()))?;
            if m.len() >= MAX_CACHED {
                m.clear();
            }
            m.entry(id)
                .or_insert_with(|| Arc::new(EntraToken::new(auth, scope)))
                .clone()
        };
        let t = token
            .token(http, &self.env(), key)
            .await
            .map_err(from_poll)?;
        Ok(Auth::Bearer(t))
    }

    /// A GitHub App installation token for the integration (cached).
    pub async fn github_token(
        &self,
        key: &IntegrationKey,
        i: &GitHubIntegration,
    ) -> Result<Auth, ExecError> {
        let id = format!(
            "{key}|{}",
            serde_json::to_string(&i.spec).unwrap_or_default()
        );
        let poller = {
            let mut m = self
                .github
                .lock()
                .map_err(|_| ExecError::Invalid("token cache poisoned".into()))?;
            if m.len() >= MAX_CACHED {
                m.clear();
            }
            match m.get(&id) {
                Some(p) => p.clone(),
                None => {
                    let p = GitHubPoller::new(
                        key.clone(),
                        i.spec.clone(),
                        self.env(),
                        &BTreeMap::new(),
                    )
                    .map_err(from_poll)?;
                    let p = Arc::new(tokio::sync::Mutex::new(p));
                    m.insert(id, p.clone());
                    p
                }
            }
        };
        let mut p = poller.lock().await;
        p.token().await.map_err(from_poll)
    }

    /// Forgets the tokens of an integration (after a 401), so the next call exchanges anew.
    pub fn forget_tokens(&self, key: &IntegrationKey) {
        let prefix = format!("{key}|");
        if let Ok(mut m) = self.entra.lock() {
            m.retain(|k, _| !k.starts_with(&prefix));
        }
        if let Ok(mut m) = self.github.lock() {
            m.retain(|k, _| !k.starts_with(&prefix));
        }
    }
}

pub(crate) fn from_poll(e: PollError) -> ExecError {
    match e {
        PollError::Http(h) => ExecError::Http(h),
        PollError::Config(m) | PollError::Apply(m) => ExecError::Credentials(m),
        // Only the GitHub poller's sync reads runbooks; token exchange never does.
        e @ PollError::Runbook { .. } => ExecError::Invalid(e.to_string()),
    }
}

/// The template context of one attempt, and the providers: all an external executor sees.
pub struct External<'a> {
    pub providers: &'a Providers,
    /// The run's namespace (Secrets of `azureFunction` and `terraformCloud` live there).
    pub namespace: &'a str,
    pub run_name: &'a str,
    /// The run's uid: with the attempt it tags what an attempt created, where the API allows.
    pub run_uid: &'a str,
    pub attempt: i32,
    pub action: &'a ActionSpec,
    /// Template context: inputs, target, run, outputs.
    pub values: &'a Value,
}

impl External<'_> {
    pub fn render(&self, t: &str) -> Result<String, ExecError> {
        Ok(crate::actions::template::render(t, self.values)?)
    }

    pub fn render_json(&self, v: &Value) -> Result<Value, ExecError> {
        Ok(crate::actions::template::render_json(v, self.values)?)
    }

    /// `<run uid>/a<attempt>`: marks what this attempt created.
    pub fn attempt_tag(&self) -> String {
        format!("{}/a{}", self.run_uid, self.attempt)
    }
}

/// A JSON request with no body-less surprises: `conditional: false` (no ETag replay).
pub fn json_req(method: http::Method, url: String, auth: &Auth, body: Option<&Value>) -> Req {
    Req {
        method,
        url,
        auth: auth.clone(),
        headers: Vec::new(),
        body: body.map(|b| {
            (
                "application/json".to_string(),
                bytes::Bytes::from(serde_json::to_vec(b).unwrap_or_default()),
            )
        }),
        conditional: false,
    }
}

/// An answer of any status, its JSON body (Null when not JSON) and the call it answers.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: Value,
    pub body: bytes::Bytes,
    pub call: String,
}

impl Answer {
    pub fn from_resp(r: Resp) -> Self {
        Answer {
            status: r.status.as_u16(),
            json: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            headers: r.headers,
            body: r.body,
            call: r.call,
        }
    }

    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .filter(|v| !v.is_empty())
    }

    /// `POST /path: 409 Conflict: <provider message>` (bounded, first line).
    pub fn describe(&self) -> String {
        let status = http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        format!(
            "{}: {} {}",
            self.call,
            self.status,
            error_message(status, &self.body)
        )
    }

    /// The answer as an error of the HTTP client's kind (status classes as it types them).
    pub fn into_error(self) -> ExecError {
        let status = http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        let message = error_message(status, &self.body);
        let call = self.call;
        ExecError::Http(match self.status {
            401 => HttpError::Unauthorized {
                call,
                status: 401,
                message,
            },
            403 => HttpError::Forbidden {
                call,
                status: 403,
                message,
            },
            404 => HttpError::NotFound {
                call,
                status: 404,
                message,
            },
            s => HttpError::Status {
                call,
                status: s,
                message,
            },
        })
    }
}

/// Sends `req` (with the client's retries) and returns the answer whatever its status.
pub async fn call(http: &HttpClient, req: &Req) -> Result<Answer, ExecError> {
    Ok(Answer::from_resp(http.send_any_status(req).await?))
}

/// Whether a failed call may have reached the provider and done its work (timeouts, dropped
/// connections after sending, 5xx): the outcome of a non-repeatable start is then unknown.
pub fn ambiguous(e: &ExecError) -> bool {
    match e {
        ExecError::Http(h) => match h {
            HttpError::Timeout { .. } | HttpError::Transport { .. } => true,
            h => h.status().is_some_and(|s| s >= 500),
        },
        _ => false,
    }
}

/// A string output from a JSON value: strings as they are, other values as JSON; bounded.
pub fn output_value(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    bounded(&s, MAX_OUTPUT_CHARS)
}

/// `s` cut to at most `max` characters (with `…` when cut).
pub fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// The top-level fields of a JSON object as outputs (strings, bounded in number and size).
pub fn object_outputs(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .take(MAX_OUTPUTS)
                .map(|(k, v)| (bounded(k, 128), output_value(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes one path segment.
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A base URL from configuration: trimmed, without a trailing slash, http(s) only.
pub fn base_url(what: &str, url: &str) -> Result<String, ExecError> {
    let u = url.trim().trim_end_matches('/');
    if !(u.starts_with("https://") || u.starts_with("http://")) {
        return Err(ExecError::Invalid(format!(
            "{what} {u:?} is not an http(s) URL"
        )));
    }
    Ok(u.to_string())
}
