//! Host manifest installation and the agent's `.xpi`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tabscope_shared::protocol::{ADDON_ID, HOST_NAME};

use super::{ADDON_FILES, BrowserChoice, XRAY_FILES};

/// A native-messaging host manifest (Mozilla's format).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct HostManifest {
    pub name: String,
    pub description: String,
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub allowed_extensions: Vec<String>,
}

fn home() -> anyhow::Result<PathBuf> {
    directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()).context("cannot find the home directory")
}

/// Where each browser reads per-user host manifests on this OS.
pub fn manifest_locations(choice: BrowserChoice) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let home = home()?;
    let file = format!("{HOST_NAME}.json");
    let mut out = Vec::new();
    let want = |b: BrowserChoice| choice == BrowserChoice::All || choice == b;
    if cfg!(target_os = "macos") {
        if want(BrowserChoice::Thunderbird) {
            out.push(("Thunderbird", home.join("Library/Mozilla/NativeMessagingHosts").join(&file)));
        }
        if want(BrowserChoice::Firefox) {
            out.push((
                "Firefox",
                home.join("Library/Application Support/Mozilla/NativeMessagingHosts").join(&file),
            ));
        }
    } else if cfg!(windows) {
        // The registry points at this file (HKCU\Software\Mozilla\NativeMessagingHosts\tabscope_bridge).
        let base = directories::BaseDirs::new().context("no local data directory")?;
        out.push(("Thunderbird and Firefox", base.data_local_dir().join("tabscope").join(&file)));
    } else {
        // Linux and the BSDs: one place for both browsers.
        out.push(("Thunderbird and Firefox", home.join(".mozilla/native-messaging-hosts").join(&file)));
    }
    Ok(out)
}

/// The bridge binary that ships next to this program.
pub fn default_bridge_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let name = if cfg!(windows) { "tabscope-bridge.exe" } else { "tabscope-bridge" };
    let path = exe.parent().context("program has no folder")?.join(name);
    if !path.exists() {
        bail!(
            "{} not found next to tabscope; build it with `cargo build --release -p tabscope-bridge` or pass --bridge-path",
            path.display()
        );
    }
    Ok(dunce::canonicalize(&path).unwrap_or(path))
}

pub fn manifest_for(bridge: &Path, extra_ids: &[String], previous: Option<&HostManifest>) -> HostManifest {
    let mut ids = vec![ADDON_ID.to_owned()];
    // Keep ids allowed by an earlier install (add-ons that embed the agent).
    for id in previous.iter().flat_map(|p| p.allowed_extensions.iter()).chain(extra_ids) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    HostManifest {
        name: HOST_NAME.into(),
        description: "tabscope bridge: mirrors windows, tabs and session values for the tabscope inspector"
            .into(),
        path: bridge.to_string_lossy().into_owned(),
        kind: "stdio".into(),
        allowed_extensions: ids,
    }
}

pub fn read_manifest(path: &Path) -> Option<HostManifest> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Replaces the manifest atomically: a browser starting meanwhile reads the
/// old one or the new one, never half of one.
pub fn write_manifest(path: &Path, m: &HostManifest) -> anyhow::Result<()> {
    fs::create_dir_all(path.parent().expect("manifest path has a folder"))?;
    let mut text = serde_json::to_vec_pretty(m)?;
    text.push(b'\n');
    tabscope_shared::files::write_atomic(path, &text, 0o644)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn install(choice: BrowserChoice, extra_ids: &[String], bridge: Option<PathBuf>) -> anyhow::Result<()> {
    let bridge = match bridge {
        Some(p) => dunce::canonicalize(&p).with_context(|| format!("bridge {}", p.display()))?,
        None => default_bridge_path()?,
    };
    for id in extra_ids {
        tabscope_shared::gecko_id::check(id).map_err(anyhow::Error::msg)?;
    }
    for (browser, path) in manifest_locations(choice)? {
        let m = manifest_for(&bridge, extra_ids, read_manifest(&path).as_ref());
        write_manifest(&path, &m)?;
        println!("{browser}: wrote {}", path.display());
        println!("  bridge: {}", m.path);
        println!("  allowed add-ons: {}", m.allowed_extensions.join(", "));
        #[cfg(windows)]
        register_windows(&path)?;
    }
    println!(
        "Next: install the agent add-on (`tabscope package`, then Install Add-on From File), or run `tabscope launch thunderbird`."
    );
    Ok(())
}

/// Windows reads no folder: the user's registry key names the manifest.
#[cfg(windows)]
fn register_windows(path: &Path) -> anyhow::Result<()> {
    use tabscope_shared::registry;
    registry::set_user_host(registry::MOZILLA_HOSTS, HOST_NAME, path)
        .with_context(|| format!(r"writing HKEY_CURRENT_USER\{}\{HOST_NAME}", registry::MOZILLA_HOSTS))?;
    println!(r"  registered: HKEY_CURRENT_USER\{}\{HOST_NAME}", registry::MOZILLA_HOSTS);
    Ok(())
}

pub fn uninstall(choice: BrowserChoice) -> anyhow::Result<()> {
    for (browser, path) in manifest_locations(choice)? {
        match fs::remove_file(&path) {
            Ok(()) => println!("{browser}: removed {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("{browser}: nothing at {}", path.display())
            }
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    #[cfg(windows)]
    {
        use tabscope_shared::registry;
        let key = format!(r"HKEY_CURRENT_USER\{}\{HOST_NAME}", registry::MOZILLA_HOSTS);
        if registry::remove_user_host(registry::MOZILLA_HOSTS, HOST_NAME)
            .with_context(|| format!("removing {key}"))?
        {
            println!("removed {key}");
        } else {
            println!("nothing at {key}");
        }
    }
    Ok(())
}

/// The agent's files; with `xray`, also the experiment and its manifest entry.
pub fn agent_files(xray: bool) -> Vec<(&'static str, String)> {
    let mut files: Vec<(&str, String)> = ADDON_FILES.iter().map(|(n, t)| (*n, (*t).to_owned())).collect();
    if xray {
        let manifest =
            &mut files.iter_mut().find(|(n, _)| *n == "manifest.json").expect("the agent has a manifest").1;
        let mut m: serde_json::Value = serde_json::from_str(manifest).expect("the agent's manifest is JSON");
        m["name"] = "tabscope agent (x-ray)".into();
        m["experiment_apis"] = serde_json::json!({
            "tabscopeXray": {
                "schema": "xray/schema.json",
                "parent": {
                    "scopes": ["addon_parent"],
                    "paths": [["tabscopeXray"]],
                    "script": "xray/parent.js",
                    // Loaded at browser start, before most add-ons: their
                    // activity is seen from their first call.
                    "events": ["startup"]
                }
            }
        });
        *manifest = serde_json::to_string_pretty(&m).expect("JSON");
        files.extend(XRAY_FILES.iter().map(|(n, t)| (*n, (*t).to_owned())));
    }
    files
}

/// Zips the agent with manifest.json at the archive's root.
pub fn write_xpi(out: &Path, xray: bool) -> anyhow::Result<()> {
    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in agent_files(xray) {
        zip.start_file(name, opts)?;
        zip.write_all(text.as_bytes())?;
    }
    zip.finish()?;
    Ok(())
}

/// Writes the agent's files unpacked into `dir` (for sideloading by path).
/// Writes the agent's files into `dir`; returns whether anything changed.
/// Unchanged files are not touched: Gecko treats a sideloaded add-on whose
/// folder changed as updated and restarts it during start-up, which drops
/// its native port once for nothing.
pub fn write_addon_dir(dir: &Path, xray: bool) -> anyhow::Result<bool> {
    let files = agent_files(xray);
    let mut changed = false;
    // A profile kept from a run with x-ray must not keep it when run without.
    if !xray && dir.join("xray").exists() {
        fs::remove_dir_all(dir.join("xray"))?;
        changed = true;
    }
    for (name, text) in &files {
        let path = dir.join(name);
        if fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        fs::create_dir_all(path.parent().unwrap_or(dir))?;
        fs::write(path, text)?;
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_folder_is_rewritten_only_when_its_files_change() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("agent");
        assert!(write_addon_dir(&dir, true).unwrap(), "first write");
        let stamp = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();
        let before = (stamp(&dir), stamp(&dir.join("manifest.json")));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!write_addon_dir(&dir, true).unwrap(), "nothing changed");
        assert_eq!((stamp(&dir), stamp(&dir.join("manifest.json"))), before, "not touched");
        assert!(write_addon_dir(&dir, false).unwrap(), "x-ray taken out");
        assert!(!dir.join("xray").exists());
        assert!(!write_addon_dir(&dir, false).unwrap());
    }

    #[test]
    fn reinstall_keeps_embedding_add_ons() {
        let first = manifest_for(Path::new("/opt/tabscope-bridge"), &["my-addon@example.com".into()], None);
        assert_eq!(first.allowed_extensions, vec![ADDON_ID.to_owned(), "my-addon@example.com".into()]);
        let again = manifest_for(Path::new("/new/tabscope-bridge"), &[], Some(&first));
        assert_eq!(again.allowed_extensions, first.allowed_extensions);
        assert_eq!(again.path, "/new/tabscope-bridge");
        assert_eq!(again.name, "tabscope_bridge");
    }

    #[test]
    fn the_templates_in_manifests_match_what_install_writes() {
        for (text, path) in [
            (include_str!("../../../manifests/tabscope_bridge.json"), "/ABSOLUTE/PATH/TO/tabscope-bridge"),
            (
                include_str!("../../../manifests/tabscope_bridge.windows.json"),
                "C:\\ABSOLUTE\\PATH\\TO\\tabscope-bridge.exe",
            ),
        ] {
            let template: HostManifest = serde_json::from_str(text).unwrap();
            assert_eq!(template, manifest_for(Path::new(path), &[], None));
        }
    }

    #[test]
    fn xpi_has_the_manifest_at_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.xpi");
        for xray in [false, true] {
            write_xpi(&out, xray).unwrap();
            let mut z = zip::ZipArchive::new(fs::File::open(&out).unwrap()).unwrap();
            let manifest: serde_json::Value =
                serde_json::from_reader(z.by_name("manifest.json").unwrap()).unwrap();
            assert_eq!(manifest["browser_specific_settings"]["gecko"]["id"], ADDON_ID);
            assert!(z.by_name("tabscope-agent.js").is_ok());
            // x-ray only where chosen: the experiment and its files together.
            let api = &manifest["experiment_apis"]["tabscopeXray"];
            assert_eq!(api.is_object(), xray);
            assert_eq!(z.by_name("xray/parent.js").is_ok(), xray);
            if xray {
                assert_eq!(api["parent"]["script"], "xray/parent.js");
                assert!(z.by_name("xray/schema.json").is_ok());
            }
        }
    }
}
