//! Helpers for the end-to-end tests and the benchmark: a client for the local control plane,
//! the controller as a child process, throw-away namespaces, and waiting with a bound.
//!
//! The tests need a running control plane (`make test-e2e` starts one) and refuse to run
//! without `KUBECONFIG`, so a missing cluster is a failure, never a silent pass.
//!
//! [`apiserver`] runs nexus-apiserver the same way, with HTTPS and event-stream helpers.

pub mod apiserver;
pub mod ingest;
pub mod load;
pub mod steps;
pub mod synthetic;

use std::{
    future::Future,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
pub use steps::{
    apply_in, install_policies, kubectl_apply, kubectl_ok, rsa_key, wait_policies_enforced,
    wait_run_phase, wait_some,
};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Config,
    api::{DeleteParams, ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

/// The repository root (e2e/..).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A client for the cluster named by `KUBECONFIG`.
pub async fn client() -> anyhow::Result<Client> {
    let path = std::env::var("KUBECONFIG").context(
        "KUBECONFIG is not set: run the e2e tests with `make test-e2e`, which starts a local control plane",
    )?;
    let kubeconfig = Kubeconfig::read_from(&path).with_context(|| format!("reading {path}"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` and the last
/// observation.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let start = Instant::now();
    let mut last = String::from("never checked");
    while start.elapsed() < timeout {
        match check().await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(observed)) => last = observed,
            Err(e) => last = format!("error: {e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
}

/// A namespace created for one test and deleted when the test is done with it.
pub struct TestNamespace {
    pub name: String,
    client: Client,
}

impl TestNamespace {
    pub async fn create(client: &Client, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("{prefix}-{}", short_id());
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("nexus.dev/e2e".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &ns).await?;
        Ok(Self {
            name,
            client: client.clone(),
        })
    }

    pub async fn delete(self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let _ = api.delete(&self.name, &DeleteParams::background()).await;
    }
}

/// A short hex id, different per call (names of throw-away objects).
pub fn short_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}", (nanos ^ u128::from(std::process::id())) & 0xff_ffff)
}

/// A random lower-case word (letters only, so a search index keeps it as one token) that no
/// other test or example uses: `<prefix>` + 8 letters.
pub fn unique_word(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut n = nanos ^ (u128::from(std::process::id()) << 40);
    let mut word = prefix.to_string();
    for _ in 0..8 {
        word.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    word
}

/// A binary under test: `$<env>` when set, else the debug build in the target directory.
pub fn debug_bin(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    target.join("debug").join(name)
}

/// Starts `cmd` (RUST_LOG=info) with its output in `target/e2e-logs/<log_name>.log`; the error
/// names the package to build when the binary is missing.
pub fn spawn_logged(
    cmd: &mut Command,
    log_name: &str,
    package: &str,
) -> anyhow::Result<(std::process::Child, PathBuf)> {
    let log_dir = repo_root().join("target").join("e2e-logs");
    std::fs::create_dir_all(&log_dir)?;
    let log = log_dir.join(format!("{log_name}.log"));
    let out = std::fs::File::create(&log)?;
    let child = cmd
        .env("RUST_LOG", "info")
        .stdout(out.try_clone()?)
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it with `cargo build -p {package}`)",
                cmd.get_program().to_string_lossy()
            )
        })?;
    Ok((child, log))
}

/// The last `lines` lines of a log file.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The controller binary under test.
pub fn controller_bin() -> PathBuf {
    debug_bin("nexus-controller", "NEXUS_CONTROLLER_BIN")
}

/// A running nexus-controller, killed when dropped.
pub struct ControllerProcess {
    pub child: Child,
    pub identity: String,
    pub metrics_port: u16,
    /// Port of the webhook receiver (loopback).
    pub webhook_port: u16,
    pub log: PathBuf,
}

/// How to start a controller.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    pub watch_namespace: Option<String>,
    pub lease_namespace: String,
    pub lease_name: String,
    pub identity: String,
    /// Lease duration in seconds (short in tests so fail-over is quick).
    pub lease_duration: u64,
    pub extra_args: Vec<String>,
    pub bin: PathBuf,
}

impl ControllerOptions {
    pub fn for_namespace(ns: &str, identity: &str) -> Self {
        Self {
            watch_namespace: Some(ns.to_string()),
            lease_namespace: ns.to_string(),
            lease_name: "nexus-controller".into(),
            identity: identity.into(),
            lease_duration: 4,
            extra_args: vec![],
            bin: controller_bin(),
        }
    }
}

impl ControllerProcess {
    pub fn start(opts: &ControllerOptions) -> anyhow::Result<Self> {
        let metrics_port = free_port()?;
        let webhook_port = free_port()?;
        let mut cmd = Command::new(&opts.bin);
        cmd.arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--webhook-addr")
            .arg(format!("127.0.0.1:{webhook_port}"))
            .arg("--lease-namespace")
            .arg(&opts.lease_namespace)
            .arg("--lease-name")
            .arg(&opts.lease_name)
            .arg("--identity")
            .arg(&opts.identity)
            .arg("--lease-duration")
            .arg(opts.lease_duration.to_string())
            .arg("--renew-deadline")
            .arg((opts.lease_duration.saturating_sub(1)).max(2).to_string())
            .arg("--retry-period")
            .arg("1")
            .arg("--log-format")
            .arg("json")
            .args(&opts.extra_args);
        if let Some(ns) = &opts.watch_namespace {
            cmd.arg("--watch-namespace").arg(ns);
        }
        let (child, log) = spawn_logged(&mut cmd, &opts.identity, "nexus-controller")?;
        Ok(Self {
            child,
            identity: opts.identity.clone(),
            metrics_port,
            webhook_port,
            log,
        })
    }

    /// URL of a webhook endpoint, e.g. `webhook_url("github", ns, name)`.
    pub fn webhook_url(&self, provider: &str, namespace: &str, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}/webhooks/{provider}/{namespace}/{name}",
            self.webhook_port
        )
    }

    /// The controller's Prometheus metrics.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        http_get(&url).await
    }

    /// Sum of a metric's samples (all label sets).
    pub async fn metric_sum(&self, name: &str) -> anyhow::Result<f64> {
        Ok(sum_metric(&self.metrics().await?, name))
    }

    pub async fn is_leader(&self) -> bool {
        self.metric_sum("nexus_leader")
            .await
            .map(|v| v >= 1.0)
            .unwrap_or(false)
    }

    /// SIGKILL: no lease release, no goodbye (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (bounded): a graceful stop.
    pub fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").arg("-TERM").arg(&pid).status()?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
        bail!(
            "controller {} did not stop within 20s of SIGTERM",
            self.identity
        )
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 30)
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Adds up every sample of a metric in Prometheus text format.
pub fn sum_metric(text: &str, name: &str) -> f64 {
    metric_value(text, name).unwrap_or(0.0)
}

/// Sum of a metric's samples in Prometheus text, or `None` when the metric is not exported.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    let samples: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum())
}

/// A minimal HTTP/1.1 GET over loopback (the controller's metrics endpoint is plain HTTP).
pub async fn http_get(url: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let req = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {url}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

/// Runs kubectl (from PATH) and returns (success, stdout, stderr).
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> anyhow::Result<(bool, String, String)> {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(
            "running kubectl (make test-e2e puts the one built by hack/build-k8s.sh on PATH)",
        )?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_labelled_and_plain_samples() {
        let text = "# HELP x\nnexus_status_writes_total{kind=\"A\"} 2\nnexus_status_writes_total{kind=\"B\"} 3\nnexus_status_writes_total_other 9\nnexus_leader 1\n";
        assert_eq!(sum_metric(text, "nexus_status_writes_total"), 5.0);
        assert_eq!(sum_metric(text, "nexus_leader"), 1.0);
    }
}

/// Catalog objects of every kind, read dynamically.
pub mod catalog {
    use kube::{
        Api, Client,
        api::{ApiResource, DynamicObject, GroupVersionKind, ListParams},
    };
    use nexus_api::EntityKind;

    /// The ApiResource of a catalog kind.
    pub fn resource(kind: EntityKind) -> ApiResource {
        let gvk = GroupVersionKind::gvk(
            nexus_api::CATALOG_GROUP,
            nexus_api::CATALOG_VERSION,
            kind.as_str(),
        );
        let plural = match kind {
            EntityKind::Api => "apis".to_string(),
            EntityKind::Repository => "repositories".to_string(),
            k => format!("{}s", k.as_str().to_ascii_lowercase()),
        };
        ApiResource::from_gvk_with_plural(&gvk, &plural)
    }

    pub fn api(client: &Client, kind: EntityKind, ns: Option<&str>) -> Api<DynamicObject> {
        let ar = resource(kind);
        match ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        }
    }

    /// `(status, reason, message)` of the Ready condition.
    pub fn ready(obj: &DynamicObject) -> Option<(String, String, String)> {
        let conds = obj.data.get("status")?.get("conditions")?.as_array()?;
        let c = conds
            .iter()
            .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))?;
        let s = |k: &str| {
            c.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Some((s("status"), s("reason"), s("message")))
    }

    /// Every catalog object in the given namespaces (all namespaces when empty), with its kind.
    pub async fn list_all(
        client: &Client,
        namespaces: &[String],
    ) -> anyhow::Result<Vec<(EntityKind, DynamicObject)>> {
        let mut out = Vec::new();
        for kind in EntityKind::ALL {
            if namespaces.is_empty() {
                for o in api(client, kind, None).list(&ListParams::default()).await? {
                    out.push((kind, o));
                }
            } else {
                for ns in namespaces {
                    for o in api(client, kind, Some(ns))
                        .list(&ListParams::default())
                        .await?
                    {
                        out.push((kind, o));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Names objects that are not Ready=True, with their Ready message.
    pub fn not_ready(objs: &[(EntityKind, DynamicObject)]) -> Vec<String> {
        objs.iter()
            .filter(|(_, o)| ready(o).map(|r| r.0 != "True").unwrap_or(true))
            .map(|(k, o)| {
                format!(
                    "{}:{}/{} ({:?})",
                    k.ref_name(),
                    o.metadata.namespace.clone().unwrap_or_default(),
                    o.metadata.name.clone().unwrap_or_default(),
                    ready(o)
                )
            })
            .collect()
    }
}
