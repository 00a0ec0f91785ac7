//! The client of a bridge's local socket: blocking calls for the command
//! line and tests, and a threaded session for the GUI.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use interprocess::local_socket::{GenericFilePath, Stream, ToFsName, prelude::*};
use serde_json::Value;
use thiserror::Error;

use crate::codec::{DEFAULT_READ_CAP, FrameError, FrameReader, FrameWriter};
use crate::console::{AddonConsoleCounts, ConsoleRecord, Level, Reloaded};
use crate::protocol::{AgentHello, BridgeInfo, ClientMsg, Command, Outcome, ServerMsg, Snapshot};

/// Reads and writes one stream from two places (a reader thread and a writer).
#[derive(Clone)]
pub struct SharedStream(Arc<Stream>);

impl Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SharedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

impl SharedStream {
    pub fn new(stream: Stream) -> Self {
        Self(Arc::new(stream))
    }
}

/// The socket framing: the same codec, a larger cap (snapshots of
/// thousands of tabs are megabytes).
pub fn socket_reader(s: SharedStream) -> FrameReader<BufReader<SharedStream>> {
    FrameReader::new(BufReader::with_capacity(64 * 1024, s)).with_max_len(DEFAULT_READ_CAP)
}

pub fn socket_writer(s: SharedStream) -> FrameWriter<SharedStream> {
    FrameWriter::new(s).with_max_len(DEFAULT_READ_CAP)
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to the bridge at {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("bridge connection: {0}")]
    Frame(#[from] FrameError),
    #[error("the bridge closed the connection")]
    Closed,
    #[error("{0}")]
    Browser(String),
}

/// Connects to a bridge's socket, trusting it only as ssh-agent's clients
/// do: the path must be a socket of ours (not a symlink to someone else's),
/// and the process listening on it must run as our uid. Without this, a
/// socket another user planted or linked would receive our commands.
pub fn connect_stream(socket: &Path) -> Result<Stream, ClientError> {
    let err = |source| ClientError::Connect { path: socket.display().to_string(), source };
    check_socket_file(socket).map_err(err)?;
    let name = socket.to_fs_name::<GenericFilePath>().map_err(err)?;
    let stream = Stream::connect(name).map_err(err)?;
    check_listener(&stream).map_err(err)?;
    Ok(stream)
}

#[cfg(unix)]
fn check_socket_file(socket: &Path) -> io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(socket)?;
    let me = crate::discovery::current_uid();
    if !m.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a socket (a link or a file): refusing it",
        ));
    }
    if m.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the socket belongs to uid {}, not to us (uid {me}): refusing it", m.uid()),
        ));
    }
    Ok(())
}

/// Windows: a pipe is not a file; its name comes from the private discovery
/// file and must have the form a bridge gives it.
#[cfg(windows)]
fn check_socket_file(socket: &Path) -> io::Result<()> {
    let named = socket.to_str().is_some_and(|s| s.starts_with(crate::discovery::PIPE_PREFIX));
    if !named {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a tabscope bridge's pipe: refusing it",
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn check_listener(stream: &Stream) -> io::Result<()> {
    let me = crate::discovery::current_uid();
    match stream.peer_creds()?.euid() {
        Some(uid) if uid == me => Ok(()),
        Some(uid) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the process listening there runs as uid {uid}, not as us (uid {me}): refusing it"),
        )),
        None => Err(io::Error::new(io::ErrorKind::PermissionDenied, "cannot tell who listens there")),
    }
}

/// Windows: the process serving the pipe must run as our user.
#[cfg(windows)]
fn check_listener(stream: &Stream) -> io::Result<()> {
    crate::winsec::check_same_user(stream.peer_creds()?.pid(), "process listening there")
}

/// A blocking connection: one request at a time.
pub struct Client {
    reader: FrameReader<BufReader<SharedStream>>,
    writer: FrameWriter<SharedStream>,
    next_id: u64,
    /// What the bridge said first.
    pub bridge: Option<BridgeInfo>,
    pub agent: Option<Box<AgentHello>>,
}

impl Client {
    pub fn connect(socket: &Path) -> Result<Self, ClientError> {
        let s = SharedStream::new(connect_stream(socket)?);
        Ok(Self {
            reader: socket_reader(s.clone()),
            writer: socket_writer(s),
            next_id: 1,
            bridge: None,
            agent: None,
        })
    }

    /// The next message; `Closed` when the bridge is gone.
    pub fn recv(&mut self) -> Result<ServerMsg, ClientError> {
        let msg = self.reader.read_message::<ServerMsg>()?.ok_or(ClientError::Closed)?;
        if let ServerMsg::Hello { bridge, agent, .. } = &msg {
            self.bridge = Some(bridge.clone());
            if agent.is_some() {
                self.agent = agent.clone();
            }
        }
        Ok(msg)
    }

    pub fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        Ok(self.writer.write_message(msg)?)
    }

    /// Sends a command and returns its id without waiting.
    pub fn command(&mut self, method: &str, params: Value) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&ClientMsg::Command(Command { id, method: method.into(), params }))?;
        Ok(id)
    }

    /// Calls a browser function and waits for its reply; other messages
    /// that arrive meanwhile go to `on_other`.
    pub fn call_with(
        &mut self,
        method: &str,
        params: Value,
        mut on_other: impl FnMut(ServerMsg),
    ) -> Result<Value, ClientError> {
        let id = self.command(method, params)?;
        loop {
            match self.recv()? {
                ServerMsg::Reply(r) if r.id == id => {
                    return match r.outcome {
                        Outcome::Result(v) => Ok(v),
                        Outcome::Error(e) => Err(ClientError::Browser(e)),
                    };
                }
                other => on_other(other),
            }
        }
    }

    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.call_with(method, params, |_| {})
    }

    /// The console the bridge kept (x-ray), oldest first, and the counts per
    /// add-on. Other messages that arrive meanwhile go to `on_other`: console
    /// events among them are already in the answer.
    pub fn kept_console(
        &mut self,
        extension_id: Option<&str>,
        level: Option<Level>,
        mut on_other: impl FnMut(ServerMsg),
    ) -> Result<(Vec<ConsoleRecord>, Vec<AddonConsoleCounts>), ClientError> {
        self.send(&ClientMsg::Console { extension_id: extension_id.map(str::to_owned), level })?;
        let mut all = Vec::new();
        loop {
            match self.recv()? {
                ServerMsg::Console { records, counts, done } => {
                    all.extend(records);
                    if done {
                        return Ok((all, counts));
                    }
                }
                other => on_other(other),
            }
        }
    }

    /// Reloads an add-on from its files (x-ray): what the browser said.
    pub fn reload_addon(&mut self, extension_id: &str) -> Result<Reloaded, ClientError> {
        let v = self.call("agent.reloadAddon", serde_json::json!({ "extensionId": extension_id }))?;
        serde_json::from_value(v)
            .map_err(|e| ClientError::Browser(format!("the agent's answer to a reload: {e}")))
    }

    /// Waits for the first snapshot (every connection gets one after hello).
    pub fn snapshot(&mut self) -> Result<Snapshot, ClientError> {
        loop {
            if let ServerMsg::Snapshot { snapshot, .. } = self.recv()? {
                return Ok(snapshot);
            }
        }
    }
}

/// Messages a session holds for its owner at most, and requests for the bridge.
pub const SESSION_IN: usize = 65_536;
pub const SESSION_OUT: usize = 1024;

/// What a background session reports to its owner.
#[derive(Debug)]
pub enum SessionEvent {
    Msg(ServerMsg),
    /// A message that could not be read; the connection goes on.
    Warning(String),
    /// The connection ended; the reason is for people.
    Closed(String),
}

/// A connection run by two threads: the owner sends with `tx` and receives
/// with `rx`, never blocking on the socket. `wake` runs after every event
/// (the GUI asks for a repaint there).
pub struct Session {
    pub tx: Sender<ClientMsg>,
    pub rx: Receiver<SessionEvent>,
}

impl Session {
    pub fn spawn(socket: &Path, wake: Arc<dyn Fn() + Send + Sync>) -> Result<Self, ClientError> {
        let s = SharedStream::new(connect_stream(socket)?);
        // Bounded both ways: an owner that stops reading makes the reader
        // wait, the socket fill and the bridge resync us (`lagged`), rather
        // than messages piling up here without end.
        let (out_tx, out_rx) = crossbeam_channel::bounded::<ClientMsg>(SESSION_OUT);
        let (in_tx, in_rx) = crossbeam_channel::bounded(SESSION_IN);
        let mut reader = socket_reader(s.clone());
        let mut writer = socket_writer(s);
        let wake_r = wake.clone();
        thread::Builder::new().name("tabscope-session-read".into()).spawn(move || {
            let reason = loop {
                match reader.read_message::<ServerMsg>() {
                    Ok(Some(m)) => {
                        if in_tx.send(SessionEvent::Msg(m)).is_err() {
                            return;
                        }
                        wake_r();
                    }
                    Ok(None) => break "the bridge closed the connection (the browser quit or the add-on disconnected)".to_owned(),
                    Err(e) if e.stream_intact() => {
                        let _ = in_tx.send(SessionEvent::Warning(format!("bad message from the bridge: {e}")));
                    }
                    Err(e) => break format!("connection lost: {e}"),
                }
            };
            let _ = in_tx.send(SessionEvent::Closed(reason));
            wake_r();
        }).map_err(|e| ClientError::Frame(e.into()))?;
        thread::Builder::new()
            .name("tabscope-session-write".into())
            .spawn(move || {
                for msg in out_rx {
                    if writer.write_message(&msg).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| ClientError::Frame(e.into()))?;
        Ok(Self { tx: out_tx, rx: in_rx })
    }
}
