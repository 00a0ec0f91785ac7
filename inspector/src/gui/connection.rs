//! Which browsers the inspector shows: running bridges found by a discovery
//! thread, one session each, reconnected when a browser's bridge restarts,
//! and traces opened from files. The UI thread only drains channels.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};
use tabscope_shared::client::{Session, SessionEvent};
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::protocol::ClientMsg;
use tabscope_shared::trace::TraceIndex;

use super::live::Live;
use super::log::EventLog;
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
}

impl Link {
    pub fn is_live(&self) -> bool {
        self.status == Status::Connected
    }

    pub fn send(&mut self, msg: ClientMsg) -> bool {
        match &self.session {
            Some(s) if self.status == Status::Connected => s.tx.send(msg).is_ok(),
            _ => false,
        }
    }

    /// What makes a restarted bridge "the same browser": its name and profile.
    fn identity(d: &Discovery) -> (Option<String>, Option<String>) {
        (d.browser.as_ref().map(|b| b.name.clone()), d.bridge.profile.clone())
    }

    fn connect(&mut self, d: Discovery, wake: &Wake) {
        self.label = d.browser_label();
        match Session::spawn(&d.socket, wake.clone()) {
            Ok(s) => {
                self.session = Some(s);
                self.status = Status::Connected;
            }
            Err(e) => self.status = Status::Disconnected(e.to_string()),
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
            loop {
                match rx.try_recv() {
                    Ok(LoadMsg::Progress(progress)) => {
                        any = true;
                        if let Status::Loading { progress: p, .. } = &mut self.status {
                            *p = progress;
                        }
                    }
                    Ok(LoadMsg::Done(index, log)) => {
                        any = true;
                        let path = index.path.clone();
                        let warning = index.warning.clone();
                        self.live.agent = index.header.agent.clone();
                        self.live.bridge = index.header.bridge.clone();
                        self.live.log = *log;
                        let mut view = TraceView::new(Arc::new(*index));
                        let end = view.index.len();
                        if let Err(e) = view.go(end, &mut self.live) {
                            self.status = Status::Disconnected(e);
                        } else {
                            self.status = Status::Offline { path, warning };
                        }
                        self.trace = Some(view);
                        self.loader = None;
                        break;
                    }
                    Ok(LoadMsg::Failed(e)) => {
                        any = true;
                        self.status = Status::Disconnected(e);
                        self.loader = None;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        any
    }
}

enum LoadMsg {
    Progress(f32),
    Done(Box<TraceIndex>, Box<EventLog>),
    Failed(String),
}

/// Indexes a trace on a thread, building its log in the same pass and
/// reporting progress; the records stay in the file.
fn spawn_loader(path: &Path, wake: Wake) -> Receiver<LoadMsg> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let path = path.to_path_buf();
    thread::spawn(move || {
        let mut log = EventLog::default();
        let progress = |p| {
            let _ = tx.send(LoadMsg::Progress(p));
            wake();
        };
        let built = TraceIndex::build(
            &path,
            |header, k, r| log_record(&mut log, header.started_wall, k, r),
            progress,
        );
        let msg = match built {
            Ok(index) => LoadMsg::Done(Box::new(index), Box::new(log)),
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
    discovered: Receiver<Vec<Discovery>>,
    wake: Wake,
    preferred: Option<String>,
    pub runtime_dir: PathBuf,
}

impl Connections {
    pub fn new(runtime_dir: PathBuf, preferred: Option<String>, wake: Wake) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let dir = runtime_dir.clone();
        let w = wake.clone();
        thread::Builder::new()
            .name("discovery".into())
            .spawn(move || {
                let mut last: Option<Vec<(u32, Option<String>)>> = None;
                loop {
                    let list = discovery::list_bridges(&dir).unwrap_or_default();
                    let key: Vec<_> = list
                        .iter()
                        .map(|d| (d.bridge.pid, d.browser.as_ref().map(|b| b.version.clone())))
                        .collect();
                    if last.as_ref() != Some(&key) {
                        last = Some(key);
                        if tx.send(list).is_err() {
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
        while let Ok(list) = self.discovered.try_recv() {
            changed = true;
            self.found = list;
        }
        if changed {
            self.adopt_bridges();
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
            let reuse = self.links.iter().position(|l| {
                l.session.is_none()
                    && l.loader.is_none()
                    && l.disc.as_ref().is_some_and(|x| Link::identity(x) == Link::identity(&d))
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
                        live: Live::default(),
                        trace: None,
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
        });
        self.current = Some(self.links.len() - 1);
    }

    /// Opens a trace file; it becomes the current view.
    pub fn open_trace(&mut self, path: &Path) {
        let label = path.file_name().map_or("trace".into(), |n| n.to_string_lossy().into_owned());
        self.links.push(Link {
            label,
            disc: None,
            session: None,
            loader: Some(spawn_loader(path, self.wake.clone())),
            status: Status::Loading { path: path.to_path_buf(), progress: 0.0 },
            live: Live::default(),
            trace: None,
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
