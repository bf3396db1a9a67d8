//! From the measurements to what a reader sees: the metrics of each scenario, their
//! median and min-max spread over the rounds ([`summarize`]), and the three outputs:
//! Markdown tables ([`table`]), the JSON file ([`json`]) and the chart ([`svg`]).

pub mod json;
pub mod svg;
pub mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::run::{Outcome, Run};
use crate::scenarios::{Load, Scenario};
use crate::servers::ServerKind;

/// One figure of a measurement.
#[derive(Debug)]
pub struct Metric {
    /// Its key in the JSON summary.
    pub key: &'static str,
    /// Its column header.
    pub header: &'static str,
    pub value: fn(&Outcome) -> Option<f64>,
    /// Decimals shown for a typical value (see [`table::number`]).
    pub decimals: usize,
}

fn load(outcome: &Outcome) -> Option<&crate::run::LoadFigures> {
    match outcome {
        Outcome::Load(figures) => Some(figures),
        _ => None,
    }
}

fn idle(outcome: &Outcome) -> Option<&crate::idle::IdleFigures> {
    match outcome {
        Outcome::Idle(figures) => Some(figures),
        _ => None,
    }
}

pub const REQUESTS_PER_SEC: Metric = Metric {
    key: "requests_per_sec",
    header: "requests/s",
    value: |o| Some(load(o)?.requests_per_sec()),
    decimals: 0,
};
pub const CPU_PER_REQUEST: Metric = Metric {
    key: "cpu_us_per_request",
    header: "server CPU µs/request",
    value: |o| Some(load(o)?.cpu_us_per_request()),
    decimals: 1,
};
pub const KIB_PER_CONNECTION: Metric = Metric {
    key: "kib_per_idle_connection",
    header: "KiB per idle connection",
    value: |o| Some(idle(o)?.kib_per_connection()),
    decimals: 1,
};
pub const P99: Metric = Metric {
    key: "p99_ms",
    header: "p99 ms",
    value: |o| Some(load(o)?.wrk.p99_us as f64 / 1e3),
    decimals: 2,
};

const MB_PER_SEC: Metric =
    Metric { key: "mb_per_sec", header: "MB/s", value: |o| Some(load(o)?.mb_per_sec()), decimals: 0 };
const P50: Metric = Metric {
    key: "p50_ms",
    header: "p50 ms",
    value: |o| Some(load(o)?.wrk.p50_us as f64 / 1e3),
    decimals: 2,
};
const MAX: Metric = Metric {
    key: "max_ms",
    header: "max ms",
    value: |o| Some(load(o)?.wrk.max_us as f64 / 1e3),
    decimals: 1,
};
const PEAK_RSS: Metric = Metric {
    key: "peak_rss_mib",
    header: "peak RSS MiB",
    value: |o| Some(load(o)?.peak_rss_kib as f64 / 1024.0),
    decimals: 1,
};
const LOAD_ERRORS: Metric =
    Metric { key: "errors", header: "errors", value: |o| Some(load(o)?.wrk.errors() as f64), decimals: 0 };
/// How cold the cold scenario was for this server: 4 KiB per request if every request
/// missed the page cache.
const STORAGE_PER_REQUEST: Metric = Metric {
    key: "storage_kib_per_request",
    header: "disk KiB/request",
    value: |o| {
        let figures = load(o)?;
        Some(figures.storage_read_kib as f64 / figures.wrk.requests.max(1) as f64)
    },
    decimals: 2,
};

/// The columns of a load scenario.
const LOAD_METRICS: [Metric; 8] =
    [REQUESTS_PER_SEC, MB_PER_SEC, P50, P99, MAX, CPU_PER_REQUEST, PEAK_RSS, LOAD_ERRORS];

/// The columns of the cold-cache scenario: those of a load scenario and the disk reads.
const COLD_METRICS: [Metric; 9] = [
    REQUESTS_PER_SEC,
    MB_PER_SEC,
    P50,
    P99,
    MAX,
    CPU_PER_REQUEST,
    STORAGE_PER_REQUEST,
    PEAK_RSS,
    LOAD_ERRORS,
];

/// The columns of the idle scenario.
const IDLE_METRICS: [Metric; 5] = [
    KIB_PER_CONNECTION,
    Metric {
        key: "rss_before_mib",
        header: "RSS before, MiB",
        value: |o| Some(idle(o)?.rss_before_kib as f64 / 1024.0),
        decimals: 1,
    },
    Metric {
        key: "rss_after_mib",
        header: "RSS idle, MiB",
        value: |o| Some(idle(o)?.rss_after_kib as f64 / 1024.0),
        decimals: 1,
    },
    Metric {
        key: "connections",
        header: "connections",
        value: |o| Some(idle(o)?.connections as f64),
        decimals: 0,
    },
    Metric { key: "errors", header: "errors", value: |o| Some(idle(o)?.errors as f64), decimals: 0 },
];

pub fn metrics_of(scenario: &Scenario) -> &'static [Metric] {
    match scenario.load {
        Load::Idle => &IDLE_METRICS,
        Load::Cold => &COLD_METRICS,
        Load::KeepAlive { .. } | Load::Close { .. } => &LOAD_METRICS,
    }
}

/// The median and the range of one metric over the rounds that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &mut [f64]) -> Option<Spread> {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Some(Spread { median, min: values[0], max: values[n - 1] })
    }
}

/// One server in one scenario, over all rounds.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub scenario: &'static str,
    pub server: &'static str,
    pub rounds: u32,
    pub failed_rounds: u32,
    /// The first failure's message, if a round failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Client-side errors of all rounds together (wrk's, or the idle client's).
    pub errors: u64,
    pub metrics: BTreeMap<&'static str, Spread>,
}

impl Cell {
    pub fn metric(&self, metric: &Metric) -> Option<Spread> {
        self.metrics.get(metric.key).copied()
    }
}

/// A [`Cell`] per scenario and server, in the order of the tables.
pub fn summarize(runs: &[Run], scenarios: &[Scenario], servers: &[ServerKind]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for scenario in scenarios {
        for server in servers {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|run| run.scenario == scenario.name && run.server == server.name())
                .collect();
            if !mine.is_empty() {
                cells.push(cell(scenario, server.name(), &mine));
            }
        }
    }
    cells
}

fn cell(scenario: &Scenario, server: &'static str, runs: &[&Run]) -> Cell {
    let failure = runs.iter().find_map(|run| match &run.outcome {
        Outcome::Failed { error } => Some(error.clone()),
        _ => None,
    });
    let metrics = metrics_of(scenario)
        .iter()
        .filter_map(|metric| {
            let mut values: Vec<f64> = runs.iter().filter_map(|run| (metric.value)(&run.outcome)).collect();
            Some((metric.key, Spread::of(&mut values)?))
        })
        .collect();
    let errors = runs
        .iter()
        .map(|run| match &run.outcome {
            Outcome::Load(figures) => figures.wrk.errors(),
            Outcome::Idle(figures) => figures.errors,
            Outcome::Failed { .. } => 0,
        })
        .sum();
    Cell {
        scenario: scenario.name,
        server,
        rounds: runs.len() as u32,
        failed_rounds: runs.iter().filter(|run| matches!(run.outcome, Outcome::Failed { .. })).count() as u32,
        failure,
        errors,
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::LoadFigures;
    use crate::scenarios;
    use crate::wrk::WrkFigures;

    fn load_run(server: &'static str, requests: u64) -> Run {
        let wrk = WrkFigures { requests, duration_us: 1_000_000, read_errors: 1, ..WrkFigures::default() };
        let figures = LoadFigures {
            wrk,
            server_cpu_ms: 100.0,
            storage_read_kib: 0,
            peak_rss_kib: 2048,
            eviction_passes: None,
        };
        Run { scenario: "4k-c100", server, round: 1, connections: 100, outcome: Outcome::Load(figures) }
    }

    #[test]
    fn spreads_take_the_median_and_the_extremes() {
        assert_eq!(Spread::of(&mut [3.0, 1.0, 2.0]), Some(Spread { median: 2.0, min: 1.0, max: 3.0 }));
        assert_eq!(Spread::of(&mut [4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of(&mut []), None);
    }

    #[test]
    fn cells_summarize_rounds_and_keep_failures() {
        let failed = Run {
            outcome: Outcome::Failed { error: "engine not written yet".into() },
            ..load_run("coroutine", 0)
        };
        let runs = [load_run("coroutine", 100), load_run("coroutine", 300), failed, load_run("nginx", 7)];
        let scenario = scenarios::parse("4k-c100").unwrap();
        let servers = [ServerKind::parse("coroutine").unwrap(), ServerKind::parse("nginx").unwrap()];
        let cells = summarize(&runs, &[scenario], &servers);
        assert_eq!(cells.len(), 2);
        let coroutine = &cells[0];
        assert_eq!((coroutine.rounds, coroutine.failed_rounds, coroutine.errors), (3, 1, 2));
        assert_eq!(coroutine.failure.as_deref(), Some("engine not written yet"));
        let rate = coroutine.metric(&REQUESTS_PER_SEC).unwrap();
        assert_eq!((rate.median, rate.min, rate.max), (200.0, 100.0, 300.0));
        assert_eq!(coroutine.metric(&CPU_PER_REQUEST).unwrap().max, 1000.0);
        assert_eq!(cells[1].metric(&REQUESTS_PER_SEC).unwrap().median, 7.0);
    }
}
