//! tabscope's inspector: the egui app (`gui`) over a data layer that knows
//! nothing of egui (`gui::live`, `gui::log`), and the command line (`cli`).

pub mod cli;
pub mod gui;
