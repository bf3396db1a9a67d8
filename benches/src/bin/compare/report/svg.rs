//! `compare.svg`: a row of panels per load scenario (requests/s, server CPU per request,
//! p99 latency) and one for the idle scenario (memory per idle connection). Each panel
//! has its own scale and a bar per server, in the same color for a server everywhere;
//! a whisker spans the rounds' min-max when they differ, and a failed server shows as
//! "failed".

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{CPU_PER_REQUEST, Cell, KIB_PER_CONNECTION, Metric, P99, REQUESTS_PER_SEC, Spread, table};
use crate::scenarios::Scenario;
use crate::servers::ServerKind;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn Error>>;

const WIDTH: u32 = 1260;
const HEADER: u32 = 96;
const ROW: u32 = 220;
const FONT: &str = "sans-serif";

/// The panels of a load scenario's row, left to right, with their headings.
const LOAD_PANELS: [(&Metric, &str); 3] = [
    (&REQUESTS_PER_SEC, "requests/s (higher is better)"),
    (&CPU_PER_REQUEST, "server CPU µs per request (lower is better)"),
    (&P99, "p99 latency, ms (lower is better)"),
];

/// A server's color in every panel.
fn color(server: ServerKind) -> RGBColor {
    match server.name() {
        "coroutine" => RGBColor(214, 69, 35),
        "sped" => RGBColor(240, 165, 60),
        "reactors" => RGBColor(52, 120, 190),
        "threads" => RGBColor(140, 140, 140),
        "nginx" => RGBColor(30, 150, 80),
        _ => RGBColor(130, 80, 190),
    }
}

/// Draws the chart into `path`. `subtitle` says what was measured where.
pub fn write(
    path: &Path,
    scenarios: &[Scenario],
    servers: &[ServerKind],
    cells: &[Cell],
    subtitle: &str,
) -> Result<(), String> {
    draw(path, scenarios, servers, cells, subtitle)
        .map_err(|err| format!("cannot draw {}: {err}", path.display()))
}

fn draw(
    path: &Path,
    scenarios: &[Scenario],
    servers: &[ServerKind],
    cells: &[Cell],
    subtitle: &str,
) -> Drawn {
    let has_cells = |scenario: &&Scenario| cells.iter().any(|cell| cell.scenario == scenario.name);
    let rows: Vec<&Scenario> = scenarios.iter().filter(has_cells).collect();
    let height = HEADER + ROW * rows.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(HEADER);
    draw_header(&header, servers, subtitle)?;
    let panels = body.split_evenly((rows.len().max(1), LOAD_PANELS.len()));
    for (row, scenario) in rows.iter().enumerate() {
        let mine: Vec<&Cell> = cells.iter().filter(|cell| cell.scenario == scenario.name).collect();
        let row_panels = &panels[row * LOAD_PANELS.len()..][..LOAD_PANELS.len()];
        if scenario.is_idle() {
            let title = format!("{}: KiB per idle connection (lower is better)", scenario.name);
            draw_panel(&row_panels[0], &title, &KIB_PER_CONNECTION, servers, &mine)?;
            continue;
        }
        for (area, (metric, heading)) in row_panels.iter().zip(LOAD_PANELS) {
            draw_panel(area, &format!("{}: {heading}", scenario.name), metric, servers, &mine)?;
        }
    }
    root.present()?;
    Ok(())
}

fn draw_header(area: &Area, servers: &[ServerKind], subtitle: &str) -> Drawn {
    let title = "hebra's file server engines, nginx and hyper: the same files and the same wrk load";
    area.draw(&Text::new(title, (16, 10), (FONT, 26).into_font().style(FontStyle::Bold)))?;
    area.draw(&Text::new(
        subtitle.to_owned(),
        (16, 40),
        (FONT, 16).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    let mut x = 16;
    for &server in servers {
        area.draw(&Rectangle::new([(x, 70), (x + 14, 84)], color(server).filled()))?;
        area.draw(&Text::new(server.name(), (x + 20, 70), (FONT, 17)))?;
        x += 40 + 9 * server.name().len() as i32;
    }
    Ok(())
}

/// One metric of one scenario: a horizontal bar per server, the first at the top.
fn draw_panel(area: &Area, title: &str, metric: &Metric, servers: &[ServerKind], cells: &[&Cell]) -> Drawn {
    let bars: Vec<(ServerKind, Option<&Cell>)> = servers
        .iter()
        .map(|&server| (server, cells.iter().copied().find(|cell| cell.server == server.name())))
        .collect();
    let spreads: Vec<Option<Spread>> =
        bars.iter().map(|(_, cell)| cell.and_then(|cell| cell.metric(metric))).collect();
    let high = spreads.iter().flatten().map(|spread| spread.max).fold(0.0, f64::max);
    let low = spreads.iter().flatten().map(|spread| spread.min).fold(0.0, f64::min);
    // Room right of the longest bar for its value.
    let x_range = low..(high * 1.3).max(1e-9);
    let n = bars.len();
    // Integer coordinates include both ends: 0..n-1 gives exactly n segments.
    let top = n.saturating_sub(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 17))
        .margin(10)
        .x_label_area_size(22)
        .y_label_area_size(82)
        .build_cartesian_2d(x_range, (0..top).into_segmented())?;
    let names: Vec<&str> = bars.iter().map(|(server, _)| server.name()).collect();
    let label = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(row) if *row < n => names[n - 1 - row].to_owned(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&label)
        .x_labels(5)
        .x_label_formatter(&|value| table::number(*value, 1))
        .label_style((FONT, 15))
        .light_line_style(TRANSPARENT)
        .draw()?;
    for (index, ((server, cell), spread)) in bars.iter().zip(&spreads).enumerate() {
        let row = Row { row: n - 1 - index, top };
        match spread {
            Some(spread) => draw_bar(&mut chart, row, color(*server), *spread, metric.decimals)?,
            None => {
                let why = if cell.is_some() { "failed" } else { "not run" };
                let style = (FONT, 15)
                    .into_font()
                    .color(&RGBColor(170, 30, 30))
                    .pos(Pos::new(HPos::Left, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(why, (0.0, row.center()), style)))?;
            }
        }
    }
    Ok(())
}

type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

/// A bar's place on the segmented y axis: `row` counts from the bottom, `top` is the
/// last row.
#[derive(Clone, Copy)]
struct Row {
    row: usize,
    top: usize,
}

impl Row {
    fn bottom(self) -> SegmentValue<usize> {
        SegmentValue::Exact(self.row)
    }

    fn upper(self) -> SegmentValue<usize> {
        if self.row < self.top { SegmentValue::Exact(self.row + 1) } else { SegmentValue::Last }
    }

    fn center(self) -> SegmentValue<usize> {
        SegmentValue::CenterOf(self.row)
    }
}

/// The median as a bar, the rounds' range as a whisker, and the median's value.
fn draw_bar(chart: &mut Chart, row: Row, color: RGBColor, spread: Spread, decimals: usize) -> Drawn {
    let mut bar = Rectangle::new([(0.0, row.bottom()), (spread.median, row.upper())], color.filled());
    bar.set_margin(5, 5, 0, 0);
    chart.draw_series(std::iter::once(bar))?;
    if spread.min < spread.max {
        let whisker = vec![(spread.min, row.center()), (spread.max, row.center())];
        chart.draw_series(std::iter::once(PathElement::new(whisker, BLACK.stroke_width(1))))?;
    }
    let text = format!(" {}", table::number(spread.median, decimals));
    let style = (FONT, 15).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let at = (spread.max.max(spread.median), row.center());
    chart.draw_series(std::iter::once(Text::new(text, at, style)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summarize;
    use crate::run::{LoadFigures, Outcome, Run};
    use crate::scenarios;
    use crate::wrk::WrkFigures;

    #[test]
    fn the_chart_names_every_server_and_failure() {
        let scenario = scenarios::parse("4k-c100").unwrap();
        let servers = [ServerKind::parse("coroutine").unwrap(), ServerKind::parse("nginx").unwrap()];
        let wrk =
            WrkFigures { requests: 90_000, duration_us: 1_000_000, p99_us: 2500, ..WrkFigures::default() };
        let figures = LoadFigures {
            wrk,
            server_cpu_ms: 900.0,
            storage_read_kib: 0,
            peak_rss_kib: 10_000,
            eviction_passes: None,
        };
        let runs = [
            Run {
                scenario: "4k-c100",
                server: "coroutine",
                round: 1,
                connections: 100,
                outcome: Outcome::Load(figures),
            },
            Run {
                scenario: "4k-c100",
                server: "nginx",
                round: 1,
                connections: 100,
                outcome: Outcome::Failed { error: "no".into() },
            },
        ];
        let cells = summarize(&runs, &[scenario], &servers);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        write(&path, &[scenario], &servers, &cells, "a test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for text in ["coroutine", "nginx", "failed", "90,000", "4k-c100: requests/s", "a test"] {
            assert!(svg.contains(text), "{text:?} missing");
        }
    }
}
