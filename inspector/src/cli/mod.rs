//! The command line: every subcommand works without a display.

pub mod bridges;
pub mod doctor;
pub mod input;
pub mod install;
pub mod launch;
pub mod logs;
pub mod reload;
pub mod tap;
pub mod trace;
pub mod values;
pub mod wait;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tabscope",
    version,
    about = "Inspect and drive the windows, tabs and session values of a live Thunderbird or Firefox",
    long_about = "Inspect and drive the windows, tabs and session values of a live Thunderbird or Firefox.\n\n\
                  With no subcommand, opens the inspector window."
)]
pub struct Cli {
    /// Which bridge to talk to: its pid, its agent's extension id, or a browser
    /// name ("thunderbird", "firefox"). Needed only when several are running.
    #[arg(long, global = true, value_name = "ID")]
    pub bridge: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Open a recorded trace in the inspector (no browser needed).
    #[arg(long, value_name = "TRACE")]
    pub open: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Running bridges (one per connected browser).
    List,
    /// The current windows, tabs and session values, as JSON.
    Snapshot,
    /// Every event as one JSON line, until Ctrl-C.
    Watch {
        /// A tapped native-messaging host's frames instead (`tabscope tap`),
        /// live, run after run.
        #[arg(long, value_name = "HOST")]
        tap: Option<String>,
    },
    /// Wait for an event (`tabs.onCreated`, ...) and print it as JSON: for
    /// scripts and add-on tests. Says "waiting" on stderr once listening;
    /// exits 1 on timeout.
    Wait {
        event: String,
        /// Only an event containing this JSON, e.g. '{"args":[{"url":"about:blank"}]}';
        /// `@FILE` reads it from a file.
        #[arg(long = "match", value_name = "JSON")]
        matching: Option<String>,
        /// Give up after this long, e.g. 10s.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Watch any native-messaging host's frames: its manifest is pointed at
    /// tabscope's tap, which runs the real host and records every frame
    /// both ways (bytes unchanged) as a trace. Without NAME: the hosts found.
    Tap {
        name: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        browser: tap::TapBrowser,
    },
    /// Restore a tapped host's manifest, byte for byte.
    Untap { name: String },
    /// Run by a tapped manifest in the host's place (not for people).
    #[command(hide = true)]
    TapRun {
        #[arg(long)]
        name: String,
        #[arg(long)]
        host: PathBuf,
        #[arg(long)]
        traces: PathBuf,
        #[arg(last = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Call a tabs, windows or sessions function, e.g.
    /// `tabscope call sessions.setTabValue '{"tabId":3,"key":"k","value":"v"}'`.
    Call {
        /// `tabs.create`, `sessions.getTabValue`, ... (`tabscope methods` lists them).
        method: String,
        /// Parameters as a JSON object keyed by the API reference's names;
        /// `-` reads them from standard input, `@FILE` from a file (for
        /// values bigger than a command line takes).
        #[arg(default_value = "{}")]
        params: String,
    },
    /// Every add-on's console (x-ray): each console call, uncaught error,
    /// unhandled rejection and browser message, as the bridge kept it.
    Logs {
        /// Only this add-on's (its id).
        #[arg(long, value_name = "ID")]
        addon: Option<String>,
        /// Only records at least this serious: debug, log, info, trace, warn, error.
        #[arg(long, value_name = "LEVEL", value_parser = tabscope_shared::console::Level::parse)]
        level: Option<tabscope_shared::console::Level>,
        /// Then print new records as they come, until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
    },
    /// Reload an add-on from its files (x-ray), as about:debugging's Reload
    /// does: new code runs, its experiment's too.
    Reload {
        /// The add-on's id (`tabscope call agent.addons` lists them).
        id: String,
    },
    /// Record a trace (events, commands, replies, errors) until Ctrl-C or --for.
    /// The bridge writes the file as it happens.
    Record {
        #[arg(long, short, value_name = "FILE")]
        out: PathBuf,
        /// How long, e.g. 30s, 5m, 1h30m.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Save what just happened: the bridge's flight recorder (its last
    /// events, kept in memory all along) as a trace.
    Flight {
        #[arg(long, short, value_name = "FILE")]
        out: PathBuf,
    },
    /// Every add-on's session values in a profile on disk (the browser
    /// closed or crashed), from its session files.
    ///
    /// With `set`, `remove` or `restore`, edits them while the browser is
    /// closed: the old file is kept beside the new one.
    Values {
        /// The profile folder; without it, the running browser's values
        /// (through x-ray, every add-on's).
        #[arg(long, value_name = "DIR")]
        profile: Option<PathBuf>,
        /// Read (or edit) this session file (default: the current one; a
        /// backup or recovery file to recover from).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(subcommand)]
        edit: Option<values::EditCmd>,
    },
    /// Open a trace in the inspector (timeline, time travel, compare), or a
    /// browser profile folder (every add-on's saved session values, editable
    /// while the browser is closed).
    Open { file: PathBuf },
    /// Serve a recorded trace as if it were a live browser, for the inspector
    /// and any client.
    Replay {
        file: PathBuf,
        /// 1 = as recorded, 10 = ten times faster, max = as fast as possible.
        #[arg(long, default_value = "1")]
        speed: String,
        /// Exit at the end instead of serving the final state until Ctrl-C.
        #[arg(long)]
        exit_at_end: bool,
    },
    /// Look into trace files: statistics, export.
    #[command(subcommand)]
    Trace(trace::TraceCmd),
    /// The functions `call` accepts, with their parameter names.
    Methods,
    /// Install the native-messaging host manifest where the browsers read it.
    Install {
        #[arg(long, value_enum, default_value_t = BrowserChoice::All)]
        browser: BrowserChoice,
        /// Also allow this add-on id (an add-on that embeds the agent). Repeatable.
        #[arg(long = "extension-id", value_name = "ID")]
        extension_ids: Vec<String>,
        /// The bridge binary (default: tabscope-bridge next to this program).
        #[arg(long, value_name = "PATH")]
        bridge_path: Option<PathBuf>,
    },
    /// Remove the host manifest.
    Uninstall {
        #[arg(long, value_enum, default_value_t = BrowserChoice::All)]
        browser: BrowserChoice,
    },
    /// Check every link from browser to inspector and say what to fix.
    Doctor,
    /// Build the agent add-on (.xpi) to install in Thunderbird or Firefox.
    Package {
        #[arg(long, default_value = "tabscope-agent.xpi")]
        out: PathBuf,
        /// Include x-ray: a privileged experiment that reads and edits every
        /// add-on's session values and sees every add-on's API calls. It
        /// runs with the browser's full rights; see the README before you
        /// install it in an everyday profile.
        #[arg(long)]
        xray: bool,
    },
    /// Start Thunderbird or Firefox with a development profile, the agent and
    /// your add-ons, and open the inspector on it.
    Launch(launch::LaunchArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BrowserChoice {
    Thunderbird,
    Firefox,
    All,
}

/// The agent add-on's files, carried in the binary so that packaging and
/// launching work from anywhere.
pub const ADDON_FILES: &[(&str, &str)] = &[
    ("manifest.json", include_str!("../../../addon/manifest.json")),
    ("background.js", include_str!("../../../addon/background.js")),
    ("tabscope-agent.js", include_str!("../../../addon/tabscope-agent.js")),
    ("options.html", include_str!("../../../addon/options.html")),
    ("options.js", include_str!("../../../addon/options.js")),
];

/// x-ray's experiment (addon/xray/), added to the agent where the user
/// chose it; its manifest entry is added by [`install::agent_files`].
pub const XRAY_FILES: &[(&str, &str)] = &[
    ("xray/schema.json", include_str!("../../../addon/xray/schema.json")),
    ("xray/parent.js", include_str!("../../../addon/xray/parent.js")),
];

/// Runs a subcommand; the error is printed by main.
pub fn run(cli: Cli, cmd: Cmd) -> anyhow::Result<()> {
    let sel = cli.bridge.as_deref();
    match cmd {
        Cmd::List => bridges::list(cli.json),
        Cmd::Snapshot => bridges::snapshot(sel),
        Cmd::Watch { tap: Some(name) } => tap::watch(&name, cli.json),
        Cmd::Watch { tap: None } => bridges::watch(sel, cli.json),
        Cmd::Call { method, params } => bridges::call(sel, &method, &params),
        Cmd::Wait { event, matching, timeout } => wait::wait(sel, &event, matching.as_deref(), timeout),
        Cmd::Logs { addon, level, follow } => logs::logs(sel, addon, level, follow, cli.json),
        Cmd::Reload { id } => reload::reload(sel, &id, cli.json),
        Cmd::Record { out, duration } => trace::record(sel, &out, duration),
        Cmd::Flight { out } => trace::save_flight(sel, &out),
        Cmd::Values { profile: Some(profile), file, edit: None } => values::values(&profile, file, cli.json),
        Cmd::Values { profile: Some(profile), file, edit: Some(edit) } => {
            values::edit(&profile, file, edit, cli.json)
        }
        Cmd::Values { profile: None, edit: Some(_), .. } => {
            anyhow::bail!(
                "offline edits need --profile DIR (the browser closed); in a running browser use \
                 `tabscope call sessions.setTabValue` or the inspector"
            )
        }
        Cmd::Values { profile: None, file: Some(_), .. } => {
            anyhow::bail!("--file reads a session file of a profile: give --profile too")
        }
        Cmd::Values { profile: None, file: None, edit: None } => values::live(sel, cli.json),
        Cmd::Open { .. } => unreachable!("main opens the window"),
        Cmd::Replay { file, speed, exit_at_end } => trace::replay(&file, &speed, exit_at_end),
        Cmd::Trace(t) => trace::run(t),
        Cmd::Methods => bridges::methods(cli.json),
        Cmd::Install { browser, extension_ids, bridge_path } => {
            install::install(browser, &extension_ids, bridge_path)
        }
        Cmd::Uninstall { browser } => install::uninstall(browser),
        Cmd::Doctor => doctor::doctor(),
        Cmd::Tap { name, browser } => tap::tap(name.as_deref(), browser, cli.json),
        Cmd::Untap { name } => tap::untap(&name),
        Cmd::TapRun { name, host, traces, args } => {
            let code = tap::run(&name, &host, &traces, &args)?;
            // The host's own exit status, for the browser.
            std::process::exit(code)
        }
        Cmd::Package { out, xray } => {
            install::write_xpi(&out, xray)?;
            println!("wrote {}{}", out.display(), if xray { " (with x-ray)" } else { "" });
            if xray {
                println!(
                    "x-ray is privileged code: it can read and change every add-on's data and sees their API calls.\n\
                     Firefox runs it only in ESR, Developer Edition and Nightly with extensions.experiments.enabled=true."
                );
            }
            println!(
                "Install it in Thunderbird: Tools > Add-ons and Themes > gear menu > Install Add-on From File…\n\
                 (unsigned: Thunderbird accepts it; release Firefox needs a signed copy or `tabscope launch firefox`)."
            );
            Ok(())
        }
        Cmd::Launch(args) => launch::launch(args),
    }
}
