//! `tabscope tap`: watching any native-messaging host's traffic. The host
//! manifest is pointed at a small script that starts `tabscope tap-run`
//! ([`relay`]), which starts the real host and passes every byte through
//! unchanged while recording the frames as a trace; [`manifests`] finds,
//! taps and restores the manifests where each browser reads them; [`live`]
//! lists the taps running and follows their frames as they are written.

pub mod live;
pub mod manifests;
pub mod relay;
