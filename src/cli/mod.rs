//! Command-line parsing and dispatch; each subcommand lives in its own file here.

mod demo;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// High-availability building blocks: drop-in replacements for etcd, HAProxy, an LVS
/// director and keepalived.
#[derive(Debug, Parser)]
#[command(name = "hakit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a 3-node Raft key-value cluster on loopback, health-checked and load-balanced,
    /// kill its leader under write load, and report recovery time and recovery point.
    Demo(demo::DemoArgs),
    /// Run the deterministic Raft simulation over a range of seeds, checking safety and
    /// linearizability; a failing seed prints the command that replays it.
    Sim(sim::SimArgs),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Sim(args) => sim::run(args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("hakit: {error:#}");
            ExitCode::FAILURE
        }
    }
}
