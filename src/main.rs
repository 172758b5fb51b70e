//! The `hakit` command: one binary, one subcommand per replaced tool.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
