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
}
