//! An event as the bridge passes it on: its arguments stay the JSON text the
//! browser sent. Forwarding and recording then copy bytes instead of building
//! a tree of every tab and serialising it again, and the model reads the
//! arguments straight into its types (BENCHMARKS.md has the figures).

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::protocol::EventRecord;

/// Deepest nesting of an event's arguments (the arguments array counts as
/// one). Inspectors and trace readers parse an event inside two more levels
/// of message, under serde_json's limit of 128; Thunderbird's go to 4.
pub const MAX_ARGS_DEPTH: usize = 100;

/// One browser event with raw arguments. Serialises exactly as the
/// [`EventRecord`] it stands for; made only through checks that its
/// arguments are an array no deeper than [`MAX_ARGS_DEPTH`].
#[derive(Debug, Serialize)]
pub struct RawEvent {
    pub seq: u64,
    pub time: f64,
    pub name: String,
    args: Box<RawValue>,
}

/// The same fields, as they arrive: unchecked.
#[derive(Deserialize)]
struct Unchecked {
    seq: u64,
    time: f64,
    name: String,
    args: Box<RawValue>,
}

impl RawEvent {
    pub fn new(seq: u64, time: f64, name: String, args: Box<RawValue>) -> Result<Self, String> {
        check_args(&name, &args)?;
        Ok(RawEvent { seq, time, name, args })
    }

    /// The bridge's path for the agent's events, which start with
    /// `{"type":"event",`: `None` for any other payload, which then takes
    /// the general path ([`crate::protocol::AgentMsg::from_slice`]).
    pub fn from_agent_payload(payload: &[u8]) -> Option<Result<Self, String>> {
        let rest = payload.strip_prefix(br#"{"type":"event","#)?;
        // The body is what follows the type: an object once it gets its brace.
        let mut body = Vec::with_capacity(rest.len() + 1);
        body.push(b'{');
        body.extend_from_slice(rest);
        Some(match serde_json::from_slice::<Unchecked>(&body) {
            Ok(u) => RawEvent::new(u.seq, u.time, u.name, u.args),
            Err(e) => Err(e.to_string()),
        })
    }

    /// The arguments, as the JSON text of an array.
    pub fn args(&self) -> &RawValue {
        &self.args
    }

    /// The parsed form, for readers that want a tree (tests, fuzzing).
    pub fn to_record(&self) -> serde_json::Result<EventRecord> {
        Ok(EventRecord {
            seq: self.seq,
            time: self.time,
            name: self.name.clone(),
            args: serde_json::from_str(self.args.get())?,
        })
    }
}

impl TryFrom<EventRecord> for RawEvent {
    type Error = String;

    /// An event that came another way (a replayed trace, a message whose
    /// type was not first).
    fn try_from(e: EventRecord) -> Result<Self, String> {
        let args =
            serde_json::value::to_raw_value(&e.args).map_err(|err| format!("event {}: {err}", e.name))?;
        RawEvent::new(e.seq, e.time, e.name, args)
    }
}

/// Checks that `args` is an array that parses as a `serde_json::Value`
/// would, nested at most [`MAX_ARGS_DEPTH`] deep, without building it.
/// serde_json skips a raw value leniently (no depth limit, numbers out of
/// range, lone surrogates); what the bridge forwards must be readable by
/// every inspector and trace reader.
fn check_args(name: &str, args: &RawValue) -> Result<(), String> {
    if !args.get().starts_with('[') {
        return Err(format!("event {name}: args is not an array"));
    }
    let mut de = serde_json::Deserializer::from_str(args.get());
    Checked { depth: 1 }.deserialize(&mut de).map_err(|e| format!("event {name}: args: {e}"))
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

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn serialises_as_the_event_record_it_stands_for() {
        let payload = br#"{"type":"event","seq":7,"time":1.5e12,"name":"tabs.onUpdated","args":[3,{"title":"A \"b\" [c"},{"id":3,"windowId":1,"index":0}]}"#;
        let e = RawEvent::from_agent_payload(payload).unwrap().unwrap();
        let record = e.to_record().unwrap();
        assert_eq!(record.args[1], json!({"title": "A \"b\" [c"}));
        let reparsed: EventRecord = serde_json::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
        assert_eq!(reparsed, record);
        assert_eq!(RawEvent::try_from(record.clone()).unwrap().to_record().unwrap(), record);
    }

    #[test]
    fn only_the_agents_event_payloads_take_this_path() {
        assert!(RawEvent::from_agent_payload(br#"{"type":"hello","protocol":1}"#).is_none());
        assert!(RawEvent::from_agent_payload(br#"{"seq":1,"type":"event"}"#).is_none());
        let bad = RawEvent::from_agent_payload(br#"{"type":"event","seq":1,"time":1,"name":"x"}"#).unwrap();
        assert!(bad.unwrap_err().contains("missing field `args`"));
        let not_array =
            RawEvent::from_agent_payload(br#"{"type":"event","seq":1,"time":1,"name":"x","args":{}}"#);
        assert_eq!(not_array.unwrap().unwrap_err(), "event x: args is not an array");
    }

    #[test]
    fn only_args_a_value_would_read_are_taken() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let event = |args: &str| RawEvent::new(1, 0.0, "x".into(), raw(args));
        assert!(event(&deep(MAX_ARGS_DEPTH)).is_ok());
        assert!(event(r#"[{"a": [[["]]]]]"]]]}, "\ud800\udc00", 1e308, 12345678901234567890123]"#).is_ok());
        let refused = [
            (deep(MAX_ARGS_DEPTH + 1), "nested deeper than 100 levels"),
            (
                format!("[{}1{}]", r#"{"a":"#.repeat(MAX_ARGS_DEPTH), "}".repeat(MAX_ARGS_DEPTH)),
                "nested deeper",
            ),
            ("[1e400]".into(), "number out of range"),
            (r#"["\ud800"]"#.into(), "hex escape"),
            ("{}".into(), "args is not an array"),
        ];
        for (args, why) in refused {
            let err = event(&args).unwrap_err();
            assert!(err.starts_with("event x: ") && err.contains(why), "{args}: {err}");
        }
        // Whatever passes can be read back inside an inspector's message.
        let e = event(&deep(MAX_ARGS_DEPTH)).unwrap();
        let msg = crate::protocol::ServerMsg::event_payload(0.0, &serde_json::to_vec(&e).unwrap());
        assert!(serde_json::from_slice::<crate::protocol::ServerMsg>(&msg).is_ok());
    }
}
