//! `ripcord`: validate, plan and run disaster-recovery runbooks.
//!
//! Thin by design: parse arguments, call the crates, print, pick the exit code.

mod cli;
mod commands;
mod exit;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let code = commands::dispatch(args);
    std::process::ExitCode::from(code as u8)
}
