//! The access log: one line per request (time, request id, method, path, route, status,
//! upstream time, bytes, user and channel, client network), never a token, cookie, query or
//! phone. Workers only format the line and hand it to a bounded queue; a thread of its own
//! writes it to stdout. A full queue (stdout blocked) drops the line and counts it: a worker
//! never waits on a log.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Logfmt,
}

/// What one request leaves in the log.
#[derive(Debug, Default)]
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The normalised path, without the query.
    pub path: &'a str,
    /// The route's prefix, `_auth` for the gateway's own endpoints, `none` when nothing matched.
    pub route: &'a str,
    pub status: u16,
    /// Time from the upstream's choice to the end of the exchange, when one was asked.
    pub upstream_ms: Option<f64>,
    pub duration_ms: f64,
    pub bytes: usize,
    pub user: Option<&'a str>,
    pub channel: Option<&'a str>,
    /// The client's network (`/32` or `/64` by `[limits]`), never its full address.
    pub client: Option<&'a str>,
}

pub struct AccessLog {
    format: Format,
    queue: SyncSender<String>,
    dropped: prometheus::IntCounter,
}

impl AccessLog {
    /// Starts the writer thread.
    pub fn start(format: Format, dropped: prometheus::IntCounter) -> std::io::Result<Self> {
        let (queue, lines) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("wxgate-access-log".into())
            .spawn(move || write_lines(lines))?;
        Ok(Self {
            format,
            queue,
            dropped,
        })
    }

    pub fn record(&self, e: &Entry<'_>) {
        let line = match self.format {
            Format::Json => json(e),
            Format::Logfmt => logfmt(e),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(line)
        {
            self.dropped.inc();
        }
    }
}

/// Writes lines as they come, a batch at a time. Stdout is locked only while a batch is
/// written: the gateway's own log lines share it.
fn write_lines(lines: Receiver<String>) {
    let stdout = std::io::stdout();
    let mut batch = String::with_capacity(64 * 1024);
    while let Ok(line) = lines.recv() {
        batch.push_str(&line);
        while batch.len() < 60 * 1024 {
            match lines.try_recv() {
                Ok(more) => batch.push_str(&more),
                Err(_) => break,
            }
        }
        let mut out = stdout.lock();
        let _ = out.write_all(batch.as_bytes());
        let _ = out.flush();
        drop(out);
        batch.clear();
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn json(e: &Entry<'_>) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"ts\":\"");
    s.push_str(&now());
    s.push_str("\",\"request_id\":");
    json_str(&mut s, e.request_id);
    s.push_str(",\"method\":");
    json_str(&mut s, e.method);
    s.push_str(",\"path\":");
    json_str(&mut s, e.path);
    s.push_str(",\"route\":");
    json_str(&mut s, e.route);
    s.push_str(&format!(",\"status\":{}", e.status));
    if let Some(ms) = e.upstream_ms {
        s.push_str(&format!(",\"upstream_ms\":{ms:.2}"));
    }
    s.push_str(&format!(
        ",\"duration_ms\":{:.2},\"bytes\":{}",
        e.duration_ms, e.bytes
    ));
    for (key, value) in [
        ("user", e.user),
        ("channel", e.channel),
        ("client", e.client),
    ] {
        if let Some(v) = value {
            s.push_str(",\"");
            s.push_str(key);
            s.push_str("\":");
            json_str(&mut s, v);
        }
    }
    s.push_str("}\n");
    s
}

fn logfmt(e: &Entry<'_>) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("ts=");
    s.push_str(&now());
    for (key, value) in [
        ("request_id", Some(e.request_id)),
        ("method", Some(e.method)),
        ("path", Some(e.path)),
        ("route", Some(e.route)),
    ] {
        if let Some(v) = value {
            s.push(' ');
            s.push_str(key);
            s.push('=');
            logfmt_value(&mut s, v);
        }
    }
    s.push_str(&format!(" status={}", e.status));
    if let Some(ms) = e.upstream_ms {
        s.push_str(&format!(" upstream_ms={ms:.2}"));
    }
    s.push_str(&format!(
        " duration_ms={:.2} bytes={}",
        e.duration_ms, e.bytes
    ));
    for (key, value) in [
        ("user", e.user),
        ("channel", e.channel),
        ("client", e.client),
    ] {
        if let Some(v) = value {
            s.push(' ');
            s.push_str(key);
            s.push('=');
            logfmt_value(&mut s, v);
        }
    }
    s.push('\n');
    s
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn json_str(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
}

/// A logfmt value: bare when it can be, else quoted and escaped like JSON.
fn logfmt_value(s: &mut String, v: &str) {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=' && b != b'\\')
    {
        s.push_str(v);
    } else {
        json_str(s, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            request_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            method: "GET",
            path: "/api/\"x\"\n",
            route: "/api/",
            status: 200,
            upstream_ms: Some(1.5),
            duration_ms: 2.25,
            bytes: 64,
            user: Some("u_1"),
            channel: Some("mp"),
            client: Some("203.0.113.7/32"),
        }
    }

    #[test]
    fn a_json_line_is_one_valid_object_with_hostile_characters_escaped() {
        let line = json(&entry());
        assert!(
            line.ends_with("}\n") && line.matches('\n').count() == 1,
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["path"], "/api/\"x\"\n");
        assert_eq!(v["status"], 200);
        assert_eq!(v["upstream_ms"], 1.5);
        assert_eq!(v["user"], "u_1");
        assert_eq!(v["client"], "203.0.113.7/32");
    }

    #[test]
    fn a_logfmt_line_quotes_what_needs_quoting() {
        let line = logfmt(&entry());
        assert!(line.contains(" path=\"/api/\\\"x\\\"\\n\""), "{line}");
        assert!(
            line.contains(" route=/api/ status=200 upstream_ms=1.50"),
            "{line}"
        );
        assert!(line.ends_with(" client=203.0.113.7/32\n"), "{line}");
    }
}
