//! Windows only: the registry keys browsers read. A native-messaging host is
//! a key `<browser key>\NativeMessagingHosts\<name>` whose default value is
//! the manifest's path, looked up in HKEY_CURRENT_USER first, then
//! HKEY_LOCAL_MACHINE; a browser's own path is under "App Paths".

use std::io;
use std::path::{Path, PathBuf};

use winreg::RegKey;
use winreg::enums::{HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, KEY_READ};

/// Where Thunderbird and Firefox look for hosts (both read the same key).
pub const MOZILLA_HOSTS: &str = r"Software\Mozilla\NativeMessagingHosts";

/// Which hive a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hive {
    CurrentUser,
    LocalMachine,
}

impl Hive {
    fn key(self) -> RegKey {
        RegKey::predef(match self {
            Hive::CurrentUser => HKEY_CURRENT_USER,
            Hive::LocalMachine => HKEY_LOCAL_MACHINE,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Hive::CurrentUser => "HKEY_CURRENT_USER",
            Hive::LocalMachine => "HKEY_LOCAL_MACHINE",
        }
    }
}

/// A key's default value, if the key exists and holds a string.
fn default_value(hive: Hive, path: &str) -> Option<String> {
    hive.key().open_subkey_with_flags(path, KEY_READ).ok()?.get_value::<String, _>("").ok()
}

/// The manifest a browser would use for host `name` under `hosts_key`, and
/// the hive that named it (the user's wins).
pub fn host_manifest(hosts_key: &str, name: &str) -> Option<(PathBuf, Hive)> {
    let key = format!(r"{hosts_key}\{name}");
    [Hive::CurrentUser, Hive::LocalMachine]
        .into_iter()
        .find_map(|hive| default_value(hive, &key).map(|v| (PathBuf::from(v), hive)))
}

/// Every host registered under `hosts_key` in `hive`: name and manifest path.
pub fn hosts(hosts_key: &str, hive: Hive) -> Vec<(String, PathBuf)> {
    let Ok(key) = hive.key().open_subkey_with_flags(hosts_key, KEY_READ) else { return Vec::new() };
    key.enum_keys()
        .flatten()
        .filter_map(|name| {
            let value = key.open_subkey_with_flags(&name, KEY_READ).ok()?.get_value::<String, _>("").ok()?;
            Some((name, PathBuf::from(value)))
        })
        .collect()
}

/// Points the user's key for host `name` at `manifest`.
pub fn set_user_host(hosts_key: &str, name: &str, manifest: &Path) -> io::Result<()> {
    let (key, _) = Hive::CurrentUser.key().create_subkey(format!(r"{hosts_key}\{name}"))?;
    key.set_value("", &manifest.as_os_str())
}

/// Removes the user's key for host `name`; false when there was none.
pub fn remove_user_host(hosts_key: &str, name: &str) -> io::Result<bool> {
    match Hive::CurrentUser.key().delete_subkey_all(format!(r"{hosts_key}\{name}")) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Where the installer registered `exe` ("thunderbird.exe") under
/// `Software\Microsoft\Windows\CurrentVersion\App Paths`.
pub fn app_path(exe: &str) -> Option<PathBuf> {
    let key = format!(r"Software\Microsoft\Windows\CurrentVersion\App Paths\{exe}");
    [Hive::CurrentUser, Hive::LocalMachine]
        .into_iter()
        .find_map(|hive| default_value(hive, &key))
        .map(|v| PathBuf::from(v.trim_matches('"')))
}
