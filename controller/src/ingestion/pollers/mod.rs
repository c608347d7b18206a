//! Pollers: periodic REST reads of each integration (leader only).
//!
//! One task per integration (GitHubIntegration, AzureDevOpsIntegration,
//! AzureSubscriptionSource) runs its poller every `spec.pollInterval` plus jitter; the stores
//! are re-checked every few seconds, so integrations added later get a task, and a task stops
//! when its integration is deleted or suspended, or on shutdown. A changed spec rebuilds the
//! poller. Errors never end a task: each lands in the integration's `status.lastError` naming
//! the call that failed. Resume points (`status.cursors`) are read back when a poller starts.
//!
//! Pollers reach Kubernetes only through [`Sink`] (apply changes) and [`Credentials`] (read a
//! Secret), plus the in-memory [`StatusBook`], so tests run them against local HTTP servers
//! without a cluster.

pub mod azure;
pub mod azure_devops;
pub mod entra;
pub mod github;
pub mod http;

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use nexus_api::integrations::{SecretKeyRef, common::parse_duration};
use nexus_ingest::Change;
use prometheus::IntCounterVec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Shared,
    apply::Applier,
    registry::{IntegrationKey, IntegrationKind, Integrations},
    secrets::SecretReader,
    status::StatusBook,
};
pub use http::{HttpClient, HttpConfig, HttpError};

/// How often the stores are re-checked for added, changed, suspended or deleted integrations.
pub const RESCAN_STORES: Duration = Duration::from_secs(5);
/// Longest random delay before an integration's first poll (spreads a restart's load).
pub const START_JITTER: Duration = Duration::from_secs(10);

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where pollers send their changes: the [`Applier`], or a recorder in tests.
pub trait Sink: Send + Sync {
    /// Applies a batch; the number of writes made.
    fn apply<'a>(&'a self, changes: &'a [Change]) -> BoxFut<'a, Result<usize, String>>;

    /// Resource ids of the AzureResources the AzureSubscriptionSource `source`
    /// (`<namespace>/<name>`) created, as the catalog holds them now. The Resource Graph poller
    /// compares its first complete result after a start with them: its in-memory view of the
    /// previous result is gone then, and without this a resource deleted while no poller ran
    /// would never be reported gone.
    fn azure_resources_of(&self, source: &str) -> Vec<String>;
}

impl Sink for Applier {
    fn apply<'a>(&'a self, changes: &'a [Change]) -> BoxFut<'a, Result<usize, String>> {
        Box::pin(async move {
            Applier::apply(self, changes)
                .await
                .map(|a| a.written)
                .map_err(|e| e.to_string())
        })
    }

    fn azure_resources_of(&self, source: &str) -> Vec<String> {
        // Pollers start only once the catalog stores have listed (Ingestion::run_pollers), so
        // an empty answer means none, not "not loaded yet".
        self.index.azure_resources_of(source)
    }
}

/// Reads credential values: Secrets in the cluster, fixed values in tests.
pub trait Credentials: Send + Sync {
    fn read<'a>(
        &'a self,
        namespace: &'a str,
        r: &'a SecretKeyRef,
    ) -> BoxFut<'a, Result<Arc<Vec<u8>>, String>>;
}

impl Credentials for SecretReader {
    fn read<'a>(
        &'a self,
        namespace: &'a str,
        r: &'a SecretKeyRef,
    ) -> BoxFut<'a, Result<Arc<Vec<u8>>, String>> {
        Box::pin(async move {
            SecretReader::read(self, namespace, r)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// What a poller needs from its surroundings.
#[derive(Clone)]
pub struct Env {
    pub sink: Arc<dyn Sink>,
    pub secrets: Arc<dyn Credentials>,
    pub status: StatusBook,
    pub api_calls: Option<IntCounterVec>,
    pub http: HttpConfig,
}

impl Env {
    pub fn from_shared(shared: &Shared) -> Self {
        Env {
            sink: Arc::new(shared.applier.clone()),
            secrets: Arc::new(shared.secrets.clone()),
            status: shared.status.clone(),
            api_calls: Some(shared.metrics.api_calls.clone()),
            http: HttpConfig::default(),
        }
    }

    pub(crate) fn client(
        &self,
        key: &IntegrationKey,
        source: &'static str,
    ) -> Result<HttpClient, HttpError> {
        HttpClient::new(
            self.http.clone(),
            self.status.clone(),
            key.clone(),
            self.api_calls.clone(),
            source,
        )
    }

    /// Reads a credential; a failure is a configuration problem (Ready=False until it clears).
    pub(crate) async fn secret(
        &self,
        key: &IntegrationKey,
        r: &SecretKeyRef,
    ) -> Result<Arc<Vec<u8>>, PollError> {
        match self.secrets.read(&key.namespace, r).await {
            Ok(v) => {
                self.status.config_problem(key, None);
                Ok(v)
            }
            Err(e) => {
                self.status.config_problem(key, Some(e.clone()));
                Err(PollError::Config(e))
            }
        }
    }

    /// Applies a batch and counts the writes; an apply failure names what was applied.
    pub(crate) async fn apply(
        &self,
        key: &IntegrationKey,
        what: &str,
        changes: &[Change],
    ) -> Result<usize, PollError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let written = self
            .sink
            .apply(changes)
            .await
            .map_err(|e| PollError::Apply(format!("{what}: {e}")))?;
        self.status.applied(key, written);
        Ok(written)
    }
}

/// Why a sync (or part of one) failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{0}")]
    Config(String),
    #[error("applying {0}")]
    Apply(String),
    /// One runbook file of a repository could not be read; the others still are.
    #[error("{repository}: {source}")]
    Runbook {
        repository: String,
        #[source]
        source: nexus_ingest::runbooks::RunbookError,
    },
}

/// A test and diagnostics view of one sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Batches sent to the sink.
    pub batches: usize,
    /// Changes sent to the sink.
    pub changes: usize,
    /// Calls that failed without failing the whole sync (recorded in status).
    pub errors: usize,
}

/// The poller of one integration.
enum AnyPoller {
    GitHub(github::GitHubPoller),
    AzureDevOps(azure_devops::AdoPoller),
    Azure(azure::AzurePoller),
}

impl AnyPoller {
    async fn sync(&mut self) -> Result<SyncReport, PollError> {
        match self {
            AnyPoller::GitHub(p) => p.sync().await,
            AnyPoller::AzureDevOps(p) => p.sync().await,
            AnyPoller::Azure(p) => p.sync().await,
        }
    }
}

/// The current object of an integration, by kind.
enum Current {
    GitHub(Arc<nexus_api::integrations::GitHubIntegration>),
    AzureDevOps(Arc<nexus_api::integrations::AzureDevOpsIntegration>),
    Azure(Arc<nexus_api::integrations::AzureSubscriptionSource>),
}

impl Current {
    fn lookup(i: &Integrations, key: &IntegrationKey) -> Option<Current> {
        use kube::runtime::reflector::ObjectRef;
        match key.kind {
            IntegrationKind::GitHub => i.github(&key.namespace, &key.name).map(Current::GitHub),
            IntegrationKind::AzureDevOps => i
                .azure_devops(&key.namespace, &key.name)
                .map(Current::AzureDevOps),
            IntegrationKind::AzureSubscription => i
                .azure
                .get(&ObjectRef::new(&key.name).within(&key.namespace))
                .map(Current::Azure),
            IntegrationKind::Incident => None,
        }
    }

    fn suspended(&self) -> bool {
        match self {
            Current::GitHub(o) => o.spec.suspend,
            Current::AzureDevOps(o) => o.spec.suspend,
            Current::Azure(o) => o.spec.suspend,
        }
    }

    fn spec(&self) -> serde_json::Value {
        match self {
            Current::GitHub(o) => serde_json::to_value(&o.spec),
            Current::AzureDevOps(o) => serde_json::to_value(&o.spec),
            Current::Azure(o) => serde_json::to_value(&o.spec),
        }
        .unwrap_or_default()
    }

    fn interval(&self) -> Duration {
        let (text, default) = match self {
            Current::GitHub(o) => (&o.spec.poll_interval, 900),
            Current::AzureDevOps(o) => (&o.spec.poll_interval, 900),
            Current::Azure(o) => (&o.spec.poll_interval, 1800),
        };
        parse_duration(text)
            .unwrap_or(Duration::from_secs(default))
            .max(Duration::from_secs(30))
    }

    fn stored_cursors(&self) -> BTreeMap<String, String> {
        let s = match self {
            Current::GitHub(o) => o.status.as_ref(),
            Current::AzureDevOps(o) => o.status.as_ref(),
            Current::Azure(o) => o.status.as_ref(),
        };
        s.map(|s| s.cursors.clone()).unwrap_or_default()
    }

    fn poller(
        &self,
        key: &IntegrationKey,
        env: &Env,
        cursors: BTreeMap<String, String>,
    ) -> Result<AnyPoller, PollError> {
        Ok(match self {
            Current::GitHub(o) => AnyPoller::GitHub(github::GitHubPoller::new(
                key.clone(),
                o.spec.clone(),
                env.clone(),
                &cursors,
            )?),
            Current::AzureDevOps(o) => AnyPoller::AzureDevOps(azure_devops::AdoPoller::new(
                key.clone(),
                o.spec.clone(),
                env.clone(),
                &cursors,
            )?),
            Current::Azure(o) => AnyPoller::Azure(azure::AzurePoller::new(
                key.clone(),
                o.spec.clone(),
                env.clone(),
                &cursors,
            )?),
        })
    }
}

/// Integrations that should have a running poller.
fn wanted(i: &Integrations) -> Vec<IntegrationKey> {
    use kube::ResourceExt;
    let key = |kind, o: &dyn Fn() -> (String, String)| {
        let (namespace, name) = o();
        IntegrationKey {
            kind,
            namespace,
            name,
        }
    };
    let mut out = Vec::new();
    for o in i.github.state() {
        if !o.spec.suspend {
            out.push(key(IntegrationKind::GitHub, &|| {
                (o.namespace().unwrap_or_default(), o.name_any())
            }));
        }
    }
    for o in i.azure_devops.state() {
        if !o.spec.suspend {
            out.push(key(IntegrationKind::AzureDevOps, &|| {
                (o.namespace().unwrap_or_default(), o.name_any())
            }));
        }
    }
    for o in i.azure.state() {
        if !o.spec.suspend {
            out.push(key(IntegrationKind::AzureSubscription, &|| {
                (o.namespace().unwrap_or_default(), o.name_any())
            }));
        }
    }
    out
}

type RescanSenders = Mutex<HashMap<IntegrationKey, mpsc::Sender<String>>>;

fn rescans() -> &'static RescanSenders {
    static R: OnceLock<RescanSenders> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Asks the running GitHub poller of `key` to re-read one repository (`owner/repo`) now, e.g.
/// after a push touched its catalog files or runbooks. False when no poller runs for it (not the leader,
/// suspended) or its queue is full.
pub fn request_rescan(key: &IntegrationKey, repository: &str) -> bool {
    rescans()
        .lock()
        .ok()
        .and_then(|m| m.get(key).cloned())
        .is_some_and(|tx| tx.try_send(repository.to_string()).is_ok())
}

/// Runs every integration's poller until shutdown.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let env = Env::from_shared(&shared);
    let mut tasks: HashMap<IntegrationKey, (CancellationToken, tokio::task::JoinHandle<()>)> =
        HashMap::new();
    loop {
        let wanted = wanted(&shared.integrations);
        tasks.retain(|key, (stop, handle)| {
            let keep = wanted.contains(key) && !handle.is_finished();
            if !keep {
                stop.cancel();
                tracing::info!(integration = %key, "poller stopped");
            }
            keep
        });
        for key in wanted {
            if tasks.contains_key(&key) {
                continue;
            }
            let stop = shutdown.child_token();
            tracing::info!(integration = %key, "poller started");
            let handle = tokio::spawn(poll_loop(
                shared.clone(),
                env.clone(),
                key.clone(),
                stop.clone(),
            ));
            tasks.insert(key, (stop, handle));
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(RESCAN_STORES) => {}
        }
    }
    for (_, (stop, handle)) in tasks {
        stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
    }
}

async fn poll_loop(shared: Arc<Shared>, env: Env, key: IntegrationKey, stop: CancellationToken) {
    let (tx, mut rescan_rx) = mpsc::channel::<String>(64);
    if let Ok(mut m) = rescans().lock() {
        m.insert(key.clone(), tx);
    }
    let mut next = tokio::time::Instant::now() + http::jitter(START_JITTER);
    let mut poller: Option<(serde_json::Value, AnyPoller)> = None;
    loop {
        let rescan = tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next) => None,
            r = rescan_rx.recv() => r,
        };
        let Some(current) = Current::lookup(&shared.integrations, &key) else {
            break;
        };
        if current.suspended() {
            break;
        }
        let interval = current.interval();
        let spec = current.spec();
        if poller.as_ref().is_none_or(|(s, _)| *s != spec) {
            let mut cursors = current.stored_cursors();
            cursors.extend(env.status.cursors(&key));
            match current.poller(&key, &env, cursors) {
                Ok(p) => poller = Some((spec, p)),
                Err(e) => {
                    env.status.error(&key, e.to_string());
                    tracing::warn!(integration = %key, error = %e, "poller not configured");
                    next = tokio::time::Instant::now() + interval;
                    continue;
                }
            }
        }
        let Some((_, p)) = poller.as_mut() else {
            break;
        };
        if let Some(repo) = rescan {
            if let AnyPoller::GitHub(g) = p {
                let r = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = g.rescan(&repo) => r,
                };
                if let Err(e) = r {
                    tracing::warn!(integration = %key, repository = %repo, error = %e, "rescan failed");
                }
            }
            // A rescan does not move the periodic schedule.
            continue;
        }
        let started = std::time::Instant::now();
        let result = tokio::select! {
            _ = stop.cancelled() => break,
            r = p.sync() => r,
        };
        match result {
            Ok(report) => {
                tracing::info!(integration = %key, ?report, took = ?started.elapsed(), "poll finished")
            }
            // Already recorded in status by the poller.
            Err(e) => tracing::warn!(integration = %key, error = %e, "poll failed"),
        }
        next = tokio::time::Instant::now() + interval + http::jitter(interval / 10);
    }
    if let Ok(mut m) = rescans().lock() {
        m.remove(&key);
    }
}
