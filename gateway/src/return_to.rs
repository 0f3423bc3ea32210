//! Where a browser goes after a login: only a path on this gateway. Anything that a browser
//! could read as another site (`//host`, `/\host`, a scheme), carries control characters, or
//! becomes one of those after percent-decoding, falls back to `/`. No token ever travels in it.

/// Longest `return_to` kept (it rides in the flow's record and in a `Location`).
const MAX_LEN: usize = 1024;

/// `raw` when it is a safe local path outside the gateway's own endpoints (but for the
/// OpenID Connect authorization, which a sign-in resumes), else `/`.
pub fn sanitize(raw: Option<&str>, auth_prefix: &str) -> String {
    match raw {
        Some(path)
            if is_local_path(path)
                && (!reaches_gateway(path, auth_prefix)
                    || resumes_authorization(path, auth_prefix)) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// `{auth_prefix}/oidc/authorize?…`, spelled exactly so: the one gateway endpoint a sign-in
/// may come back to. It only ever redirects to a client's registered URI.
fn resumes_authorization(raw: &str, auth_prefix: &str) -> bool {
    let path = raw.split(['?', '#']).next().unwrap_or(raw);
    let expected = format!("{auth_prefix}/oidc/authorize");
    path == expected && !raw.contains('#')
}

/// The path, as the gateway will normalise it (`/%5Fauth`, `/x/../_auth`), is one of the
/// gateway's own endpoints; a path the gateway would refuse counts as one too.
fn reaches_gateway(raw: &str, auth_prefix: &str) -> bool {
    let path = raw.split(['?', '#']).next().unwrap_or(raw);
    match crate::path::normalise(path) {
        Ok(normal) => under(&normal, auth_prefix),
        Err(_) => true,
    }
}

/// The rules, on the value as given and on every percent-decoding of it.
pub fn is_local_path(raw: &str) -> bool {
    if raw.len() > MAX_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let mut current = raw.as_bytes().to_vec();
    // Decoding stops changing the value within a few rounds for anything honest.
    for _ in 0..4 {
        if !safe_shape(&current) {
            return false;
        }
        let decoded = percent_decode(&current);
        if decoded == current {
            return true;
        }
        current = decoded;
    }
    false
}

/// One leading `/`, not followed by `/` or `\`; no backslash (browsers read it as `/`), no
/// control character or whitespace anywhere.
fn safe_shape(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && !matches!(path.get(1), Some(b'/' | b'\\'))
        && !path.contains(&b'\\')
        && !path.iter().any(|&b| b < 0x21 || b == 0x7f)
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match (
            input[i],
            input.get(i + 1).copied().and_then(hex),
            input.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// `path` is `prefix` or lies under it.
fn under(path: &str, prefix: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_return_paths_fall_back_to_the_root() {
        let hostile = [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%255C%255Cevil.example",
            "javascript:alert(1)",
            "http:/evil.example",
            "https:evil.example",
            "/\tevil",
            "/a\nb",
            "/a%0d%0aSet-Cookie:x=1",
            "/%09/evil.example",
            "/ space",
            "",
            "evil.example",
            "/api/\u{7f}",
            "/caf\u{e9}",
        ];
        for raw in hostile {
            assert_eq!(sanitize(Some(raw), "/_auth"), "/", "{raw:?}");
        }
        assert_eq!(sanitize(None, "/_auth"), "/");
        // The authorization a sign-in resumes comes back as written; nothing else under the
        // prefix does, however it is spelled.
        let resume = "/_auth/oidc/authorize?client_id=a&redirect_uri=https%3A%2F%2Frp%2Fcb";
        assert_eq!(sanitize(Some(resume), "/_auth"), resume);
        for other in [
            "/_auth/oidc/token",
            "/_auth/oidc/authorize/../../me",
            "/%5Fauth/oidc/authorize",
            "/_auth/oidc/authorize#x",
            "/_auth/oidc//authorize",
        ] {
            assert_eq!(sanitize(Some(other), "/_auth"), "/", "{other}");
        }
        assert_eq!(
            sanitize(Some(&format!("/{}", "a".repeat(MAX_LEN))), "/_auth"),
            "/"
        );
    }

    #[test]
    fn local_paths_are_kept() {
        for raw in [
            "/",
            "/api/page",
            "/api/page?tab=2&x=%2F",
            "/caf%C3%A9",
            "/a/b/../c",
            "/javascript:alert(1)",
            "/_authx",
        ] {
            assert_eq!(sanitize(Some(raw), "/_auth"), raw, "{raw:?}");
        }
    }

    #[test]
    fn the_gateways_own_endpoints_are_not_destinations() {
        for raw in [
            "/_auth",
            "/_auth/logout",
            "/_auth/web/authorize?return_to=/x",
        ] {
            assert_eq!(sanitize(Some(raw), "/_auth"), "/", "{raw:?}");
        }
    }
}
