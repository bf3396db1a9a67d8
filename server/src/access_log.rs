//! The access log, in the combined log format of Apache and nginx:
//!
//! ```text
//! 127.0.0.1 - - [23/Nov/2026:18:38:28 +0000] "GET /index.html HTTP/1.1" 200 4096 "-" "curl/8.5.0"
//! ```
//!
//! Lines are formatted where the request was served and handed through a bounded
//! channel to one writer thread, so a slow disk never stalls a worker: when the writer
//! falls 4,096 lines behind, the coroutines logging park (plain threads block) until it
//! catches up; no line is dropped. Times are UTC.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hebra::chan::{self, Sender};

use crate::http::{Request, Status};

/// Where the access log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    /// Appended to; created if missing.
    File(PathBuf),
}

impl std::str::FromStr for LogTarget {
    type Err = std::convert::Infallible;

    /// `-` is stdout, anything else a path.
    fn from_str(s: &str) -> Result<LogTarget, Self::Err> {
        Ok(if s == "-" { LogTarget::Stdout } else { LogTarget::File(s.into()) })
    }
}

/// Lines waiting for the writer before loggers wait.
const QUEUE: usize = 4096;

/// A running access log. Cloning gives another sender to the same writer; the writer
/// flushes and exits once every clone is dropped ([`AccessLog::finish`] waits for it).
#[derive(Debug)]
pub struct AccessLog {
    lines: Sender<String>,
    writer: Option<JoinHandle<()>>,
}

/// One served request, as logged.
#[derive(Debug)]
pub struct Entry<'r, 'a> {
    pub client: IpAddr,
    pub request: Option<&'r Request<'a>>,
    pub status: Status,
    /// Body bytes sent.
    pub bytes: u64,
}

impl AccessLog {
    pub fn start(target: &LogTarget) -> io::Result<AccessLog> {
        let out: Box<dyn Write + Send> = match target {
            LogTarget::Stdout => Box::new(io::stdout()),
            LogTarget::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?,
            ),
        };
        let (lines, incoming) = chan::bounded::<String>(QUEUE);
        let writer = std::thread::Builder::new().name("hebra-access-log".into()).spawn(move || {
            let mut out = BufWriter::with_capacity(64 * 1024, out);
            while let Ok(line) = incoming.recv() {
                let mut result = out.write_all(line.as_bytes());
                // Flush once the burst is written, not once per line.
                for line in incoming.try_iter() {
                    result = result.and_then(|()| out.write_all(line.as_bytes()));
                }
                if let Err(err) = result.and_then(|()| out.flush()) {
                    tracing::error!(%err, "cannot write the access log");
                }
            }
        })?;
        Ok(AccessLog { lines, writer: Some(writer) })
    }

    /// A sender for another thread or coroutine.
    pub fn sender(&self) -> AccessLogSender {
        AccessLogSender { lines: self.lines.clone() }
    }

    /// Waits until every line sent so far is written, for at most `patience`: a log
    /// target that blocks (a pipe nobody reads, a hung network mount) must not keep a
    /// shutting-down server alive. Senders still alive elsewhere keep the writer
    /// running; it then stops when they are dropped.
    pub fn finish(mut self, patience: Duration) {
        let writer = self.writer.take();
        drop(self);
        let Some(writer) = writer else { return };
        let deadline = Instant::now() + patience;
        while !writer.is_finished() {
            if Instant::now() >= deadline {
                tracing::warn!("the access log writer is stuck; exiting without its last lines");
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = writer.join();
    }
}

/// Sends lines to an [`AccessLog`].
#[derive(Clone, Debug)]
pub struct AccessLogSender {
    lines: Sender<String>,
}

impl AccessLogSender {
    pub fn log(&self, entry: &Entry<'_, '_>) {
        let _ = self.lines.send(format_entry(entry, SystemTime::now()));
    }
}

fn format_entry(entry: &Entry<'_, '_>, now: SystemTime) -> String {
    let mut line = String::with_capacity(192);
    let _ = write!(line, "{} - - [", entry.client);
    write_clf_time(&mut line, now);
    line.push_str("] \"");
    match entry.request {
        Some(request) => {
            line.push_str(request.method.as_str());
            line.push(' ');
            escape(&mut line, request.target);
            line.push(' ');
            line.push_str(request.version.as_str());
        }
        None => line.push('-'),
    }
    let _ = write!(line, "\" {} {} \"", entry.status.code(), entry.bytes);
    escape(&mut line, entry.request.and_then(|r| r.fields.referer).unwrap_or("-"));
    line.push_str("\" \"");
    escape(&mut line, entry.request.and_then(|r| r.fields.user_agent).unwrap_or("-"));
    line.push_str("\"\n");
    line
}

/// Client-supplied text, with `"`, `\\`, control bytes and every byte outside ASCII as
/// `\xHH` (nginx's escaping), so a line can never be split, forged or reordered on a
/// terminal (a right-to-left override, say).
fn escape(line: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte == b'"' || byte == b'\\' || !(0x20..0x7f).contains(&byte) {
            let _ = write!(line, "\\x{byte:02X}");
        } else {
            line.push(char::from(byte));
        }
    }
}

/// `10/Oct/2000:13:55:36 +0000`.
fn write_clf_time(line: &mut String, now: SystemTime) {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let time = secs % 86_400;
    let _ = write!(
        line,
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[month as usize - 1],
        time / 3600,
        time / 60 % 60,
        time % 60
    );
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        let mut line = String::new();
        write_clf_time(&mut line, UNIX_EPOCH + Duration::from_secs(971_185_336));
        assert_eq!(line, "10/Oct/2000:13:42:16 +0000");
    }

    #[test]
    fn client_text_cannot_break_a_line() {
        let mut line = String::new();
        escape(&mut line, "a\"b\\c\nd\u{7f}é\u{202e}");
        assert_eq!(line, "a\\x22b\\x5Cc\\x0Ad\\x7F\\xC3\\xA9\\xE2\\x80\\xAE");
    }

    #[test]
    fn a_line_without_a_parsed_request() {
        let entry =
            Entry { client: [127, 0, 0, 1].into(), request: None, status: Status::BAD_REQUEST, bytes: 12 };
        let line = format_entry(&entry, UNIX_EPOCH);
        assert_eq!(line, "127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 12 \"-\" \"-\"\n");
    }
}
