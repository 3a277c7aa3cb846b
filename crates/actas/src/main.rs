//! `actas`: the one binary. See `actas --help`.
#![allow(clippy::print_stdout)] // printing is this program's job

mod cli;
mod config;
mod demo;
mod logs;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: see "Why these dependencies" in the README.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Args::parse();
    // The config file is checked whole before anything runs.
    let file = match args.config.as_deref().map(config::File::read).transpose() {
        Ok(file) => file.unwrap_or_else(config::File::none),
        Err(e) => return fail(&e),
    };
    let env = |name: &str| std::env::var(name).ok();
    let mut settings = config::Resolver::new(&file, &env);
    let (flags, command) = args.split();
    let common = match settings.common(flags) {
        Ok(common) => common,
        Err(e) => return fail(&e),
    };
    // Every value of the file is checked whatever the command, so a
    // mistake shows at the first command run, not at the next restart.
    if !matches!(command, cli::Command::Serve(_) | cli::Command::Config { .. }) {
        if let Err(e) = config::Resolver::new(&file, &env).serve(config::ServeFlags::default()) {
            return fail(&e);
        }
    }
    // Kept to the end: dropping it sends the last spans.
    let _flush = match cli::init_logs(&command, &common) {
        Ok(flush) => flush,
        Err(e) => return fail(&e),
    };
    match cli::run(command, settings, common).await {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// Says why the command failed; the exit code tells what kind of failure.
fn fail(e: &anyhow::Error) -> ExitCode {
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
