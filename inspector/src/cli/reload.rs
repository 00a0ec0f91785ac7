//! `tabscope reload ID`, and reload on save: `tabscope launch … --addon
//! DIR` watches each DIR and, once its files have been quiet for a moment
//! (an editor's save is several writes), reloads that add-on through the
//! agent, as `web-ext run` does.
//! `notify` watches; the burst is gathered here, since the debouncer crates
//! either drop the kind of event (so a mere read by the browser would
//! reload, again and again) or bring an async runtime along.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use notify::{
    Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher, event::MetadataKind, event::ModifyKind,
};
use tabscope_shared::client::{Client, ClientError};
use tabscope_shared::discovery::{self, Discovery};
use tabscope_shared::terminal::escape;

/// How long a folder must be quiet before its add-on is reloaded.
pub const QUIET: Duration = Duration::from_millis(300);

/// Watching; dropping it stops.
pub struct AddonWatch {
    _watcher: RecommendedWatcher,
}

/// A change to the add-on's files: not a read (the browser reads them at
/// every reload) nor an access time.
fn is_change(e: &Event) -> bool {
    match e.kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// The paths of the next burst of changes: from the first change until
/// none came for [`QUIET`]. `None` when watching ended.
fn next_burst(rx: &Receiver<notify::Result<Event>>) -> Option<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let mut quiet_from: Option<Instant> = None;
    loop {
        let got = match quiet_from {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => rx.recv_timeout(QUIET.saturating_sub(t.elapsed())),
        };
        match got {
            Ok(Ok(e)) if is_change(&e) => {
                paths.extend(e.paths);
                quiet_from = Some(Instant::now());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("tabscope: watching the add-on folders: {e}"),
            Err(RecvTimeoutError::Timeout) => return Some(paths),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Files that change without the add-on changing: editors' swap and backup
/// files, version control.
fn is_noise(path: &Path, root: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        s.starts_with('.')
            || s.ends_with('~')
            || s.ends_with(".swp")
            || s.ends_with(".swx")
            || s.starts_with('#')
    })
}

/// The add-ons whose folders hold one of `paths`, each once, in order.
fn touched<'a>(addons: &'a [(String, PathBuf)], paths: &[PathBuf]) -> Vec<(&'a str, PathBuf)> {
    let mut out: Vec<(&str, PathBuf)> = Vec::new();
    // Name a file that is there (an editor's temporary one is gone by now).
    let (there, gone): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.iter().partition(|p| p.exists());
    for p in there.into_iter().chain(gone) {
        for (id, dir) in addons {
            if p.starts_with(dir) && !is_noise(p, dir) && !out.iter().any(|(x, _)| x == id) {
                out.push((id, p.strip_prefix(dir).unwrap_or(p).to_path_buf()));
            }
        }
    }
    out
}

/// Starts watching `addons` (id, canonical folder); reloads go to the
/// bridge `bridge`, or to the one that replaced it for the same browser.
pub fn watch(addons: Vec<(String, PathBuf)>, bridge: Discovery) -> anyhow::Result<AddonWatch> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut watcher = notify::recommended_watcher(move |e| {
        let _ = tx.send(e);
    })?;
    for (_, dir) in &addons {
        watcher.watch(dir, RecursiveMode::Recursive)?;
    }
    eprintln!(
        "tabscope: watching {} for changes (reloads on save; --no-reload turns this off)",
        addons.iter().map(|(_, d)| escape(&d.to_string_lossy()).into_owned()).collect::<Vec<_>>().join(", ")
    );
    std::thread::spawn(move || {
        let mut bridge = bridge;
        while let Some(paths) = next_burst(&rx) {
            for (id, file) in touched(&addons, &paths) {
                eprintln!(
                    "tabscope: {} changed ({}); reloading",
                    escape(id),
                    escape(&file.to_string_lossy())
                );
                match reload_via(&mut bridge, id) {
                    Ok(ms) => eprintln!("tabscope: reloaded {} in {ms:.0} ms", escape(id)),
                    Err(e) => eprintln!("tabscope: {}", escape(&e)),
                }
            }
        }
    });
    Ok(AddonWatch { _watcher: watcher })
}

/// Reloads through `bridge`; if it is gone, through its successor.
fn reload_via(bridge: &mut Discovery, id: &str) -> Result<f64, String> {
    let attempt = |b: &Discovery| -> Result<f64, ClientError> {
        let mut c = Client::connect(&b.socket)?;
        Ok(c.reload_addon(id)?.ms)
    };
    match attempt(bridge) {
        Ok(ms) => Ok(ms),
        Err(ClientError::Browser(e)) => Err(e),
        Err(first) => {
            let dir = discovery::runtime_dir_path();
            let next = discovery::list_bridges(&dir)
                .unwrap_or_default()
                .into_iter()
                .find(|d| d.bridge.pid != bridge.bridge.pid && d.same_agent(bridge))
                .ok_or_else(|| format!("cannot reach the browser's bridge to reload {id}: {first}"))?;
            *bridge = next;
            attempt(bridge).map_err(|e| e.to_string())
        }
    }
}

/// `tabscope reload ID`: reloads the add-on and says how it went, in the
/// browser's words when it failed.
pub fn reload(selector: Option<&str>, id: &str, json: bool) -> anyhow::Result<()> {
    let mut c = super::bridges::connect(selector)?;
    match c.reload_addon(id) {
        Ok(r) if json => super::bridges::print_json(&r, true),
        Ok(r) => {
            println!(
                "reloaded {}{} in {:.0} ms",
                escape(r.extension_name.as_deref().unwrap_or(&r.extension_id)),
                r.version.as_deref().map(|v| format!(" {}", escape(v))).unwrap_or_default(),
                r.ms
            );
            Ok(())
        }
        Err(ClientError::Browser(e)) => anyhow::bail!("{}", escape(&e)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_changed_add_on_is_reloaded_once_and_editor_noise_is_not() {
        let addons =
            vec![("a@x".to_owned(), PathBuf::from("/src/a")), ("b@x".to_owned(), PathBuf::from("/src/b"))];
        let paths = [
            "/src/a/background.js",
            "/src/a/lib/util.js",
            "/src/b/.git/index",
            "/src/b/.background.js.swp",
            "/src/b/background.js~",
            "/src/b/#background.js#",
            "/elsewhere/x.js",
        ]
        .map(PathBuf::from);
        let t = touched(&addons, &paths);
        assert_eq!(t, [("a@x", PathBuf::from("background.js"))]);
        let t = touched(&addons, &[PathBuf::from("/src/b/manifest.json")]);
        assert_eq!(t, [("b@x", PathBuf::from("manifest.json"))]);
    }
}
