//! x-ray: other add-ons' session values and API activity, as the agent's
//! privileged experiment (`addon/xray/`) reports them. The wire types, and
//! [`AddonStore`], the part of the model that holds every add-on's values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{Scope, SessionValue, SessionValues};

/// Whether the agent can see other add-ons: `on`; `off` (packaged without
/// x-ray); `refused` (the browser does not run experiments, see `xrayWhy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XrayState {
    On,
    Off,
    Refused,
}

/// An add-on x-ray knows of. `gone`: values are left but the browser no
/// longer knows the add-on; `active: false`: disabled, its values kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

impl AddonInfo {
    /// "Name (id)", or the id alone; says when disabled or gone.
    pub fn label(&self) -> String {
        let mut s = match &self.name {
            Some(n) if !n.is_empty() => format!("{n} ({})", self.id),
            _ => self.id.clone(),
        };
        if self.gone {
            s.push_str(" [removed]");
        } else if !self.active {
            s.push_str(" [disabled]");
        }
        s
    }
}

/// One value of another add-on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonValue {
    pub scope: Scope,
    pub id: i64,
    pub extension_id: String,
    pub key: String,
    pub value: SessionValue,
}

/// Every other add-on's values, as a snapshot carries them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonValues {
    #[serde(default)]
    pub extensions: Vec<AddonInfo>,
    #[serde(default)]
    pub values: Vec<AddonValue>,
}

/// The argument of `tabscope.onAddonValueChanged`: `value` is `None` when removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonValueChange {
    pub scope: Scope,
    pub id: i64,
    pub extension_id: String,
    #[serde(default)]
    pub extension_name: Option<String>,
    pub key: String,
    #[serde(default)]
    pub value: Option<SessionValue>,
}

/// The argument of `tabscope.onAddonActivity`: one `ExtensionActivityLog`
/// record of another add-on (`api_call`, `api_event`, `content_script`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub extension_id: String,
    #[serde(default)]
    pub extension_name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub view_type: Option<String>,
    #[serde(default)]
    pub time: f64,
    /// Arguments (and result, for events), when small enough.
    #[serde(default)]
    pub data: Value,
    /// Set when `data` was too large: its size and its first characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncated>,
}

/// What the bridge checks of an activity record before passing it on: that
/// it says whose it is and what it was. Its arguments, up to 16 KiB, are
/// skipped unparsed (the bridge's stdin thread is the hot path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivityHead {
    #[serde(rename = "extensionId")]
    _extension_id: String,
    #[serde(rename = "type")]
    _kind: String,
    #[serde(rename = "name")]
    _name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truncated {
    pub chars: u64,
    pub head: String,
}

impl Activity {
    /// The tab a record is about, where it says (content scripts, tab events).
    pub fn tab_id(&self) -> Option<i64> {
        self.data.get("tabId").and_then(Value::as_i64)
    }
}

/// Every other add-on's values per tab and window, and the add-ons' names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddonStore {
    addons: BTreeMap<String, AddonInfo>,
    values: BTreeMap<(Scope, i64), BTreeMap<String, SessionValues>>,
}

impl AddonStore {
    /// Takes the values of objects that `exists` says are known.
    pub fn from_values(v: AddonValues, exists: impl Fn(Scope, i64) -> bool) -> Self {
        let mut s = AddonStore {
            addons: v.extensions.into_iter().map(|a| (a.id.clone(), a)).collect(),
            ..Default::default()
        };
        for x in v.values {
            if exists(x.scope, x.id) {
                s.set(x.scope, x.id, &x.extension_id, x.key, Some(x.value));
            }
        }
        s
    }

    pub fn to_values(&self) -> AddonValues {
        let values = self
            .values
            .iter()
            .flat_map(|(&(scope, id), by_ext)| {
                by_ext.iter().flat_map(move |(ext, kv)| {
                    kv.iter().map(move |(key, value)| AddonValue {
                        scope,
                        id,
                        extension_id: ext.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    })
                })
            })
            .collect();
        AddonValues { extensions: self.addons.values().cloned().collect(), values }
    }

    pub fn apply(&mut self, c: AddonValueChange) {
        if !self.addons.contains_key(&c.extension_id) || c.extension_name.is_some() {
            let active = self.addons.get(&c.extension_id).is_none_or(|a| a.active);
            let name = c.extension_name.clone().or_else(|| self.addons.get(&c.extension_id)?.name.clone());
            self.addons.insert(
                c.extension_id.clone(),
                AddonInfo { id: c.extension_id.clone(), name, active, gone: false },
            );
        }
        self.set(c.scope, c.id, &c.extension_id, c.key, c.value);
    }

    fn set(&mut self, scope: Scope, id: i64, ext: &str, key: String, value: Option<SessionValue>) {
        let obj = self.values.entry((scope, id)).or_default();
        match value {
            Some(v) => {
                obj.entry(ext.to_owned()).or_default().insert(key, v);
            }
            None => {
                if let Some(kv) = obj.get_mut(ext) {
                    kv.remove(&key);
                    if kv.is_empty() {
                        obj.remove(ext);
                    }
                }
            }
        }
        if obj.is_empty() {
            self.values.remove(&(scope, id));
        }
    }

    /// A tab or window closed: its values go with it.
    pub fn forget(&mut self, scope: Scope, id: i64) {
        self.values.remove(&(scope, id));
    }

    /// `tabs.onReplaced`: the values move to the new id.
    pub fn rename_tab(&mut self, from: i64, to: i64) {
        if let Some(v) = self.values.remove(&(Scope::Tab, from)) {
            self.values.insert((Scope::Tab, to), v);
        }
    }

    /// The values of one tab or window, by add-on id.
    pub fn values_of(&self, scope: Scope, id: i64) -> Option<&BTreeMap<String, SessionValues>> {
        self.values.get(&(scope, id))
    }

    pub fn addon(&self, id: &str) -> Option<&AddonInfo> {
        self.addons.get(id)
    }

    pub fn addons(&self) -> impl Iterator<Item = &AddonInfo> + '_ {
        self.addons.values()
    }

    /// Objects holding values, for the model's invariant check.
    pub fn objects(&self) -> impl Iterator<Item = (Scope, i64)> + '_ {
        self.values.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(ext: &str, key: &str, value: Option<&str>) -> AddonValueChange {
        AddonValueChange {
            scope: Scope::Tab,
            id: 1,
            extension_id: ext.into(),
            extension_name: None,
            key: key.into(),
            value: value.map(|v| SessionValue::String(v.into())),
        }
    }

    #[test]
    fn values_are_kept_per_add_on_and_round_trip() {
        let wire = json!({"extensions": [{"id": "a@x", "name": "A", "active": true},
                                         {"id": "b@x", "name": null, "active": false}],
                          "values": [{"scope": "tab", "id": 1, "extensionId": "a@x", "key": "k", "value": {"type": "string", "value": "1"}},
                                     {"scope": "tab", "id": 1, "extensionId": "b@x", "key": "k", "value": {"type": "json", "value": {"n": 2}}},
                                     {"scope": "tab", "id": 9, "extensionId": "a@x", "key": "k", "value": {"type": "string", "value": "orphan"}}]});
        let v: AddonValues = serde_json::from_value(wire).unwrap();
        let mut s = AddonStore::from_values(v, |_, id| id == 1);
        let on1 = s.values_of(Scope::Tab, 1).unwrap();
        assert_eq!(on1["a@x"]["k"], SessionValue::String("1".into()));
        assert_eq!(on1["b@x"]["k"], SessionValue::Json(json!({"n": 2})));
        assert!(s.values_of(Scope::Tab, 9).is_none(), "values of unknown tabs are dropped");
        assert_eq!(s.addon("b@x").unwrap().label(), "b@x [disabled]");
        let back = AddonStore::from_values(s.to_values(), |_, _| true);
        assert_eq!(back, s);
        s.apply(change("a@x", "k", None));
        s.apply(change("b@x", "k", None));
        assert!(s.values_of(Scope::Tab, 1).is_none(), "no empty maps kept");
        s.apply(change("new@x", "k", Some("v")));
        assert_eq!(s.addon("new@x").unwrap().label(), "new@x");
        s.rename_tab(1, 2);
        assert!(s.values_of(Scope::Tab, 2).is_some());
        s.forget(Scope::Tab, 2);
        assert_eq!(s.objects().count(), 0);
    }

    #[test]
    fn an_activity_record_reads_as_the_experiment_sends_it() {
        let a: Activity = serde_json::from_value(json!({"extensionId": "o@x", "extensionName": "Other", "type": "api_call",
            "name": "sessions.setTabValue", "viewType": "background", "time": 1.0, "data": {"args": [1, "k", "v"]}}))
        .unwrap();
        assert_eq!((a.kind.as_str(), a.tab_id()), ("api_call", None));
        let c: Activity = serde_json::from_value(json!({"extensionId": "o@x", "type": "content_script",
            "name": "moz-extension://x/cs.js", "data": {"url": "https://e.org", "tabId": 3}, "truncated": null}))
        .unwrap();
        assert_eq!(c.tab_id(), Some(3));
        // The bridge's check: whose and what, arguments unread.
        let head = |v: serde_json::Value| serde_json::from_value::<ActivityHead>(v).is_ok();
        assert!(head(
            json!({"extensionId": "o@x", "type": "api_call", "name": "tabs.query", "data": {"args": [[[1]]]}})
        ));
        assert!(!head(json!({"type": "api_call", "name": "tabs.query"})), "whose is required");
    }
}
