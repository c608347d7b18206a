use std::process::ExitCode;

use clap::Parser;
use nexus_controller::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let cfg = Config::parse();
    if let Err(problem) = cfg.validate() {
        eprintln!("nexus-controller: {problem}");
        return ExitCode::from(2);
    }
    nexus_telemetry::init(cfg.log_format, "info,kube_runtime::controller=warn");
    match nexus_controller::run(cfg).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}
