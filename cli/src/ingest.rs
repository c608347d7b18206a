//! `nexus ingest SOURCE --file PATH [--event NAME] [-o yaml|json]`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use nexus_ingest::{Context, Outcome};

use crate::output::{self, Format};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// A GitHub webhook delivery (`--event` = the X-GitHub-Event header) or REST response
    /// (`--event rest/<resource>`).
    Github,
    /// An Azure DevOps service-hook delivery (the event type is read from the payload) or REST
    /// response (`--event rest/<resource>`).
    AzureDevops,
    /// An Azure Monitor alert in the common alert schema.
    AzureMonitor,
    /// A PagerDuty V3 webhook delivery.
    Pagerduty,
    /// An Opsgenie webhook delivery.
    Opsgenie,
    /// An Azure Resource Graph `resources` response (raw, REST example or SDK recording).
    ResourceGraph,
    /// A Terraform state file (format v4) or `terraform show -json` output.
    TerraformState,
    /// An ARM/Bicep deployment (GET deployment response or recording).
    ArmDeployment,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    source: Source,
    /// The payload to read (`-` for stdin).
    #[arg(long, short = 'f')]
    file: PathBuf,
    /// GitHub: the X-GitHub-Event name. GitHub / Azure DevOps: `rest/<resource>` for a REST
    /// response read by polling.
    #[arg(long)]
    event: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "yaml")]
    output: Format,
    /// Accepted for clarity: this command never changes anything.
    #[arg(long)]
    dry_run: bool,
    /// Namespace for discovered entities (the integration's `namespaces.default`).
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// A YAML file with the full ingestion context (namespaces with rules, tags, services,
    /// repository) as an integration would configure it; overrides --namespace.
    #[arg(long)]
    context: Option<PathBuf>,
    /// The Repository that owns an IaC state or deployment (`repository:NAMESPACE/NAME`), or
    /// the repository web URL for GitHub REST lists that do not name it.
    #[arg(long)]
    repository: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let file = args.file.display().to_string();
    let body = if file == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading stdin")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("{file}: cannot read"))?
    };
    let mut ctx = match &args.context {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            serde_yaml::from_str::<Context>(&text)
                .with_context(|| format!("{}: not an ingestion context", path.display()))?
        }
        None => Context::in_namespace(&args.namespace),
    };
    if args.repository.is_some() {
        ctx.repository = args.repository.clone();
    }
    let outcome = parse(args, &body, &ctx).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    match outcome {
        Outcome::Ignored(reason) => {
            eprintln!("ignored: {reason}");
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Changes(changes) => {
            output::print(&output::documents(&changes), args.output)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse(args: &Args, body: &[u8], ctx: &Context) -> anyhow::Result<Outcome> {
    use nexus_ingest::{ado, azure, github, iac, incidents};
    if args.event.is_some() && !matches!(args.source, Source::Github | Source::AzureDevops) {
        bail!("--event is only used for github and azure-devops");
    }
    let rest = args.event.as_deref().and_then(|e| e.strip_prefix("rest/"));
    let outcome = match args.source {
        Source::Github => match (rest, args.event.as_deref()) {
            (Some(resource), _) => github::rest(resource, body, ctx)?,
            (None, Some(event)) => github::webhook(event, body, ctx)?,
            (None, None) => bail!(
                "--event is required for github: the X-GitHub-Event header of the delivery \
                 (e.g. push, pull_request), or rest/<resource> for a REST response ({})",
                github::REST_RESOURCES.join(", ")
            ),
        },
        Source::AzureDevops => match rest {
            Some(resource) => ado::rest(resource, body, ctx)?,
            None if args.event.is_some() => bail!(
                "--event is not used for azure-devops deliveries (the event type is read from the \
                 payload's eventType); use rest/<resource> for a REST response ({})",
                ado::REST_RESOURCES.join(", ")
            ),
            None => ado::service_hook(body, ctx)?,
        },
        Source::AzureMonitor => incidents::azure_monitor(body, ctx)?,
        Source::Pagerduty => incidents::pagerduty(body, ctx)?,
        Source::Opsgenie => incidents::opsgenie(body, ctx)?,
        Source::ResourceGraph => azure::resource_graph(body, ctx)?,
        Source::TerraformState => iac::terraform_state(body, ctx)?,
        Source::ArmDeployment => iac::arm_deployment(body, ctx)?,
    };
    Ok(outcome)
}
