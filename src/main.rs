//! The command line: `serve`, `check`. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use shardgate::config;
use shardgate::server::{self, Shared};

#[derive(Parser)]
#[command(
    name = "shardgate",
    version,
    about = "Hash-sharding proxy for MySQL and MariaDB"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve clients with the rules and backends of a server config.
    Serve {
        #[arg(long, default_value = "shardgate.toml")]
        config: PathBuf,
    },
    /// Validate rule files (a file or a directory); exits non-zero on any error.
    Check {
        /// Rule file or directory of rule files.
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { path } => check(&path),
        Command::Serve { config } => match serve(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shardgate: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let diagnostics = config::check(path);
    for d in diagnostics.iter() {
        println!("{d}");
    }
    if diagnostics.has_errors() {
        ExitCode::FAILURE
    } else {
        println!("{}: ok", path.display());
        ExitCode::SUCCESS
    }
}

fn serve(config_path: &std::path::Path) -> anyhow::Result<()> {
    let cfg = config::server::load_server_config(config_path)?;
    let rules =
        config::load_rules(&cfg.rules).map_err(|d| anyhow::anyhow!("invalid rule files:\n{d}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cfg.listen).await?;
        tracing::info!("shardgate listening on {}", listener.local_addr()?);
        let backends_probe = shardgate::backend::Backends::new(&rules, &cfg.backend);
        let version = match cfg.server_version.clone() {
            Some(v) => v,
            None => server::discover_server_version(&rules, &backends_probe).await,
        };
        backends_probe.disconnect_all().await;
        let shared = Arc::new(Shared::new(cfg, rules, version));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
        #[cfg(unix)]
        {
            let stop = shutdown.clone();
            tokio::spawn(async move {
                if let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    term.recv().await;
                    stop.cancel();
                }
            });
        }
        server::run(listener, shared.clone(), shutdown).await;
        shared.backends.disconnect_all().await;
        anyhow::Ok(())
    })
}
