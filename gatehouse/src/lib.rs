//! The gatehouse binary as a library: CLI, telemetry, role start-up and dev mode.
//!
//! `main.rs` only parses the command line and calls [`run`]; tests can drive
//! the same code.

pub mod cli;
pub mod dev;
pub mod roles;
pub mod telemetry;

use std::collections::BTreeMap;

use cli::{Cli, Command};
use tokio_util::sync::CancellationToken;

/// Runs the command with settings from `env` (the process environment).
pub async fn run(cli: Cli, env: BTreeMap<String, String>) -> anyhow::Result<()> {
    let service = match cli.command {
        Command::Keygen => {
            println!("{}", gatehouse_control_plane::credentials::MasterKey::generate().to_base64());
            return Ok(());
        }
        Command::ControlPlane => "gatehouse-control-plane",
        Command::Edge => "gatehouse-edge",
        Command::Dev => "gatehouse-dev",
    };
    let _telemetry = telemetry::init(&telemetry::TelemetryConfig::from_env(service, &env)?)?;
    let token = CancellationToken::new();
    match cli.command {
        Command::ControlPlane => {
            tokio::spawn(roles::shutdown_signal(token.clone()));
            roles::control_plane(&env, token.cancelled_owned()).await
        }
        Command::Edge => {
            tokio::spawn(roles::shutdown_signal(token.clone()));
            roles::edge(&env, token.cancelled_owned()).await
        }
        Command::Dev => dev::run(env).await,
        Command::Keygen => unreachable!("handled above"),
    }
}
