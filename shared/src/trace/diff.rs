//! What changed between two moments: windows and tabs added and removed,
//! tabs moved, properties and session values changed.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use crate::model::Model;
use crate::protocol::{Scope, SessionValue, SessionValues, TabId, WindowId};

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    WindowAdded {
        id: WindowId,
    },
    WindowRemoved {
        id: WindowId,
    },
    TabAdded {
        id: TabId,
        window: WindowId,
        index: usize,
        label: String,
    },
    TabRemoved {
        id: TabId,
        label: String,
    },
    /// To another window, or another index in the same window.
    TabMoved {
        id: TabId,
        from: (WindowId, usize),
        to: (WindowId, usize),
    },
    /// A property of a tab or window (`index` and `windowId` are moves).
    Property {
        scope: Scope,
        id: i64,
        field: String,
        before: Option<Value>,
        after: Option<Value>,
    },
    Value {
        scope: Scope,
        id: i64,
        /// Whose value: the agent's own (`None`) or another add-on's (x-ray).
        owner: Option<String>,
        key: String,
        before: Option<SessionValue>,
        after: Option<SessionValue>,
    },
}

impl Change {
    /// The tab or window the change is about.
    pub fn subject(&self) -> (Scope, i64) {
        match self {
            Change::WindowAdded { id } | Change::WindowRemoved { id } => (Scope::Window, *id),
            Change::TabAdded { id, .. } | Change::TabRemoved { id, .. } | Change::TabMoved { id, .. } => {
                (Scope::Tab, *id)
            }
            Change::Property { scope, id, .. } | Change::Value { scope, id, .. } => (*scope, *id),
        }
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Tab => "tab",
        Scope::Window => "window",
    }
}

fn show(v: &Option<Value>) -> String {
    v.as_ref().map_or("(none)".into(), |v| v.to_string())
}

fn show_value(v: &Option<SessionValue>) -> String {
    match v {
        None => "(none)".into(),
        Some(SessionValue::String(s)) => format!("{s:?}"),
        Some(SessionValue::Json(v)) => format!("{v} (json)"),
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::WindowAdded { id } => write!(f, "+ window {id}"),
            Change::WindowRemoved { id } => write!(f, "- window {id}"),
            Change::TabAdded { id, window, index, label } => {
                write!(f, "+ tab {id} {label:?} in window {window} at {index}")
            }
            Change::TabRemoved { id, label } => write!(f, "- tab {id} {label:?}"),
            Change::TabMoved { id, from, to } if from.0 == to.0 => {
                write!(f, "~ tab {id} moved in window {} from {} to {}", from.0, from.1, to.1)
            }
            Change::TabMoved { id, from, to } => {
                write!(
                    f,
                    "~ tab {id} moved from window {} at {} to window {} at {}",
                    from.0, from.1, to.0, to.1
                )
            }
            Change::Property { scope, id, field, before, after } => {
                write!(f, "~ {} {id} {field}: {} -> {}", scope_name(*scope), show(before), show(after))
            }
            Change::Value { scope, id, owner, key, before, after } => write!(
                f,
                "~ {} {id} value {key:?}{}: {} -> {}",
                scope_name(*scope),
                owner.as_ref().map(|o| format!(" of {o}")).unwrap_or_default(),
                show_value(before),
                show_value(after)
            ),
        }
    }
}

/// The changes that turn `a` into `b`, windows first, in id order.
pub fn diff(a: &Model, b: &Model) -> Vec<Change> {
    let mut out = Vec::new();
    let windows: BTreeSet<WindowId> = a.window_ids().chain(b.window_ids()).collect();
    for &id in &windows {
        match (a.window(id), b.window(id)) {
            (None, Some(_)) => out.push(Change::WindowAdded { id }),
            (Some(_), None) => out.push(Change::WindowRemoved { id }),
            (Some(x), Some(y)) => properties(&mut out, Scope::Window, id, x, y, &["tabs"]),
            (None, None) => {}
        }
        values(&mut out, Scope::Window, id, a, b);
    }
    let tabs: BTreeSet<TabId> = windows
        .iter()
        .flat_map(|&w| a.tabs_of(w).chain(b.tabs_of(w)).map(|t| t.id))
        .chain(a.detached().chain(b.detached()).map(|t| t.id))
        .collect();
    for &id in &tabs {
        match (a.tab(id), b.tab(id)) {
            (None, Some(t)) => {
                out.push(Change::TabAdded { id, window: t.window_id, index: t.index, label: t.label() })
            }
            (Some(t), None) => out.push(Change::TabRemoved { id, label: t.label() }),
            (Some(x), Some(y)) => {
                if (x.window_id, x.index) != (y.window_id, y.index) {
                    out.push(Change::TabMoved {
                        id,
                        from: (x.window_id, x.index),
                        to: (y.window_id, y.index),
                    });
                }
                properties(&mut out, Scope::Tab, id, x, y, &["index", "windowId"]);
            }
            (None, None) => {}
        }
        values(&mut out, Scope::Tab, id, a, b);
    }
    out
}

fn properties<T: serde::Serialize>(
    out: &mut Vec<Change>,
    scope: Scope,
    id: i64,
    x: &T,
    y: &T,
    skip: &[&str],
) {
    let (Ok(Value::Object(x)), Ok(Value::Object(y))) = (serde_json::to_value(x), serde_json::to_value(y))
    else {
        return;
    };
    let fields: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for field in fields {
        if skip.contains(&field.as_str()) {
            continue;
        }
        let (before, after) = (x.get(field), y.get(field));
        if before != after {
            out.push(Change::Property {
                scope,
                id,
                field: field.clone(),
                before: before.cloned(),
                after: after.cloned(),
            });
        }
    }
}

fn values(out: &mut Vec<Change>, scope: Scope, id: i64, a: &Model, b: &Model) {
    changed_values(out, scope, id, None, a.values(scope, id), b.values(scope, id));
    // x-ray: every other add-on's values, add-on by add-on.
    let (aa, ab) =
        (a.addons().and_then(|s| s.values_of(scope, id)), b.addons().and_then(|s| s.values_of(scope, id)));
    let owners: BTreeSet<&String> = aa.into_iter().chain(ab).flat_map(|m| m.keys()).collect();
    for owner in owners {
        let (va, vb) = (aa.and_then(|m| m.get(owner)), ab.and_then(|m| m.get(owner)));
        changed_values(out, scope, id, Some(owner), va, vb);
    }
}

fn changed_values(
    out: &mut Vec<Change>,
    scope: Scope,
    id: i64,
    owner: Option<&String>,
    va: Option<&SessionValues>,
    vb: Option<&SessionValues>,
) {
    let keys: BTreeSet<&String> = va.into_iter().chain(vb).flat_map(|m| m.keys()).collect();
    for key in keys {
        let before = va.and_then(|m| m.get(key)).cloned();
        let after = vb.and_then(|m| m.get(key)).cloned();
        if before != after {
            out.push(Change::Value { scope, id, owner: owner.cloned(), key: key.clone(), before, after });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::Snapshot;

    fn model(v: Value) -> Model {
        Model::from_snapshot(serde_json::from_value::<Snapshot>(v).unwrap())
    }

    #[test]
    fn every_kind_of_change_is_named() {
        let a = model(json!({"windows":[{"id":1,"focused":true,"tabs":[
            {"id":1,"index":0,"windowId":1,"active":true,"title":"Inbox"},
            {"id":2,"index":1,"windowId":1,"active":false,"title":"Old"},
            {"id":3,"index":2,"windowId":1,"active":false,"title":"Mover"}]}],
            "tabValues":{"1":{"k":{"type":"string","value":"a"}}}}));
        let b = model(json!({"windows":[{"id":1,"focused":false,"tabs":[
            {"id":1,"index":0,"windowId":1,"active":true,"title":"Inbox (3)"}]},
            {"id":2,"focused":true,"tabs":[
            {"id":3,"index":0,"windowId":2,"active":false,"title":"Mover"},
            {"id":4,"index":1,"windowId":2,"active":true,"title":"New"}]}],
            "tabValues":{"1":{"k":{"type":"string","value":"b"}},"4":{"j":{"type":"json","value":[1]}}}}));
        let text: Vec<String> = diff(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "~ window 1 focused: true -> false",
                "+ window 2",
                "~ tab 1 title: \"Inbox\" -> \"Inbox (3)\"",
                "~ tab 1 value \"k\": \"a\" -> \"b\"",
                "- tab 2 \"Old\"",
                "~ tab 3 moved from window 1 at 2 to window 2 at 0",
                "+ tab 4 \"New\" in window 2 at 1",
                "~ tab 4 value \"j\": (none) -> [1] (json)",
            ]
        );
        assert!(diff(&b, &b).is_empty());
    }

    #[test]
    fn other_add_ons_values_are_compared_and_attributed() {
        let with = |v: &str| {
            model(
                json!({"windows":[{"id":1,"focused":true,"tabs":[{"id":1,"index":0,"windowId":1,"active":true}]}],
                "addonValues":{"extensions":[{"id":"o@x","active":true}],
                    "values":[{"scope":"tab","id":1,"extensionId":"o@x","key":"k","value":{"type":"string","value":v}}]}}),
            )
        };
        let text: Vec<String> = diff(&with("a"), &with("b")).iter().map(ToString::to_string).collect();
        assert_eq!(text, ["~ tab 1 value \"k\" of o@x: \"a\" -> \"b\""]);
    }
}
