//! The `[[route]]` table: longest-prefix match on the normalised path.

use crate::config::{Balance, HostHeader, Route, RouteAuth};
use crate::tls::PeerTls;
use crate::upstream::{PoolContext, Upstream};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
pub struct CompiledRoute {
    pub index: usize,
    pub prefix: String,
    /// Upstream as written (`host:port`, a pool's joined by `, `), for logs.
    pub upstream: String,
    /// Where requests go: one address or a pool.
    pub backends: Arc<Upstream>,
    /// A pool balanced by user id: the request's user (or network) picks the backend.
    pub by_user: bool,
    /// HTTPS to the upstream, its roots and client certificate read at start-up.
    pub tls: Option<Arc<PeerTls>>,
    /// `Some` when the upstream is sent its own name as `Host` rather than the client's.
    pub upstream_host: Option<http::HeaderValue>,
    pub auth: RouteAuth,
    /// The identity headers it sends.
    pub identity_headers: crate::headers::IdentitySet,
    pub login_channel: Option<String>,
    pub connect_timeout: std::time::Duration,
    pub read_timeout: std::time::Duration,
}

#[derive(Clone)]
pub struct RouteTable {
    /// Longest prefix first, so the first match is the most specific.
    routes: Vec<CompiledRoute>,
}

impl RouteTable {
    /// Builds every route's upstream: fixed addresses as they are, pools empty until
    /// `start_pools` reads their members.
    pub fn compile(routes: &[Route], pools: &mut PoolContext) -> anyhow::Result<Self> {
        let mut compiled = routes
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let tls = match &r.upstream_tls {
                    Some(t) => Some(Arc::new(
                        PeerTls::load(
                            &t.sni,
                            t.ca_file.as_deref(),
                            t.client_cert.as_ref(),
                            t.http2,
                        )
                        .map_err(|e| anyhow::anyhow!("route[{index}]: {e}"))?,
                    )),
                    None => None,
                };
                let backends = Upstream::build(r, tls.as_deref(), pools)
                    .map_err(|e| anyhow::anyhow!("route[{index}].upstream: {e}"))?;
                let upstream_host = match r.host_header {
                    HostHeader::Client => None,
                    HostHeader::Upstream => {
                        Some(upstream_host_value(&r.upstream[0], tls.is_some())?)
                    }
                };
                Ok(CompiledRoute {
                    index,
                    prefix: r.prefix.clone(),
                    upstream: r.upstream.join(", "),
                    by_user: r.balance == Balance::User && matches!(backends, Upstream::Pool(_)),
                    backends: Arc::new(backends),
                    tls,
                    upstream_host,
                    auth: r.auth,
                    identity_headers: r.identity_headers,
                    login_channel: r.login_channel.clone(),
                    connect_timeout: r.connect_timeout,
                    read_timeout: r.read_timeout,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        compiled.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Self { routes: compiled })
    }

    /// Reads each pool's members once (a pool with none is a start-up error naming the
    /// route), then keeps them and their health current on `rt`.
    pub async fn start_pools(&self, rt: &tokio::runtime::Handle) -> anyhow::Result<()> {
        for route in &self.routes {
            if let Upstream::Pool(pool) = route.backends.as_ref() {
                if let Err(e) = pool.refresh().await {
                    anyhow::bail!(
                        "route[{}].upstream ({}): no backend address ({e}); check the names \
                         and [server] dns",
                        route.index,
                        route.upstream
                    );
                }
                tracing::info!(
                    route = %route.prefix,
                    backends = ?pool.members().iter().map(|b| b.addr.to_string()).collect::<Vec<_>>(),
                    "upstream pool ready"
                );
                pool.spawn(rt);
            }
        }
        Ok(())
    }

    /// The most specific route whose prefix starts the path. A prefix without a trailing slash
    /// (`/api`) matches `/api` and `/api/...`, never `/apix`.
    pub fn find(&self, path: &str) -> Option<&CompiledRoute> {
        self.routes.iter().find(|r| {
            let p = r.prefix.as_str();
            if p.ends_with('/') {
                path.starts_with(p) || path == p.trim_end_matches('/')
            } else {
                path == p
                    || path
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        })
    }

    pub fn get(&self, index: usize) -> Option<&CompiledRoute> {
        self.routes.iter().find(|r| r.index == index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &CompiledRoute> {
        self.routes.iter()
    }
}

impl CompiledRoute {
    /// The backend for this request: the fixed address, or the pool's choice (`key` is the
    /// user or network for a pool balanced by user). `None`: every backend is down.
    pub fn choose(&self, key: &[u8]) -> Option<SocketAddr> {
        match self.backends.as_ref() {
            Upstream::Fixed(addr) => Some(*addr),
            Upstream::Pool(pool) => pool.select(key),
        }
    }

    /// Leaves a pool's backend out after it refused a connection; true when it was (and the
    /// request may try another). A fixed address, or a pool's only member, stays.
    pub fn eject(&self, addr: SocketAddr) -> bool {
        match self.backends.as_ref() {
            Upstream::Fixed(_) => false,
            Upstream::Pool(pool) => pool.eject(addr),
        }
    }

    /// How Pingora reaches `addr`, one of this route's backends.
    pub fn peer(&self, addr: SocketAddr) -> pingora::upstreams::peer::HttpPeer {
        use pingora::upstreams::peer::{HttpPeer, HttpUpstreamRequestPolicy};
        let mut peer = match &self.tls {
            Some(tls) => {
                // The SNI is never empty (the config refuses it): Pingora skips verification
                // for a peer without one.
                let mut peer = HttpPeer::new(addr, true, tls.sni.clone());
                // Pingora's pool key leaves out the CA: without a key of its own, a route
                // would reuse a connection another route verified against other roots.
                peer.group_key = self.index as u64 + 1;
                peer.options.ca = tls.ca.clone();
                peer.client_cert_key = tls.client_cert.clone();
                if tls.http2 {
                    peer.options.set_http_version(2, 1);
                }
                peer
            }
            None => HttpPeer::new(addr, false, String::new()),
        };
        // `headers::strip` has already removed every hop-by-hop header, whatever `Connection`
        // names, and every upgrade but a judged WebSocket; Pingora's own pass would only do
        // it again.
        peer.options.http_upstream_request_policy = HttpUpstreamRequestPolicy::preserve();
        peer.options.connection_timeout = Some(self.connect_timeout);
        peer.options.read_timeout = Some(self.read_timeout);
        peer.options.idle_timeout = Some(std::time::Duration::from_secs(60));
        peer
    }
}

/// `host[:port]` as the upstream expects it in `Host`: the default port of its scheme left out.
fn upstream_host_value(address: &str, https: bool) -> anyhow::Result<http::HeaderValue> {
    let default = if https { ":443" } else { ":80" };
    let host = address.strip_suffix(default).unwrap_or(address);
    Ok(http::HeaderValue::from_str(host)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, auth: RouteAuth) -> Route {
        Route {
            prefix: prefix.into(),
            upstream: vec!["127.0.0.1:9000".into()],
            balance: Default::default(),
            health_check: None,
            health_interval: std::time::Duration::from_secs(5),
            eject_for: std::time::Duration::from_secs(10),
            upstream_tls: None,
            host_header: Default::default(),
            auth,
            identity_headers: Default::default(),
            login_channel: None,
            connect_timeout: std::time::Duration::from_secs(2),
            read_timeout: std::time::Duration::from_secs(30),
        }
    }

    #[test]
    fn longest_prefix_wins_and_prefixes_respect_segments() {
        let table = RouteTable::compile(
            &[
                route("/", RouteAuth::Public),
                route("/api/", RouteAuth::Required),
                route("/api/public/", RouteAuth::Public),
                route("/admin", RouteAuth::Required),
            ],
            &mut PoolContext::for_tests(),
        )
        .unwrap();
        let prefix = |p: &str| table.find(p).map(|r| r.prefix.clone());
        assert_eq!(prefix("/api/x").as_deref(), Some("/api/"));
        assert_eq!(prefix("/api").as_deref(), Some("/api/"));
        assert_eq!(prefix("/api/public/x").as_deref(), Some("/api/public/"));
        assert_eq!(prefix("/admin").as_deref(), Some("/admin"));
        assert_eq!(prefix("/admin/users").as_deref(), Some("/admin"));
        assert_eq!(prefix("/adminx").as_deref(), Some("/"));
        assert_eq!(prefix("/other").as_deref(), Some("/"));
    }
}
