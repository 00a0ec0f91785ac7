//! `tabscope-bridge`: the native-messaging host. The browser starts it with
//! `[path, host-manifest-path, extension-id]` when the tabscope agent calls
//! `runtime.connectNative("tabscope_bridge")`.
//!
//! stdout carries frames and nothing else: logs go to stderr and to
//! `bridge.log` in the state directory (a headless browser shows no stderr).

mod logging;
mod recorder;
mod replay;
mod router;
mod server;
mod stdio;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use router::{Clock, Config, Exit, Input, Router};
use tabscope_shared::discovery;
use tabscope_shared::protocol::BridgeInfo;
use tracing::{error, info};

/// Messages waiting for the router, at most.
const INPUT_QUEUE: usize = 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--version" || a == "-V") {
        // Safe: only a person runs this flag, never the browser.
        eprintln!("tabscope-bridge {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let log_path = logging::init();
    match run(&args) {
        Ok(Exit::Eof) => {
            info!("browser closed the connection; bye");
            ExitCode::SUCCESS
        }
        Ok(Exit::Signal(sig)) => {
            info!("signal {sig}; bye");
            ExitCode::SUCCESS
        }
        Ok(Exit::Fatal(why)) => {
            error!("the browser's byte stream is broken, stopping: {why}");
            ExitCode::from(2)
        }
        Err(e) => {
            error!("cannot start: {e:#} (log: {})", log_path.display());
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<Exit> {
    let clock = Clock::new();
    let pid = std::process::id();
    let replay = replay::parse_args(args).map_err(anyhow::Error::msg)?;
    let replay_reader = replay.as_ref().map(replay::open).transpose()?;
    let extension_id = match &replay_reader {
        Some(r) => r.header().agent.as_ref().map(|a| a.extension_id.clone()),
        None => args.get(2).cloned(),
    };
    match &replay {
        Some(o) => {
            info!("tabscope-bridge {} replays {}: pid {pid}", env!("CARGO_PKG_VERSION"), o.file.display())
        }
        None => info!(
            "tabscope-bridge {} started: pid {pid}, manifest {:?}, extension {:?}",
            env!("CARGO_PKG_VERSION"),
            args.get(1),
            extension_id
        ),
    }
    let runtime_dir = discovery::runtime_dir().context("runtime directory")?;
    let socket = discovery::new_socket_name(&runtime_dir, pid);
    // Entries of bridges that died without cleaning up.
    let _ = discovery::list_bridges(&runtime_dir);
    let listener = server::listen(&socket).with_context(|| format!("listening on {}", socket.display()))?;

    let trace = std::env::var_os("TABSCOPE_TRACE").filter(|p| !p.is_empty()).map(PathBuf::from);
    let command_timeout = std::env::var("TABSCOPE_COMMAND_TIMEOUT_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(5));

    let info = BridgeInfo {
        pid,
        version: env!("CARGO_PKG_VERSION").into(),
        started: clock.started(),
        extension_id,
        profile: if replay.is_some() { None } else { browser_profile() },
        replay: replay.as_ref().map(|o| o.file.display().to_string()),
        launch_token: tabscope_shared::protocol::launch_token_from_env(),
    };
    // Bounded: when the browser sends faster than the router keeps up, the
    // stdin thread waits (the pipe holds the rest) instead of parsed
    // messages piling up in memory (measured: 400 MiB for a 120,000-event burst).
    let (tx, rx) = crossbeam_channel::bounded::<Input>(INPUT_QUEUE);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<stdio::Outgoing>(stdio::TO_BROWSER_QUEUE);
    spawn_signals(tx.clone())?;
    let flight = recorder::flight_from_env();
    let inputs = tx.clone();
    let mut router = Router::new(
        Config { runtime_dir, socket, info, command_timeout, trace, flight, inputs },
        clock,
        out_tx,
    )?;
    match (replay, replay_reader) {
        (Some(o), Some(reader)) => {
            spawn_parent_watch(tx.clone())?;
            let (start_tx, start_rx) = crossbeam_channel::bounded(1);
            router.on_first_client(start_tx);
            replay::spawn_answering(out_rx, tx.clone())?;
            replay::spawn(reader, o, start_rx, tx.clone())?;
        }
        _ => {
            stdio::spawn_stdout(out_rx)?;
            let (spent_tx, spent_rx) = crossbeam_channel::unbounded();
            router.free_spent_on(spent_tx);
            stdio::spawn_stdin(tx.clone(), spent_rx)?;
        }
    }
    server::spawn_accept(listener, tx)?;
    Ok(router.run(rx))
}

#[cfg(unix)]
fn spawn_signals(tx: crossbeam_channel::Sender<Input>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = tx.send(Input::Signal(sig));
        }
    })?;
    Ok(())
}

/// A replaying bridge has no browser whose end of stdin would stop it: it
/// stops when the `tabscope replay` that started it is gone, however that
/// died (Linux also sends it SIGTERM then; this covers the other systems).
#[cfg(unix)]
fn spawn_parent_watch(tx: crossbeam_channel::Sender<Input>) -> anyhow::Result<()> {
    let parent = std::os::unix::process::parent_id();
    std::thread::Builder::new().name("parent-watch".into()).spawn(move || {
        while std::os::unix::process::parent_id() == parent {
            std::thread::sleep(Duration::from_millis(250));
        }
        let _ = tx.send(Input::Signal(signal_hook::consts::SIGHUP));
    })?;
    Ok(())
}

#[cfg(not(unix))]
fn spawn_parent_watch(_tx: crossbeam_channel::Sender<Input>) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn spawn_signals(_tx: crossbeam_channel::Sender<Input>) -> anyhow::Result<()> {
    Ok(())
}

/// The browser's profile folder, read from its command line when it was
/// given one (`-profile DIR`), as `tabscope launch` does. The browser may be
/// a few processes up: a wrapper such as `tabscope tap` can sit between.
/// sysinfo reads other processes' command lines on Linux, macOS and Windows.
fn browser_profile() -> Option<String> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new().ok()?;
    let mut pid = Pid::from_u32(std::process::id());
    // Ourselves, then up to four processes up.
    for _ in 0..5 {
        let what = ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always);
        sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), false, what);
        let process = sys.process(pid)?;
        let args: Vec<String> = process.cmd().iter().map(|a| a.to_string_lossy().into_owned()).collect();
        if let Some(at) = args.iter().position(|a| a == "-profile" || a == "--profile") {
            return args.get(at + 1).cloned();
        }
        pid = process.parent()?;
        if pid.as_u32() <= 1 {
            return None;
        }
    }
    None
}
