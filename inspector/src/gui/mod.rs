//! The inspector window: a thin egui layer over `live` (what is known of a
//! browser) and `connection` (which browsers, how reached).

pub mod addon_console;
pub mod app;
pub mod connection;
pub mod console;
pub mod frames;
pub mod live;
pub mod log;
mod log_view;
mod panels;
pub mod profile;
mod timeline;
pub mod travel;
mod tree;
mod values;

use std::path::PathBuf;

pub use app::App;

#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Show this bridge first (pid or browser name).
    pub bridge: Option<String>,
    /// Open this trace file.
    pub open: Option<PathBuf>,
    /// Where traces are kept and running taps are looked for; by default
    /// `tabscope_shared::trace::default_dir()`.
    pub traces: Option<PathBuf>,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("tabscope")
            .with_app_id("tabscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 480.0]),
        persist_window: true,
        ..Default::default()
    };
    eframe::run_native(
        "tabscope",
        native,
        Box::new(move |cc| {
            let saved = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY));
            let ctx = cc.egui_ctx.clone();
            let wake: connection::Wake = std::sync::Arc::new(move || ctx.request_repaint());
            let dir = tabscope_shared::discovery::runtime_dir_path();
            Ok(Box::new(App::new(opts, saved, dir, wake)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the inspector window: {e} (is there a display? the command line works without one: `tabscope --help`)"))
}
