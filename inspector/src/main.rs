//! `tabscope`: the inspector window, and the command line.

mod cli;
mod gui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        None => gui::run(gui::Options {
            bridge: cli.bridge.clone(),
            open: cli.open.clone(),
            ..Default::default()
        }),
        Some(_) => {
            let mut cli = cli;
            let cmd = cli.command.take().expect("checked above");
            cli::run(cli, cmd)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tabscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}
