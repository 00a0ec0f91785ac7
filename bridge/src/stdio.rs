//! The browser side: a thread that reads frames from stdin and one that
//! writes frames to stdout. Nothing else in the process touches stdout.

use std::io::{self, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use serde::de::IgnoredAny;
use tabscope_shared::codec::{FrameReader, FrameWriter, decode};
use tabscope_shared::event::{BrowserEvent, EventError};
use tabscope_shared::model;
use tabscope_shared::protocol::AgentMsg;
use tabscope_shared::raw_event::RawEvent;
use tracing::warn;

use crate::router::Input;

/// What the stdin thread hands the router.
pub enum FromBrowser {
    /// An event, most of the traffic.
    Event(Box<Event>),
    /// An event payload that cannot be taken as one (its arguments would
    /// not read back in an inspector, a field is missing, ...).
    BadEvent(String),
    /// Any other well-framed JSON message; `Err` when it is not one we know.
    Msg(Result<Box<AgentMsg>, String>),
    /// A well-framed payload that is not JSON; the stream goes on.
    BadPayload(String),
    /// The stream can no longer be trusted.
    Fatal(String),
    Eof,
}

/// An event as read on the stdin thread: its arguments kept as sent, and
/// already typed for the model, so that the router only applies it.
pub struct Event {
    pub raw: RawEvent,
    pub typed: Result<BrowserEvent, EventError>,
}

impl From<RawEvent> for Event {
    fn from(raw: RawEvent) -> Self {
        Event { typed: BrowserEvent::from_raw(&raw), raw }
    }
}

/// What the router is done with, sent back to the stdin thread to be freed
/// where it was allocated. glibc gives each thread its own arena; memory
/// freed by another thread goes back under that arena's lock and never into
/// the allocating thread's cache, so each allocation of the stdin thread
/// (a dozen per tab event) took the slow path, against the router's frees.
#[derive(Default)]
pub struct Spent {
    /// Events as the stdin thread made them, box and text.
    #[allow(clippy::vec_box)]
    pub events: Vec<Box<Event>>,
    /// What the model replaced or emptied.
    pub model: model::Spent,
}

impl Spent {
    /// Events gathered before they are sent back: one message per batch.
    pub const BATCH: usize = 64;

    pub fn is_full(&self) -> bool {
        self.events.len() >= Self::BATCH
    }
}

/// Reads frames until the stream ends; frees what comes back on `spent`
/// (at most what the router took from it since, in batches).
pub fn spawn_stdin(tx: Sender<Input>, spent: Receiver<Spent>) -> io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        // An over-limit message is skipped and reported; ending here would
        // only make the agent reconnect and send it again, for ever.
        let mut reader =
            FrameReader::new(BufReader::with_capacity(256 * 1024, io::stdin().lock())).skip_oversized();
        loop {
            let item = match reader.next_frame() {
                Ok(None) => FromBrowser::Eof,
                Ok(Some(payload)) => parse(payload),
                Err(e) if e.stream_intact() => FromBrowser::BadPayload(e.to_string()),
                // Any other error reading a frame loses the stream.
                Err(e) => FromBrowser::Fatal(e.to_string()),
            };
            spent.try_iter().for_each(drop);
            let last = matches!(item, FromBrowser::Eof | FromBrowser::Fatal(_));
            if tx.send(Input::Browser(item)).is_err() || last {
                return;
            }
        }
    })?;
    Ok(())
}

/// Parses a payload once, straight into a message; only a payload that is
/// not a message is looked at again, to say whether it is JSON at all.
pub fn parse(payload: &[u8]) -> FromBrowser {
    match RawEvent::typed_from_agent_payload(payload) {
        Some(Ok((raw, typed))) => FromBrowser::Event(Box::new(Event { raw, typed })),
        Some(Err(why)) => FromBrowser::BadEvent(why),
        None => match AgentMsg::from_slice(payload) {
            Ok(m) => FromBrowser::Msg(Ok(Box::new(m))),
            Err(e) => match decode::<IgnoredAny>(payload) {
                Ok(_) => FromBrowser::Msg(Err(e.to_string())),
                Err(bad) => FromBrowser::BadPayload(bad.to_string()),
            },
        },
    }
}

/// Messages waiting for the browser, at most: a browser that stops reading
/// makes commands fail at once rather than pile up.
pub const TO_BROWSER_QUEUE: usize = 256;

/// Where a command to the browser is. The router and the stdout thread
/// race for it: only one of "sent" and "expired" can win, so a command the
/// asker was told had timed out unsent is never sent later.
#[derive(Default)]
pub struct SendState(AtomicU8);

const QUEUED: u8 = 0;
const SENT: u8 = 1;
const EXPIRED: u8 = 2;

impl SendState {
    /// The stdout thread's claim; false if the command already expired.
    pub fn claim_for_sending(&self) -> bool {
        self.0.compare_exchange(QUEUED, SENT, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
    /// The router's claim at the deadline; false if it was already sent.
    pub fn expire_unsent(&self) -> bool {
        self.0.compare_exchange(QUEUED, EXPIRED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// An encoded message for the browser, with its command's state.
pub struct Outgoing {
    pub payload: Vec<u8>,
    pub state: Arc<SendState>,
}

/// Writes pre-encoded payloads to stdout as frames. The router has already
/// checked each against the browser's 1 MiB limit; the writer checks again.
/// A command whose deadline passed while it waited is not written.
pub fn spawn_stdout(rx: Receiver<Outgoing>) -> io::Result<()> {
    thread::Builder::new().name("stdout".into()).spawn(move || {
        let mut writer = FrameWriter::new(io::stdout().lock());
        while let Ok(first) = rx.recv() {
            // Frames that piled up go out in one write; each is checked alone.
            for out in std::iter::once(first).chain(rx.try_iter().take(64)) {
                if !out.state.claim_for_sending() {
                    continue;
                }
                if let Err(e) = writer.queue_frame(&out.payload) {
                    warn!("cannot write to the browser: {e}");
                }
            }
            if let Err(e) = writer.send() {
                warn!("cannot write to the browser: {e}");
                return;
            }
        }
    })?;
    Ok(())
}
