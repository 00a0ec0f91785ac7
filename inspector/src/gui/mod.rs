//! The inspector window (eframe).
use std::path::PathBuf;

#[derive(Debug, Default, Clone)]
pub struct Options {
    pub bridge: Option<String>,
    pub open: Option<PathBuf>,
}

pub fn run(_opts: Options) -> anyhow::Result<()> {
    anyhow::bail!("the inspector window is being built")
}
