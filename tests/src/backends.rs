//! Upstream backends a test can tell apart, fail and kill: each answers its name, keeps
//! connections alive, serves `/healthz` as told, and `kill` closes its listener and every
//! open connection, as a crashed process would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct NamedBackend {
    pub addr: SocketAddr,
    pub name: String,
    healthy: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    health_checks: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl NamedBackend {
    /// Listens on `bind` (port 0 for any).
    pub async fn start(bind: SocketAddr, name: &str) -> Self {
        let listener = TcpListener::bind(bind).await.expect("bind backend");
        let addr = listener.local_addr().unwrap();
        let mut backend = Self {
            addr,
            name: name.to_owned(),
            healthy: Arc::new(AtomicBool::new(true)),
            served: Arc::default(),
            health_checks: Arc::default(),
            task: None,
        };
        backend.serve(listener);
        backend
    }

    fn serve(&mut self, listener: TcpListener) {
        let (name, healthy, served, checks) = (
            self.name.clone(),
            self.healthy.clone(),
            self.served.clone(),
            self.health_checks.clone(),
        );
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every connection goes with the listener.
            let mut connections = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let (name, healthy, served, checks) = (
                    name.clone(),
                    healthy.clone(),
                    served.clone(),
                    checks.clone(),
                );
                connections.spawn(connection(tcp, name, healthy, served, checks));
            }
        }));
    }

    /// Closes the listener and every connection, and waits until they are gone.
    pub async fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn revive(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind backend");
        self.serve(listener);
    }

    /// What `/healthz` answers: 200 or 503.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Requests answered other than health checks.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    pub fn health_checks(&self) -> usize {
        self.health_checks.load(Ordering::SeqCst)
    }
}

impl Drop for NamedBackend {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn connection(
    mut tcp: TcpStream,
    name: String,
    healthy: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    checks: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (status, body) = if path == "/healthz" {
            checks.fetch_add(1, Ordering::SeqCst);
            if healthy.load(Ordering::SeqCst) {
                ("200 OK", "ok".to_owned())
            } else {
                ("503 Service Unavailable", "sick".to_owned())
            }
        } else {
            served.fetch_add(1, Ordering::SeqCst);
            ("200 OK", name.clone())
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-backend: {name}\r\n\r\n{body}",
            body.len()
        );
        if tcp.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
