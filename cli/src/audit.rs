//! `nexus audit verify PATH...`: checks an audit log's hash chain offline.

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Verify audit log segments (files, or directories of audit-NNNNNNNN.jsonl segments):
    /// every entry unedited, none removed, inserted or reordered, no truncated line. Prints a
    /// summary and exits 0, or prints `error: <file>:<line>: <what is wrong>` and exits 1.
    Verify(VerifyArgs),
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    let Command::Verify(args) = cmd;
    match nexus_audit::log::verify(&args.paths) {
        Ok(s) => {
            println!("ok: {} entries in {} segment(s)", s.entries, s.segments);
            println!("first: seq {} at {}", s.first.seq, s.first.time);
            println!("last:  seq {} at {}", s.last.seq, s.last.time);
            println!("last hash: {}", s.last.hash);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
