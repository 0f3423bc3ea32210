//! The client connection below HTTP: deadlines Pingora does not keep (a whole-header deadline,
//! an idle first connection, a body trickled slower than a floor) and a cap on open connections
//! per client network, applied by wrapping each accepted stream before Pingora reads from it.
//! On HTTPS the handshake happens here too, with a rustls configuration of the gateway's own
//! (Pingora's listener builds one without a server cipher order), under the header deadline.

mod caps;
mod guard;
mod header_end;

pub use caps::{NetworkCaps, Slot};
pub use guard::{Guarded, Limits};

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

/// A Pingora application whose every connection is [`Guarded`] first.
pub struct GuardedApp<A> {
    inner: Arc<A>,
    limits: Arc<Limits>,
    caps: Option<Arc<NetworkCaps>>,
    refused_cap: prometheus::IntCounter,
    tls: Option<Handshakes>,
}

/// TLS on accepted connections.
pub struct Handshakes {
    pub acceptor: pingora::listeners::tls::Acceptor,
    /// `wxgate_connections_refused_total{reason="tls_handshake_timeout"}`.
    pub refused_slow: prometheus::IntCounter,
}

impl<A> GuardedApp<A> {
    pub fn new(
        inner: A,
        limits: Limits,
        caps: Option<NetworkCaps>,
        refused_cap: prometheus::IntCounter,
        tls: Option<Handshakes>,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            limits: Arc::new(limits),
            caps: caps.map(Arc::new),
            refused_cap,
            tls,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GuardedApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let slot = match (&self.caps, peer_ip(&stream)) {
            (Some(caps), Some(ip)) => match caps.admit(ip) {
                Ok(slot) => slot,
                Err(caps::NetworkFull) => {
                    self.refused_cap.inc();
                    return None;
                }
            },
            _ => None,
        };
        let stream: Stream = match &self.tls {
            None => stream,
            Some(tls) => {
                // The listener is plain TCP: its streams are Pingora's L4 streams.
                let Ok(tcp) = stream
                    .into_any()
                    .downcast::<pingora::protocols::l4::stream::Stream>()
                else {
                    tracing::error!("an accepted connection is not a TCP stream; closed");
                    return None;
                };
                let handshake = tls.acceptor.tls_handshake(*tcp);
                match tokio::time::timeout(self.limits.header_timeout, handshake).await {
                    Ok(Ok(done)) => Box::new(done),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return None;
                    }
                    Err(_) => {
                        tls.refused_slow.inc();
                        return None;
                    }
                }
            }
        };
        let guarded: Stream = Box::new(Guarded::new(stream, self.limits.clone(), slot));
        self.inner.process_new(guarded, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

fn peer_ip(stream: &Stream) -> Option<std::net::IpAddr> {
    let digest = stream.get_socket_digest()?;
    let addr = digest.peer_addr()?;
    addr.as_inet().map(|a| a.ip())
}
