//! One normalisation of the request path, used both to match routes and as the path sent
//! upstream, so the rule that judged a request and the service that serves it see the same path.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path contains an encoded '/', '\\' or NUL, or a malformed escape")]
    ForbiddenEscape,
    #[error("path contains a control character, '\\' or ';'")]
    ForbiddenCharacter,
}

/// True when [`normalise`] would return `raw` unchanged: an absolute path of plain segment
/// characters with no escape, no empty, `.` or `..` segment. A cheap first look, so the common
/// case costs no allocation.
pub fn is_clean(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let plain = b.iter().all(|&c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'/' | b'-'
                    | b'_'
                    | b'.'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            )
    });
    plain
        && raw[1..].split('/').enumerate().all(|(i, seg)| match seg {
            "." | ".." => false,
            // Only the last segment may be empty (a trailing slash), or the root itself.
            "" => i == raw[1..].split('/').count() - 1,
            _ => true,
        })
}

/// Decodes the escapes of unreserved characters (so `%2e%2e` is `..`), refuses the escapes that
/// could change how the path splits (`%2f`, `%5c`, `%00`), refuses `\`, `;` and control bytes,
/// collapses repeated slashes and resolves `.` and `..` segments (never above the root).
/// Other escapes (`%20`, UTF-8 bytes) are kept as they are, upper-cased; raw UTF-8 bytes are
/// escaped the same way.
pub fn normalise(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = raw.as_bytes();
    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::ForbiddenEscape);
            };
            let value = (hi * 16 + lo) as u8;
            match value {
                b'/' | b'\\' | 0 => return Err(PathError::ForbiddenEscape),
                c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                    decoded.push(c as char)
                }
                c if c < 0x20 || c == 0x7f || c == b';' => {
                    return Err(PathError::ForbiddenCharacter)
                }
                c => {
                    decoded.push('%');
                    decoded.push_str(&format!("{c:02X}"));
                }
            }
            i += 3;
            continue;
        }
        if b < 0x20 || b == 0x7f || b == b'\\' || b == b';' {
            return Err(PathError::ForbiddenCharacter);
        }
        if b >= 0x80 || b == b' ' {
            // A raw UTF-8 byte: escaped, as a URI carries it (a `char` cast would re-encode it).
            // A raw space cannot arrive in a request line; in a route prefix it means `%20`.
            decoded.push('%');
            decoded.push_str(&format!("{b:02X}"));
        } else {
            decoded.push(b as char);
        }
        i += 1;
    }

    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    // Keep a trailing slash: `/api/` and `/api` are different paths to many upstreams.
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_escaped_dots_resolve() {
        let cases = [
            ("/", "/"),
            ("/api/x", "/api/x"),
            ("/pub/../api/x", "/api/x"),
            ("/pub/%2e%2e/api/x", "/api/x"),
            ("/pub/%2E%2E/api/x", "/api/x"),
            ("/pub/./../api/./x", "/api/x"),
            ("//api//x", "/api/x"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/api/", "/api/"),
            ("/api/x/..", "/api/"),
            ("/a%20b", "/a%20b"),
            ("/a b", "/a%20b"),
            ("/a!b", "/a!b"),
            ("/%7euser", "/~user"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/\u{5fae}\u{4fe1}/../x", "/x"),
            ("/a/\u{5fae}", "/a/%E5%BE%AE"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalise(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn clean_paths_are_exactly_those_normalise_leaves_alone() {
        let samples = [
            "/",
            "/api/x",
            "/api/",
            "/a/b/c.json",
            "/~u",
            "//api",
            "/api//x",
            "/a/./b",
            "/a/../b",
            "/a/.",
            "/a/..",
            "/.",
            "/..",
            "/a%20b",
            "/a;b",
            "/a\\b",
            "api",
            "/a.b/c..d",
            "/x:y@z",
            "/caf%C3%A9",
            "/a/b/",
            "/a?b",
        ];
        for raw in samples {
            if is_clean(raw) {
                assert_eq!(normalise(raw).as_deref(), Ok(raw), "{raw}");
            }
        }
        for raw in ["/", "/api/x", "/api/", "/a/b/c.json", "/a.b/c..d"] {
            assert!(is_clean(raw), "{raw}");
        }
        for raw in [
            "//api", "/api//x", "/a/./b", "/a/../b", "/a/..", "/a%20b", "api",
        ] {
            assert!(!is_clean(raw), "{raw}");
        }
    }

    #[test]
    fn splitting_escapes_and_odd_bytes_are_refused() {
        for raw in [
            "/api%2fx",
            "/api%2Fx",
            "/pub%5c..%5capi",
            "/a%00b",
            "/a%zz",
            "/a%2",
        ] {
            assert_eq!(normalise(raw), Err(PathError::ForbiddenEscape), "{raw}");
        }
        for raw in [
            "/pub\\..\\api",
            "/admin;x=/public",
            "/a\tb",
            "/a\x7fb",
            "/a%3bb",
            "/a%3Bb",
            "/a%0Ab",
            "/a%0db",
            "/a%1Fb",
            "/a%7fb",
        ] {
            assert_eq!(normalise(raw), Err(PathError::ForbiddenCharacter), "{raw}");
        }
        assert_eq!(normalise("api"), Err(PathError::NotAbsolute));
    }
}
