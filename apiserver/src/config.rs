//! Command-line flags of `nexus-apiserver serve` (each also readable from an environment variable).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nexus-apiserver",
    version,
    about = "Nexus read cache: the aggregated API portal.nexus.dev and the portal API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve both faces (aggregated API and portal API) from the watch-fed cache.
    Serve(Box<ServeConfig>),
    /// Print a signed development token for a chosen user (dev-auth mode only).
    DevToken(DevTokenArgs),
}

#[derive(Clone, Debug, Args)]
pub struct ServeConfig {
    /// Listen address of the aggregated API (kube-apiserver connects here with its front-proxy
    /// client certificate).
    #[arg(long, env = "NEXUS_AGGREGATED_ADDR", default_value = "0.0.0.0:8443")]
    pub aggregated_addr: SocketAddr,
    /// Listen address of the portal API (`/api/v1`, bearer tokens).
    #[arg(long, env = "NEXUS_PORTAL_ADDR", default_value = "0.0.0.0:9443")]
    pub portal_addr: SocketAddr,
    /// Plain-HTTP address of /metrics, /healthz and /readyz.
    #[arg(long, env = "NEXUS_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,

    /// Serving certificate (PEM chain), e.g. `tls.crt` of a mounted Secret. Reloaded on change.
    #[arg(long, env = "NEXUS_TLS_CERT_FILE")]
    pub tls_cert_file: PathBuf,
    /// Serving key (PEM), e.g. `tls.key` of a mounted Secret. Reloaded on change.
    #[arg(long, env = "NEXUS_TLS_KEY_FILE")]
    pub tls_key_file: PathBuf,
    /// Portal serving certificate, when the portal face uses another one (e.g. the ingress name).
    #[arg(
        long,
        env = "NEXUS_PORTAL_TLS_CERT_FILE",
        requires = "portal_tls_key_file"
    )]
    pub portal_tls_cert_file: Option<PathBuf>,
    #[arg(
        long,
        env = "NEXUS_PORTAL_TLS_KEY_FILE",
        requires = "portal_tls_cert_file"
    )]
    pub portal_tls_key_file: Option<PathBuf>,
    /// How often certificate files are checked for change.
    #[arg(long, env = "NEXUS_CERT_RELOAD_INTERVAL", value_parser = parse_duration, default_value = "10s")]
    pub cert_reload_interval: Duration,

    /// `namespace/name` of the ConfigMap kube-apiserver publishes its front-proxy settings in.
    #[arg(
        long,
        env = "NEXUS_REQUESTHEADER_CONFIGMAP",
        default_value = "kube-system/extension-apiserver-authentication"
    )]
    pub requestheader_configmap: String,

    /// How long a SubjectAccessReview answer is reused.
    #[arg(long, env = "NEXUS_AUTHZ_CACHE_TTL", value_parser = parse_duration, default_value = "10s")]
    pub authz_cache_ttl: Duration,

    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "NEXUS_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Days of ScorecardSnapshots kept in memory for score trends (older days are not kept;
    /// `/insights/trends` reaches back at most this far).
    #[arg(long, env = "NEXUS_INSIGHTS_RETENTION_DAYS", default_value_t = 400, value_parser = clap::value_parser!(i32).range(1..=3660))]
    pub insights_retention_days: i32,
    /// Longest a change waits before it becomes searchable (index commit interval).
    #[arg(long, env = "NEXUS_INDEX_COMMIT_INTERVAL", value_parser = parse_duration, default_value = "100ms")]
    pub index_commit_interval: Duration,
    /// Interval of SSE keep-alive comments.
    #[arg(long, env = "NEXUS_SSE_KEEPALIVE", value_parser = parse_duration, default_value = "15s")]
    pub sse_keepalive: Duration,
    /// Base URL of the controller's audit endpoint (its webhook listener, e.g.
    /// `http://nexus-controller-webhooks:8080`): `/api/v1/audit` reads the file audit log there.
    /// Unset, the portal's audit page answers 503 (not configured).
    #[arg(long, env = "NEXUS_AUDIT_URL")]
    pub audit_url: Option<String>,
    /// File holding the bearer token for `--audit-url` (the controller's `--audit-token-file`;
    /// re-read on every request).
    #[arg(long, env = "NEXUS_AUDIT_TOKEN_FILE", requires = "audit_url")]
    pub audit_token_file: Option<PathBuf>,

    #[command(flatten)]
    pub oidc: OidcArgs,

    #[command(flatten)]
    pub portal_ui: PortalUiArgs,

    /// Development sign-in: tokens signed by a local key (see `dev-token`). Refused unless the
    /// portal listens on a loopback address; never use in a cluster.
    #[arg(long, env = "NEXUS_DEV_AUTH")]
    pub dev_auth: bool,
    /// Key file of dev-auth (created with a fresh key when missing).
    #[arg(
        long,
        env = "NEXUS_DEV_KEY_FILE",
        default_value = ".nexus/dev-auth/signing-key.pem"
    )]
    pub dev_key_file: PathBuf,

    #[arg(long, env = "NEXUS_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: nexus_telemetry::LogFormat,
}

/// Entra ID (or any OIDC issuer) token validation for the portal face.
#[derive(Clone, Debug, Args)]
pub struct OidcArgs {
    /// Issuer, e.g. `https://login.microsoftonline.com/<tenant-id>/v2.0`.
    #[arg(long, env = "NEXUS_OIDC_ISSUER_URL")]
    pub oidc_issuer_url: Option<String>,
    /// Accepted audiences (the portal app registration's client id or App ID URI). Repeatable.
    #[arg(
        long = "oidc-audience",
        env = "NEXUS_OIDC_AUDIENCE",
        value_delimiter = ','
    )]
    pub oidc_audiences: Vec<String>,
    /// JWKS URL; discovered from the issuer's `.well-known/openid-configuration` when unset.
    #[arg(long, env = "NEXUS_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    /// Claim that becomes the Kubernetes user name (AKS with Entra uses the UPN-like name).
    #[arg(
        long,
        env = "NEXUS_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username"
    )]
    pub oidc_username_claim: String,
    /// Claim with the group object ids, bound to RoleBindings as Kubernetes groups.
    #[arg(long, env = "NEXUS_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    #[arg(long, env = "NEXUS_OIDC_USERNAME_PREFIX", default_value = "")]
    pub oidc_username_prefix: String,
    #[arg(long, env = "NEXUS_OIDC_GROUPS_PREFIX", default_value = "")]
    pub oidc_groups_prefix: String,
    /// Clock skew tolerated on exp/nbf/iat.
    #[arg(long, env = "NEXUS_OIDC_CLOCK_SKEW", value_parser = parse_duration, default_value = "60s")]
    pub oidc_clock_skew: Duration,
    /// How long fetched signing keys are trusted before a refresh (an unknown key id refreshes
    /// sooner, at most once per `--oidc-jwks-min-refresh`).
    #[arg(long, env = "NEXUS_OIDC_JWKS_TTL", value_parser = parse_duration, default_value = "1h")]
    pub oidc_jwks_ttl: Duration,
    #[arg(long, env = "NEXUS_OIDC_JWKS_MIN_REFRESH", value_parser = parse_duration, default_value = "30s")]
    pub oidc_jwks_min_refresh: Duration,
    /// Extra CA bundle (PEM) to trust for the issuer/JWKS endpoints (tests, proxies).
    #[arg(long, env = "NEXUS_OIDC_CA_FILE")]
    pub oidc_ca_file: Option<PathBuf>,
}

/// The portal app (the SPA) served on the portal address next to `/api/v1`.
#[derive(Clone, Debug, Args)]
pub struct PortalUiArgs {
    /// Directory of the built portal (`portal/dist`); unset: only the API is served.
    #[arg(long, env = "NEXUS_PORTAL_ASSETS_DIR")]
    pub portal_assets_dir: Option<PathBuf>,
    /// Entra ID application (client) id the portal signs in with (MSAL, auth code + PKCE).
    #[arg(long, env = "NEXUS_PORTAL_MSAL_CLIENT_ID")]
    pub portal_msal_client_id: Option<String>,
    /// MSAL authority, e.g. `https://login.microsoftonline.com/<tenant-id>`; default: the
    /// `--oidc-issuer-url` without its `/v2.0`.
    #[arg(long, env = "NEXUS_PORTAL_MSAL_AUTHORITY")]
    pub portal_msal_authority: Option<String>,
    /// Scopes the portal requests for the API token (default `api://<client-id>/.default`).
    #[arg(
        long = "portal-msal-scope",
        env = "NEXUS_PORTAL_MSAL_SCOPES",
        value_delimiter = ','
    )]
    pub portal_msal_scopes: Vec<String>,
}

#[derive(Clone, Debug, Args)]
pub struct DevTokenArgs {
    /// Key file written by `serve --dev-auth`.
    #[arg(
        long,
        env = "NEXUS_DEV_KEY_FILE",
        default_value = ".nexus/dev-auth/signing-key.pem"
    )]
    pub key_file: PathBuf,
    /// Kubernetes user name the token carries (e.g. an example User's email).
    #[arg(long)]
    pub user: String,
    /// Kubernetes groups the token carries. Repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Token lifetime.
    #[arg(long, value_parser = parse_duration, default_value = "8h")]
    pub ttl: Duration,
}

/// `250ms`, `10s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration (examples: 250ms, 10s, 5m, 1h)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{raw}` (use ms, s, m or h)"
            ));
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{raw}` is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(
            parse_duration("ten")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
    }
}
