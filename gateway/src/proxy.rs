//! The Pingora service: normalise, strip, verify, inject, forward — one hook per step.

use crate::cookies;
use crate::endpoints;
use crate::headers::{self, Identity};
use crate::path;
use crate::request;
use crate::rescue::{self, ApiError, ErrorCode};
use crate::respond::{write_empty, write_error};
use crate::state::Gateway;
use crate::verify::{self, Verified};
use async_trait::async_trait;
use http::HeaderName;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType};
use std::sync::Arc;
use std::time::Instant;

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
        let aud = g
            .routes
            .get(route)
            .map(|r| r.prefix.as_str())
            .unwrap_or("/");
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
        let prepared = headers::prepare(
            &g.headers,
            &Identity {
                user: &claims.sub,
                channel: &claims.chn,
                openid: claims.oid.as_deref(),
                unionid: claims.uid.as_deref(),
                phone: claims.phn.as_deref(),
                assertion: &assertion,
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
        step!(self.refuse_ambiguous_framing(session));
        step!(self.judge_the_forwarded_target(session));
        step!(self.normalise_path(session));
        step!(self.serve_gateway_endpoints(session, ctx));
        step!(self.choose_route(session, ctx));
        step!(self.verify_strip_and_renew(session, ctx));
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<Box<HttpPeer>> {
        let g = &self.0;
        let route = ctx
            .route
            .and_then(|i| g.routes.get(i))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route chosen"))?;
        let peer = route.peer();
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> pingora::Result<()> {
        forwarded_headers(session, upstream, ctx.from_trusted_proxy)?;
        if let Some(host) = ctx
            .route
            .and_then(|i| self.0.routes.get(i))
            .and_then(|r| r.upstream_host.clone())
        {
            upstream.insert_header(http::header::HOST, host)?;
        }
        if let Some(prepared) = &ctx.injected {
            headers::inject(upstream, prepared)?;
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
        if let Some(route) = g.route_metrics.get(index) {
            g.metrics.count(route, status);
            if let Some(started) = ctx.upstream_started {
                route
                    .upstream_latency
                    .observe(started.elapsed().as_secs_f64());
            }
        }
    }
}

/// What a step of `request_filter` decided.
enum Next {
    /// On to the next step.
    Go,
    /// The step wrote the answer: the request ends here.
    Answered,
}

// === the steps of request_filter, in order ===

impl GatewayProxy {
    /// Ambiguous body framing (request smuggling) is refused and the connection closed.
    async fn refuse_ambiguous_framing(&self, session: &mut Session) -> pingora::Result<Next> {
        let framing = if raw_has_length_and_encoding(session) {
            Err(headers::FramingError::LengthAndChunked)
        } else {
            headers::check_framing(session.req_header())
        };
        if let Err(e) = framing {
            session.set_keepalive(None);
            write_error(session, &ApiError::invalid_request(e.to_string())).await?;
            return Ok(Next::Answered);
        }

        Ok(Next::Go)
    }

    /// The target forwarded is the target judged.
    async fn judge_the_forwarded_target(&self, session: &mut Session) -> pingora::Result<Next> {
        // Forward exactly the target that is judged. Pingora keeps the raw bytes of a target
        // that is not origin-form and forwards them, while its URI holds only a path (or `/`
        // for a target it cannot classify): `GET foo:/api/x` would be judged as `/`.
        match target_form(session.req_header()) {
            Ok(TargetForm::Origin) => {}
            Ok(TargetForm::Absolute) => {
                let uri = &session.req_header().uri;
                let origin = rebuild_uri(uri, uri.path())?;
                session.req_header_mut().set_uri(origin);
            }
            Err(message) => {
                session.set_keepalive(None);
                write_error(session, &ApiError::invalid_request(message)).await?;
                return Ok(Next::Answered);
            }
        }

        Ok(Next::Go)
    }

    async fn normalise_path(&self, session: &mut Session) -> pingora::Result<Next> {
        // Normalise once; the same path is matched and forwarded. Most paths are already
        // normal: those are judged in place, without an allocation.
        if !path::is_clean(session.req_header().uri.path()) {
            let normalised = match path::normalise(session.req_header().uri.path()) {
                Ok(p) => p,
                Err(e) => {
                    write_error(session, &ApiError::invalid_request(e.to_string())).await?;
                    return Ok(Next::Answered);
                }
            };
            let uri = rebuild_uri(&session.req_header().uri, &normalised)?;
            session.req_header_mut().set_uri(uri);
        }

        Ok(Next::Go)
    }

    /// `{auth_prefix}/…` is the gateway's own.
    async fn serve_gateway_endpoints(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Next> {
        let g = &self.0;
        let gateway_sub = session
            .req_header()
            .uri
            .path()
            .strip_prefix(g.auth_prefix.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .map(|rest| rest.trim_start_matches('/').to_string());
        if let Some(sub) = gateway_sub {
            ctx.handled_by_gateway = true;
            endpoints::handle(g, session, &sub).await?;
            return Ok(Next::Answered);
        }

        Ok(Next::Go)
    }

    /// The longest route prefix; none is 404.
    async fn choose_route(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Next> {
        let g = &self.0;
        let Some(route) = g.routes.find(session.req_header().uri.path()) else {
            write_error(session, &ApiError::not_found("no route for this path")).await?;
            return Ok(Next::Answered);
        };
        ctx.route = Some(route.index);

        Ok(Next::Go)
    }

    /// The credential is checked (before the strip removes it), the client's headers cleaned,
    /// an expired browser session renewed, and the route's rule applied.
    async fn verify_strip_and_renew(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Next> {
        let g = &self.0;
        let route_index = ctx.route.unwrap_or_default();
        let auth = g
            .routes
            .get(route_index)
            .map(|r| r.auth)
            .unwrap_or(crate::config::RouteAuth::Required);
        // Verify before stripping: the bearer token and cookies are removed by the strip, and
        // a renewal needs the refresh cookie.
        use crate::config::RouteAuth;
        let mut verdict = if auth == RouteAuth::Public {
            Ok(None)
        } else {
            verify::verify_request(g, session.req_header())
        };
        let due = match verdict {
            Err(r) if verify::may_renew(r) => verify::renewable(g, session),
            _ => None,
        };
        ctx.from_trusted_proxy = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .is_some_and(|a| g.is_trusted_proxy(&a.ip()));
        let websocket = headers::is_websocket_handshake(session.req_header());
        headers::strip_with(
            session.req_header_mut(),
            &g.headers,
            g.keep_underscored_headers,
            !ctx.from_trusted_proxy,
        );
        if websocket {
            // Judged like any request below; only a well-formed upgrade goes on.
            headers::keep_websocket_upgrade(session.req_header_mut())?;
        }

        if let Some(due) = due {
            if verify::cross_origin_cookie_write(g, session.req_header(), true) {
                g.metrics.auth.inc("cross_origin");
                write_error(session, &ApiError::cross_origin()).await?;
                return Ok(Next::Answered);
            }
            match verify::renew(g, due).await {
                Ok(renewed) => {
                    ctx.set_cookies = renewed.set_cookies;
                    verdict = Ok(Some(renewed.verified));
                }
                // An optional route serves the request anonymously: a session that has ended
                // loses its cookies; an outage keeps them for the next try.
                Err(e) if auth == RouteAuth::Optional => {
                    if e.code == ErrorCode::Unauthorized {
                        ctx.set_cookies = g.cookies.clear_session();
                    }
                }
                Err(e) => {
                    g.metrics.auth.inc("expired");
                    return self
                        .deny(session, route_index, e)
                        .await
                        .map(|_| Next::Answered);
                }
            }
        }

        match (auth, verdict) {
            (RouteAuth::Public, _) => {}
            (_, Ok(Some(verified)))
                if verify::cross_origin_cookie_write(
                    g,
                    session.req_header(),
                    verified.by_cookie,
                ) =>
            {
                g.metrics.auth.inc("cross_origin");
                write_error(session, &ApiError::cross_origin()).await?;
                return Ok(Next::Answered);
            }
            (_, Ok(Some(verified))) => {
                g.metrics.auth.inc("valid");
                ctx.injected = Some(self.injected_for(&verified, route_index)?);
            }
            (RouteAuth::Optional, Ok(None)) => g.metrics.auth.inc("missing"),
            (RouteAuth::Optional, Err(rejected)) => g.metrics.auth.inc(rejected.reason.label()),
            (RouteAuth::Required, Ok(None)) => {
                g.metrics.auth.inc("missing");
                return self
                    .deny(session, route_index, rescue::missing_credential())
                    .await
                    .map(|_| Next::Answered);
            }
            (RouteAuth::Required, Err(rejected)) => {
                g.metrics.auth.inc(rejected.reason.label());
                return self
                    .deny(session, route_index, rejected.reason.into())
                    .await
                    .map(|_| Next::Answered);
            }
        }
        Ok(Next::Go)
    }
}

/// `X-Forwarded-*`: believed from `trusted_proxies` only (`trusted`, judged once in
/// `request_filter`); otherwise replaced by what the gateway saw itself.
fn forwarded_headers(
    session: &Session,
    upstream: &mut RequestHeader,
    trusted: bool,
) -> pingora::Result<()> {
    use http::header::HeaderValue;
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

    // A dual-stack listener's IPv4 peer (`::ffff:a.b.c.d`) is written as the IPv4 address.
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical());
    let peer_ip = peer
        .map(ip_header_value)
        .unwrap_or(HeaderValue::from_static(""));
    if trusted {
        let chain = match upstream.headers.get(&X_FORWARDED_FOR) {
            Some(v) => {
                let mut joined = Vec::with_capacity(v.len() + 2 + peer_ip.len());
                joined.extend_from_slice(v.as_bytes());
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(peer_ip.as_bytes());
                // Both parts are valid header bytes, so this holds; if not, the chain is
                // dropped rather than the request.
                HeaderValue::from_bytes(&joined).unwrap_or_else(|_| peer_ip.clone())
            }
            None => peer_ip,
        };
        upstream.insert_header("x-forwarded-for", chain)?;
    } else {
        // Every `x-forwarded-*` (and its `_`/`.` spellings) the client sent is gone already
        // (`headers::strip_with`): upstream frameworks also believe `X-Forwarded-Prefix`,
        // `-Port`, `X-Original-URL`…
        upstream.insert_header("x-forwarded-for", peer_ip)?;
        let proto = if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
            "https"
        } else {
            "http"
        };
        upstream.insert_header("x-forwarded-proto", HeaderValue::from_static(proto))?;
    }
    Ok(())
}

/// An address as a header value, without the `fmt` machinery for the common IPv4 case (this
/// runs on every proxied request).
fn ip_header_value(ip: std::net::IpAddr) -> http::HeaderValue {
    let std::net::IpAddr::V4(v4) = ip else {
        return http::HeaderValue::from_str(&ip.to_string()).expect("an address is a header value");
    };
    let mut buf = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    http::HeaderValue::from_bytes(&buf[..len]).expect("digits and dots are a header value")
}

/// Pingora drops `Content-Length` when `Transfer-Encoding` is present (RFC 9112 §6.3 allows it);
/// the gateway refuses such requests outright, as nginx does, so it reads the raw header block.
fn raw_has_length_and_encoding(session: &Session) -> bool {
    let pingora::protocols::http::ServerSession::H1(h1) = session.as_downstream() else {
        return false;
    };
    let raw = h1.get_headers_raw_bytes();
    let has = |name: &[u8]| {
        raw.split(|&b| b == b'\n')
            .any(|line| line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name))
    };
    has(b"transfer-encoding:") && has(b"content-length:")
}

enum TargetForm {
    /// `/path?query`: the URI holds the target byte for byte.
    Origin,
    /// `http://host/path`: judged and forwarded as its origin-form path.
    Absolute,
}

/// How the request target was written (RFC 9112 §3.2); anything but origin-form and http(s)
/// absolute-form is refused, as is a target that is not UTF-8.
fn target_form(req: &RequestHeader) -> Result<TargetForm, &'static str> {
    if !req.raw_path_is_utf8() {
        return Err("the request target is not valid UTF-8");
    }
    let raw = req.raw_path();
    let from_uri = req.uri.path_and_query().map(|pq| pq.as_str().as_bytes());
    if raw.starts_with(b"/") && from_uri == Some(raw) {
        return Ok(TargetForm::Origin);
    }
    let lower = |n: usize| raw.get(..n).map(|p| p.to_ascii_lowercase());
    let absolute = lower(7).as_deref() == Some(b"http://".as_slice())
        || lower(8).as_deref() == Some(b"https://".as_slice());
    if absolute && req.uri.path().starts_with('/') {
        return Ok(TargetForm::Absolute);
    }
    Err("the request target must be a path")
}

fn rebuild_uri(uri: &http::Uri, path: &str) -> pingora::Result<http::Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    http::Uri::builder()
        .path_and_query(pq)
        .build()
        .map_err(|e| Error::explain(ErrorType::InvalidHTTPHeader, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::ip_header_value;
    use std::net::IpAddr;

    #[test]
    fn addresses_format_as_the_standard_library_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "192.168.100.9",
            "255.255.255.255",
            "1.0.10.100",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_header_value(ip).to_str().unwrap(), ip.to_string());
        }
    }
}
