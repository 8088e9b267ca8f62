//! The `akin` binary: parses the command line and wires storage, domain and HTTP together.

mod bootstrap;
mod cli;
mod config;
mod error;
mod password;
mod serve;
mod telemetry;
mod user_cmd;

use clap::Parser;

use crate::cli::{Cli, Command, UserCommand};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.global.log_format, &cli.global.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let url = cli.global.database_url;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(options) => serve::run(&url, options).await,
            Command::Migrate => {
                let store = serve::open_store(&url).await?;
                store.db().close().await;
                println!("migrations applied to {}", akin_store::redact_url(&url));
                Ok(())
            }
            Command::User(UserCommand::Create(options)) => user_cmd::create(&url, options).await,
        }
    });
    if let Err(error) = &result {
        tracing::error!(%error, "akin failed");
    }
    Ok(result?)
}
