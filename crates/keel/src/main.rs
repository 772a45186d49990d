//! `keel`: the one command-line tool of the Keel backbone system.

mod cmd;
mod input;
mod report;
mod warm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keel — open software-defined backbone: model, traffic engineering, control.
///
/// Start with `keel solve`: with no arguments it engineers the traffic of the
/// built-in Abilene backbone and explains the result.
#[derive(Parser)]
#[command(name = "keel", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Solve(cmd::solve::Args),
    Whatif(cmd::whatif::Args),
    #[command(subcommand)]
    Topo(cmd::topo::Command),
    GenTm(cmd::gentm::Args),
    #[command(subcommand)]
    Convert(cmd::convert::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Solve(args) => cmd::solve::run(args),
        Command::Whatif(args) => cmd::whatif::run(args),
        Command::Topo(c) => cmd::topo::run(c),
        Command::GenTm(args) => cmd::gentm::run(args),
        Command::Convert(c) => cmd::convert::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keel: error: {err:#}");
            // Bad input (unreadable file, format or model error) is the user's to fix:
            // exit 2 like a usage error; anything else is a failure of Keel itself.
            if input::is_input_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
