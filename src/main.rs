//! `rally` binary: parse the command line, load the configuration, dispatch.

use clap::Parser;
use rally::cli::{AdminAction, Cli, Command, ReplayAction, TokenAction};
use rally::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_settings(&cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rally: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    rally::telemetry::init(&config.log, config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => rally::commands::migrate(&config),
        Command::Admin { action } => match action {
            AdminAction::GrantOrganiser { name } => {
                rally::commands::set_organiser(&config, &name, true)
            }
            AdminAction::RevokeOrganiser { name } => {
                rally::commands::set_organiser(&config, &name, false)
            }
        },
        Command::Healthcheck { url } => rally::commands::healthcheck(&config, url.as_deref()),
        Command::Token { action } => match action {
            TokenAction::Attenuate { token, checks } => rally::commands::attenuate(&token, &checks),
            TokenAction::Inspect { token } => rally::commands::inspect(&token),
        },
        Command::Replay { action } => match action {
            ReplayAction::Verify { target } => rally::commands::replay_verify(&config, &target),
        },
        Command::Loadgen(args) => rally::bot::loadgen::command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rally: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    // Every WebSocket is a file descriptor: use the whole hard limit (the soft one is often
    // 1,024). rally_process_max_fds shows the limit in force.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let listener = std::net::TcpListener::bind(&config.bind)
        .map_err(|e| anyhow::anyhow!("RALLY_BIND: cannot bind {}: {e}", config.bind))?;
    actix_web::rt::System::new().block_on(rally::app::run(listener, config, shutdown_signal()))
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
