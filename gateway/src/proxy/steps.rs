//! The steps of `request_filter`, in order, and the helpers that shape the upstream request.

use super::{GatewayProxy, RequestCtx};
use crate::endpoints;
use crate::headers::{self, Additions};
use crate::path;
use crate::request_id;
use crate::rescue::{self, ApiError, ErrorCode};
use crate::respond::write_error;
use crate::verify::{self};
use http::HeaderName;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};

/// The largest HTTP/2 body read whole before anything goes upstream: Pingora's replay buffer.
const SETTLED_H2_BODY: usize = 64 * 1024;

/// What a step of `request_filter` decided.
pub(super) enum Next {
    /// On to the next step.
    Go,
    /// The step wrote the answer: the request ends here.
    Answered,
}

// === the steps of request_filter, in order ===

impl GatewayProxy {
    /// Ambiguous body framing (request smuggling) is refused and the connection closed.
    pub(super) async fn refuse_ambiguous_framing(
        &self,
        session: &mut Session,
    ) -> pingora::Result<Next> {
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
    /// `X-Request-Id`: a trusted proxy's kept, anyone else's replaced by one made here. Set on
    /// the request itself, so the upstream, every answer and the log carry the same id.
    pub(super) fn assign_request_id(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.started = Some(std::time::Instant::now());
        let trusted = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .is_some_and(|a| self.0.is_trusted_proxy(&a.ip()));
        let kept = trusted
            .then(|| {
                request_id::from_proxy(session.req_header().headers.get_all(request_id::HEADER))
            })
            .flatten();
        let id = kept.unwrap_or_else(request_id::generate);
        // Both shapes are header-safe by construction.
        let value = http::HeaderValue::from_str(&id)
            .map_err(|e| Error::explain(ErrorType::InternalError, e.to_string()))?;
        session
            .req_header_mut()
            .insert_header(request_id::HEADER, value.clone())?;
        ctx.request_id = Some(value);
        Ok(())
    }

    pub(super) async fn judge_the_forwarded_target(
        &self,
        session: &mut Session,
    ) -> pingora::Result<Next> {
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

    pub(super) async fn normalise_path(&self, session: &mut Session) -> pingora::Result<Next> {
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

    /// Whether the gateway answers this path itself: `{auth_prefix}/…` or the OpenID Connect
    /// discovery document. Decided before [`Self::serve_gateway_endpoints`]' future is built:
    /// that future is as large as the largest login flow (12 KB), and building one, even boxed,
    /// copies it whole, which a proxied request should not pay.
    pub(super) fn is_the_gateways(&self, session: &Session) -> bool {
        let g = &self.0;
        let path = session.req_header().uri.path();
        gateway_sub_path(path, &g.auth_prefix).is_some()
            || g.oidc
                .as_ref()
                .is_some_and(|o| path == o.config.discovery_path)
    }

    /// `{auth_prefix}/…` and the discovery document (see [`Self::is_the_gateways`]).
    pub(super) async fn serve_gateway_endpoints(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Next> {
        let g = &self.0;
        ctx.handled_by_gateway = true;
        let path = session.req_header().uri.path().to_string();
        if crate::oidc::serve_discovery(g, session, &path).await? {
            return Ok(Next::Answered);
        }
        if let Some(sub) = gateway_sub_path(&path, &g.auth_prefix) {
            let sub = sub.to_string();
            endpoints::handle(g, session, &sub).await?;
            return Ok(Next::Answered);
        }
        ctx.handled_by_gateway = false;
        Ok(Next::Go)
    }

    /// The longest route prefix; none is 404.
    pub(super) async fn choose_route(
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

    /// An HTTP/2 request re-framed for an HTTP/1.1 upstream carries its `content-length`
    /// there; streamed, its header would leave before DATA frames could contradict it. So a
    /// declared body up to 64 KiB is read whole first (into Pingora's replay buffer, which the
    /// proxy then sends) and a mismatch is refused with nothing forwarded. Larger bodies
    /// stream as Pingora streams them (see `docs/operations.md`).
    pub(super) async fn settle_small_h2_body(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
    ) -> pingora::Result<Next> {
        // A client waiting for `100 Continue` would wait for ever: it streams as before.
        if !session.is_http2()
            || session
                .req_header()
                .headers
                .contains_key(http::header::EXPECT)
        {
            return Ok(Next::Go);
        }
        let declared = crate::request::declared_length(session.req_header());
        let Some(declared) = declared.filter(|n| (1..=SETTLED_H2_BODY).contains(n)) else {
            return Ok(Next::Go);
        };
        // Pingora's h2 body reads have no deadline of their own: a body that stalls is cut at
        // the route's read timeout, as the upstream would have cut it.
        let wait = ctx
            .route
            .and_then(|i| self.0.routes.get(i))
            .map_or(std::time::Duration::from_secs(30), |r| r.read_timeout);
        session.enable_retry_buffering();
        let settled = tokio::time::timeout(wait, async {
            let mut read = 0usize;
            while let Some(chunk) = session.read_request_body().await? {
                read += chunk.len();
                if read > declared {
                    break;
                }
            }
            Ok::<usize, Box<pingora::Error>>(read)
        })
        .await;
        let refusal = match settled {
            Ok(Ok(read)) if read == declared => return Ok(Next::Go),
            // The h2 layer resets a stream whose DATA contradicts its length before this sees
            // it; either way the answer is the client's mistake, not a server error.
            Ok(_) => {
                ApiError::invalid_request("the request body does not match its content-length")
            }
            Err(_) => ApiError {
                status: 408,
                ..ApiError::invalid_request("the request body did not arrive in time")
            },
        };
        if write_error(session, &refusal).await.is_err() {
            tracing::debug!("the refused h2 stream was already reset");
        }
        Ok(Next::Answered)
    }

    /// The credential is checked (before the strip removes it), the client's headers cleaned,
    /// an expired browser session renewed, and the route's rule applied.
    pub(super) async fn verify_strip_and_renew(
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
            // Boxed: a renewal (a database transaction) is rare; its future is large.
            match Box::pin(verify::renew(g, due)).await {
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
                ctx.identity = Some(verified.token.clone());
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
pub(super) fn forwarded_headers(
    session: &Session,
    upstream: &mut Additions<'_>,
    trusted: bool,
) -> pingora::Result<()> {
    use bytes::Bytes;
    use http::header::HeaderValue;
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    let for_case = || Bytes::from_static(b"X-Forwarded-For");

    // A dual-stack listener's IPv4 peer (`::ffff:a.b.c.d`) is written as the IPv4 address.
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_canonical());
    let peer_ip = peer
        .map(ip_header_value)
        .unwrap_or(HeaderValue::from_static(""));
    if trusted {
        let chain = match upstream.get(&X_FORWARDED_FOR) {
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
        upstream.insert(&X_FORWARDED_FOR, for_case(), chain)?;
    } else {
        // Every `x-forwarded-*` (and its `_`/`.` spellings) the client sent is gone already
        // (`headers::strip_with`): upstream frameworks also believe `X-Forwarded-Prefix`,
        // `-Port`, `X-Original-URL`…
        upstream.insert(&X_FORWARDED_FOR, for_case(), peer_ip)?;
        let proto = if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
            "https"
        } else {
            "http"
        };
        upstream.insert(
            &X_FORWARDED_PROTO,
            Bytes::from_static(b"X-Forwarded-Proto"),
            HeaderValue::from_static(proto),
        )?;
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

/// The part of `path` under the gateway's prefix, without its leading `/`, if it is there.
fn gateway_sub_path<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    path.strip_prefix(prefix)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .map(|rest| rest.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::{gateway_sub_path, ip_header_value};
    use std::net::IpAddr;

    #[test]
    fn only_the_prefix_itself_or_paths_under_it_are_the_gateways() {
        assert_eq!(gateway_sub_path("/_auth", "/_auth"), Some(""));
        assert_eq!(gateway_sub_path("/_auth/", "/_auth"), Some(""));
        assert_eq!(
            gateway_sub_path("/_auth/mp/login", "/_auth"),
            Some("mp/login")
        );
        assert_eq!(gateway_sub_path("/_authx/login", "/_auth"), None);
        assert_eq!(gateway_sub_path("/api/_auth/login", "/_auth"), None);
    }

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
