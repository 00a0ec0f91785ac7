//! Property tests: the codec under any split of the byte stream, and the
//! model's invariants under any event sequence from a valid start.

use std::io::{self, Read};

use proptest::prelude::*;
use serde_json::{Value, json};
use tabscope_shared::codec::{FrameReader, FrameWriter};
use tabscope_shared::event::{BrowserEvent, SESSION_VALUE_CHANGED};
use tabscope_shared::model::Model;
use tabscope_shared::protocol::{Snapshot, Tab, Window};

/// Hands out the stream in the chunk sizes it is given, cycling.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    turn: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Ok(0);
        }
        let want = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn frames_survive_any_split(
        msgs in prop::collection::vec(json_value(), 0..20),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut w = FrameWriter::new(Vec::new());
        for m in &msgs {
            w.write_message(m).unwrap();
        }
        let bytes = w.get_ref().clone();
        let mut r = FrameReader::new(Chunked { data: &bytes, sizes, turn: 0 });
        let mut back = Vec::new();
        while let Some(v) = r.read_message::<Value>().unwrap() {
            back.push(v);
        }
        prop_assert_eq!(back, msgs);
    }

    /// The lent body (`next_frame`) and the owned one (`read_frame`), in any
    /// order over one stream: each frame exactly as written, nothing left
    /// over from a longer frame before it.
    #[test]
    fn lent_and_owned_frames_read_the_same(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
        lend in prop::collection::vec(any::<bool>(), 1..8),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut w = FrameWriter::new(Vec::new());
        for p in &payloads {
            w.write_frame(p).unwrap();
        }
        let bytes = w.get_ref().clone();
        let mut r = FrameReader::new(Chunked { data: &bytes, sizes, turn: 0 });
        let mut back = Vec::new();
        for i in 0.. {
            let next = if lend[i % lend.len()] {
                r.next_frame().unwrap().map(<[u8]>::to_vec)
            } else {
                r.read_frame().unwrap()
            };
            match next {
                Some(p) => back.push(p),
                None => break,
            }
        }
        prop_assert_eq!(back, payloads);
    }

    #[test]
    fn any_cut_of_a_stream_is_an_error_or_a_clean_end(
        msgs in prop::collection::vec(json_value(), 1..5),
        cut_at in any::<prop::sample::Index>(),
    ) {
        let mut w = FrameWriter::new(Vec::new());
        for m in &msgs {
            w.write_message(m).unwrap();
        }
        let bytes = w.get_ref().clone();
        let cut = cut_at.index(bytes.len());
        let mut r = FrameReader::new(&bytes[..cut]);
        let mut whole = 0;
        let outcome = loop {
            match r.read_message::<Value>() {
                Ok(Some(_)) => whole += 1,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        // Frame boundaries: clean end exactly there, an error anywhere else.
        let mut boundary = 0;
        let mut boundaries = vec![0];
        for m in &msgs {
            boundary += 4 + serde_json::to_vec(m).unwrap().len();
            boundaries.push(boundary);
        }
        prop_assert_eq!(outcome.is_ok(), boundaries.contains(&cut), "cut {} whole {}", cut, whole);
    }
}

/// One step of a simulated browser, interpreted against the current model so
/// that ids are mostly real; `Chaos` sends events that do not fit.
#[derive(Clone, Debug)]
enum Step {
    CreateTab { window: usize, at: usize, active: bool },
    RemoveTab(usize),
    MoveTab { tab: usize, to: usize },
    MoveToWindow { tab: usize, window: usize, at: usize },
    Activate(usize),
    Update(usize),
    CreateWindow,
    CloseWindow(usize),
    Focus(usize),
    SetValue { tab: usize, key: u8 },
    RemoveValue { tab: usize, key: u8 },
    Replace(usize),
    Highlight(usize),
    Chaos { kind: u8, a: i64, b: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    let i = || 0usize..64;
    prop_oneof![
        4 => (i(), i(), any::<bool>()).prop_map(|(window, at, active)| Step::CreateTab { window, at, active }),
        2 => i().prop_map(Step::RemoveTab),
        2 => (i(), i()).prop_map(|(tab, to)| Step::MoveTab { tab, to }),
        1 => (i(), i(), i()).prop_map(|(tab, window, at)| Step::MoveToWindow { tab, window, at }),
        2 => i().prop_map(Step::Activate),
        2 => i().prop_map(Step::Update),
        1 => Just(Step::CreateWindow),
        1 => i().prop_map(Step::CloseWindow),
        1 => i().prop_map(Step::Focus),
        2 => (i(), any::<u8>()).prop_map(|(tab, key)| Step::SetValue { tab, key: key % 4 }),
        1 => (i(), any::<u8>()).prop_map(|(tab, key)| Step::RemoveValue { tab, key: key % 4 }),
        1 => i().prop_map(Step::Replace),
        1 => i().prop_map(Step::Highlight),
        1 => (any::<u8>(), -3i64..40, -3i64..40).prop_map(|(kind, a, b)| Step::Chaos { kind, a, b }),
    ]
}

struct Sim {
    next_tab: i64,
    next_window: i64,
}

fn pick<T: Copy>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()])
}

fn parse(name: &str, args: Value) -> BrowserEvent {
    BrowserEvent::parse(name, args.as_array().unwrap()).unwrap()
}

impl Sim {
    /// The browser's events for one step, as the browser would send them.
    fn events(&mut self, m: &Model, s: &Step) -> Vec<BrowserEvent> {
        let windows: Vec<i64> = m.window_ids().collect();
        // Only tabs placed in a window: a chaos step may leave one detached,
        // and no browser sends events about a tab mid-move.
        let tabs: Vec<i64> = windows.iter().flat_map(|&w| m.tabs_of(w).map(|t| t.id)).collect();
        let mut out = Vec::new();
        match *s {
            Step::CreateTab { window, at, active } => {
                let Some(w) = pick(&windows, window) else { return out };
                let id = self.next_tab;
                self.next_tab += 1;
                let len = m.tabs_of(w).count();
                let mut t = Tab::new(id, w, at % (len + 1));
                t.active = active;
                out.push(BrowserEvent::TabCreated(Box::new(t)));
                if active {
                    out.push(parse("tabs.onActivated", json!([{"tabId": id, "windowId": w}])));
                }
            }
            Step::RemoveTab(i) => {
                if let Some(t) = pick(&tabs, i).and_then(|id| m.tab(id)) {
                    out.push(parse(
                        "tabs.onRemoved",
                        json!([t.id, {"windowId": t.window_id, "isWindowClosing": false}]),
                    ));
                }
            }
            Step::MoveTab { tab, to } => {
                if let Some(t) = pick(&tabs, tab).and_then(|id| m.tab(id)) {
                    let len = m.tabs_of(t.window_id).count();
                    out.push(parse("tabs.onMoved", json!([t.id, {"windowId": t.window_id, "fromIndex": t.index, "toIndex": to % len.max(1)}])));
                }
            }
            Step::MoveToWindow { tab, window, at } => {
                if let (Some(t), Some(w)) =
                    (pick(&tabs, tab).and_then(|id| m.tab(id)), pick(&windows, window))
                {
                    let len = m.tabs_of(w).count();
                    out.push(parse(
                        "tabs.onDetached",
                        json!([t.id, {"oldWindowId": t.window_id, "oldPosition": t.index}]),
                    ));
                    out.push(parse(
                        "tabs.onAttached",
                        json!([t.id, {"newWindowId": w, "newPosition": at % (len + 1)}]),
                    ));
                }
            }
            Step::Activate(i) => {
                if let Some(t) = pick(&tabs, i).and_then(|id| m.tab(id)) {
                    out.push(parse("tabs.onActivated", json!([{"tabId": t.id, "windowId": t.window_id}])));
                }
            }
            Step::Update(i) => {
                if let Some(t) = pick(&tabs, i).and_then(|id| m.tab(id)) {
                    let mut nt = t.clone();
                    nt.title = Some(format!("title {i}").into());
                    out.push(BrowserEvent::TabUpdated {
                        tab_id: t.id,
                        change: [("title".to_owned(), json!(format!("title {i}")))].into_iter().collect(),
                        tab: Box::new(nt),
                    });
                }
            }
            Step::CreateWindow => {
                let id = self.next_window;
                self.next_window += 1;
                out.push(BrowserEvent::WindowCreated(Window::new(id)));
            }
            Step::CloseWindow(i) => {
                if let Some(w) = pick(&windows, i) {
                    for t in m.tabs_of(w) {
                        out.push(parse(
                            "tabs.onRemoved",
                            json!([t.id, {"windowId": w, "isWindowClosing": true}]),
                        ));
                    }
                    out.push(parse("windows.onRemoved", json!([w])));
                }
            }
            Step::Focus(i) => {
                out.push(parse("windows.onFocusChanged", json!([pick(&windows, i).unwrap_or(-1)])))
            }
            Step::SetValue { tab, key } => {
                if let Some(id) = pick(&tabs, tab) {
                    out.push(parse(SESSION_VALUE_CHANGED, json!([{"scope":"tab","id":id,"key":format!("k{key}"),"value":{"type":"string","value":"v"}}])));
                }
            }
            Step::RemoveValue { tab, key } => {
                if let Some(id) = pick(&tabs, tab) {
                    out.push(parse(
                        SESSION_VALUE_CHANGED,
                        json!([{"scope":"tab","id":id,"key":format!("k{key}"),"value":null}]),
                    ));
                }
            }
            Step::Replace(i) => {
                if let Some(id) = pick(&tabs, i) {
                    let new = self.next_tab;
                    self.next_tab += 1;
                    out.push(parse("tabs.onReplaced", json!([new, id])));
                }
            }
            Step::Highlight(i) => {
                if let Some(t) = pick(&tabs, i).and_then(|id| m.tab(id)) {
                    out.push(parse(
                        "tabs.onHighlighted",
                        json!([{"windowId": t.window_id, "tabIds": [t.id]}]),
                    ));
                }
            }
            Step::Chaos { kind, a, b } => {
                let e = match kind % 8 {
                    0 => parse("tabs.onActivated", json!([{"tabId": a, "windowId": b}])),
                    1 => parse(
                        "tabs.onMoved",
                        json!([a, {"windowId": b, "fromIndex": 0, "toIndex": b.unsigned_abs()}]),
                    ),
                    2 => parse("tabs.onRemoved", json!([a, {"windowId": b}])),
                    3 => parse("tabs.onAttached", json!([a, {"newWindowId": b, "newPosition": 2}])),
                    4 => parse("tabs.onDetached", json!([a, {"oldWindowId": b, "oldPosition": 0}])),
                    5 => parse("windows.onRemoved", json!([a])),
                    6 => BrowserEvent::TabCreated(Box::new(Tab::new(a, b, b.unsigned_abs() as usize))),
                    _ => parse("tabs.onReplaced", json!([a, b])),
                };
                out.push(e);
            }
        }
        out
    }
}

fn start(windows: usize, tabs_each: usize) -> Snapshot {
    let mut id = 1;
    let windows = (0..windows)
        .map(|w| {
            let mut win = Window::new(w as i64 + 1);
            win.focused = w == 0;
            win.tabs = Some(
                (0..tabs_each)
                    .map(|i| {
                        let mut t = Tab::new(id, w as i64 + 1, i);
                        t.active = i == 0;
                        id += 1;
                        t
                    })
                    .collect(),
            );
            win
        })
        .collect();
    Snapshot { windows, ..Default::default() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_invariants_hold_under_any_events(
        windows in 1usize..4,
        tabs_each in 0usize..6,
        steps in prop::collection::vec(step(), 0..60),
    ) {
        let snap = start(windows, tabs_each);
        let mut m = Model::from_snapshot(snap.clone());
        m.check().map_err(TestCaseError::fail)?;
        let mut sim = Sim { next_tab: 1000, next_window: 100 };
        let mut all = Vec::new();
        for s in &steps {
            for e in sim.events(&m, s) {
                all.push(e.clone());
                let fits = !matches!(s, Step::Chaos { .. });
                let r = m.apply(e.clone());
                if fits {
                    prop_assert!(r.is_ok(), "simulated browser event drifted: {:?} -> {:?}", e, r);
                }
                m.check().map_err(|msg| TestCaseError::fail(format!("after {e:?}: {msg}")))?;
            }
        }
        // Same events on the same snapshot: the same model.
        let mut again = Model::from_snapshot(snap);
        for e in all {
            let _ = again.apply(e);
        }
        prop_assert_eq!(&again, &m);
        // And the model survives its own snapshot (a browser never reports a
        // tab mid-move, so a snapshot has no place for a detached one).
        if m.detached().next().is_none() {
            prop_assert_eq!(Model::from_snapshot(m.to_snapshot()), m);
        }
    }
}
