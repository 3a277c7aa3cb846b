//! `actas`: the one binary. See `actas --help`.
#![allow(clippy::print_stdout)] // printing is this program's job

mod cli;
mod demo;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::init_logs(&args);
    match cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("actas: {e:#}");
            ExitCode::FAILURE
        }
    }
}
