//! An HTTP/2 client that sends frames exactly as written, malformed ones included, so a test
//! can offer the gateway what a well-behaved library never would (uppercase names, CR/LF,
//! connection-specific headers, duplicated pseudo-headers, a `content-length` the DATA frames
//! contradict). Header blocks are HPACK literals without indexing, never Huffman-coded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// How the server treated a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response; its status when the first field of the block carried it readably.
    Answered(Option<u16>),
    /// `RST_STREAM` with this error code.
    Reset(u32),
    /// `GOAWAY` with this error code: the whole connection refused.
    GoAway(u32),
    /// The connection ended, or went quiet, without any of those.
    Closed,
}

pub struct H2 {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl H2 {
    /// TLS to `addr` as `localhost`, trusting `ca_file`, with ALPN `h2` (asserted), then the
    /// connection preface and empty SETTINGS.
    pub fn connect(addr: SocketAddr, ca_file: &std::path::Path) -> Self {
        let mut config = (*crate::gateway::client_trusting(ca_file)).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("handshake");
        }
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]), "h2 by ALPN");
        let mut h2 = Self { tls };
        h2.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        h2.frame(SETTINGS, 0, 0, &[]);
        h2
    }

    /// A HEADERS frame on `stream` carrying `fields` in order, as given.
    pub fn headers(&mut self, stream: u32, fields: &[(&[u8], &[u8])], end_stream: bool) {
        let mut block = Vec::new();
        for (name, value) in fields {
            block.push(0x00); // literal, not indexed, new name
            string(&mut block, name);
            string(&mut block, value);
        }
        // Frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE): HEADERS, then
        // CONTINUATIONs, the last ending the block.
        let pieces: Vec<&[u8]> = if block.is_empty() {
            vec![&[]]
        } else {
            block.chunks(16_384).collect()
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let mut flags = if i == last { END_HEADERS } else { 0 };
            let kind = if i == 0 {
                flags |= if end_stream { END_STREAM } else { 0 };
                HEADERS
            } else {
                CONTINUATION
            };
            self.frame(kind, flags, stream, piece);
        }
    }

    pub fn data(&mut self, stream: u32, bytes: &[u8], end_stream: bool) {
        self.frame(DATA, if end_stream { END_STREAM } else { 0 }, stream, bytes);
    }

    /// Reads frames until `stream` is answered or reset, or the connection refused or ended;
    /// the server's SETTINGS and PINGs are acknowledged on the way.
    pub fn outcome(&mut self, stream: u32) -> Outcome {
        loop {
            let Some((kind, flags, id, payload)) = self.read_frame() else {
                return Outcome::Closed;
            };
            match kind {
                SETTINGS if flags & 0x1 == 0 => self.frame(SETTINGS, 0x1, 0, &[]),
                PING if flags & 0x1 == 0 => self.frame(PING, 0x1, 0, &payload),
                HEADERS if id == stream => return Outcome::Answered(status(flags, &payload)),
                RST_STREAM if id == stream && payload.len() >= 4 => {
                    return Outcome::Reset(u32::from_be_bytes(payload[..4].try_into().unwrap()))
                }
                GOAWAY if payload.len() >= 8 => {
                    return Outcome::GoAway(u32::from_be_bytes(payload[4..8].try_into().unwrap()))
                }
                _ => {}
            }
        }
    }

    fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len() as u32;
        let mut out = Vec::with_capacity(9 + payload.len());
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(payload);
        self.write(&out);
    }

    fn write(&mut self, bytes: &[u8]) {
        // The server may already have refused the connection; what it said is read after.
        let _ = self.tls.write_all(bytes).and_then(|_| self.tls.flush());
    }

    fn read_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.tls.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        self.tls.read_exact(&mut payload).ok()?;
        Some((head[3], head[4], id, payload))
    }
}

/// An HPACK string literal, not Huffman-coded.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 0x00, 7, bytes.len());
    out.extend_from_slice(bytes);
}

/// An HPACK integer with an `n`-bit prefix under `first`'s high bits.
fn integer(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// `:status` from the first field of a response header block: an indexed static entry, or a
/// literal on the static `:status` name with a plain or Huffman-coded three-digit value.
fn status(flags: u8, payload: &[u8]) -> Option<u16> {
    let mut block = payload;
    if flags & PADDED != 0 {
        let pad = *block.first()? as usize;
        block = block.get(1..block.len().checked_sub(pad)?)?;
    }
    if flags & PRIORITY != 0 {
        block = block.get(5..)?;
    }
    let first = *block.first()?;
    let indexed = [
        (8, 200),
        (9, 204),
        (10, 206),
        (11, 304),
        (12, 400),
        (13, 404),
        (14, 500),
    ];
    if first & 0x80 != 0 {
        return indexed
            .iter()
            .find(|(i, _)| *i == first & 0x7f)
            .map(|(_, s)| *s);
    }
    // Literal with incremental indexing (01), without (0000) or never indexed (0001), on
    // static name 8 (`:status`).
    let on_status = first == 0x48 || first == 0x08 || first == 0x18;
    if !on_status {
        return None;
    }
    let len_byte = *block.get(1)?;
    let len = (len_byte & 0x7f) as usize;
    let value = block.get(2..2 + len)?;
    let text = if len_byte & 0x80 == 0 {
        String::from_utf8(value.to_vec()).ok()?
    } else {
        huffman_digits(value, 3)?
    };
    text.parse().ok()
}

/// Decodes `count` digits from HPACK's Huffman code (digits are 5 or 6 bits: 0-2 are
/// `00000`-`00010`, 3-9 are `011001`-`011111`).
fn huffman_digits(bytes: &[u8], count: usize) -> Option<String> {
    let bit = |i: usize| -> Option<u32> {
        let byte = *bytes.get(i / 8)?;
        Some(u32::from((byte >> (7 - i % 8)) & 1))
    };
    let mut at = 0;
    let mut out = String::new();
    while out.len() < count {
        let mut code = 0;
        for _ in 0..5 {
            code = code << 1 | bit(at)?;
            at += 1;
        }
        let digit = if code < 3 {
            code
        } else {
            code = code << 1 | bit(at)?;
            at += 1;
            if !(0x19..=0x1f).contains(&code) {
                return None;
            }
            code - 0x19 + 3
        };
        out.push(char::from_digit(digit, 10)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_digits_decode_as_rfc_7541_codes_them() {
        // "502": 011011 00000 00010, sixteen bits exactly.
        assert_eq!(
            huffman_digits(&[0b0110_1100, 0b0000_0010], 3).as_deref(),
            Some("502")
        );
        // "431": 011010 011001 00001, padded with ones.
        assert_eq!(
            huffman_digits(&[0b0110_1001, 0b1001_0000, 0b1111_1111], 3).as_deref(),
            Some("431")
        );
    }

    #[test]
    fn integers_continue_past_their_prefix() {
        let mut out = Vec::new();
        integer(&mut out, 0, 7, 1337);
        assert_eq!(out, [127, 0xba, 0x09]);
    }
}
