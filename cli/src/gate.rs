//! `nexus gate ENTITY`: asks the controller's promotion gate whether an entity may be promoted
//! to production, for pipelines that call it from a script step. Exits 0 when allowed, 1 when
//! blocked (the reasons say what to fix), 2 when no decision could be had (unreachable, bad
//! token, unknown entity or scorecard, a scorecard that does not compile): a pipeline step
//! fails either way unless the gate allows.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use nexus_api::{EntityKind, EntityRef};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The entity, `[kind:]namespace/name` (kind defaults to component), e.g.
    /// `component:team-payments/payments-api`.
    entity: String,
    /// Scorecard to check, `name` (in the organisation's scorecard namespace) or
    /// `namespace/name`; repeatable. Default: the controller's `--gate-scorecards`.
    #[arg(long = "scorecard")]
    scorecards: Vec<String>,
    /// Base URL of the controller's webhook listener, e.g. `https://nexus-hooks.contoso.com`.
    #[arg(long, env = "NEXUS_GATE_URL")]
    url: String,
    /// The gate token (better: `--token-file`, or the NEXUS_GATE_TOKEN variable from a secret).
    #[arg(
        long,
        env = "NEXUS_GATE_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// File holding the gate token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// PEM bundle of a private CA that signed the listener's certificate.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Print the controller's JSON answer instead of text.
    #[arg(long)]
    json: bool,
}

/// Exit code when the gate blocks.
const BLOCKED: u8 = 1;
/// Exit code when no decision was had.
const UNDECIDED: u8 = 2;

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match ask(args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(UNDECIDED))
        }
    }
}

fn ask(args: &Args) -> anyhow::Result<ExitCode> {
    let entity = EntityRef::parse(&args.entity, EntityKind::Component, &[], "")
        .ok()
        .filter(|r| !r.namespace.is_empty())
        .with_context(|| {
            format!(
                "{:?} is not an entity reference like component:team-payments/payments-api",
                args.entity
            )
        })?;
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("reading {}", f.display()))?
            .trim()
            .to_string(),
        (None, None) => bail!("no gate token: pass --token-file, or set NEXUS_GATE_TOKEN"),
    };
    if token.is_empty() {
        bail!("the gate token is empty");
    }
    let url = gate_url(&args.url, &entity, &args.scorecards)?;
    let mut client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .user_agent(concat!("nexus-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &args.ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} is not a PEM certificate bundle", ca.display()))?
        {
            client = client.add_root_certificate(cert);
        }
    }
    let resp = client
        .build()?
        .get(&url)
        .bearer_auth(&token)
        .send()
        .with_context(|| format!("GET {}", redact(&url)))?;
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(text);
        bail!("the gate answered {status}: {message}");
    }
    let Some(allowed) = body.get("allowed").and_then(Value::as_bool) else {
        bail!("the gate's answer has no `allowed`: {text}");
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", describe(&entity, &body));
    }
    Ok(if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(BLOCKED)
    })
}

/// `<base>/gate/<namespace>/<kind>/<name>?scorecard=…`.
fn gate_url(base: &str, entity: &EntityRef, scorecards: &[String]) -> anyhow::Result<String> {
    let base = base.trim().trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        bail!("--url {base:?} is not an http(s) URL");
    }
    let mut url = format!(
        "{base}/gate/{}/{}/{}",
        entity.namespace,
        entity.kind.ref_name(),
        entity.name
    );
    if !scorecards.is_empty() {
        let pairs: Vec<(&str, &str)> = scorecards
            .iter()
            .map(|s| ("scorecard", s.as_str()))
            .collect();
        url.push('?');
        url.push_str(&serde_urlencoded::to_string(pairs)?);
    }
    Ok(url)
}

/// The URL as it may be logged (it carries no secret, but keep any userinfo out).
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn describe(entity: &EntityRef, body: &Value) -> String {
    let allowed = body.get("allowed").and_then(Value::as_bool) == Some(true);
    let mut out = format!(
        "{}: {entity}\n",
        if allowed { "allowed" } else { "blocked" }
    );
    for v in body
        .get("scorecards")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = v.get("scorecard").and_then(Value::as_str).unwrap_or("?");
        let score = v
            .get("score")
            .and_then(Value::as_i64)
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        let level = v.get("level").and_then(Value::as_str).unwrap_or("none");
        let verdict = if v.get("allowed").and_then(Value::as_bool) == Some(true) {
            "passes"
        } else {
            "blocks"
        };
        out.push_str(&format!(
            "  {name}: {verdict} (score {score}, level {level})\n"
        ));
        for r in v
            .get("reasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            out.push_str(&format!("    - {r}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_entity_and_the_scorecards() {
        let e = EntityRef::new(EntityKind::Component, "team-payments", "payments-api");
        assert_eq!(
            gate_url("https://hooks.example/", &e, &[]).unwrap(),
            "https://hooks.example/gate/team-payments/component/payments-api"
        );
        assert_eq!(
            gate_url(
                "http://127.0.0.1:8081",
                &e,
                &["production-readiness".into(), "org/sec ops".into()]
            )
            .unwrap(),
            "http://127.0.0.1:8081/gate/team-payments/component/payments-api?scorecard=production-readiness&scorecard=org%2Fsec+ops"
        );
        assert!(gate_url("hooks.example", &e, &[]).is_err());
        assert_eq!(redact("https://u:p@h/x"), "https://…@h/x");
    }
}
