//! The event log: every event, command, reply and error, with a filter
//! whose result is kept as a list of row numbers and extended as entries
//! arrive, so a million entries cost nothing per frame.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tabscope_shared::event::{ADDON_ACTIVITY, ADDON_CONSOLE, ADDON_VALUE_CHANGED, SESSION_VALUE_CHANGED};
use tabscope_shared::protocol::{EventRecord, LogLevel, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A tabs or windows event.
    Event,
    /// A synthetic session value change.
    Value,
    /// A command this inspector sent.
    Command,
    /// Its reply (ok).
    Reply,
    /// An error: a failed command, a bad message, drift.
    Error,
    /// The agent's or the bridge's own word.
    Note,
    /// x-ray: another add-on's API call, API event or content script.
    Activity,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Event, Kind::Value, Kind::Activity, Kind::Command, Kind::Reply, Kind::Error, Kind::Note];

    /// An agent log line: errors stand out, the rest are notes.
    pub fn of_level(level: LogLevel) -> Kind {
        if level == LogLevel::Error { Kind::Error } else { Kind::Note }
    }

    /// The browser event `name`: value changes and add-on activity have their own kinds.
    pub fn of_event(name: &str) -> Kind {
        match name {
            SESSION_VALUE_CHANGED | ADDON_VALUE_CHANGED => Kind::Value,
            ADDON_ACTIVITY | ADDON_CONSOLE => Kind::Activity,
            _ => Kind::Event,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Event => "events",
            Kind::Value => "values",
            Kind::Command => "commands",
            Kind::Reply => "replies",
            Kind::Error => "errors",
            Kind::Note => "notes",
            Kind::Activity => "add-on calls",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// ms since the epoch.
    pub time: f64,
    pub kind: Kind,
    /// Interned: a handful of distinct names over millions of rows.
    pub name: Arc<str>,
    pub window: Option<i64>,
    pub tab: Option<i64>,
    pub summary: String,
    /// The trace record this line shows, in an opened trace.
    pub at: Option<u32>,
}

/// What the log shows. Persisted between runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogFilter {
    pub hidden: HashSet<Kind>,
    /// Only rows about this tab.
    pub tab: Option<i64>,
    pub text: String,
}

impl LogFilter {
    fn accepts(&self, e: &Entry, needle: &str) -> bool {
        !self.hidden.contains(&e.kind)
            && self.tab.is_none_or(|t| e.tab == Some(t))
            && (needle.is_empty()
                || contains_ignore_case(&e.name, needle)
                || contains_ignore_case(&e.summary, needle))
    }
}

/// JSON on one line, cut at 160 characters.
pub fn short_json(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(159).collect::<String>()) } else { s }
}

/// `needle` must already be lower case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else { return true };
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    if n.len() > h.len() {
        return false;
    }
    // An ASCII needle matches only ASCII bytes of the same letters, whatever
    // else the text holds: jump to each place its first letter is, in
    // either case (memchr), and compare there.
    let starts = &h[..=h.len() - n.len()];
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), starts)
        .any(|i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// A live log keeps at most this many entries; past it the oldest quarter
/// goes (a browser left running for days would otherwise fill the memory).
/// A trace's log is bounded by its file and keeps everything.
pub const LIVE_LIMIT: usize = 2_000_000;

#[derive(Default)]
pub struct EventLog {
    /// Set for a live log: see [`LIVE_LIMIT`].
    limit: Option<usize>,
    /// Entries let go because of the limit, to say so.
    trimmed: u64,
    entries: Vec<Entry>,
    filter: LogFilter,
    needle: String,
    visible: Vec<u32>,
    /// Rows that passed a wider filter, still to be checked against this
    /// one (typing narrows: see [`Self::set_filter`]), and how far it got.
    candidates: Option<(Vec<u32>, usize)>,
    /// Rows before this one were checked (or are among the candidates).
    filtered_upto: usize,
    /// foldhash (seeded, as std's): looked up for every row.
    names: foldhash::HashSet<Arc<str>>,
}

impl EventLog {
    /// A log that keeps at most `limit` entries, letting the oldest go.
    pub fn bounded(limit: usize) -> Self {
        Self { limit: Some(limit.max(4)), ..Self::default() }
    }

    /// How many old entries were let go to stay under the limit.
    pub fn trimmed(&self) -> u64 {
        self.trimmed
    }

    fn trim_if_full(&mut self) {
        let Some(limit) = self.limit else { return };
        if self.entries.len() < limit {
            return;
        }
        let k = limit / 4;
        self.entries.drain(..k);
        self.trimmed += k as u64;
        // Row numbers move down by k; rows that went are no longer shown.
        let shift = |rows: &mut Vec<u32>| {
            rows.retain(|&r| r as usize >= k);
            for r in rows {
                *r -= k as u32;
            }
        };
        shift(&mut self.visible);
        if let Some((rows, at)) = &mut self.candidates {
            rows.drain(..*at);
            *at = 0;
            shift(rows);
        }
        self.filtered_upto = self.filtered_upto.saturating_sub(k);
    }

    pub fn push(
        &mut self,
        time: f64,
        kind: Kind,
        name: &str,
        window: Option<i64>,
        tab: Option<i64>,
        summary: String,
    ) {
        self.push_at(None, time, kind, name, window, tab, summary)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push_at(
        &mut self,
        at: Option<u32>,
        time: f64,
        kind: Kind,
        name: &str,
        window: Option<i64>,
        tab: Option<i64>,
        summary: String,
    ) {
        let name = match self.names.get(name) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = name.into();
                self.names.insert(n.clone());
                n
            }
        };
        self.trim_if_full();
        self.entries.push(Entry { time, kind, name, window, tab, summary, at });
    }

    /// A browser event, on its tab and window.
    pub fn push_event(&mut self, at: Option<u32>, time: f64, event: &EventRecord) {
        let target = event.target();
        let kind = Kind::of_event(&event.name);
        self.push_at(at, time, kind, &event.name, target.window, target.tab, event.summary());
    }

    /// A reply (or the browser's error) to the command called `name`.
    pub fn push_outcome(&mut self, at: Option<u32>, time: f64, name: &str, outcome: &Outcome) {
        let (kind, summary) = match outcome {
            Outcome::Result(v) => (Kind::Reply, short_json(v)),
            Outcome::Error(e) => (Kind::Error, e.clone()),
        };
        self.push_at(at, time, kind, name, None, None, summary);
    }

    pub fn push_snapshot(&mut self, at: Option<u32>, time: f64, windows: usize, tabs: usize) {
        self.push_at(at, time, Kind::Note, "snapshot", None, None, format!("{windows} windows, {tabs} tabs"));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn filter(&self) -> &LogFilter {
        &self.filter
    }

    pub fn set_filter(&mut self, f: LogFilter) {
        if f == self.filter {
            return;
        }
        let needle = f.text.to_lowercase();
        // One more letter typed only narrows: what passes now passed before,
        // so only the rows shown (and those still to check) are looked at.
        let same_but_text = LogFilter { text: String::new(), ..f.clone() }
            == LogFilter { text: String::new(), ..self.filter.clone() };
        if same_but_text && needle.contains(&self.needle) {
            let mut rows = std::mem::take(&mut self.visible);
            if let Some((rest, at)) = self.candidates.take() {
                rows.extend_from_slice(&rest[at..]);
            }
            self.candidates = Some((rows, 0));
        } else {
            self.visible.clear();
            self.candidates = None;
            self.filtered_upto = 0;
        }
        self.needle = needle;
        self.filter = f;
    }

    /// The rows that pass the filter (indexes into the log), brought up to date.
    pub fn visible(&mut self) -> &[u32] {
        self.refresh(usize::MAX);
        &self.visible
    }

    /// Filters at most `budget` more entries; true when the view is complete.
    /// The UI calls this once a frame, so a new filter over a million
    /// entries costs a few frames of a few milliseconds, never one long one.
    pub fn refresh(&mut self, mut budget: usize) -> bool {
        if let Some((rows, at)) = &mut self.candidates {
            let end = rows.len().min(at.saturating_add(budget));
            for &r in &rows[*at..end] {
                if self.filter.accepts(&self.entries[r as usize], &self.needle) {
                    self.visible.push(r);
                }
            }
            budget -= end - *at;
            *at = end;
            if end < rows.len() {
                return false;
            }
            self.candidates = None;
        }
        let end = self.entries.len().min(self.filtered_upto.saturating_add(budget));
        for (i, e) in self.entries[self.filtered_upto..end].iter().enumerate() {
            if self.filter.accepts(e, &self.needle) {
                self.visible.push((self.filtered_upto + i) as u32);
            }
        }
        self.filtered_upto = end;
        end == self.entries.len()
    }

    /// [`Self::refresh`] for about `time`, checking the clock every few
    /// thousand rows: the frame after a keystroke stays short on any machine.
    pub fn refresh_for(&mut self, time: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            if self.refresh(4096) {
                return true;
            }
            if start.elapsed() >= time {
                return false;
            }
        }
    }

    /// The filtered rows as far as filtering has got.
    pub fn filtered(&self) -> &[u32] {
        &self.visible
    }

    /// How far filtering has got, 0..=1.
    pub fn progress(&self) -> f32 {
        match &self.candidates {
            Some((rows, at)) if !rows.is_empty() => *at as f32 / rows.len() as f32,
            _ if self.entries.is_empty() => 1.0,
            _ => self.filtered_upto as f32 / self.entries.len() as f32,
        }
    }

    /// Row `i` of the filtered view as last brought up to date by [`Self::visible`].
    pub fn row(&self, i: usize) -> &Entry {
        &self.entries[self.visible[i] as usize]
    }

    /// The filtered row showing trace record `at`, or the last one before it.
    pub fn row_of_record(&self, at: u32) -> Option<usize> {
        let i = self.visible.partition_point(|&r| self.entries[r as usize].at.is_some_and(|a| a <= at));
        i.checked_sub(1)
    }

    pub fn get(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    /// Moves the entries out, so a loader can hand them over in parts.
    pub fn take_entries(&mut self) -> Vec<Entry> {
        self.visible.clear();
        self.candidates = None;
        self.filtered_upto = 0;
        std::mem::take(&mut self.entries)
    }

    /// Adds entries taken from another log; they join the filtered view as
    /// pushed ones do.
    pub fn append(&mut self, entries: Vec<Entry>) {
        self.entries.extend(entries);
    }

    pub fn clear(&mut self) {
        self.trimmed = 0;
        self.entries.clear();
        self.visible.clear();
        self.candidates = None;
        self.filtered_upto = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> EventLog {
        let mut l = EventLog::default();
        l.push(1.0, Kind::Event, "tabs.onCreated", Some(1), Some(3), "content about:blank".into());
        l.push(2.0, Kind::Command, "tabs.reload", None, Some(3), "{\"tabId\":3}".into());
        l.push(3.0, Kind::Error, "tabs.get", None, Some(9), "Invalid tab ID: 9".into());
        l.push(4.0, Kind::Event, "tabs.onUpdated", Some(1), Some(4), "status=complete".into());
        l
    }

    #[test]
    fn filters_by_kind_tab_and_text() {
        let mut l = log();
        assert_eq!(l.visible().len(), 4);
        l.set_filter(LogFilter { hidden: [Kind::Command].into(), ..Default::default() });
        assert_eq!(l.visible(), &[0, 2, 3]);
        l.set_filter(LogFilter { tab: Some(3), ..Default::default() });
        assert_eq!(l.visible(), &[0, 1]);
        l.set_filter(LogFilter { text: "INVALID".into(), ..Default::default() });
        assert_eq!(l.visible(), &[2]);
    }

    #[test]
    fn filtering_in_slices_gives_the_same_rows() {
        let mut l = log();
        l.set_filter(LogFilter { text: "tabs.on".into(), ..Default::default() });
        assert!(!l.refresh(1));
        assert_eq!(l.filtered(), &[0]);
        assert!(!l.refresh(2));
        assert!(l.refresh(1));
        assert_eq!(l.filtered(), &[0, 3]);
        assert_eq!(l.progress(), 1.0);
    }

    #[test]
    fn new_entries_join_the_filtered_view() {
        let mut l = log();
        l.set_filter(LogFilter { text: "oncreated".into(), ..Default::default() });
        assert_eq!(l.visible().len(), 1);
        l.push(5.0, Kind::Event, "tabs.onCreated", Some(1), Some(5), String::new());
        assert_eq!(l.visible(), &[0, 4]);
        assert!(Arc::ptr_eq(&l.get(0).name, &l.get(4).name), "names are interned");
    }

    #[test]
    fn a_live_log_lets_its_oldest_entries_go_and_keeps_the_view_right() {
        let mut l = EventLog::bounded(100);
        l.set_filter(LogFilter { text: "odd".into(), ..Default::default() });
        for i in 0..1000u32 {
            let summary = if i % 2 == 1 { format!("odd {i}") } else { format!("even {i}") };
            l.push(i as f64, Kind::Event, "tabs.onUpdated", None, Some(i as i64), summary);
            if i % 7 == 0 {
                l.visible();
            }
        }
        assert!(l.len() <= 100);
        assert_eq!(l.trimmed() as usize + l.len(), 1000);
        let rows: Vec<String> = (0..l.visible().len()).map(|i| l.row(i).summary.clone()).collect();
        let expected: Vec<String> =
            (1000 - l.len() as u32..1000).filter(|i| i % 2 == 1).map(|i| format!("odd {i}")).collect();
        assert_eq!(rows, expected);
    }

    proptest::proptest! {
        /// Whatever is typed, deleted or retyped, in whatever slices the
        /// frames filter: the rows are exactly those a plain scan finds.
        #[test]
        fn narrowing_and_slicing_give_the_rows_a_plain_scan_gives(
            texts in proptest::collection::vec("[a-cA-CéÉ .]{0,12}", 1..60),
            typed in proptest::collection::vec("[a-cA-Cé.]{0,4}", 1..8),
            slice in 1usize..40,
        ) {
            let mut l = EventLog::default();
            for (i, t) in texts.iter().enumerate() {
                l.push(i as f64, Kind::Event, "tabs.onUpdated", None, Some(i as i64 % 3), t.clone());
            }
            // Each word typed a letter at a time (narrowing), faster than
            // the filtering: one slice per letter; the rows checked once
            // the word is complete.
            for word in typed {
                let letters: Vec<char> = word.chars().collect();
                for k in 0..=letters.len() {
                    let text: String = letters[..k].iter().collect();
                    l.set_filter(LogFilter { text, ..Default::default() });
                    l.refresh(slice);
                }
                while !l.refresh(slice) {}
                let needle = word.to_lowercase();
                let plain: Vec<u32> = (0..texts.len() as u32)
                    .filter(|&i| {
                        let e = l.get(i);
                        e.name.to_lowercase().contains(&needle) || e.summary.to_lowercase().contains(&needle)
                    })
                    .collect();
                proptest::prop_assert_eq!(l.filtered(), plain.as_slice(), "filter {:?}", word);
            }
        }

        #[test]
        fn case_blind_search_agrees_with_lowercasing(hay in "[a-zA-Zé ÄΣς.]{0,30}", needle in "[a-zé.]{0,4}") {
            proptest::prop_assert_eq!(
                contains_ignore_case(&hay, &needle),
                hay.to_lowercase().contains(&needle)
            );
        }
    }
}
