//! The one way the gateway adds headers to an upstream request (`X-Forwarded-*`, `Host`, the
//! identity headers), written one of two ways by `[server] preserve_header_case`:
//!
//! - `false` (the default): the upstream copy is taken apart once, each header goes into its map
//!   under a name parsed at start-up, and the request is rebuilt without Pingora's case map, so
//!   every name goes upstream in lower case (well-known ones titled on HTTP/1.1), as HTTP/2
//!   clients send them and as Envoy and HAProxy forward them;
//! - `true`: Pingora's `insert_header` per header, which parses the name again and keeps the
//!   case map in step, so each HTTP/1.1 client's spelling reaches the upstream.
//!
//! `bench/header-forms.sh` measures both: six headers cost 11.0k instructions through
//! `insert_header` (1.8k each, whatever form of name it is given) and 4.5k the first way, the
//! copy included.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::{Error, ErrorType};

/// An upstream request open for additions; the request is rebuilt when this is dropped.
pub struct Additions<'r> {
    req: &'r mut RequestHeader,
    /// The request's parts while it is taken apart (not preserving case).
    parts: Option<Parts>,
    end_stream: Option<bool>,
}

impl<'r> Additions<'r> {
    pub fn open(req: &'r mut RequestHeader, preserve_case: bool) -> Self {
        let parts =
            (!preserve_case && target_survives_a_rebuild(req)).then(|| req.as_owned_parts());
        let end_stream = req.send_end_stream();
        Self {
            req,
            parts,
            end_stream,
        }
    }

    /// A header of the request as it stands.
    pub fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        match &self.parts {
            Some(parts) => parts.headers.get(name),
            None => self.req.headers.get(name),
        }
    }

    /// Sets `name` (replacing any value) to `value`. `case` is how the name is written when the
    /// client's case is kept; it must be `name` in some case.
    pub fn insert(
        &mut self,
        name: &HeaderName,
        case: Bytes,
        value: HeaderValue,
    ) -> pingora::Result<()> {
        match &mut self.parts {
            Some(parts) => parts
                .headers
                .try_insert(name.clone(), value)
                .map(|_| ())
                .map_err(|e| Error::explain(ErrorType::InvalidHTTPHeader, e.to_string())),
            None => self.req.insert_header(case, value),
        }
    }
}

impl Drop for Additions<'_> {
    fn drop(&mut self) {
        let Some(parts) = self.parts.take() else {
            return;
        };
        *self.req = RequestHeader::from(parts);
        if let Some(end_stream) = self.end_stream {
            self.req.set_send_end_stream(end_stream);
        }
    }
}

/// Rebuilding from parts keeps only what the URI holds: an origin-form target does round-trip;
/// an absolute-form one or one that is not UTF-8 would not, and keeps Pingora's own insert.
fn target_survives_a_rebuild(req: &RequestHeader) -> bool {
    req.raw_path_is_utf8()
        && req
            .uri
            .path_and_query()
            .is_some_and(|pq| pq.as_str().as_bytes() == req.raw_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_request(target: &[u8]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target, None).unwrap();
        req.append_header("X-Trace-Thing", "1").unwrap();
        req.append_header("Host", "gw.example").unwrap();
        req
    }

    fn wire(req: &RequestHeader) -> String {
        let mut buf = bytes::BytesMut::new();
        req.header_to_h1_wire(&mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    fn add_user(req: &mut RequestHeader, preserve_case: bool) {
        let mut add = Additions::open(req, preserve_case);
        let name = HeaderName::from_static("x-auth-user");
        add.insert(
            &name,
            Bytes::from_static(b"X-Auth-User"),
            HeaderValue::from_static("u_1"),
        )
        .unwrap();
        assert_eq!(add.get(&name).unwrap(), "u_1");
    }

    #[test]
    fn by_default_names_go_upstream_in_lower_case_with_the_target_intact() {
        let mut req = client_request(b"/api/x?a=1&b=%20");
        add_user(&mut req, false);
        assert!(!req.has_case());
        let wire = wire(&req);
        assert!(wire.contains("x-trace-thing: 1\r\n"), "{wire}");
        assert!(wire.contains("x-auth-user: u_1\r\n"), "{wire}");
        assert!(
            wire.contains("Host: gw.example\r\n"),
            "well-known names titled: {wire}"
        );
        assert_eq!(req.raw_path(), b"/api/x?a=1&b=%20");
        assert_eq!(req.method, "GET");
    }

    #[test]
    fn preserving_case_keeps_each_clients_spelling_and_the_configured_one() {
        let mut req = client_request(b"/api/x");
        add_user(&mut req, true);
        assert!(req.has_case());
        let wire = wire(&req);
        assert!(wire.contains("X-Trace-Thing: 1\r\n"), "{wire}");
        assert!(wire.contains("X-Auth-User: u_1\r\n"), "{wire}");
    }

    #[test]
    fn a_target_the_uri_cannot_reproduce_keeps_pingoras_insert() {
        let mut req = client_request(b"http://other.example/api/x");
        add_user(&mut req, false);
        assert!(req.has_case(), "not rebuilt");
        assert_eq!(req.raw_path(), b"http://other.example/api/x");
        assert_eq!(req.headers["x-auth-user"], "u_1");
    }

    #[test]
    fn an_http2_request_keeps_its_end_of_stream_setting() {
        let mut req = client_request(b"/api/x");
        req.set_version(http::Version::HTTP_2);
        req.set_send_end_stream(false);
        add_user(&mut req, false);
        assert_eq!(req.send_end_stream(), Some(false));
    }
}
