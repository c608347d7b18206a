//! nexus-apiserver as a child process of an e2e test: both faces on loopback ports, dev-auth
//! tokens, the APIService registration (`hack/dev-apiservice.sh`), HTTPS calls to the portal
//! face, a Server-Sent-Events reader, and a kube-apiserver outage that always ends.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{free_port, http_get, kubectl, repo_root, short_id};

/// The state dir of the local control plane `KUBECONFIG` points at (hack/cluster.sh writes
/// `<state>/kubeconfig`; the CA and the nexus-apiserver serving certificate are in `<state>/pki`).
pub fn cluster_dir() -> anyhow::Result<PathBuf> {
    let kubeconfig = std::env::var("KUBECONFIG").context(
        "KUBECONFIG is not set: run the e2e tests with `make test-e2e`, which starts a local control plane",
    )?;
    let path = Path::new(&kubeconfig)
        .canonicalize()
        .with_context(|| format!("KUBECONFIG {kubeconfig}"))?;
    let dir = path
        .parent()
        .context("KUBECONFIG has no parent directory")?
        .to_path_buf();
    if !dir.join("pki/ca.crt").is_file() {
        bail!(
            "{} has no pki/ca.crt: the apiserver e2e tests need the local control plane of hack/cluster.sh",
            dir.display()
        );
    }
    Ok(dir)
}

/// The apiserver binary under test.
pub fn apiserver_bin() -> PathBuf {
    crate::debug_bin("nexus-apiserver", "NEXUS_APISERVER_BIN")
}

/// How to start an apiserver.
#[derive(Clone, Debug)]
pub struct ApiserverOptions {
    /// Names the log file and the scratch directory.
    pub identity: String,
    /// `--authz-cache-ttl` (short in tests, so RBAC changes apply quickly).
    pub authz_cache_ttl: String,
    pub extra_args: Vec<String>,
    pub bin: PathBuf,
}

impl ApiserverOptions {
    pub fn new(identity: &str) -> Self {
        Self {
            identity: identity.into(),
            authz_cache_ttl: "2s".into(),
            extra_args: vec![],
            bin: apiserver_bin(),
        }
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Self {
            status,
            headers,
            text,
            json,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `x-nexus-cache-stale-seconds`.
    pub fn stale_seconds(&self) -> Option<f64> {
        self.header("x-nexus-cache-stale-seconds")?.parse().ok()
    }

    /// `x-nexus-cache-synced`.
    pub fn synced(&self) -> Option<bool> {
        self.header("x-nexus-cache-synced")?.parse().ok()
    }

    /// `message` of a Status answer.
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or_default()
    }

    /// Fails unless the status is `want`, showing the body.
    pub fn expect(self, want: u16, what: &str) -> anyhow::Result<Self> {
        if self.status != want {
            bail!(
                "{what}: expected HTTP {want}, got {}: {}",
                self.status,
                self.text
            );
        }
        Ok(self)
    }
}

/// An HTTPS client trusting only the local cluster CA (which signed nexus-apiserver's
/// certificate), never using a proxy.
pub fn https_client(
    ca_file: &Path,
    identity: Option<reqwest::Identity>,
) -> anyhow::Result<reqwest::Client> {
    let ca = std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .tls_built_in_root_certs(false)
        .no_proxy()
        .connect_timeout(Duration::from_secs(5));
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    Ok(builder.build()?)
}

/// A running nexus-apiserver (dev-auth on the portal face), killed when dropped; an APIService
/// it registered is removed then too.
pub struct ApiserverProcess {
    pub child: Child,
    pub identity: String,
    pub aggregated_port: u16,
    pub portal_port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
    /// Scratch directory (the dev-auth key lives here).
    pub dir: PathBuf,
    pub key_file: PathBuf,
    /// The control plane's state dir.
    pub cluster: PathBuf,
    pub http: reqwest::Client,
    registered: bool,
}

impl ApiserverProcess {
    pub fn start(opts: &ApiserverOptions) -> anyhow::Result<Self> {
        let cluster = cluster_dir()?;
        let pki = cluster.join("pki");
        let (aggregated_port, portal_port, metrics_port) =
            (free_port()?, free_port()?, free_port()?);
        let dir = repo_root()
            .join("target")
            .join("e2e-apiserver")
            .join(format!("{}-{}", opts.identity, short_id()));
        std::fs::create_dir_all(&dir)?;
        let key_file = dir.join("dev-key.pem");
        let mut cmd = Command::new(&opts.bin);
        cmd.arg("serve")
            .arg("--aggregated-addr")
            .arg(format!("127.0.0.1:{aggregated_port}"))
            .arg("--portal-addr")
            .arg(format!("127.0.0.1:{portal_port}"))
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--tls-cert-file")
            .arg(pki.join("nexus-apiserver.crt"))
            .arg("--tls-key-file")
            .arg(pki.join("nexus-apiserver.key"))
            .arg("--dev-auth")
            .arg("--dev-key-file")
            .arg(&key_file)
            .arg("--authz-cache-ttl")
            .arg(&opts.authz_cache_ttl)
            .arg("--log-format")
            .arg("text")
            .args(&opts.extra_args);
        let (child, log) = crate::spawn_logged(
            &mut cmd,
            &format!("apiserver-{}", opts.identity),
            "nexus-apiserver",
        )?;
        let http = https_client(&pki.join("ca.crt"), None)?;
        Ok(Self {
            child,
            identity: opts.identity.clone(),
            aggregated_port,
            portal_port,
            metrics_port,
            log,
            dir,
            key_file,
            cluster,
            http,
            registered: false,
        })
    }

    /// Starts an apiserver and waits until its cache is synced (`/readyz` 200).
    pub async fn start_ready(opts: &ApiserverOptions) -> anyhow::Result<Self> {
        let mut process = Self::start(opts)?;
        process.wait_ready(Duration::from_secs(30)).await?;
        Ok(process)
    }

    /// Waits for `/readyz` (every kind listed); fails at once if the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        let start = Instant::now();
        let mut last = String::from("never answered");
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "nexus-apiserver exited ({status}) before it was ready; log:\n{}",
                    self.log_tail()
                );
            }
            match http_get(&url).await {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "nexus-apiserver not ready within {timeout:?} ({last}); log:\n{}",
            self.log_tail()
        )
    }

    /// Points the APIService v1alpha1.portal.nexus.dev at this process and waits until it is
    /// Available (hack/dev-apiservice.sh). Only one APIService exists: the last caller wins.
    pub fn register(&mut self) -> anyhow::Result<()> {
        let out = Command::new(repo_root().join("hack/dev-apiservice.sh"))
            .arg("register")
            .arg(self.aggregated_port.to_string())
            .env("NEXUS_CLUSTER_DIR", &self.cluster)
            .env("NEXUS_APISERVICE_TIMEOUT", "45")
            .stdin(Stdio::null())
            .output()
            .context("running hack/dev-apiservice.sh")?;
        self.registered = true;
        if !out.status.success() {
            bail!(
                "hack/dev-apiservice.sh register {} failed: {}{}\napiserver log:\n{}",
                self.aggregated_port,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail()
            );
        }
        Ok(())
    }

    /// A dev-auth token for `user` in `groups`, signed with this process's key.
    pub fn token(&self, user: &str, groups: &[&str]) -> anyhow::Result<String> {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let auth = nexus_apiserver::authn::dev::DevAuth::load(&self.key_file)?;
        Ok(auth.mint(user, &groups, Duration::from_secs(3600))?)
    }

    pub fn portal_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.portal_port)
    }

    /// GET on the portal face, with `Authorization: Bearer <token>` when given.
    pub async fn portal(&self, path: &str, token: Option<&str>) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .get(self.portal_url(path))
            .timeout(Duration::from_secs(15));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Answer::read(
            request
                .send()
                .await
                .with_context(|| format!("GET {path}"))?,
        )
        .await
    }

    /// Opens `/api/v1/stream` (with `query`, e.g. `namespace=x`) and checks it answers 200.
    pub async fn stream(&self, query: &str, token: &str) -> anyhow::Result<SseStream> {
        let path = if query.is_empty() {
            "/api/v1/stream".to_string()
        } else {
            format!("/api/v1/stream?{query}")
        };
        let response = self
            .http
            .get(self.portal_url(&path))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        if !response.status().is_success() {
            let answer = Answer::read(response).await?;
            bail!("GET {path}: HTTP {}: {}", answer.status, answer.text);
        }
        Ok(SseStream::new(response))
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        http_get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port)).await
    }

    /// Whether `/readyz` answers 200.
    pub async fn is_ready(&self) -> bool {
        http_get(&format!("http://127.0.0.1:{}/readyz", self.metrics_port))
            .await
            .is_ok()
    }

    pub fn log_tail(&self) -> String {
        crate::log_tail(&self.log, 40)
    }

    /// Removes the APIService if it still points at this process.
    fn unregister(&mut self) {
        if !std::mem::take(&mut self.registered) {
            return;
        }
        let port = kubectl(
            &[
                "get",
                "apiservice",
                "v1alpha1.portal.nexus.dev",
                "-o",
                "jsonpath={.spec.service.port}",
            ],
            None,
        )
        .map(|(_, out, _)| out.trim().to_string())
        .unwrap_or_default();
        if port == self.aggregated_port.to_string() {
            let _ = Command::new(repo_root().join("hack/dev-apiservice.sh"))
                .arg("unregister")
                .env("NEXUS_CLUSTER_DIR", &self.cluster)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for ApiserverProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // An APIService without a server breaks discovery (and namespace deletion) for
        // everything that runs after this test.
        self.unregister();
        // The dev-auth signing key; the log stays in target/e2e-logs.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One Server-Sent Event.
#[derive(Clone, Debug, Default)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

impl SseEvent {
    /// `data` as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }

    /// For `change` events: (`type`, `ref`).
    pub fn change(&self) -> Option<(String, String)> {
        if self.event != "change" {
            return None;
        }
        let v = self.json();
        Some((
            v["type"].as_str()?.to_string(),
            v["ref"].as_str()?.to_string(),
        ))
    }
}

/// Reads events from a `text/event-stream` response; every event read is kept in `seen`.
pub struct SseStream {
    response: reqwest::Response,
    buf: Vec<u8>,
    pub seen: Vec<SseEvent>,
}

impl SseStream {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Parses one complete block off the buffer (`None`: no complete block yet; `Some(None)`:
    /// a block without an event, e.g. a keep-alive comment).
    fn take_block(&mut self) -> Option<Option<SseEvent>> {
        let text = String::from_utf8_lossy(&self.buf).replace("\r\n", "\n");
        let end = text.find("\n\n")?;
        let block = text[..end].to_string();
        self.buf = text.as_bytes()[end + 2..].to_vec();
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        let mut any = false;
        for line in block.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            any = true;
            match field {
                "event" => event.event = value.to_string(),
                "data" => data.push(value),
                "id" => event.id = Some(value.to_string()),
                _ => {}
            }
        }
        if !any {
            return Some(None);
        }
        if event.event.is_empty() {
            event.event = "message".into();
        }
        event.data = data.join("\n");
        Some(Some(event))
    }

    /// The next event within `timeout` (`Ok(None)` when none came); an error when the stream
    /// ended.
    pub async fn next_event(&mut self, timeout: Duration) -> anyhow::Result<Option<SseEvent>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(block) = self.take_block() {
                if let Some(event) = block {
                    self.seen.push(event.clone());
                    return Ok(Some(event));
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Ok(None),
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => bail!("the event stream ended"),
                Ok(Err(e)) => bail!("the event stream broke: {e}"),
            }
        }
    }

    /// The first event delivered so far (read earlier, or read now, waiting at most `timeout`)
    /// that satisfies `matches`; fails listing every event the stream delivered.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&SseEvent) -> bool,
    ) -> anyhow::Result<SseEvent> {
        if let Some(event) = self.seen.iter().find(|e| matches(e)) {
            return Ok(event.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if let Some(event) = self.next_event(left).await?
                && matches(&event)
            {
                return Ok(event);
            }
        }
        let came: Vec<String> = self
            .seen
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.event,
                    e.data.chars().take(160).collect::<String>()
                )
            })
            .collect();
        bail!("timed out after {timeout:?} waiting for {what}; events so far: {came:#?}")
    }

    /// Every event that arrives within `window`.
    pub async fn drain(&mut self, window: Duration) -> anyhow::Result<Vec<SseEvent>> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(out);
            }
            match self.next_event(left).await? {
                Some(event) => out.push(event),
                None => return Ok(out),
            }
        }
    }

    /// (`type`, `ref`) of every `change` event read so far.
    pub fn changes(&self) -> Vec<(String, String)> {
        self.seen.iter().filter_map(SseEvent::change).collect()
    }
}

/// A kube-apiserver outage (`hack/cluster.sh stop-apiserver`). Dropping it restarts
/// kube-apiserver, also when the test panics, so later tests find a working cluster.
pub struct KubeApiserverOutage {
    cluster: PathBuf,
    stopped: bool,
}

fn cluster_sh(cluster: &Path, subcommand: &str) -> anyhow::Result<()> {
    let out = Command::new(repo_root().join("hack/cluster.sh"))
        .arg(subcommand)
        .env("NEXUS_CLUSTER_DIR", cluster)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running hack/cluster.sh {subcommand}"))?;
    if !out.status.success() {
        bail!(
            "hack/cluster.sh {subcommand} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl KubeApiserverOutage {
    /// Stops kube-apiserver (etcd and the data stay).
    pub fn begin(cluster: &Path) -> anyhow::Result<Self> {
        let mut outage = Self {
            cluster: cluster.to_path_buf(),
            stopped: true,
        };
        if let Err(e) = cluster_sh(cluster, "stop-apiserver") {
            // Whatever state it is in, bring it back before failing.
            outage.end()?;
            return Err(e);
        }
        Ok(outage)
    }

    /// Starts kube-apiserver again on the same port and waits for /readyz.
    pub fn end(&mut self) -> anyhow::Result<()> {
        cluster_sh(&self.cluster, "start-apiserver")?;
        self.stopped = false;
        Ok(())
    }
}

impl Drop for KubeApiserverOutage {
    fn drop(&mut self) {
        if self.stopped {
            for _ in 0..3 {
                match cluster_sh(&self.cluster, "start-apiserver") {
                    Ok(()) => return,
                    Err(e) => eprintln!("restarting kube-apiserver after the outage: {e:#}"),
                }
            }
        }
    }
}
