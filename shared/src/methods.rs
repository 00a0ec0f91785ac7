//! The API functions a command may call, with their parameter names as the
//! API reference gives them. The agent maps `params` to positional arguments
//! with the same table (`API_METHODS` in `addon/tabscope-agent.js`; a test
//! keeps the two equal).

/// One callable function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method {
    pub name: &'static str,
    /// Positional parameter names, in order.
    pub params: &'static [&'static str],
}

macro_rules! methods {
    ($($name:literal => [$($p:literal),*]),* $(,)?) => {
        &[$(Method { name: $name, params: &[$($p),*] }),*]
    };
}

/// Every function of `tabs`, `windows` and `sessions` (Thunderbird's and
/// Firefox's), plus the agent's own `agent.*` functions.
pub const METHODS: &[Method] = methods![
    "tabs.create" => ["createProperties"],
    "tabs.duplicate" => ["tabId", "duplicateProperties"],
    "tabs.executeScript" => ["tabId", "details"],
    "tabs.get" => ["tabId"],
    "tabs.getCurrent" => [],
    "tabs.insertCSS" => ["tabId", "details"],
    "tabs.move" => ["tabIds", "moveProperties"],
    "tabs.query" => ["queryInfo"],
    "tabs.reload" => ["tabId", "reloadProperties"],
    "tabs.remove" => ["tabIds"],
    "tabs.removeCSS" => ["tabId", "details"],
    "tabs.sendMessage" => ["tabId", "message", "options"],
    "tabs.update" => ["tabId", "updateProperties"],
    // Firefox only.
    "tabs.captureTab" => ["tabId", "options"],
    "tabs.captureVisibleTab" => ["windowId", "options"],
    "tabs.detectLanguage" => ["tabId"],
    "tabs.discard" => ["tabIds"],
    "tabs.getZoom" => ["tabId"],
    "tabs.getZoomSettings" => ["tabId"],
    "tabs.goBack" => ["tabId"],
    "tabs.goForward" => ["tabId"],
    "tabs.group" => ["options"],
    "tabs.hide" => ["tabIds"],
    "tabs.highlight" => ["highlightInfo"],
    "tabs.moveInSuccession" => ["tabIds", "tabId", "options"],
    "tabs.print" => [],
    "tabs.printPreview" => [],
    "tabs.saveAsPDF" => ["pageSettings"],
    "tabs.setZoom" => ["tabId", "zoomFactor"],
    "tabs.setZoomSettings" => ["tabId", "zoomSettings"],
    "tabs.show" => ["tabIds"],
    "tabs.toggleReaderMode" => ["tabId"],
    "tabs.ungroup" => ["tabIds"],
    "tabs.warmup" => ["tabId"],
    "windows.create" => ["createData"],
    "windows.get" => ["windowId", "getInfo"],
    "windows.getAll" => ["getInfo"],
    "windows.getCurrent" => ["getInfo"],
    "windows.getLastFocused" => ["getInfo"],
    "windows.openDefaultBrowser" => ["url"],
    "windows.remove" => ["windowId"],
    "windows.update" => ["windowId", "updateInfo"],
    "sessions.getTabValue" => ["tabId", "key", "extensionId"],
    "sessions.setTabValue" => ["tabId", "key", "value", "extensionId"],
    "sessions.removeTabValue" => ["tabId", "key", "extensionId"],
    "sessions.getWindowValue" => ["windowId", "key", "extensionId"],
    "sessions.setWindowValue" => ["windowId", "key", "value", "extensionId"],
    "sessions.removeWindowValue" => ["windowId", "key", "extensionId"],
    "sessions.getRecentlyClosed" => ["filter"],
    "sessions.restore" => ["sessionId"],
    "sessions.forgetClosedTab" => ["windowId", "sessionId"],
    "sessions.forgetClosedWindow" => ["sessionId"],
    // The agent's own functions.
    "agent.snapshot" => [],
    "agent.knownKeys" => [],
    "agent.probeKey" => ["key"],
    "agent.forgetKey" => ["key"],
    "agent.addons" => [],
    "agent.reloadAddon" => ["extensionId"],
];

pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Functions that run code in a page: an agent can be set to refuse them.
pub const SCRIPT_METHODS: &[&str] = &["tabs.executeScript", "tabs.insertCSS", "tabs.removeCSS"];

/// Functions that cannot do from tabscope's agent what their name promises,
/// and why: said in `tabscope methods`, next to a failed call and in the GUI.
pub fn caveat(name: &str) -> Option<&'static str> {
    Some(match name {
        "tabs.sendMessage" => {
            "reaches only content scripts of the add-on that calls it, and tabscope's agent has none: \
             it answers \"Receiving end does not exist\". Send it from your own add-on."
        }
        "tabs.connect" => {
            "opens a port to the caller's own content scripts; tabscope's agent has none, and a port \
             cannot cross to the inspector."
        }
        "tabs.getCurrent" => {
            "answers for the tab the calling script runs in; the agent runs in a background page, \
             so it is always null. Use tabs.query {\"active\": true, \"currentWindow\": true}."
        }
        "tabs.executeScript" | "tabs.insertCSS" | "tabs.removeCSS" => {
            "needs the agent's host permission for the page (granted in `tabscope launch` profiles; \
             elsewhere \"Allow on all pages\" in the agent's options) and script injection on."
        }
        _ => return None,
    })
}

/// Why a script method is refused when the agent turned them off.
pub fn scripts_off(method: &str) -> String {
    format!("{method}: script injection is turned off in the tabscope agent (the add-on's options)")
}

/// What a parameter must hold, by its name (the API reference uses each name
/// with one meaning). `null` stands for an omitted parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A tab or window id.
    Id,
    /// One id or a list of them.
    Ids,
    /// A session key: a non-empty string.
    Key,
    Text,
    Number,
    /// Anything JSON: a session value, a message for a content script.
    Any,
    /// An options object (createProperties, queryInfo, details, …).
    Object,
}

/// The kind of the parameter called `name`; the agent has the same table
/// (`paramKind` in `addon/tabscope-agent.js`; a test feeds both the same cases).
pub fn kind_of(name: &str) -> Kind {
    match name {
        "tabId" | "windowId" => Kind::Id,
        "tabIds" => Kind::Ids,
        // An add-on id for x-ray: a non-empty string, checked as a Gecko id by the browser.
        "key" | "extensionId" => Kind::Key,
        "url" | "sessionId" => Kind::Text,
        "zoomFactor" => Kind::Number,
        "value" | "message" => Kind::Any,
        _ => Kind::Object,
    }
}

fn check_kind(method: &str, name: &str, v: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value as V;
    // Ids are JavaScript numbers: whole and within ±(2^53 - 1), as the agent's
    // Number.isSafeInteger has it.
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    let is_id = |v: &V| v.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() <= MAX_SAFE);
    let ok = match (kind_of(name), v) {
        (_, V::Null) | (Kind::Any, _) => true,
        (Kind::Id, v) => is_id(v),
        (Kind::Ids, V::Array(ids)) => !ids.is_empty() && ids.iter().all(is_id),
        (Kind::Ids, v) => is_id(v),
        (Kind::Key, V::String(k)) => !k.is_empty(),
        (Kind::Text, V::String(_)) | (Kind::Number, V::Number(_)) | (Kind::Object, V::Object(_)) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let wanted = match kind_of(name) {
        Kind::Id => "an integer id",
        Kind::Ids => "an integer id or a non-empty list of them",
        Kind::Key => "a non-empty string",
        Kind::Text => "a string",
        Kind::Number => "a number",
        Kind::Any => "any JSON value",
        Kind::Object => "an object",
    };
    let mut shown = v.to_string();
    if shown.len() > 60 {
        shown.truncate(shown.floor_char_boundary(57));
        shown.push('…');
    }
    Err(format!("{method}: {name} must be {wanted}, not {shown}"))
}

/// Checks a command before it is sent: known method, params an object whose
/// keys are the method's parameter names, each holding its kind of value.
pub fn validate(method: &str, params: &serde_json::Value) -> Result<&'static Method, String> {
    let Some(m) = find(method) else {
        return Err(format!(
            "unknown method {method:?}: tabscope calls functions of tabs, windows and sessions (see `tabscope methods`)"
        ));
    };
    let Some(obj) = params.as_object() else {
        return Err(format!("{method}: params must be a JSON object keyed by parameter name"));
    };
    if let Some(bad) = obj.keys().find(|k| !m.params.contains(&k.as_str())) {
        let expected = if m.params.is_empty() { "none".to_owned() } else { m.params.join(", ") };
        return Err(format!("{method}: unknown parameter {bad:?} (parameters: {expected})"));
    }
    for (name, v) in obj {
        check_kind(method, name, v)?;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_names_and_params() {
        assert!(validate("sessions.setTabValue", &json!({"tabId":1,"key":"k","value":"v"})).is_ok());
        let e = validate("tabs.explode", &json!({})).unwrap_err();
        assert!(e.starts_with("unknown method \"tabs.explode\""), "{e}");
        let e = validate("tabs.get", &json!({"tab": 1})).unwrap_err();
        assert_eq!(e, "tabs.get: unknown parameter \"tab\" (parameters: tabId)");
        assert!(validate("tabs.get", &json!([1])).is_err());
    }

    #[test]
    fn parameter_values_are_checked_by_kind() {
        let ok = |m: &str, p| validate(m, &p).map(|_| ()).map_err(|e| e.to_string());
        assert!(ok("tabs.remove", json!({"tabIds": [1, 2]})).is_ok());
        assert!(ok("tabs.remove", json!({"tabIds": 3})).is_ok());
        assert!(ok("sessions.setTabValue", json!({"tabId": 1, "key": "k", "value": {"any": [1]}})).is_ok());
        assert!(ok("tabs.create", json!({"createProperties": null})).is_ok());
        assert_eq!(
            ok("tabs.get", json!({"tabId": "1"})).unwrap_err(),
            "tabs.get: tabId must be an integer id, not \"1\""
        );
        assert!(ok("tabs.get", json!({"tabId": 1.5})).is_err());
        assert!(ok("tabs.remove", json!({"tabIds": []})).is_err());
        assert!(ok("tabs.remove", json!({"tabIds": [1, "2"]})).is_err());
        assert!(ok("sessions.getTabValue", json!({"tabId": 1, "key": ""})).is_err());
        assert!(ok("tabs.update", json!({"tabId": 1, "updateProperties": "x"})).is_err());
        assert!(ok("tabs.setZoom", json!({"tabId": 1, "zoomFactor": "big"})).is_err());
        let long = ok("tabs.create", json!({"createProperties": "é".repeat(100)})).unwrap_err();
        assert!(long.ends_with("…") && long.len() < 140, "{long}");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
    }
}
