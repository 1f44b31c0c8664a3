//! `ripcord`: validate, plan and run disaster-recovery runbooks.
//!
//! Thin by design: parse arguments, call the crates, print, pick the exit code.

mod cli;
mod commands;
mod exit;
mod progress;
mod runs;

// The allocator the plan benchmark measures with: allocation-heavy parsing and validation are
// markedly faster with it than with glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let code = commands::dispatch(args);
    std::process::ExitCode::from(code as u8)
}
