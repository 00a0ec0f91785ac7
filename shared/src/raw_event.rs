//! An event as the bridge passes it on: its arguments stay the JSON text the
//! browser sent. Forwarding and recording then copy bytes instead of building
//! a tree of every tab and serialising it again, and the model reads the
//! arguments straight into its types (BENCHMARKS.md has the figures).

use std::ops::Range;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::EventRecord;

/// Deepest nesting of an event's arguments (the arguments array counts as
/// one). Inspectors and trace readers parse an event inside two more levels
/// of message, under serde_json's limit of 128; Thunderbird's go to 4.
pub const MAX_ARGS_DEPTH: usize = 100;

/// One browser event with raw arguments. [`RawEvent::to_json`] writes
/// exactly the [`EventRecord`] it stands for; it is made only through
/// checks that each argument parses as a `Value` would.
#[derive(Debug)]
pub struct RawEvent {
    pub seq: u64,
    pub time: f64,
    pub name: String,
    /// The arguments array as JSON text; `parts[i]` is argument i in it,
    /// so that nothing needs to find the arguments again.
    args: String,
    parts: Vec<Range<usize>>,
}

/// The same fields as they arrive, each argument borrowed unchecked.
#[derive(Deserialize)]
struct Unchecked<'a> {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    seq: u64,
    time: f64,
    name: String,
    #[serde(borrow)]
    args: Vec<&'a RawValue>,
}

impl RawEvent {
    /// Joins checked arguments into one array.
    fn from_parts<'a, I>(seq: u64, time: f64, name: String, each: I) -> Result<Self, String>
    where
        I: ExactSizeIterator<Item = &'a str> + Clone,
    {
        let mut args = String::with_capacity(each.clone().map(|a| a.len() + 1).sum::<usize>() + 2);
        let mut parts = Vec::with_capacity(each.len());
        args.push('[');
        for (i, arg) in each.enumerate() {
            check_arg(arg).map_err(|e| format!("event {name}: argument {}: {e}", i + 1))?;
            if i > 0 {
                args.push(',');
            }
            parts.push(args.len()..args.len() + arg.len());
            args.push_str(arg);
        }
        args.push(']');
        Ok(RawEvent { seq, time, name, args, parts })
    }

    /// The bridge's path for the agent's events, which start with
    /// `{"type":"event",`: `None` for any other payload, which then takes
    /// the general path ([`crate::protocol::AgentMsg::from_slice`]).
    pub fn from_agent_payload(payload: &[u8]) -> Option<Result<Self, String>> {
        if !payload.starts_with(br#"{"type":"event","#) {
            return None;
        }
        Some(match serde_json::from_slice::<Unchecked>(payload) {
            Ok(u) => RawEvent::from_parts(u.seq, u.time, u.name, u.args.iter().map(|a| a.get())),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Argument `i`, as JSON text.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.parts.get(i).map(|r| &self.args[r.clone()])
    }

    /// The event as an [`EventRecord`] serialises:
    /// `{"seq":..,"time":..,"name":..,"args":[..]}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.args.len() + self.name.len() + 64);
        out.extend_from_slice(br#"{"seq":"#);
        serde_json::to_writer(&mut out, &self.seq).expect("a number serialises");
        out.extend_from_slice(br#","time":"#);
        serde_json::to_writer(&mut out, &self.time).expect("a number serialises");
        out.extend_from_slice(br#","name":"#);
        serde_json::to_writer(&mut out, &self.name).expect("a string serialises");
        out.extend_from_slice(br#","args":"#);
        out.extend_from_slice(self.args.as_bytes());
        out.push(b'}');
        out
    }

    /// The parsed form, for readers that want a tree (tests, fuzzing).
    pub fn to_record(&self) -> serde_json::Result<EventRecord> {
        Ok(EventRecord {
            seq: self.seq,
            time: self.time,
            name: self.name.clone(),
            args: serde_json::from_str(&self.args)?,
        })
    }
}

impl TryFrom<EventRecord> for RawEvent {
    type Error = String;

    /// An event that came another way (a replayed trace, a message whose
    /// type was not first).
    fn try_from(e: EventRecord) -> Result<Self, String> {
        let each: Vec<String> = e.args.iter().map(Value::to_string).collect();
        RawEvent::from_parts(e.seq, e.time, e.name, each.iter().map(String::as_str))
    }
}

/// Checks that one argument parses as a `serde_json::Value` would, nested
/// at most [`MAX_ARGS_DEPTH`] deep with the array around it, without
/// building it. serde_json skips a raw value leniently (no depth limit,
/// numbers out of range, lone surrogates); what the bridge forwards must be
/// readable by every inspector and trace reader.
fn check_arg(arg: &str) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_str(arg);
    Checked { depth: 2 }.deserialize(&mut de)?;
    de.end()
}

/// A value read and dropped, as strictly as `Value` reads it, depth counted.
struct Checked {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.depth > MAX_ARGS_DEPTH {
            return Err(D::Error::custom(format_args!("nested deeper than {MAX_ARGS_DEPTH} levels")));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Checked { depth: self.depth + 1 })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(Checked { depth: self.depth + 1 })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(args: &str) -> Result<RawEvent, String> {
        let payload = format!(r#"{{"type":"event","seq":1,"time":0,"name":"x","args":{args}}}"#);
        RawEvent::from_agent_payload(payload.as_bytes()).unwrap()
    }

    #[test]
    fn writes_the_event_record_it_stands_for() {
        let payload = br#"{"type":"event","seq":7,"time":1.5e12,"name":"tabs.on\"Updated","args":[3, {"title":"A \"b\" [c"} ,{"id":3,"windowId":1,"index":0}]}"#;
        let e = RawEvent::from_agent_payload(payload).unwrap().unwrap();
        let record = e.to_record().unwrap();
        assert_eq!(record.args[1], json!({"title": "A \"b\" [c"}));
        assert_eq!(e.arg(2), Some(r#"{"id":3,"windowId":1,"index":0}"#));
        assert_eq!(e.arg(3), None);
        let reparsed: EventRecord = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(reparsed, record);
        assert_eq!(e.to_json(), serde_json::to_vec(&record).unwrap(), "byte for byte, as serde writes it");
        assert_eq!(RawEvent::try_from(record.clone()).unwrap().to_record().unwrap(), record);
        assert_eq!(event("[ ]").unwrap().to_json(), br#"{"seq":1,"time":0.0,"name":"x","args":[]}"#);
    }

    #[test]
    fn only_the_agents_event_payloads_take_this_path() {
        assert!(RawEvent::from_agent_payload(br#"{"type":"hello","protocol":1}"#).is_none());
        assert!(RawEvent::from_agent_payload(br#"{"seq":1,"type":"event"}"#).is_none());
        let bad = RawEvent::from_agent_payload(br#"{"type":"event","seq":1,"time":1,"name":"x"}"#).unwrap();
        assert!(bad.unwrap_err().contains("missing field `args`"));
        assert!(event("{}").unwrap_err().starts_with("invalid type: map, expected a sequence"));
    }

    #[test]
    fn only_args_a_value_would_read_are_taken() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(event(&deep(MAX_ARGS_DEPTH)).is_ok());
        assert!(event(r#"[{"a": [[["]]]]]"]]]}, "\ud800\udc00", 1e308, 12345678901234567890123]"#).is_ok());
        let refused = [
            (deep(MAX_ARGS_DEPTH + 1), "argument 1: nested deeper than 100 levels"),
            (
                format!("[{}1{}]", r#"{"a":"#.repeat(MAX_ARGS_DEPTH), "}".repeat(MAX_ARGS_DEPTH)),
                "nested deeper",
            ),
            ("[1, 1e400]".into(), "argument 2: number out of range"),
            (r#"["\ud800"]"#.into(), "hex escape"),
        ];
        for (args, why) in refused {
            let err = event(&args).unwrap_err();
            assert!(err.starts_with("event x: argument ") && err.contains(why), "{args}: {err}");
        }
        // Whatever passes can be read back inside an inspector's message.
        let e = event(&deep(MAX_ARGS_DEPTH)).unwrap();
        let msg = crate::protocol::ServerMsg::event_payload(0.0, &e.to_json());
        assert!(serde_json::from_slice::<crate::protocol::ServerMsg>(&msg).is_ok());
    }
}
