//! A profile on disk opened in the inspector: its session file shown as a
//! browser would be (windows, tabs, every add-on's values, read-only but
//! for values), and the value editor's calls turned into offline edits
//! with the CLI's rules (browser closed, backup kept, other bytes kept).

use std::path::Path;

use serde_json::Value;
use tabscope_shared::addons::XrayState;
use tabscope_shared::model::Model;
use tabscope_shared::profile::{self, edit, view::ProfileView};
use tabscope_shared::protocol::{
    AgentHello, BrowserInfo, Capabilities, ClientMsg, Outcome, Reply, ServerMsg,
};

use super::live::Live;

/// Reads the profile's current session file (or `file`, a name in it or a path).
pub fn open(dir: &Path) -> Result<ProfileView, String> {
    let files = profile::session_files(dir);
    let Some(file) = files.into_iter().next() else {
        return Err(format!(
            "{} holds no session file (session.json, sessionstore.jsonlz4, sessionstore-backups/): \
             is it a browser profile?",
            dir.display()
        ));
    };
    ProfileView::load(dir, file).map_err(|e| e.to_string())
}

/// What the panels need: the model, and a hello that states the browser's
/// rules (Thunderbird: strings only, no window values) and that every
/// add-on's values are there, as with x-ray.
pub fn live_of(view: &ProfileView) -> Live {
    let mut live = Live::default();
    live.model = Model::from_snapshot(view.snapshot.clone());
    let tb = view.thunderbird;
    let mut sessions = vec!["getTabValue".to_owned(), "removeTabValue".into(), "setTabValue".into()];
    if !tb {
        sessions.extend(["getWindowValue".to_owned(), "removeWindowValue".into(), "setWindowValue".into()]);
    }
    live.agent = Some(AgentHello {
        browser: BrowserInfo {
            name: if tb { "Thunderbird" } else { "Firefox" }.into(),
            version: format!("profile on disk ({})", view.file.kind),
            ..Default::default()
        },
        capabilities: Capabilities {
            sessions,
            session_object_values: Some(!tb),
            xray: Some(XrayState::On),
            ..Default::default()
        },
        ..Default::default()
    });
    live.generation += 1;
    live
}

/// Runs one of the editor's commands as an offline edit and answers it as
/// the browser would; the view and model are read anew from the file.
pub fn execute(view: &mut ProfileView, live: &mut Live, msg: ClientMsg) {
    let ClientMsg::Command(c) = msg else { return };
    let outcome = view
        .edit_for(&c.method, &c.params)
        .and_then(|e| edit::apply(&view.profile, &view.file.path, &[e]).map_err(|e| e.to_string()))
        .and_then(|_| ProfileView::load(&view.profile, view.file.clone()).map_err(|e| e.to_string()));
    let outcome = match outcome {
        Ok(fresh) => {
            *view = fresh;
            let reloaded = live_of(view);
            live.model = reloaded.model;
            live.generation += 1;
            Outcome::Result(Value::Null)
        }
        Err(e) => Outcome::Error(e),
    };
    live.on_server(ServerMsg::Reply(Reply { id: c.id, outcome }));
}
