//! Which browsers the inspector shows: running bridges found by a discovery
//! thread, one session each, reconnected when a browser's bridge restarts,
//! and traces opened from files. The UI thread only drains channels.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use tabscope_shared::client::{Session, SessionEvent};
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::protocol::ClientMsg;
use tabscope_shared::tap::live::RunningTap;
use tabscope_shared::trace::TraceIndex;

use super::live::Live;
use super::log::{Entry, EventLog};
use super::travel::{TraceView, log_record};

pub type Wake = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Connecting,
    Connected,
    /// The state shown is the last one seen; the reason says why it stopped.
    Disconnected(String),
    /// A trace file, read `progress` (0..1) so far.
    Loading {
        path: PathBuf,
        progress: f32,
    },
    Offline {
        path: PathBuf,
        warning: Option<String>,
    },
    /// A tapped host running now: its trace, followed as it is written.
    Tapping {
        path: PathBuf,
        pid: u32,
    },
    /// A profile's session file, editable while no browser has it open.
    Profile {
        file: PathBuf,
    },
}

/// One browser as the inspector sees it.
pub struct Link {
    pub label: String,
    pub disc: Option<Discovery>,
    session: Option<Session>,
    loader: Option<Receiver<LoadMsg>>,
    pub status: Status,
    pub live: Live,
    /// An opened trace: time travel over it.
    pub trace: Option<TraceView>,
    /// An opened profile: its values, edited offline.
    pub profile: Option<tabscope_shared::profile::view::ProfileView>,
    /// A running tap whose trace this link follows.
    pub tap: Option<RunningTap>,
}

/// The connection bar's labels: the browser, and the agent's extension id
/// where two links show the same browser (an add-on embedding the agent
/// beside tabscope's own), so that it is clear whose view is whose.
pub fn bar_labels(links: &[Link]) -> Vec<String> {
    let agent = |l: &Link| {
        l.live
            .agent
            .as_ref()
            .map(|a| a.extension_id.clone())
            .filter(|e| !e.is_empty())
            .or_else(|| l.disc.as_ref().and_then(|d| d.bridge.extension_id.clone()))
    };
    links
        .iter()
        .map(|l| {
            let twin =
                links.iter().any(|o| !std::ptr::eq(o, l) && o.label == l.label && agent(o) != agent(l));
            match agent(l) {
                Some(ext) if twin => format!("{} · {ext}", l.label),
                _ => l.label.clone(),
            }
        })
        .collect()
}

impl Link {
    pub fn is_live(&self) -> bool {
        self.status == Status::Connected
    }

    /// No trace is being read for this link.
    pub fn loader_done(&self) -> bool {
        self.loader.is_none()
    }

    /// The trace shown, when it is a tapped host's frames (`tabscope tap`).
    pub fn tap_trace(&self) -> Option<&Arc<TraceIndex>> {
        self.trace
            .as_ref()
            .map(|t| &t.index)
            .filter(|i| i.header.source == tabscope_shared::trace::Source::Tap)
    }

    /// Whether values can be changed here: a live browser, or a profile.
    pub fn editable(&self) -> bool {
        self.is_live() || self.profile.is_some()
    }

    pub fn send(&mut self, msg: ClientMsg) -> bool {
        if let Some(view) = &mut self.profile {
            super::profile::execute(view, &mut self.live, msg);
            return true;
        }
        match &self.session {
            // Never blocks the UI: a bridge that reads nothing fills the queue.
            Some(s) if self.status == Status::Connected => s.tx.try_send(msg).is_ok(),
            _ => false,
        }
    }

    fn connect(&mut self, d: Discovery, wake: &Wake) {
        self.label = d.browser_label();
        match Session::spawn(&d.socket, wake.clone()) {
            Ok(s) => {
                // First of all: what every add-on logged before this window
                // connected (the bridge kept it).
                let _ = s.tx.try_send(self.live.ask_console());
                self.session = Some(s);
                self.status = Status::Connected;
            }
            Err(e) => {
                self.session = None;
                self.status = Status::Disconnected(e.to_string());
            }
        }
        self.disc = Some(d);
    }

    /// Drains what arrived; returns whether anything did.
    fn pump(&mut self) -> bool {
        let mut any = false;
        if let Some(s) = &self.session {
            loop {
                match s.rx.try_recv() {
                    Ok(SessionEvent::Msg(m)) => {
                        any = true;
                        if let tabscope_shared::protocol::ServerMsg::Hello {
                            agent: Some(a), bridge, ..
                        } = &m
                        {
                            self.label = tabscope_shared::protocol::browser_label(&a.browser, bridge);
                        }
                        self.live.on_server(m);
                    }
                    Ok(SessionEvent::Warning(w)) => {
                        any = true;
                        self.live.log.push(
                            tabscope_shared::now_ms(),
                            super::log::Kind::Error,
                            "connection",
                            None,
                            None,
                            w,
                        );
                    }
                    Ok(SessionEvent::Closed(why)) => {
                        any = true;
                        self.status = Status::Disconnected(why);
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.status = Status::Disconnected("the connection ended".into());
                        break;
                    }
                }
            }
            if matches!(self.status, Status::Disconnected(_)) {
                self.session = None;
            }
        }
        if let Some(rx) = &self.loader {
            // Only the latest part's index matters; every part's log rows do.
            let mut latest: Option<Box<TraceIndex>> = None;
            let mut entries = Vec::new();
            let mut done = false;
            loop {
                match rx.try_recv() {
                    Ok(LoadMsg::Progress(share)) => {
                        if let Status::Loading { progress, .. } = &mut self.status {
                            *progress = share;
                        }
                    }
                    Ok(LoadMsg::Part(index, rows, share)) => {
                        let tapping = match (&self.status, &self.tap) {
                            (Status::Loading { path, .. }, Some(tap)) => {
                                Some(Status::Tapping { path: path.clone(), pid: tap.pid })
                            }
                            _ => None,
                        };
                        if let Some(st) = tapping {
                            self.status = st;
                        } else if let Status::Loading { progress, .. } = &mut self.status {
                            *progress = share;
                        }
                        latest = Some(index);
                        entries.extend(rows);
                    }
                    Ok(LoadMsg::Done(index, rows)) => {
                        latest = Some(index);
                        entries.extend(rows);
                        done = true;
                        break;
                    }
                    Ok(LoadMsg::Failed(e)) => {
                        any = true;
                        self.status = Status::Disconnected(e);
                        self.loader = None;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                    // The reader thread ended without a word: it panicked.
                    Err(TryRecvError::Disconnected) => {
                        any = true;
                        self.status = Status::Disconnected("reading the trace stopped unexpectedly".into());
                        self.loader = None;
                        break;
                    }
                }
                any = true;
            }
            if let Some(index) = latest {
                any = true;
                self.take_part(Arc::new(*index), entries, done);
            }
        }
        any
    }

    /// Shows the trace read so far; a view that followed the end follows on.
    fn take_part(&mut self, index: Arc<TraceIndex>, entries: Vec<Entry>, done: bool) {
        self.live.log.append(entries);
        let path = index.path.clone();
        let warning = index.warning.clone();
        let view = match &mut self.trace {
            Some(view) => view,
            None => {
                self.live.agent = index.header.agent.clone();
                self.live.bridge = index.header.bridge.clone();
                self.trace.insert(TraceView::new(index.clone()))
            }
        };
        let result = view.extend(index, &mut self.live);
        if done {
            self.loader = None;
            self.status = match result {
                Ok(()) => Status::Offline { path, warning },
                Err(e) => Status::Disconnected(e),
            };
        } else if let Err(e) = result {
            self.status = Status::Disconnected(e);
            self.loader = None;
        }
    }
}

enum LoadMsg {
    Progress(f32),
    /// The trace read so far, the log rows since the last part, the share read.
    Part(Box<TraceIndex>, Vec<Entry>, f32),
    Done(Box<TraceIndex>, Vec<Entry>),
    Failed(String),
}

/// How often a loading trace is shown anew: often enough to watch it grow,
/// seldom enough that copying the index so far costs little.
const PART_EVERY: Duration = Duration::from_millis(300);

/// Indexes a trace on a thread, building its log in the same pass; the trace
/// read so far is handed over every [`PART_EVERY`], so a big trace can be
/// looked at while it is read. The records stay in the file.
/// With `tap`, the trace of a running tap: followed as it is written,
/// every frame shown as it arrives, until the tap ends.
fn spawn_loader(path: &Path, tap: Option<u32>, wake: Wake) -> Receiver<LoadMsg> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let path = path.to_path_buf();
    thread::spawn(move || {
        let log = RefCell::new(EventLog::default());
        let mut last_part: Option<Instant> = None;
        let each = |header: &_, k, r: &_| log_record(&mut log.borrow_mut(), header, k, r);
        let progress = |p: &tabscope_shared::trace::Partial<'_>| {
            let due = last_part.is_none_or(|t| t.elapsed() >= PART_EVERY);
            let msg = if (due && p.share < 1.0) || p.waiting {
                last_part = Some(Instant::now());
                LoadMsg::Part(Box::new(p.index()), log.borrow_mut().take_entries(), p.share)
            } else {
                LoadMsg::Progress(p.share)
            };
            let _ = tx.send(msg);
            wake();
        };
        let built = match tap {
            Some(pid) => TraceIndex::build_following(&path, &|| discovery::pid_alive(pid), each, progress),
            None => TraceIndex::build(&path, each, progress),
        };
        let msg = match built {
            Ok(index) => LoadMsg::Done(Box::new(index), log.borrow_mut().take_entries()),
            Err(e) => LoadMsg::Failed(format!("{}: {e}", path.display())),
        };
        let _ = tx.send(msg);
        wake();
    });
    rx
}

pub struct Connections {
    pub links: Vec<Link>,
    pub current: Option<usize>,
    /// The bridges last found, for the empty state and the bar.
    pub found: Vec<Discovery>,
    /// Taps running now (`tabscope tap`): each is followed live, as a bridge is.
    pub taps: Vec<RunningTap>,
    discovered: Receiver<(Vec<Discovery>, Vec<RunningTap>)>,
    wake: Wake,
    preferred: Option<String>,
    pub runtime_dir: PathBuf,
}

impl Connections {
    pub fn new(runtime_dir: PathBuf, traces: PathBuf, preferred: Option<String>, wake: Wake) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let dir = runtime_dir.clone();
        let w = wake.clone();
        thread::Builder::new()
            .name("discovery".into())
            .spawn(move || {
                type Key = (Vec<(u32, Option<String>)>, Vec<RunningTap>);
                let mut last: Option<Key> = None;
                loop {
                    let list = discovery::list_bridges(&dir).unwrap_or_default();
                    let taps = tabscope_shared::tap::live::running(&traces);
                    let key: Key = (
                        list.iter()
                            .map(|d| (d.bridge.pid, d.browser.as_ref().map(|b| b.version.clone())))
                            .collect(),
                        taps.clone(),
                    );
                    if last.as_ref() != Some(&key) {
                        last = Some(key);
                        if tx.send((list, taps)).is_err() {
                            return;
                        }
                        w();
                    }
                    thread::sleep(Duration::from_millis(400));
                }
            })
            .expect("spawn the discovery thread");
        Self {
            links: Vec::new(),
            current: None,
            found: Vec::new(),
            taps: Vec::new(),
            discovered: rx,
            wake,
            preferred,
            runtime_dir,
        }
    }

    pub fn current(&self) -> Option<&Link> {
        self.current.and_then(|i| self.links.get(i))
    }

    pub fn current_mut(&mut self) -> Option<&mut Link> {
        self.current.and_then(|i| self.links.get_mut(i))
    }

    /// Drains every channel; returns whether anything changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Ok((list, taps)) = self.discovered.try_recv() {
            changed = true;
            self.found = list;
            self.taps = taps;
        }
        if changed {
            self.adopt_bridges();
            self.adopt_taps();
        }
        for l in &mut self.links {
            changed |= l.pump();
        }
        changed
    }

    /// Connects to bridges not yet connected: a restarted bridge of a browser
    /// we already show takes over that browser's link.
    fn adopt_bridges(&mut self) {
        for d in self.found.clone() {
            let connected = self.links.iter().any(|l| {
                l.disc.as_ref().is_some_and(|x| x.bridge.pid == d.bridge.pid) && l.session.is_some()
            });
            if connected || d.browser.is_none() {
                continue;
            }
            // A link whose bridge is gone from the list is free even before its
            // session has reported the close: the new bridge can be found
            // first when the machine is busy.
            let gone = |l: &Link| {
                l.disc.as_ref().is_some_and(|x| !self.found.iter().any(|f| f.bridge.pid == x.bridge.pid))
            };
            let reuse = self.links.iter().position(|l| {
                (l.session.is_none() || gone(l))
                    && l.loader.is_none()
                    && l.disc.as_ref().is_some_and(|x| x.same_agent(&d))
            });
            let i = match reuse {
                Some(i) => i,
                None => {
                    self.links.push(Link {
                        label: d.browser_label(),
                        disc: None,
                        session: None,
                        loader: None,
                        status: Status::Connecting,
                        live: Live::connected(),
                        trace: None,
                        profile: None,
                        tap: None,
                    });
                    self.links.len() - 1
                }
            };
            let wake = self.wake.clone();
            self.links[i].connect(d.clone(), &wake);
            let wanted = self.preferred.as_deref().is_none_or(|p| {
                d.bridge.pid.to_string() == p
                    || d.browser
                        .as_ref()
                        .is_some_and(|b| b.name.to_lowercase().starts_with(&p.to_lowercase()))
            });
            if self.current.is_none() && wanted {
                self.current = Some(i);
            }
        }
    }

    /// Follows every running tap not shown yet: its frames appear as the
    /// host and the browser exchange them.
    fn adopt_taps(&mut self) {
        for tap in self.taps.clone() {
            if self.links.iter().any(|l| l.tap.as_ref().is_some_and(|t| t.trace == tap.trace)) {
                continue;
            }
            // The host's next run takes the place of its last, ended one.
            let ended = self
                .links
                .iter()
                .position(|l| l.loader.is_none() && l.tap.as_ref().is_some_and(|t| t.name == tap.name));
            let was_current = ended.is_some() && ended == self.current;
            if let Some(i) = ended {
                self.close(i);
            }
            self.links.push(Link {
                label: format!("tap {}", tap.name),
                disc: None,
                session: None,
                loader: Some(spawn_loader(&tap.trace, Some(tap.pid), self.wake.clone())),
                status: Status::Loading { path: tap.trace.clone(), progress: 0.0 },
                live: Live::default(),
                trace: None,
                profile: None,
                tap: Some(tap),
            });
            if self.current.is_none() || was_current {
                self.current = Some(self.links.len() - 1);
            }
        }
    }

    /// Shows an already built state (benchmarks, demos); read-only.
    pub fn show_state(&mut self, label: &str, live: Live) {
        self.links.push(Link {
            label: label.to_owned(),
            disc: None,
            session: None,
            loader: None,
            status: Status::Offline { path: PathBuf::from(label), warning: None },
            live,
            trace: None,
            profile: None,
            tap: None,
        });
        self.current = Some(self.links.len() - 1);
    }

    /// Opens a profile folder's session values; it becomes the current view.
    pub fn open_profile(&mut self, dir: &Path) -> Result<(), String> {
        let view = super::profile::open(dir)?;
        let name = dir.file_name().map_or("profile".into(), |n| n.to_string_lossy().into_owned());
        self.links.push(Link {
            label: format!("profile {name}"),
            disc: None,
            session: None,
            loader: None,
            status: Status::Profile { file: view.file.path.clone() },
            live: super::profile::live_of(&view),
            trace: None,
            profile: Some(view),
            tap: None,
        });
        self.current = Some(self.links.len() - 1);
        Ok(())
    }

    /// Opens a trace file; it becomes the current view.
    pub fn open_trace(&mut self, path: &Path) {
        let label = path.file_name().map_or("trace".into(), |n| n.to_string_lossy().into_owned());
        self.links.push(Link {
            label,
            disc: None,
            session: None,
            loader: Some(spawn_loader(path, None, self.wake.clone())),
            status: Status::Loading { path: path.to_path_buf(), progress: 0.0 },
            live: Live::default(),
            trace: None,
            profile: None,
            tap: None,
        });
        self.current = Some(self.links.len() - 1);
    }

    pub fn close(&mut self, i: usize) {
        if i < self.links.len() {
            self.links.remove(i);
            self.current = match self.current {
                Some(c) if c == i => (!self.links.is_empty()).then_some(0),
                Some(c) if c > i => Some(c - 1),
                other => other,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tabscope_shared::protocol::AgentHello;

    fn link(label: &str, ext: &str) -> Link {
        let mut live = Live::default();
        live.agent = Some(AgentHello { extension_id: ext.into(), ..Default::default() });
        Link {
            label: label.into(),
            disc: None,
            session: None,
            loader: None,
            status: Status::Connected,
            live,
            trace: None,
            profile: None,
            tap: None,
        }
    }

    #[test]
    fn two_agents_in_one_browser_are_told_apart_by_their_add_on() {
        let links = [
            link("Thunderbird 153.8.0", "tabscope-agent@tabscope.dev"),
            link("Thunderbird 153.8.0", "mine@example.com"),
            link("Firefox 153.8.0", "tabscope-agent@tabscope.dev"),
        ];
        assert_eq!(
            bar_labels(&links),
            [
                "Thunderbird 153.8.0 · tabscope-agent@tabscope.dev",
                "Thunderbird 153.8.0 · mine@example.com",
                "Firefox 153.8.0"
            ]
        );
    }
}
