//! The gatehouse binary as a library: CLI, telemetry, role start-up and dev mode.
//!
//! `main.rs` only parses the command line and calls [`run`]; tests can drive
//! the same code.

pub mod cli;
pub mod config_as_code;
pub mod dev;
pub mod roles;
pub mod telemetry;

use std::collections::BTreeMap;

use anyhow::Context as _;
use cli::{Cli, Command};
use tokio_util::sync::CancellationToken;

/// Runs the command with settings from `env` (the process environment).
pub async fn run(cli: Cli, env: BTreeMap<String, String>) -> anyhow::Result<()> {
    let service = match cli.command {
        Command::Keygen => {
            println!("{}", gatehouse_control_plane::credentials::MasterKey::generate().to_base64());
            return Ok(());
        }
        Command::Openapi { output } => {
            let document = gatehouse_control_plane::api::document_json();
            let text = serde_json::to_string_pretty(&document)? + "\n";
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?
                }
                None => print!("{text}"),
            }
            return Ok(());
        }
        Command::Apply { file, dry_run, prune, api } => {
            let parsed = config_as_code::file::GatehouseFile::read(&file)?;
            let target = api_target(api, parsed.org.clone(), &env)?;
            let options = config_as_code::apply::ApplyOptions { dry_run, prune };
            let mut out = std::io::stdout();
            config_as_code::apply::apply(&parsed, &file, target, &env, &options, &mut out).await?;
            return Ok(());
        }
        Command::Export { output, api } => {
            let file = config_as_code::export::export(api_target(api, None, &env)?).await?;
            let yaml = file.to_yaml();
            match output {
                Some(path) => {
                    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?
                }
                None => print!("{yaml}"),
            }
            return Ok(());
        }
        Command::ImportClientConfig { file, workspace, user, edge_url, api } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let edge_url = edge_url
                .or_else(|| env.get("GATEHOUSE_EDGE_PUBLIC_URL").cloned())
                .unwrap_or_else(|| format!("http://{}", roles::DEFAULT_EDGE_ADDR));
            let options = config_as_code::import_client::ImportOptions { workspace, user, edge_url };
            let target = api_target(api, None, &env)?;
            let (mut out, mut report) = (std::io::stdout(), std::io::stderr());
            config_as_code::import_client::import_client_config(
                &text,
                target,
                &options,
                &mut out,
                &mut report,
            )
            .await?;
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
        Command::Keygen
        | Command::Openapi { .. }
        | Command::Apply { .. }
        | Command::Export { .. }
        | Command::ImportClientConfig { .. } => {
            unreachable!("handled above")
        }
    }
}

/// The admin API target of a config command: flags, then the environment, then defaults.
fn api_target(
    api: cli::ApiArgs,
    file_org: Option<String>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<config_as_code::ApiTarget> {
    let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let api_key = api
        .api_key
        .or_else(|| var("GATEHOUSE_API_KEY"))
        .or_else(|| var("GATEHOUSE_ADMIN_TOKEN"))
        .context(
        "no credential: pass --api-key, or set GATEHOUSE_API_KEY (an org API key) or GATEHOUSE_ADMIN_TOKEN",
    )?;
    Ok(config_as_code::ApiTarget {
        api_url: api
            .api_url
            .or_else(|| var("GATEHOUSE_API_URL"))
            .unwrap_or_else(|| format!("http://{}", roles::DEFAULT_API_ADDR)),
        api_key: secrecy::SecretString::from(api_key),
        org: api.org.or(file_org),
    })
}
