//! `ripcord`: validate, plan and run disaster-recovery runbooks.
//!
//! Thin by design: parse arguments, call the crates, print, pick the exit code.
//!
//! Modules, low to high (each uses only those before it): `cli` (arguments) and `exit` (codes),
//! `error`, `output`, then `store`, `setup`, `metrics` and `progress`, then `commands`. The test
//! in `layers.rs` holds that order.

mod cli;
mod commands;
mod error;
mod exit;
#[cfg(test)]
mod layers;
mod metrics;
mod output;
mod progress;
mod setup;
mod store;

// The allocator the plan benchmark measures with: allocation-heavy parsing and validation are
// markedly faster with it than with glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // kube, reqwest and the AWS SDK all use rustls with aws-lc-rs; name it the process's provider
    // before any TLS (rustls panics at the first TLS call when it cannot tell which to use).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = cli::Cli::parse();
    let code = match commands::dispatch(args) {
        Ok(done) => done.exit_code(),
        Err(e) => {
            output::error(&e);
            e.exit_code()
        }
    };
    std::process::ExitCode::from(code as u8)
}
