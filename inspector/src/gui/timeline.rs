//! The timeline of an opened trace: a lane per window and tab, a mark per
//! record, zoom (Ctrl+wheel) and pan (drag), a click travels to that moment.
//! Marks are found by binary search per pixel column, so a million events
//! cost what is on screen, not what is in the file.

use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, vec2};
use tabscope_shared::trace::{Lane, LaneKey, MarkKind, TraceIndex};

use super::app::{App, Selection};
use super::log::Kind;
use super::log_view::kind_color;
use super::travel::TraceView;

const LANE_H: f32 = 18.0;
const LABEL_W: f32 = 190.0;

fn mark_kind(k: MarkKind) -> Kind {
    match k {
        MarkKind::Snapshot | MarkKind::Log => Kind::Note,
        MarkKind::Event => Kind::Event,
        MarkKind::Value => Kind::Value,
        MarkKind::Command => Kind::Command,
        MarkKind::Reply => Kind::Reply,
        MarkKind::Error => Kind::Error,
        MarkKind::Activity => Kind::Activity,
    }
}

/// What the user asked for this frame.
#[derive(Default)]
struct Wish {
    go: Option<usize>,
    select: Option<Selection>,
}

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    ui.set_min_height(ui.available_height());
    let dark = app.prefs.dark;
    let Some(link) = app.conns.current_mut() else { return };
    let Some(view) = &mut link.trace else { return };
    let mut wish = Wish::default();
    toolbar(ui, view, &mut wish);
    lanes(ui, view, dark, &mut wish);
    if let Some(k) = wish.go {
        if let Err(e) = view.go(k, &mut link.live) {
            app.say(format!("cannot rebuild that moment: {e}"), true);
        }
        app.log_jump = true;
    }
    if wish.select.is_some() {
        app.selection = wish.select;
    }
}

fn toolbar(ui: &mut egui::Ui, view: &mut TraceView, wish: &mut Wish) {
    let n = view.index.len();
    ui.horizontal(|ui| {
        ui.label(RichText::new("Timeline").strong());
        let t = view.time(view.moment);
        ui.label(
            RichText::new(format!("moment {} of {n}  +{:.6} s", view.moment, view.seconds(t))).monospace(),
        )
        .on_hover_text("the state shown is the one after this many records");
        let step = |ui: &mut egui::Ui, label: &str, tip: &str, to: usize, wish: &mut Wish| {
            if ui.small_button(label).on_hover_text(tip).clicked() {
                wish.go = Some(to);
            }
        };
        step(ui, "|<", "the start (Home)", 1.min(n), wish);
        step(ui, "<", "one record back (Left)", view.moment.saturating_sub(1), wish);
        step(ui, ">", "one record on (Right)", (view.moment + 1).min(n), wish);
        step(ui, ">|", "the end (End)", n, wish);
        if ui.small_button("Fit").on_hover_text("show the whole trace").clicked() {
            view.fit();
        }
        ui.separator();
        match view.pinned {
            Some(p) => {
                ui.label(RichText::new(format!("comparing with moment {p}")).color(pin_color()));
                if ui.small_button("Unpin").clicked() {
                    view.pinned = None;
                }
            }
            None => {
                if ui
                    .small_button("Pin to compare")
                    .on_hover_text("remember this moment; then travel and see what changed (P)")
                    .clicked()
                {
                    view.pinned = Some(view.moment);
                }
            }
        }
    });
}

fn pin_color() -> Color32 {
    Color32::from_rgb(255, 170, 60)
}

fn lanes(ui: &mut egui::Ui, view: &mut TraceView, dark: bool, wish: &mut Wish) {
    let index = view.index.clone();
    let rows = index.lanes.len();
    let (t0, t1) = view.span;
    let avail = ui.available_width();
    let plot_w = (avail - LABEL_W).max(50.0);
    // Time axis and the interaction surface span the whole height.
    let axis = ui.allocate_exact_size(vec2(avail, 16.0), Sense::hover()).0;
    let x_of = |t: f64, left: f32| left + ((t - t0) / (t1 - t0)) as f32 * plot_w;
    draw_axis(ui, axis, view, plot_w);
    let height = ui.available_height().max(LANE_H * 2.0);
    egui::ScrollArea::vertical()
        .id_salt("timeline-lanes")
        .max_height(height)
        .auto_shrink([false, false])
        .show_rows(ui, LANE_H, rows, |ui, range| {
            for i in range {
                let lane = &index.lanes[i];
                let (row, resp) = ui.allocate_exact_size(vec2(avail, LANE_H), Sense::click_and_drag());
                let plot = Rect::from_min_max(Pos2::new(row.left() + LABEL_W, row.top()), row.max);
                let painter = ui.painter_at(row);
                if i % 2 == 1 {
                    painter.rect_filled(row, 0.0, ui.visuals().faint_bg_color);
                }
                let indent = if matches!(lane.key, LaneKey::Tab(_)) { 14.0 } else { 2.0 };
                painter.text(
                    Pos2::new(row.left() + indent, row.center().y),
                    egui::Align2::LEFT_CENTER,
                    truncate(&lane.label, 26),
                    egui::FontId::proportional(12.0),
                    ui.visuals().text_color(),
                );
                draw_marks(&painter, &index, lane, plot, (t0, t1), dark);
                // Where the moment and the pin are.
                let now_x = x_of(view.time(view.moment) as f64, plot.left());
                painter.vline(now_x, row.y_range(), Stroke::new(1.5, ui.visuals().selection.stroke.color));
                if let Some(p) = view.pinned {
                    painter.vline(
                        x_of(view.time(p) as f64, plot.left()),
                        row.y_range(),
                        Stroke::new(1.5, pin_color()),
                    );
                }
                interact(ui, &resp, plot, view, lane, plot_w, wish);
            }
        });
}

fn draw_axis(ui: &egui::Ui, axis: Rect, view: &TraceView, plot_w: f32) {
    let (t0, t1) = view.span;
    let painter = ui.painter_at(axis);
    let left = axis.left() + LABEL_W;
    // A tick every power-of-ten-ish step that gives ~100 px.
    let per_px = (t1 - t0) / plot_w as f64;
    let raw = per_px * 100.0;
    let step = [1.0, 2.0, 5.0]
        .iter()
        .map(|m| m * 10f64.powf(raw.log10().floor()))
        .find(|s| *s >= raw)
        .unwrap_or(10f64.powf(raw.log10().ceil()));
    let base = view.index.header.started_mono as f64;
    let mut t = ((t0 - base) / step).ceil() * step + base;
    while t < t1 {
        let x = left + ((t - t0) / (t1 - t0)) as f32 * plot_w;
        painter.vline(x, axis.y_range(), Stroke::new(1.0, ui.visuals().weak_text_color()));
        painter.text(
            Pos2::new(x + 3.0, axis.center().y),
            egui::Align2::LEFT_CENTER,
            format!("{}s", trim_float((t - base) / 1e6)),
            egui::FontId::monospace(10.0),
            ui.visuals().weak_text_color(),
        );
        t += step;
    }
    painter.text(
        Pos2::new(axis.left() + 2.0, axis.center().y),
        egui::Align2::LEFT_CENTER,
        "drag: pan · Ctrl+wheel: zoom · click: travel",
        egui::FontId::proportional(10.0),
        ui.visuals().weak_text_color(),
    );
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// One mark per 2-pixel column at most: find the first mark at or after
/// each column's start by binary search, draw it, jump past its column.
fn draw_marks(
    painter: &egui::Painter,
    index: &TraceIndex,
    lane: &Lane,
    plot: Rect,
    span: (f64, f64),
    dark: bool,
) {
    let (t0, t1) = span;
    let w = plot.width() as f64;
    let marks = &lane.marks;
    let t_of = |j: usize| index.marks[marks[j] as usize].t as f64;
    let mut j = marks.partition_point(|&m| (index.marks[m as usize].t as f64) < t0);
    while j < marks.len() {
        let t = t_of(j);
        if t > t1 {
            break;
        }
        let m = &index.marks[marks[j] as usize];
        let x = plot.left() + ((t - t0) / (t1 - t0) * w) as f32;
        let color = kind_color(mark_kind(m.kind), dark);
        painter.rect_filled(
            Rect::from_center_size(Pos2::new(x, plot.center().y), vec2(2.0, LANE_H - 6.0)),
            0.0,
            color,
        );
        let next_t = t0 + ((x - plot.left() + 2.0) as f64 / w) * (t1 - t0);
        let next = marks.partition_point_from(j, |&m| (index.marks[m as usize].t as f64) < next_t);
        j = next.max(j + 1);
    }
}

fn interact(
    ui: &egui::Ui,
    resp: &egui::Response,
    plot: Rect,
    view: &mut TraceView,
    lane: &Lane,
    plot_w: f32,
    wish: &mut Wish,
) {
    let (t0, t1) = view.span;
    let t_at = |x: f32| t0 + ((x - plot.left()) / plot_w) as f64 * (t1 - t0);
    if resp.dragged() {
        let dt = -(resp.drag_delta().x / plot_w) as f64 * (t1 - t0);
        view.span = (t0 + dt, t1 + dt);
    }
    if let Some(pos) = resp.hover_pos() {
        // Ctrl+wheel (or a pinch) zooms around the pointer; the wheel alone
        // scrolls the lanes, Shift+wheel pans.
        let (zoom, pan) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta.x));
        if pan != 0.0 {
            let dt = -(pan / plot_w) as f64 * (t1 - t0);
            view.span = (t0 + dt, t1 + dt);
        }
        if zoom != 1.0 && pos.x > plot.left() {
            let factor = 1.0 / zoom as f64;
            let at = t_at(pos.x);
            let (a, b) = (at - (at - t0) * factor, at + (t1 - at) * factor);
            if b - a > 10.0 {
                view.span = (a, b);
            }
        }
        if pos.x > plot.left() {
            let k = view.moment_at(t_at(pos.x));
            let t = view.time(k);
            resp.clone().on_hover_text_at_pointer(format!("+{:.6} s, moment {k}", view.seconds(t)));
        }
    }
    if resp.clicked()
        && let Some(pos) = resp.interact_pointer_pos()
    {
        if pos.x > plot.left() {
            wish.go = Some(view.moment_at(t_at(pos.x)));
        }
        wish.select = match lane.key {
            LaneKey::Tab(t) => Some(Selection::Tab(t)),
            LaneKey::Window(w) => Some(Selection::Window(w)),
            LaneKey::Global | LaneKey::Addon(_) => None,
        };
    }
}

/// The changes from the pinned moment to the one shown.
pub fn compare_window(app: &mut App, ctx: &egui::Context) {
    let Some(link) = app.conns.current_mut() else { return };
    let Some(view) = &mut link.trace else { return };
    let Some(pinned) = view.pinned else { return };
    let moment = view.moment;
    let changes = view.changes(&link.live);
    let mut open = true;
    let mut select = None;
    egui::Window::new("Changes").open(&mut open).default_size([460.0, 320.0]).show(ctx, |ui| {
        ui.label(format!("from moment {pinned} (pinned) to moment {moment} (shown)"));
        match changes {
            Some(Ok(c)) if c.is_empty() => {
                ui.label(RichText::new("Nothing changed.").weak());
            }
            Some(Ok(c)) => {
                ui.label(
                    RichText::new(format!("{} changes; click one to select its tab or window", c.len()))
                        .weak(),
                );
                egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(
                    ui,
                    18.0,
                    c.len(),
                    |ui, range| {
                        for ch in &c[range] {
                            let text = ch.to_string();
                            let color = match text.chars().next() {
                                Some('+') => Color32::from_rgb(110, 200, 120),
                                Some('-') => Color32::from_rgb(240, 110, 100),
                                _ => ui.visuals().text_color(),
                            };
                            if ui
                                .add(
                                    egui::Label::new(RichText::new(text).monospace().color(color))
                                        .truncate()
                                        .sense(Sense::click()),
                                )
                                .clicked()
                            {
                                select = Some(match ch.subject() {
                                    (tabscope_shared::protocol::Scope::Tab, id) => Selection::Tab(id),
                                    (tabscope_shared::protocol::Scope::Window, id) => Selection::Window(id),
                                });
                            }
                        }
                    },
                );
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
    });
    if !open {
        view.pinned = None;
    }
    if select.is_some() {
        app.selection = select;
    }
}
