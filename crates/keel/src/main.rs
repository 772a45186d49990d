//! `keel`: the one command-line tool of the Keel backbone system.

mod cmd;
mod input;
mod report;
mod warm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keel — open software-defined backbone: model, traffic engineering, control.
///
/// Start with `keel serve`: with no arguments it runs a working controller on the
/// built-in Abilene backbone. `keel solve` engineers the traffic of a network once
/// and explains the result.
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
    Serve(cmd::serve::Args),
    Agent(cmd::agent::Args),
    #[command(subcommand)]
    Lab(cmd::lab::Command),
    /// Forecast backtests and traffic-matrix estimation on measured traffic.
    #[command(subcommand)]
    Forecast(cmd::forecast::Command),
    /// Show a running controller's state.
    Status {
        #[command(flatten)]
        conn: cmd::client::Conn,
    },
    /// Manage backbone services on a running controller.
    Svc {
        #[command(flatten)]
        conn: cmd::client::Conn,
        #[command(subcommand)]
        cmd: cmd::client::Svc,
    },
    /// Drain, undrain, fail or restore links on a running controller.
    Link {
        #[command(flatten)]
        conn: cmd::client::Conn,
        #[command(subcommand)]
        cmd: cmd::client::Link,
    },
    /// Manage API tokens on a running controller.
    Token {
        #[command(flatten)]
        conn: cmd::client::Conn,
        #[command(subcommand)]
        cmd: cmd::client::Token,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Solve(args) => cmd::solve::run(args),
        Command::Whatif(args) => cmd::whatif::run(args),
        Command::Topo(c) => cmd::topo::run(c),
        Command::GenTm(args) => cmd::gentm::run(args),
        Command::Convert(c) => cmd::convert::run(c),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Agent(args) => cmd::agent::run(args),
        Command::Lab(c) => cmd::lab::run(c),
        Command::Forecast(c) => cmd::forecast::run(c),
        Command::Status { conn } => cmd::client::status(conn),
        Command::Svc { conn, cmd } => cmd::client::svc(conn, cmd),
        Command::Link { conn, cmd } => cmd::client::link(conn, cmd),
        Command::Token { conn, cmd } => cmd::client::token(conn, cmd),
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
