//! The process logger: `log` records to stderr or `--log.file`, in the Go client's three
//! formats, with a level that can change while the process runs.
//!
//! Why not `env_logger`: it filters with its own parsed filter, so changing the level of a
//! running process (the admin UI's switch) would mean rebuilding the logger, which `log`
//! does not allow. Here the only filter is `log::max_level()`, an atomic that
//! [`set_level`] flips. Output stays `env_logger`-shaped for `text`.
//!
//! Every message passes through [`crate::admin::redact::text`] before it is written, so a
//! bearer token, API key, shard token or URL password that reaches a log call at any level
//! comes out as `[REDACTED]`. Every record is then offered to an optional [`Sink`] (the admin
//! UI's log buffer).
//!
//! Where lines go follows Go: the unset/`text` format writes to stderr; `struct-text` and
//! `json` write to stdout unless `--log.file` is set.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Output format (`--log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[2026-11-25T20:00:00.123Z INFO  target] message` (the default).
    Text,
    /// `time=… level=INFO msg="…" target=…` (Go's `struct-text`, logfmt-like).
    StructText,
    /// One JSON object a line: `{"time":…,"level":…,"msg":…,"target":…}`.
    Json,
}

/// One formatted record, for the admin UI buffer.
#[derive(Debug, Clone)]
pub struct Entry {
    pub time: SystemTime,
    pub level: Level,
    pub target: String,
    pub message: String,
}

/// Receives every record that passes the level filter.
pub type Sink = Box<dyn Fn(&Entry) + Send + Sync>;

struct Logger {
    format: Format,
    out: Mutex<Output>,
    sink: OnceLock<Sink>,
    /// Fields appended to every `struct-text` / `json` record (Go: `client_instance_id`,
    /// `tunnel_id`).
    context: OnceLock<Vec<(&'static str, String)>>,
}

enum Output {
    Stderr,
    Stdout,
    File(File),
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger. `file` is opened for append with mode 0600 (created if missing), as
/// the Go client does. Calling it twice keeps the first logger (tests start many runtimes
/// in one process) but applies the new level.
pub fn init(level: LevelFilter, format: Format, file: Option<&Path>) -> std::io::Result<()> {
    let out = match (file, format) {
        (Some(p), _) => Output::File(open_log_file(p)?),
        (None, Format::Text) => Output::Stderr,
        (None, Format::StructText | Format::Json) => Output::Stdout,
    };
    let logger = LOGGER.get_or_init(|| Logger {
        format,
        out: Mutex::new(out),
        sink: OnceLock::new(),
        context: OnceLock::new(),
    });
    // A second init (tests) only changes the level.
    let _ = log::set_logger(logger);
    log::set_max_level(level);
    Ok(())
}

/// Registers the admin UI's buffer. Only the first registration counts.
pub fn set_sink(sink: Sink) {
    if let Some(l) = LOGGER.get() {
        let _ = l.sink.set(sink);
    }
}

/// Sets the fields appended to every structured record. Only the first call counts.
pub fn set_context(fields: Vec<(&'static str, String)>) {
    if let Some(l) = LOGGER.get() {
        let _ = l.context.set(fields);
    }
}

/// Changes the level of the running process.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The current level.
pub fn level() -> LevelFilter {
    log::max_level()
}

/// Maps a configured `--log.level` (`debug`, `info`, `warn`, `error`, optionally `+N`/`-N`
/// as Go's slog offsets: a negative offset is more verbose) to a filter.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    let (name, offset) = match s.find(['+', '-']) {
        Some(i) => (&s[..i], s[i..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    // slog numbers: debug -4, info 0, warn 4, error 8.
    let base = match name.to_ascii_lowercase().as_str() {
        "debug" => -4,
        "info" => 0,
        "warn" | "warning" => 4,
        "error" => 8,
        _ => return None,
    };
    let n = base + offset;
    Some(match n {
        i32::MIN..=-5 => LevelFilter::Trace,
        -4..=-1 => LevelFilter::Debug,
        0..=3 => LevelFilter::Info,
        4..=7 => LevelFilter::Warn,
        _ => LevelFilter::Error,
    })
}

#[cfg(unix)]
fn open_log_file(p: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(p)
}

/// Windows has no mode bits; the file inherits the directory's ACL.
#[cfg(not(unix))]
fn open_log_file(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let message = match crate::admin::redact::text(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(m) => m,
        };
        let entry = Entry {
            time: SystemTime::now(),
            level: record.level(),
            target: record.target().to_string(),
            message,
        };
        let context = self.context.get().map(Vec::as_slice).unwrap_or(&[]);
        let line = format_with(self.format, &entry, context);
        if let Ok(mut out) = self.out.lock() {
            let _ = match &mut *out {
                Output::Stderr => std::io::stderr().write_all(line.as_bytes()),
                Output::Stdout => std::io::stdout().write_all(line.as_bytes()),
                Output::File(f) => f.write_all(line.as_bytes()),
            };
        }
        if let Some(sink) = self.sink.get() {
            sink(&entry);
        }
    }

    fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = match &mut *out {
                Output::Stderr => std::io::stderr().flush(),
                Output::Stdout => std::io::stdout().flush(),
                Output::File(f) => f.flush(),
            };
        }
    }
}

/// Formats one record as a full line (with the newline).
pub fn format_entry(format: Format, e: &Entry) -> String {
    format_with(format, e, &[])
}

/// [`format_entry`] with context fields appended to structured formats.
fn format_with(format: Format, e: &Entry, context: &[(&'static str, String)]) -> String {
    let time = rfc3339_millis(e.time);
    match format {
        Format::Text => format!("[{time} {:<5} {}] {}\n", e.level, e.target, e.message),
        Format::StructText => {
            let mut line = format!(
                "time={time} level={} msg={} target={}",
                e.level,
                logfmt_quote(&e.message),
                logfmt_quote(&e.target)
            );
            for (k, v) in context {
                line.push_str(&format!(" {k}={}", logfmt_quote(v)));
            }
            line.push('\n');
            line
        }
        Format::Json => {
            let mut v = serde_json::json!({
                "time": time,
                "level": e.level.as_str(),
                "msg": e.message,
                "target": e.target,
            });
            for (k, val) in context {
                v[*k] = serde_json::Value::String(val.clone());
            }
            format!("{v}\n")
        }
    }
}

fn logfmt_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=')
    {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// `2026-11-25T20:00:00.123Z` from a system time (UTC, civil-from-days; no date crate).
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn levels_follow_go_names_and_offsets() {
        assert_eq!(parse_level("info"), Some(LevelFilter::Info));
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("warn"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("error"), Some(LevelFilter::Error));
        assert_eq!(parse_level("info-4"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("info+4"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("debug-1"), Some(LevelFilter::Trace));
        assert_eq!(parse_level("loud"), None);
        assert_eq!(parse_level("info+x"), None);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_100_800_123);
        assert_eq!(rfc3339_millis(t), "2025-11-25T20:00:00.123Z");
        assert_eq!(
            rfc3339_millis(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn json_lines_escape_messages_and_struct_text_quotes_spaces() {
        let e = Entry {
            time: SystemTime::UNIX_EPOCH,
            level: Level::Warn,
            target: "tunnel".into(),
            message: "a \"quoted\"\nline".into(),
        };
        let j: serde_json::Value =
            serde_json::from_str(format_entry(Format::Json, &e).trim_end()).unwrap();
        assert_eq!(j["msg"], "a \"quoted\"\nline");
        assert_eq!(j["level"], "WARN");
        let s = format_entry(Format::StructText, &e);
        assert!(s.contains(r#"msg="a \"quoted\"\nline""#), "{s}");
        assert_eq!(s.matches('\n').count(), 1, "one record, one line");
    }

    #[test]
    fn structured_formats_carry_the_context_fields() {
        let e = Entry {
            time: SystemTime::UNIX_EPOCH,
            level: Level::Info,
            target: "t".into(),
            message: "m".into(),
        };
        let ctx = vec![("client_instance_id", "abc".to_string())];
        let s = format_with(Format::StructText, &e, &ctx);
        assert!(s.ends_with(" client_instance_id=abc\n"), "{s}");
        let j: serde_json::Value =
            serde_json::from_str(format_with(Format::Json, &e, &ctx).trim_end()).unwrap();
        assert_eq!(j["client_instance_id"], "abc");
        assert!(!format_with(Format::Text, &e, &ctx).contains("abc"));
    }
}
