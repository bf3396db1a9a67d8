//! The result of one server run: printed as one `RESULT key=value ...` line that the
//! orchestrator reads back, and as a row of the final table.

use std::collections::HashMap;
use std::fmt::Write;

/// What the client measured during the round-trip phase (the `DONE` line it prints).
#[derive(Clone, Debug, Default)]
pub struct ClientFigures {
    pub round_trips: u64,
    pub errors: u64,
    pub secs: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

const CLIENT_KEYS: [&str; 6] = ["round_trips", "errors", "secs", "p50_us", "p99_us", "max_us"];

impl ClientFigures {
    pub fn to_line(&self) -> String {
        let values =
            [self.round_trips as f64, self.errors as f64, self.secs, self.p50_us, self.p99_us, self.max_us];
        let pairs: Vec<String> =
            CLIENT_KEYS.iter().zip(values).map(|(key, value)| format!("{key}={value}")).collect();
        format!("DONE {}", pairs.join(" "))
    }

    pub fn from_line(line: &str) -> Option<ClientFigures> {
        let fields = parse_pairs(line.strip_prefix("DONE ")?);
        let get = |key: &str| fields.get(key)?.parse::<f64>().ok();
        Some(ClientFigures {
            round_trips: get("round_trips")? as u64,
            errors: get("errors")? as u64,
            secs: get("secs")?,
            p50_us: get("p50_us")?,
            p99_us: get("p99_us")?,
            max_us: get("max_us")?,
        })
    }
}

/// Everything one server run reports.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub server: String,
    pub connections: usize,
    pub connect_secs: f64,
    pub client: ClientFigures,
    /// Server resident memory before any connection, with all connected, and after the
    /// round trips (connections still open); and its peak. KiB.
    pub rss_idle_kib: u64,
    pub rss_connected_kib: u64,
    pub rss_end_kib: u64,
    pub peak_rss_kib: u64,
    pub threads: u64,
    pub maps: usize,
    /// Failed accepts and connections on the server side.
    pub server_errors: u64,
    /// CPU time (user + system) during the round-trip phase.
    pub server_cpu_ms: u64,
    pub client_cpu_ms: u64,
}

impl Report {
    pub fn round_trips_per_sec(&self) -> f64 {
        self.client.round_trips as f64 / self.client.secs.max(f64::MIN_POSITIVE)
    }

    /// Server CPU microseconds per round trip.
    pub fn server_cpu_per_round_trip_us(&self) -> f64 {
        self.server_cpu_ms as f64 * 1000.0 / self.client.round_trips.max(1) as f64
    }

    /// Resident memory the connections added, per connection, KiB.
    pub fn kib_per_connection(&self) -> f64 {
        self.rss_connected_kib.max(self.rss_end_kib).saturating_sub(self.rss_idle_kib) as f64
            / self.connections.max(1) as f64
    }

    /// The machine-readable line.
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "RESULT server={} connections={} connect_secs={:.3} rss_idle_kib={} \
             rss_connected_kib={} rss_end_kib={} peak_rss_kib={} threads={} maps={} \
             server_errors={} server_cpu_ms={} client_cpu_ms={} ",
            self.server,
            self.connections,
            self.connect_secs,
            self.rss_idle_kib,
            self.rss_connected_kib,
            self.rss_end_kib,
            self.peak_rss_kib,
            self.threads,
            self.maps,
            self.server_errors,
            self.server_cpu_ms,
            self.client_cpu_ms,
        );
        line.push_str(self.client.to_line().trim_start_matches("DONE "));
        line
    }

    /// The `RESULT` line in a server process's output, if there is one.
    pub fn find_in(output: &str) -> Option<Report> {
        let line = output.lines().find_map(|l| l.strip_prefix("RESULT "))?;
        let fields = parse_pairs(line);
        let text = |key: &str| fields.get(key).copied();
        let number = |key: &str| text(key)?.parse::<f64>().ok();
        Some(Report {
            server: text("server")?.to_owned(),
            connections: number("connections")? as usize,
            connect_secs: number("connect_secs")?,
            // The client's figures are the same pairs, among the others.
            client: ClientFigures::from_line(&format!("DONE {line}"))?,
            rss_idle_kib: number("rss_idle_kib")? as u64,
            rss_connected_kib: number("rss_connected_kib")? as u64,
            rss_end_kib: number("rss_end_kib")? as u64,
            peak_rss_kib: number("peak_rss_kib")? as u64,
            threads: number("threads")? as u64,
            maps: number("maps")? as usize,
            server_errors: number("server_errors")? as u64,
            server_cpu_ms: number("server_cpu_ms")? as u64,
            client_cpu_ms: number("client_cpu_ms")? as u64,
        })
    }

    /// A human-readable summary of one run.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} connections (connected in {:.2} s), {} round trips in {:.2} s = {:.0}/s, \
             latency p50 {:.0} us p99 {:.0} us max {:.0} us, {} client errors\n  \
             server: RSS {} KiB idle, {} KiB connected, {} KiB after, peak {} KiB \
             ({:.1} KiB per connection); {} threads, {} maps, {} errors; CPU {} ms ({:.2} us \
             per round trip); client CPU {} ms",
            self.server,
            self.connections,
            self.connect_secs,
            self.client.round_trips,
            self.client.secs,
            self.round_trips_per_sec(),
            self.client.p50_us,
            self.client.p99_us,
            self.client.max_us,
            self.client.errors,
            self.rss_idle_kib,
            self.rss_connected_kib,
            self.rss_end_kib,
            self.peak_rss_kib,
            self.kib_per_connection(),
            self.threads,
            self.maps,
            self.server_errors,
            self.server_cpu_ms,
            self.server_cpu_per_round_trip_us(),
            self.client_cpu_ms,
        )
    }
}

/// A markdown table of several runs.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| server | connections | round trips/s | p50 latency | p99 latency | server RSS connected | RSS per connection | server CPU per round trip | threads | maps | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} us | {:.0} us | {:.1} MiB | {:.1} KiB | {:.2} us | {} | {} | {} |",
            r.server,
            r.connections,
            r.round_trips_per_sec(),
            r.client.p50_us,
            r.client.p99_us,
            r.rss_connected_kib.max(r.rss_end_kib) as f64 / 1024.0,
            r.kib_per_connection(),
            r.server_cpu_per_round_trip_us(),
            r.threads,
            r.maps,
            r.client.errors + r.server_errors,
        );
    }
    out
}

fn parse_pairs(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace().filter_map(|pair| pair.split_once('=')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_reads_back_as_written() {
        let report = Report {
            server: "hebra".into(),
            connections: 10_000,
            connect_secs: 0.25,
            client: ClientFigures {
                round_trips: 1_000_000,
                errors: 2,
                secs: 9.5,
                p50_us: 120.5,
                p99_us: 4000.0,
                max_us: 9000.25,
            },
            rss_idle_kib: 3600,
            rss_connected_kib: 90_000,
            rss_end_kib: 91_000,
            peak_rss_kib: 92_000,
            threads: 6,
            maps: 20_070,
            server_errors: 1,
            server_cpu_ms: 9000,
            client_cpu_ms: 9500,
        };
        let output = format!("some text\n{}\nmore text\n", report.to_line());
        let read = Report::find_in(&output).expect("the RESULT line parses");
        assert_eq!(read.to_line(), report.to_line());
        assert_eq!(read.client.round_trips, 1_000_000);
        assert_eq!(read.server_cpu_per_round_trip_us(), 9.0);
        assert_eq!(read.kib_per_connection(), (91_000 - 3600) as f64 / 10_000.0);
    }

    #[test]
    fn malformed_lines_are_rejected() {
        assert!(Report::find_in("RESULT server=hebra connections=x").is_none());
        assert!(Report::find_in("no result here").is_none());
        assert!(ClientFigures::from_line("DONE round_trips=1").is_none());
    }
}
