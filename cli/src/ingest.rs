//! `nexus ingest SOURCE --file PATH [--event NAME] [-o yaml|json]`; for runbooks also
//! `[--repository URL --path PATH [--ref REF]]`.

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
    /// A Markdown runbook with YAML front matter, as the GitHub poller reads it from a
    /// repository (`--repository`, `--path`, `--ref`), or stored inline without them.
    Runbook,
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
    /// A YAML file with the ingestion context (namespaces with rules, tags, services,
    /// repository) as an integration would configure it; what it sets overrides --namespace,
    /// what it leaves out keeps its default.
    #[arg(long)]
    context: Option<PathBuf>,
    /// The Repository that owns an IaC state or deployment (`repository:NAMESPACE/NAME`), or
    /// the repository web URL for GitHub REST lists that do not name it and for runbooks.
    #[arg(long)]
    repository: Option<String>,
    /// Runbook: its path in the repository (default: the file's name).
    #[arg(long)]
    path: Option<String>,
    /// Runbook: the branch, tag or commit it was read at (`spec.source.ref`).
    #[arg(long = "ref")]
    git_ref: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Usage mistakes first: they are not about the file, so the message does not name it.
    check_event(args)?;
    let file = args.file.display().to_string();
    let (file, body) = if file == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading stdin")?;
        ("<stdin>".to_string(), buf)
    } else {
        let body = std::fs::read(&args.file).with_context(|| format!("{file}: cannot read"))?;
        (file, body)
    };
    let mut ctx = match &args.context {
        Some(path) => read_context(path, &args.namespace)?,
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
        Outcome::Changes(changes) if changes.is_empty() => {
            eprintln!("ignored: nothing to apply: the payload is well-formed but changes nothing");
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Changes(changes) => {
            output::print(&output::documents(&changes), args.output)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The `--context` file. Fields it leaves out keep their defaults (tag keys, no service
/// mapping, `--namespace` as the default namespace), so a file may hold only what it changes.
fn read_context(path: &std::path::Path, namespace: &str) -> anyhow::Result<Context> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{shown}: cannot read"))?;
    let given: serde_json::Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{shown}: not an ingestion context"))?;
    let mut merged = serde_json::to_value(Context::in_namespace(namespace))
        .context("rendering the default context")?;
    if !given.is_null() {
        merge(&mut merged, given);
    }
    serde_json::from_value(merged).with_context(|| format!("{shown}: not an ingestion context"))
}

/// `over` laid over `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// Whether `--event` fits the source; checked before the file is read.
fn check_event(args: &Args) -> anyhow::Result<()> {
    use nexus_ingest::{ado, github};
    let rest = args
        .event
        .as_deref()
        .is_some_and(|e| e.starts_with("rest/"));
    match args.source {
        Source::Github if args.event.is_none() => bail!(
            "--event is required for github: the X-GitHub-Event header of the delivery \
             (e.g. push, pull_request), or rest/<resource> for a REST response ({})",
            github::REST_RESOURCES.join(", ")
        ),
        Source::Github => {}
        Source::AzureDevops if args.event.is_some() && !rest => bail!(
            "--event is not used for azure-devops deliveries (the event type is read from the \
             payload's eventType); use rest/<resource> for a REST response ({})",
            ado::REST_RESOURCES.join(", ")
        ),
        Source::AzureDevops => {}
        _ if args.event.is_some() => bail!("--event is only used for github and azure-devops"),
        _ => {}
    }
    if args.source != Source::Runbook && (args.path.is_some() || args.git_ref.is_some()) {
        bail!("--path and --ref are only used for runbook");
    }
    if args.source == Source::Runbook && args.git_ref.is_some() && args.repository.is_none() {
        bail!("--ref needs --repository: a ref names a version of a repository file");
    }
    Ok(())
}

/// A REST API specification example file (`{"parameters": …, "responses": {"200": {"body": …}}}`,
/// as Microsoft's and GitHub's API descriptions ship them) stands for its 200 response body, so
/// `--event rest/<resource>` reads those files as well as raw responses.
fn rest_body(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let raw = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice::<serde_json::Value>(raw)
    else {
        return body.into();
    };
    if !doc.contains_key("parameters") {
        return body.into();
    }
    match doc
        .get("responses")
        .and_then(|r| r.get("200"))
        .and_then(|r| r.get("body"))
    {
        Some(inner) => serde_json::to_vec(inner).map_or(body.into(), Into::into),
        None => body.into(),
    }
}

fn parse(args: &Args, body: &[u8], ctx: &Context) -> anyhow::Result<Outcome> {
    use nexus_ingest::{ado, azure, github, iac, incidents};
    let rest = args.event.as_deref().and_then(|e| e.strip_prefix("rest/"));
    let outcome = match args.source {
        Source::Github => match (rest, args.event.as_deref()) {
            (Some(resource), _) => github::rest(resource, &rest_body(body), ctx)?,
            (None, Some(event)) => github::webhook(event, body, ctx)?,
            (None, None) => bail!("--event is required for github"),
        },
        Source::AzureDevops => match rest {
            Some(resource) => ado::rest(resource, &rest_body(body), ctx)?,
            None => ado::service_hook(body, ctx)?,
        },
        Source::AzureMonitor => incidents::azure_monitor(body, ctx)?,
        Source::Pagerduty => incidents::pagerduty(body, ctx)?,
        Source::Opsgenie => incidents::opsgenie(body, ctx)?,
        Source::ResourceGraph => azure::resource_graph(body, ctx)?,
        Source::TerraformState => iac::terraform_state(body, ctx)?,
        Source::ArmDeployment => iac::arm_deployment(body, ctx)?,
        Source::Runbook => {
            let name = args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| n != "-")
                .unwrap_or_else(|| "runbook.md".into());
            let file = nexus_ingest::runbooks::RunbookFile {
                path: args.path.as_deref().unwrap_or(&name),
                text: body,
                repository: ctx.repository.as_deref(),
                git_ref: args.git_ref.as_deref(),
            };
            nexus_ingest::runbooks::parse(&file, ctx).map_err(nexus_ingest::IngestError::from)?
        }
    };
    Ok(outcome)
}
