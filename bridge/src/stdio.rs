//! The browser side: a thread that reads frames from stdin and one that
//! writes frames to stdout. Nothing else in the process touches stdout.

use std::io::{self, BufReader};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use serde::de::IgnoredAny;
use tabscope_shared::codec::{FrameReader, FrameWriter, decode};
use tabscope_shared::event::{BrowserEvent, EventError};
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

pub fn spawn_stdin(tx: Sender<Input>) -> io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut reader = FrameReader::new(BufReader::with_capacity(256 * 1024, io::stdin().lock()));
        loop {
            let item = match reader.read_frame() {
                Ok(None) => FromBrowser::Eof,
                Ok(Some(payload)) => parse(&payload),
                // Any error reading a frame itself loses the stream.
                Err(e) => FromBrowser::Fatal(e.to_string()),
            };
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
    match RawEvent::from_agent_payload(payload) {
        Some(Ok(e)) => FromBrowser::Event(Box::new(e.into())),
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

/// Writes pre-encoded payloads to stdout as frames. The router has already
/// checked each against the browser's 1 MiB limit; the writer checks again.
pub fn spawn_stdout(rx: Receiver<Vec<u8>>) -> io::Result<()> {
    thread::Builder::new().name("stdout".into()).spawn(move || {
        let mut writer = FrameWriter::new(io::stdout().lock());
        while let Ok(first) = rx.recv() {
            // Frames that piled up go out in one write; each is checked alone.
            for payload in std::iter::once(first).chain(rx.try_iter().take(64)) {
                if let Err(e) = writer.queue_frame(&payload) {
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
