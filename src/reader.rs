//! A small cursor over a byte slice for hand-written wire parsers (after rustls
//! `msgs/codec.rs`). Every read is bounds-checked and returns `None` when the input is
//! too short, so parsers on hostile bytes cannot panic.

/// Cursor over borrowed bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    /// Bytes not yet consumed.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub fn is_empty(&self) -> bool {
        self.left() == 0
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Take exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn be_u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn le_u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn be_u24(&mut self) -> Option<u32> {
        self.take(3).map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    pub fn le_u24(&mut self) -> Option<u32> {
        self.take(3).map(|b| u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }
    pub fn be_u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn le_u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A NUL-terminated string (NUL consumed, not returned).
    pub fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest();
        let n = rest.iter().position(|&b| b == 0)?;
        self.pos += n + 1;
        Some(&rest[..n])
    }
}

/// Answer of a content probe: ports are hints, bytes decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes are this protocol.
    Match,
    /// The bytes cannot be this protocol.
    NoMatch,
    /// Too few bytes to tell yet.
    NeedMore,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let mut r = Reader::new(&[0x00, 0x01, 0x02, 0x03, b'a', 0, 9]);
        assert_eq!(r.be_u16(), Some(1));
        assert_eq!(r.u8(), Some(2));
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.cstr(), Some(&b"a"[..]));
        assert_eq!(r.be_u16(), None);
        assert_eq!(r.u8(), Some(9));
        assert!(r.is_empty());
        assert_eq!(r.take(usize::MAX), None);
    }
}
