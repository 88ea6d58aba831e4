//! `flowlogs`: parse, query and analyze VPC Flow Logs objects from files or S3, with the same
//! core as the Lambda functions.

mod analyze_cmd;
mod args;
mod filter;
mod generate_cmd;
mod input;
mod parse_cmd;
mod progress;
mod replay_cmd;
mod s3;
mod stats_cmd;
mod text;
mod when;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

/// Why a command stopped. Inputs that fail are not errors of the command: each is reported
/// and counted, the others still read (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Options that cannot be used together or as given (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// Output could not be written (exit status 1).
    #[error("writing output: {0}")]
    Output(String),
    /// Something the command needs failed (exit status 1).
    #[error("{0}")]
    Failed(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.color.apply();
    cli.progress.apply();
    match run(cli.command) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_failed_inputs) => ExitCode::FAILURE,
        Err(Error::Usage(message)) => Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit(),
        Err(error) => {
            eprintln!("flowlogs: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command; returns how many inputs failed (each already reported).
fn run(command: Command) -> Result<usize, Error> {
    match command {
        Command::Parse(args) => parse_cmd::run(args),
        Command::Stats(args) => stats_cmd::run(args),
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Generate(args) => generate_cmd::run(&args).map(|()| 0),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "flowlogs", &mut out);
            text::print(&String::from_utf8_lossy(&out)).map(|()| 0)
        }
    }
}
