//! A record as the trace index reads it. Most of a trace is tabs.onUpdated
//! and tabs.onCreated with a whole tab each; building that tab as a tree of
//! `Value`s and then again as a [`Tab`] was most of the time a trace took
//! to open (BENCHMARKS.md). Here those two events are read from the line
//! straight into their types, in one pass; every other record is read as
//! [`Record::from_line`] reads it. A line the quick reading does not take
//! (another field order, a bad argument) is read the general way, so that
//! what is accepted and every error message stay those of [`Record`].

use std::fmt;

use compact_str::CompactString;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Micros, Record};
use crate::event::{self, BrowserEvent, ChangeInfo, Target};
use crate::protocol::{EventRecord, Tab, TabId};

/// One line of a trace after the header.
#[derive(Debug)]
pub enum Item {
    Event {
        t: Micros,
        event: TypedEvent,
    },
    /// Any other record: `Item::from` and the readings here make every
    /// event an `Event` (one given here anyway is still taken as one).
    Other(Record),
}

/// A browser event, with its arguments typed where the index has a use
/// for the types.
#[derive(Debug)]
pub struct TypedEvent {
    pub seq: u64,
    pub time: f64,
    /// Inline up to 24 bytes: `tabs.onUpdated` needs no allocation.
    pub name: CompactString,
    pub args: EventArgs,
}

/// An event's arguments.
#[derive(Debug)]
pub enum EventArgs {
    /// tabs.onCreated's tab.
    Created(Box<Tab>),
    /// tabs.onUpdated's tab id, changeInfo and tab.
    Updated { tab_id: TabId, change: ChangeInfo, tab: Box<Tab> },
    /// Any other event's, as values (they are small).
    Values(Vec<Value>),
}

const CREATED: &str = "tabs.onCreated";
const UPDATED: &str = "tabs.onUpdated";

impl Item {
    /// Reads one line (without its newline).
    pub fn from_line(line: &[u8]) -> Result<Item, String> {
        // Checked as UTF-8 at once, not string by string.
        if line.starts_with(br#"{"kind":"event","#)
            && let Ok(text) = std::str::from_utf8(line)
            && let Ok(quick) = serde_json::from_str::<EventLine>(text)
        {
            return Ok(Item::Event { t: quick.t, event: quick.event });
        }
        Record::from_line(line).map(Item::from)
    }

    /// Whether `line` looks like a tabs.onCreated or tabs.onUpdated as
    /// tabscope writes it: the records whose whole tab makes them the
    /// costliest to read. A guess, for sharing the reading between threads;
    /// what a line reads as does not depend on it.
    pub fn is_tab_event(line: &[u8]) -> bool {
        static NAME: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(br#""name":""#));
        // The name comes before the arguments, within the first bytes.
        let head = &line[..line.len().min(128)];
        line.starts_with(br#"{"kind":"event","#)
            && NAME.find(head).is_some_and(|at| {
                let name = &head[at + 8..];
                name.starts_with(br#"tabs.onUpdated""#) || name.starts_with(br#"tabs.onCreated""#)
            })
    }

    pub fn t(&self) -> Micros {
        match self {
            Item::Event { t, .. } => *t,
            Item::Other(r) => r.t(),
        }
    }
}

impl From<Record> for Item {
    fn from(r: Record) -> Item {
        match r {
            Record::Event { t, event } => Item::Event { t, event: event.into() },
            other => Item::Other(other),
        }
    }
}

impl From<EventRecord> for TypedEvent {
    fn from(e: EventRecord) -> TypedEvent {
        TypedEvent { seq: e.seq, time: e.time, name: e.name.into(), args: EventArgs::Values(e.args) }
    }
}

impl TypedEvent {
    /// The event as the model takes it.
    pub fn into_browser_event(self) -> Result<BrowserEvent, event::EventError> {
        match self.args {
            EventArgs::Created(tab) => Ok(BrowserEvent::TabCreated(tab)),
            EventArgs::Updated { tab_id, change, tab } => {
                Ok(BrowserEvent::TabUpdated { tab_id, change, tab })
            }
            EventArgs::Values(args) => BrowserEvent::parse(&self.name, &args),
        }
    }

    /// As [`EventRecord::target`].
    pub fn target(&self) -> Target {
        match &self.args {
            EventArgs::Created(tab) => Target { window: Some(tab.window_id), tab: Some(tab.id) },
            EventArgs::Updated { tab_id, tab, .. } => {
                Target { window: Some(tab.window_id), tab: Some(*tab_id) }
            }
            EventArgs::Values(args) => event::target_of(&self.name, args),
        }
    }

    /// As [`EventRecord::summary`].
    pub fn summary(&self) -> String {
        match &self.args {
            EventArgs::Created(tab) => {
                event::created_summary(tab.kind.as_deref(), tab.url.as_deref().or(tab.title.as_deref()))
            }
            EventArgs::Updated { change, .. } => event::change_summary(change.iter()),
            EventArgs::Values(args) => event::summary_of(&self.name, args),
        }
    }

    /// Argument `i` as a value, when it is kept as one.
    pub fn value(&self, i: usize) -> Option<&Value> {
        match &self.args {
            EventArgs::Values(args) => args.get(i),
            _ => None,
        }
    }

    /// Whether a tabs.onUpdated changed the tab's title.
    pub fn changes_title(&self) -> bool {
        match &self.args {
            EventArgs::Updated { change, .. } => change.contains_key("title"),
            EventArgs::Values(args) => {
                self.name == UPDATED && args.get(1).is_some_and(|c| c.get("title").is_some())
            }
            EventArgs::Created(_) => false,
        }
    }
}

/// `{"kind":"event","t":..,"event":{..}}`; the kind was checked by its prefix.
#[derive(Deserialize)]
struct EventLine {
    /// Read only so that a second `kind` is refused, as [`Record`] does.
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    t: Micros,
    event: TypedEvent,
}

impl<'de> Deserialize<'de> for TypedEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TypedEvent, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = TypedEvent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypedEvent, A::Error> {
        let (mut seq, mut time, mut name, mut args) = (None, None, None::<CompactString>, None);
        // A field given twice is refused, as serde's derive does.
        fn once<T, E: de::Error>(field: &mut Option<T>, value: T) -> Result<(), E> {
            match field.replace(value) {
                None => Ok(()),
                Some(_) => Err(E::custom("duplicate field")),
            }
        }
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Seq,
            Time,
            Name,
            Args,
            #[serde(other)]
            Other,
        }
        while let Some(key) = map.next_key()? {
            match key {
                Field::Seq => once(&mut seq, map.next_value::<u64>()?)?,
                Field::Time => once(&mut time, map.next_value::<f64>()?)?,
                Field::Name => once(&mut name, map.next_value()?)?,
                // The name comes first in every trace tabscope writes; a
                // line without it there is read the general way.
                Field::Args => match &name {
                    Some(name) => once(&mut args, map.next_value_seed(ArgsSeed(name))?)?,
                    None => return Err(de::Error::custom("args before name")),
                },
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (seq, time, name, args) {
            (Some(seq), Some(time), Some(name), Some(args)) => Ok(TypedEvent { seq, time, name, args }),
            _ => Err(de::Error::custom("an event record without its fields")),
        }
    }
}

/// Reads the arguments array of the event named `.0`.
struct ArgsSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ArgsSeed<'_> {
    type Value = EventArgs;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventArgs, D::Error> {
        match self.0 {
            CREATED | UPDATED => d.deserialize_seq(self),
            _ => Vec::deserialize(d).map(EventArgs::Values),
        }
    }
}

impl<'de> Visitor<'de> for ArgsSeed<'_> {
    type Value = EventArgs;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the arguments of {}", self.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventArgs, A::Error> {
        let missing = || de::Error::custom("an argument is missing");
        let args = if self.0 == CREATED {
            EventArgs::Created(seq.next_element()?.ok_or_else(missing)?)
        } else {
            let tab_id = seq.next_element()?.ok_or_else(missing)?;
            let change = seq.next_element()?.ok_or_else(missing)?;
            let tab = seq.next_element()?.ok_or_else(missing)?;
            EventArgs::Updated { tab_id, change, tab }
        };
        // Arguments past the API's are not read, as in BrowserEvent::parse.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(args)
    }
}

/// For tests and fuzzing: the quick reading takes a line exactly when the
/// general one does, to the same effect.
pub(crate) fn assert_same_reading(line: &[u8]) {
    match (Item::from_line(line), Record::from_line(line)) {
        (Ok(Item::Event { t, event }), Ok(Record::Event { t: t2, event: general })) => {
            assert_eq!(t, t2);
            assert_eq!((event.seq, event.time.to_bits()), (general.seq, general.time.to_bits()));
            assert_eq!(event.name, general.name);
            assert_eq!(event.target(), general.target());
            assert_eq!(event.summary(), general.summary());
            assert_eq!(event.changes_title(), TypedEvent::from(general.clone()).changes_title());
            assert_eq!(event.into_browser_event(), BrowserEvent::from_record(&general));
        }
        (Ok(Item::Other(a)), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("read differently: {a:?} and {b:?}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(name: &str, args: Value) -> Vec<u8> {
        let event: EventRecord =
            serde_json::from_value(json!({"seq": 7, "time": 1.5, "name": name, "args": args})).unwrap();
        let mut out = Vec::new();
        super::super::TraceWriter::new(&mut out).write(&Record::Event { t: 42, event }).unwrap();
        out.pop();
        out
    }

    fn tab(extra: Value) -> Value {
        let mut t = json!({"id": 3, "index": 0, "windowId": 2, "active": true, "status": "complete",
            "title": "Inbox", "url": "imap://x/INBOX", "type": "mail", "splitViewId": -1});
        t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        t
    }

    /// The records the trace index reads on its reading thread are
    /// recognised as tabscope writes them, and nothing else is.
    #[test]
    fn tab_events_are_recognised_as_written() {
        let t = tab(json!({}));
        assert!(Item::is_tab_event(&line(CREATED, json!([t]))));
        assert!(Item::is_tab_event(&line(UPDATED, json!([3, {"title": "t"}, t]))));
        assert!(!Item::is_tab_event(&line("tabs.onActivated", json!([{"tabId": 1, "windowId": 1}]))));
        assert!(!Item::is_tab_event(&line("tabs.onUpdatedX", json!([]))));
        assert!(!Item::is_tab_event(br#"{"kind":"log","t":1,"name":"tabs.onUpdated"}"#));
        assert!(!Item::is_tab_event(b""));
    }

    /// Target, summary and what the model makes of an event are the same
    /// whichever way its line was read.
    #[test]
    fn quick_reading_matches_the_general_one() {
        let cases = [
            (CREATED, json!([tab(json!({}))])),
            (CREATED, json!([tab(json!({"url": null}))])),
            (CREATED, json!([tab(json!({"type": null, "title": "t"}))])),
            (UPDATED, json!([3, {"title": "New", "status": "loading"}, tab(json!({}))])),
            (UPDATED, json!([3, {}, tab(json!({"windowId": 9})), "extra"])),
            (UPDATED, json!([3, {"favIconUrl": "x".repeat(200)}, tab(json!({}))])),
        ];
        for (name, args) in cases {
            let l = line(name, args);
            let Item::Event { event, .. } = Item::from_line(&l).unwrap() else { panic!() };
            assert!(!matches!(event.args, EventArgs::Values(_)), "{name} read the general way");
            assert_same_reading(&l);
        }
    }

    /// What the quick reading does not take is read as before: same
    /// records, same errors.
    #[test]
    fn other_lines_are_read_the_general_way() {
        let bad_tab = line(UPDATED, json!([3, {}, {"id": "three"}]));
        match Item::from_line(&bad_tab).unwrap() {
            Item::Event { event, .. } => {
                assert!(matches!(event.args, EventArgs::Values(_)));
                assert!(event.into_browser_event().is_err(), "the model still refuses it");
            }
            other => panic!("{other:?}"),
        }
        let args_first = br#"{"kind":"event","t":1,"event":{"args":[{"id":1,"index":0,"windowId":1}],"seq":1,"time":0,"name":"tabs.onCreated"}}"#;
        let Item::Event { event, .. } = Item::from_line(args_first).unwrap() else { panic!() };
        assert_eq!(event.target(), Target { window: Some(1), tab: Some(1) });
        let snapshot = br#"{"kind":"snapshot","t":1,"snapshot":{"windows":[{"id":1,"tabs":[{"id":1,"index":0,"windowId":1}]}]}}"#;
        let activated = line("tabs.onActivated", json!([{"tabId": 3, "windowId": 2}]));
        let removed = line("tabs.onRemoved", json!([3, {"windowId": 2, "isWindowClosing": true}]));
        for other in [
            &br#"{"kind":"event","t":1,"event":{"seq":1,"time":0,"name":"tabs.onCreated""#[..],
            b"",
            snapshot,
            &activated,
            &removed,
            br#"{"kind":"event","event":{"seq":1,"time":0,"name":"tabs.onCreated","args":[]}}"#,
            br#"{"kind":"event","t":1,"event":{"seq":1,"time":0,"name":"tabs.onCreated","args":[]}}"#,
            br#"{"kind":"event","t":1,"event":{"seq":1,"time":0,"name":"tabs.onUpdated","args":[1,{},{"id":1}]}}"#,
            br#"{"kind":"event","t":1,"event":{"seq":1,"name":"tabs.onUpdated","args":[1,{},{"id":1,"index":0,"windowId":1}]}}"#,
            br#"{"kind":"log","t":1,"level":"info","message":"hi"}"#,
            br#"{"kind":"event","t":1,"event":{"seq":1,"time":0,"time":1,"name":"x","args":[]}}"#,
            br#"{"kind":"event","t":1,"kind":"log","event":{"seq":1,"time":0,"name":"x","args":[]}}"#,
            br#"{"kind":"event","t":1,"t":2,"event":{"seq":1,"time":0,"name":"x","args":[]}}"#,
            args_first,
            &bad_tab,
        ] {
            assert_same_reading(other);
        }
        assert!(matches!(
            Item::from_line(&activated).unwrap(),
            Item::Event { event: box_, .. } if matches!(box_.args, EventArgs::Values(_))
        ));
    }
}
