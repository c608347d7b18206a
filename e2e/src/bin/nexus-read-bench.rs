//! `make bench-read`: the read path of nexus-apiserver under load. A synthetic org (users,
//! teams, systems, APIs, repositories, components, pipelines, Azure resources, incidents; ≈ 38 %
//! components) is loaded into the apiserver's cache, then each query shape — search (several
//! shapes), get, graph depth 2, impact analysis, team view, dashboard, and (in-process, where
//! the components carry scorecard results, DORA buckets and 30 days of snapshots) the insights
//! views — heatmap, rankings, distribution, trends, team and personal DORA — is driven over HTTPS at
//! concurrency 1, 64 and 1,000 with a bounded number of requests, and the live-update lag from
//! an apply to the SSE `change` event is measured. One JSON object per line on stdout
//! (`{"scenario", "entities", "concurrency", "requests", "p50_ms", "p99_ms", "rps", "rss_mib", …}`);
//! progress on stderr. Figures only; nothing here asserts a target.
//!
//! Two modes:
//! - `--in-process`: the cache is filled directly (objects with the status the controller would
//!   write), the portal router is served over TLS on 127.0.0.1 from this process, with an
//!   authoriser that allows everything. Measures the query path alone; the same queries are also
//!   called without HTTP (`"transport": "none"`) so the HTTP/TLS/auth overhead is visible.
//! - `--cluster` (needs `KUBECONFIG` of a local control plane): the org is applied with
//!   server-side apply, the controller writes statuses, then the real `nexus-apiserver serve
//!   --dev-auth` process is started and measured: start → /readyz, → index caught up, RSS, the
//!   query scenarios with real SubjectAccessReviews, and the live-update lag of ≥ 200 applies.
//!
//! ```text
//! nexus-read-bench [--in-process | --cluster] [--entities N] [--namespaces M]
//!     [--concurrency 1,64,1000] [--requests 2000,20000,20000] [--max-seconds S]
//!     [--scenario a,b] [--live-changes N] [--live-interval-ms MS] [--no-direct]
//!     [--apiserver-bin PATH] [--controller-bin PATH] [--timeout-seconds S] [--keep]
//! ```

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use nexus_api::{EntityKind, EntityRef};
use nexus_apiserver::{
    authn::{UserInfo, bearer::BearerAuth, dev::DevAuth},
    authz::{Authorizer, Visibility, visibility::VisibilityResolver},
    cache::Cache,
    http::{AppState, portal},
    metrics::Metrics,
    query::{dashboard, entity, graph, insights, search, team},
    tls::{CertReloader, serve, server_config},
};
use nexus_e2e::{
    apiserver::{ApiserverOptions, ApiserverProcess, SseStream},
    load::{self, Outcome, Request},
    repo_root,
    synthetic::{
        AREAS, Applied, CODENAMES, Item, Layout, Shape, Statuses, apply_one, apply_until_ready,
        bench_namespace, codename, create_namespaces, default_namespaces, delete_namespaces,
        generate_shape, round, rss_mib, run_id, start_leading_controller, user_email,
    },
};
use serde_json::{Value, json};

const WHO: &str = "nexus-read-bench";
/// The group every benchmark token carries; the cluster mode binds read access to it.
const BENCH_GROUP: &str = "nexus-read-bench";
/// Distinct signed-in users the requests rotate through (each has its own visibility and
/// dashboard).
const USERS: usize = 16;
/// Distinct requests per scenario (cycled).
const VARIANTS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    InProcess,
    Cluster,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::Cluster => "cluster",
        }
    }
}

struct Args {
    mode: Mode,
    entities: usize,
    namespaces: usize,
    concurrency: Vec<usize>,
    requests: Vec<usize>,
    max_time: Duration,
    scenarios: Vec<String>,
    live_changes: usize,
    live_interval: Duration,
    direct: bool,
    apiserver_bin: Option<PathBuf>,
    controller_bin: Option<PathBuf>,
    apply_concurrency: usize,
    timeout: Duration,
    keep: bool,
}

const USAGE: &str = "usage: nexus-read-bench [--in-process | --cluster] [--entities N] [--namespaces M] \
[--concurrency 1,64,1000] [--requests 2000,20000,20000] [--max-seconds S] [--scenario a,b] \
[--live-changes N] [--live-interval-ms MS] [--no-direct] [--apiserver-bin PATH] \
[--controller-bin PATH] [--apply-concurrency C] [--timeout-seconds S] [--keep]";

fn numbers(raw: &str, flag: &str) -> anyhow::Result<Vec<usize>> {
    raw.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .with_context(|| format!("{flag} takes numbers separated by commas"))
        })
        .collect()
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        mode: Mode::InProcess,
        entities: 100_000,
        namespaces: 0,
        concurrency: vec![1, 64, 1000],
        requests: vec![2_000, 20_000, 20_000],
        max_time: Duration::from_secs(10),
        scenarios: Vec::new(),
        live_changes: 300,
        live_interval: Duration::from_millis(50),
        direct: true,
        apiserver_bin: None,
        controller_bin: None,
        apply_concurrency: 32,
        timeout: Duration::from_secs(1800),
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--in-process" => a.mode = Mode::InProcess,
            "--cluster" => a.mode = Mode::Cluster,
            "--entities" => {
                a.entities = value("--entities")?
                    .parse()
                    .context("--entities must be a number")?
            }
            "--namespaces" => {
                a.namespaces = value("--namespaces")?
                    .parse()
                    .context("--namespaces must be a number")?
            }
            "--concurrency" => a.concurrency = numbers(&value("--concurrency")?, "--concurrency")?,
            "--requests" => a.requests = numbers(&value("--requests")?, "--requests")?,
            "--max-seconds" => {
                a.max_time = Duration::from_secs_f64(
                    value("--max-seconds")?
                        .parse()
                        .context("--max-seconds must be a number")?,
                )
            }
            "--scenario" => {
                a.scenarios = value("--scenario")?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "--live-changes" => {
                a.live_changes = value("--live-changes")?
                    .parse()
                    .context("--live-changes must be a number")?
            }
            "--live-interval-ms" => {
                a.live_interval = Duration::from_millis(
                    value("--live-interval-ms")?
                        .parse()
                        .context("--live-interval-ms must be a number")?,
                )
            }
            "--no-direct" => a.direct = false,
            "--apiserver-bin" => a.apiserver_bin = Some(value("--apiserver-bin")?.into()),
            "--controller-bin" => a.controller_bin = Some(value("--controller-bin")?.into()),
            "--apply-concurrency" => {
                a.apply_concurrency = value("--apply-concurrency")?
                    .parse()
                    .context("--apply-concurrency must be a number")?
            }
            "--timeout-seconds" => {
                a.timeout = Duration::from_secs(
                    value("--timeout-seconds")?
                        .parse()
                        .context("--timeout-seconds must be a number")?,
                )
            }
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if a.entities < 500 {
        bail!("--entities must be at least 500");
    }
    if a.concurrency.is_empty() || a.concurrency.contains(&0) {
        bail!("--concurrency needs levels of at least 1");
    }
    if a.requests.len() == 1 {
        a.requests = vec![a.requests[0]; a.concurrency.len()];
    }
    if a.requests.len() != a.concurrency.len() {
        bail!("--requests needs one number, or one per --concurrency level");
    }
    if a.namespaces == 0 {
        a.namespaces = default_namespaces(a.entities);
    }
    Ok(a)
}

fn emit(v: Value) {
    println!("{v}");
}

fn progress(msg: impl std::fmt::Display) {
    eprintln!("{WHO}: {msg}");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// What one request asks.
#[derive(Clone, Debug)]
enum Query {
    Search(Vec<(&'static str, String)>),
    Get(EntityRef),
    Graph(EntityRef),
    Impact(EntityRef),
    Team(EntityRef),
    Dashboard,
    /// `/api/v1/insights/<view>?<params>`.
    Insight(&'static str, Vec<(&'static str, String)>),
}

#[derive(Clone, Debug)]
struct Variant {
    query: Query,
    user: usize,
}

struct Scenario {
    name: &'static str,
    variants: Vec<Variant>,
}

fn entity_path(id: &EntityRef) -> String {
    format!(
        "/api/v1/entities/{}/{}/{}",
        id.kind.ref_name(),
        id.namespace,
        id.name
    )
}

impl Query {
    fn path(&self) -> String {
        match self {
            Query::Search(pairs) => format!(
                "/api/v1/search?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            ),
            Query::Get(id) => entity_path(id),
            Query::Graph(id) => format!("{}/graph?depth=2", entity_path(id)),
            Query::Impact(id) => format!("{}/impact", entity_path(id)),
            Query::Team(id) => format!("/api/v1/teams/{}/{}", id.namespace, id.name),
            Query::Dashboard => "/api/v1/me/dashboard".into(),
            Query::Insight(view, pairs) => format!(
                "/api/v1/insights/{view}?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            ),
        }
    }
}

/// The org's users the requests are sent as: (namespace index, user index).
fn bench_users(l: &Layout) -> Vec<(usize, usize)> {
    (0..USERS.min(l.namespaces * l.users))
        .map(|k| (k % l.namespaces, (k / l.namespaces) % l.users))
        .collect()
}

/// A typo: the second vowel of a code name replaced by the next vowel.
fn typo(word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if let Some(c) = chars.get_mut(3) {
        *c = match *c {
            'a' => 'e',
            'e' => 'i',
            'i' => 'o',
            'o' => 'u',
            _ => 'a',
        };
    }
    chars.into_iter().collect()
}

/// Builds the i-th request of a scenario.
type MakeQuery<'a> = Box<dyn Fn(usize) -> Query + 'a>;

fn scenarios(l: &Layout, run: &str, users: usize, insights: bool) -> Vec<Scenario> {
    let ns = |i: usize| bench_namespace(run, (i * 37) % l.namespaces);
    let comp = |i: usize| {
        EntityRef::new(
            EntityKind::Component,
            ns(i),
            format!("comp-{}", (i * 53 + 1) % l.components),
        )
    };
    let code = |i: usize| codename((i * 97) % CODENAMES.min(l.all_components()));
    let area = |i: usize| AREAS[i % AREAS.len()];
    let s = |pairs: &[(&'static str, String)]| Query::Search(pairs.to_vec());
    let team_ref = move |i: usize| format!("team:{}/team-{}", ns(i), i % 2);
    let scorecard = |i: usize| format!("nexus-org/{}", SCORECARDS[i % SCORECARDS.len()]);
    let mut shapes: Vec<(&'static str, MakeQuery<'_>)> = vec![
        (
            "search-distinctive",
            Box::new(move |i| s(&[("q", code(i))])),
        ),
        (
            "search-common",
            Box::new(move |_| s(&[("q", "service".into())])),
        ),
        (
            "search-typo",
            Box::new(move |i| s(&[("q", typo(&code(i)))])),
        ),
        (
            "search-prefix",
            Box::new(move |i| s(&[("q", area(i)[..4].to_string())])),
        ),
        (
            "search-browse",
            Box::new(move |_| s(&[("kind", "component".into()), ("sort", "name".into())])),
        ),
        (
            "search-filtered",
            Box::new(move |i| {
                s(&[
                    ("q", area(i).into()),
                    ("kind", "component".into()),
                    ("owner", format!("team:{}/team-{}", ns(i), i % 2)),
                ])
            }),
        ),
        (
            "search-typeahead",
            Box::new(move |i| {
                s(&[
                    ("q", code(i)[..4].to_string()),
                    ("facets", "false".into()),
                    ("limit", "8".into()),
                ])
            }),
        ),
        ("get", Box::new(move |i| Query::Get(comp(i)))),
        ("graph-depth2", Box::new(move |i| Query::Graph(comp(i)))),
        (
            "impact-component",
            Box::new(move |i| Query::Impact(comp(i))),
        ),
        (
            "impact-incident",
            Box::new(move |i| {
                Query::Impact(EntityRef::new(
                    EntityKind::Incident,
                    ns(i),
                    format!("inc-{}", i % l.incidents.max(1)),
                ))
            }),
        ),
        ("dashboard", Box::new(|_| Query::Dashboard)),
        (
            "team",
            Box::new(move |i| {
                Query::Team(EntityRef::new(
                    EntityKind::Team,
                    ns(i),
                    format!("team-{}", i % 2),
                ))
            }),
        ),
    ];
    if insights {
        let insight_shapes: Vec<(&'static str, MakeQuery<'_>)> = vec![
            (
                "insights-heatmap",
                Box::new(|_| Query::Insight("heatmap", Vec::new())),
            ),
            (
                "insights-rankings",
                Box::new(move |i| Query::Insight("rankings", vec![("scorecard", scorecard(i))])),
            ),
            (
                "insights-distribution",
                Box::new(move |i| {
                    Query::Insight("distribution", vec![("scorecard", scorecard(i))])
                }),
            ),
            (
                "insights-trends",
                Box::new(move |i| {
                    Query::Insight(
                        "trends",
                        vec![
                            ("scorecard", scorecard(i)),
                            ("team", team_ref(i)),
                            ("days", SNAPSHOT_DAYS.to_string()),
                        ],
                    )
                }),
            ),
            (
                "dora-team",
                Box::new(move |i| {
                    Query::Insight(
                        "dora",
                        vec![
                            ("scope", "team".into()),
                            ("name", team_ref(i)),
                            ("window", "quarter".into()),
                            ("end", INSIGHTS_END.into()),
                        ],
                    )
                }),
            ),
            (
                "dora-person",
                Box::new(move |i| {
                    Query::Insight(
                        "dora",
                        vec![
                            ("scope", "person".into()),
                            ("name", format!("dev-{}", i % PEOPLE)),
                            ("window", "month".into()),
                            ("end", INSIGHTS_END.into()),
                        ],
                    )
                }),
            ),
            (
                "dora-trend-team",
                Box::new(move |i| {
                    Query::Insight(
                        "dora-trend",
                        vec![
                            ("scope", "team".into()),
                            ("name", team_ref(i)),
                            ("weeks", "12".into()),
                            ("end", INSIGHTS_END.into()),
                        ],
                    )
                }),
            ),
        ];
        shapes.extend(insight_shapes);
    }
    shapes
        .into_iter()
        .map(|(name, make)| Scenario {
            name,
            variants: (0..VARIANTS)
                .map(|i| Variant {
                    query: make(i),
                    user: i % users.max(1),
                })
                .collect(),
        })
        .collect()
}

fn selected(filter: &[String], name: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()))
}

/// A few numbers that say how much work an answer represents.
fn describe(answer: &Value) -> Value {
    let len = |v: &Value| v.as_array().map_or(0, Vec::len);
    if let Some(total) = answer.get("total") {
        json!({"total": total, "items": len(&answer["items"])})
    } else if answer.get("downstream").is_some() {
        json!({"affected": len(&answer["affected"]), "downstream": len(&answer["downstream"]),
            "upstream": len(&answer["upstream"]), "owners": len(&answer["owners"]),
            "openIncidents": len(&answer["openIncidents"]), "truncated": answer["truncated"]})
    } else if answer.get("nodes").is_some() {
        json!({"nodes": len(&answer["nodes"]), "edges": len(&answer["edges"]), "truncated": answer["truncated"]})
    } else if answer.get("myServices").is_some() {
        json!({"teams": len(&answer["teams"]), "services": answer["myServices"]["total"],
            "alerts": answer["myAlerts"]["total"]})
    } else if let Some(owned) = answer.get("owned").and_then(Value::as_object) {
        let n: u64 = owned.values().filter_map(|g| g["count"].as_u64()).sum();
        json!({"members": len(&answer["members"]), "owned": n, "openIncidents": len(&answer["openIncidents"])})
    } else if let Some(rels) = answer.get("relations").and_then(Value::as_object) {
        json!({"relations": rels.values().map(len).sum::<usize>()})
    } else if answer.get("scorecards").is_some() {
        json!({"teams": len(&answer["teams"]), "scorecards": len(&answer["scorecards"])})
    } else if answer.get("bins").is_some() {
        json!({"entities": answer["entities"], "averageScore": answer["averageScore"]})
    } else if answer.get("teams").is_some() {
        json!({"teams": len(&answer["teams"])})
    } else if let Some(m) = answer.get("metrics") {
        json!({"services": answer["services"], "deployments": m["deployments"]})
    } else if answer.get("points").is_some() {
        json!({"services": answer["services"], "points": len(&answer["points"])})
    } else {
        Value::Null
    }
}

fn summary(
    mut out: Outcome,
    scenario: &str,
    mode: Mode,
    transport: &str,
    entities: usize,
    concurrency: usize,
    rss: Option<f64>,
) -> Value {
    let (p50, p99) = (out.percentile(0.5), out.percentile(0.99));
    let mut v = json!({
        "scenario": scenario, "mode": mode.as_str(), "transport": transport,
        "entities": entities, "concurrency": concurrency, "requests": out.requests(),
        "errors": out.errors, "p50_ms": round(p50), "p99_ms": round(p99),
        "max_ms": round(out.max()), "mean_ms": round(out.mean()), "rps": round(out.rps()),
        "rss_mib": rss.map(round), "mean_bytes": out.mean_bytes().round(),
    });
    if let Some(e) = out.first_error {
        v["first_error"] = json!(e.chars().take(400).collect::<String>());
    }
    v
}

// ---------------------------------------------------------------------------------------------
// HTTP side, shared by both modes

/// The in-process mode's measurement of a scenario without HTTP.
type Direct<'a> = &'a mut dyn FnMut(&Scenario) -> Option<Value>;

/// What the HTTP scenarios need to reach a portal face.
struct Target {
    client: reqwest::Client,
    base: String,
    tokens: Arc<Vec<String>>,
    mode: Mode,
    /// The process whose RSS is reported.
    pid: u32,
    /// CPU time (clock ticks) the server has used so far.
    server_cpu: Arc<dyn Fn() -> Option<u64> + Send + Sync>,
    /// The server's /metrics (cluster mode), for SubjectAccessReview counts.
    metrics_url: Option<String>,
}

/// utime + stime of /proc/<path>/stat, in clock ticks.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // After the comm: state is field 3, utime 14 and stime 15 (1-based, whole line).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU ticks of a whole process.
fn process_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&format!("/proc/{pid}/stat")).map(|(_, t)| t)
}

/// CPU ticks of this process's threads named `name` (the in-process portal runtime).
fn thread_ticks(name: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        if let Some((comm, ticks)) = stat_ticks(&format!("{}/stat", task.path().display()))
            && comm == name
        {
            total += ticks;
        }
    }
    Some(total)
}

/// (busy, total) clock ticks of the whole machine, from /proc/stat.
fn host_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let values: Vec<u64> = text
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// Server CPU ticks and host (busy, total) ticks when a run's clock started.
type Snapshot = Option<(Option<u64>, Option<(u64, u64)>)>;

/// Clock ticks per second (USER_HZ; 100 on Linux x86-64).
const TICKS_PER_SECOND: f64 = 100.0;

/// SubjectAccessReviews the apiserver sent (every result but `cached`).
fn reviews_sent(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("nexus_apiserver_subjectaccessreviews_total{"))
        .filter(|l| !l.contains("result=\"cached\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn https_client(ca_pem: &[u8]) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem)?)
        .tls_built_in_root_certs(false)
        .no_proxy()
        .connect_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(300))
        .pool_idle_timeout(Duration::from_secs(300))
        .build()?)
}

impl Target {
    async fn get_json(&self, path: &str, token: usize) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.tokens[token % self.tokens.len()])
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("GET {path}: HTTP {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Each scenario at each concurrency level, after one checked request per scenario.
    async fn run_scenarios(
        &self,
        args: &Args,
        list: &[Scenario],
        entities: &dyn Fn() -> usize,
        mut direct: Option<Direct<'_>>,
    ) -> anyhow::Result<()> {
        for scenario in list.iter().filter(|s| selected(&args.scenarios, s.name)) {
            let first = &scenario.variants[0];
            let answer = self
                .get_json(&first.query.path(), first.user)
                .await
                .with_context(|| format!("scenario {}", scenario.name))?;
            let answer = describe(&answer);
            progress(format!("{}: {}", scenario.name, answer));
            if let Some(direct) = direct.as_deref_mut()
                && let Some(mut line) = direct(scenario)
            {
                line["answer"] = answer.clone();
                emit(line);
            }
            let requests: Arc<Vec<Request>> = Arc::new(
                scenario
                    .variants
                    .iter()
                    .map(|v| Request {
                        path: v.query.path(),
                        token: v.user,
                    })
                    .collect(),
            );
            for (&concurrency, &max) in args.concurrency.iter().zip(&args.requests) {
                let before: Arc<Mutex<Snapshot>> = Arc::default();
                let reviews_before = match &self.metrics_url {
                    Some(url) => nexus_e2e::http_get(url)
                        .await
                        .ok()
                        .map(|m| reviews_sent(&m)),
                    None => None,
                };
                let (snapshot, server_cpu) = (before.clone(), self.server_cpu.clone());
                let on_start: load::OnStart = Arc::new(move || {
                    *snapshot.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((server_cpu(), host_ticks()));
                });
                let out = load::http(
                    &self.client,
                    &self.base,
                    "/api/v1/me",
                    requests.clone(),
                    self.tokens.clone(),
                    concurrency,
                    max,
                    args.max_time,
                    on_start,
                )
                .await;
                let (cpu_after, host_after) = ((self.server_cpu)(), host_ticks());
                let done = out.requests().max(1) as f64;
                let start = *before.lock().unwrap_or_else(|p| p.into_inner());
                let (server_ms, host_busy) = match start {
                    Some((cpu_before, host_before)) => (
                        cpu_before.zip(cpu_after).map(|(b, a)| {
                            a.saturating_sub(b) as f64 * 1000.0 / TICKS_PER_SECOND / done
                        }),
                        host_before.zip(host_after).map(
                            |((b_busy, b_total), (a_busy, a_total))| {
                                100.0 * a_busy.saturating_sub(b_busy) as f64
                                    / a_total.saturating_sub(b_total).max(1) as f64
                            },
                        ),
                    ),
                    None => (None, None),
                };
                let reviews = match (&self.metrics_url, reviews_before) {
                    (Some(url), Some(b)) => nexus_e2e::http_get(url)
                        .await
                        .ok()
                        .map(|m| reviews_sent(&m) - b),
                    _ => None,
                };
                let mut line = summary(
                    out,
                    scenario.name,
                    self.mode,
                    "https",
                    entities(),
                    concurrency,
                    rss_mib(self.pid, "VmRSS:"),
                );
                line["answer"] = answer.clone();
                line["server_cpu_ms_per_request"] =
                    json!(server_ms.map(|v| (v * 1000.0).round() / 1000.0));
                line["host_cpu_busy_pct"] = json!(host_busy.map(round));
                if let Some(reviews) = reviews {
                    line["subject_access_reviews"] = json!(reviews);
                }
                progress(format!(
                    "{} c={concurrency}: p50 {} ms, p99 {} ms, {} rps",
                    scenario.name, line["p50_ms"], line["p99_ms"], line["rps"]
                ));
                emit(line);
            }
        }
        Ok(())
    }

    /// Opens the live-update stream and waits for its `ready` event.
    async fn stream(&self, query: &str) -> anyhow::Result<SseStream> {
        let response = self
            .client
            .get(format!("{}/api/v1/stream?{query}", self.base))
            .bearer_auth(&self.tokens[0])
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("GET /api/v1/stream: HTTP {}", response.status());
        }
        let mut stream = SseStream::new(response);
        match stream.next_event(Duration::from_secs(30)).await? {
            Some(e) if e.event == "ready" => Ok(stream),
            other => bail!("the stream did not start with a ready event: {other:?}"),
        }
    }
}

/// Sent changes awaiting their event: (ref, description) → when the write started.
type Pending = Arc<Mutex<HashMap<(String, String), Instant>>>;

/// Lags (ms) of matched changes, and `resync` events seen.
#[derive(Default)]
struct Lags {
    ms: Vec<f64>,
    resyncs: usize,
}

/// Reads `change` events and turns the ones in `pending` into lags; runs until aborted.
fn spawn_lag_reader(
    mut stream: SseStream,
    pending: Pending,
    lags: Arc<Mutex<Lags>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let event = match stream.next_event(Duration::from_secs(3600)).await {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(error) => {
                    progress(format!("live-update stream: {error:#}"));
                    break;
                }
            };
            let at = Instant::now();
            // Keep the reader's memory flat.
            stream.seen.clear();
            if event.event == "resync" {
                lags.lock().unwrap_or_else(|p| p.into_inner()).resyncs += 1;
                continue;
            }
            if event.event != "change" {
                continue;
            }
            let data = event.json();
            let key = (
                data["ref"].as_str().unwrap_or_default().to_string(),
                data["entity"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            let sent = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            if let Some(sent) = sent {
                lags.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .ms
                    .push(at.duration_since(sent).as_secs_f64() * 1000.0);
            }
        }
    })
}

/// Waits (bounded) until every change has been seen, then reports the lags.
#[allow(clippy::too_many_arguments)]
async fn finish_lag(
    pending: &Pending,
    reader: tokio::task::JoinHandle<()>,
    lags: &Mutex<Lags>,
    sent: usize,
    mode: Mode,
    entities: usize,
    rss: Option<f64>,
    path: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !pending.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reader.abort();
    let _ = reader.await;
    let missed = pending.lock().unwrap_or_else(|p| p.into_inner()).len();
    let lags = std::mem::take(&mut *lags.lock().unwrap_or_else(|p| p.into_inner()));
    let out = Outcome {
        latencies_ms: lags.ms,
        ..Default::default()
    };
    let mut line = summary(out, "live-lag", mode, "sse", entities, 1, rss);
    line["changes"] = json!(sent);
    line["missed"] = json!(missed);
    line["resyncs"] = json!(lags.resyncs);
    line["path"] = json!(path);
    if let Some(o) = line.as_object_mut() {
        for k in ["rps", "mean_bytes", "errors"] {
            o.remove(k);
        }
    }
    progress(format!(
        "live-lag: p50 {} ms, p99 {} ms over {} changes ({missed} missed)",
        line["p50_ms"], line["p99_ms"], line["requests"]
    ));
    emit(line);
}

/// The components the live-update measurement changes, one per step.
fn live_item(phases: &[Vec<Item>], l: &Layout, run: &str, j: usize) -> Option<Item> {
    let ns = bench_namespace(run, j % l.namespaces);
    let name = format!("comp-{}", (j * 7 + 3) % l.components);
    phases
        .iter()
        .flatten()
        .find(|it| it.kind == EntityKind::Component && it.ns == ns && it.name == name)
        .cloned()
}

// ---------------------------------------------------------------------------------------------
// In-process mode

struct Pki {
    cert: PathBuf,
    key: PathBuf,
    ca_pem: String,
}

/// A CA and a serving certificate for 127.0.0.1/localhost, written to `dir`.
fn generate_pki(dir: &Path) -> anyhow::Result<Pki> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    };
    let name = |cn: &str| {
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, cn);
        name
    };
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("nexus-read-bench-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])?;
    params.distinguished_name = name("nexus-apiserver");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    std::fs::create_dir_all(dir)?;
    let pki = Pki {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        ca_pem: ca.pem(),
    };
    std::fs::write(&pki.cert, cert.pem())?;
    std::fs::write(&pki.key, key.serialize_pem())?;
    Ok(pki)
}

/// Runs the portal face on its own runtime (two workers, like the real process on this
/// machine), so blocking query handlers never stall the load generator's timers.
fn start_portal(
    state: Arc<AppState>,
    certs: Arc<CertReloader>,
) -> anyhow::Result<(std::net::SocketAddr, tokio_util::sync::CancellationToken)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let stop = cancel.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("portal")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("portal-runtime".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        serve(
                            listener,
                            server_config(certs, None),
                            portal::router(state),
                            stop,
                        )
                        .await
                    }
                    Err(error) => eprintln!("{WHO}: portal listener: {error}"),
                }
            })
        })?;
    Ok((addr, cancel))
}

fn search_params(pairs: &[(&'static str, String)]) -> search::SearchParams {
    let mut p = search::SearchParams::default();
    for (k, v) in pairs {
        assert!(p.set(k, v.as_str()), "{k} is not a search parameter");
    }
    p
}

/// One query without HTTP: (query time, serialised answer size). JSON serialisation is what
/// the handler does next, so the caller times it too.
fn call_direct(
    cache: &Cache,
    vis: &Visibility,
    users: &[UserInfo],
    v: &Variant,
) -> anyhow::Result<(Duration, usize)> {
    fn timed<T: serde::Serialize>(
        start: Instant,
        answer: Result<T, nexus_apiserver::query::QueryError>,
    ) -> anyhow::Result<(Duration, usize)> {
        let answer = answer?;
        let query = start.elapsed();
        Ok((query, serde_json::to_vec(&answer)?.len()))
    }
    let start = Instant::now();
    match &v.query {
        Query::Search(pairs) => {
            let s = search_params(pairs).validate()?;
            timed(start, search::run(cache, vis, &s))
        }
        Query::Get(id) => timed(start, entity::get(cache, vis, id)),
        Query::Graph(id) => {
            let params = graph::parse_params(Some("2"), None)?;
            timed(start, graph::neighbourhood(cache, vis, id, &params))
        }
        Query::Impact(id) => timed(start, graph::impact(cache, vis, id)),
        Query::Team(id) => timed(start, team::view(cache, vis, id)),
        Query::Dashboard => timed(
            start,
            Ok(dashboard::build(cache, vis, &users[v.user % users.len()])),
        ),
        Query::Insight(view, pairs) => {
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.as_str())
            };
            let end = insights::parse_date(get("end"), "end", insights::today())?;
            let answer = match *view {
                "heatmap" => serde_json::to_value(insights::heatmap(cache, vis))?,
                "rankings" => serde_json::to_value(insights::rankings(
                    cache,
                    vis,
                    get("scorecard").unwrap_or_default(),
                )?)?,
                "distribution" => serde_json::to_value(insights::distribution(
                    cache,
                    vis,
                    get("scorecard").unwrap_or_default(),
                    get("team"),
                )?)?,
                "trends" => serde_json::to_value(insights::trends(
                    cache,
                    vis,
                    get("scorecard").unwrap_or_default(),
                    get("team"),
                    SNAPSHOT_DAYS,
                    insights_end(),
                )?)?,
                "dora" => serde_json::to_value(insights::dora(
                    cache,
                    vis,
                    insights::DoraScope::parse(get("scope"))?,
                    get("name"),
                    insights::parse_window(get("window"))?,
                    end,
                )?)?,
                "dora-trend" => serde_json::to_value(insights::dora_trend(
                    cache,
                    vis,
                    insights::DoraScope::parse(get("scope"))?,
                    get("name"),
                    12,
                    end,
                )?)?,
                other => bail!("no insights view {other}"),
            };
            timed(start, Ok(answer))
        }
    }
}

/// Scorecards every component has a result for (in-process mode).
const SCORECARDS: [&str; 5] = [
    "production-readiness",
    "security-posture",
    "cost-optimization",
    "devops-maturity",
    "compliance",
];
/// Days of snapshots loaded, each day a snapshot per scorecard of every component.
const SNAPSHOT_DAYS: i32 = 30;
/// People deploying (raw logins `dev-<n>`).
const PEOPLE: usize = 50;
/// The last day of the synthetic DORA and snapshot history.
const INSIGHTS_END: &str = "2026-11-25";

fn insights_end() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 25)
}

/// A component as the scorecard and DORA controllers would leave it: a result per scorecard
/// (scores spread over 0–100, the level from the score) and DORA buckets on 40 days of the last
/// quarter, credited to its owning team and to one of the people.
fn with_insights(mut object: Value, n: usize) -> Value {
    if object["kind"] != "Component" {
        return object;
    }
    let levels = ["Bronze", "Silver", "Gold"];
    let results: Vec<Value> = SCORECARDS
        .iter()
        .enumerate()
        .map(|(k, sc)| {
            let score = (n * 37 + k * 53) % 101;
            json!({"scorecard": format!("nexus-org/{sc}"), "score": score,
                "level": (score >= 40).then(|| levels[(score - 40) / 21]),
                "passed": score >= 60, "rulesPassed": 1, "rulesTotal": 2,
                "evaluatedAt": "2026-11-25T08:00:00Z"})
        })
        .collect();
    object["status"]["scorecards"] = json!(results);
    let team = object["status"]["owner"]["ref"].clone();
    let end = insights_end();
    let mut dates: Vec<String> = (0..40)
        .filter_map(|d| {
            end.checked_sub(jiff::Span::new().days(((n + d * 7) % 90) as i64))
                .ok()
                .map(|x| x.to_string())
        })
        .collect();
    dates.sort();
    dates.dedup();
    let days: Vec<Value> = dates
        .iter()
        .enumerate()
        .map(|(d, date)| {
            let failed = (n + d).is_multiple_of(7);
            json!({"date": date, "team": team, "person": format!("dev-{}", (n + d) % PEOPLE),
                "deployments": 1 + (n + d) % 3, "failedDeployments": u32::from(failed),
                "incidents": u32::from(failed),
                "leadTimes": [3_600 * (1 + (n + d) % 30), 7_200 * (1 + (n + d) % 11)],
                "recoveries": if failed { json!([1_800 * (1 + d % 5)]) } else { json!([]) }})
        })
        .collect();
    object["status"]["dora"] = json!({"days": days});
    object
}

/// The daily snapshots of the last [`SNAPSHOT_DAYS`] days: every component on every scorecard,
/// its score drifting by day.
fn load_snapshots(cache: &Cache, components: &[EntityRef]) {
    let mut store = cache.write_scorecards();
    for sc in SCORECARDS {
        store.apply_scorecard(&json!({"metadata": {"name": sc, "namespace": "nexus-org"},
            "spec": {"title": sc, "levels": ["Bronze", "Silver", "Gold"]}}));
        for day in 0..SNAPSHOT_DAYS {
            let Ok(date) = insights_end().checked_sub(jiff::Span::new().days(i64::from(day)))
            else {
                continue;
            };
            let entities: serde_json::Map<String, Value> = components
                .iter()
                .enumerate()
                .map(|(n, id)| {
                    let score = (n * 31 + day as usize * 3) % 101;
                    let level = if score < 40 {
                        -1
                    } else {
                        ((score - 40) / 21) as i64
                    };
                    (id.to_string(), json!([score, level]))
                })
                .collect();
            store.apply_snapshot(
                &json!({"metadata": {"name": format!("{sc}-{date}-0"), "namespace": "nexus-org"},
                    "spec": {"scorecard": sc, "date": date.to_string(), "levels": ["Bronze", "Silver", "Gold"],
                        "entities": entities}}),
                insights_end(),
            );
        }
    }
}

/// The direct (no HTTP) measurement of one scenario at concurrency 1: latency = query +
/// serialisation, with the query alone (and, for searches, the index lookup alone) beside it.
fn direct_scenario(args: &Args, cache: &Cache, users: &[UserInfo], scenario: &Scenario) -> Value {
    let vis = Visibility::everything();
    let max = args.requests.first().copied().unwrap_or(2000);
    let mut query_ms = Vec::new();
    let out = load::direct(max, args.max_time, |i| {
        let v = &scenario.variants[i % scenario.variants.len()];
        let (q, bytes) = call_direct(cache, &vis, users, v)?;
        query_ms.push(q.as_secs_f64() * 1000.0);
        Ok(bytes)
    });
    let entities = cache.read().len();
    let mut line = summary(
        out,
        scenario.name,
        Mode::InProcess,
        "none",
        entities,
        1,
        rss_mib(std::process::id(), "VmRSS:"),
    );
    let mut q = Outcome {
        latencies_ms: query_ms,
        ..Default::default()
    };
    line["query_p50_ms"] = json!(round(q.percentile(0.5)));
    line["query_p99_ms"] = json!(round(q.percentile(0.99)));
    if let Query::Search(_) = scenario.variants[0].query {
        let mut hits = 0usize;
        let index = load::direct(max, args.max_time, |i| {
            let Query::Search(pairs) = &scenario.variants[i % scenario.variants.len()].query else {
                return Ok(0);
            };
            let text = pairs
                .iter()
                .find(|(k, _)| *k == "q")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            let n = cache.index.search(text)?.map_or(entities, |h| h.len());
            hits += n;
            Ok(n)
        });
        let calls = index.requests().max(1);
        let mut index = index;
        line["index_p50_ms"] = json!(round(index.percentile(0.5)));
        line["index_p99_ms"] = json!(round(index.percentile(0.99)));
        line["index_hits_mean"] = json!(hits / calls);
    }
    progress(format!(
        "{} direct: p50 {} ms (query {} ms), p99 {} ms",
        scenario.name, line["p50_ms"], line["query_p50_ms"], line["p99_ms"]
    ));
    line
}

async fn in_process(args: &Args) -> anyhow::Result<()> {
    let run = "local";
    let l = Layout::new(args.entities, args.namespaces, Shape::READ);
    let started = Instant::now();
    let phases = generate_shape(args.entities, args.namespaces, run, Shape::READ);
    let mut statuses = Statuses::resolve(&phases, run)?;
    let generate_secs = started.elapsed().as_secs_f64();
    progress(format!(
        "generated {} entities in {} namespaces ({generate_secs:.1}s); loading the cache",
        l.total(),
        l.namespaces
    ));

    let metrics = Arc::new(Metrics::new());
    let (cache, indexer) = Cache::new(Duration::from_millis(100), metrics.clone())?;
    std::thread::Builder::new()
        .name("search-index".into())
        .spawn(move || indexer.run())?;
    let load_start = Instant::now();
    let mut components_seen = 0usize;
    // As the watches' initial list does: page by page (500 objects), then drop what the list
    // did not have.
    for phase in &phases {
        let Some(kind) = phase.first().map(|it| it.kind) else {
            continue;
        };
        let mut seen = std::collections::HashSet::new();
        for page in phase.chunks(500) {
            let objects: Vec<Value> = page
                .iter()
                .enumerate()
                .map(|(n, it)| with_insights(statuses.object(it, run), n + components_seen))
                .collect();
            components_seen += page.len();
            seen.extend(cache.apply_page(kind, objects));
        }
        cache.retain_kind(kind, &seen);
    }
    for kind in EntityKind::ALL {
        cache.sync.listed(kind);
    }
    let components: Vec<EntityRef> = cache.read().ids_of_kind(EntityKind::Component);
    load_snapshots(&cache, &components);
    let apply_secs = load_start.elapsed().as_secs_f64();
    while cache.index.pending() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let indexed_secs = load_start.elapsed().as_secs_f64();
    let entities = cache.read().len();
    let approx = cache.read().approx_bytes() as f64 / (1024.0 * 1024.0);
    emit(json!({
        "metric": "load", "mode": "in-process", "entities": entities, "namespaces": l.namespaces,
        "generate_seconds": round(generate_secs), "apply_seconds": round(apply_secs),
        "indexed_seconds": round(indexed_secs),
        "cache_approx_mib": round(approx),
        "rss_mib": rss_mib(std::process::id(), "VmRSS:").map(round),
        "note": "rss_mib is this whole process: cache + index + load generator",
    }));

    let dir = repo_root()
        .join("target")
        .join("read-bench")
        .join(format!("in-process-{}", std::process::id()));
    let pki = generate_pki(&dir)?;
    let certs = CertReloader::load(pki.cert.clone(), pki.key.clone())?;
    let dev = DevAuth::load_or_create(&dir.join("dev-key.pem"))?;
    let bench_users = bench_users(&l);
    let users: Vec<UserInfo> = bench_users
        .iter()
        .map(|(n, u)| UserInfo {
            username: user_email(&bench_namespace(run, *n), *u),
            groups: vec![BENCH_GROUP.into()],
            ..Default::default()
        })
        .collect();
    let tokens: Vec<String> = users
        .iter()
        .map(|u| dev.mint(&u.username, &u.groups, Duration::from_secs(8 * 3600)))
        .collect::<Result<_, _>>()?;
    let ttl = Duration::from_secs(10);
    let state = Arc::new(AppState {
        cache: cache.clone(),
        resolver: Arc::new(VisibilityResolver::new(
            Arc::new(Authorizer::fixed(true, metrics.clone())),
            ttl,
        )),
        metrics: metrics.clone(),
        front_proxy: None,
        bearer: Some(Arc::new(BearerAuth::Dev(dev))),
        sse_keepalive: Duration::from_secs(15),
        actions: Default::default(),
    });
    let (addr, cancel) = start_portal(state, certs)?;
    let target = Target {
        client: https_client(pki.ca_pem.as_bytes())?,
        base: format!("https://{addr}"),
        tokens: Arc::new(tokens),
        mode: Mode::InProcess,
        pid: std::process::id(),
        server_cpu: Arc::new(|| thread_ticks("portal")),
        metrics_url: None,
    };
    let list = scenarios(&l, run, users.len(), true);
    let count_cache = cache.clone();
    let entities_now = move || count_cache.read().len();
    if args.direct {
        // On a thread of its own, like the portal's workers: the loading thread's allocator
        // arena holds the load's garbage and would slow the query's allocations.
        let mut direct = |s: &Scenario| {
            std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("direct".into())
                    .spawn_scoped(scope, || direct_scenario(args, &cache, &users, s))
                    .ok()?
                    .join()
                    .ok()
            })
        };
        target
            .run_scenarios(args, &list, &entities_now, Some(&mut direct))
            .await?;
    } else {
        target
            .run_scenarios(args, &list, &entities_now, None)
            .await?;
    }

    if selected(&args.scenarios, "live-lag") && args.live_changes > 0 {
        progress(format!(
            "live-lag: {} changes applied to the cache, one every {:?}",
            args.live_changes, args.live_interval
        ));
        let stream = target.stream("kind=component").await?;
        let pending: Pending = Arc::default();
        let lags: Arc<Mutex<Lags>> = Arc::default();
        let reader = spawn_lag_reader(stream, pending.clone(), lags.clone());
        let mut sent = 0;
        let mut tick = tokio::time::interval(args.live_interval);
        for j in 0..args.live_changes {
            tick.tick().await;
            let Some(mut it) = live_item(&phases, &l, run, j) else {
                continue;
            };
            let description = format!("live change {j} of run {run}");
            it.spec["description"] = json!(description);
            let object = statuses.object(&it, run);
            pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((it.id().to_string(), description), Instant::now());
            cache.apply(it.kind, object);
            sent += 1;
        }
        let entities = cache.read().len();
        finish_lag(
            &pending,
            reader,
            &lags,
            sent,
            Mode::InProcess,
            entities,
            rss_mib(std::process::id(), "VmRSS:"),
            "cache.apply → SSE event (no kube-apiserver)",
        )
        .await;
    }
    emit(
        json!({"metric": "end", "mode": "in-process", "entities": cache.read().len(),
        "cache_approx_mib": round(cache.read().approx_bytes() as f64 / (1024.0 * 1024.0)),
        "rss_mib": rss_mib(std::process::id(), "VmRSS:").map(round),
        "peak_rss_mib": rss_mib(std::process::id(), "VmHWM:").map(round)}),
    );
    cancel.cancel();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cluster mode

/// Read access for the benchmark's group: the catalog (what visibility asks) and the portal
/// resources (what each face checks).
async fn grant_read(client: &Client) -> anyhow::Result<()> {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let pp = PatchParams::apply(WHO).force();
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .patch(
            WHO,
            &pp,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": WHO},
                "rules": [
                    {"apiGroups": ["catalog.nexus.dev"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["portal.nexus.dev"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                ],
            })),
        )
        .await?;
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    bindings
        .patch(
            WHO,
            &pp,
            &Patch::Apply(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": WHO},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": WHO},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": BENCH_GROUP}],
            })),
        )
        .await?;
    Ok(())
}

async fn revoke_read(client: &Client) {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let dp = kube::api::DeleteParams::default();
    let _ = Api::<ClusterRoleBinding>::all(client.clone())
        .delete(WHO, &dp)
        .await;
    let _ = Api::<ClusterRole>::all(client.clone())
        .delete(WHO, &dp)
        .await;
}

async fn cluster(args: &Args) -> anyhow::Result<()> {
    let client = nexus_e2e::client().await?;
    let run = run_id();
    let l = Layout::new(args.entities, args.namespaces, Shape::READ);
    let phases = generate_shape(args.entities, args.namespaces, &run, Shape::READ);
    let total: usize = phases.iter().map(Vec::len).sum();
    create_namespaces(&client, &run, args.namespaces).await?;

    let ctrl = start_leading_controller("read-bench", &run, args.controller_bin.clone()).await?;

    progress(format!(
        "applying {total} entities in {} namespaces",
        args.namespaces
    ));
    let Applied {
        entities: applied,
        apply_seconds: apply_secs,
        ready_after_seconds: ready_after,
    } = apply_until_ready(
        &client,
        &phases,
        args.apply_concurrency,
        &run,
        args.timeout,
        &ctrl,
        WHO,
    )
    .await?;
    emit(
        json!({"metric": "apply", "mode": "cluster", "entities": applied, "namespaces": args.namespaces,
        "seconds": round(apply_secs), "writes_per_second": round(applied as f64 / apply_secs)}),
    );
    emit(
        json!({"metric": "all_ready_after_last_write", "mode": "cluster", "entities": applied,
        "seconds": round(ready_after)}),
    );
    grant_read(&client).await?;

    let mut aopts = ApiserverOptions::new("read-bench");
    aopts.authz_cache_ttl = "10s".into();
    aopts.bin = args
        .apiserver_bin
        .clone()
        .unwrap_or_else(|| repo_root().join("target/release/nexus-apiserver"));
    progress(format!("starting {}", aopts.bin.display()));
    let started = Instant::now();
    let mut apiserver = ApiserverProcess::start(&aopts)?;
    apiserver.wait_ready(Duration::from_secs(900)).await?;
    let ready_secs = started.elapsed().as_secs_f64();
    let mut last_count = 0.0;
    let indexed_secs = loop {
        let text = apiserver.metrics().await.unwrap_or_default();
        let count = nexus_e2e::metric_value(&text, "nexus_apiserver_cache_entities").unwrap_or(0.0);
        let pending =
            nexus_e2e::metric_value(&text, "nexus_apiserver_index_pending").unwrap_or(1.0);
        if count >= applied as f64 && count == last_count && pending == 0.0 {
            break started.elapsed().as_secs_f64();
        }
        last_count = count;
        if started.elapsed() > Duration::from_secs(900) {
            bail!("the apiserver's index did not catch up ({count} entities, {pending} pending)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pid = apiserver.child.id();
    let metrics_text = apiserver.metrics().await.unwrap_or_default();
    let cached = nexus_e2e::metric_value(&metrics_text, "nexus_apiserver_cache_entities")
        .unwrap_or(0.0) as usize;
    emit(json!({
        "metric": "apiserver_startup", "mode": "cluster", "entities": cached,
        "seconds_to_ready": round(ready_secs), "seconds_to_indexed": round(indexed_secs),
        "cache_approx_mib": nexus_e2e::metric_value(&metrics_text, "nexus_apiserver_cache_bytes").map(|b| round(b / 1048576.0)),
        "rss_mib": rss_mib(pid, "VmRSS:").map(round), "peak_rss_mib": rss_mib(pid, "VmHWM:").map(round),
        "note": "seconds_to_indexed is measured with 100 ms polling of /metrics",
    }));

    let users: Vec<String> = bench_users(&l)
        .iter()
        .map(|(n, u)| user_email(&bench_namespace(&run, *n), *u))
        .collect();
    let tokens: Vec<String> = users
        .iter()
        .map(|u| apiserver.token(u, &[BENCH_GROUP]))
        .collect::<Result<_, _>>()?;
    let ca = std::fs::read(apiserver.cluster.join("pki/ca.crt"))?;
    let target = Target {
        client: https_client(&ca)?,
        base: format!("https://127.0.0.1:{}", apiserver.portal_port),
        tokens: Arc::new(tokens),
        mode: Mode::Cluster,
        pid,
        server_cpu: Arc::new(move || process_ticks(pid)),
        metrics_url: Some(format!(
            "http://127.0.0.1:{}/metrics",
            apiserver.metrics_port
        )),
    };
    // The cluster's components carry no scorecard results or DORA buckets (no controller
    // writes them here): the insights views are measured in-process only.
    let list = scenarios(&l, &run, users.len(), false);
    let entities_now = move || cached;
    let result = target.run_scenarios(args, &list, &entities_now, None).await;
    if let Err(error) = result {
        bail!("{error:#}\napiserver log:\n{}", apiserver.log_tail());
    }

    if selected(&args.scenarios, "live-lag") && args.live_changes > 0 {
        progress(format!(
            "live-lag: {} server-side applies, one every {:?}",
            args.live_changes, args.live_interval
        ));
        let stream = target.stream("kind=component").await?;
        let pending: Pending = Arc::default();
        let lags: Arc<Mutex<Lags>> = Arc::default();
        let reader = spawn_lag_reader(stream, pending.clone(), lags.clone());
        let pp = PatchParams::apply("nexus-bench").force();
        let mut writes = tokio::task::JoinSet::new();
        let mut sent = 0;
        let mut tick = tokio::time::interval(args.live_interval);
        for j in 0..args.live_changes {
            tick.tick().await;
            let Some(mut it) = live_item(&phases, &l, &run, j) else {
                continue;
            };
            let description = format!("live change {j} of run {run}");
            it.spec["description"] = json!(description);
            pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((it.id().to_string(), description), Instant::now());
            let (client, pp, run) = (client.clone(), pp.clone(), run.clone());
            writes.spawn(async move { apply_one(&client, &it, &pp, &run).await });
            sent += 1;
        }
        while let Some(done) = writes.join_next().await {
            if let Ok(Err(error)) = done {
                progress(format!("live change failed: {error:#}"));
            }
        }
        finish_lag(
            &pending,
            reader,
            &lags,
            sent,
            Mode::Cluster,
            cached,
            rss_mib(pid, "VmRSS:"),
            "server-side apply → kube-apiserver → watch → cache → SSE event",
        )
        .await;
    }
    emit(
        json!({"metric": "end", "mode": "cluster", "entities": cached,
        "rss_mib": rss_mib(pid, "VmRSS:").map(round), "peak_rss_mib": rss_mib(pid, "VmHWM:").map(round)}),
    );
    drop(apiserver);
    if !args.keep {
        revoke_read(&client).await;
        delete_namespaces(&client, &run, args.namespaces).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    match args.mode {
        Mode::InProcess => in_process(&args).await,
        Mode::Cluster => cluster(&args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_name_entities_that_exist() {
        let l = Layout::new(10_000, 20, Shape::READ);
        let phases = generate_shape(10_000, 20, "t", Shape::READ);
        let ids: std::collections::HashSet<EntityRef> =
            phases.iter().flatten().map(Item::id).collect();
        for s in scenarios(&l, "t", 16, true) {
            for v in &s.variants {
                match &v.query {
                    Query::Get(id) | Query::Graph(id) | Query::Impact(id) | Query::Team(id) => {
                        assert!(ids.contains(id), "{}: {id}", s.name)
                    }
                    Query::Search(pairs) => assert!(!pairs.is_empty()),
                    Query::Dashboard => {}
                    Query::Insight(view, pairs) => {
                        assert!(!view.is_empty());
                        if let Some((_, team)) =
                            pairs.iter().find(|(k, _)| *k == "name" || *k == "team")
                            && team.starts_with("team:")
                        {
                            assert!(ids.contains(&team.parse().unwrap()), "{}: {team}", s.name);
                        }
                    }
                }
            }
        }
        assert_eq!(typo("bakoda"), "bakuda");
        assert!(nexus_e2e::synthetic::incident_targets(3, 10).0 < 10);
    }
}
