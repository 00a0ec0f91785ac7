//! `tabscope launch`: what `web-ext run` does for Firefox, for Thunderbird
//! too, with the inspector attached. A development profile (temporary unless
//! --profile), prefs that skip first-run UI and network chatter, the agent
//! and the user's add-ons sideloaded, the host manifest checked, the browser
//! started, its bridge awaited, the inspector opened; on quit the browser is
//! closed cleanly and the temporary profile removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::json;
use tabscope_shared::client::Client;
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::protocol::ADDON_ID;

use super::BrowserChoice;
use super::doctor::{self, FIREFOX_NAMES, THUNDERBIRD_NAMES};
use super::install;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Browser {
    Thunderbird,
    Firefox,
}

#[derive(Args, Debug)]
pub struct LaunchArgs {
    #[arg(value_enum)]
    pub browser: Browser,
    /// Keep the profile in DIR between runs (default: a fresh temporary one).
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Also load this unpacked add-on (a folder with manifest.json). Repeatable.
    #[arg(long = "addon", value_name = "DIR")]
    pub addons: Vec<PathBuf>,
    /// Run the browser without a window (CI).
    #[arg(long)]
    pub headless: bool,
    /// Do not open the inspector; wait for Ctrl-C instead.
    #[arg(long)]
    pub no_inspector: bool,
    /// Have the bridge record the whole event trace to FILE.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// The browser program (default: found on PATH).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// How long to wait for the browser's bridge.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub wait: f64,
    /// Leave x-ray out: without it the inspector sees the agent's own
    /// session values only, and no other add-on's API calls.
    #[arg(long)]
    pub no_xray: bool,
    /// Do not watch the --addon folders: without it, a saved change reloads
    /// that add-on (x-ray does it; new experiment code runs too).
    #[arg(long)]
    pub no_reload: bool,
    /// Set a browser pref in the profile, after tabscope's own (so it wins):
    /// NAME=VALUE, VALUE as in user.js (true, 3, "text"). Repeatable.
    #[arg(long = "pref", value_name = "NAME=VALUE", value_parser = parse_pref)]
    pub prefs: Vec<(String, String)>,
}

/// A pref as user.js takes it: a name of safe characters and a boolean,
/// integer or quoted string, so that nothing else gets into the file.
fn parse_pref(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@{}".contains(c)) {
        return Err(format!("{name:?} is not a pref name"));
    }
    let ok = matches!(value, "true" | "false")
        || value.parse::<i64>().is_ok()
        || serde_json::from_str::<String>(value).is_ok_and(|t| !t.contains('\n'));
    if !ok {
        return Err(format!("{value:?}: a pref value is true, false, an integer or a \"quoted string\""));
    }
    Ok((name.to_owned(), value.to_owned()))
}

impl Browser {
    fn label(self) -> &'static str {
        match self {
            Browser::Thunderbird => "Thunderbird",
            Browser::Firefox => "Firefox",
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Browser::Thunderbird => THUNDERBIRD_NAMES,
            Browser::Firefox => FIREFOX_NAMES,
        }
    }

    fn how_to_install(self) -> &'static str {
        match self {
            Browser::Thunderbird => {
                "Install it (Debian/Ubuntu: `sudo apt-get install thunderbird`; elsewhere from thunderbird.net), \
                 or pass --binary PATH. Meanwhile, explore tabscope on the demo trace: `tabscope open docs/demo-trace.jsonl`."
            }
            Browser::Firefox => {
                "Install it (Debian: `sudo apt-get install firefox-esr`; elsewhere from mozilla.org), or pass --binary PATH. \
                 Meanwhile, explore tabscope on the demo trace: `tabscope open docs/demo-trace.jsonl`."
            }
        }
    }
}

/// Prefs for a quiet development profile (see shared browser facts); with
/// x-ray, Firefox also needs experiments turned on.
pub fn user_js(browser: Browser, xray: bool, extra: &[(String, String)]) -> String {
    let mut prefs = vec![
        // Sideloaded add-ons are installed enabled (Thunderbird's default 3 disables them).
        ("extensions.autoDisableScopes", "0"),
        ("extensions.enabledScopes", "15"),
        ("xpinstall.signatures.required", "false"),
        ("extensions.update.enabled", "false"),
        ("app.update.enabled", "false"),
        ("app.update.auto", "false"),
        ("datareporting.policy.dataSubmissionEnabled", "false"),
        ("datareporting.healthreport.uploadEnabled", "false"),
        ("toolkit.telemetry.enabled", "false"),
        ("network.captive-portal-service.enabled", "false"),
        ("network.connectivity-service.enabled", "false"),
        ("browser.safebrowsing.update.enabled", "false"),
        ("extensions.getAddons.cache.enabled", "false"),
        ("devtools.console.stdout.chrome", "true"),
        // The add-ons' own console output lands in browser-output.log too.
        ("devtools.console.stdout.content", "true"),
    ];
    match browser {
        Browser::Thunderbird => prefs.extend([
            ("mail.provider.suppress_dialog_on_startup", "true"),
            ("mail.provider.enabled", "false"),
            ("mailnews.start_page.enabled", "false"),
            ("mail.shell.checkDefaultClient", "false"),
            ("mail.inappnotifications.enabled", "false"),
            ("mail.rights.override", "true"),
        ]),
        Browser::Firefox => prefs.extend([
            ("browser.shell.checkDefaultBrowser", "false"),
            ("browser.aboutwelcome.enabled", "false"),
            ("browser.startup.page", "0"),
            ("browser.startup.homepage_override.mstone", "\"ignore\""),
            ("trailhead.firstrun.didSeeAboutWelcome", "true"),
            ("browser.newtabpage.enabled", "false"),
        ]),
    }
    if xray && browser == Browser::Firefox {
        prefs.push(("extensions.experiments.enabled", "true"));
    }
    let mut s = String::from("// Written by `tabscope launch`.\n");
    let extra = extra.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (k, v) in prefs.into_iter().chain(extra) {
        s.push_str(&format!("user_pref(\"{k}\", {v});\n"));
    }
    s
}

/// The gecko id of an unpacked add-on (needed to sideload it).
pub fn addon_id(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("manifest.json");
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let id = ["browser_specific_settings", "applications"]
        .iter()
        .find_map(|k| m.get(*k)?.get("gecko")?.get("id")?.as_str().map(str::to_owned))
        .with_context(|| {
            format!(
                "{} has no gecko id; sideloading needs one: add \"browser_specific_settings\": {{\"gecko\": {{\"id\": \"name@you.example\"}}}}",
                path.display()
            )
        })?;
    // The id becomes a file name in the profile: only Gecko's grammar passes.
    tabscope_shared::gecko_id::check(&id).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(id)
}

/// Prepares the profile: prefs, the agent, the user's add-ons. Returns the
/// user's add-ons: each id with its folder, as the browser loads it.
pub fn prepare_profile(
    profile: &Path,
    browser: Browser,
    addons: &[PathBuf],
    xray: bool,
    prefs: &[(String, String)],
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    fs::create_dir_all(profile.join("extensions"))?;
    fs::write(profile.join("user.js"), user_js(browser, xray, prefs))?;
    let agent_dir = profile.join("tabscope-agent");
    if install::write_addon_dir(&agent_dir, xray)? {
        // A kept profile caches experiment schemas: an agent of another
        // version or without x-ray would otherwise start with the old one.
        let _ = fs::remove_dir_all(profile.join("startupCache"));
    }
    grant_page_access(profile)?;
    let mut ids = Vec::new();
    for (id, dir) in std::iter::once((ADDON_ID.to_owned(), agent_dir)).chain(
        addons
            .iter()
            .map(|d| -> anyhow::Result<_> {
                let dir = dunce::canonicalize(d).with_context(|| format!("add-on folder {}", d.display()))?;
                Ok((addon_id(&dir)?, dir))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    ) {
        // A text file named after the id, holding the folder's path:
        // Gecko's way to sideload an unpacked add-on.
        fs::write(profile.join("extensions").join(&id), dir.to_string_lossy().as_bytes())?;
        if id != ADDON_ID {
            ids.push((id, dir));
        }
    }
    Ok(ids)
}

/// Grants the agent its optional `<all_urls>` (script injection) in this
/// development profile, as a click on "Allow on all pages" would: release
/// builds keep granted optional permissions in `extension-preferences.json`
/// (ExtensionPermissions' JSON store, also migrated into the newer rkv one).
/// Other add-ons' entries are kept.
fn grant_page_access(profile: &Path) -> anyhow::Result<()> {
    let path = profile.join("extension-preferences.json");
    let mut prefs: serde_json::Map<String, serde_json::Value> = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON: fix or remove it", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let entry =
        prefs.entry(ADDON_ID).or_insert_with(|| serde_json::json!({"permissions": [], "origins": []}));
    if !entry.get("permissions").is_some_and(|p| p.is_array()) {
        entry["permissions"] = serde_json::json!([]);
    }
    match entry.get_mut("origins").and_then(|o| o.as_array_mut()) {
        Some(o) if o.iter().any(|x| x == "<all_urls>") => return Ok(()),
        Some(o) => o.push("<all_urls>".into()),
        None => entry["origins"] = serde_json::json!(["<all_urls>"]),
    }
    let text = serde_json::to_vec_pretty(&prefs)?;
    tabscope_shared::files::write_atomic(&path, &text, 0o600)
        .with_context(|| format!("writing {}", path.display()))
}

/// Makes sure the host manifest points at our bridge and allows `ids` for
/// this run. Returns the ids it added, which [`forget_ids`] takes out again
/// when the browser is closed: launching an add-on does not allow it for good.
fn ensure_host_manifest(ids: &[String]) -> anyhow::Result<Vec<String>> {
    let bridge = install::default_bridge_path()?;
    let mut added = Vec::new();
    let taps = super::tap::taps()?;
    for (_, path) in install::manifest_locations(BrowserChoice::All)? {
        let current = install::read_manifest(&path);
        let mut wanted = install::manifest_for(&bridge, ids, current.as_ref());
        // A tapped manifest keeps pointing at the tap (`tabscope tap tabscope_bridge`).
        if let Some(c) = current.as_ref().filter(|_| taps.is_tapped(&path)) {
            wanted.path = c.path.clone();
        }
        for id in &wanted.allowed_extensions {
            let before = current.as_ref().is_some_and(|c| c.allowed_extensions.contains(id));
            if !before && id != ADDON_ID && !added.contains(id) {
                added.push(id.clone());
            }
        }
        if current.as_ref() != Some(&wanted) {
            install::write_manifest(&path, &wanted)?;
            eprintln!("tabscope: host manifest written to {}", path.display());
        }
    }
    Ok(added)
}

/// Takes the ids a launch added out of the host manifest again.
fn forget_ids(ids: &[String]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    for (_, path) in install::manifest_locations(BrowserChoice::All)? {
        if let Some(mut m) = install::read_manifest(&path) {
            let before = m.allowed_extensions.len();
            m.allowed_extensions.retain(|id| !ids.contains(id));
            if m.allowed_extensions.len() != before {
                install::write_manifest(&path, &m)?;
            }
        }
    }
    Ok(())
}

/// The running browser and what to clean up after it.
pub struct Launched {
    pub child: Child,
    pub bridge: Discovery,
    pub profile: PathBuf,
    /// Ids this launch added to the host manifest, taken out at the end.
    pub added_ids: Vec<String>,
    /// Reload on save, while the browser runs.
    _watch: Option<super::reload::AddonWatch>,
    _temp: Option<tempfile::TempDir>,
}

/// Starts the browser and waits for its bridge; `stop` (Ctrl-C) meanwhile
/// closes it again and cleans up.
pub fn start(args: &LaunchArgs, stop: &AtomicBool) -> anyhow::Result<Launched> {
    let label = args.browser.label();
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => doctor::find_browser(args.browser.names()).with_context(|| {
            format!(
                "{label} is not installed (looked for {} on PATH). {}",
                args.browser.names().join(", "),
                args.browser.how_to_install()
            )
        })?,
    };
    if let Some(kind) = doctor::confinement(&binary) {
        bail!(
            "{label} at {} is a {kind} package: its sandbox neither sees a development profile made outside it nor \
             starts native hosts itself (only through the XDG desktop portal, after asking you; `tabscope doctor` says \
             more). For launch, install {label} from your distribution's packages or from Mozilla, and pass --binary \
             if it is not first on PATH.",
            binary.display()
        );
    }
    let (profile, temp) = match &args.profile {
        Some(p) => {
            fs::create_dir_all(p)?;
            (dunce::canonicalize(p)?, None)
        }
        None => {
            let t = tempfile::Builder::new().prefix("tabscope-profile-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let addons = prepare_profile(&profile, args.browser, &args.addons, !args.no_xray, &args.prefs)?;
    let ids: Vec<String> = addons.iter().map(|(id, _)| id.clone()).collect();
    let added_ids = ensure_host_manifest(&ids)?;
    // From here on, a failure must not leave them allowed.
    let undo = |e: anyhow::Error| {
        let _ = forget_ids(&added_ids);
        e
    };
    match spawn_and_wait(args, &binary, &profile, stop) {
        Ok((child, bridge)) => {
            // Reload on save needs x-ray (no add-on may reload another one).
            let watch = if args.no_reload || args.no_xray || addons.is_empty() {
                None
            } else {
                match super::reload::watch(addons, bridge.clone()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        eprintln!(
                            "tabscope: cannot watch the add-on folders ({e:#}); reload with `tabscope reload ID`"
                        );
                        None
                    }
                }
            };
            Ok(Launched { child, bridge, profile, added_ids, _watch: watch, _temp: temp })
        }
        Err(e) => Err(undo(e)),
    }
}

fn spawn_and_wait(
    args: &LaunchArgs,
    binary: &Path,
    profile: &Path,
    stop: &AtomicBool,
) -> anyhow::Result<(Child, Discovery)> {
    let label = args.browser.label();

    let log_path = profile.join("browser-output.log");
    // The browser's output: private, like every file of the user's data.
    let log = {
        let mut o = fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(&log_path)?
    };
    let mut cmd = Command::new(binary);
    if args.headless {
        cmd.arg("--headless");
    }
    cmd.arg("--no-remote").arg("--profile").arg(profile);
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // A killed `tabscope launch` takes its development browser with it.
    tabscope_shared::child::die_with_parent(&mut cmd);
    if let Some(trace) = &args.record {
        let trace = std::path::absolute(trace)?;
        cmd.env("TABSCOPE_TRACE", trace);
    }
    // The bridge this browser starts writes it into its discovery file: how
    // launch knows its bridge where no /proc tells the browser's profile.
    let token = tabscope_shared::token::random_hex();
    cmd.env(tabscope_shared::protocol::LAUNCH_TOKEN_ENV, &token);
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {}", binary.display()))?;
    eprintln!("tabscope: started {label} (pid {}) with profile {}", child.id(), profile.display());

    let dir = discovery::runtime_dir_path();
    let deadline = started + Duration::from_secs_f64(args.wait);
    let bridge = loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{label} exited ({status}) before its bridge started; its output is in {}",
                log_path.display()
            );
        }
        let found = discovery::list_bridges(&dir).unwrap_or_default().into_iter().find(|d| {
            d.bridge.launch_token.as_deref() == Some(token.as_str())
                || d.bridge.profile.as_deref().map(Path::new) == Some(profile)
        });
        if let Some(d) = found {
            break d;
        }
        if stop.load(Ordering::Relaxed) {
            let _ = shut_down_child(&mut child, None);
            bail!("interrupted while waiting for {label}; it was closed");
        }
        if Instant::now() >= deadline {
            let _ = shut_down_child(&mut child, None);
            bail!(
                "{label} started but its tabscope bridge did not appear within {} s. Check `tabscope doctor`, \
                 the browser output in {} and the bridge log {}",
                args.wait,
                log_path.display(),
                discovery::log_file().display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "tabscope: {label} connected after {:.1} s (bridge pid {}, {})",
        started.elapsed().as_secs_f64(),
        bridge.bridge.pid,
        bridge.socket.display()
    );
    Ok((child, bridge))
}

/// Closes every window through the agent, which quits the browser cleanly;
/// kills it only if it does not quit in time.
pub fn shut_down_child(child: &mut Child, bridge: Option<&Discovery>) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    // Without a bridge there is no window to close: SIGTERM, which Gecko
    // takes as a quit, at once rather than after waiting for nothing.
    let Some(b) = bridge else { return terminate(child) };
    if let Ok(mut c) = Client::connect(&b.socket)
        && let Ok(windows) = c.call("windows.getAll", json!({}))
    {
        for w in windows.as_array().into_iter().flatten() {
            if let Some(id) = w.get("id") {
                let _ = c.command("windows.remove", json!({ "windowId": id }));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("tabscope: the browser did not quit after its windows were closed; terminating it");
    terminate(child)?;
    Ok(())
}

#[cfg(unix)]
fn terminate(child: &mut Child) -> anyhow::Result<()> {
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) -> anyhow::Result<()> {
    child.kill()?;
    child.wait()?;
    Ok(())
}

pub fn launch(args: LaunchArgs) -> anyhow::Result<()> {
    // Before the browser starts: Ctrl-C while it starts closes it too.
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let launched = Arc::new(Mutex::new(Some(start(&args, &stop)?)));
    if args.no_inspector {
        eprintln!(
            "tabscope: inspect it with `tabscope watch`, `tabscope snapshot`, `tabscope call`; Ctrl-C quits"
        );
        while !stop.load(Ordering::Relaxed) {
            let quit = launched
                .lock()
                .expect("launch state")
                .as_mut()
                .is_some_and(|l| l.child.try_wait().ok().flatten().is_some());
            if quit {
                eprintln!("tabscope: the browser quit");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        // While the window is open, a signal still closes the browser cleanly.
        let (l, s) = (launched.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            finish(&l);
            std::process::exit(0);
        });
        // Even if the window crashes (say, the X server drops it), the
        // browser is closed cleanly: the panic hook runs the shutdown first.
        let l = launched.clone();
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            eprintln!("tabscope: the inspector crashed; closing the browser");
            finish(&l);
        }));
        let pid = launched.lock().expect("launch state").as_ref().map(|l| l.bridge.bridge.pid.to_string());
        let opts = crate::gui::Options { bridge: pid, ..Default::default() };
        // A panic was already handled by the hook; an error is reported here.
        if let Ok(Err(e)) = std::panic::catch_unwind(|| crate::gui::run(opts)) {
            eprintln!("tabscope: the inspector failed: {e:#}");
        }
    }
    finish(&launched);
    Ok(())
}

/// Closes the browser, waits for its bridge, removes a temporary profile.
/// Runs once, whoever calls it first (the window closing or a signal).
fn finish(launched: &Mutex<Option<Launched>>) {
    let Some(mut l) = launched.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    eprintln!("tabscope: closing the browser");
    if let Err(e) = shut_down_child(&mut l.child, Some(&l.bridge)) {
        eprintln!("tabscope: {e:#}");
    }
    wait_bridge_gone(&l.bridge);
    if let Err(e) = forget_ids(&l.added_ids) {
        eprintln!(
            "tabscope: could not take {} out of the host manifest again: {e:#}",
            l.added_ids.join(", ")
        );
    }
    let kept = match l._temp.take() {
        Some(t) => {
            let _ = t.close();
            "removed"
        }
        None => "kept",
    };
    eprintln!("tabscope: done (profile {} {kept})", l.profile.display());
}

/// The bridge exits on EOF when the browser quits; give it a moment.
fn wait_bridge_gone(b: &Discovery) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && discovery::pid_alive(b.bridge.pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if discovery::pid_alive(b.bridge.pid) {
        eprintln!("tabscope: warning: bridge {} is still running after the browser quit", b.bridge.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_sideloads_agent_and_user_addons() {
        let tmp = tempfile::tempdir().unwrap();
        let addon = tmp.path().join("mine");
        fs::create_dir_all(&addon).unwrap();
        fs::write(
            addon.join("manifest.json"),
            r#"{"browser_specific_settings":{"gecko":{"id":"mine@example.com"}}}"#,
        )
        .unwrap();
        let profile = tmp.path().join("profile");
        let ids =
            prepare_profile(&profile, Browser::Thunderbird, std::slice::from_ref(&addon), true, &[]).unwrap();
        assert_eq!(ids, vec![("mine@example.com".to_owned(), fs::canonicalize(&addon).unwrap())]);
        let pointer = fs::read_to_string(profile.join("extensions").join(ADDON_ID)).unwrap();
        assert!(Path::new(&pointer).join("manifest.json").is_file());
        let mine = fs::read_to_string(profile.join("extensions/mine@example.com")).unwrap();
        assert_eq!(Path::new(&mine), fs::canonicalize(&addon).unwrap());
        let prefs = fs::read_to_string(profile.join("user.js")).unwrap();
        assert!(prefs.contains("user_pref(\"extensions.autoDisableScopes\", 0);"));
        assert!(prefs.contains("mail.provider.suppress_dialog_on_startup"));
        assert!(Path::new(&pointer).join("xray/parent.js").is_file());
        // Without x-ray the same profile loses it again.
        prepare_profile(&profile, Browser::Firefox, &[], false, &[]).unwrap();
        assert!(!Path::new(&pointer).join("xray").exists());
        assert!(!fs::read_to_string(profile.join("user.js")).unwrap().contains("experiments"));
        let mine = [("extensions.experiments.enabled".to_owned(), "false".to_owned())];
        prepare_profile(&profile, Browser::Firefox, &[], true, &mine).unwrap();
        let prefs = fs::read_to_string(profile.join("user.js")).unwrap();
        let (ours, theirs) = (
            prefs.find("extensions.experiments.enabled\", true").unwrap(),
            prefs.find("extensions.experiments.enabled\", false").unwrap(),
        );
        assert!(ours < theirs, "the user's pref comes last and wins");
    }

    #[test]
    fn the_agent_is_granted_page_access_and_other_grants_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let prefs = tmp.path().join("extension-preferences.json");
        fs::write(&prefs, r#"{"x@y": {"permissions": ["tabs"], "origins": ["https://a.org/*"]}}"#).unwrap();
        grant_page_access(tmp.path()).unwrap();
        grant_page_access(tmp.path()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&prefs).unwrap()).unwrap();
        assert_eq!(v[ADDON_ID], serde_json::json!({"permissions": [], "origins": ["<all_urls>"]}));
        assert_eq!(v["x@y"]["origins"], serde_json::json!(["https://a.org/*"]));
        fs::write(&prefs, "{not json").unwrap();
        let e = grant_page_access(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("extension-preferences.json is not JSON"), "{e}");
    }

    #[test]
    fn prefs_from_the_command_line_cannot_break_out_of_user_js() {
        assert_eq!(parse_pref("a.b=3").unwrap(), ("a.b".into(), "3".into()));
        assert!(parse_pref("a.b=\"x\"").is_ok() && parse_pref("a=true").is_ok());
        for bad in ["a.b", "=1", "a b=1", "a=x", "a=1); evil(", "a\");x(\"=1", "a=\"x\\ny\""] {
            assert!(parse_pref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addon_without_id_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("manifest.json"), "{}").unwrap();
        let e = addon_id(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("has no gecko id"), "{e}");
    }
}
