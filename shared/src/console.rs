//! Every add-on's console (part of x-ray): what each add-on logged and
//! threw, and the browser's own messages about it, as the experiment
//! (`addon/xray/parent.js`, "every add-on's console") reports them in
//! `tabscope.onAddonConsole` events; and [`ConsoleStore`], the bounded
//! per-add-on console the bridge keeps and every front end reads.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How serious a record is. Ordered: a filter "at least warn" keeps warn and error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    /// `console.log` (and any level this version does not know).
    Log,
    Info,
    /// `console.trace`: a stack, at info's weight.
    Trace,
    Warn,
    Error,
}

impl Level {
    pub const ALL: [Level; 6] =
        [Level::Debug, Level::Log, Level::Info, Level::Trace, Level::Warn, Level::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Log => "log",
            Level::Info => "info",
            Level::Trace => "trace",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// `log`, `warn`, ... as a user types them (`warning` too).
    pub fn parse(s: &str) -> Result<Level, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "debug" => Level::Debug,
            "log" => Level::Log,
            "info" => Level::Info,
            "trace" => Level::Trace,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            other => {
                return Err(format!("unknown level {other:?}: one of debug, log, info, trace, warn, error"));
            }
        })
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Level::parse(&s).unwrap_or(Level::Log))
    }
}

/// Where a record comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A `console.*` call.
    Console,
    /// An uncaught exception (or a script error the browser reported).
    Error,
    /// An unhandled promise rejection.
    Rejection,
    /// The browser's own message about the add-on: manifest warnings, a
    /// native host's stderr.
    Browser,
    /// tabscope reloaded the add-on (ok, or the browser's error).
    Reload,
    /// tabscope's own note (records dropped before the agent listened).
    Tabscope,
    #[serde(other)]
    Other,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Console => "console",
            Origin::Error => "error",
            Origin::Rejection => "rejection",
            Origin::Browser => "browser",
            Origin::Reload => "reload",
            Origin::Tabscope => "tabscope",
            Origin::Other => "other",
        }
    }
}

/// Set when the text or the arguments were too large: the text's whole
/// length (its head is kept), and the arguments' JSON length (they are left out).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsoleTruncated {
    #[serde(default)]
    pub chars: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<u64>,
}

/// The argument of `tabscope.onAddonConsole`: one console call, error or
/// rejection of an add-on, one browser message about it, or one reload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleRecord {
    pub extension_id: String,
    #[serde(default)]
    pub extension_name: Option<String>,
    #[serde(rename = "source")]
    pub origin: Origin,
    pub level: Level,
    /// As the console shows it: format specifiers applied, arguments joined.
    #[serde(default)]
    pub text: String,
    /// The `console.*` arguments as JSON (objects as JSON, errors by name
    /// and message); `None` for errors, and when cut (see `truncated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub line: u32,
    #[serde(default)]
    pub column: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// The browser's time, ms since the epoch.
    #[serde(default)]
    pub time: f64,
    /// One frame a line, `function@file:line:column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// `background`, an extension page (`popup.html`), `content script`,
    /// `experiment`, `browser`, `native app NAME`.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The web page a content script ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Logged before x-ray listened; the browser still held it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub earlier: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<ConsoleTruncated>,
    /// A `tabscope` record: this many of the add-on's records were dropped
    /// in the browser (more than x-ray passes on in a second).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ConsoleRecord {
    /// Bad: an error, an uncaught exception, a rejection or a failed reload.
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    /// `file:line:column`, as editors and terminals take it.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref().filter(|f| !f.is_empty())?;
        Some(match (self.line, self.column) {
            (0, _) => file.to_owned(),
            (l, 0) => format!("{file}:{l}"),
            (l, c) => format!("{file}:{l}:{c}"),
        })
    }

    /// The file's path inside its add-on (`background.js`), for people.
    pub fn short_file(&self) -> Option<&str> {
        let f = self.file.as_deref()?;
        let rest =
            f.strip_prefix("moz-extension://").map(|r| r.split_once('/').map_or("", |(_, p)| p)).unwrap_or(f);
        Some(rest)
    }

    /// One line: level, origin, add-on, text, place.
    pub fn summary(&self) -> String {
        let mut s = format!("[{}] {}", self.extension_id, self.level.as_str());
        if self.origin != Origin::Console {
            s.push(' ');
            s.push_str(self.origin.as_str());
        }
        s.push_str(": ");
        s.push_str(self.text.lines().next().unwrap_or(""));
        if let (Some(f), l) = (self.short_file(), self.line)
            && !f.is_empty()
        {
            s.push_str(&format!(" ({f}:{l})"));
        }
        if self.earlier {
            s.push_str(" [earlier]");
        }
        s
    }

    /// What the record costs to keep or send: its text, roughly.
    pub fn size(&self) -> usize {
        let args = self.args.as_ref().map_or(0, |a| a.iter().map(value_cost).sum());
        200 + self.text.len()
            + args
            + self.stack.as_ref().map_or(0, String::len)
            + self.file.as_ref().map_or(0, String::len)
            + self.page.as_ref().map_or(0, String::len)
    }

    /// Makes sure the record is within what the store keeps of one record:
    /// a longer text or stack is cut on a character boundary and marked.
    fn bounded(mut self) -> Self {
        let cut = |s: &mut String| {
            if s.len() > MAX_RECORD_TEXT {
                let mut end = MAX_RECORD_TEXT;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                let chars = s.chars().count() as u64;
                s.truncate(end);
                Some(chars)
            } else {
                None
            }
        };
        if let Some(chars) = cut(&mut self.text) {
            self.truncated.get_or_insert_with(Default::default).chars = chars;
        }
        if let Some(stack) = &mut self.stack {
            cut(stack);
        }
        if self.args.as_ref().is_some_and(|a| a.iter().map(value_cost).sum::<usize>() > MAX_RECORD_TEXT) {
            let len = self.args.take().map_or(0, |a| serde_json::to_string(&a).map_or(0, |s| s.len()));
            self.truncated.get_or_insert_with(Default::default).args = Some(len as u64);
        }
        self
    }
}

/// What `agent.reloadAddon` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reloaded {
    pub extension_id: String,
    #[serde(default)]
    pub extension_name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// From the reload's start until the add-on ran again.
    #[serde(default)]
    pub ms: f64,
}

/// The JSON size of a value, about.
fn value_cost(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(value_cost).sum::<usize>(),
        Value::Object(o) => 2 + o.iter().map(|(k, v)| k.len() + 4 + value_cost(v)).sum::<usize>(),
    }
}

/// The most text of one record the store keeps (the agent cuts at 16 Ki
/// characters; this bounds what another sender could make us hold).
pub const MAX_RECORD_TEXT: usize = 64 * 1024;

/// Which records a reader wants.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsoleFilter {
    pub extension_id: Option<String>,
    /// At least this serious.
    pub level: Option<Level>,
    /// In the text, the file or the add-on's id or name (case-insensitive).
    pub text: Option<String>,
}

impl ConsoleFilter {
    pub fn matches(&self, r: &ConsoleRecord) -> bool {
        if self.extension_id.as_deref().is_some_and(|id| id != r.extension_id) {
            return false;
        }
        if self.level.is_some_and(|l| r.level < l) {
            return false;
        }
        match self.text.as_deref().filter(|t| !t.is_empty()) {
            None => true,
            Some(t) => {
                let t = t.to_lowercase();
                [
                    Some(r.text.as_str()),
                    r.file.as_deref(),
                    Some(r.extension_id.as_str()),
                    r.extension_name.as_deref(),
                ]
                .into_iter()
                .flatten()
                .any(|s| s.to_lowercase().contains(&t))
            }
        }
    }
}

/// One add-on's console as kept: its newest records within the budget,
/// and counts of everything seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddonConsole {
    pub name: Option<String>,
    records: VecDeque<Arc<ConsoleRecord>>,
    bytes: usize,
    /// Records seen in all, kept or not.
    pub seen: u64,
    /// Errors seen in all (see [`ConsoleRecord::is_error`]).
    pub errors: u64,
    /// Errors since the add-on's last reload.
    pub errors_since_reload: u64,
    /// Records let go: here to stay within the budget (oldest first), and
    /// in the browser when the add-on logged faster than x-ray passes on.
    pub dropped: u64,
}

impl AddonConsole {
    pub fn records(&self) -> impl DoubleEndedIterator<Item = &Arc<ConsoleRecord>> + ExactSizeIterator {
        self.records.iter()
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Every add-on's console, each within its own byte budget, so that a
/// chatty add-on never pushes out a quiet one's error.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleStore {
    addons: BTreeMap<String, AddonConsole>,
    budget: usize,
    /// Records of add-ons past [`ConsoleStore::MAX_ADDONS`], not kept.
    pub refused: u64,
    /// Bumped by every change: views rebuild what they show from it.
    version: u64,
}

impl Default for ConsoleStore {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BUDGET)
    }
}

/// A summary line per add-on: for `logs`, the inspector's counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonConsoleCounts {
    pub extension_id: String,
    #[serde(default)]
    pub extension_name: Option<String>,
    pub kept: u64,
    pub seen: u64,
    pub errors: u64,
    #[serde(default)]
    pub errors_since_reload: u64,
    pub dropped: u64,
}

impl ConsoleStore {
    /// Bytes kept per add-on by default.
    pub const DEFAULT_BUDGET: usize = 4 * 1024 * 1024;
    /// Add-ons kept at most (ids come from the browser; a flood of made-up
    /// ones must not grow the bridge).
    pub const MAX_ADDONS: usize = 512;

    pub fn new(budget_per_addon: usize) -> Self {
        Self { addons: BTreeMap::new(), budget: budget_per_addon, refused: 0, version: 0 }
    }

    pub fn push(&mut self, record: ConsoleRecord) {
        self.version += 1;
        let record = record.bounded();
        if !self.addons.contains_key(&record.extension_id) && self.addons.len() >= Self::MAX_ADDONS {
            self.refused += 1;
            return;
        }
        let c = self.addons.entry(record.extension_id.clone()).or_default();
        if record.extension_name.is_some() {
            c.name.clone_from(&record.extension_name);
        }
        c.seen += 1;
        c.dropped += record.dropped;
        if record.origin == Origin::Reload && !record.is_error() {
            c.errors_since_reload = 0;
        } else if record.is_error() {
            c.errors += 1;
            c.errors_since_reload += 1;
        }
        let cost = record.size();
        c.bytes += cost;
        c.records.push_back(Arc::new(record));
        while c.bytes > self.budget && c.records.len() > 1 {
            let old = c.records.pop_front().expect("more than one record");
            c.bytes -= old.size();
            c.dropped += 1;
        }
    }

    pub fn addon(&self, id: &str) -> Option<&AddonConsole> {
        self.addons.get(id)
    }

    pub fn addons(&self) -> impl Iterator<Item = (&String, &AddonConsole)> {
        self.addons.iter()
    }

    pub fn counts(&self) -> Vec<AddonConsoleCounts> {
        self.addons
            .iter()
            .map(|(id, c)| AddonConsoleCounts {
                extension_id: id.clone(),
                extension_name: c.name.clone(),
                kept: c.records.len() as u64,
                seen: c.seen,
                errors: c.errors,
                errors_since_reload: c.errors_since_reload,
                dropped: c.dropped,
            })
            .collect()
    }

    /// The records `filter` wants, of every add-on, in time order.
    pub fn matching(&self, filter: &ConsoleFilter) -> Vec<Arc<ConsoleRecord>> {
        let mut out: Vec<Arc<ConsoleRecord>> = self
            .addons
            .iter()
            .filter(|(id, _)| filter.extension_id.as_deref().is_none_or(|f| f == id.as_str()))
            .flat_map(|(_, c)| c.records.iter().filter(|r| filter.matches(r)).cloned())
            .collect();
        // Stable: one add-on's records keep their order at equal times.
        out.sort_by(|a, b| a.time.total_cmp(&b.time));
        out
    }

    pub fn total_errors(&self) -> u64 {
        self.addons.values().map(|c| c.errors).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.addons.is_empty()
    }

    pub fn clear(&mut self) {
        self.version += 1;
        self.addons.clear();
        self.refused = 0;
    }

    /// Changes with every record taken and every clear.
    pub fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: &str, level: Level, text: &str) -> ConsoleRecord {
        serde_json::from_value(json!({"extensionId": id, "source": "console", "level": level, "text": text,
            "time": 1.0}))
        .unwrap()
    }

    #[test]
    fn a_record_reads_as_the_experiment_sends_it() {
        let r: ConsoleRecord = serde_json::from_value(json!({
            "extensionId": "fixture@x", "extensionName": "Fixture", "source": "rejection", "level": "error",
            "text": "Error: boom", "file": "moz-extension://0b1c/background.js", "line": 12, "column": 7,
            "time": 1765000000000.5, "stack": "tick@moz-extension://0b1c/background.js:12:7",
            "where": "background", "earlier": true, "process": "extension", "category": "content javascript"}))
        .unwrap();
        assert_eq!((r.origin, r.level, r.is_error()), (Origin::Rejection, Level::Error, true));
        assert_eq!(r.location().as_deref(), Some("moz-extension://0b1c/background.js:12:7"));
        assert_eq!(r.short_file(), Some("background.js"));
        assert_eq!(r.summary(), "[fixture@x] error rejection: Error: boom (background.js:12) [earlier]");
        // Levels and sources a later browser or agent adds still read.
        let r: ConsoleRecord = serde_json::from_value(json!({"extensionId": "a", "source": "audit",
            "level": "verbose"}))
        .unwrap();
        assert_eq!((r.origin, r.level), (Origin::Other, Level::Log));
        // Whose is required.
        assert!(
            serde_json::from_value::<ConsoleRecord>(json!({"source": "console", "level": "log"})).is_err()
        );
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(Level::Debug < Level::Log && Level::Log < Level::Warn && Level::Warn < Level::Error);
        assert_eq!(Level::parse("WARNING"), Ok(Level::Warn));
        assert!(Level::parse("loud").unwrap_err().contains("one of debug"));
        for l in Level::ALL {
            assert_eq!(Level::parse(l.as_str()), Ok(l));
        }
    }

    #[test]
    fn each_add_on_keeps_its_newest_records_within_its_budget() {
        let mut s = ConsoleStore::new(10_000);
        s.push(record("quiet@x", Level::Error, "the one error"));
        for i in 0..1000 {
            s.push(record("chatty@x", Level::Log, &format!("line {i} {}", "x".repeat(100))));
        }
        let chatty = s.addon("chatty@x").unwrap();
        assert!(chatty.bytes() <= 10_000, "{}", chatty.bytes());
        assert_eq!(chatty.seen, 1000);
        assert_eq!(chatty.dropped + chatty.records().len() as u64, 1000, "every record kept or counted");
        assert!(chatty.records().last().unwrap().text.starts_with("line 999 "), "the newest are kept");
        // The chatty one did not push out the quiet one's error.
        assert_eq!(s.addon("quiet@x").unwrap().records().len(), 1);
        assert_eq!(s.total_errors(), 1);
        let counts = s.counts();
        assert_eq!(counts.iter().find(|c| c.extension_id == "chatty@x").unwrap().dropped, chatty.dropped);
    }

    #[test]
    fn a_huge_record_is_cut_on_a_character_boundary_and_marked() {
        let mut s = ConsoleStore::default();
        let text = "é".repeat(MAX_RECORD_TEXT); // two bytes each
        let mut r = record("a@x", Level::Log, &text);
        r.args = Some(vec![json!("y".repeat(10 * 1024 * 1024))]);
        s.push(r);
        let kept = &s.addon("a@x").unwrap().records().next().unwrap();
        assert!(kept.text.len() <= MAX_RECORD_TEXT && kept.text.chars().all(|c| c == 'é'));
        let t = kept.truncated.as_ref().unwrap();
        assert_eq!(t.chars, MAX_RECORD_TEXT as u64);
        assert!(kept.args.is_none() && t.args.unwrap() > 10 * 1024 * 1024, "{t:?}");
    }

    #[test]
    fn drops_in_the_browser_are_counted_with_the_store_s_own() {
        let mut s = ConsoleStore::new(1000);
        let mut said = record("a@x", Level::Warn, "9000 console records of this add-on were dropped");
        said.origin = Origin::Tabscope;
        said.dropped = 9000;
        s.push(said);
        for _ in 0..100 {
            s.push(record("a@x", Level::Log, "x"));
        }
        let a = s.addon("a@x").unwrap();
        assert_eq!(a.dropped, 9000 + (101 - a.records().len() as u64));
    }

    #[test]
    fn made_up_add_ons_cannot_grow_the_store_without_bound() {
        let mut s = ConsoleStore::new(1000);
        for i in 0..ConsoleStore::MAX_ADDONS + 10 {
            s.push(record(&format!("a{i}@x"), Level::Log, "x"));
        }
        assert_eq!(s.addons().count(), ConsoleStore::MAX_ADDONS);
        assert_eq!(s.refused, 10);
    }

    #[test]
    fn errors_are_counted_and_a_reload_starts_the_count_again() {
        let mut s = ConsoleStore::default();
        s.push(record("a@x", Level::Error, "one"));
        s.push(record("a@x", Level::Warn, "not an error"));
        let mut reload = record("a@x", Level::Info, "reloaded in 80 ms");
        reload.origin = Origin::Reload;
        s.push(reload);
        s.push(record("a@x", Level::Error, "two"));
        let a = s.addon("a@x").unwrap();
        assert_eq!((a.errors, a.errors_since_reload), (2, 1));
    }

    #[test]
    fn filters_by_add_on_level_and_text() {
        let mut s = ConsoleStore::default();
        let mut a = record("a@x", Level::Warn, "disk almost full");
        a.time = 2.0;
        s.push(a);
        s.push(record("b@x", Level::Error, "Disk gone"));
        s.push(record("a@x", Level::Debug, "noise"));
        let texts = |f: ConsoleFilter| s.matching(&f).iter().map(|r| r.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(ConsoleFilter::default()), ["noise", "Disk gone", "disk almost full"], "time order");
        assert_eq!(
            texts(ConsoleFilter { level: Some(Level::Warn), ..Default::default() }),
            ["Disk gone", "disk almost full"]
        );
        assert_eq!(
            texts(ConsoleFilter {
                extension_id: Some("a@x".into()),
                text: Some("DISK".into()),
                ..Default::default()
            }),
            ["disk almost full"]
        );
    }
}
