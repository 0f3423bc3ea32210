//! The Pingora service: normalise, strip, verify, inject, forward — one hook per step.

use crate::cookies;
use crate::headers::{self, Identity};
use crate::request;
use crate::rescue::{self, ApiError, ErrorCode};
use crate::respond::{write_empty, write_error};
use crate::state::Gateway;
use crate::verify::Verified;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::Peer;
use pingora::{Error, ErrorType};
use std::sync::Arc;
use std::time::Instant;

mod steps;
use steps::{forwarded_headers, Next};

pub struct GatewayProxy(pub Arc<Gateway>);

/// How long prepared identity headers are reused: well inside the assertion's 60 s life, so an
/// upstream never receives an assertion about to expire.
const PREPARED_FOR_MS: i64 = 45_000;

/// Per-request state.
#[derive(Default)]
pub struct RequestCtx {
    route: Option<usize>,
    /// Set only after a successful verification on a route that carries identity.
    injected: Option<Arc<headers::Prepared>>,
    upstream_started: Option<Instant>,
    handled_by_gateway: bool,
    /// A browser session renewed on the way: its new cookies ride on the upstream's answer.
    set_cookies: Vec<String>,
    /// The TCP peer is one of `trusted_proxies`: its `X-Forwarded-*` headers are kept and
    /// extended rather than replaced.
    from_trusted_proxy: bool,
    /// The verified token of a route that carries identity: the user for a pool balanced by
    /// user, and for the access log.
    identity: Option<Arc<wxgate_core::token::VerifiedToken>>,
    /// `X-Request-Id` (a trusted proxy's, or made here), set on the request first of all.
    request_id: Option<http::HeaderValue>,
    /// When the request's header had been read.
    started: Option<Instant>,
}

impl GatewayProxy {
    /// The identity headers for this token and route, built (and the assertion signed) once
    /// and memoised on the token's cache entry until shortly before the assertion expires.
    /// Per token, not per session: a session's next token may carry other facts (a phone
    /// verified since) in the same second.
    fn injected_for(
        &self,
        verified: &Verified,
        route: usize,
    ) -> pingora::Result<Arc<headers::Prepared>> {
        let g = &self.0;
        let claims = &verified.token.claims;
        let now = g.tokens.clock().now_ms();
        let slot = route as u64;
        if let Some(hit) = verified
            .token
            .recall::<headers::Prepared>(slot, now - PREPARED_FOR_MS)
        {
            return Ok(hit);
        }
        let compiled = g.routes.get(route);
        let aud = compiled.map(|r| r.prefix.as_str()).unwrap_or("/");
        let set = compiled.map(|r| r.identity_headers).unwrap_or_default();
        // An assertion costs an ES256 signature: made only for a route that sends it.
        let assertion = if set.has("assertion") {
            let (assertion, _) = g
                .tokens
                .sign_assertion(
                    aud,
                    &claims.sub,
                    &claims.chn,
                    claims.oid.as_deref(),
                    claims.uid.as_deref(),
                    claims.phn.as_deref(),
                )
                .map_err(|e| Error::explain(ErrorType::InternalError, e.to_string()))?;
            Some(assertion)
        } else {
            None
        };
        let prepared = headers::prepare(
            &g.headers,
            set,
            &Identity {
                user: &claims.sub,
                channel: &claims.chn,
                openid: claims.oid.as_deref(),
                unionid: claims.uid.as_deref(),
                phone: claims.phn.as_deref(),
                assertion: assertion.as_deref(),
            },
        )
        .map_err(|e| Error::explain(ErrorType::InternalError, e.to_string()))?;
        let prepared = Arc::new(prepared);
        verified.token.remember(slot, now, prepared.clone());
        Ok(prepared)
    }

    /// A TLS handshake with an upstream that failed is said plainly, once per request: a
    /// wrong `ca_file` or `sni` is a configuration error an operator must see. The request
    /// still gets its 502; nothing falls back to an unverified connection.
    fn report_upstream_tls_failure(&self, e: &Error, ctx: &RequestCtx) {
        use pingora::ErrorType;
        let tls = matches!(
            e.etype(),
            ErrorType::TLSHandshakeFailure
                | ErrorType::InvalidCert
                | ErrorType::HandshakeError
                | ErrorType::TLSWantX509Lookup
        );
        let Some(route) = ctx.route.and_then(|i| self.0.routes.get(i)) else {
            return;
        };
        if let (true, Some(peer)) = (tls, &route.tls) {
            self.0
                .metrics
                .transport
                .upstream_tls_failures
                .with_label_values(&[&route.prefix])
                .inc();
            tracing::error!(
                route = %route.prefix,
                upstream = %route.upstream,
                sni = %peer.sni,
                error = %e,
                "TLS with the upstream failed: check its certificate against the route's \
                 ca_file (or the system roots) and sni"
            );
        }
    }

    /// 401, or for a browser a redirect to the route's login channel, else to the login page.
    async fn deny(
        &self,
        session: &mut Session,
        route: usize,
        error: ApiError,
    ) -> pingora::Result<bool> {
        let g = &self.0;
        let login = g.routes.get(route).and_then(|r| r.login_channel.clone());
        // Only "who are you?" sends a browser to log in; an outage is answered as one.
        if error.code == ErrorCode::Unauthorized
            && request::is_browser_navigation(session.req_header())
            && (login.is_some() || !g.login_options.is_empty())
        {
            let uri = &session.req_header().uri;
            let here = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let location = login
                .and_then(|channel| g.login_start(&channel, here))
                .unwrap_or_else(|| g.login_page_for(here));
            let mut extra = error.headers;
            extra.push(("location", location));
            write_empty(session, 302, &extra).await?;
            return Ok(true);
        }
        write_error(session, &error).await?;
        Ok(true)
    }
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> Self::CTX {
        RequestCtx::default()
    }

    fn init_downstream_modules(&self, modules: &mut pingora::modules::http::HttpModules) {
        // Pingora's default: compression present and off.
        modules
            .add_module(pingora::modules::http::compression::ResponseCompressionBuilder::enable(0));
        if let Some(age) = self.0.hsts {
            modules.add_module(Box::new(crate::hsts::Hsts::max_age(age)));
        }
    }

    /// The straight line, one named step each; a step that answered ends it.
    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<bool> {
        macro_rules! step {
            ($e:expr) => {
                if let Next::Answered = $e.await? {
                    return Ok(true);
                }
            };
        }
        // Between requests a kept-alive connection waits this long (nginx's keepalive_timeout).
        session.set_keepalive(Some(self.0.idle_timeout_secs));
        self.assign_request_id(session, ctx)?;
        step!(self.refuse_ambiguous_framing(session));
        step!(self.judge_the_forwarded_target(session));
        step!(self.normalise_path(session));
        // Boxed, and built only for the gateway's own paths: the endpoints (logins, OpenID
        // Connect, the database) would otherwise make every request's future as large as the
        // largest of them, and building one copies it.
        if self.is_the_gateways(session) {
            step!(Box::pin(self.serve_gateway_endpoints(session, ctx)));
        }
        step!(self.choose_route(session, ctx));
        step!(self.verify_strip_and_renew(session, ctx));
        if session.is_http2() {
            // Boxed: its deadline and body read would otherwise widen every request's future.
            step!(Box::pin(self.settle_small_h2_body(session, ctx)));
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<Box<HttpPeer>> {
        let g = &self.0;
        let route = ctx
            .route
            .and_then(|i| g.routes.get(i))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route chosen"))?;
        let addr = if route.by_user {
            match &ctx.identity {
                Some(token) => route.choose(token.claims.sub.as_bytes()),
                None => {
                    let network = g
                        .client_ip(session)
                        .map(|ip| g.networks.of(ip).to_string())
                        .unwrap_or_default();
                    route.choose(network.as_bytes())
                }
            }
        } else {
            route.choose(b"")
        };
        let Some(addr) = addr else {
            return Err(Error::create(
                ErrorType::ConnectNoRoute,
                pingora::ErrorSource::Upstream,
                Some("every backend of this route is down".into()),
                None,
            ));
        };
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(route.peer(addr)))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        let mut add = headers::Additions::open(upstream, self.0.preserve_header_case);
        forwarded_headers(session, &mut add, ctx.from_trusted_proxy)?;
        if let Some(host) = ctx
            .route
            .and_then(|i| self.0.routes.get(i))
            .and_then(|r| r.upstream_host.clone())
        {
            add.insert(&http::header::HOST, Bytes::from_static(b"Host"), host)?;
        }
        if let Some(prepared) = &ctx.injected {
            headers::inject(&mut add, prepared)?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        // An upstream never sets the gateway's cookies (it could fix a browser's session).
        let set = &upstream_response.headers;
        if set
            .get_all(http::header::SET_COOKIE)
            .iter()
            .any(|v| cookies::set_cookie_is_ours(v.as_bytes()))
        {
            let kept: Vec<_> = set
                .get_all(http::header::SET_COOKIE)
                .iter()
                .filter(|v| !cookies::set_cookie_is_ours(v.as_bytes()))
                .cloned()
                .collect();
            upstream_response.remove_header(&http::header::SET_COOKIE);
            for v in kept {
                upstream_response.append_header(http::header::SET_COOKIE, v)?;
            }
        }
        if let Some(id) = &ctx.request_id {
            upstream_response.insert_header(crate::request_id::HEADER, id.clone())?;
        }
        if !ctx.set_cookies.is_empty() {
            // A renewed session's cookies must not be stored by a shared cache and handed to
            // the next visitor.
            upstream_response.insert_header(http::header::CACHE_CONTROL, "private, no-store")?;
            upstream_response.remove_header(&http::header::EXPIRES);
            for cookie in std::mem::take(&mut ctx.set_cookies) {
                upstream_response.append_header(http::header::SET_COOKIE, cookie)?;
            }
        }
        Ok(())
    }

    /// A backend that refused the connection is left out, and the request tried on another
    /// of the pool (nothing was sent yet). A TLS failure is the route's configuration, not a
    /// backend's health: it is not retried.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let down = matches!(
            e.etype(),
            ErrorType::ConnectRefused
                | ErrorType::ConnectTimedout
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
        );
        let route = ctx.route.and_then(|i| self.0.routes.get(i));
        if let (true, Some(route), Some(addr)) = (down, route, peer.address().as_inet()) {
            if route.eject(*addr) {
                e.set_retry(true);
            }
        }
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        self.report_upstream_tls_failure(e, ctx);
        let code = match rescue::from_proxy_error(e) {
            Some(mut api) => {
                // A renewed session keeps its new cookies even when the upstream failed.
                api.headers.extend(
                    std::mem::take(&mut ctx.set_cookies)
                        .into_iter()
                        .map(|c| ("set-cookie", c)),
                );
                if write_error(session, &api).await.is_err() {
                    tracing::debug!("could not write the error response");
                }
                api.status
            }
            None => 0,
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// A client hanging up mid-request is routine (load balancers, closed tabs, a load tool's
    /// last requests); Pingora would log each at ERROR, burying real upstream failures.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Self::CTX, e: &Error) -> bool {
        let quiet = rescue::client_went_away(e);
        if quiet {
            tracing::debug!(error = %e, "the client closed the connection mid-request");
        }
        quiet
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Self::CTX) {
        let g = &self.0;
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let n = g.route_metrics.len();
        let index = match ctx.route {
            Some(i) => i,
            None if ctx.handled_by_gateway => n - 2,
            None => n - 1,
        };
        let upstream_secs = ctx.upstream_started.map(|t| t.elapsed().as_secs_f64());
        let Some(route) = g.route_metrics.get(index) else {
            return;
        };
        g.metrics.count(route, status);
        if let Some(secs) = upstream_secs {
            route.upstream_latency.observe(secs);
        }
        if let Some(log) = &g.access_log {
            let req = session.req_header();
            let client = g.client_ip(session).map(|ip| g.networks.of(ip));
            let claims = ctx.identity.as_ref().map(|t| &t.claims);
            log.record(&crate::access_log::Entry {
                request_id: ctx
                    .request_id
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-"),
                method: req.method.as_str(),
                path: req.uri.path(),
                route: route.label(),
                status,
                upstream_us: upstream_secs.map(|s| (s * 1e6) as u64),
                duration_us: ctx.started.map_or(0, |t| {
                    u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)
                }),
                bytes: session.body_bytes_sent(),
                user: claims.map(|c| c.sub.as_str()),
                channel: claims.map(|c| c.chn.as_str()),
                client: client.map(|n| n.network()),
                client_prefix: client.map_or(0, |n| n.prefix_len()),
            });
        }
    }

    /// Counts each request's upstream connection as reused or new: Pingora drops a pooled
    /// connection it loses a race for (cloudflare/pingora#201) and opens another, which this
    /// shows (and its error line, which no operator can act on, is filtered out).
    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        if let Some(route) = ctx.route.and_then(|i| self.0.route_metrics.get(i)) {
            if reused {
                route.reused_connections.inc();
            } else {
                route.new_connections.inc();
            }
        }
        Ok(())
    }
}
