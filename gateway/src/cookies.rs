//! The gateway's cookies: their names and attributes, reading them from a request and removing
//! them before the request goes upstream.
//!
//! The gateway owns every cookie whose name starts with `wxgate` (or `__Host-wxgate`): the
//! session's access and refresh parts and one state cookie per browser flow. None of them ever
//! reaches an upstream. `Cookie` headers are read as bytes, not as text: browsers send UTF-8
//! values that page scripts set, and such a header must neither hide the session cookie nor
//! keep it from being removed.

use pingora::http::RequestHeader;

/// Cookie names and attributes for one gateway: `__Host-` names with `Secure` behind https
/// (no `Domain`, `Path=/`: a sibling subdomain cannot set or overwrite them), plain names on
/// http (local development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieNames {
    secure: bool,
    /// The session's access token (a JWT, checked in memory on every request).
    pub access: String,
    /// The session's refresh token (used only to renew the access part).
    pub refresh: String,
}

impl CookieNames {
    pub fn new(https: bool) -> Self {
        let prefix = if https { "__Host-" } else { "" };
        Self {
            secure: https,
            access: format!("{prefix}wxgate"),
            refresh: format!("{prefix}wxgate_refresh"),
        }
    }

    /// The state cookie of one browser flow. One per flow, so two logins started in two tabs
    /// do not overwrite each other's.
    pub fn state(&self, tag: &str) -> String {
        let prefix = if self.secure { "__Host-" } else { "" };
        format!("{prefix}wxgate_state_{tag}")
    }

    /// The ticket cookie of `channel` (a login that finishes elsewhere): one per channel.
    pub fn ticket(&self, channel: &str) -> String {
        let prefix = if self.secure { "__Host-" } else { "" };
        format!("{prefix}wxgate_ticket_{channel}")
    }

    /// `Set-Cookie` for `name=value`, living `max_age` seconds: never readable by scripts,
    /// sent on top-level navigations from other sites (the OAuth callback) but not on their
    /// subrequests.
    pub fn set(&self, name: &str, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }

    /// `Set-Cookie` that removes `name` (a `__Host-` cookie is only replaced by a `Secure` one).
    pub fn clear(&self, name: &str) -> String {
        self.set(name, "", 0)
    }

    /// The `Set-Cookie` values of a browser session.
    pub fn session(&self, access: &str, refresh: &str, max_age: u64) -> Vec<String> {
        vec![
            self.set(&self.access, access, max_age),
            self.set(&self.refresh, refresh, max_age),
        ]
    }

    /// The `Set-Cookie` values that end a browser session.
    pub fn clear_session(&self) -> Vec<String> {
        vec![self.clear(&self.access), self.clear(&self.refresh)]
    }
}

/// True for a name in the gateway's cookie namespace (`wxgate…`, also behind `__Host-` or
/// `__Secure-`). ASCII case is ignored: browsers match those prefixes without regard to case,
/// and a look-alike the gateway would not read is not worth letting through either.
pub fn is_ours(name: &[u8]) -> bool {
    let starts = |s: &[u8], prefix: &[u8]| {
        s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let bare = if starts(name, b"__Host-") {
        &name[7..]
    } else if starts(name, b"__Secure-") {
        &name[9..]
    } else {
        name
    };
    starts(bare, b"wxgate")
}

/// True for a `Set-Cookie` value that a browser would store as a cookie of the gateway's
/// namespace. A browser reads `=wxgate=x` (an empty name) and `wxgate` (no `=`) as nameless
/// cookies whose value it sends back bare: `wxgate=x`, which reads as ours. So the name judged
/// is the one the browser will send.
pub fn set_cookie_is_ours(value: &[u8]) -> bool {
    let pair = value.split(|&b| b == b';').next().unwrap_or(value);
    let sent = match memchr::memchr(b'=', pair) {
        Some(eq) if !pair[..eq].trim_ascii().is_empty() => &pair[..eq],
        // Nameless: the browser sends the value alone, and it is read up to its first `=`.
        Some(eq) => {
            let bare = pair[eq + 1..].trim_ascii();
            bare.split(|&b| b == b'=').next().unwrap_or(bare)
        }
        None => pair,
    };
    is_ours(sent.trim_ascii())
}

/// Every `name=value` pair of the request's `Cookie` headers, as trimmed bytes. Pairs without
/// `=` are skipped.
fn pairs(req: &RequestHeader) -> impl Iterator<Item = (&[u8], &[u8])> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| split_pairs(v.as_bytes()))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = memchr::memchr(b'=', pair)?;
            Some((pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii()))
        })
}

/// The `;`-separated parts of one `Cookie` value (a session cookie makes it ~500 bytes: the
/// separators are found with memchr rather than byte by byte).
fn split_pairs(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(b';', current) {
            Some(i) => {
                rest = Some(&current[i + 1..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Every byte is visible ASCII (`!`..=`~`). Folded without an early exit so the compiler
/// checks many bytes per instruction: a session cookie is ~500 bytes on every request.
fn all_visible_ascii(v: &[u8]) -> bool {
    v.iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(b'!') <= b'~' - b'!'))
}

/// A cookie the gateway cannot read unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous;

/// The value of cookie `name`, whatever the other cookies hold. The gateway's values are
/// visible ASCII; a value that is not, or a name sent twice with two values (a cookie tossed
/// from a sibling domain beside ours), is refused rather than guessed.
pub fn get<'a>(req: &'a RequestHeader, name: &str) -> Result<Option<&'a str>, Ambiguous> {
    let mut found: Option<&[u8]> = None;
    for (k, v) in pairs(req) {
        if k != name.as_bytes() {
            continue;
        }
        match found {
            Some(previous) if previous != v => return Err(Ambiguous),
            _ => found = Some(v),
        }
    }
    match found {
        None => Ok(None),
        Some(v) if all_visible_ascii(v) => std::str::from_utf8(v).map(Some).map_err(|_| Ambiguous),
        Some(_) => Err(Ambiguous),
    }
}

/// Removes the gateway's cookies from the request, keeping every other cookie byte for byte
/// (in one `Cookie` header). Allocates only when there is one to remove.
pub fn remove_ours(req: &mut RequestHeader) {
    if !pairs(req).any(|(k, _)| is_ours(k)) {
        return;
    }
    let total: usize = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(|v| v.len() + 2)
        .sum();
    let mut kept: Vec<u8> = Vec::with_capacity(total);
    for value in req.headers.get_all(http::header::COOKIE) {
        for pair in split_pairs(value.as_bytes()) {
            let pair = pair.trim_ascii();
            let name = memchr::memchr(b'=', pair)
                .map_or(pair, |eq| &pair[..eq])
                .trim_ascii();
            if pair.is_empty() || is_ours(name) {
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(pair);
        }
    }
    // The bytes came from valid header values, joined by "; ", so they are one too. Inserting
    // replaces every `Cookie` header at once; should that ever fail, the old values (ours
    // among them) must not stay, so they are removed.
    let replaced = !kept.is_empty()
        && http::HeaderValue::from_bytes(&kept)
            .is_ok_and(|value| req.insert_header(http::header::COOKIE, value).is_ok());
    if !replaced {
        req.remove_header(&http::header::COOKIE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookies: &[&[u8]]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/api/x", None).unwrap();
        for c in cookies {
            req.append_header("cookie", http::HeaderValue::from_bytes(c).unwrap())
                .unwrap();
        }
        req
    }

    #[test]
    fn the_session_cookie_is_read_beside_utf8_siblings() {
        let req = request(&["theme=暗色; wxgate=tok.en; lang=中文".as_bytes()]);
        assert_eq!(get(&req, "wxgate"), Ok(Some("tok.en")));
        assert_eq!(get(&req, "wxgate_refresh"), Ok(None));
        let req = request(&[b"a=1", "wxgate=t; x=\u{1F600}".as_bytes()]);
        assert_eq!(get(&req, "wxgate"), Ok(Some("t")));
    }

    #[test]
    fn visible_ascii_is_exactly_bang_to_tilde() {
        for b in 0u8..=255 {
            assert_eq!(
                all_visible_ascii(&[b'a', b, b'z']),
                b.is_ascii_graphic(),
                "byte {b:#x}"
            );
        }
        assert!(all_visible_ascii(b""));
    }

    #[test]
    fn ambiguous_or_non_ascii_session_values_are_refused() {
        assert_eq!(
            get(&request(&[b"wxgate=a; wxgate=b"]), "wxgate"),
            Err(Ambiguous)
        );
        assert_eq!(
            get(&request(&[b"wxgate=a", b"wxgate=a"]), "wxgate"),
            Ok(Some("a"))
        );
        assert_eq!(
            get(&request(&["wxgate=é".as_bytes()]), "wxgate"),
            Err(Ambiguous)
        );
    }

    #[test]
    fn our_cookies_are_removed_and_the_rest_kept_byte_for_byte() {
        let mut req = request(&[
            "theme=暗色; wxgate=tok; __Host-wxgate_refresh=rt_x".as_bytes(),
            b"wxgate_state_ab12=n; sid=app-session",
        ]);
        remove_ours(&mut req);
        let values: Vec<_> = req.headers.get_all("cookie").iter().collect();
        assert_eq!(values.len(), 1);
        assert_eq!(
            values[0].as_bytes(),
            "theme=暗色; sid=app-session".as_bytes()
        );

        let mut only_ours = request(&[b"wxgate=tok"]);
        remove_ours(&mut only_ours);
        assert!(only_ours.headers.get("cookie").is_none());

        let mut none_ours = request(&[b"wxgatex_not=1; a=2"]);
        // `wxgatex_not` starts with `wxgate`: the namespace is the prefix, documented as such.
        remove_ours(&mut none_ours);
        assert_eq!(none_ours.headers["cookie"], "a=2");

        // Short and empty-valued headers beside ours: nothing about their length is assumed.
        let mut short = request(&[b"x", b"wxgate=tok; a=1", b""]);
        remove_ours(&mut short);
        assert_eq!(short.headers["cookie"], "x; a=1");
    }

    #[test]
    fn names_and_attributes_follow_the_scheme() {
        let https = CookieNames::new(true);
        assert_eq!(https.access, "__Host-wxgate");
        assert_eq!(https.state("ab"), "__Host-wxgate_state_ab");
        let set = https.set(&https.refresh, "rt", 60);
        assert_eq!(
            set,
            "__Host-wxgate_refresh=rt; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let http = CookieNames::new(false);
        assert_eq!(
            http.clear(&http.access),
            "wxgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        assert!(is_ours(b"__Host-wxgate") && is_ours(b"wxgate_state_x"));
        assert!(
            set_cookie_is_ours(b"wxgate=x; Path=/")
                && set_cookie_is_ours(b" __Host-wxgate_refresh=y")
        );
        assert!(!set_cookie_is_ours(b"sid=wxgate; Path=/"));
        assert!(!set_cookie_is_ours(b"sid=1; Path=/wxgate=x"));
    }

    #[test]
    fn nameless_and_look_alike_set_cookies_are_ours() {
        // What a browser would send back as one of ours.
        for value in [
            &b"=wxgate=x"[..],
            b" = wxgate=x; Path=/",
            b"=__Host-wxgate=x",
            b"wxgate",
            b"wxgate; Path=/",
            b"=wxgate_refresh",
            b"WXGATE=x",
            b"__host-wxgate=x",
            b"__SECURE-Wxgate_state_1=n",
        ] {
            assert!(
                set_cookie_is_ours(value),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        for value in [&b"=sid=x"[..], b"=x", b"", b"=", b"theme", b"sid=wxgate"] {
            assert!(
                !set_cookie_is_ours(value),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        assert!(!is_ours(b"sid") && !is_ours(b"__Host-sid"));
    }
}
