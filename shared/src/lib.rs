//! What every part of tabscope shares: the native-messaging framing codec,
//! the protocol, the model of windows, tabs and session values, the trace
//! format, bridge discovery and the bridge client.

pub mod addons;
pub mod change_info;
pub mod child;
pub mod client;
pub mod codec;
pub mod console;
pub mod discovery;
pub mod event;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod gecko_id;
pub mod methods;
pub mod model;
pub mod pattern;
pub mod profile;
pub mod protocol;
pub mod raw_event;
#[cfg(windows)]
pub mod registry;
pub mod tap;
pub mod terminal;
pub mod token;
pub mod trace;
#[cfg(windows)]
pub mod winsec;

/// Milliseconds since the epoch, as the browser's `Date.now()` counts.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
