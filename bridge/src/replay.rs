//! `tabscope-bridge --replay FILE`: a recorded trace served as if a browser
//! were sending it, through the same router, socket and discovery file, so
//! the inspector and any client see it happen again.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tabscope_shared::protocol::{AgentMsg, BridgeMsg, Outcome, Reply};
use tabscope_shared::trace::{Record, TraceReader};
use tracing::{info, warn};

use crate::router::Input;
use crate::stdio::FromBrowser;
use crate::stdio::Outgoing;

#[derive(Clone, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the router takes it.
    Max,
    /// Times real time (1 = as recorded).
    Times(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches('x').parse::<f64>() {
            Ok(n) if n > 0.0 && n.is_finite() => Ok(Speed::Times(n)),
            _ => Err(format!(
                "speed {s:?}: give a positive number (1 = as recorded, 10 = ten times faster) or max"
            )),
        }
    }
}

pub struct Options {
    pub file: PathBuf,
    pub speed: Speed,
    /// Start at once instead of waiting for the first inspector.
    pub no_wait: bool,
    /// Exit at the end instead of serving the final state until stopped.
    pub exit_at_end: bool,
}

/// Parses `--replay FILE [--speed N|max] [--no-wait] [--exit-at-end]`.
pub fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let Some(at) = args.iter().position(|a| a == "--replay") else { return Ok(None) };
    let file = args.get(at + 1).ok_or("--replay needs a trace file")?;
    let mut o = Options { file: file.into(), speed: Speed::Times(1.0), no_wait: false, exit_at_end: false };
    let mut rest = args[at + 2..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--speed" => o.speed = rest.next().ok_or("--speed needs a value")?.parse()?,
            "--no-wait" => o.no_wait = true,
            "--exit-at-end" => o.exit_at_end = true,
            other => return Err(format!("unknown replay option {other}")),
        }
    }
    Ok(Some(o))
}

/// Opens the trace (so a bad file fails before anything is served) and
/// returns its agent hello, if the header has one.
pub fn open(o: &Options) -> anyhow::Result<TraceReader<BufReader<File>>> {
    let f = File::open(&o.file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", o.file.display()))?;
    TraceReader::new(BufReader::with_capacity(1 << 18, f))
        .map_err(|e| anyhow::anyhow!("{}: {e}", o.file.display()))
}

/// Feeds the router the trace's browser side: hello, snapshots, events,
/// logs and errors, at the recorded pace times `speed`. Commands and
/// replies of the recording are not re-sent: they were one inspector's.
pub fn spawn(
    mut reader: TraceReader<BufReader<File>>,
    o: Options,
    start: Receiver<()>,
    tx: Sender<Input>,
) -> std::io::Result<()> {
    thread::Builder::new().name("replay".into()).spawn(move || {
        let send = |m: AgentMsg| tx.send(Input::Browser(FromBrowser::Msg(Ok(Box::new(m))))).is_ok();
        // The hello first, so that the discovery file names the browser:
        // inspectors connect only to bridges whose browser is known.
        if let Some(agent) = reader.header().agent.clone()
            && !send(AgentMsg::Hello(agent))
        {
            return;
        }
        if !o.no_wait {
            info!("replay of {} waits for an inspector", o.file.display());
            if start.recv().is_err() {
                return;
            }
        }
        let began = Instant::now();
        let mut first_t = None;
        let mut served = 0u64;
        for r in reader.by_ref() {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    warn!("replay stopped: {e}");
                    break;
                }
            };
            let t = r.t();
            let t0 = *first_t.get_or_insert(t);
            if let Speed::Times(x) = o.speed {
                let due = Duration::from_secs_f64((t - t0.min(t)) as f64 / 1e6 / x);
                if let Some(wait) = due.checked_sub(began.elapsed()) {
                    thread::sleep(wait);
                }
            }
            if let Record::Error { message, .. } = r {
                if tx.send(Input::ReplayedError(message)).is_err() {
                    return;
                }
                continue;
            }
            let Some(msg) = r.into_agent().filter(|m| !matches!(m, AgentMsg::Reply(_))) else { continue };
            if !send(msg) {
                return;
            }
            served += 1;
        }
        if let Some(w) = reader.warning() {
            warn!("{w}");
        }
        info!("replayed {served} records in {:.3} s", began.elapsed().as_secs_f64());
        let _ = tx.send(Input::ReplayDone { exit: o.exit_at_end });
    })?;
    Ok(())
}

/// Stands where the browser would: every command gets an error reply, at
/// once, so no caller waits for a timeout.
pub fn spawn_answering(rx: Receiver<Outgoing>, tx: Sender<Input>) -> std::io::Result<()> {
    thread::Builder::new().name("replay-commands".into()).spawn(move || {
        for out in rx {
            if !out.state.claim_for_sending() {
                continue;
            }
            let Ok(BridgeMsg::Command(c)) = serde_json::from_slice::<BridgeMsg>(&out.payload) else {
                continue;
            };
            let reply = Reply {
                id: c.id,
                outcome: Outcome::Error(format!(
                    "{} was not run: this bridge replays a recorded trace, no browser is attached",
                    c.method
                )),
            };
            if tx.send(Input::Browser(FromBrowser::Msg(Ok(Box::new(AgentMsg::Reply(reply)))))).is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_parse() {
        assert!(parse_args(&args("bridge manifest.json ext@id")).unwrap().is_none());
        let o = parse_args(&args("bridge --replay t.jsonl --speed 10 --exit-at-end")).unwrap().unwrap();
        assert_eq!((o.speed, o.exit_at_end, o.no_wait), (Speed::Times(10.0), true, false));
        assert_eq!(parse_args(&args("b --replay t --speed max")).unwrap().unwrap().speed, Speed::Max);
        let e = parse_args(&args("b --replay t --speed 0")).err().unwrap();
        assert!(e.contains("give a positive number"), "{e}");
        assert_eq!(parse_args(&args("b --replay")).err().unwrap(), "--replay needs a trace file");
    }
}
