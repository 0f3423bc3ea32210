//! The `[[route]]` table: longest-prefix match on the normalised path.

use crate::config::{Route, RouteAuth};
use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct CompiledRoute {
    pub index: usize,
    pub prefix: String,
    /// Upstream as written (`host:port`) and its resolved address.
    pub upstream: String,
    pub addr: SocketAddr,
    pub auth: RouteAuth,
    pub login_channel: Option<String>,
    pub connect_timeout: std::time::Duration,
    pub read_timeout: std::time::Duration,
}

#[derive(Debug, Clone)]
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
                Ok(CompiledRoute {
                    index,
                    prefix: r.prefix.clone(),
                    upstream: r.upstream.clone(),
                    addr,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, auth: RouteAuth) -> Route {
        Route {
            prefix: prefix.into(),
            upstream: "127.0.0.1:9000".into(),
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
