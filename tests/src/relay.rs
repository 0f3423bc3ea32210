//! A TCP relay between the gateway and its database that a test can cut: a database outage as
//! the gateway sees it (open connections drop, new ones are refused), or a database that hangs
//! (connections stay open and nothing comes back), without touching the shared server other
//! tests use.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Relay {
    pub addr: SocketAddr,
    target: SocketAddr,
    /// Bumped on every cut: each relayed connection watches it and ends when it changes.
    cuts: watch::Sender<u64>,
    /// While true, relayed bytes stop both ways and new connections are held unanswered.
    stalled: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on an ephemeral loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
        let addr = listener.local_addr().expect("relay addr");
        let (cuts, _) = watch::channel(0u64);
        let (stalled, _) = watch::channel(false);
        let accept = Some(tokio::spawn(accept_loop(
            listener,
            target,
            cuts.clone(),
            stalled.clone(),
        )));
        Self {
            addr,
            target,
            cuts,
            stalled,
            accept,
        }
    }

    /// Ends every relayed connection and stops listening: new connections are refused, as
    /// when the database server is down, until [`Relay::restore`].
    pub async fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The database hangs: every connection stays open and nothing more comes back, until
    /// [`Relay::restore`].
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Listens again on the same port, and ends a stall (dropping the hung connections, as a
    /// database restarted would).
    pub async fn restore(&mut self) {
        if self.stalled.send_replace(false) {
            self.cuts.send_modify(|n| *n += 1);
        }
        if self.accept.is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr).await.expect("relay rebind");
        self.accept = Some(tokio::spawn(accept_loop(
            listener,
            self.target,
            self.cuts.clone(),
            self.stalled.clone(),
        )));
    }

    /// `url` with its `host:port` replaced by the relay's.
    pub fn rewrite(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("url has a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let creds = authority
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        format!("{scheme}://{creds}{}/{path}", self.addr)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.cuts.send_modify(|n| *n += 1);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    cuts: watch::Sender<u64>,
    stalled: watch::Sender<bool>,
) {
    while let Ok((mut client, _)) = listener.accept().await {
        let mut cut = cuts.subscribe();
        let mut stall = stalled.subscribe();
        tokio::spawn(async move {
            let held = *stall.borrow();
            if held {
                // Held open, unanswered, until the stall or the relay ends.
                let _ = cut.changed().await;
                return;
            }
            let Ok(mut server) = TcpStream::connect(target).await else {
                return;
            };
            let stalled = tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                _ = cut.changed() => false,
                r = stall.wait_for(|s| *s) => r.is_ok(),
            };
            if stalled {
                // Both sockets stay open; nothing moves until the relay ends them.
                let _ = cut.changed().await;
            }
        });
    }
}

/// The `host:port` a database URL points at, resolved.
pub fn target_of(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").expect("url has a scheme").1;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port
        .to_socket_addrs()
        .expect("database address resolves")
        .next()
        .expect("database address resolves")
}
