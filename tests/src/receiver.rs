//! A webhook receiver for the identity-event tests: records every delivery (its signature
//! checked the way a receiver would), and can be told to fail, or to hold requests open.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// One POST as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub kind: String,
    pub body: Value,
    pub header_id: String,
    pub signature_ok: bool,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct Behaviour {
    received: Vec<Received>,
    /// Answer 500 to this many more requests.
    fail_next: usize,
    in_flight: usize,
}

#[derive(Clone)]
struct Shared {
    secret: Arc<Vec<u8>>,
    state: Arc<Mutex<Behaviour>>,
    /// While true, requests are held open until it turns false.
    hold: watch::Receiver<bool>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<Behaviour>>,
    hold: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts on a free port.
    pub async fn start(secret: &str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), secret).await
    }

    /// Starts on `addr` (a receiver that comes back where it was).
    pub async fn start_on(addr: SocketAddr, secret: &str) -> Self {
        let state = Arc::new(Mutex::new(Behaviour::default()));
        let (hold, hold_rx) = watch::channel(false);
        let shared = Shared {
            secret: Arc::new(secret.as_bytes().to_vec()),
            state: state.clone(),
            hold: hold_rx,
        };
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            hold,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// Holds every request open (`true`) until released (`false`).
    pub fn hold(&self, on: bool) {
        let _ = self.hold.send(on);
    }

    pub fn in_flight(&self) -> usize {
        self.state.lock().unwrap().in_flight
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The deliveries answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.status < 300)
            .collect()
    }

    /// Waits (up to `within`) until `done` holds for what arrived; returns it either way.
    pub async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.received();
            if done(&seen) || Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops listening (a receiver that goes down).
    pub fn stop(self) {
        self.task.abort();
    }
}

fn now_secs() -> i64 {
    #[allow(clippy::disallowed_methods)] // A receiver checks against its own wall clock.
    let now = SystemTime::now();
    now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("wxgate-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let signature_ok = wxgate_sim::verify_event_signature(&s.secret, signature, &body, now_secs());
    s.state.lock().unwrap().in_flight += 1;
    // Counted out however the request ends (the sender may give up and drop it).
    struct InFlight(Arc<Mutex<Behaviour>>);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.lock().unwrap().in_flight -= 1;
        }
    }
    let _in_flight = InFlight(s.state.clone());
    let mut hold = s.hold.clone();
    while *hold.borrow() {
        if hold.changed().await.is_err() {
            break;
        }
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = s.state.lock().unwrap();
    let status = if state.fail_next > 0 {
        state.fail_next -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else if signature_ok {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    };
    state.received.push(Received {
        id: event["id"].as_str().unwrap_or_default().to_string(),
        kind: event["type"].as_str().unwrap_or_default().to_string(),
        header_id: headers
            .get("wxgate-event-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: event,
        signature_ok,
        status: status.as_u16(),
    });
    status
}
