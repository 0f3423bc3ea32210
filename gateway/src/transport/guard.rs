//! A client connection with deadlines Pingora does not keep: the whole request header within
//! `header_timeout` (Pingora's read timeout is per read, so a header trickled a line at a time
//! never ends), the first request within `idle_timeout`, and a request body no slower than
//! `min_body_rate`. A stream wrapper, because Pingora reads the header before any hook runs.
//!
//! The phases follow the bytes: the first byte of a request arms the header deadline, the end
//! of the header (an empty line) starts the body clock, and the gateway's first write of an
//! answer ends both until the next request. A `101 Switching Protocols` (a WebSocket) and
//! HTTP/2 connections are left alone, except that with `max_connection_age` an upgraded socket
//! ends that long after its handshake, so that its client reconnects and is judged again.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, UniqueID, UniqueIDType,
};
use pingora::protocols::{SocketDigest, TimingDigest};
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::caps::Slot;
use super::header_end::HeaderEnd;

/// The limits, shared by every connection of a listener.
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Bytes per second; 0 is off.
    pub min_body_rate: u32,
    /// How long an upgraded socket (a WebSocket) lives; unbounded when `None`.
    pub max_connection_age: Option<Duration>,
    pub refused_header: prometheus::IntCounter,
    pub refused_body: prometheus::IntCounter,
}

enum Phase {
    /// A new connection before its first byte: Pingora can only be waiting for a request.
    Fresh,
    /// Between requests: Pingora's keep-alive timeout (set per request) applies.
    Between,
    /// Reading a header; its deadline is armed.
    Header { scan: HeaderEnd },
    /// The header has ended; counting the body's bytes.
    Body { since: Instant, bytes: u64 },
    /// HTTP/2, an upgraded connection, or one being cut: no more checks.
    Off,
    /// An upgraded socket that ends when the deadline fires (`max_connection_age`).
    Aging,
}

pub struct Guarded {
    inner: pingora::protocols::Stream,
    limits: Arc<Limits>,
    phase: Phase,
    /// One timer per connection, re-armed per request rather than allocated again.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
    /// Keeps this connection counted against its network while it is open.
    _slot: Option<Slot>,
}

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

impl Guarded {
    pub fn new(inner: pingora::protocols::Stream, limits: Arc<Limits>, slot: Option<Slot>) -> Self {
        let h2 = matches!(
            inner.selected_alpn_proto(),
            Some(pingora::protocols::ALPN::H2)
        );
        let phase = if h2 { Phase::Off } else { Phase::Fresh };
        Self {
            deadline: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            armed: !h2,
            inner,
            limits,
            phase,
            _slot: slot,
        }
    }

    /// Tells the client why, as far as the socket takes it without waiting, and stops.
    fn cut(&mut self, cx: &mut Context<'_>) {
        let _ = Pin::new(&mut self.inner).poll_write(cx, REQUEST_TIMEOUT);
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
        self.phase = Phase::Off;
        self.armed = false;
    }

    /// Moves the phase along for `n` new bytes, `piece`.
    fn saw(&mut self, piece: &[u8]) -> std::io::Result<()> {
        match &mut self.phase {
            Phase::Fresh | Phase::Between => {
                self.phase = Phase::Header {
                    scan: HeaderEnd::default(),
                };
                let at = Instant::now() + self.limits.header_timeout;
                self.deadline.as_mut().reset(at);
                self.armed = true;
                self.saw(piece)
            }
            Phase::Header { scan } => {
                if let Some(end) = scan.feed(piece) {
                    self.armed = false;
                    self.phase = Phase::Body {
                        since: Instant::now(),
                        bytes: (piece.len() - end) as u64,
                    };
                }
                Ok(())
            }
            Phase::Body { since, bytes } => {
                *bytes += piece.len() as u64;
                let rate = u64::from(self.limits.min_body_rate);
                let grace = self.limits.header_timeout;
                let elapsed = since.elapsed();
                if rate > 0 && elapsed > grace {
                    let owed = rate.saturating_mul((elapsed - grace).as_secs());
                    if *bytes < owed {
                        self.limits.refused_body.inc();
                        self.phase = Phase::Off;
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "request body slower than min_body_rate",
                        ));
                    }
                }
                Ok(())
            }
            Phase::Off | Phase::Aging => Ok(()),
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if let Phase::Aging = this.phase {
            if this.deadline.as_mut().poll(cx).is_ready() {
                // The end of the stream, as if the client had closed: the tunnel winds down.
                this.phase = Phase::Off;
                return Poll::Ready(Ok(()));
            }
        }
        if this.armed && this.deadline.as_mut().poll(cx).is_ready() {
            let fresh = matches!(this.phase, Phase::Fresh);
            this.armed = false;
            this.phase = Phase::Off;
            if fresh {
                // Nothing asked: end quietly, as a client closing would.
                return Poll::Ready(Ok(()));
            }
            this.limits.refused_header.inc();
            this.cut(cx);
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request header not complete within header_timeout",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[before..];
            if !new.is_empty() && !matches!(this.phase, Phase::Off | Phase::Aging) {
                this.saw(new)?;
            }
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match this.phase {
            Phase::Off | Phase::Aging | Phase::Between | Phase::Fresh => {}
            // `100 Continue` asks for the body: the request is still arriving.
            _ if data.starts_with(b"HTTP/1.1 100 ") => {}
            _ if data.starts_with(b"HTTP/1.1 101 ") => {
                this.armed = false;
                this.phase = match this.limits.max_connection_age {
                    Some(age) => {
                        this.deadline.as_mut().reset(Instant::now() + age);
                        Phase::Aging
                    }
                    None => Phase::Off,
                };
            }
            _ => {
                this.phase = Phase::Between;
                this.armed = false;
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for Guarded {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
