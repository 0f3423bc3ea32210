//! Mixed load for `bench/load.sh`: two gateway replicas on one database, every login channel,
//! refreshes and proxied requests over bearer tokens and cookies, for a fixed time.
//!
//! ```text
//! load setup --sim URL --users N
//! load run   --a URL --b URL --sim URL --users N --seconds S --concurrency C
//! load check --db URL [--expect-users N]
//! ```
//!
//! `setup` registers the apps of `bench/load.sh`'s config (one open platform) and N people with
//! phones. `run` fires operations at random replicas until S seconds have passed; each has one
//! right answer (a login 200, a send 202, a proxied request 200 carrying the identity the token
//! or cookie belongs to), and every other answer is counted and shown. It also checks, as it
//! goes, that each person is always the same user. `check` reads the database afterwards: no
//! unionid, phone or person split across users. Exit status 1 on any 5xx, wrong answer or split.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

mod ops;
use ops::{one, pick};

const MP_APPID: &str = "wx00000000000000c1";
const OA_APPID: &str = "wx00000000000000c2";
const WEB_APPID: &str = "wx00000000000000c3";
const SECRET: &str = "load-secret";
const PLATFORM: &str = "load-op";
/// Token pairs and cookie sessions kept for reuse; older ones are replaced at random.
const POOL: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Op {
    MpLogin,
    Refresh,
    OAuth,
    Sms,
    Bearer,
    Cookie,
}

/// How often each operation is picked, out of the sum.
const MIX: [(Op, u32); 6] = [
    (Op::MpLogin, 3),
    (Op::Refresh, 2),
    (Op::OAuth, 2),
    (Op::Sms, 1),
    (Op::Bearer, 8),
    (Op::Cookie, 4),
];

struct Args {
    command: String,
    a: String,
    b: String,
    sim: String,
    db: String,
    users: usize,
    seconds: u64,
    concurrency: usize,
    /// The people `run` logged in: the live users the database must hold, exactly.
    expect_users: Option<i64>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or("missing command: setup, run or check")?;
    let mut a = Args {
        command,
        a: String::new(),
        b: String::new(),
        sim: String::new(),
        db: String::new(),
        users: 1000,
        seconds: 120,
        concurrency: 16,
        expect_users: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--a" => a.a = value,
            "--b" => a.b = value,
            "--sim" => a.sim = value,
            "--db" => a.db = value,
            "--users" => a.users = number()? as usize,
            "--seconds" => a.seconds = number()?,
            "--concurrency" => a.concurrency = number()?.max(1) as usize,
            "--expect-users" => a.expect_users = Some(number()? as i64),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn person(i: usize) -> String {
    format!("load{i:06}")
}

fn person_phone(i: usize) -> String {
    format!("139{i:08}")
}

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

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .expect("an HTTP client")
}

async fn setup(a: &Args) -> Result<(), String> {
    let http = client();
    for (appid, kind) in [
        (MP_APPID, "miniprogram"),
        (OA_APPID, "official_account"),
        (WEB_APPID, "website"),
    ] {
        control(
            &http,
            format!("{}/_sim/apps", a.sim),
            json!({"appid": appid, "secret": SECRET, "kind": kind, "open_platform": PLATFORM,
                   "redirect_domain": "127.0.0.1"}),
        )
        .await?;
    }
    for i in 0..a.users {
        control(
            &http,
            format!("{}/_sim/users", a.sim),
            json!({"name": person(i), "phone": person_phone(i)}),
        )
        .await?;
    }
    println!("setup: 3 apps on {PLATFORM}, {} people", a.users);
    Ok(())
}

/// A login's proof: the pair and the user it names.
#[derive(Clone)]
struct Pair {
    access: String,
    refresh: String,
    user: String,
}

#[derive(Clone)]
struct CookieSession {
    cookies: HashMap<String, String>,
    user: String,
}

impl CookieSession {
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Applies `Set-Cookie` answers: new values replace, `Max-Age=0` removes.
    fn absorb(&mut self, resp: &reqwest::Response) {
        for value in resp.headers().get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            let Some((name, val)) = pair.split_once('=') else {
                continue;
            };
            if text.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_string(), val.trim().to_string());
            }
        }
    }
}

/// What happened to one operation, when it did not answer as it should.
struct Wrong {
    status: u16,
    what: String,
}

type Outcome = Result<(), Wrong>;

fn wrong(status: u16, what: impl Into<String>) -> Wrong {
    Wrong {
        status,
        what: what.into(),
    }
}

fn transport(e: reqwest::Error) -> Wrong {
    wrong(0, format!("transport: {e}"))
}

#[derive(Default)]
struct Tally {
    ok: u64,
    latencies: Vec<Duration>,
    by_status: HashMap<u16, u64>,
    samples: Vec<String>,
}

struct Shared {
    http: reqwest::Client,
    replicas: [String; 2],
    sim: String,
    users: usize,
    pairs: Mutex<Vec<Pair>>,
    cookies: Mutex<Vec<CookieSession>>,
    /// Each person (or SMS phone) and the one user they must always be.
    people: Mutex<HashMap<String, String>>,
    splits: Mutex<Vec<String>>,
    sms_next: AtomicU64,
    /// The key ids seen signing access tokens: two once the mid-run rotation has activated.
    kids: Mutex<std::collections::BTreeSet<String>>,
}

impl Shared {
    fn replica(&self) -> &str {
        &self.replicas[rand::thread_rng().gen_range(0..2)]
    }

    fn both(&self) -> (&str, &str) {
        let first = rand::thread_rng().gen_range(0..2);
        (&self.replicas[first], &self.replicas[1 - first])
    }

    /// Records that `who` is `user`; a person seen as two users is a split.
    fn same_person(&self, who: &str, user: &str) {
        let mut people = self.people.lock().unwrap();
        match people.get(who) {
            Some(known) if known != user => self
                .splits
                .lock()
                .unwrap()
                .push(format!("{who} is {known} and {user}")),
            Some(_) => {}
            None => {
                people.insert(who.to_string(), user.to_string());
            }
        }
    }

    fn keep_pair(&self, pair: Pair) {
        if let Ok(header) = jsonwebtoken::decode_header(&pair.access) {
            if let Some(kid) = header.kid {
                self.kids.lock().unwrap().insert(kid);
            }
        }
        let mut pairs = self.pairs.lock().unwrap();
        if pairs.len() < POOL {
            pairs.push(pair);
        } else {
            let at = rand::thread_rng().gen_range(0..pairs.len());
            pairs[at] = pair;
        }
    }

    fn keep_cookies(&self, session: CookieSession) {
        let mut all = self.cookies.lock().unwrap();
        if all.len() < POOL {
            all.push(session);
        } else {
            let at = rand::thread_rng().gen_range(0..all.len());
            all[at] = session;
        }
    }
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

async fn run(a: &Args) -> Result<bool, String> {
    let shared = Arc::new(Shared {
        http: client(),
        replicas: [a.a.clone(), a.b.clone()],
        sim: a.sim.clone(),
        users: a.users,
        pairs: Mutex::new(Vec::new()),
        cookies: Mutex::new(Vec::new()),
        people: Mutex::new(HashMap::new()),
        splits: Mutex::new(Vec::new()),
        sms_next: AtomicU64::new(0),
        kids: Mutex::new(Default::default()),
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let s = shared.clone();
            tokio::spawn(async move {
                let mut tallies: HashMap<Op, Tally> = HashMap::new();
                // bounded by the deadline; every operation has a 30 s client timeout
                while Instant::now() < deadline {
                    let op = pick();
                    let t0 = Instant::now();
                    let outcome = one(&s, op).await;
                    let tally = tallies.entry(op).or_default();
                    match outcome {
                        Ok(()) => {
                            tally.ok += 1;
                            tally.latencies.push(t0.elapsed());
                        }
                        Err(w) => {
                            *tally.by_status.entry(w.status).or_default() += 1;
                            if tally.samples.len() < 3 {
                                tally.samples.push(format!("{} {}", w.status, w.what));
                            }
                        }
                    }
                }
                tallies
            })
        })
        .collect();
    let mut all: HashMap<Op, Tally> = HashMap::new();
    for w in workers {
        for (op, t) in w.await.map_err(|e| e.to_string())? {
            let into = all.entry(op).or_default();
            into.ok += t.ok;
            into.latencies.extend(t.latencies);
            for (status, n) in t.by_status {
                *into.by_status.entry(status).or_default() += n;
            }
            let room = 3usize.saturating_sub(into.samples.len());
            into.samples.extend(t.samples.into_iter().take(room));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut ops: Vec<_> = all.into_iter().collect();
    ops.sort_by_key(|(op, _)| *op);
    let (mut total_ok, mut total_wrong, mut server_errors) = (0u64, 0u64, 0u64);
    println!("op        ok      rate/s  p50_ms  p99_ms  wrong (status: count)");
    for (op, t) in &mut ops {
        t.latencies.sort();
        let wrong: u64 = t.by_status.values().sum();
        server_errors += t
            .by_status
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum::<u64>();
        total_ok += t.ok;
        total_wrong += wrong;
        println!(
            "{:<9} {:>7} {:>7.1} {:>7.1} {:>7.1}  {} {:?}",
            format!("{op:?}"),
            t.ok,
            t.ok as f64 / secs,
            percentile_ms(&t.latencies, 50.0),
            percentile_ms(&t.latencies, 99.0),
            wrong,
            t.by_status
        );
        for sample in &t.samples {
            println!(
                "          ! {}",
                sample.chars().take(240).collect::<String>()
            );
        }
    }
    let splits = shared.splits.lock().unwrap().clone();
    let people = shared.people.lock().unwrap().len();
    let kids = shared.kids.lock().unwrap().len();
    println!(
        "RESULT secs={secs:.1} ok={total_ok} wrong={total_wrong} server_errors={server_errors} rate={:.1} people={people} splits={} signing_keys={kids}",
        total_ok as f64 / secs,
        splits.len()
    );
    for split in splits.iter().take(5) {
        println!("SPLIT {split}");
    }
    Ok(total_wrong == 0 && splits.is_empty() && total_ok > 0)
}

/// After the run: nothing in the database makes one person two users.
async fn check(a: &Args) -> Result<bool, String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&a.db)
        .await
        .map_err(|e| format!("{}: {e}", a.db))?;
    let queries = [
        (
            "live users holding one unionid",
            "SELECT COUNT(*) FROM (SELECT unionid FROM users WHERE unionid IS NOT NULL \
             GROUP BY unionid HAVING COUNT(*) > 1) d",
        ),
        (
            "live users holding one phone",
            "SELECT COUNT(*) FROM (SELECT phone FROM users WHERE phone IS NOT NULL \
             GROUP BY phone HAVING COUNT(*) > 1) d",
        ),
        (
            "unionids whose identities belong to two users",
            "SELECT COUNT(*) FROM (SELECT unionid FROM identities WHERE unionid IS NOT NULL \
             GROUP BY unionid HAVING COUNT(DISTINCT user_id) > 1) d",
        ),
        (
            "identities bound to a merged-away user",
            "SELECT COUNT(*) FROM identities i JOIN users u ON u.id = i.user_id \
             WHERE u.merged_into IS NOT NULL",
        ),
        (
            "live users with no identity, phone or unionid",
            "SELECT COUNT(*) FROM users u WHERE u.merged_into IS NULL AND u.phone IS NULL \
             AND u.unionid IS NULL AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id)",
        ),
    ];
    let mut clean = true;
    for (what, sql) in queries {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        println!("check: {what}: {n}");
        clean &= n == 0;
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE merged_into IS NULL AND deleted_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .map_err(|e| e.to_string())?;
    let merged: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE merged_into IS NOT NULL")
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
    println!("check: users {live} live, {merged} merged away");
    if let Some(expected) = a.expect_users {
        println!("check: people logged in {expected}, live users {live}");
        clean &= live == expected;
    }
    Ok(clean)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "setup" => setup(&args).await.map(|()| true),
        "run" => run(&args).await,
        "check" => check(&args).await,
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}
