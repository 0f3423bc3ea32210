//! Finding where a request's header ends in bytes that arrive in pieces.

/// Where the header block ends: an empty line, `\r\n\r\n` or (as parsers accept) `\n\n`.
/// Carries a partial match from one piece to the next.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEnd {
    /// The last piece ended inside a line break: after `\n`, or after `\n\r`.
    after_lf: bool,
    after_lf_cr: bool,
}

impl HeaderEnd {
    /// The offset just past the header's end within `piece`, if it ends there.
    pub fn feed(&mut self, piece: &[u8]) -> Option<usize> {
        if piece.is_empty() {
            return None;
        }
        let mut from = 0;
        // Finish a break the previous piece started.
        if self.after_lf || self.after_lf_cr {
            match (self.after_lf_cr, piece.first()) {
                (false, Some(b'\n')) => return self.found(1),
                (false, Some(b'\r')) => match piece.get(1) {
                    Some(b'\n') => return self.found(2),
                    Some(_) => from = 1,
                    None => {
                        self.after_lf = false;
                        self.after_lf_cr = true;
                        return None;
                    }
                },
                (true, Some(b'\n')) => return self.found(1),
                _ => {}
            }
            self.after_lf = false;
            self.after_lf_cr = false;
        }
        let mut at = from;
        while let Some(i) = memchr::memchr(b'\n', &piece[at..]) {
            let lf = at + i;
            match (piece.get(lf + 1), piece.get(lf + 2)) {
                (Some(b'\n'), _) => return self.found(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return self.found(lf + 3),
                (None, _) => {
                    self.after_lf = true;
                    return None;
                }
                (Some(b'\r'), None) => {
                    self.after_lf_cr = true;
                    return None;
                }
                _ => at = lf + 1,
            }
        }
        None
    }

    fn found(&mut self, end: usize) -> Option<usize> {
        *self = Self::default();
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderEnd;

    fn end_in_pieces(text: &[u8], cut: usize) -> Option<usize> {
        let mut scan = HeaderEnd::default();
        let (a, b) = text.split_at(cut);
        scan.feed(a).or_else(|| scan.feed(b).map(|n| n + a.len()))
    }

    #[test]
    fn the_end_is_found_wherever_the_pieces_split() {
        let crlf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        let lf = b"GET / HTTP/1.1\nHost: a\n\nBODY";
        for text in [&crlf[..], &lf[..]] {
            let whole = text.len() - 4;
            for cut in 0..=text.len() {
                assert_eq!(end_in_pieces(text, cut), Some(whole), "cut at {cut}");
            }
        }
        for cut in 0..20 {
            assert_eq!(end_in_pieces(b"GET / HTTP/1.1\r\nHost: a\r\n", cut), None);
        }
        // A lone CR between lines is not an empty line.
        assert_eq!(HeaderEnd::default().feed(b"a\n\rb\r\n"), None);
    }
}
