//! TLS record layer framing (RFC 5246 §6.2, RFC 8446 §5.1).
//!
//! Only the 5-byte header is parsed here; the tracker decides what to do with bodies.

use crate::reader::Probe;

/// Record content type (RFC 5246 §6.2.1, RFC 8446 §5.1, RFC 6520 for heartbeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    pub const CHANGE_CIPHER_SPEC: ContentType = ContentType(20);
    pub const ALERT: ContentType = ContentType(21);
    pub const HANDSHAKE: ContentType = ContentType(22);
    pub const APPLICATION_DATA: ContentType = ContentType(23);
    pub const HEARTBEAT: ContentType = ContentType(24);

    /// The content types a TLS 1.0–1.3 peer may send.
    pub fn is_known(self) -> bool {
        (20..=24).contains(&self.0)
    }
}

/// Protocol version on the wire, `major << 8 | minor` (0x0303 is TLS 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    pub fn major(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub fn minor(self) -> u8 {
        self.0 as u8
    }
}

/// Header length: type (1), version (2), length (2).
pub const RECORD_HEADER_LEN: usize = 5;

/// Largest record body any TLS version allows: TLSCiphertext may carry 2^14 + 2048
/// bytes (RFC 5246 §6.2.3; RFC 8446 §5.2 is stricter at 2^14 + 256).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// One parsed record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: ContentType,
    pub version: ProtocolVersion,
    /// Body length in bytes, at most [`MAX_RECORD_LEN`].
    pub length: u16,
}

/// Why five bytes are not a TLS record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    ContentType(u8),
    Version(u16),
    Length(u16),
    /// SSL 2.0 CLIENT-HELLO (two-byte length with the high bit set, then message type
    /// 1); some old clients still open with it for compatibility.
    Sslv2ClientHello {
        version: u16,
    },
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::ContentType(t) => write!(f, "invalid record content type {t}"),
            HeaderError::Version(v) => write!(f, "invalid record version 0x{v:04x}"),
            HeaderError::Length(l) => write!(f, "record length {l} exceeds 2^14+2048"),
            HeaderError::Sslv2ClientHello { version } => {
                write!(f, "SSLv2-format ClientHello (client version 0x{version:04x})")
            }
        }
    }
}

/// Parse a record header: content type 20–24, major version 3, length within bounds.
pub fn parse_record_header(b: &[u8; RECORD_HEADER_LEN]) -> Result<RecordHeader, HeaderError> {
    let content_type = ContentType(b[0]);
    let version = ProtocolVersion(u16::from_be_bytes([b[1], b[2]]));
    let length = u16::from_be_bytes([b[3], b[4]]);
    if !content_type.is_known() {
        // SSLv2 record: msb set in the first length byte, msg_type CLIENT-HELLO = 1,
        // then the client's highest version (SSL 2.0 spec; RFC 6101 appendix E.2).
        if b[0] & 0x80 != 0 && b[2] == 1 {
            return Err(HeaderError::Sslv2ClientHello { version: u16::from_be_bytes([b[3], b[4]]) });
        }
        return Err(HeaderError::ContentType(b[0]));
    }
    if version.major() != 3 {
        return Err(HeaderError::Version(version.0));
    }
    if usize::from(length) > MAX_RECORD_LEN {
        return Err(HeaderError::Length(length));
    }
    Ok(RecordHeader { content_type, version, length })
}

/// The first five bytes of `data` as a header, if there are five.
pub(crate) fn header_bytes(data: &[u8]) -> Option<&[u8; RECORD_HEADER_LEN]> {
    data.get(..RECORD_HEADER_LEN)?.try_into().ok()
}

/// Stricter than [`parse_record_header`]: also a minor version a real stack sends
/// (SSL 3.0 to TLS 1.3). Used where a false positive costs more than a miss: protocol
/// detection and resynchronisation after a gap.
pub fn plausible_header(data: &[u8]) -> Probe {
    let Some(b) = header_bytes(data) else {
        return Probe::NeedMore;
    };
    match parse_record_header(b) {
        Ok(h) if h.version.minor() <= 4 => Probe::Match,
        _ => Probe::NoMatch,
    }
}

/// Probe for a TLS stream at connection start: a plausible record header and, for a
/// handshake record, a first message that is ClientHello (1) or ServerHello (2).
pub fn probe_record(data: &[u8]) -> Probe {
    match plausible_header(data) {
        Probe::Match => {}
        other => return other,
    }
    if data[0] == ContentType::HANDSHAKE.0 {
        if let Some(&t) = data.get(RECORD_HEADER_LEN) {
            if t != 1 && t != 2 {
                return Probe::NoMatch;
            }
        }
    }
    Probe::Match
}
