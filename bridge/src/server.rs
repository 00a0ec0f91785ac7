//! The inspector side: a local socket (Unix domain socket, named pipe on
//! Windows) that only this user can reach, a thread accepting connections,
//! and per client a reader thread and a writer thread fed by a bounded queue.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use interprocess::local_socket::{GenericFilePath, Listener, ListenerOptions, ToFsName, prelude::*};
use tabscope_shared::client::{SharedStream, socket_reader, socket_writer};
use tabscope_shared::protocol::ClientMsg;
use tracing::{info, warn};

use crate::router::Input;

/// What may wait for one inspector before it counts as lagging: 32 MiB,
/// each message counted at its size plus [`QUEUED_COST`]. A count alone let
/// 3,000 queued snapshots of a 400-tab model take 390 MB; a count beside the
/// bytes (8,192 messages) let an inspector descheduled for 40 ms lose its
/// backlog at 200,000 events/s, where 32 MiB is 300 ms of full tab events.
/// One snapshot may always go, whatever its size.
pub const CLIENT_BYTES: usize = 32 << 20;
/// What one queued message costs beyond its payload: its slot in the queue
/// and the shared payload's header. A flood of tiny messages is bounded too.
pub const QUEUED_COST: usize = 64;

pub type ClientId = u64;

/// Bytes a client writer gathers into one write at most.
const BATCH_BYTES: usize = 256 * 1024;

/// An encoded frame payload, shared by every client it goes to.
pub type Payload = Arc<[u8]>;

/// A payload on its way to one inspector.
pub struct Queued {
    pub payload: Payload,
    /// A snapshot: at most one waits per client, later ones are not needed.
    pub snapshot: bool,
}

/// What waits in one client's queue, kept by the router (adding) and the
/// client's writer (taking).
#[derive(Default)]
pub struct Backlog {
    bytes: AtomicUsize,
    pub snapshot: AtomicBool,
}

impl Queued {
    /// What this message counts against [`CLIENT_BYTES`].
    fn cost(&self) -> usize {
        self.payload.len() + QUEUED_COST
    }
}

impl Backlog {
    /// Whether `q` would take the queue over its budget. An empty queue
    /// always takes one message, so that a big snapshot can still go.
    pub fn over_budget(&self, q: &Queued, queue_empty: bool) -> bool {
        !queue_empty && self.bytes.load(Ordering::Relaxed) + q.cost() > CLIENT_BYTES
    }
    /// The router is about to queue `q`.
    pub fn added(&self, q: &Queued) {
        self.bytes.fetch_add(q.cost(), Ordering::Relaxed);
        if q.snapshot {
            self.snapshot.store(true, Ordering::Relaxed);
        }
    }
    /// `q` left the queue: the writer took it, or the router dropped it.
    pub fn taken(&self, q: &Queued) {
        self.bytes.fetch_sub(q.cost(), Ordering::Relaxed);
        if q.snapshot {
            self.snapshot.store(false, Ordering::Relaxed);
        }
    }
}

/// The router's handle on a connected inspector.
pub struct ClientHandle {
    pub id: ClientId,
    pub tx: Sender<Queued>,
    /// A second receiver on the same queue: lets the router empty the queue
    /// of a client that fell behind, before it resyncs it.
    pub drain: Receiver<Queued>,
    pub backlog: Arc<Backlog>,
    pub pid: Option<i32>,
    /// Disconnected once the writer has written all it was given and ended.
    pub written: Receiver<()>,
}

pub fn listen(path: &Path) -> io::Result<Listener> {
    let _ = std::fs::remove_file(path);
    let name = path.to_fs_name::<GenericFilePath>()?;
    let opts = ListenerOptions::new().name(name);
    #[cfg(unix)]
    let opts = {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        opts.mode(0o600)
    };
    #[cfg(windows)]
    let opts = {
        use interprocess::os::windows::local_socket::ListenerOptionsExt;
        opts.security_descriptor(tabscope_shared::winsec::pipe_security()?)
    };
    opts.create_sync()
}

pub fn spawn_accept(listener: Listener, tx: Sender<Input>) -> io::Result<()> {
    thread::Builder::new().name("accept".into()).spawn(move || {
        let mut next_id: ClientId = 1;
        for conn in listener.incoming() {
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    warn!("accepting an inspector failed: {e}");
                    continue;
                }
            };
            let pid = match check_peer(&stream) {
                Ok(pid) => pid,
                Err(e) => {
                    warn!("refused a connection: {e}");
                    continue;
                }
            };
            let id = next_id;
            next_id += 1;
            if start_client(id, pid, stream, tx.clone()).is_err() {
                warn!("could not start threads for inspector {id}");
            }
        }
    })?;
    Ok(())
}

/// Refuses peers of another user (Linux and the BSDs report the peer's
/// effective uid; the socket's 0600 mode already keeps them out, this is
/// the second lock). Returns the peer's pid when known.
#[cfg(unix)]
fn check_peer(stream: &interprocess::local_socket::Stream) -> io::Result<Option<i32>> {
    let creds = stream.peer_creds()?;
    check_uid(creds.euid(), tabscope_shared::discovery::current_uid())?;
    Ok(creds.pid())
}

/// Windows: the pipe's ACL admits only our user; this checks the client
/// process's user too, as on Unix.
#[cfg(windows)]
fn check_peer(stream: &interprocess::local_socket::Stream) -> io::Result<Option<i32>> {
    let pid = stream.peer_creds()?.pid();
    tabscope_shared::winsec::check_same_user(pid, "inspector")?;
    Ok(pid.and_then(|p| i32::try_from(p).ok()))
}

/// The decision itself, separate so that it is tested with a foreign uid.
#[cfg_attr(windows, allow(dead_code))]
pub fn check_uid(peer: Option<u32>, ours: u32) -> io::Result<()> {
    match peer {
        Some(uid) if uid == ours => Ok(()),
        Some(uid) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("peer runs as uid {uid}, the bridge as uid {ours}"),
        )),
        None => Err(io::Error::new(io::ErrorKind::PermissionDenied, "peer credentials unavailable")),
    }
}

fn start_client(
    id: ClientId,
    pid: Option<i32>,
    stream: interprocess::local_socket::Stream,
    tx: Sender<Input>,
) -> io::Result<()> {
    let shared = SharedStream::new(stream);
    // Unbounded: the router keeps it within CLIENT_BYTES, and the memory is
    // taken as messages wait, not reserved for every client up front.
    let (qtx, qrx) = crossbeam_channel::unbounded::<Queued>();
    let (done, written) = crossbeam_channel::bounded::<()>(0);
    let backlog = Arc::new(Backlog::default());
    let handle = ClientHandle { id, tx: qtx, drain: qrx.clone(), backlog: backlog.clone(), pid, written };
    let mut writer = socket_writer(shared.clone());
    thread::Builder::new().name(format!("client-{id}-write")).spawn(move || {
        let _done = done;
        // What piled up while the last batch was written goes out in one
        // call: under load a client costs one system call per batch, not per event.
        while let Ok(first) = qrx.recv() {
            let mut next = Some(first);
            while let Some(q) = next.take() {
                backlog.taken(&q);
                // The router checked the size; a refusal here would be a bug, not input.
                let _ = writer.queue_frame(&q.payload);
                if writer.queued() < BATCH_BYTES {
                    next = qrx.try_recv().ok();
                }
            }
            if writer.send().is_err() {
                return;
            }
        }
    })?;
    // Registered before its reader starts: the router always knows a client
    // before that client's first message.
    if tx.send(Input::ClientConnected(handle)).is_err() {
        return Ok(());
    }
    let mut reader = socket_reader(shared);
    thread::Builder::new().name(format!("client-{id}-read")).spawn(move || {
        loop {
            let msg = match reader.read_message::<ClientMsg>() {
                Ok(Some(m)) => Ok(m),
                Ok(None) => break,
                Err(e) if e.stream_intact() => Err(e.to_string()),
                Err(e) => {
                    info!("inspector {id}: {e}");
                    break;
                }
            };
            if tx.send(Input::ClientMsg { id, msg }).is_err() {
                return;
            }
        }
        let _ = tx.send(Input::ClientGone { id });
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_bytes_and_bookkeeping_and_always_takes_one() {
        let backlog = Backlog::default();
        let q = |len: usize, snapshot| Queued { payload: vec![b'x'; len].into(), snapshot };
        // Tiny messages: bounded by their bookkeeping, not only their bytes.
        let tiny = q(2, false);
        let fits = CLIENT_BYTES / tiny.cost();
        for _ in 0..fits {
            assert!(!backlog.over_budget(&tiny, false));
            backlog.added(&tiny);
        }
        assert!(backlog.over_budget(&tiny, false));
        backlog.taken(&tiny);
        assert!(!backlog.over_budget(&tiny, false));
        // A snapshot bigger than the whole budget still goes to an empty queue.
        let empty = Backlog::default();
        let huge = q(CLIENT_BYTES + 1, true);
        assert!(!empty.over_budget(&huge, true));
        assert!(empty.over_budget(&huge, false));
        empty.added(&huge);
        assert!(empty.snapshot.load(Ordering::Relaxed));
        empty.taken(&huge);
        assert!(!empty.snapshot.load(Ordering::Relaxed));
        assert_eq!(empty.bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn other_users_are_refused() {
        assert!(check_uid(Some(1000), 1000).is_ok());
        let e = check_uid(Some(0), 1000).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(e.to_string(), "peer runs as uid 0, the bridge as uid 1000");
        assert!(check_uid(None, 1000).is_err());
    }
}
