//! The event log panel: a virtualised table (only visible rows are laid
//! out), coloured by kind, filtered by kind, tab and text; follow or pause;
//! a click selects the row's tab.

use egui::{Color32, RichText};
use egui_extras::{Column, TableBuilder};

use super::app::{App, Selection};
use super::log::{Kind, LogFilter};

/// Filtering time per frame: typing in the filter stays smooth over a
/// million entries on a slow machine too (see BENCHMARKS.md).
const FILTER_TIME: std::time::Duration = std::time::Duration::from_micros(1500);

pub fn kind_color(kind: Kind, dark: bool) -> Color32 {
    let (d, l) = match kind {
        Kind::Event => (Color32::from_rgb(140, 190, 255), Color32::from_rgb(20, 80, 170)),
        Kind::Value => (Color32::from_rgb(200, 160, 255), Color32::from_rgb(110, 50, 170)),
        Kind::Command => (Color32::from_rgb(240, 200, 110), Color32::from_rgb(150, 100, 0)),
        Kind::Reply => (Color32::from_rgb(130, 210, 140), Color32::from_rgb(20, 120, 40)),
        Kind::Error => (Color32::from_rgb(255, 120, 110), Color32::from_rgb(190, 30, 30)),
        Kind::Note => (Color32::from_gray(160), Color32::from_gray(90)),
        Kind::Activity => (Color32::from_rgb(120, 210, 210), Color32::from_rgb(0, 110, 120)),
    };
    if dark { d } else { l }
}

/// `HH:MM:SS.mmm` in local time.
pub fn clock(ms: f64) -> String {
    let secs = (ms / 1000.0).floor() as i64;
    let millis = (ms - secs as f64 * 1000.0).max(0.0) as i64;
    let offset = local_offset(secs);
    let day = (secs + offset).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}.{millis:03}", day / 3600, (day / 60) % 60, day % 60)
}

#[cfg(unix)]
fn local_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() { 0 } else { tm.tm_gmtoff }
}

#[cfg(not(unix))]
fn local_offset(_secs: i64) -> i64 {
    0
}

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    // egui keeps the size a panel's content used: fill it, or an empty log
    // at start-up would shrink the panel for good.
    ui.set_min_height(ui.available_height());
    let dark = app.prefs.dark;
    let selected_tab = match app.selection {
        Some(Selection::Tab(t)) => Some(t),
        _ => None,
    };
    let mut filter = app.prefs.log_filter.clone();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Event log").strong());
        for k in Kind::ALL {
            let mut on = !filter.hidden.contains(&k);
            if ui.checkbox(&mut on, RichText::new(k.label()).color(kind_color(k, dark))).changed() {
                if on {
                    filter.hidden.remove(&k);
                } else {
                    filter.hidden.insert(k);
                }
            }
        }
        ui.separator();
        ui.checkbox(&mut app.prefs.log_selected_only, "selected tab only");
        let l = ui.label("Log filter");
        let r = ui
            .add(egui::TextEdit::singleline(&mut filter.text).hint_text("text (Ctrl+L)").desired_width(180.0))
            .labelled_by(l.id);
        if app.focus_log_filter {
            r.request_focus();
            app.focus_log_filter = false;
        }
        let follow = if app.prefs.follow { "Pause" } else { "Follow" };
        if ui.button(follow).on_hover_text("Ctrl+P").clicked() {
            app.prefs.follow = !app.prefs.follow;
        }
        if ui.button("Clear").clicked()
            && let Some(l) = app.conns.current_mut()
        {
            l.live.log.clear();
        }
        let l = ui.label("Trace file");
        ui.add(egui::TextEdit::singleline(&mut app.prefs.trace_path).desired_width(220.0))
            .labelled_by(l.id)
            .on_hover_text("where Save writes a recording, and what Open reads when there is no file dialog");
        if ui.button("Open").on_hover_text("open this trace file").clicked() {
            let p = std::path::PathBuf::from(&app.prefs.trace_path);
            app.conns.open_trace(&p);
        }
    });
    filter.tab = if app.prefs.log_selected_only { selected_tab } else { None };
    app.prefs.log_filter = LogFilter { tab: None, ..filter.clone() };

    let Some(link) = app.conns.current.and_then(|i| app.conns.links.get_mut(i)) else { return };
    // In a trace the log follows the moment, not the newest row.
    let moment = link.trace.as_ref().map(|t| t.moment);
    let follow = app.prefs.follow && moment.is_none();
    let log = &mut link.live.log;
    log.set_filter(filter);
    let complete = log.refresh_for(FILTER_TIME);
    let total = log.len();
    let rows = log.filtered().len();
    if !complete {
        ui.ctx().request_repaint();
    }
    if log.trimmed() > 0 {
        ui.label(
            RichText::new(format!(
                "{} older entries let go to bound memory; record (Ctrl+R) to keep everything",
                log.trimmed()
            ))
            .weak(),
        );
    }
    if rows == 0 {
        let msg = match (total, complete) {
            (0, _) => "No events yet.".to_owned(),
            (_, false) => format!("filtering… {:.0}%", log.progress() * 100.0),
            _ => "No entry matches the filter.".to_owned(),
        };
        ui.label(RichText::new(msg).weak());
        return;
    }
    let mut clicked = None;
    let row_h = 18.0;
    let height = (ui.available_height() - 40.0).max(40.0);
    let mut table = TableBuilder::new(ui)
        .id_salt("log-table")
        .striped(true)
        .sense(egui::Sense::click())
        .stick_to_bottom(follow)
        .column(Column::exact(96.0))
        .column(Column::initial(230.0).at_least(80.0).resizable(true))
        .column(Column::exact(46.0))
        .column(Column::exact(56.0))
        .column(Column::remainder().clip(true))
        .min_scrolled_height(0.0)
        .max_scroll_height(height)
        .auto_shrink([false, false]);
    // Following: jump to the newest row whenever rows arrive.
    if follow && app.log_rows_seen != rows {
        table = table.scroll_to_row(rows - 1, Some(egui::Align::BOTTOM));
    }
    // The row of the record the trace's moment is at.
    let current = moment.and_then(|k| k.checked_sub(1)).and_then(|at| log.row_of_record(at as u32));
    // A trace just shown starts at its moment too.
    if app.log_jump || (moment.is_some() && app.log_rows_seen != rows) {
        app.log_jump = false;
        if let Some(r) = current {
            table = table.scroll_to_row(r, Some(egui::Align::Center));
        }
    }
    let mut travel = None;
    app.log_rows_seen = rows;
    table
        .header(18.0, |mut h| {
            for t in ["time", "event", "window", "tab", "summary"] {
                h.col(|ui| {
                    ui.label(RichText::new(t).weak());
                });
            }
        })
        .body(|body| {
            body.rows(row_h, rows, |mut row| {
                let i = row.index();
                row.set_selected(current == Some(i));
                let e = log.row(i);
                let color = kind_color(e.kind, dark);
                row.col(|ui| {
                    ui.label(RichText::new(clock(e.time)).monospace().weak());
                });
                row.col(|ui| {
                    ui.add(
                        egui::Label::new(RichText::new(e.name.as_ref()).color(color).monospace()).truncate(),
                    );
                });
                row.col(|ui| {
                    ui.label(e.window.map(|w| w.to_string()).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(e.tab.map(|t| t.to_string()).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.add(egui::Label::new(RichText::new(&e.summary).monospace()).truncate());
                });
                let r = row.response();
                if r.clicked() {
                    clicked = e.tab.map(Selection::Tab).or(e.window.map(Selection::Window));
                    // In a trace: travel to just after this record.
                    travel = e.at.map(|at| at as usize + 1);
                }
                // The whole entry, built only while hovered.
                r.on_hover_ui(|ui| {
                    ui.label(
                        RichText::new(format!("{}  {}", clock(e.time), e.name)).monospace().color(color),
                    );
                    ui.add(egui::Label::new(RichText::new(&e.summary).monospace()).wrap());
                });
            });
        });
    let status = if complete {
        format!("{rows} of {total} entries")
    } else {
        format!("{rows} of {total} entries so far, filtering… {:.0}%", log.progress() * 100.0)
    };
    ui.label(RichText::new(status).weak().small());
    if clicked.is_some() {
        app.selection = clicked;
    }
    if let (Some(k), Some(view)) = (travel, link.trace.as_mut())
        && let Err(e) = view.go(k, &mut link.live)
    {
        app.say(format!("cannot rebuild that moment: {e}"), true);
    }
}
