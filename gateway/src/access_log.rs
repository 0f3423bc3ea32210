//! The access log: one line per request (time, request id, method, path, route, status,
//! upstream time, bytes, user and channel, client network), never a token, cookie, query or
//! phone. A worker formats its line straight into a shared buffer (no allocation, no wake-up);
//! a thread of its own swaps the buffer out every 100 ms (sooner when it fills) and writes it to
//! stdout. A buffer that stdout cannot drain drops lines and counts them: a worker never waits
//! on a log.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Pending bytes beyond which lines are dropped (stdout blocked).
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// Pending bytes at which the writer is woken before its tick.
const WAKE_AT: usize = 256 * 1024;
/// How long a line may wait for the writer.
const TICK: Duration = Duration::from_millis(100);

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
    /// Time from the upstream's choice to the end of the exchange, when one was asked (µs).
    pub upstream_us: Option<u64>,
    /// Time from the request's header to the end of the answer (µs).
    pub duration_us: u64,
    pub bytes: usize,
    pub user: Option<&'a str>,
    pub channel: Option<&'a str>,
    /// The client's network (`/32` or `/64` by `[limits]`), never its full address.
    pub client: Option<std::net::IpAddr>,
    /// The prefix length of `client`'s network.
    pub client_prefix: u8,
}

struct Shared {
    pending: Mutex<String>,
    wake: Condvar,
}

pub struct AccessLog {
    format: Format,
    shared: Arc<Shared>,
    dropped: prometheus::IntCounter,
}

impl AccessLog {
    /// Starts the writer thread.
    pub fn start(format: Format, dropped: prometheus::IntCounter) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(String::with_capacity(WAKE_AT)),
            wake: Condvar::new(),
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("wxgate-access-log".into())
            .spawn(move || write_lines(&writer))?;
        Ok(Self {
            format,
            shared,
            dropped,
        })
    }

    pub fn record(&self, e: &Entry<'_>) {
        let mut pending = match self.shared.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if pending.len() >= MAX_PENDING {
            drop(pending);
            self.dropped.inc();
            return;
        }
        match self.format {
            Format::Json => json(e, &mut pending),
            Format::Logfmt => logfmt(e, &mut pending),
        }
        if pending.len() >= WAKE_AT {
            self.shared.wake.notify_one();
        }
    }
}

/// Swaps the pending lines out each tick (or when woken) and writes them; stdout is locked only
/// while a batch is written, as the gateway's own log lines share it.
fn write_lines(shared: &Shared) {
    let stdout = std::io::stdout();
    let mut batch = String::with_capacity(WAKE_AT);
    loop {
        {
            let pending = match shared.pending.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            let (mut pending, _) = match shared.wake.wait_timeout(pending, TICK) {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            std::mem::swap(&mut *pending, &mut batch);
        }
        if !batch.is_empty() {
            let mut out = stdout.lock();
            let _ = out.write_all(batch.as_bytes());
            let _ = out.flush();
            drop(out);
            batch.clear();
        }
    }
}

thread_local! {
    /// The RFC 3339 second this thread last formatted, and its text: a log line costs a copy,
    /// not a calendar computation.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

fn now(s: &mut String) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            let text = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs(secs),
            )
            .to_string();
            // "…T17:02:12Z" without its "Z": the milliseconds go in between.
            cached.1 = text.trim_end_matches('Z').to_string();
            cached.0 = secs;
        }
        s.push_str(&cached.1);
    });
    s.push('.');
    push_padded(s, millis as u64, 3);
    s.push('Z');
}

/// `n` in decimal, at least `width` digits, without the formatting machinery (itoa writes
/// the digits without the `fmt` calls or a UTF-8 check).
fn push_padded(s: &mut String, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(n);
    for _ in text.len()..width {
        s.push('0');
    }
    s.push_str(text);
}

fn push_num(s: &mut String, n: u64) {
    s.push_str(itoa::Buffer::new().format(n));
}

fn client(s: &mut String, e: &Entry<'_>) -> bool {
    match e.client {
        // IPv4 by hand (most clients); IPv6 through its `Display`.
        Some(std::net::IpAddr::V4(ip)) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_num(s, u64::from(octet));
            }
            s.push('/');
            push_num(s, u64::from(e.client_prefix));
            true
        }
        Some(ip) => {
            let _ = write!(s, "{ip}/{}", e.client_prefix);
            true
        }
        None => false,
    }
}

fn json(e: &Entry<'_>, s: &mut String) {
    s.push_str("{\"ts\":\"");
    now(s);
    s.push_str("\",\"request_id\":");
    json_str(s, e.request_id);
    s.push_str(",\"method\":");
    json_str(s, e.method);
    s.push_str(",\"path\":");
    json_str(s, e.path);
    s.push_str(",\"route\":");
    json_str(s, e.route);
    s.push_str(",\"status\":");
    push_num(s, u64::from(e.status));
    if let Some(us) = e.upstream_us {
        s.push_str(",\"upstream_us\":");
        push_num(s, us);
    }
    s.push_str(",\"duration_us\":");
    push_num(s, e.duration_us);
    s.push_str(",\"bytes\":");
    push_num(s, e.bytes as u64);
    for (key, value) in [("user", e.user), ("channel", e.channel)] {
        if let Some(v) = value {
            s.push_str(",\"");
            s.push_str(key);
            s.push_str("\":");
            json_str(s, v);
        }
    }
    if e.client.is_some() {
        s.push_str(",\"client\":\"");
        client(s, e);
        s.push('"');
    }
    s.push_str("}\n");
}

fn logfmt(e: &Entry<'_>, s: &mut String) {
    s.push_str("ts=");
    now(s);
    for (key, value) in [
        ("request_id", e.request_id),
        ("method", e.method),
        ("path", e.path),
        ("route", e.route),
    ] {
        s.push(' ');
        s.push_str(key);
        s.push('=');
        logfmt_value(s, value);
    }
    s.push_str(" status=");
    push_num(s, u64::from(e.status));
    if let Some(us) = e.upstream_us {
        s.push_str(" upstream_us=");
        push_num(s, us);
    }
    s.push_str(" duration_us=");
    push_num(s, e.duration_us);
    s.push_str(" bytes=");
    push_num(s, e.bytes as u64);
    for (key, value) in [("user", e.user), ("channel", e.channel)] {
        if let Some(v) = value {
            s.push(' ');
            s.push_str(key);
            s.push('=');
            logfmt_value(s, v);
        }
    }
    if e.client.is_some() {
        s.push_str(" client=");
        client(s, e);
    }
    s.push('\n');
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn json_str(s: &mut String, v: &str) {
    s.push('"');
    // Ids, routes and most paths need no escaping: copied whole, not char by char.
    if !v
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f)
    {
        s.push_str(v);
        s.push('"');
        return;
    }
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
            upstream_us: Some(1500),
            duration_us: 2250,
            bytes: 64,
            user: Some("u_1"),
            channel: Some("mp"),
            client: Some("203.0.113.7".parse().unwrap()),
            client_prefix: 32,
        }
    }

    #[test]
    fn numbers_are_written_in_decimal_padded_where_asked() {
        let mut s = String::new();
        for (n, width) in [(7, 3), (42, 3), (999, 3), (1000, 3), (0, 1), (u64::MAX, 1)] {
            push_padded(&mut s, n, width);
            s.push(' ');
        }
        push_num(&mut s, 12_345);
        assert_eq!(s, format!("007 042 999 1000 0 {} 12345", u64::MAX));
    }

    #[test]
    fn a_buffer_stdout_cannot_drain_drops_lines_and_counts_them() {
        let dropped = prometheus::IntCounter::new("dropped", "test").unwrap();
        // No writer thread: nothing drains.
        let log = AccessLog {
            format: Format::Json,
            shared: Arc::new(Shared {
                pending: Mutex::new(String::new()),
                wake: Condvar::new(),
            }),
            dropped: dropped.clone(),
        };
        let mut recorded = 0;
        while dropped.get() == 0 {
            log.record(&entry());
            recorded += 1;
            assert!(recorded < 100_000, "never dropped");
        }
        let pending = log.shared.pending.lock().unwrap().len();
        assert!(
            (MAX_PENDING..MAX_PENDING + 1024).contains(&pending),
            "{pending}"
        );
        log.record(&entry());
        assert_eq!(dropped.get(), 2);
    }

    #[test]
    fn a_json_line_is_one_valid_object_with_hostile_characters_escaped() {
        let mut line = String::new();
        json(&entry(), &mut line);
        assert!(
            line.ends_with("}\n") && line.matches('\n').count() == 1,
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["path"], "/api/\"x\"\n");
        assert_eq!(v["status"], 200);
        assert_eq!(v["upstream_us"], 1500);
        assert_eq!(v["duration_us"], 2250);
        let ts = v["ts"].as_str().unwrap();
        assert!(
            humantime::parse_rfc3339(ts).is_ok() && ts.len() == 24,
            "{ts}"
        );
        assert_eq!(v["user"], "u_1");
        assert_eq!(v["client"], "203.0.113.7/32");
        let v6 = Entry {
            client: Some("2001:db8::1".parse().unwrap()),
            client_prefix: 64,
            path: "/plain",
            ..entry()
        };
        let mut line = String::new();
        json(&v6, &mut line);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(
            (v["client"].as_str(), v["path"].as_str()),
            (Some("2001:db8::1/64"), Some("/plain"))
        );
    }

    #[test]
    fn a_logfmt_line_quotes_what_needs_quoting() {
        let mut line = String::new();
        logfmt(&entry(), &mut line);
        assert!(line.contains(" path=\"/api/\\\"x\\\"\\n\""), "{line}");
        assert!(
            line.contains(" route=/api/ status=200 upstream_us=1500"),
            "{line}"
        );
        assert!(line.ends_with(" client=203.0.113.7/32\n"), "{line}");
    }
}
