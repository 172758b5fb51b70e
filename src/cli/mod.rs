//! Command-line parsing and dispatch; each subcommand lives in its own file here.

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
enum Command {}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
