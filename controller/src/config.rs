//! Command-line flags (each also readable from an environment variable).

use std::{net::SocketAddr, time::Duration};

use clap::Parser;

use crate::{
    catalog::{context::BulkDetector, reconciler::Settings},
    runtime::leader::LeaseConfig,
};

#[derive(Clone, Debug, Parser)]
#[command(name = "nexus-controller", version, about = "Nexus catalog controller")]
pub struct Config {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NEXUS_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "NEXUS_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, env = "NEXUS_LEASE_NAME", default_value = "nexus-controller")]
    pub lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long, env = "NEXUS_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: $POD_NAME, else hostname-pid).
    #[arg(long, env = "NEXUS_IDENTITY")]
    pub identity: Option<String>,
    /// Seconds a lease stays valid without renewal.
    #[arg(
        long = "lease-duration",
        env = "NEXUS_LEASE_DURATION",
        default_value_t = 15
    )]
    pub lease_duration_seconds: u64,
    /// Seconds the leader keeps trying to renew before it steps down.
    #[arg(
        long = "renew-deadline",
        env = "NEXUS_RENEW_DEADLINE",
        default_value_t = 10
    )]
    pub renew_deadline_seconds: u64,
    /// Seconds between acquire/renew attempts.
    #[arg(long = "retry-period", env = "NEXUS_RETRY_PERIOD", default_value_t = 2)]
    pub retry_period_seconds: u64,
    /// Milliseconds to coalesce triggers for one object.
    #[arg(long, env = "NEXUS_DEBOUNCE_MS", default_value_t = 300)]
    pub debounce_ms: u64,
    /// Reconciles at once per kind.
    #[arg(long, env = "NEXUS_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Seconds between safety-net resyncs of each object (they write only on change); 0, the
    /// default, relies on watches alone.
    #[arg(long = "resync", env = "NEXUS_RESYNC_SECONDS", default_value_t = 0)]
    pub resync_seconds: u64,
    /// Creations per second from which an import counts as bulk and reconciles wait for it to
    /// settle (fewer status writes); 0 disables.
    #[arg(long, env = "NEXUS_BULK_THRESHOLD", default_value_t = 50)]
    pub bulk_threshold: u32,
    /// Longest a reconcile waits for a bulk import to settle, in seconds.
    #[arg(
        long = "bulk-max-defer",
        env = "NEXUS_BULK_MAX_DEFER",
        default_value_t = 10
    )]
    pub bulk_max_defer_seconds: u64,
    #[arg(long, env = "NEXUS_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: nexus_telemetry::LogFormat,
    /// Address of the webhook receiver (GitHub, Azure DevOps, incident tools); `off` disables.
    #[arg(long, env = "NEXUS_WEBHOOK_ADDR", default_value = "0.0.0.0:8081")]
    pub webhook_addr: String,
    /// Largest webhook body accepted, in bytes (GitHub caps deliveries at 25 MB).
    #[arg(long, env = "NEXUS_WEBHOOK_MAX_BODY", default_value_t = 5 * 1024 * 1024)]
    pub webhook_max_body: usize,
    /// Deliveries applied in parallel (deliveries about the same object stay in order).
    #[arg(long, env = "NEXUS_INGEST_WORKERS", default_value_t = 8)]
    pub ingest_workers: usize,
    /// Deliveries waiting before the receiver answers 503 with Retry-After.
    #[arg(long, env = "NEXUS_INGEST_QUEUE", default_value_t = 10_000)]
    pub ingest_queue: usize,
    /// Most delivery ids remembered (24 h) to refuse replays; bounds the receiver's memory.
    #[arg(long, env = "NEXUS_WEBHOOK_REPLAY_IDS", default_value_t = 1_000_000)]
    pub webhook_replay_ids: u64,
    /// Namespace of the integration objects (default: all namespaces).
    #[arg(long, env = "NEXUS_INTEGRATIONS_NAMESPACE")]
    pub integrations_namespace: Option<String>,
    /// Directory of the tamper-evident action audit log (a persistent volume in production);
    /// unset: audit entries go to the log stream and Kubernetes Events only.
    #[arg(long, env = "NEXUS_AUDIT_LOG_DIR")]
    pub audit_log_dir: Option<std::path::PathBuf>,
    /// Days of audit log segments kept (0 keeps everything).
    #[arg(long, env = "NEXUS_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u32,
    /// Also send every audit entry to Azure Monitor (Logs Ingestion API): the data collection
    /// endpoint, e.g. `https://nexus-dce-abcd.westeurope-1.ingest.monitor.azure.com`. Needs
    /// `--audit-log-dir` (the file log stays the source of truth and the chain).
    #[arg(long, env = "NEXUS_AUDIT_AZURE_ENDPOINT", requires_all = ["audit_log_dir", "audit_azure_dcr", "audit_azure_credentials"])]
    pub audit_azure_endpoint: Option<String>,
    /// Immutable id of the data collection rule (`dcr-…`).
    #[arg(long, env = "NEXUS_AUDIT_AZURE_DCR")]
    pub audit_azure_dcr: Option<String>,
    /// Stream declared in the data collection rule.
    #[arg(
        long,
        env = "NEXUS_AUDIT_AZURE_STREAM",
        default_value = "Custom-NexusAudit"
    )]
    pub audit_azure_stream: String,
    /// AzureSubscriptionSource whose identity (workload identity or client secret) signs in to
    /// Azure Monitor; it needs "Monitoring Metrics Publisher" on the data collection rule.
    #[arg(long, env = "NEXUS_AUDIT_AZURE_CREDENTIALS")]
    pub audit_azure_credentials: Option<String>,
    /// File holding a Microsoft Teams incoming-webhook (or Workflows) URL for approval requests
    /// and outcomes (mount it from a Secret).
    #[arg(long, env = "NEXUS_NOTIFY_TEAMS_WEBHOOK_FILE")]
    pub notify_teams_webhook_file: Option<std::path::PathBuf>,
    /// File holding a Slack incoming-webhook URL.
    #[arg(long, env = "NEXUS_NOTIFY_SLACK_WEBHOOK_FILE")]
    pub notify_slack_webhook_file: Option<std::path::PathBuf>,
    /// SMTP server for e-mail notifications (STARTTLS).
    #[arg(long, env = "NEXUS_NOTIFY_SMTP_HOST")]
    pub notify_smtp_host: Option<String>,
    #[arg(long, env = "NEXUS_NOTIFY_SMTP_PORT", default_value_t = 587)]
    pub notify_smtp_port: u16,
    #[arg(long, env = "NEXUS_NOTIFY_SMTP_USERNAME")]
    pub notify_smtp_username: Option<String>,
    #[arg(long, env = "NEXUS_NOTIFY_SMTP_PASSWORD_FILE")]
    pub notify_smtp_password_file: Option<std::path::PathBuf>,
    #[arg(long, env = "NEXUS_NOTIFY_EMAIL_FROM")]
    pub notify_email_from: Option<String>,
    /// Recipients, comma-separated.
    #[arg(long, env = "NEXUS_NOTIFY_EMAIL_TO", value_delimiter = ',')]
    pub notify_email_to: Vec<String>,
    /// Portal base URL, for links in notifications.
    #[arg(long, env = "NEXUS_PORTAL_URL", default_value = "")]
    pub portal_url: String,
    /// How long finished ActionRuns stay before their final status is archived to the audit log
    /// and they are deleted (`168h` by default; `0` keeps them).
    #[arg(long, env = "NEXUS_RUN_TTL", default_value = "168h")]
    pub run_ttl: String,
    /// Run the self-service actions controllers (Action, ActionRun, ActionApproval).
    #[arg(long, env = "NEXUS_ACTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub actions: bool,
    /// Run the DORA controller: keep every Component's status.dora (deployment frequency,
    /// lead time, change failure rate, recovery time in daily buckets) current from its
    /// deployments, its repository's pushes, pipeline runs and incidents.
    #[arg(long, env = "NEXUS_DORA", default_value_t = true, action = clap::ArgAction::Set)]
    pub dora: bool,
    /// Poll provider REST APIs (GitHub, Azure DevOps, Resource Graph) on each integration's
    /// interval; webhooks are received either way.
    #[arg(long, env = "NEXUS_POLLING", default_value_t = true, action = clap::ArgAction::Set)]
    pub polling: bool,
    /// Run the scorecard controller: compile Scorecards, evaluate entities, write results,
    /// distributions and daily snapshots (leader only). The gates answer either way.
    #[arg(long, env = "NEXUS_SCORECARDS", default_value_t = true, action = clap::ArgAction::Set)]
    pub scorecards: bool,
    /// The organisation's scorecard namespace: bare scorecard names (in `?scorecard=`,
    /// `--gate-scorecards`, an Action's `spec.gate.scorecards`) are looked up there.
    #[arg(long, env = "NEXUS_SCORECARDS_NAMESPACE", default_value = "nexus-org")]
    pub scorecards_namespace: String,
    /// Days of ScorecardSnapshots kept, today included (0 keeps every snapshot).
    #[arg(
        long = "scorecard-snapshot-retention-days",
        env = "NEXUS_SCORECARD_SNAPSHOT_RETENTION_DAYS",
        default_value_t = 400
    )]
    pub snapshot_retention_days: u32,
    /// Test only: a file holding an RFC 3339 timestamp used as "now" for rule evaluation and
    /// snapshot days (rewrite it to move time); unset, the system clock.
    #[arg(long, env = "NEXUS_SCORECARDS_CLOCK_FILE")]
    pub scorecards_clock_file: Option<std::path::PathBuf>,
    /// File holding the bearer token pipelines present to `GET /gate/{namespace}/{kind}/{name}`
    /// on the webhook listener (mount it from a Secret); unset, the endpoint is off.
    #[arg(long, env = "NEXUS_GATE_TOKEN_FILE")]
    pub gate_token_file: Option<std::path::PathBuf>,
    /// File holding the bearer token nexus-apiserver presents to `GET /audit/entries` on the
    /// webhook listener (the file audit log, newest first); unset, the endpoint is off. Not the
    /// gate token: the log names every run and person.
    #[arg(long, env = "NEXUS_AUDIT_TOKEN_FILE")]
    pub audit_token_file: Option<std::path::PathBuf>,
    /// Scorecards a promotion must pass when the caller names none: the gate endpoint without
    /// `?scorecard=`, and GitHub deployment protection rules. Comma-separated `name` or
    /// `namespace/name`.
    #[arg(
        long,
        env = "NEXUS_GATE_SCORECARDS",
        value_delimiter = ',',
        default_value = "production-readiness"
    )]
    pub gate_scorecards: Vec<String>,
}

impl Config {
    pub fn lease(&self) -> LeaseConfig {
        let namespace = self
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into());
        let identity = self
            .identity
            .clone()
            .or_else(|| std::env::var("POD_NAME").ok())
            .unwrap_or_else(|| {
                let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "nexus-controller".into());
                format!("{host}-{}", std::process::id())
            });
        LeaseConfig {
            name: self.lease_name.clone(),
            namespace,
            identity,
            lease_duration: Duration::from_secs(self.lease_duration_seconds),
            renew_deadline: Duration::from_secs(self.renew_deadline_seconds),
            retry_period: Duration::from_secs(self.retry_period_seconds),
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            debounce: Duration::from_millis(self.debounce_ms),
            concurrency: self.concurrency,
            resync: (self.resync_seconds > 0).then(|| Duration::from_secs(self.resync_seconds)),
        }
    }

    pub fn bulk(&self) -> BulkDetector {
        BulkDetector::new(
            self.bulk_threshold,
            Duration::from_secs(self.bulk_max_defer_seconds),
        )
    }

    /// `--run-ttl` as a duration (None: keep runs).
    pub fn run_ttl(&self) -> Result<Option<Duration>, String> {
        if self.run_ttl == "0" {
            return Ok(None);
        }
        nexus_api::integrations::common::parse_duration(&self.run_ttl)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "--run-ttl {:?} is not a duration like 168h or 30m (0 keeps runs)",
                    self.run_ttl
                )
            })
    }

    /// Scorecard controller settings.
    pub fn scorecards(&self) -> crate::scorecards::Settings {
        let clock: std::sync::Arc<dyn crate::scorecards::clock::Clock> =
            match &self.scorecards_clock_file {
                Some(p) => std::sync::Arc::new(crate::scorecards::clock::FileClock::new(p.clone())),
                None => std::sync::Arc::new(crate::scorecards::clock::SystemClock),
            };
        crate::scorecards::Settings {
            namespace: self.watch_namespace.clone(),
            debounce: Duration::from_millis(self.debounce_ms),
            retention_days: self.snapshot_retention_days,
            clock,
            writers: usize::from(self.concurrency),
        }
    }

    /// Notification channels for actions.
    pub fn notify(&self) -> crate::actions::notify::NotifyConfig {
        crate::actions::notify::NotifyConfig {
            teams_webhook_file: self.notify_teams_webhook_file.clone(),
            slack_webhook_file: self.notify_slack_webhook_file.clone(),
            smtp_host: self.notify_smtp_host.clone(),
            smtp_port: self.notify_smtp_port,
            smtp_username: self.notify_smtp_username.clone(),
            smtp_password_file: self.notify_smtp_password_file.clone(),
            email_from: self.notify_email_from.clone(),
            email_to: self.notify_email_to.clone(),
            portal_url: self.portal_url.clone(),
        }
    }

    /// Ingestion settings.
    pub fn ingest(&self) -> Result<crate::ingestion::IngestConfig, String> {
        let webhook_addr = match self.webhook_addr.as_str() {
            "off" | "" => None,
            a => Some(a.parse().map_err(|e| {
                format!("--webhook-addr {a:?} is not an address like 0.0.0.0:8081 or `off` ({e})")
            })?),
        };
        if self.ingest_workers == 0 || self.ingest_queue == 0 {
            return Err("--ingest-workers and --ingest-queue must be at least 1".into());
        }
        if self.webhook_max_body < 1024 {
            return Err("--webhook-max-body must be at least 1024 bytes".into());
        }
        Ok(crate::ingestion::IngestConfig {
            webhook_addr,
            max_body_bytes: self.webhook_max_body,
            replay_ids: self.webhook_replay_ids,
            workers: self.ingest_workers,
            queue: self.ingest_queue,
            namespace: self.integrations_namespace.clone(),
            polling: self.polling,
            watch_namespace: self.watch_namespace.clone(),
        })
    }

    /// Rejects settings that cannot work, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_deadline_seconds >= self.lease_duration_seconds {
            return Err(format!(
                "--renew-deadline ({}) must be shorter than --lease-duration ({})",
                self.renew_deadline_seconds, self.lease_duration_seconds
            ));
        }
        if self.retry_period_seconds == 0
            || self.retry_period_seconds >= self.renew_deadline_seconds
        {
            return Err(format!(
                "--retry-period ({}) must be at least 1 and shorter than --renew-deadline ({})",
                self.retry_period_seconds, self.renew_deadline_seconds
            ));
        }
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        self.ingest()?;
        self.run_ttl()?;
        if self.gate_token_file.is_some() && self.ingest()?.webhook_addr.is_none() {
            return Err(
                "--gate-token-file needs --webhook-addr: the gate endpoint is served on the webhook listener"
                    .into(),
            );
        }
        if self.audit_token_file.is_some() && self.ingest()?.webhook_addr.is_none() {
            return Err(
                "--audit-token-file needs --webhook-addr: the audit endpoint is served on the webhook listener"
                    .into(),
            );
        }
        if self.gate_scorecards.iter().all(|s| s.trim().is_empty()) {
            return Err("--gate-scorecards needs at least one scorecard".into());
        }
        for s in &self.gate_scorecards {
            crate::scorecards::gate::resolve_scorecard(s, &self.scorecards_namespace)
                .map_err(|e| format!("--gate-scorecards: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_timings_are_named() {
        let cfg = Config::parse_from(["nexus-controller"]);
        assert!(cfg.validate().is_ok());
        let cfg = Config::parse_from([
            "nexus-controller",
            "--lease-duration",
            "5",
            "--renew-deadline",
            "5",
        ]);
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("--renew-deadline"), "{err}");
        assert!(Config::try_parse_from(["nexus-controller", "--metrics-addr", "nope"]).is_err());
    }

    #[test]
    fn scorecard_flags() {
        let cfg = Config::parse_from(["nexus-controller"]);
        assert!(cfg.scorecards);
        assert_eq!(cfg.snapshot_retention_days, 400);
        assert_eq!(cfg.gate_scorecards, ["production-readiness"]);
        assert_eq!(cfg.scorecards_namespace, "nexus-org");
        let cfg = Config::parse_from([
            "nexus-controller",
            "--scorecards=false",
            "--gate-scorecards",
            "production-readiness,platform/security",
        ]);
        assert!(!cfg.scorecards);
        assert_eq!(cfg.gate_scorecards.len(), 2);
        assert!(cfg.validate().is_ok());
        let cfg = Config::parse_from(["nexus-controller", "--gate-scorecards", "Not A Name"]);
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("--gate-scorecards"), "{err}");
        let cfg = Config::parse_from([
            "nexus-controller",
            "--webhook-addr",
            "off",
            "--gate-token-file",
            "/etc/nexus/gate/token",
        ]);
        let err = cfg.validate().unwrap_err();
        assert!(
            err.contains("--gate-token-file needs --webhook-addr"),
            "{err}"
        );
    }
}
