use clap::Parser;
use nexus_apiserver::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(cfg) => {
            nexus_telemetry::init(cfg.log_format, "info,tantivy=warn");
            nexus_apiserver::run(*cfg).await
        }
        Command::DevToken(args) => {
            println!("{}", nexus_apiserver::authn::dev::dev_token(&args)?);
            Ok(())
        }
    }
}
