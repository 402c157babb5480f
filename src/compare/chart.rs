//! The charts: one PNG per tier with three panels over time (total connections,
//! connections per second, average latency), every system in one figure, and one summary
//! PNG across tiers.
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
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::analysis::RunResult;
use super::system::System;

/// The family name the embedded font is registered under. Plotters' default text style
/// asks for `sans-serif`, so the font is registered under that name too.
const FONT: &str = "hack";
const DEFAULT_FAMILY: &str = "sans-serif";

const TIER_SIZE: (u32, u32) = (1200, 1500);
const SUMMARY_SIZE: (u32, u32) = (1200, 1500);
const TITLE_PT: u32 = 30;
const CAPTION_PT: u32 = 22;
const LABEL_PT: u32 = 16;
const LINE_WIDTH: u32 = 2;
const POINT_RADIUS: u32 = 4;

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
    let panels = root.split_evenly((3, 1));

    // Failed runs are left out of the charts; the tables say why.
    let ok: Vec<&RunResult> = runs.iter().copied().filter(|r| !r.failed()).collect();
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

    let time = ("time since the run began (s)", false);
    linear_panel(
        &panels[0],
        "Total connections",
        time,
        "connections accepted",
        &total,
    )?;
    linear_panel(
        &panels[1],
        "Connections per second",
        time,
        "connections / s",
        &rate,
    )?;
    log_panel(
        &panels[2],
        "Average latency per second",
        time,
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
    let panels = root.split_evenly((3, 1));

    let mut systems: Vec<System> = Vec::new();
    for r in runs {
        if !systems.contains(&r.system) {
            systems.push(r.system);
        }
    }
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

    let clients = ("clients", true);
    linear_panel(
        &panels[0],
        "Connections per second",
        clients,
        "connections / s",
        &rate,
    )?;
    log_panel(
        &panels[1],
        "Average latency",
        clients,
        "latency (ms, log scale)",
        &latency,
    )?;
    linear_panel(
        &panels[2],
        "Server CPU time (user + system)",
        clients,
        "CPU (s)",
        &cpu,
    )?;
    root.present()?;
    Ok(())
}

/// The x range over every series, never empty.
fn x_range(series: &[(System, Series)]) -> (f64, f64) {
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
    let max = xs.fold(0.0_f64, f64::max);
    (0.0, if max > 0.0 { max * 1.02 } else { 1.0 })
}

fn y_max(series: &[(System, Series)]) -> f64 {
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0_f64, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

/// The x axis's label, and whether to mark each point (few points, as in the summary).
type XAxis = (&'static str, bool);

fn linear_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    (x_desc, points): XAxis,
    y_desc: &str,
    series: &[(System, Series)],
) -> ChartResult<()> {
    let (x0, x1) = x_range(series);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, CAPTION_PT))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, 0.0..y_max(series))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, LABEL_PT))
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()?;
    draw_lines(&mut chart, series, points)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

fn log_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    (x_desc, points): XAxis,
    y_desc: &str,
    series: &[(System, Series)],
) -> ChartResult<()> {
    let (x0, x1) = x_range(series);
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
    let low = ys.fold(f64::INFINITY, f64::min);
    let low = if low.is_finite() { low / 2.0 } else { 0.01 };
    let high = y_max(series).max(low * 10.0);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, CAPTION_PT))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, LABEL_PT))
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()?;
    draw_lines(&mut chart, series, points)?;
    // Polling sits near the top and WebSockets near the bottom: the middle is free.
    legend(&mut chart, SeriesLabelPosition::MiddleRight)
}

/// One line per system (with its points marked when `points`), labelled for the legend.
fn draw_lines<'a, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    series: &[(System, Series)],
    points: bool,
) -> ChartResult<()>
where
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for (system, data) in series {
        let c = color(*system);
        chart
            .draw_series(LineSeries::new(data.clone(), c.stroke_width(LINE_WIDTH)))?
            .label(system.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
        if points {
            chart.draw_series(
                data.iter()
                    .map(|&p| Circle::new(p, POINT_RADIUS, c.filled())),
            )?;
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

fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> ChartResult<()>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, LABEL_PT))
        .draw()?;
    Ok(())
}
