//! `X-Request-Id`: one id per request, the same in the upstream's request, the answer, error
//! bodies and the access log. A trusted proxy's id is kept (the request keeps one id across
//! hops); anyone else's is replaced, since a client could otherwise plant ids in the logs.

use rand::RngCore;

pub const HEADER: &str = "x-request-id";

/// Longest id kept from a trusted proxy.
const MAX_LEN: usize = 128;

/// The id a trusted proxy sent, when it is one well-formed value.
pub fn from_proxy(values: http::header::GetAll<'_, http::HeaderValue>) -> Option<String> {
    let mut it = values.iter();
    let (Some(v), None) = (it.next(), it.next()) else {
        return None;
    };
    let v = v.to_str().ok()?;
    let ok = (1..=MAX_LEN).contains(&v.len())
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        });
    ok.then(|| v.to_string())
}

/// A new id: 128 random bits, hex (the shape of a W3C trace id).
pub fn generate() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for v in list {
            map.append(HEADER, http::HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn a_proxy_id_is_kept_only_when_it_is_one_plain_value() {
        let ok = values(&["req-42_a.b"]);
        assert_eq!(
            from_proxy(ok.get_all(HEADER)).as_deref(),
            Some("req-42_a.b")
        );
        for bad in [vec!["a b"], vec!["x\"y"], vec!["a", "b"], vec![]] {
            let map = values(&bad);
            assert_eq!(from_proxy(map.get_all(HEADER)), None, "{bad:?}");
        }
        let long = values(&[&"a".repeat(129)]);
        assert_eq!(from_proxy(long.get_all(HEADER)), None);
        assert_eq!(generate().len(), 32);
        assert_ne!(generate(), generate());
    }
}
