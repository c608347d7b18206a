//! `nexus convert backstage PATH... [-o yaml]`.

use std::{path::PathBuf, process::ExitCode};

use nexus_ingest::{Context, backstage};

use crate::output::{self, Format};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Backstage catalog files or folders (Location targets are followed) → Nexus manifests
    /// for `kubectl apply` or GitOps. References that do not resolve are reported on stderr.
    Backstage(BackstageArgs),
}

#[derive(clap::Args, Debug)]
pub struct BackstageArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, short = 'o', value_enum, default_value = "yaml")]
    output: Format,
    /// Namespace for Backstage's `default` namespace.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Exit non-zero when a reference does not resolve within the converted files.
    #[arg(long)]
    strict: bool,
}

pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Backstage(args) = cmd;
    let ctx = Context::in_namespace(&args.namespace);
    let conversion = backstage::convert_paths(&args.paths, &ctx)?;
    for w in &conversion.warnings {
        eprintln!("warning: {w}");
    }
    for u in &conversion.unresolved {
        eprintln!(
            "unresolved: {} {} → {} (not among the converted entities)",
            u.from, u.field, u.target
        );
    }
    output::print(&conversion.objects, args.output)?;
    eprintln!(
        "converted {} entities; {} unresolved references; {} warnings",
        conversion.objects.len(),
        conversion.unresolved.len(),
        conversion.warnings.len()
    );
    if args.strict && !conversion.unresolved.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
