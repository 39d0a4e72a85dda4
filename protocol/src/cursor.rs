//! A position in a byte string: the base of the crate's hand-written
//! parsers (structured header fields in [`crate::httpsig`], the canonical
//! form's one-pass check in [`crate::canonical`]), each of which adds its
//! own grammar's methods.

/// Bytes and the index of the next one to read.
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Cursor<'a> {
        Cursor { s, i: 0 }
    }

    /// The next byte, not consumed.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Consumes the next byte if it is `c`.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
}
