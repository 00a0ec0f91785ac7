//! Host manifests: where each browser reads them (per user and system
//! wide), which hosts are installed, and tapping: the manifest's `path`
//! pointed at a wrapper that runs the tap, the original kept byte for byte
//! so that untapping restores it exactly.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::files;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Browser {
    Firefox,
    Thunderbird,
    Chrome,
    Chromium,
    Edge,
}

impl Browser {
    pub const ALL: [Browser; 5] =
        [Browser::Firefox, Browser::Thunderbird, Browser::Chrome, Browser::Chromium, Browser::Edge];

    pub fn name(self) -> &'static str {
        match self {
            Browser::Firefox => "firefox",
            Browser::Thunderbird => "thunderbird",
            Browser::Chrome => "chrome",
            Browser::Chromium => "chromium",
            Browser::Edge => "edge",
        }
    }

    /// Where this browser reads host manifests: the user's folder first
    /// (it wins over the system's), then system folders.
    pub fn manifest_dirs(self, home: &Path) -> Vec<(PathBuf, bool)> {
        let user = |p: &str| (home.join(p), true);
        let system = |p: &str| (PathBuf::from(p), false);
        if cfg!(target_os = "macos") {
            match self {
                Browser::Firefox => vec![
                    user("Library/Application Support/Mozilla/NativeMessagingHosts"),
                    system("/Library/Application Support/Mozilla/NativeMessagingHosts"),
                ],
                Browser::Thunderbird => {
                    vec![
                        user("Library/Mozilla/NativeMessagingHosts"),
                        system("/Library/Mozilla/NativeMessagingHosts"),
                    ]
                }
                Browser::Chrome => vec![
                    user("Library/Application Support/Google/Chrome/NativeMessagingHosts"),
                    system("/Library/Google/Chrome/NativeMessagingHosts"),
                ],
                Browser::Chromium => vec![
                    user("Library/Application Support/Chromium/NativeMessagingHosts"),
                    system("/Library/Application Support/Chromium/NativeMessagingHosts"),
                ],
                Browser::Edge => {
                    vec![user("Library/Application Support/Microsoft Edge/NativeMessagingHosts")]
                }
            }
        } else {
            // Linux and the BSDs; Thunderbird reads Mozilla's folders too.
            match self {
                Browser::Firefox | Browser::Thunderbird => vec![
                    user(".mozilla/native-messaging-hosts"),
                    system("/usr/lib/mozilla/native-messaging-hosts"),
                    system("/usr/lib64/mozilla/native-messaging-hosts"),
                ],
                Browser::Chrome => vec![
                    user(".config/google-chrome/NativeMessagingHosts"),
                    system("/etc/opt/chrome/native-messaging-hosts"),
                ],
                Browser::Chromium => {
                    vec![
                        user(".config/chromium/NativeMessagingHosts"),
                        system("/etc/chromium/native-messaging-hosts"),
                    ]
                }
                Browser::Edge => vec![
                    user(".config/microsoft-edge/NativeMessagingHosts"),
                    system("/etc/opt/edge/native-messaging-hosts"),
                ],
            }
        }
    }

    /// Windows: the registry key under which this browser looks up hosts
    /// (HKEY_CURRENT_USER first, then HKEY_LOCAL_MACHINE).
    pub fn hosts_key(self) -> &'static str {
        match self {
            Browser::Firefox | Browser::Thunderbird => r"Software\Mozilla\NativeMessagingHosts",
            Browser::Chrome => r"Software\Google\Chrome\NativeMessagingHosts",
            Browser::Chromium => r"Software\Chromium\NativeMessagingHosts",
            Browser::Edge => r"Software\Microsoft\Edge\NativeMessagingHosts",
        }
    }

    /// Every manifest this browser would read, in the order it looks:
    /// (host name, manifest, whether it is the user's).
    #[cfg(not(windows))]
    fn manifests(self, home: &Path) -> Vec<(String, PathBuf, bool)> {
        let mut out = Vec::new();
        for (dir, user_level) in self.manifest_dirs(home) {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            for manifest in found {
                if let Some(name) = manifest.file_stem().map(|s| s.to_string_lossy().into_owned()) {
                    out.push((name, manifest, user_level));
                }
            }
        }
        out
    }

    /// Windows names each manifest in the registry, not by a folder.
    #[cfg(windows)]
    fn manifests(self, _home: &Path) -> Vec<(String, PathBuf, bool)> {
        use crate::registry::{Hive, hosts};
        let mut out = Vec::new();
        for (hive, user_level) in [(Hive::CurrentUser, true), (Hive::LocalMachine, false)] {
            let mut found = hosts(self.hosts_key(), hive);
            found.sort();
            out.extend(found.into_iter().map(|(name, manifest)| (name, manifest, user_level)));
        }
        out
    }
}

/// How a tapped manifest starts the tap: `<exe> tap-run --name NAME --host
/// PROGRAM --traces DIR -- ARGS…`.
pub struct TapRun {
    pub exe: PathBuf,
    pub traces: PathBuf,
}

impl TapRun {
    /// The wrapper the manifest's `path` names: a shell script, or on
    /// Windows a batch file (browsers run those through cmd.exe). Either
    /// passes the browser's arguments on and prints nothing itself.
    fn wrapper(&self, name: &str, program: &Path, batch: bool) -> (String, String) {
        let (exe, program, traces) =
            (self.exe.to_string_lossy(), program.to_string_lossy(), self.traces.to_string_lossy());
        if batch {
            // In a batch file % starts a variable, even inside quotes.
            let q = |s: &str| format!("\"{}\"", s.replace('%', "%%"));
            let text = format!(
                "@echo off\r\nrem tabscope tap of the native-messaging host {name}; `tabscope untap {name}` restores it.\r\n\
                 {} tap-run --name {name} --host {} --traces {} -- %*\r\n",
                q(&exe),
                q(&program),
                q(&traces)
            );
            ("cmd".into(), text)
        } else {
            let text = format!(
                "#!/bin/sh\n# tabscope tap of the native-messaging host {name}; `tabscope untap {name}` restores it.\n\
                 exec {} tap-run --name {} --host {} --traces {} -- \"$@\"\n",
                sh_quote(&exe),
                sh_quote(name),
                sh_quote(&program),
                sh_quote(&traces)
            );
            ("sh".into(), text)
        }
    }
}

/// A host name as browsers allow it (letters, digits, `_` and `.`): only
/// such a name becomes a file name.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.starts_with('.')
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a native-messaging host name (letters, digits, _ and .)"))
    }
}

/// One host manifest found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub name: String,
    pub browsers: Vec<Browser>,
    pub manifest: PathBuf,
    pub user_level: bool,
    /// The program the manifest names (after a tap: the original one).
    pub program: Option<PathBuf>,
    pub tapped: bool,
}

/// What is kept of a tapped manifest.
#[derive(Debug, Serialize, Deserialize)]
struct TapState {
    manifest: PathBuf,
    /// The real host program.
    program: PathBuf,
    /// The manifest's original bytes, or none when the tap made it (a copy
    /// in the user's folder that shadows a system-wide one).
    original: Option<String>,
    wrapper: PathBuf,
    /// Windows: the user's registry key the tap repointed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registry: Option<RegistryTap>,
}

/// The registry value a Windows tap replaced: the user's own (restored on
/// untap) or none (the key is removed, and the machine's shows again).
#[derive(Debug, Serialize, Deserialize)]
struct RegistryTap {
    key: String,
    previous: Option<PathBuf>,
}

/// Where taps keep their state.
pub struct Taps {
    pub home: PathBuf,
    pub dir: PathBuf,
}

impl Taps {
    fn state_path(&self, manifest: &Path) -> PathBuf {
        let key: String = manifest
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
            .collect();
        self.dir.join(format!("{key}.tap.json"))
    }

    fn state(&self, manifest: &Path) -> Option<TapState> {
        serde_json::from_slice(&fs::read(self.state_path(manifest)).ok()?).ok()
    }

    /// Whether `manifest` is tapped (its `path` is the tap's, not the host's).
    pub fn is_tapped(&self, manifest: &Path) -> bool {
        self.state(manifest).is_some()
    }

    /// Every host manifest the browsers would read, user-level first.
    pub fn hosts(&self, browsers: &[Browser]) -> Vec<Host> {
        let mut out: Vec<Host> = Vec::new();
        for &b in browsers {
            for (name, manifest, user_level) in b.manifests(&self.home) {
                if let Some(h) = out.iter_mut().find(|h| h.manifest == manifest) {
                    if !h.browsers.contains(&b) {
                        h.browsers.push(b);
                    }
                    continue;
                }
                let state = self.state(&manifest);
                let program = match &state {
                    Some(s) => Some(s.program.clone()),
                    None => program_of(&manifest).ok(),
                };
                out.push(Host {
                    name,
                    browsers: vec![b],
                    manifest,
                    user_level,
                    program,
                    tapped: state.is_some(),
                });
            }
        }
        out
    }

    /// Taps `name` for `browsers`: the manifest each reads first is pointed
    /// at a wrapper that runs the tap, then the real host. Returns the
    /// manifests changed (on Windows: the tap's copy the registry now names).
    pub fn tap(&self, name: &str, browsers: &[Browser], run: &TapRun) -> Result<Vec<PathBuf>, String> {
        check_name(name)?;
        let all = self.hosts(browsers);
        let mut done = Vec::new();
        // Browsers that share a manifest (Firefox and Thunderbird) tap it once.
        let mut seen: Vec<&Path> = Vec::new();
        for &b in browsers {
            // The one this browser uses: the first it would read.
            let Some(host) = all.iter().find(|h| h.name == name && h.browsers.contains(&b)) else { continue };
            if host.tapped || seen.contains(&host.manifest.as_path()) {
                continue;
            }
            seen.push(&host.manifest);
            let program =
                host.program.clone().ok_or_else(|| format!("{}: no \"path\"", host.manifest.display()))?;
            crate::discovery::ensure_private_dir(&self.dir)
                .map_err(|e| format!("{}: {e}", self.dir.display()))?;
            let (ext, script) = run.wrapper(name, &program, cfg!(windows));
            let wrapper = self.dir.join(format!("{name}.{}.tap.{ext}", b.name()));
            files::write_atomic(&wrapper, script.as_bytes(), 0o700).map_err(|e| e.to_string())?;
            let source = fs::read(&host.manifest).map_err(|e| format!("{}: {e}", host.manifest.display()))?;
            let mut v: Value = serde_json::from_slice(&source)
                .map_err(|e| format!("{} is not JSON: {e}", host.manifest.display()))?;
            v["path"] = Value::String(wrapper.to_string_lossy().into_owned());
            let text = serde_json::to_vec_pretty(&v).expect("json");
            let (manifest, original, registry) = self.place(name, b, host, &source)?;
            let state = TapState { manifest: manifest.clone(), program, original, wrapper, registry };
            files::write_atomic(
                &self.state_path(&manifest),
                &serde_json::to_vec_pretty(&state).expect("json"),
                0o600,
            )
            .map_err(|e| e.to_string())?;
            if let Some(parent) = manifest.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            files::write_atomic(&manifest, &text, 0o644).map_err(|e| e.to_string())?;
            #[cfg(windows)]
            crate::registry::set_user_host(b.hosts_key(), name, &manifest).map_err(|e| e.to_string())?;
            done.push(manifest);
        }
        if done.is_empty() {
            let found: Vec<String> = all.iter().map(|h| h.name.clone()).collect();
            if all.iter().any(|h| h.name == name && h.tapped) {
                return Err(format!("{name} is already tapped"));
            }
            return Err(format!(
                "no host manifest {name} for {}; hosts found: {}",
                browsers.iter().map(|b| b.name()).collect::<Vec<_>>().join(", "),
                if found.is_empty() { "none".into() } else { found.join(", ") }
            ));
        }
        Ok(done)
    }

    /// Where the tapped manifest goes, what to restore, and (Windows) the
    /// registry value to put back.
    #[cfg(not(windows))]
    fn place(
        &self,
        name: &str,
        b: Browser,
        host: &Host,
        source: &[u8],
    ) -> Result<(PathBuf, Option<String>, Option<RegistryTap>), String> {
        if host.user_level {
            let original = String::from_utf8(source.to_vec())
                .map_err(|_| format!("{} is not UTF-8", host.manifest.display()))?;
            Ok((host.manifest.clone(), Some(original), None))
        } else {
            // A system-wide manifest: a copy in the user's folder shadows it.
            let (dir, _) = b.manifest_dirs(&self.home).into_iter().next().expect("a user folder");
            Ok((dir.join(format!("{name}.json")), None, None))
        }
    }

    /// Windows: the user's manifest is left alone (it may sit where only
    /// an installer can write); a tapped copy in the taps folder is named
    /// by the user's registry key instead, which wins over the machine's.
    #[cfg(windows)]
    fn place(
        &self,
        name: &str,
        b: Browser,
        _host: &Host,
        _source: &[u8],
    ) -> Result<(PathBuf, Option<String>, Option<RegistryTap>), String> {
        use crate::registry::{Hive, host_manifest};
        let previous = match host_manifest(b.hosts_key(), name) {
            Some((path, Hive::CurrentUser)) => Some(path),
            _ => None,
        };
        let copy = self.dir.join(format!("{name}.{}.tapped.json", b.name()));
        Ok((copy, None, Some(RegistryTap { key: b.hosts_key().into(), previous })))
    }

    /// Restores every tapped manifest of `name`, byte for byte (or removes
    /// the copy the tap made, and on Windows puts the registry value back).
    /// Returns the manifests restored.
    pub fn untap(&self, name: &str) -> Result<Vec<PathBuf>, String> {
        check_name(name)?;
        let mut done = Vec::new();
        for host in self.hosts(&Browser::ALL).into_iter().filter(|h| h.name == name && h.tapped) {
            let Some(state) = self.state(&host.manifest) else { continue };
            #[cfg(windows)]
            if let Some(reg) = &state.registry {
                use crate::registry;
                match &reg.previous {
                    Some(p) => registry::set_user_host(&reg.key, name, p),
                    None => registry::remove_user_host(&reg.key, name).map(|_| ()),
                }
                .map_err(|e| e.to_string())?;
            }
            match &state.original {
                Some(bytes) => {
                    files::write_atomic(&state.manifest, bytes.as_bytes(), mode_of(&state.manifest))
                        .map_err(|e| e.to_string())?
                }
                None => fs::remove_file(&state.manifest).map_err(|e| e.to_string())?,
            }
            let _ = fs::remove_file(&state.wrapper);
            let _ = fs::remove_file(self.state_path(&state.manifest));
            done.push(match state.registry {
                Some(reg) => reg.previous.unwrap_or(state.manifest),
                None => state.manifest,
            });
        }
        if done.is_empty() {
            return Err(format!("{name} is not tapped"));
        }
        Ok(done)
    }
}

fn mode_of(#[allow(unused)] p: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).map_or(0o644, |m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    0o644
}

/// The program a manifest names, made absolute against its folder.
fn program_of(manifest: &Path) -> Result<PathBuf, String> {
    let v: Value =
        serde_json::from_slice(&fs::read(manifest).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let path = v.get("path").and_then(Value::as_str).ok_or("no \"path\"")?;
    let p = PathBuf::from(path);
    Ok(if p.is_absolute() { p } else { manifest.parent().unwrap_or(Path::new(".")).join(p) })
}

/// Quotes a path for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn tap_points_the_manifest_at_the_wrapper_and_untap_restores_every_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let dir = home.join(".mozilla/native-messaging-hosts");
        fs::create_dir_all(&dir).unwrap();
        let original = "{\n  \"name\": \"echo_host\",  \"path\": \"/opt/echo\", \"type\": \"stdio\",\n \"allowed_extensions\": [\"x@y\"] }\n";
        fs::write(dir.join("echo_host.json"), original).unwrap();
        let taps = Taps { home: home.clone(), dir: tmp.path().join("taps") };
        let cmd = TapRun { exe: "/bin/tabscope".into(), traces: "/traces".into() };
        let e = taps.tap("nope", &[Browser::Firefox], &cmd).unwrap_err();
        assert!(e.contains("hosts found: echo_host"), "{e}");
        assert!(
            taps.tap("../x", &[Browser::Firefox], &cmd)
                .unwrap_err()
                .contains("not a native-messaging host name")
        );
        let changed = taps.tap("echo_host", &[Browser::Firefox, Browser::Thunderbird], &cmd).unwrap();
        assert_eq!(changed, [dir.join("echo_host.json")], "one file for both Mozilla browsers");
        let v: Value = serde_json::from_slice(&fs::read(dir.join("echo_host.json")).unwrap()).unwrap();
        let wrapper = PathBuf::from(v["path"].as_str().unwrap());
        assert!(fs::read_to_string(&wrapper).unwrap().contains(
            "exec '/bin/tabscope' tap-run --name 'echo_host' --host '/opt/echo' --traces '/traces' -- \"$@\""
        ));
        assert_eq!(v["allowed_extensions"][0], "x@y", "everything else kept");
        let listed = taps.hosts(&[Browser::Firefox]);
        assert!(listed[0].tapped && listed[0].program.as_deref() == Some(Path::new("/opt/echo")));
        assert!(taps.tap("echo_host", &[Browser::Firefox], &cmd).unwrap_err().contains("already tapped"));
        taps.untap("echo_host").unwrap();
        assert_eq!(fs::read_to_string(dir.join("echo_host.json")).unwrap(), original, "byte for byte");
        assert!(!wrapper.exists());
        assert!(taps.untap("echo_host").unwrap_err().contains("not tapped"));
    }

    #[test]
    fn the_windows_wrapper_is_a_quiet_batch_file_that_keeps_percent_signs() {
        let run =
            TapRun { exe: r"C:\Program Files\tabscope\tabscope.exe".into(), traces: r"C:\t\100%".into() };
        let (ext, text) = run.wrapper("echo_host", Path::new(r"C:\hosts\echo.exe"), true);
        assert_eq!(ext, "cmd");
        assert!(text.starts_with("@echo off\r\n"), "nothing echoed onto the browser's stdout: {text}");
        assert!(text.ends_with(
            "\"C:\\Program Files\\tabscope\\tabscope.exe\" tap-run --name echo_host --host \"C:\\hosts\\echo.exe\" \
             --traces \"C:\\t\\100%%\" -- %*\r\n"
        ), "{text}");
    }
}
