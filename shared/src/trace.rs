//! Event traces: one JSON record a line, `{"ts":…,"dir":"in","msg":{…}}`.
//!
//! `msg` is a message as it crossed the browser boundary: `in` is agent ->
//! bridge ([`crate::protocol::AgentMsg`]), `out` is bridge -> agent
//! ([`crate::protocol::BridgeMsg`]). A trace that starts mid-session begins
//! with the agent's hello and a snapshot, so it can be replayed on its own.

use std::io::{self, BufRead, BufWriter, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::protocol::{AgentMsg, ServerMsg};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the browser.
    In,
    /// To the browser.
    Out,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// When the bridge (or recorder) saw it: ms since the epoch, monotonic
    /// within one recording.
    pub ts: f64,
    pub dir: Direction,
    pub msg: Value,
}

impl TraceRecord {
    /// The message as an agent message, when it is one.
    pub fn agent_msg(&self) -> Option<AgentMsg> {
        match self.dir {
            Direction::In => AgentMsg::deserialize(&self.msg).ok(),
            Direction::Out => None,
        }
    }
}

/// What an inspector-side recorder writes for a message from the bridge:
/// the browser-side message it reflects, stamped with the bridge's receive
/// time. Bridge-only messages (replies, lag notices) are not part of a trace.
pub fn record_from_server(msg: &ServerMsg) -> Option<TraceRecord> {
    let (ts, msg) = match msg {
        ServerMsg::Hello { agent: Some(agent), .. } => (crate::now_ms(), AgentMsg::Hello((**agent).clone())),
        ServerMsg::Snapshot { received, snapshot } => (*received, AgentMsg::Snapshot(snapshot.clone())),
        ServerMsg::Event { received, event } => (*received, AgentMsg::Event(event.clone())),
        ServerMsg::AgentLog { received, level, message } => {
            (*received, AgentMsg::Log { level: *level, message: message.clone() })
        }
        _ => return None,
    };
    Some(TraceRecord { ts, dir: Direction::In, msg: serde_json::to_value(msg).ok()? })
}

/// Writes records, one a line. Call [`TraceWriter::flush`] before dropping
/// when the file must be complete (drop flushes too, silently).
pub struct TraceWriter<W: Write> {
    out: BufWriter<W>,
    count: u64,
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out: BufWriter::new(out), count: 0 }
    }

    pub fn write(&mut self, record: &TraceRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[derive(Debug, Error)]
pub enum TraceError {
    #[error("i/o error reading trace: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: not a trace record: {message}")]
    Corrupt { line: u64, message: String },
}

/// Reads records lazily, so a million-event trace streams.
pub struct TraceReader<R> {
    input: R,
    line: u64,
    buf: String,
    warning: Option<String>,
}

impl<R: BufRead> TraceReader<R> {
    pub fn new(input: R) -> Self {
        Self { input, line: 0, buf: String::new(), warning: None }
    }

    /// Set when the last line was cut off (a killed recorder): the records
    /// before it are good.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    fn next_record(&mut self) -> Result<Option<TraceRecord>, TraceError> {
        loop {
            self.buf.clear();
            if self.input.read_line(&mut self.buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let complete = self.buf.ends_with('\n');
            let text = self.buf.trim();
            if text.is_empty() {
                continue;
            }
            return match serde_json::from_str::<TraceRecord>(text) {
                Ok(r) => Ok(Some(r)),
                Err(_) if !complete => {
                    self.warning = Some(format!(
                        "line {}: last line is truncated ({} bytes) and was skipped; the recorder was probably killed",
                        self.line,
                        text.len()
                    ));
                    Ok(None)
                }
                Err(e) => Err(TraceError::Corrupt { line: self.line, message: e.to_string() }),
            };
        }
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<TraceRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Reads a whole trace: its records and the truncation warning, if any.
pub fn read_all(input: impl BufRead) -> Result<(Vec<TraceRecord>, Option<String>), TraceError> {
    let mut reader = TraceReader::new(input);
    let records = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((records, reader.warning))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(ts: f64) -> TraceRecord {
        TraceRecord {
            ts,
            dir: Direction::In,
            msg: json!({"type":"event","seq":1,"time":ts,"name":"tabs.onCreated","args":[]}),
        }
    }

    fn written(records: &[TraceRecord]) -> Vec<u8> {
        let mut w = TraceWriter::new(Vec::new());
        for r in records {
            w.write(r).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(w.count(), records.len() as u64);
        w.out.into_inner().unwrap()
    }

    #[test]
    fn round_trips() {
        let records = vec![rec(1.0), rec(2.5)];
        let (back, warning) = read_all(&written(&records)[..]).unwrap();
        assert_eq!(back, records);
        assert_eq!(warning, None);
    }

    #[test]
    fn truncated_last_line_is_a_warning() {
        let mut bytes = written(&[rec(1.0), rec(2.0)]);
        bytes.truncate(bytes.len() - 10);
        let (back, warning) = read_all(&bytes[..]).unwrap();
        assert_eq!(back, vec![rec(1.0)]);
        assert!(warning.unwrap().starts_with("line 2: last line is truncated"));
    }

    #[test]
    fn corruption_elsewhere_names_the_line() {
        let mut bytes = written(&[rec(1.0)]);
        bytes.extend_from_slice(b"{\"ts\": oops}\n");
        bytes.extend(written(&[rec(3.0)]));
        let err = read_all(&bytes[..]).unwrap_err();
        assert!(matches!(err, TraceError::Corrupt { line: 2, .. }), "{err}");
    }

    #[test]
    fn wrong_shape_on_a_complete_line_is_corruption() {
        let err = read_all(&b"{\"ts\":1,\"dir\":\"sideways\",\"msg\":{}}\n"[..]).unwrap_err();
        assert!(err.to_string().starts_with("line 1: not a trace record"), "{err}");
    }
}
