//! The agent's events read in one pass. The general reading finds each
//! argument's extent first (a scan of every byte) and then reads the
//! arguments into their types (a second one); for a tab, most of the
//! traffic, that was a third of the bridge's stdin thread.
//!
//! Here each argument is read from where it starts by its own deserializer,
//! which says where it ended: the extent and the typed value at once. Only
//! the layout the agent writes is taken (`JSON.stringify` of
//! `{type, seq, time, name, args}`: no space, these keys in this order);
//! anything else, and any error, is left to the general reading, so that
//! what is accepted and every error message stay exactly as they were.

use std::ops::Range;

use compact_str::CompactString;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use super::{ARGS_INLINE, RawEvent, Typed, proven_args};
use crate::event::{Args, BrowserEvent, ChangeInfo};
use crate::protocol::{Tab, TabId};

/// `Some` only when the payload has the agent's layout and reads without
/// an error; the general reading gives the same event for it.
pub(super) fn read(text: &str) -> Option<(RawEvent, Typed)> {
    let mut r = Reader { text, pos: 0 };
    r.literal(r#"{"type":"event","seq":"#)?;
    let seq: u64 = r.value()?;
    r.literal(r#","time":"#)?;
    let time: f64 = r.value()?;
    r.literal(r#","name":"#)?;
    let name: CompactString = r.value()?;
    r.literal(r#","args":["#)?;

    let (updated, created) = (name == "tabs.onUpdated", name == "tabs.onCreated");
    let mut spans: SmallVec<[Range<usize>; ARGS_INLINE]> = SmallVec::new();
    let (mut tab_id, mut change, mut tab) = (None::<TabId>, None::<ChangeInfo>, None::<Box<Tab>>);
    r.skip_space();
    if !r.next_is(b']') {
        loop {
            r.skip_space();
            let start = r.pos;
            match (spans.len(), updated, created) {
                (0, true, _) => tab_id = Some(r.value()?),
                (1, true, _) => change = Some(r.value()?),
                (2, true, _) | (0, _, true) => tab = Some(r.value()?),
                _ => {
                    r.value::<&RawValue>()?;
                }
            }
            spans.push(start..r.pos);
            r.skip_space();
            if !r.next_is(b',') {
                break;
            }
        }
    }
    r.literal("]}")?;
    if r.pos != text.len() {
        return None;
    }

    let typed = match (tab_id, change, tab) {
        (Some(tab_id), Some(change), Some(tab)) => BrowserEvent::TabUpdated { tab_id, change, tab },
        (None, None, Some(tab)) if created => BrowserEvent::TabCreated(tab),
        // Too few arguments for a tab event: the general reading says so.
        _ if updated || created => return None,
        _ => match BrowserEvent::parse_args(&name, &Spans { text, spans: &spans }) {
            Ok(typed) => typed,
            Err(_) => return None,
        },
    };
    let proven = proven_args(&typed);
    let raw = RawEvent::from_parts(seq, time, name, spans.iter().map(|s| &text[s.clone()]), proven).ok()?;
    Some((raw, Ok(typed)))
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn literal(&mut self, s: &str) -> Option<()> {
        self.text[self.pos..].starts_with(s).then(|| self.pos += s.len())
    }

    fn next_is(&mut self, b: u8) -> bool {
        let yes = self.text.as_bytes().get(self.pos) == Some(&b);
        self.pos += usize::from(yes);
        yes
    }

    /// JSON's whitespace, as serde_json skips it between array elements.
    fn skip_space(&mut self) {
        let rest = &self.text.as_bytes()[self.pos..];
        self.pos += rest.iter().take_while(|b| matches!(b, b' ' | b'\n' | b'\t' | b'\r')).count();
    }

    /// One JSON value from here, read into `T`; the position moves past it.
    /// The stream reader stops at the value's end and says where that is (a
    /// number must be followed by a delimiter, as in the whole document).
    fn value<T: serde::Deserialize<'a>>(&mut self) -> Option<T> {
        let rest = &self.text[self.pos..];
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }
}

/// The arguments of an event other than a tab's, for [`BrowserEvent::parse_args`].
struct Spans<'a, 's> {
    text: &'a str,
    spans: &'s [Range<usize>],
}

impl Args for Spans<'_, '_> {
    fn typed<T: DeserializeOwned>(&self, i: usize) -> Option<serde_json::Result<T>> {
        self.spans.get(i).map(|s| serde_json::from_str(&self.text[s.clone()]))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The general reading: every argument's extent, then the types.
    fn general(text: &str) -> Option<Result<(Vec<u8>, Typed), String>> {
        RawEvent::from_agent_payload(text.as_bytes())
            .map(|r| r.map(|raw| (raw.to_json(), BrowserEvent::from_raw(&raw))))
    }

    /// One pass takes `text` to the general reading's effect, or leaves it.
    fn agrees(text: &str) -> bool {
        match read(text) {
            Some((raw, typed)) => {
                assert_eq!(general(text), Some(Ok((raw.to_json(), typed))), "{text}");
                true
            }
            None => false,
        }
    }

    const TAB: &str = r#"{"id":3,"index":0,"windowId":1,"highlighted":true,"active":true,"status":"complete","width":1321,"height":626,"groupId":-1,"splitViewId":-1,"cookieStoreId":"firefox-default","url":"https://example.org/\"q\"","title":"Example \u00e9","favIconUrl":"chrome://global/skin/icons/info.svg","type":"content","mailTab":false}"#;

    fn event(name: &str, args: &str) -> String {
        format!(r#"{{"type":"event","seq":7,"time":1763700000000.5,"name":"{name}","args":[{args}]}}"#)
    }

    #[test]
    fn the_agents_events_are_read_in_one_pass() {
        for text in [
            event("tabs.onUpdated", &format!(r#"3,{{"title":"Example \u00e9"}},{TAB}"#)),
            event("tabs.onUpdated", &format!(r#"3,{{"status":"loading","url":"u"}},{TAB},"extra",[1]"#)),
            event("tabs.onCreated", TAB),
            event("tabs.onActivated", r#"{"tabId":3,"windowId":1,"previousTabId":2}"#),
            event("tabs.onRemoved", r#"3,{"windowId":1,"isWindowClosing":false}"#),
            event("windows.onFocusChanged", "-1"),
            event(
                "tabscope.onAddonActivity",
                r#"{"extensionId":"a@b","type":"api_call","name":"tabs.query","time":1,"data":{"args":[{}]}}"#,
            ),
            event("tabs.onZoomChange", r#"{"tabId":3,"oldZoomFactor":1,"newZoomFactor":1.5}"#),
            event("tabs.onUpdated", &format!("3 ,\n{{\"title\":\"t\"}} , {TAB} ")),
        ] {
            assert!(agrees(&text), "not read in one pass: {text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_general_reading() {
        let updated = |change: &str, tab: &str| event("tabs.onUpdated", &format!("3,{change},{tab}"));
        for text in [
            // Not the agent's layout.
            r#"{"type":"event", "seq":7,"time":1,"name":"tabs.onCreated","args":[]}"#.to_owned(),
            r#"{"type":"event","time":1,"seq":7,"name":"x","args":[]}"#.to_owned(),
            r#"{"type":"event","seq":7,"time":1,"name":"x","args":[],"more":1}"#.to_owned(),
            r#"{"type":"event","seq":7,"time":1,"name":"x","args":[]} "#.to_owned(),
            r#"{"type":"event","seq":7,"time":1,"name":"x","args":[]}}"#.to_owned(),
            // Errors: the general reading words them.
            r#"{"type":"event","seq":-7,"time":1,"name":"x","args":[]}"#.to_owned(),
            r#"{"type":"event","seq":7,"time":1,"name":"x","args":[1,]}"#.to_owned(),
            r#"{"type":"event","seq":7,"time":1,"name":"x","args":[01]}"#.to_owned(),
            event("tabs.onUpdated", "3"),
            event("tabs.onCreated", r#"{"id":1,"index":0}"#),
            updated(r#"{"title":1}"#, &TAB.replace(r#""id":3"#, r#""id":"3""#)),
            updated(&format!(r#"{{"x":{}1{}}}"#, "[".repeat(99), "]".repeat(99)), TAB),
            event("tabs.onActivated", r#"{"tabId":3}"#),
            event("no.suchEvent", "1"),
            event("windows.onFocusChanged", &format!("{}{}", "[".repeat(101), "]".repeat(101))),
        ] {
            assert!(read(&text).is_none(), "read in one pass: {text}");
        }
        // The reading of a repeated key is the general one's (last wins).
        assert!(agrees(&updated(r#"{"title":"a","title":"b"}"#, TAB)));
    }

    proptest! {
        /// Events cut together from pieces, some of them broken: wherever
        /// one pass reads, it reads as the general reading does.
        #[test]
        fn one_pass_reads_as_the_general_reading(
            name in prop::sample::select(vec!["tabs.onUpdated", "tabs.onCreated", "tabs.onActivated",
                "windows.onRemoved", "tabscope.onAddonActivity", "x"]),
            args in prop::collection::vec(prop::sample::select(vec![
                "3", "-1", "1.5", "\"s\"", "null", "{}", "[]", TAB, r#"{"title":"t"}"#,
                r#"{"title":null,"status":"loading"}"#, r#"{"tabId":1,"windowId":2}"#,
                r#"{"id":1,"index":0,"windowId":1,"title":5}"#, r#"{"a":[[[[1]]]]}"#,
                "[1,", "}", "\"\\ud800\"", "1e999", " 4 ",
            ]), 0..5),
            seps in prop::collection::vec(prop::sample::select(vec![",", " , ", ",\n", ",,"]), 5),
        ) {
            let mut joined = String::new();
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    joined.push_str(seps[i]);
                }
                joined.push_str(a);
            }
            agrees(&event(name, &joined));
        }
    }
}
