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
    "sessions.getTabValue" => ["tabId", "key"],
    "sessions.setTabValue" => ["tabId", "key", "value"],
    "sessions.removeTabValue" => ["tabId", "key"],
    "sessions.getWindowValue" => ["windowId", "key"],
    "sessions.setWindowValue" => ["windowId", "key", "value"],
    "sessions.removeWindowValue" => ["windowId", "key"],
    "sessions.getRecentlyClosed" => ["filter"],
    "sessions.restore" => ["sessionId"],
    "sessions.forgetClosedTab" => ["windowId", "sessionId"],
    "sessions.forgetClosedWindow" => ["sessionId"],
    // The agent's own functions.
    "agent.snapshot" => [],
    "agent.knownKeys" => [],
    "agent.probeKey" => ["key"],
    "agent.forgetKey" => ["key"],
];

pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Checks a command before it is sent: known method, params an object whose
/// keys are the method's parameter names.
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
    fn names_are_unique() {
        let mut names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
    }
}
