//! `actas`: the one binary. See `actas --help`.
#![allow(clippy::print_stdout)] // printing is this program's job

mod cli;
mod demo;
mod logs;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::init_logs(&args);
    match cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            // Not eprintln!: it panics when standard error cannot be written.
            let _ = writeln!(std::io::stderr(), "actas: {e:#}");
            // The signing keys cannot be opened: a distinct code, so that a
            // supervisor can tell a missing or wrong key-encryption key.
            if e.chain().any(|c| c.downcast_ref::<actas_server::KeyError>().is_some()) {
                ExitCode::from(actas_server::KeyError::EXIT_CODE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
