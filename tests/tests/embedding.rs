//! The agent embedded in another add-on, in a real Thunderbird: the add-on's
//! own session values show up through its bridge (and only there, since
//! session values are private to the add-on that set them).

use std::time::Duration;

use serde_json::json;
use tabscope_shared::protocol::{ServerMsg, SessionValue};
use tabscope_tests::{Launched, TestEnv, TestSession, require_program, wait_for, workspace_root};

#[test]
fn an_embedding_add_on_shows_its_own_session_values() {
    if require_program(&["thunderbird"], "apt-get install thunderbird").is_none() {
        return;
    }
    let env = TestEnv::new();
    // The add-on author's move: copy the one file in.
    let addon = env.dir.path().join("embedder");
    std::fs::create_dir_all(&addon).unwrap();
    let fixture = workspace_root().join("tests/fixtures/embedding-addon");
    for f in ["manifest.json", "background.js"] {
        std::fs::copy(fixture.join(f), addon.join(f)).unwrap();
    }
    std::fs::copy(workspace_root().join("addon/tabscope-agent.js"), addon.join("tabscope-agent.js")).unwrap();

    let mut launched =
        Launched::start(&env, "thunderbird", &["--no-inspector", "--addon", addon.to_str().unwrap()]);
    // Two agents, two bridges: tabscope's own and the embedder's.
    let both = wait_for(Duration::from_secs(30), || {
        let b = env.bridges();
        (b.iter().filter(|d| d.browser.is_some()).count() == 2).then_some(b)
    })
    .expect("a bridge for each add-on");
    let id_of = |d: &tabscope_shared::discovery::Discovery| d.bridge.extension_id.clone().unwrap_or_default();
    let embedder = both.iter().find(|d| id_of(d) == "embedder@tabscope.test").expect("the embedder's bridge");
    let own = both.iter().find(|d| id_of(d) == "tabscope-agent@tabscope.dev").expect("tabscope's bridge");

    // The mail tab's onCreated made the add-on set its value; the wrapped
    // sessions API reported it, so the embedder's model has it.
    let mut s = TestSession::connect(&embedder.socket);
    let mut seen = Vec::new();
    let value = s.until(Duration::from_secs(30), |m| {
        seen.push(match m {
            ServerMsg::Snapshot { snapshot, .. } => {
                format!("snapshot: {} windows, values {:?}", snapshot.windows.len(), snapshot.tab_values)
            }
            ServerMsg::Event { event, .. } => {
                format!("event {} {}", event.name, serde_json::json!(event.args))
            }
            other => format!("{other:?}").chars().take(200).collect(),
        });
        match m {
            ServerMsg::Snapshot { snapshot, .. } => {
                snapshot.tab_values.values().find_map(|v| v.get("embedder-seen").cloned())
            }
            ServerMsg::Event { event, .. } if event.name == "tabscope.onSessionValueChanged" => {
                serde_json::from_value::<SessionValue>(event.args[0]["value"].clone()).ok()
            }
            _ => None,
        }
    });
    assert_eq!(
        value,
        Some(SessionValue::String("created mail".into())),
        "the embedder's bridge sent:\n{}\nbridge logs:\n{}",
        seen.join("\n"),
        env.bridge_log()
    );

    // tabscope's own agent cannot see it: values belong to their add-on.
    let mut mine = TestSession::connect(&own.socket);
    let probe = mine.call("agent.probeKey", json!({"key": "embedder-seen"})).unwrap();
    assert_eq!(probe["tabs"], json!({}), "another add-on's value leaked: {probe}");
    let theirs = s.call("agent.probeKey", json!({"key": "embedder-seen"})).unwrap();
    assert_eq!(theirs["tabs"].as_object().map(|m| m.len()), Some(1), "{theirs}");

    let (ok, out) = launched.quit();
    assert!(ok, "{out}");
}
