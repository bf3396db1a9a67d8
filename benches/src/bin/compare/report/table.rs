//! The Markdown tables printed at the end: one per scenario, a row per server, each
//! figure as the median over the rounds with the min-max spread in brackets.

use std::fmt::Write;

use super::{Cell, Spread, metrics_of};
use crate::scenarios::Scenario;
use crate::servers::ServerKind;

/// Longest failure message shown in a table (the JSON file has all of it).
const MESSAGE_CHARS: usize = 160;

/// Every scenario's table, then the servers' legend and `notes`.
pub fn tables(scenarios: &[Scenario], servers: &[ServerKind], cells: &[Cell], notes: &[String]) -> String {
    let mut out = String::new();
    for scenario in scenarios {
        let mine: Vec<&Cell> = cells.iter().filter(|cell| cell.scenario == scenario.name).collect();
        if !mine.is_empty() {
            scenario_table(&mut out, scenario, &mine);
        }
    }
    out.push_str("Servers:\n\n");
    for server in servers {
        let _ = writeln!(out, "- **{}**: {}", server.name(), server.description());
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

fn scenario_table(out: &mut String, scenario: &Scenario, cells: &[&Cell]) {
    let metrics = metrics_of(scenario);
    let _ = writeln!(
        out,
        "### {}: {}; {} connections\n",
        scenario.name,
        scenario.description,
        number(scenario.connections as f64, 0)
    );
    let headers: Vec<&str> = metrics.iter().map(|metric| metric.header).collect();
    let _ = writeln!(out, "| server | {} |", headers.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(metrics.len()));
    for cell in cells {
        let mut name = cell.server.to_owned();
        if cell.failed_rounds > 0 && cell.failed_rounds < cell.rounds {
            let _ = write!(name, " ({} of {} rounds failed)", cell.failed_rounds, cell.rounds);
        }
        let columns: Vec<String> = if cell.metrics.is_empty() {
            let message = cell.failure.as_deref().unwrap_or("no figures");
            let mut columns = vec![format!("failed: {}", escape(message))];
            columns.resize(metrics.len(), String::new());
            columns
        } else {
            metrics
                .iter()
                .map(|metric| cell.metric(metric).map_or("-".into(), |s| spread(s, metric.decimals)))
                .collect()
        };
        let _ = writeln!(out, "| {name} | {} |", columns.join(" | "));
    }
    out.push('\n');
}

/// `median` alone, or `median (min-max)` when the rounds differ.
pub fn spread(spread: Spread, decimals: usize) -> String {
    let median = number(spread.median, decimals);
    let (min, max) = (number(spread.min, decimals), number(spread.max, decimals));
    if min == max { median } else { format!("{median} ({min}-{max})") }
}

/// `value` with thousands separators; `decimals` for values under 100, fewer above
/// (a 4-digit figure needs no fraction to be read).
pub fn number(value: f64, decimals: usize) -> String {
    let decimals = match value.abs() {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => decimals.min(1),
        _ => decimals,
    };
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

fn escape(message: &str) -> String {
    let short: String = message.chars().take(MESSAGE_CHARS).collect();
    let ellipsis = if short.len() < message.len() { "…" } else { "" };
    format!("{}{ellipsis}", short.replace('|', "\\|").replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{REQUESTS_PER_SEC, summarize};
    use crate::run::{Outcome, Run};
    use crate::scenarios;

    #[test]
    fn numbers_are_grouped_and_rounded_by_size() {
        assert_eq!(number(91_412.4, 0), "91,412");
        assert_eq!(number(1_234_567.0, 2), "1,234,567");
        assert_eq!(number(123.456, 2), "123.5");
        assert_eq!(number(0.8549, 2), "0.85");
        assert_eq!(number(-3.26, 1), "-3.3");
        assert_eq!(number(-0.01, 1), "0.0");
        assert_eq!(number(999.0, 0), "999");
    }

    #[test]
    fn spreads_show_only_when_rounds_differ() {
        assert_eq!(spread(Spread { median: 2.0, min: 2.0, max: 2.0 }, 1), "2.0");
        assert_eq!(spread(Spread { median: 2000.0, min: 1500.0, max: 2500.0 }, 0), "2,000 (1,500-2,500)");
    }

    #[test]
    fn a_failed_server_gets_a_row_with_its_message() {
        let scenario = scenarios::parse("4k-c100").unwrap();
        let failed = Run {
            scenario: "4k-c100",
            server: "reactors",
            round: 1,
            connections: 100,
            outcome: Outcome::Failed { error: "reactors failed to start: engine | not written".into() },
        };
        let servers = [ServerKind::parse("reactors").unwrap()];
        let cells = summarize(&[failed], &[scenario], &servers);
        let text = tables(&[scenario], &servers, &cells, &["a note".into()]);
        assert!(text.contains("### 4k-c100: 4 KiB file, keep-alive; 100 connections"), "{text}");
        assert!(text.contains(&format!("| server | {} |", REQUESTS_PER_SEC.header)), "{text}");
        assert!(
            text.contains("| reactors | failed: reactors failed to start: engine \\| not written |"),
            "{text}"
        );
        assert!(text.contains("- a note"));
    }
}
