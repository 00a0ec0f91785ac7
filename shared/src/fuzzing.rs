//! What the fuzz targets check, kept here so that the corpus and every crash
//! found replay as ordinary tests on the stable toolchain
//! (`fuzz/` holds the cargo-fuzz targets; `tests::corpus_replays` runs them).
//! Each function takes any bytes; it panics only when tabscope is wrong.

use std::io::Cursor;

use crate::codec::{self, FrameReader, FrameWriter};
use crate::event::BrowserEvent;
use crate::methods;
use crate::model::{ApplyError, Model};
use crate::protocol::{AgentMsg, ClientMsg, ServerMsg};
use crate::raw_event::RawEvent;
use crate::trace::{self, Record, TraceReader};

/// The largest frame the fuzzed readers accept; hostile length headers above
/// it must be refused without allocating them.
const MAX_FRAME: usize = 1 << 20;

/// The frame decoder over a stream: every frame read re-encodes to the same
/// bytes; reading stops at a clean end or an error, never a panic or a hang.
pub fn frames(data: &[u8]) {
    let mut reader = FrameReader::new(Cursor::new(data)).with_max_len(MAX_FRAME);
    let mut consumed = 0usize;
    loop {
        match reader.read_frame() {
            Ok(None) => break,
            Ok(Some(payload)) => {
                assert!(!payload.is_empty() && payload.len() <= MAX_FRAME);
                let mut out = Vec::new();
                FrameWriter::new(&mut out).with_max_len(MAX_FRAME).write_frame(&payload).unwrap();
                assert_eq!(out[..], data[consumed..consumed + out.len()], "a frame re-encodes as read");
                consumed += out.len();
                // Payload errors leave the stream usable; they must describe themselves.
                if let Err(e) = codec::decode::<serde_json::Value>(&payload) {
                    assert!(e.stream_intact());
                    let _ = e.to_string();
                }
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
}

/// Payloads the browser sends (one per line): each parses to a message or an
/// error; a message becomes a trace record that reads back equal; snapshots
/// and events keep the model consistent whatever they say.
pub fn from_browser(data: &[u8]) {
    let mut model = Model::new();
    for line in data.split(|b| *b == b'\n') {
        let general = serde_json::from_slice::<AgentMsg>(line);
        // The bridge's fast path agrees with serde wherever serde accepts.
        if let Ok(m) = &general {
            assert_eq!(AgentMsg::from_slice(line).as_ref().ok(), Some(m), "fast path differs");
        }
        check_raw_event(line, general.as_ref().ok(), &model);
        let Ok(msg) = general else { continue };
        match &msg {
            AgentMsg::Snapshot(s) => model = Model::from_snapshot(s.clone()),
            AgentMsg::Event(e) => {
                let _ = model.apply_record(e);
            }
            _ => {}
        }
        if let Err(broken) = model.check() {
            panic!("the model broke on {}: {broken}", String::from_utf8_lossy(line));
        }
        let record = Record::from_agent(7, msg);
        let line = record.to_line();
        assert_eq!(Record::from_line(&line).expect("our own line reads back"), record);
    }
}

/// The bridge's own path for events: what it takes, serde takes as the same
/// event; an inspector reads what it forwards; the model it feeds ends as
/// the general path's does. (The raw path may refuse more: an argument
/// object with a key given twice, which no browser sends.)
fn check_raw_event(line: &[u8], general: Option<&AgentMsg>, model: &Model) {
    // The bridge reads the typed arguments first and checks only the rest:
    // the same event, the same errors as checking every argument.
    let checked_all = RawEvent::from_agent_payload(line)
        .map(|r| r.map(|raw| (raw.to_json(), BrowserEvent::from_raw(&raw))));
    let typed_first = RawEvent::typed_from_agent_payload(line).map(|r| r.map(|(raw, t)| (raw.to_json(), t)));
    assert_eq!(
        typed_first,
        checked_all,
        "the typed-first reading differs on {}",
        String::from_utf8_lossy(line)
    );
    let Some(Ok(raw)) = RawEvent::from_agent_payload(line) else { return };
    let Some(AgentMsg::Event(event)) = general else {
        panic!("the raw path took what serde refuses: {}", String::from_utf8_lossy(line))
    };
    assert_eq!(&raw.to_record().expect("checked args parse"), event);
    let forwarded = ServerMsg::event_payload(1.0, &raw.to_json());
    codec::decode::<ServerMsg>(&forwarded).expect("inspectors read what the bridge forwards");
    let (mut by_raw, mut by_record) = (model.clone(), model.clone());
    let raw_said = by_raw.apply_parsed(BrowserEvent::from_raw(&raw));
    let record_said = by_record.apply_record(event);
    if !matches!(raw_said, Err(ApplyError::Event(_))) {
        assert_eq!(raw_said.is_ok(), record_said.is_ok(), "the paths differ on {}", event.name);
        assert_eq!(by_raw, by_record, "the two paths disagree on {}", event.name);
    }
}

/// Payloads inspectors send and receive (one per line): parsed or refused
/// with a message; commands checked against the method list; what parses
/// re-encodes to an equal message.
pub fn from_client(data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(msg) = codec::decode::<ClientMsg>(line) {
            if let ClientMsg::Command(c) = &msg {
                let _ = methods::validate(&c.method, &c.params);
            }
            let again: ClientMsg = codec::decode(&codec::encode(&msg).unwrap()).unwrap();
            assert_eq!(again, msg);
        }
        if let Ok(msg) = codec::decode::<ServerMsg>(line) {
            let again: ServerMsg = codec::decode(&codec::encode(&msg).unwrap()).unwrap();
            assert_eq!(again, msg);
        }
    }
}

/// A trace file: read record by record until its end or an error, each
/// record applied to a model that stays consistent; statistics and the
/// Chrome export take the same bytes without panicking.
pub fn trace_file(data: &[u8]) {
    if let Ok(mut reader) = TraceReader::new(Cursor::new(data)) {
        let mut model = Model::new();
        while let Ok(Some(item)) = reader.next_item() {
            let shown = format!("{item:?}");
            trace::index::apply(&mut model, item);
            if let Err(broken) = model.check() {
                panic!("the model broke on {shown}: {broken}");
            }
        }
    }
    for line in data.split(|b| *b == b'\n') {
        trace::item::assert_same_reading(line);
    }
    let _ = trace::Stats::read(Cursor::new(data)).map(|s| s.to_string());
    let _ = trace::export_chrome(Cursor::new(data), std::io::sink());
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every input kept by the fuzzers (the corpus and the crashes they
    /// found, `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`)
    /// still passes its check.
    #[test]
    fn corpus_replays() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 4] = [
            ("frames", super::frames),
            ("from_browser", super::from_browser),
            ("from_client", super::from_client),
            ("trace_file", super::trace_file),
        ];
        for (name, check) in targets {
            let mut seen = 0;
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else { continue };
                for entry in entries {
                    let path = entry.unwrap().path();
                    let data = std::fs::read(&path).unwrap();
                    if std::panic::catch_unwind(|| check(&data)).is_err() {
                        panic!("{} fails its check", path.display());
                    }
                    seen += 1;
                }
            }
            assert!(seen > 0, "no corpus for {name} in {}", root.display());
        }
    }
}
