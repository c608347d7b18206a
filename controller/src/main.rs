use std::process::ExitCode;

use clap::Parser;
use nexus_controller::{config::Config, runtime::telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cfg = Config::parse();
    if let Err(problem) = cfg.validate() {
        eprintln!("nexus-controller: {problem}");
        return ExitCode::from(2);
    }
    telemetry::init(cfg.log_format);
    match nexus_controller::run(cfg).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}
