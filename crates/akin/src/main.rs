//! The `akin` binary: parses the command line and wires storage, domain and HTTP together.

mod backup_cmd;
mod blueprint_cmd;
mod bootstrap;
mod cli;
mod config;
mod email_cmd;
mod error;
mod invitation_cmd;
mod serve;
mod telemetry;
mod user_cmd;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{BlueprintCommand, Cli, Command, EmailCommand, InvitationCommand, UserCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything else: the worker's standard output is its pipe to the server.
    if let Command::ExpressionWorker { memory_mib } = cli.command {
        akin_expr::worker::serve(memory_mib);
    }
    telemetry::init(cli.global.log_format, &cli.global.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("akin: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let serving = matches!(cli.command, Command::Serve(_));
    let url = cli.global.database_url;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(options) => serve::run(&url, *options).await,
            Command::Migrate => {
                let store = serve::open_store(&url).await?;
                store.db().close().await;
                println!("migrations applied to {}", akin_store::redact_url(&url));
                Ok(())
            }
            Command::User(UserCommand::Create(options)) => user_cmd::create(&url, options).await,
            Command::Email(EmailCommand::Test(options)) => email_cmd::test(options).await,
            Command::Blueprint(BlueprintCommand::Apply(options)) => {
                blueprint_cmd::run(&url, options, false).await
            }
            Command::Blueprint(BlueprintCommand::Validate(options)) => {
                blueprint_cmd::run(&url, options, true).await
            }
            Command::Invitation(InvitationCommand::Create(options)) => {
                invitation_cmd::create(&url, options).await
            }
            Command::Invitation(InvitationCommand::Send(options)) => {
                invitation_cmd::send(&url, options).await
            }
            Command::Invitation(InvitationCommand::List(options)) => {
                invitation_cmd::list(&url, options).await
            }
            Command::Invitation(InvitationCommand::Revoke(options)) => {
                invitation_cmd::revoke(&url, options).await
            }
            Command::Invitation(InvitationCommand::Reissue(options)) => {
                invitation_cmd::reissue(&url, options).await
            }
            Command::Invitation(InvitationCommand::Import(options)) => {
                invitation_cmd::import(&url, options).await
            }
            Command::Backup { file } => backup_cmd::run(&url, &file).await,
            // Served above, before the runtime and the logs.
            Command::ExpressionWorker { memory_mib } => akin_expr::worker::serve(memory_mib),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if serving {
                tracing::error!(%error, "akin stopped on an error");
            }
            eprintln!("akin: {error}");
            ExitCode::FAILURE
        }
    }
}
