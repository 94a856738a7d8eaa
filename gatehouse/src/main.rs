//! `gatehouse`: control plane, edge, or both (`dev`).

use clap::Parser as _;

// Both planes allocate small, short-lived buffers per request on every worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    let env = std::env::vars().collect();
    match gatehouse::run(cli, env).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gatehouse: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
