//! Header hygiene and identity injection: the only code that removes or writes identity
//! headers. Order matters: framing checks, then hop-by-hop headers (including every header the
//! client names in `Connection`), then the identity namespace, and only after all of that does
//! [`inject`] add the gateway's own values, so no client header can remove or shadow them.

use pingora::http::RequestHeader;

pub mod additions;
pub use additions::Additions;

/// Upstream header names for the identity facts (`[headers]`; contract defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user: String,
    pub channel: String,
    pub openid: String,
    pub unionid: String,
    pub phone: String,
    pub assertion: String,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            user: "X-Auth-User".into(),
            channel: "X-Auth-Channel".into(),
            openid: "X-Auth-Openid".into(),
            unionid: "X-Auth-Unionid".into(),
            phone: "X-Auth-Phone".into(),
            assertion: "X-Auth-Assertion".into(),
        }
    }
}

/// Which identity headers a route sends (`identity_headers`, default all). Stripping is
/// total whatever it says: a header a route does not send is still never forwarded from a
/// client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentitySet(u8);

impl IdentitySet {
    /// The names `identity_headers` takes, in bit order.
    pub const NAMES: [&'static str; 6] =
        ["user", "channel", "openid", "unionid", "phone", "assertion"];
    pub const ALL: Self = Self(0b11_1111);

    /// The set of these names; `Err` names the first unknown one.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut bits = 0;
        for name in names {
            let i = Self::NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| name.to_string())?;
            bits |= 1 << i;
        }
        Ok(Self(bits))
    }

    pub fn has(self, name: &str) -> bool {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Default for IdentitySet {
    fn default() -> Self {
        Self::ALL
    }
}

/// The identity a verified token carries, ready to inject.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub user: &'a str,
    pub channel: &'a str,
    pub openid: Option<&'a str>,
    pub unionid: Option<&'a str>,
    pub phone: Option<&'a str>,
    /// Signed only for a route that sends it.
    pub assertion: Option<&'a str>,
}

/// Identity headers built once per session, token and route, then copied onto each request by
/// reference count: each name parsed (for the map) and as configured (for a kept case).
pub type Prepared = Vec<(http::HeaderName, bytes::Bytes, http::HeaderValue)>;

/// Validates and builds the headers [`inject`] sets: those of `set` the identity has.
pub fn prepare(
    names: &IdentityHeaders,
    set: IdentitySet,
    id: &Identity<'_>,
) -> Result<Prepared, http::Error> {
    let mut out = Vec::with_capacity(6);
    let mut push = |key: &str, name: &str, value: Option<&str>| {
        match value {
            Some(value) if set.has(key) => out.push((
                http::HeaderName::from_bytes(name.as_bytes())?,
                bytes::Bytes::copy_from_slice(name.as_bytes()),
                http::HeaderValue::from_str(value)?,
            )),
            _ => {}
        }
        Ok::<(), http::Error>(())
    };
    push("user", &names.user, Some(id.user))?;
    push("channel", &names.channel, Some(id.channel))?;
    push("openid", &names.openid, id.openid)?;
    push("unionid", &names.unionid, id.unionid)?;
    push("phone", &names.phone, id.phone)?;
    push("assertion", &names.assertion, id.assertion)?;
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("request carries both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    #[error("request carries several Content-Length headers")]
    SeveralLengths,
    #[error("only 'Transfer-Encoding: chunked' is accepted")]
    UnsupportedTransferEncoding,
    #[error("'Connection' may not name Content-Length or Host")]
    ConnectionNamesFraming,
    /// CGI, FastCGI and WSGI upstreams read `_` as `-`: `Transfer_Encoding` would be framing
    /// the gateway never judged.
    #[error("header {0:?} reads as a framing or routing header to many upstreams")]
    UnderscoredFraming(String),
}

/// Framing and routing headers: spelled with `_` for `-`, they are refused outright.
const FRAMING: [&str; 8] = [
    "transfer-encoding",
    "content-length",
    "host",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
];

/// Hop-by-hop headers a proxy never forwards (RFC 9110 §7.6.1). The gateway's strip is the only
/// one (Pingora's own pass is off): `Transfer-Encoding`, a single `chunked` as `check_framing`
/// admits, is framing, forwarded as it is so that Pingora frames the body by it.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "http2-settings",
];

/// Refuses ambiguous body framing (request smuggling).
pub fn check_framing(req: &RequestHeader) -> Result<(), FramingError> {
    for name in req.headers.keys() {
        let n = name.as_str();
        if n.contains('_')
            && FRAMING
                .iter()
                .any(|f| f.len() == n.len() && reads_as_prefix(n, f))
        {
            return Err(FramingError::UnderscoredFraming(n.to_string()));
        }
    }
    let lengths = req
        .headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .count();
    let encodings: Vec<_> = req
        .headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .collect();
    if lengths > 0 && !encodings.is_empty() {
        return Err(FramingError::LengthAndChunked);
    }
    if lengths > 1 {
        return Err(FramingError::SeveralLengths);
    }
    if encodings.len() > 1
        || encodings
            .first()
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"chunked"))
    {
        return Err(FramingError::UnsupportedTransferEncoding);
    }
    // Removing what `Connection` names would drop the body's length (the rest of the body
    // then parses as the next request) or the routing authority.
    let names_framing = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|t| t.eq_ignore_ascii_case(b"content-length") || t.eq_ignore_ascii_case(b"host"));
    if names_framing {
        return Err(FramingError::ConnectionNamesFraming);
    }
    Ok(())
}

/// True for a name in the identity namespace: lower-cased, with `_` and `.` read as `-`, it
/// starts with `x-auth-` (so `X_Auth_User` and `x.auth.phone` count).
pub fn is_identity_header(name: &str) -> bool {
    reads_as_prefix(name, "x-auth-")
}

/// True when `name`, lower-cased with `_` and `.` read as `-` (as CGI-style upstreams read
/// header names), starts with `prefix` (lower case, `-` separated).
pub fn reads_as_prefix(name: &str, prefix: &str) -> bool {
    let (b, p) = (name.as_bytes(), prefix.as_bytes());
    b.len() >= p.len()
        && b[..p.len()].iter().zip(p).all(|(&c, &p)| {
            let c = match c.to_ascii_lowercase() {
                b'_' | b'.' => b'-',
                c => c,
            };
            c == p
        })
}

/// A forwarding or target-override header: believed only from `trusted_proxies`.
pub fn is_forwarding_header(name: &str) -> bool {
    reads_as_prefix(name, "x-forwarded-")
        || ["x-real-ip", "forwarded", "x-original-url", "x-rewrite-url"]
            .iter()
            .any(|n| name.len() == n.len() && reads_as_prefix(name, n))
}

impl IdentityHeaders {
    fn all(&self) -> [&str; 6] {
        [
            &self.user,
            &self.channel,
            &self.openid,
            &self.unionid,
            &self.phone,
            &self.assertion,
        ]
    }

    /// True for a configured name (compared as [`is_identity_header`] reads names).
    fn is_configured(&self, name: &str) -> bool {
        let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '.'], "-");
        let name = norm(name);
        self.all().iter().any(|n| norm(n) == name)
    }

    fn all_in_namespace(&self) -> bool {
        self.all().iter().all(|n| is_identity_header(n))
    }
}

/// Removes hop-by-hop headers (and whatever `Connection` names), every identity header the
/// client sent (the `x-auth-` namespace and any configured name), the bearer token, the
/// gateway's cookies, every header whose name has a character other than letters, digits,
/// `-` and `_`, and, unless `keep_underscored`, every header whose name has a `_` (as nginx
/// does: upstreams that read `_` as `-` could take them for other headers). Allocates only
/// when there is something to remove.
pub fn strip(req: &mut RequestHeader, names: &IdentityHeaders, keep_underscored: bool) {
    strip_with(req, names, keep_underscored, false)
}

/// [`strip`], and with `drop_forwarding` also every header a client could use to claim
/// another origin ([`is_forwarding_header`]), in the same pass: the request did not come
/// through a trusted proxy, so the gateway writes those itself.
pub fn strip_with(
    req: &mut RequestHeader,
    names: &IdentityHeaders,
    keep_underscored: bool,
    drop_forwarding: bool,
) {
    let custom = !names.all_in_namespace();
    let connection = req.headers.get_all(http::header::CONNECTION);
    // Whether `Connection` nominates `name` (browsers send `Connection: keep-alive` on every
    // request, so this reads the tokens in place rather than collecting them).
    // `Transfer-Encoding` is framing: forwarded, never removed here.
    let nominated = |name: &str| {
        name != "transfer-encoding"
            && connection
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .map(<[u8]>::trim_ascii)
                .any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
    };
    // One pass over the request's own headers (a handful), instead of probing the map once
    // per name we might remove: every probe by string name re-parses that name.
    let mut doomed: Vec<http::HeaderName> = Vec::new();
    for key in req.headers.keys() {
        let k = key.as_str();
        let (underscored, unusual) = name_shape(k);
        if HOP_BY_HOP.contains(&k)
            || unusual
            || (!keep_underscored && underscored)
            || is_identity_header(k)
            || (drop_forwarding && is_forwarding_header(k))
            || (custom && names.is_configured(k))
            || nominated(k)
        {
            doomed.push(key.clone());
        }
    }
    // Every value is looked at: a second `Authorization` must not carry a token through.
    let bearer = req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| is_bearer_scheme(v.as_bytes()));
    if bearer {
        doomed.push(http::header::AUTHORIZATION);
    }
    for name in &doomed {
        req.remove_header(name);
    }
    if req.headers.contains_key(http::header::COOKIE) {
        crate::cookies::remove_ours(req);
    }
}

/// A well-formed WebSocket opening handshake (RFC 6455 §4.1): an HTTP/1.1 `GET` whose only
/// `Upgrade` is `websocket`, whose `Connection` names `upgrade`, with a `Sec-WebSocket-Key` of
/// 16 bytes in base64 and `Sec-WebSocket-Version: 13`. Only such an upgrade survives the strip
/// ([`keep_websocket_upgrade`]); any other (`h2c`, a malformed handshake) goes as hop-by-hop.
pub fn is_websocket_handshake(req: &RequestHeader) -> bool {
    use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
    let h = &req.headers;
    let one = |name: http::HeaderName| {
        let mut all = h.get_all(name).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => Some(v.as_bytes().trim_ascii()),
            _ => None,
        }
    };
    // Nearly every request stops here, after one lookup.
    if req.method != http::Method::GET
        || req.version != http::Version::HTTP_11
        || !one(UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"))
    {
        return false;
    }
    let connection_ok = h
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    // 16 bytes in base64: 22 characters and `==`.
    let key_ok = one(SEC_WEBSOCKET_KEY).is_some_and(|k| {
        k.len() == 24
            && k.ends_with(b"==")
            && k[..22]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
    });
    connection_ok && key_ok && one(SEC_WEBSOCKET_VERSION) == Some(b"13".as_slice())
}

/// Puts back, after [`strip`], the two headers that carry a judged WebSocket handshake
/// upstream, and nothing else `Connection` named.
pub fn keep_websocket_upgrade(req: &mut RequestHeader) -> pingora::Result<()> {
    req.insert_header(http::header::CONNECTION, "upgrade")?;
    req.insert_header(http::header::UPGRADE, "websocket")?;
    Ok(())
}

/// Whether a (lower-case) header name has a `_`, and whether it has anything but letters,
/// digits, `-` and `_`. Such names are legal tokens (`Transfer.Encoding`, `X!Y`) that no real
/// client sends and that upstreams folding `.` into `-` read as other headers: they are dropped,
/// as nginx's `ignore_invalid_headers` does. One pass over the name.
fn name_shape(name: &str) -> (bool, bool) {
    name.bytes()
        .fold((false, false), |(underscored, unusual), b| {
            (
                underscored | (b == b'_'),
                unusual | !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            )
        })
}

/// Sets the prepared identity headers (after [`strip`]).
pub fn inject(add: &mut Additions<'_>, prepared: &Prepared) -> pingora::Result<()> {
    for (name, case, value) in prepared {
        add.insert(name, case.clone(), value.clone())?;
    }
    Ok(())
}

/// The token of an `Authorization: Bearer <token>` value.
pub fn bearer_token(value: &[u8]) -> Option<&str> {
    let v = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = v.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// True for a value in the Bearer scheme, whatever follows the scheme name.
fn is_bearer_scheme(value: &[u8]) -> bool {
    let v = value.trim_ascii_start();
    v.len() >= 6
        && v[..6].eq_ignore_ascii_case(b"bearer")
        && v.get(6).is_none_or(|&c| c == b' ' || c == b'\t')
}

#[cfg(test)]
mod tests;
