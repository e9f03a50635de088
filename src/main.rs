//! `rally` binary: parse the command line, load the configuration, dispatch.

use clap::Parser;
use rally::cli::{AdminAction, Cli, Command, LogSettings, ReplayAction, TokenAction};
use rally::config::{Config, LogFormat};
use std::process::ExitCode;

/// A failure of the command: exit 2 for invalid settings (nothing was done), 1 otherwise.
enum Failure {
    Config(anyhow::Error),
    Run(anyhow::Error),
}

fn main() -> ExitCode {
    match run(Cli::parse().into_command()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("rally: configuration error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("rally: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Validate what `command` needs, start logging, run it.
fn run(command: Command) -> Result<(), Failure> {
    use rally::commands;
    let done = match command {
        Command::Serve(settings) => {
            let config = Config::from_settings(&settings).map_err(Failure::Config)?;
            rally::telemetry::init(&config.log, config.log_format);
            serve(config)
        }
        Command::Migrate(args) => {
            logging(&args.logging)?;
            let url = args.store.database().map_err(Failure::Config)?;
            commands::migrate(&url, args.create)
        }
        Command::Admin { action } => {
            let (name, db, organiser) = match action {
                AdminAction::GrantOrganiser { name, db } => (name, db, true),
                AdminAction::RevokeOrganiser { name, db } => (name, db, false),
            };
            logging(&db.logging)?;
            let url = db.store.database().map_err(Failure::Config)?;
            commands::set_organiser(&url, &name, organiser)
        }
        Command::Healthcheck(args) => commands::healthcheck(&args.listen.bind, args.url.as_deref()),
        Command::Token { action } => match action {
            TokenAction::Attenuate { token, checks } => commands::attenuate(&token, &checks),
            TokenAction::Inspect { token } => commands::inspect(&token),
        },
        Command::Replay {
            action: ReplayAction::Verify { target, db },
        } => {
            logging(&db.logging)?;
            let url = db.store.database().map_err(Failure::Config)?;
            commands::replay_verify(&url, &target)
        }
        Command::Loadgen(args) => {
            logging(&args.logging)?;
            rally::bot::loadgen::command(&args)
        }
    };
    done.map_err(Failure::Run)
}

/// Start logging as `settings` say (a command without logging settings logs nothing).
fn logging(settings: &LogSettings) -> Result<(), Failure> {
    let (filter, format): (String, LogFormat) = settings.validate().map_err(Failure::Config)?;
    rally::telemetry::init(&filter, format);
    Ok(())
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
