//! The charts: one PNG per tier with three panels over time (total connections,
//! connections per second, average latency), every system in one figure, and one summary
//! PNG across tiers. One legend under each figure's title serves all three panels, so no
//! legend box covers data; axis ticks come from [`super::axis`].
//!
//! Text is drawn with the Hack typeface that the `epaint_default_fonts` crate ships
//! (MIT and Bitstream Vera licences, in that crate's `fonts/Hack-Regular.txt`), through
//! plotters' `ab_glyph` renderer, so the images render on a machine with no font or
//! graphics packages installed.

use std::error::Error;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::analysis::RunResult;
use super::axis;
use super::system::{ServerKind, System};

/// The family name the embedded font is registered under. Plotters' default text style
/// asks for `sans-serif`, so the font is registered under that name too.
const FONT: &str = "hack";
const DEFAULT_FAMILY: &str = "sans-serif";

const TIER_SIZE: (u32, u32) = (1200, 1500);
const SUMMARY_SIZE: (u32, u32) = (1200, 1500);
const TITLE_PT: u32 = 30;
const CAPTION_PT: u32 = 22;
const LABEL_PT: u32 = 16;
const LEGEND_ROW_PX: u32 = 28;
const LEGEND_BELOW_PX: u32 = 8;
const LEGEND_SAMPLE_PX: i32 = 40;
const LEGEND_LABEL_GAP_PX: i32 = 8;
const LEGEND_GAP_PX: i32 = 36;
const DASH_PX: u32 = 10;
const DASH_GAP_PX: u32 = 6;

type ChartResult<T> = Result<T, Box<dyn Error>>;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for name in [FONT, DEFAULT_FAMILY] {
            let font = epaint_default_fonts::HACK_REGULAR;
            if plotters::style::register_font(name, FontStyle::Normal, font).is_err() {
                log::warn!("the embedded chart font did not load; charts will lack text");
            }
        }
    });
}

fn color(system: System) -> RGBColor {
    match system {
        System::PollingThreaded => RGBColor(214, 39, 40),
        System::PollingEventLoop => RGBColor(255, 127, 14),
        System::WebSocketEventLoop => RGBColor(31, 119, 180),
        System::KeepAliveThreaded => RGBColor(148, 103, 189),
        System::KeepAliveEventLoop => RGBColor(44, 160, 44),
    }
}

/// How one system's line is drawn. Two systems often have equal values (both polling
/// servers answer every poll), so colour alone would let one line hide the other: the
/// threaded servers are drawn wide and underneath, the event-loop servers thin and on top,
/// and keep-alive polling is dashed, so coinciding lines show as one colour edged by another.
#[derive(Clone, Copy)]
struct LineLook {
    color: RGBColor,
    width: u32,
    dashed: bool,
}

fn look(system: System) -> LineLook {
    LineLook {
        color: color(system),
        width: match system.server() {
            ServerKind::Threaded => 6,
            ServerKind::EventLoop => 2,
        },
        dashed: system.keep_alive(),
    }
}

impl LineLook {
    fn style(self) -> ShapeStyle {
        self.color.stroke_width(self.width)
    }

    /// A point marker a little wider than the line, so a thin line's marker sits inside a
    /// wide line's marker where they coincide.
    fn point_radius(self) -> u32 {
        self.width + 2
    }
}

/// `tier-50.png` for each tier, and `summary.png`; returns the paths written.
pub fn draw_all(out_dir: &Path, tiers: &[usize], runs: &[RunResult]) -> io::Result<Vec<PathBuf>> {
    register_font();
    let mut written = Vec::new();
    for &tier in tiers {
        let path = out_dir.join(format!("tier-{tier}.png"));
        let of_tier: Vec<&RunResult> = runs.iter().filter(|r| r.clients == tier).collect();
        draw_tier(&path, tier, &of_tier).map_err(|e| io::Error::other(e.to_string()))?;
        written.push(path);
    }
    let path = out_dir.join("summary.png");
    draw_summary(&path, tiers, runs).map_err(|e| io::Error::other(e.to_string()))?;
    written.push(path);
    Ok(written)
}

/// One time series of one run: `(seconds, value)`.
type Series = Vec<(f64, f64)>;

fn draw_tier(path: &Path, tier: usize, runs: &[&RunResult]) -> ChartResult<()> {
    let root = BitMapBackend::new(path, TIER_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("{tier} clients: connections and latency over time");
    let root = root.titled(&title, (FONT, TITLE_PT))?;

    // Failed runs are left out of the charts; the tables say why.
    let ok: Vec<&RunResult> = runs.iter().copied().filter(|r| !r.failed()).collect();
    let systems: Vec<System> = ok.iter().map(|r| r.system).collect();
    let panels = legend_and_panels(&root, &systems)?;
    let series = |value: fn(&super::analysis::Second) -> Option<f64>| -> Vec<(System, Series)> {
        ok.iter()
            .map(|r| {
                let points = r
                    .seconds
                    .iter()
                    .filter_map(|s| Some((s.t_s, value(s)?)))
                    .collect();
                (r.system, points)
            })
            .collect()
    };
    let mut total = series(|s| Some(s.connections_total as f64));
    // Every run starts from no connection at all.
    for (_, points) in &mut total {
        points.insert(0, (0.0, 0.0));
    }
    let rate = series(|s| Some(s.connections_per_s));
    let latency = series(|s| s.avg_latency_ms.filter(|ms| *ms > 0.0));

    // The three panels share one time axis, so a moment lines up down the figure.
    let last_second = [&total, &rate, &latency]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let time = XAxis::new("time since the run began (s)", &last_second, false);
    linear_panel(
        &panels[0],
        "Total connections",
        &time,
        "connections accepted",
        &total,
    )?;
    linear_panel(
        &panels[1],
        "Connections per second",
        &time,
        "connections / s",
        &rate,
    )?;
    log_panel(
        &panels[2],
        "Average latency per second",
        &time,
        "latency (ms, log scale)",
        &latency,
    )?;
    root.present()?;
    Ok(())
}

fn draw_summary(path: &Path, tiers: &[usize], runs: &[RunResult]) -> ChartResult<()> {
    let root = BitMapBackend::new(path, SUMMARY_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("Across tiers", (FONT, TITLE_PT))?;

    let mut systems: Vec<System> = Vec::new();
    for r in runs {
        if !systems.contains(&r.system) {
            systems.push(r.system);
        }
    }
    let panels = legend_and_panels(&root, &systems)?;

    let series = |value: fn(&RunResult) -> Option<f64>| -> Vec<(System, Series)> {
        systems
            .iter()
            .map(|&s| {
                let points = tiers
                    .iter()
                    .filter_map(|&n| {
                        let r = runs.iter().find(|r| r.system == s && r.clients == n)?;
                        Some((n as f64, value(r).filter(|_| !r.failed())?))
                    })
                    .collect();
                (s, points)
            })
            .collect()
    };
    let rate = series(|r| Some(r.connections_per_s));
    let latency = series(|r| r.latency.map(|l| l.avg_ms).filter(|ms| *ms > 0.0));
    let cpu = series(|r| r.server_cpu_s);

    let all = [&rate, &latency, &cpu]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let clients = XAxis::new("clients", &all, true);
    linear_panel(
        &panels[0],
        "Connections per second",
        &clients,
        "connections / s",
        &rate,
    )?;
    log_panel(
        &panels[1],
        "Average latency",
        &clients,
        "latency (ms, log scale)",
        &latency,
    )?;
    linear_panel(
        &panels[2],
        "Server CPU time (user + system)",
        &clients,
        "CPU (s)",
        &cpu,
    )?;
    root.present()?;
    Ok(())
}

/// The largest x of the series given, with the axis over it: ticks a 1-2-5 step apart
/// (whole numbers for client counts) and room past the last point.
struct XAxis {
    desc: &'static str,
    upper: f64,
    ticks: Vec<f64>,
    /// Few points, one per tier, as in the summary: mark each one.
    mark_points: bool,
}

impl XAxis {
    fn new(desc: &'static str, series: &[&(System, Series)], clients: bool) -> XAxis {
        let xs = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
        let (upper, ticks) = axis::linear_axis(xs.fold(0.0_f64, f64::max), clients);
        XAxis {
            desc,
            upper,
            ticks,
            mark_points: clients,
        }
    }

    fn coord(&self) -> Ticked<RangedCoordf64> {
        Ticked {
            inner: (0.0..self.upper).into(),
            labelled: self.ticks.clone(),
            grid: Vec::new(),
        }
    }
}

/// An axis with the ticks we chose rather than plotters' own. Plotters has this as
/// `WithKeyPoints`, but that wrapper over an f64 axis accepts no label formatter, and
/// without one the labels print as `5.0` and `0.30000000000000004`.
struct Ticked<Inner> {
    inner: Inner,
    /// Ticks with a label and a bold grid line.
    labelled: Vec<f64>,
    /// Light grid lines between them.
    grid: Vec<f64>,
}

impl<Inner: Ranged<ValueType = f64>> Ranged for Ticked<Inner> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight().allow_light_points() {
            true => self.grid.clone(),
            false => self.labelled.clone(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

fn y_max(series: &[(System, Series)]) -> f64 {
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0_f64, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

fn linear_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    x: &XAxis,
    y_desc: &str,
    series: &[(System, Series)],
) -> ChartResult<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, CAPTION_PT))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x.coord(), 0.0..y_max(series))?;
    chart
        .configure_mesh()
        .x_desc(x.desc)
        .y_desc(y_desc)
        .label_style((FONT, LABEL_PT))
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()?;
    draw_lines(&mut chart, series, x.mark_points)
}

/// A panel whose y axis is logarithmic, labelled at every 1-2-5 step of the range drawn.
fn log_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    x: &XAxis,
    y_desc: &str,
    series: &[(System, Series)],
) -> ChartResult<()> {
    let ys = || series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
    let min = ys().fold(f64::INFINITY, f64::min);
    let max = ys().fold(0.0_f64, f64::max);
    let (low, high) = axis::log_range(min, max);
    let y: Ticked<LogCoord<f64>> = Ticked {
        inner: (low..high).log_scale().into(),
        labelled: axis::log_ticks(low, high),
        grid: axis::log_grid(low, high),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, CAPTION_PT))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x.coord(), y)?;
    chart
        .configure_mesh()
        .x_desc(x.desc)
        .y_desc(y_desc)
        .label_style((FONT, LABEL_PT))
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()?;
    draw_lines(&mut chart, series, x.mark_points)
}

/// One line per system, with its points marked when `mark_points`. Wide lines go down
/// first so the thin ones stay visible on top of them.
fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    series: &[(System, Series)],
    mark_points: bool,
) -> ChartResult<()>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    let mut widest_first: Vec<&(System, Series)> = series.iter().collect();
    widest_first.sort_by_key(|(system, _)| std::cmp::Reverse(look(*system).width));
    for (system, data) in widest_first {
        let line = look(*system);
        if line.dashed {
            chart.draw_series(DashedLineSeries::new(
                data.clone(),
                DASH_PX,
                DASH_GAP_PX,
                line.style(),
            ))?;
        } else {
            chart.draw_series(LineSeries::new(data.clone(), line.style()))?;
        }
        if mark_points {
            let radius = line.point_radius();
            let marker = |&p: &(f64, f64)| Circle::new(p, radius, line.color.filled());
            chart.draw_series(data.iter().map(marker))?;
        }
    }
    Ok(())
}

/// An axis value without trailing zeros: 4000, 2.5, 0.25.
fn tick_label(value: f64) -> String {
    let text = match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 1.0 => format!("{value:.1}"),
        _ => format!("{value:.3}"),
    };
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text,
    }
}

/// Draws one legend for the figure across the top of `area`, a row or more of entries
/// centred, and returns the three panels of the space below it.
fn legend_and_panels<'a>(
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    systems: &[System],
) -> ChartResult<Vec<DrawingArea<BitMapBackend<'a>, Shift>>> {
    let text =
        TextStyle::from((FONT, LABEL_PT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let width = area.dim_in_pixel().0 as i32;

    // Lay the entries out left to right, starting a new row where one would overflow.
    let mut rows: Vec<Vec<(System, i32)>> = Vec::new();
    let mut row: Vec<(System, i32)> = Vec::new();
    let mut row_width = 0;
    for &system in systems {
        let (label_width, _) = area.estimate_text_size(system.label(), &text)?;
        let entry = LEGEND_SAMPLE_PX + LEGEND_LABEL_GAP_PX + label_width as i32;
        if !row.is_empty() && row_width + LEGEND_GAP_PX + entry > width - 2 * LEGEND_GAP_PX {
            rows.push(std::mem::take(&mut row));
            row_width = 0;
        }
        row_width += if row.is_empty() {
            entry
        } else {
            LEGEND_GAP_PX + entry
        };
        row.push((system, entry));
    }
    rows.push(row);

    let height = LEGEND_ROW_PX * rows.len() as u32 + LEGEND_BELOW_PX;
    let (strip, rest) = area.split_vertically(height);
    for (index, row) in rows.iter().enumerate() {
        let total: i32 = row.iter().map(|&(_, w)| w).sum::<i32>()
            + LEGEND_GAP_PX * (row.len() as i32 - 1).max(0);
        let mut x = (width - total) / 2;
        let y = (LEGEND_ROW_PX * index as u32 + LEGEND_ROW_PX / 2) as i32;
        for &(system, entry) in row {
            legend_entry(&strip, system, (x, y), &text)?;
            x += entry + LEGEND_GAP_PX;
        }
    }
    Ok(rest.split_evenly((3, 1)))
}

/// A sample of the system's line, drawn as in the panels, and its label to the right.
fn legend_entry(
    strip: &DrawingArea<BitMapBackend<'_>, Shift>,
    system: System,
    (x, y): (i32, i32),
    text: &TextStyle<'_>,
) -> ChartResult<()> {
    let line = look(system);
    let sample = vec![(x, y), (x + LEGEND_SAMPLE_PX, y)];
    if line.dashed {
        strip.draw(&DashedPathElement::new(
            sample,
            DASH_PX,
            DASH_GAP_PX,
            line.style(),
        ))?;
    } else {
        strip.draw(&PathElement::new(sample, line.style()))?;
    }
    strip.draw(&Text::new(
        system.label(),
        (x + LEGEND_SAMPLE_PX + LEGEND_LABEL_GAP_PX, y),
        text.clone(),
    ))?;
    Ok(())
}
