//! `tabscope`: the inspector window, and the command line.

use std::process::ExitCode;

use clap::Parser;
use tabscope::{cli, gui};

fn main() -> ExitCode {
    let mut cli = cli::Cli::parse();
    let result = match cli.command.take() {
        None => gui::run(gui::Options {
            bridge: cli.bridge.clone(),
            open: cli.open.clone(),
            ..Default::default()
        }),
        Some(cli::Cmd::Open { file }) => {
            gui::run(gui::Options { bridge: cli.bridge.clone(), open: Some(file), ..Default::default() })
        }
        Some(cmd) => cli::run(cli, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors carry the browser's words (`call`'s error, a title).
            eprintln!("tabscope: {}", tabscope_shared::terminal::escape_lines(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
