//! The `[[route]]` table: longest-prefix match on the normalised path.

use crate::config::{HostHeader, Route, RouteAuth};
use crate::tls::PeerTls;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
pub struct CompiledRoute {
    pub index: usize,
    pub prefix: String,
    /// Upstream as written (`host:port`) and its resolved address.
    pub upstream: String,
    pub addr: SocketAddr,
    /// HTTPS to the upstream, its roots and client certificate read at start-up.
    pub tls: Option<Arc<PeerTls>>,
    /// `Some` when the upstream is sent its own name as `Host` rather than the client's.
    pub upstream_host: Option<http::HeaderValue>,
    pub auth: RouteAuth,
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
    /// Resolves every upstream once at start-up; a name that does not resolve stops start-up.
    pub fn compile(routes: &[Route]) -> anyhow::Result<Self> {
        use std::net::ToSocketAddrs;
        let mut compiled = routes
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let addr = r
                    .upstream
                    .to_socket_addrs()
                    .map_err(|e| anyhow::anyhow!("route[{index}].upstream {:?}: {e}", r.upstream))?
                    .next()
                    .ok_or_else(|| {
                        anyhow::anyhow!("route[{index}].upstream {:?}: no address", r.upstream)
                    })?;
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
                let upstream_host = match r.host_header {
                    HostHeader::Client => None,
                    HostHeader::Upstream => Some(upstream_host_value(&r.upstream, tls.is_some())?),
                };
                Ok(CompiledRoute {
                    index,
                    prefix: r.prefix.clone(),
                    upstream: r.upstream.clone(),
                    addr,
                    tls,
                    upstream_host,
                    auth: r.auth,
                    login_channel: r.login_channel.clone(),
                    connect_timeout: r.connect_timeout,
                    read_timeout: r.read_timeout,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        compiled.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Self { routes: compiled })
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
    /// How Pingora reaches this route's upstream.
    pub fn peer(&self) -> pingora::upstreams::peer::HttpPeer {
        use pingora::upstreams::peer::{HttpPeer, HttpUpstreamRequestPolicy};
        let mut peer = match &self.tls {
            Some(tls) => {
                // The SNI is never empty (the config refuses it): Pingora skips verification
                // for a peer without one.
                let mut peer = HttpPeer::new(self.addr, true, tls.sni.clone());
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
            None => HttpPeer::new(self.addr, false, String::new()),
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
            upstream: "127.0.0.1:9000".into(),
            upstream_tls: None,
            host_header: Default::default(),
            auth,
            login_channel: None,
            connect_timeout: std::time::Duration::from_secs(2),
            read_timeout: std::time::Duration::from_secs(30),
        }
    }

    #[test]
    fn longest_prefix_wins_and_prefixes_respect_segments() {
        let table = RouteTable::compile(&[
            route("/", RouteAuth::Public),
            route("/api/", RouteAuth::Required),
            route("/api/public/", RouteAuth::Public),
            route("/admin", RouteAuth::Required),
        ])
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
