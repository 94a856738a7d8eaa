//! Command-line interface: which role to run. All settings come from the
//! environment (see `docs/configuration.md`), read once into a map.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Gatehouse: an MCP gateway. Settings are read from `GATEHOUSE_*` environment variables.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The roles the binary can run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane: admin API (GATEHOUSE_API_ADDR) and config stream (GATEHOUSE_GRPC_ADDR).
    ControlPlane,
    /// Run an edge: MCP proxy on GATEHOUSE_EDGE_ADDR, fed by GATEHOUSE_CONTROL_PLANE_URL.
    Edge,
    /// Run a control plane and one edge together, with state in GATEHOUSE_DATA_DIR (default ./.gatehouse).
    Dev,
    /// Print a new random master key (base64) for GATEHOUSE_MASTER_KEY.
    Keygen,
    /// Write the admin API's OpenAPI document (what `GET /v1/openapi.json` serves).
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Reconcile an org's workspaces, servers, provisioning and rate limits with a YAML or JSON file.
    Apply {
        /// The file (YAML or JSON; schema in docs/gatehouse-file.schema.json).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete workspaces, servers, provisions and rate limits the file does not name.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Write an org's workspaces, servers, provisioning and rate limits in the format `apply` reads.
    Export {
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Register the remote servers of an MCP client's config file and print the file to use instead.
    ImportClientConfig {
        /// The client's file (`claude_desktop_config.json`, `.cursor/mcp.json`, `.vscode/mcp.json`).
        file: PathBuf,
        /// Workspace to provision the servers to (created if missing).
        #[arg(long)]
        workspace: String,
        /// The Gatehouse user the minted gateway token names.
        #[arg(long, default_value = "imported-client")]
        user: String,
        /// The edge's public URL (default: GATEHOUSE_EDGE_PUBLIC_URL, else http://127.0.0.1:8787).
        #[arg(long)]
        edge_url: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// How the config commands reach the admin API.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Org slug (default: the file's `org`, else the credential's own org).
    #[arg(long)]
    pub org: Option<String>,
    /// Admin API URL (default: GATEHOUSE_API_URL, else http://127.0.0.1:8080).
    #[arg(long)]
    pub api_url: Option<String>,
    /// Org API key or platform admin token (default: GATEHOUSE_API_KEY, else GATEHOUSE_ADMIN_TOKEN).
    #[arg(long)]
    pub api_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command};

    #[test]
    fn config_commands_take_the_documented_flags() {
        let cli = Cli::try_parse_from([
            "gatehouse",
            "apply",
            "-f",
            "gatehouse.yaml",
            "--org",
            "acme",
            "--api-url",
            "http://cp:8080",
            "--api-key",
            "gak_x",
            "--dry-run",
            "--prune",
        ])
        .unwrap();
        let Command::Apply { file, dry_run, prune, api } = cli.command else { panic!("apply") };
        assert_eq!(file.to_str(), Some("gatehouse.yaml"));
        assert!(dry_run && prune);
        assert_eq!((api.org.as_deref(), api.api_url.as_deref()), (Some("acme"), Some("http://cp:8080")));
        let cli = Cli::try_parse_from(["gatehouse", "export", "-o", "out.yaml", "--api-key", "k"]).unwrap();
        assert!(matches!(cli.command, Command::Export { output: Some(_), .. }));
        let cli = Cli::try_parse_from([
            "gatehouse",
            "import-client-config",
            "claude_desktop_config.json",
            "--workspace",
            "eng",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::ImportClientConfig { ref workspace, .. } if workspace == "eng")
        );
    }
}
