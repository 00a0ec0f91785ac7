//! The add-on console in the real inspector UI (egui_kittest, no display
//! needed) on a real headless Thunderbird started by `tabscope launch` with
//! an ordinary fixture add-on: the fixture's error is there, filtered to
//! that add-on, the error count shows from every view, and Reload reloads
//! it. Under CI=true a missing Thunderbird fails.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tabscope::gui::{App, Options};
use tabscope_tests::{Launched, TestEnv, require_browser};

const FIXTURE: &str = "console-addon@tabscope.test";

fn pump(h: &mut Harness<'_, App>, what: &str, mut done: impl FnMut(&mut Harness<'_, App>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.step();
        if done(h) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fixture_records(app: &App, pick: impl Fn(&tabscope_shared::console::ConsoleRecord) -> bool) -> usize {
    app.conns
        .current()
        .and_then(|l| l.live.console.addon(FIXTURE))
        .map_or(0, |c| c.records().filter(|r| pick(r)).count())
}

#[test]
fn the_console_view_shows_a_real_add_ons_error_and_reloads_it() {
    if !require_browser("thunderbird") {
        return;
    }
    let env = TestEnv::new();
    let fixture = tabscope_tests::workspace_root().join("tests/fixtures/console-addon");
    // --no-reload: the fixture's folder is the repository's; nothing edits it here.
    let launched = Launched::start(
        &env,
        "thunderbird",
        &["--no-inspector", "--no-reload", "--addon", fixture.to_str().unwrap()],
    );
    let app = App::new(Options::default(), None, env.runtime(), std::sync::Arc::new(|| {}));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);

    pump(&mut h, "the fixture's thrown error in the inspector", |h| {
        fixture_records(h.state(), |r| r.text.starts_with("Error: fixture thrown in a timer")) > 0
    });
    // The error count, in the bar every view has; a click opens the errors.
    pump(&mut h, "the error badge", |h| h.query_all_by_label_contains("add-on errors").next().is_some());
    h.get_by_label_contains("add-on errors").click();
    h.run_steps(2);
    assert!(h.state().addon_console.open, "the badge opens the add-on console");
    pump(&mut h, "the error row", |h| {
        h.query_all_by_label_contains("fixture thrown in a timer").next().is_some()
    });
    assert!(h.query_all_by_label_contains("fixture info").next().is_none(), "errors only after the badge");

    // Every level of that add-on, and only it: another add-on's line (the
    // headless Thunderbird has no other add-on that logs) is left out.
    let other: tabscope_shared::console::ConsoleRecord = serde_json::from_value(serde_json::json!({
        "extensionId": "other@tabscope.test", "source": "console", "level": "log", "text": "the other add-on"}))
    .unwrap();
    h.state_mut().conns.current_mut().unwrap().live.console.push(other);
    h.state_mut().addon_console.level = None;
    h.run_steps(2);
    pump(&mut h, "the other add-on's row, unfiltered", |h| {
        h.query_all_by_label_contains("the other add-on").next().is_some()
    });
    h.state_mut().addon_console.addon = Some(FIXTURE.into());
    h.run_steps(2);
    pump(&mut h, "the info row", |h| h.query_all_by_label_contains("fixture info").next().is_some());
    assert!(h.query_all_by_label_contains("the other add-on").next().is_none(), "another add-on's row");

    // Reload, from the window: the reload is a record of that add-on.
    let before = fixture_records(h.state(), |r| r.origin == tabscope_shared::console::Origin::Reload);
    h.get_by_label("Reload add-on").click();
    pump(&mut h, "the reload record", |h| {
        fixture_records(h.state(), |r| r.origin == tabscope_shared::console::Origin::Reload) > before
    });
    pump(&mut h, "the new run's log", |h| {
        fixture_records(h.state(), |r| r.text == "fixture log marker-1") >= 2
    });
    drop(launched);
}
