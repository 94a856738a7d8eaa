//! Command-line interface: which role to run. All settings come from the
//! environment (see `docs/configuration.md`), read once into a map.

use clap::{Parser, Subcommand};

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
}
