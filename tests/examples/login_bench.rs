//! Load generator for `bench/logins.sh`: mini-program logins per second through the gateway
//! against the WeChat simulator.
//!
//! ```text
//! login_bench setup --sim URL --appid ID --secret S --open-platform OP --users N --prefix P
//! login_bench mint  --sim URL --appid ID --users N --prefix P --out FILE
//! login_bench login --gateway URL --channel mp --codes FILE --concurrency C --label TEXT
//! login_bench phones --users N --out FILE
//! login_bench login --mode send --channel sms --codes PHONES ...   (202 from send_code)
//! login_bench sms-codes --sim URL --codes PHONES --out FILE       (phone and texted code)
//! login_bench login --mode sms --channel sms --codes FILE ...     (an SMS login per line)
//! ```
//!
//! `setup` registers the mini-program and N users in the simulator; `mint` asks the simulator for
//! one `wx.login` code per user (not timed) and writes them one per line; `login` fires
//! `POST {gateway}/_auth/{channel}/login {"code"}` for every code with C concurrent workers and
//! prints one `RESULT` line (logins/s, latency percentiles, errors). A login counts as good only
//! when it answers 200 with an `access_token`. Loopback only; every loop is bounded by N.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

/// Control-API calls in flight while setting up and minting.
const SETUP_CONCURRENCY: usize = 32;
/// At most this many distinct error messages are kept for the report.
const MAX_ERROR_SAMPLES: usize = 5;

struct Args {
    command: String,
    sim: String,
    gateway: String,
    channel: String,
    appid: String,
    secret: String,
    open_platform: String,
    users: usize,
    prefix: String,
    out: String,
    codes: String,
    concurrency: usize,
    label: String,
    /// `code` (a mini-program login), `send` (an SMS send_code) or `sms` (an SMS login).
    mode: String,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or("missing command: setup, mint or login")?;
    let mut a = Args {
        command,
        sim: "http://127.0.0.1:19200".into(),
        gateway: "http://127.0.0.1:19090".into(),
        channel: "mp".into(),
        appid: "wx00000000000000b1".into(),
        secret: "bench-secret".into(),
        open_platform: "bench-op".into(),
        users: 2000,
        prefix: "bench".into(),
        out: String::new(),
        codes: String::new(),
        concurrency: 16,
        label: "logins".into(),
        mode: "code".into(),
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--sim" => a.sim = value,
            "--gateway" => a.gateway = value,
            "--channel" => a.channel = value,
            "--appid" => a.appid = value,
            "--secret" => a.secret = value,
            "--open-platform" => a.open_platform = value,
            "--users" => a.users = number()?,
            "--prefix" => a.prefix = value,
            "--out" => a.out = value,
            "--codes" => a.codes = value,
            "--concurrency" => a.concurrency = number()?.max(1),
            "--label" => a.label = value,
            "--mode" => a.mode = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())
}

/// POSTs JSON to the simulator's control API; a non-2xx is an error naming the path.
async fn control(http: &reqwest::Client, url: String, body: Value) -> Result<Value, String> {
    let resp = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url}: {e}: {text}"))
}

fn user_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}")
}

async fn setup(a: &Args) -> Result<(), String> {
    let http = client()?;
    control(
        &http,
        format!("{}/_sim/apps", a.sim),
        json!({"appid": a.appid, "secret": a.secret, "kind": "miniprogram",
               "open_platform": a.open_platform}),
    )
    .await?;
    stream::iter(0..a.users)
        .map(|i| {
            let http = &http;
            async move {
                control(
                    http,
                    format!("{}/_sim/users", a.sim),
                    json!({"name": user_name(&a.prefix, i)}),
                )
                .await
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    println!(
        "setup: app {} and {} user(s) {}*",
        a.appid, a.users, a.prefix
    );
    Ok(())
}

async fn mint(a: &Args) -> Result<(), String> {
    if a.out.is_empty() {
        return Err("mint needs --out FILE".into());
    }
    let http = client()?;
    let started = Instant::now();
    let codes: Vec<String> = stream::iter(0..a.users)
        .map(|i| {
            let http = &http;
            async move {
                let v = control(
                    http,
                    format!("{}/_sim/login_code", a.sim),
                    json!({"appid": a.appid, "user": user_name(&a.prefix, i)}),
                )
                .await?;
                v.get("code")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("login_code answered without a code: {v}"))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut text = codes.join("\n");
    text.push('\n');
    std::fs::write(&a.out, text).map_err(|e| format!("{}: {e}", a.out))?;
    println!(
        "mint: {} code(s) in {:.2}s -> {}",
        codes.len(),
        started.elapsed().as_secs_f64(),
        a.out
    );
    Ok(())
}

/// `N` distinct mainland mobile numbers, one per line (the SMS phases' users).
fn phones(a: &Args) -> Result<(), String> {
    if a.out.is_empty() {
        return Err("phones needs --out FILE".into());
    }
    let mut text = String::new();
    for i in 0..a.users {
        text.push_str(&format!("1390{:07}\n", i));
    }
    std::fs::write(&a.out, text).map_err(|e| format!("{}: {e}", a.out))?;
    println!("phones: {} number(s) -> {}", a.users, a.out);
    Ok(())
}

/// The code the simulator's SMS sink received for each phone: `phone code` lines (not timed).
async fn sms_codes(a: &Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&a.codes).map_err(|e| format!("{}: {e}", a.codes))?;
    let http = client()?;
    let lines: Vec<String> = stream::iter(text.lines().map(str::trim).filter(|l| !l.is_empty()))
        .map(|phone| {
            let http = &http;
            async move {
                let url = format!("{}/_sim/sms/last?phone={phone}", a.sim);
                let v: Value = http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?
                    .json()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let code = v
                    .get("code")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("no SMS for {phone}: {v}"))?;
                Ok::<_, String>(format!("{phone} {code}"))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    std::fs::write(&a.out, lines.join("\n") + "\n").map_err(|e| format!("{}: {e}", a.out))?;
    println!("sms-codes: {} code(s) -> {}", lines.len(), a.out);
    Ok(())
}

/// One call: `Ok(latency)` when it answers as `mode` expects (a login: 200 with an
/// access_token; a send: 202), else a short reason.
async fn login_once(
    http: &reqwest::Client,
    url: &str,
    line: &str,
    mode: &str,
) -> (Duration, Result<(), String>) {
    let t0 = Instant::now();
    let body = match mode {
        "send" => json!({ "phone": line }),
        "sms" => {
            let (phone, code) = line.split_once(' ').unwrap_or((line, ""));
            json!({ "phone": phone, "code": code })
        }
        _ => json!({ "code": line }),
    };
    let outcome = async {
        let resp = http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let has_token = v
            .get("access_token")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        let good = if mode == "send" {
            status.as_u16() == 202
        } else {
            status.as_u16() == 200 && has_token
        };
        if good {
            Ok(())
        } else {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            text.truncate(160);
            Err(format!("{status}: {text}"))
        }
    }
    .await;
    (t0.elapsed(), outcome)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest-rank
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1e3
}

async fn login(a: &Args) -> Result<bool, String> {
    if a.codes.is_empty() {
        return Err("login needs --codes FILE".into());
    }
    let text = std::fs::read_to_string(&a.codes).map_err(|e| format!("{}: {e}", a.codes))?;
    let codes: Arc<Vec<String>> = Arc::new(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let http = client()?;
    let action = if a.mode == "send" {
        "send_code"
    } else {
        "login"
    };
    let url = Arc::new(format!("{}/_auth/{}/{action}", a.gateway, a.channel));
    let mode = Arc::new(a.mode.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let (http, url, codes, next, mode) = (
                http.clone(),
                url.clone(),
                codes.clone(),
                next.clone(),
                mode.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = Vec::new();
                // bounded: every iteration takes one code and there are codes.len() of them
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(code) = codes.get(i) else { break };
                    let (took, outcome) = login_once(&http, &url, code, &mode).await;
                    match outcome {
                        Ok(()) => latencies.push(took),
                        Err(e) => errors.push(e),
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(codes.len());
    let mut errors = Vec::new();
    for w in workers {
        let (l, e) = w.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors.extend(e);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let ok = latencies.len();
    println!(
        "RESULT label={} logins={} ok={} errors={} concurrency={} secs={:.3} rate={:.1} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        a.label,
        codes.len(),
        ok,
        errors.len(),
        a.concurrency,
        secs,
        ok as f64 / secs,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
    );
    let mut samples: Vec<&String> = Vec::new();
    for e in &errors {
        if samples.len() < MAX_ERROR_SAMPLES && !samples.contains(&e) {
            samples.push(e);
        }
    }
    for e in samples {
        println!("ERROR {e}");
    }
    Ok(errors.is_empty() && !codes.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("login_bench: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "setup" => setup(&args).await.map(|()| true),
        "mint" => mint(&args).await.map(|()| true),
        "login" => login(&args).await,
        "phones" => phones(&args).map(|()| true),
        "sms-codes" => sms_codes(&args).await.map(|()| true),
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("login_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
