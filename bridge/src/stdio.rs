//! The browser side: a thread that reads frames from stdin and one that
//! writes frames to stdout. Nothing else in the process touches stdout.

use std::io::{self, BufReader};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use serde::Deserialize;
use serde_json::Value;
use tabscope_shared::codec::{FrameError, FrameReader, FrameWriter, decode};
use tabscope_shared::protocol::AgentMsg;
use tracing::warn;

use crate::router::Input;

/// What the stdin thread hands the router.
pub enum FromBrowser {
    /// A well-framed message; `msg` is `Err` when it is not one we know.
    Msg {
        raw: Value,
        msg: Result<Box<AgentMsg>, String>,
    },
    /// A well-framed payload that is not JSON; the stream goes on.
    BadPayload(String),
    /// The stream can no longer be trusted.
    Fatal(String),
    Eof,
}

pub fn spawn_stdin(tx: Sender<Input>) -> io::Result<()> {
    thread::Builder::new().name("stdin".into()).spawn(move || {
        let mut reader = FrameReader::new(BufReader::with_capacity(256 * 1024, io::stdin().lock()));
        loop {
            let item = match reader.read_frame() {
                Ok(None) => FromBrowser::Eof,
                Ok(Some(payload)) => match decode::<Value>(&payload) {
                    Ok(raw) => {
                        let msg = AgentMsg::deserialize(&raw).map(Box::new).map_err(|e| e.to_string());
                        FromBrowser::Msg { raw, msg }
                    }
                    Err(e) => FromBrowser::BadPayload(e.to_string()),
                },
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

/// Writes pre-encoded payloads to stdout as frames. The router has already
/// checked each against the browser's 1 MiB limit; the writer checks again.
pub fn spawn_stdout(rx: Receiver<Vec<u8>>) -> io::Result<()> {
    thread::Builder::new().name("stdout".into()).spawn(move || {
        let mut writer = FrameWriter::new(io::stdout().lock());
        for payload in rx {
            if let Err(e) = writer.write_frame(&payload) {
                warn!("cannot write to the browser: {e}");
                if !matches!(e, FrameError::TooLargeToSend { .. }) {
                    return;
                }
            }
        }
    })?;
    Ok(())
}
