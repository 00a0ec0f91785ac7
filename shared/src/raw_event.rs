//! An event as the bridge passes it on: its arguments stay the JSON text the
//! browser sent. Forwarding and recording then copy bytes instead of building
//! a tree of every tab and serialising it again, and the model reads the
//! arguments straight into its types (BENCHMARKS.md has the figures).

use std::ops::Range;

use compact_str::CompactString;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::event::{BrowserEvent, EventError};
use crate::protocol::{EventRecord, Tab};

mod one_pass;

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
    /// Inline up to 24 bytes (`tabs.onUpdated`, `tabscope.onAddonActivity`).
    pub name: CompactString,
    /// The arguments array as JSON text; `parts[i]` is argument i in it,
    /// so that nothing needs to find the arguments again.
    args: String,
    parts: SmallVec<[Range<usize>; ARGS_INLINE]>,
}

/// Arguments held without a heap allocation: `tabs.onUpdated` has three.
const ARGS_INLINE: usize = 3;

/// The same fields as they arrive, each argument borrowed unchecked.
#[derive(Deserialize)]
struct Unchecked<'a> {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    seq: u64,
    time: f64,
    name: CompactString,
    #[serde(borrow)]
    args: SmallVec<[&'a RawValue; ARGS_INLINE]>,
}

/// Reads an event's fields. UTF-8 is checked once for the whole payload,
/// not string by string; a payload that is not UTF-8 is read as bytes, so
/// that its error says where, as it always did. `text` is the payload
/// when the caller found it UTF-8, so that nothing checks it twice.
fn read_unchecked<'a>(payload: &'a [u8], text: Option<&'a str>) -> serde_json::Result<Unchecked<'a>> {
    match text {
        Some(text) => serde_json::from_str(text),
        None => serde_json::from_slice(payload),
    }
}

impl RawEvent {
    /// Joins arguments into one array, checking each but the first
    /// `proven`, which a typed reading has already taken as strictly.
    fn from_parts<'a, I>(
        seq: u64,
        time: f64,
        name: CompactString,
        each: I,
        proven: usize,
    ) -> Result<Self, String>
    where
        I: ExactSizeIterator<Item = &'a str> + Clone,
    {
        let mut args = String::with_capacity(each.clone().map(|a| a.len() + 1).sum::<usize>() + 2);
        let mut parts = SmallVec::with_capacity(each.len());
        args.push('[');
        for (i, arg) in each.enumerate() {
            if i >= proven {
                check_arg(arg).map_err(|e| format!("event {name}: argument {}: {e}", i + 1))?;
            }
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
        Some(match read_unchecked(payload, std::str::from_utf8(payload).ok()) {
            Ok(u) => RawEvent::from_parts(u.seq, u.time, u.name, u.args.iter().map(|a| a.get()), 0),
            Err(e) => Err(e.to_string()),
        })
    }

    /// [`RawEvent::from_agent_payload`] and [`BrowserEvent::from_raw`] in
    /// one: the same event, the same errors, with less reading. The typed
    /// reading comes first, and the arguments it took as strictly as
    /// [`check_arg`] would (a whole tab, most of the traffic) are not read
    /// a third time. The agent's own layout is read in one pass
    /// ([`one_pass`]); any other payload, and any error, as before.
    pub fn typed_from_agent_payload(payload: &[u8]) -> Option<Result<(Self, Typed), String>> {
        if !payload.starts_with(br#"{"type":"event","#) {
            return None;
        }
        let text = std::str::from_utf8(payload).ok();
        if let Some(read) = text.and_then(one_pass::read) {
            return Some(Ok(read));
        }
        let u = match read_unchecked(payload, text) {
            Ok(u) => u,
            Err(e) => return Some(Err(e.to_string())),
        };
        let typed = BrowserEvent::parse_args(&u.name, u.args.as_slice());
        let proven = typed.as_ref().map_or(0, proven_args);
        let raw = RawEvent::from_parts(u.seq, u.time, u.name, u.args.iter().map(|a| a.get()), proven);
        Some(raw.map(|raw| (raw, typed)))
    }

    /// Argument `i`, as JSON text.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.parts.get(i).map(|r| &self.args[r.clone()])
    }

    /// The event as an [`EventRecord`] serialises:
    /// `{"seq":..,"time":..,"name":..,"args":[..]}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.args.len() + self.name.len() + 64);
        self.write_json(&mut out);
        out
    }

    /// [`RawEvent::to_json`], appended to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"seq":"#);
        serde_json::to_writer(&mut *out, &self.seq).expect("a number serialises");
        out.extend_from_slice(br#","time":"#);
        serde_json::to_writer(&mut *out, &self.time).expect("a number serialises");
        out.extend_from_slice(br#","name":"#);
        serde_json::to_writer(&mut *out, &self.name).expect("a string serialises");
        out.extend_from_slice(br#","args":"#);
        out.extend_from_slice(self.args.as_bytes());
        out.push(b'}');
    }

    /// The parsed form, for readers that want a tree (tests, fuzzing).
    pub fn to_record(&self) -> serde_json::Result<EventRecord> {
        Ok(EventRecord {
            seq: self.seq,
            time: self.time,
            name: self.name.to_string(),
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
        RawEvent::from_parts(e.seq, e.time, e.name.into(), each.iter().map(String::as_str), 0)
    }
}

/// An event typed for the model, or why it cannot be.
pub type Typed = Result<BrowserEvent, EventError>;

/// How many leading arguments `typed` proves [`check_arg`] would take.
/// Reading into these types is at least as strict as reading a `Value`
/// (every byte is read, numbers and strings as strictly, nothing skipped),
/// so what is left to check is the depth of the `Value`s they hold.
fn proven_args(typed: &BrowserEvent) -> usize {
    // Each argument is at depth 2 (in the arguments array), its fields at 3.
    let tab_ok = |tab: &Tab| tab.json_values().all(|v| within_depth(v, 3));
    match typed {
        BrowserEvent::TabCreated(tab) if tab_ok(tab) => 1,
        BrowserEvent::TabUpdated { change, tab, .. }
            if change.values().all(|v| within_depth(v, 3)) && tab_ok(tab) =>
        {
            3
        }
        _ => 0,
    }
}

/// Whether `v`, found at `depth`, is within [`MAX_ARGS_DEPTH`], counted as
/// [`Checked`] counts it.
fn within_depth(v: &Value, depth: usize) -> bool {
    depth <= MAX_ARGS_DEPTH
        && match v {
            Value::Array(a) => a.iter().all(|v| within_depth(v, depth + 1)),
            Value::Object(o) => o.values().all(|v| within_depth(v, depth + 1)),
            _ => true,
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
    fn a_payload_that_is_not_utf8_is_refused_with_its_place() {
        // Read as text once it is known to be UTF-8; bytes that are not must
        // still be refused, inside the arguments and outside them.
        for payload in [
            &b"{\"type\":\"event\",\"seq\":1,\"time\":0,\"name\":\"x\",\"args\":[\"\xff\"]}"[..],
            b"{\"type\":\"event\",\"seq\":1,\"time\":0,\"name\":\"\xc3\",\"args\":[]}",
        ] {
            for got in [
                RawEvent::from_agent_payload(payload).unwrap().map(|_| ()),
                RawEvent::typed_from_agent_payload(payload).unwrap().map(|_| ()),
            ] {
                let e = got.unwrap_err();
                assert!(e.starts_with("invalid unicode code point at line 1 column"), "{e}");
            }
        }
    }

    /// The bridge's typed-first reading against checking every argument
    /// and then typing the event: the same event, or the same error.
    fn same_as_checking_all(payload: &[u8]) -> Result<(), String> {
        let old = RawEvent::from_agent_payload(payload).map(|r| {
            r.map(|raw| {
                let typed = BrowserEvent::from_raw(&raw);
                (raw.to_json(), typed)
            })
        });
        let new =
            RawEvent::typed_from_agent_payload(payload).map(|r| r.map(|(raw, typed)| (raw.to_json(), typed)));
        assert_eq!(new, old, "{}", String::from_utf8_lossy(payload));
        old.expect("an event").map(|_| ())
    }

    #[test]
    fn a_typed_tab_is_checked_as_deep_as_every_other_argument() {
        // n levels: n arrays, or n - 1 objects around a number.
        let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n - 1), "}".repeat(n - 1));
        let mut keys: Vec<String> =
            crate::protocol::tests::every_tab_field().as_object().unwrap().keys().cloned().collect();
        keys.push("nextYearsField".into());
        // A tab's field is at depth 3: n levels below it reach 2 + n.
        let limit = MAX_ARGS_DEPTH - 2;
        for key in &keys {
            for n in [limit - 1, limit, limit + 1] {
                for nested in [arrays(n), objects(n)] {
                    let tab = format!(r#"{{"id":1,"index":0,"windowId":2,"{key}":{nested}}}"#);
                    let change = format!(r#"{{"{key}":{nested}}}"#);
                    let payloads = [
                        format!(
                            r#"{{"type":"event","seq":1,"time":0,"name":"tabs.onCreated","args":[{tab}]}}"#
                        ),
                        format!(
                            r#"{{"type":"event","seq":1,"time":0,"name":"tabs.onUpdated","args":[1,{{}},{tab}]}}"#
                        ),
                        format!(
                            r#"{{"type":"event","seq":1,"time":0,"name":"tabs.onUpdated","args":[1,{change},{{"id":1,"index":0,"windowId":2}}]}}"#
                        ),
                    ];
                    for p in payloads {
                        let taken = same_as_checking_all(p.as_bytes());
                        if n > limit {
                            let err = taken.expect_err("too deep");
                            assert!(err.contains("nested deeper than 100 levels"), "{key}: {err}");
                        }
                    }
                }
            }
        }
        // Within the limit, the fields that hold JSON take it, so the typed
        // reading was the one that decided.
        let p = format!(
            r#"{{"type":"event","seq":1,"time":0,"name":"tabs.onUpdated","args":[1,{{"x":{}}},{{"id":1,"index":0,"windowId":2,"mutedInfo":{},"y":{}}}]}}"#,
            arrays(limit),
            objects(limit),
            arrays(limit)
        );
        same_as_checking_all(p.as_bytes()).expect("within the limit");
    }

    #[test]
    fn the_typed_first_reading_refuses_and_takes_what_checking_all_does() {
        let event = |name: &str, args: &str| {
            format!(r#"{{"type":"event","seq":3,"time":1.5,"name":"{name}","args":{args}}}"#)
        };
        let tab = r#"{"id":1,"index":0,"windowId":2,"title":"t"}"#;
        // (event, arguments, whether the bridge takes it)
        for (name, args, taken) in [
            ("tabs.onUpdated", format!(r#"[1,{{"title":"t"}},{tab}]"#), true),
            // An argument past the typed ones is still checked.
            ("tabs.onUpdated", format!(r#"[1,{{}},{tab},1e400]"#), false),
            ("tabs.onUpdated", format!(r#"[1,{{}},{tab},"\ud800"]"#), false),
            ("tabs.onUpdated", format!(r#"[1,{{}},{tab},{{"a":1}}]"#), true),
            // Typed arguments that do not type: the check decides, as before.
            ("tabs.onUpdated", r#"[1,{"title":"\ud800"},{"id":1}]"#.into(), false),
            ("tabs.onUpdated", r#"[1e400,{},{"id":1,"index":0,"windowId":2}]"#.into(), false),
            (
                "tabs.onUpdated",
                r#"[1.5,{},{"id":1,"index":0,"windowId":2,"lastAccessed":1e400}]"#.into(),
                false,
            ),
            (
                "tabs.onUpdated",
                r#"[1,{},{"id":1,"index":0,"windowId":2,"title":"a","title":"b"}]"#.into(),
                true,
            ),
            ("tabs.onCreated", format!(r#"[{tab},[1,2]]"#), true),
            // Taken and forwarded, though the model cannot type it.
            ("tabs.onCreated", r#"[{"id":1,"index":-1,"windowId":2}]"#.into(), true),
            ("tabs.onCreated", "[]".into(), true),
            ("tabs.onActivated", r#"[{"tabId":1,"windowId":2}]"#.into(), true),
            ("tabscope.onAddonActivity", r#"[{"extensionId":"a@b","x":1e400}]"#.into(), false),
            ("no.such.event", r#"[1, "\ud83d\ude00"]"#.into(), true),
        ] {
            let got = same_as_checking_all(event(name, &args).as_bytes());
            assert_eq!(got.is_ok(), taken, "{name} {args}: {got:?}");
        }
        assert!(RawEvent::typed_from_agent_payload(br#"{"type":"hello"}"#).is_none());
        assert!(RawEvent::typed_from_agent_payload(br#"{"type":"event","seq":1}"#).unwrap().is_err());
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
