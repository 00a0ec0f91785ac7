//! `tabscope trace stats`: counts per event kind, duration, rates and
//! command round trips, read in one streaming pass.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::BufRead;

use super::{Micros, Record, TraceError, TraceHeader, TraceReader};
use crate::protocol::Outcome;
use crate::terminal::escape;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub browser: String,
    pub records: u64,
    pub events: u64,
    pub by_name: BTreeMap<String, u64>,
    pub snapshots: u64,
    pub commands: u64,
    pub replies_ok: u64,
    pub replies_failed: u64,
    /// Commands with no reply in the trace.
    pub unanswered: u64,
    pub errors: u64,
    pub logs: u64,
    /// Records lost by recorders that fell behind.
    pub dropped: u64,
    pub first: Micros,
    pub last: Micros,
    /// Most events in any one second.
    pub peak_per_second: u64,
    /// Command round trips, µs, sorted.
    pub round_trips: Vec<Micros>,
    pub warning: Option<String>,
}

impl Stats {
    pub fn read(input: impl BufRead) -> Result<Stats, TraceError> {
        let mut reader = TraceReader::new(input)?;
        let mut s = Stats { browser: label(reader.header()), ..Stats::default() };
        let mut sent: HashMap<u64, Micros> = HashMap::new();
        // Events per whole second since the start, for the peak.
        let (mut second, mut in_second) = (0, 0);
        let mut first = true;
        for r in reader.by_ref() {
            let r = r?;
            let t = r.t();
            if first {
                s.first = t;
                first = false;
            }
            s.last = s.last.max(t);
            s.records += 1;
            match r {
                Record::Event { event, .. } => {
                    s.events += 1;
                    *s.by_name.entry(event.name).or_default() += 1;
                    if t / 1_000_000 != second {
                        second = t / 1_000_000;
                        in_second = 0;
                    }
                    in_second += 1;
                    s.peak_per_second = s.peak_per_second.max(in_second);
                }
                Record::Snapshot { .. } => s.snapshots += 1,
                Record::Command { command, .. } => {
                    s.commands += 1;
                    sent.insert(command.id, t);
                }
                Record::Reply { reply, .. } => {
                    match reply.outcome {
                        Outcome::Result(_) => s.replies_ok += 1,
                        Outcome::Error(_) => s.replies_failed += 1,
                    }
                    if let Some(at) = sent.remove(&reply.id) {
                        s.round_trips.push(t.saturating_sub(at));
                    }
                }
                Record::Error { .. } => s.errors += 1,
                Record::Log { .. } | Record::Hello { .. } | Record::Header(_) => s.logs += 1,
                Record::Gap { dropped, .. } => s.dropped += dropped,
                Record::Frame { frame, .. } => {
                    *s.by_name.entry(format!("frame {}", frame.dir.label())).or_default() += 1
                }
            }
        }
        s.unanswered = sent.len() as u64;
        s.round_trips.sort_unstable();
        s.warning = reader.warning().map(str::to_owned);
        Ok(s)
    }

    pub fn duration_s(&self) -> f64 {
        (self.last - self.first) as f64 / 1e6
    }

    pub fn events_per_second(&self) -> f64 {
        let d = self.duration_s();
        if d > 0.0 { self.events as f64 / d } else { 0.0 }
    }

    /// The round trip at quantile `q` (0..=1), ms.
    pub fn round_trip_ms(&self, q: f64) -> Option<f64> {
        let n = self.round_trips.len();
        (n > 0).then(|| self.round_trips[((n - 1) as f64 * q).round() as usize] as f64 / 1000.0)
    }
}

fn label(h: &TraceHeader) -> String {
    format!("{} ({})", h.browser_label(), h.source)
}

/// For people: every name from the trace is escaped for a terminal.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "trace of {}", escape(&self.browser))?;
        writeln!(f, "duration      {:.3} s", self.duration_s())?;
        writeln!(f, "records       {}", self.records)?;
        writeln!(
            f,
            "events        {} ({:.1}/s on average, {} in the busiest second)",
            self.events,
            self.events_per_second(),
            self.peak_per_second
        )?;
        writeln!(f, "snapshots     {}", self.snapshots)?;
        write!(f, "commands      {} ({} ok, {} failed", self.commands, self.replies_ok, self.replies_failed)?;
        if self.unanswered > 0 {
            write!(f, ", {} unanswered", self.unanswered)?;
        }
        writeln!(f, ")")?;
        if let (Some(p50), Some(p99), Some(max)) =
            (self.round_trip_ms(0.5), self.round_trip_ms(0.99), self.round_trip_ms(1.0))
        {
            writeln!(f, "round trip    p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms")?;
        }
        writeln!(f, "errors        {}", self.errors)?;
        if self.dropped > 0 {
            writeln!(f, "lost          {} records (a recorder fell behind)", self.dropped)?;
        }
        if !self.by_name.is_empty() {
            writeln!(f, "\nevent                                   count      share")?;
            let mut rows: Vec<_> = self.by_name.iter().collect();
            rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (name, n) in rows {
                let share = 100.0 * *n as f64 / self.events as f64;
                writeln!(f, "{:<38} {n:>7} {share:>9.1}%", escape(name))?;
            }
        }
        if let Some(w) = &self.warning {
            writeln!(f, "\nwarning: {}", escape(w))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{event, header, written};
    use super::*;
    use crate::protocol::{Command, Reply};

    #[test]
    fn counts_rates_and_round_trips() {
        let records = vec![
            header(),
            event(1_000_000, 1),
            event(1_500_000, 2),
            Record::Command {
                t: 1_600_000,
                command: Command { id: 9, method: "tabs.get".into(), params: json!({}) },
            },
            Record::Reply { t: 1_602_000, reply: Reply { id: 9, outcome: Outcome::Result(json!(1)) } },
            Record::Command {
                t: 1_700_000,
                command: Command { id: 10, method: "tabs.get".into(), params: json!({}) },
            },
            event(3_000_000, 3),
        ];
        let s = Stats::read(&written(&records)[..]).unwrap();
        assert_eq!((s.records, s.events, s.commands, s.replies_ok, s.unanswered), (6, 3, 2, 1, 1));
        assert_eq!(s.by_name["tabs.onActivated"], 3);
        assert_eq!(s.peak_per_second, 2);
        assert_eq!(s.duration_s(), 2.0);
        assert_eq!(s.events_per_second(), 1.5);
        assert_eq!(s.round_trip_ms(0.5), Some(2.0));
        let text = s.to_string();
        assert!(text.contains("commands      2 (1 ok, 0 failed, 1 unanswered)"), "{text}");
        assert!(text.contains("tabs.onActivated                             3     100.0%"), "{text}");
    }
}
