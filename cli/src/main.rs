//! `nexus` — the Nexus command line. Also usable as a kubectl plugin (`kubectl nexus …`) when
//! installed as `kubectl-nexus`.
//!
//! Offline commands change nothing anywhere: they read a file and print what ingestion would
//! apply, which is how people debug integrations and migrate from Backstage. `nexus gate` asks
//! the controller's promotion gate (read-only) from a pipeline step.

mod audit;
mod convert;
mod gate;
mod ingest;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "nexus", version, about = "Nexus internal developer platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse a webhook delivery, REST response or state file offline and print the objects and
    /// status patches ingestion would apply. Changes nothing.
    Ingest(ingest::Args),
    /// Convert catalogs from other tools into Nexus manifests.
    #[command(subcommand)]
    Convert(convert::Command),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Ask the promotion gate whether an entity may go to production (for pipeline steps):
    /// exit 0 allowed, 1 blocked (with the reasons), 2 undecided.
    Gate(gate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest::run(&args),
        Command::Convert(cmd) => convert::run(&cmd),
        Command::Audit(cmd) => audit::run(&cmd),
        Command::Gate(args) => gate::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
