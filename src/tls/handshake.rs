//! Handshake messages a passive observer can read: ClientHello, ServerHello (and
//! HelloRetryRequest), Certificate. Bodies are parsed with tls-parser; extensions are
//! split by hand so that one malformed extension does not hide the others.

use tls_parser::{
    parse_tls_extension, parse_tls_handshake_client_hello, parse_tls_handshake_msg_certificate,
    parse_tls_handshake_server_hello, TlsExtension, TlsMessageHandshake,
};

use super::record::{header_bytes, parse_record_header, ContentType, RECORD_HEADER_LEN};
use crate::reader::Reader;

/// Handshake message type (RFC 5246 §7.4, RFC 8446 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakeType(pub u8);

impl HandshakeType {
    pub const CLIENT_HELLO: HandshakeType = HandshakeType(1);
    pub const SERVER_HELLO: HandshakeType = HandshakeType(2);
    pub const CERTIFICATE: HandshakeType = HandshakeType(11);
}

/// Extension type (RFC 8446 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionType(pub u16);

impl ExtensionType {
    /// RFC 6066 §3.
    pub const SERVER_NAME: ExtensionType = ExtensionType(0);
    /// RFC 7301 §3.1.
    pub const ALPN: ExtensionType = ExtensionType(16);
    /// RFC 8446 §4.2.1.
    pub const SUPPORTED_VERSIONS: ExtensionType = ExtensionType(43);
    /// RFC 8422 §5.1.1 (formerly elliptic_curves).
    pub const SUPPORTED_GROUPS: ExtensionType = ExtensionType(10);
    /// RFC 8422 §5.1.2.
    pub const EC_POINT_FORMATS: ExtensionType = ExtensionType(11);
    /// RFC 8446 §4.2.3.
    pub const SIGNATURE_ALGORITHMS: ExtensionType = ExtensionType(13);
}

/// Handshake header: type (1) and a 24-bit length (RFC 8446 §4).
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 §4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// GREASE values (RFC 8701 §2) are placeholders, not real offers.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// What a ClientHello offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHelloInfo {
    /// legacy_version (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// Cipher suites in client order, GREASE removed.
    pub ciphers: Vec<u16>,
    /// supported_versions, GREASE removed; empty when the extension is absent.
    pub versions: Vec<u16>,
    /// server_name host_name (RFC 6066 §3).
    pub sni: Option<String>,
    /// ALPN protocol names (RFC 7301 §3.1).
    pub alpn: Vec<String>,
    /// Extension types in wire order, GREASE removed (JA3, JA4).
    pub extensions: Vec<u16>,
    /// supported_groups (RFC 8422 §5.1.1), GREASE removed (JA3).
    pub groups: Vec<u16>,
    /// ec_point_formats (RFC 8422 §5.1.2) (JA3).
    pub point_formats: Vec<u8>,
    /// signature_algorithms (RFC 8446 §4.2.3) in client order (JA4).
    pub signature_algorithms: Vec<u16>,
    /// Raw bytes of the first ALPN protocol name (JA4 reads its first and last byte).
    pub alpn_first_raw: Option<Vec<u8>>,
}

/// What a ServerHello selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHelloInfo {
    pub legacy_version: u16,
    /// selected_version from supported_versions (RFC 8446 §4.2.1), when present.
    pub selected_version: Option<u16>,
    pub cipher: u16,
    pub alpn: Option<String>,
    /// The random marks a HelloRetryRequest (RFC 8446 §4.1.3).
    pub hello_retry_request: bool,
}

impl ServerHelloInfo {
    /// The negotiated version: supported_versions wins over legacy_version.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Walk an extensions block (`Extension extensions<..>`, length already stripped),
/// calling `f(type, whole extension bytes including its 4-byte header)`.
fn for_each_extension(block: &[u8], mut f: impl FnMut(ExtensionType, &[u8])) {
    let mut r = Reader::new(block);
    loop {
        let start = r.rest();
        let (Some(ty), Some(len)) = (r.be_u16(), r.be_u16()) else {
            return;
        };
        if r.skip(usize::from(len)).is_none() {
            return;
        }
        f(ExtensionType(ty), &start[..4 + usize::from(len)]);
    }
}

/// Parse a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHelloInfo> {
    let (_, ch) = parse_tls_handshake_client_hello(body).ok()?;
    let mut info = ClientHelloInfo {
        legacy_version: ch.version.0,
        ciphers: ch.ciphers.iter().map(|c| c.0).filter(|&c| !is_grease(c)).collect(),
        ..Default::default()
    };
    if let Some(ext) = ch.ext {
        for_each_extension(ext, |ty, raw| {
            if !is_grease(ty.0) {
                info.extensions.push(ty.0);
            }
            let data = raw.get(4..).unwrap_or_default();
            match ty {
                ExtensionType::SUPPORTED_GROUPS => info.groups = u16_list(data).filter(|&g| !is_grease(g)).collect(),
                ExtensionType::SIGNATURE_ALGORITHMS => {
                    info.signature_algorithms = u16_list(data).filter(|&a| !is_grease(a)).collect()
                }
                // uint8 length, then one byte per format.
                ExtensionType::EC_POINT_FORMATS => {
                    if let Some((&n, rest)) = data.split_first() {
                        info.point_formats = rest.iter().take(usize::from(n)).copied().collect();
                    }
                }
                ExtensionType::SERVER_NAME | ExtensionType::ALPN | ExtensionType::SUPPORTED_VERSIONS => {}
                _ => return,
            }
            match parse_tls_extension(raw) {
                Ok((_, TlsExtension::SNI(names))) => {
                    // RFC 6066 §3: at most one name of type host_name (0).
                    if let Some((_, name)) = names.iter().find(|(t, _)| t.0 == 0) {
                        info.sni = Some(lossy(name));
                    }
                }
                Ok((_, TlsExtension::ALPN(protos))) => {
                    info.alpn = protos.iter().map(|p| lossy(p)).collect();
                    info.alpn_first_raw = protos.first().map(|p| p.to_vec());
                }
                Ok((_, TlsExtension::SupportedVersions(vs))) => {
                    info.versions = vs.iter().map(|v| v.0).filter(|&v| !is_grease(v)).collect();
                }
                _ => {}
            }
        });
    }
    Some(info)
}

/// A `uint16 list<2..2^16-2>` body (uint16 byte length, then the values); a short tail is
/// ignored.
fn u16_list(data: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let n = data.get(..2).map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
    let body = data.get(2..).unwrap_or_default();
    body[..n.min(body.len())].chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// Parse a ServerHello body (after the 4-byte handshake header); also recognises a
/// HelloRetryRequest, which shares the ServerHello layout in TLS 1.3.
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHelloInfo> {
    let (_, sh) = parse_tls_handshake_server_hello(body).ok()?;
    let mut info = ServerHelloInfo {
        legacy_version: sh.version.0,
        cipher: sh.cipher.0,
        hello_retry_request: sh.random == HRR_RANDOM,
        ..Default::default()
    };
    if let Some(ext) = sh.ext {
        for_each_extension(ext, |ty, raw| match ty {
            // In a ServerHello/HRR it carries exactly the selected version.
            ExtensionType::SUPPORTED_VERSIONS => {
                if let [_, _, 0, 2, hi, lo] = raw {
                    info.selected_version = Some(u16::from_be_bytes([*hi, *lo]));
                }
            }
            ExtensionType::ALPN => {
                if let Ok((_, TlsExtension::ALPN(protos))) = parse_tls_extension(raw) {
                    // RFC 7301 §3.1: the server answers with exactly one name.
                    info.alpn = protos.first().map(|p| lossy(p));
                }
            }
            _ => {}
        });
    }
    Some(info)
}

/// Parse a TLS ≤ 1.2 Certificate body (RFC 5246 §7.4.2) into DER certificates, leaf
/// first.
pub fn parse_certificate_list(body: &[u8]) -> Option<Vec<&[u8]>> {
    match parse_tls_handshake_msg_certificate(body) {
        Ok((_, TlsMessageHandshake::Certificate(c))) => Some(c.cert_chain.iter().map(|c| c.data).collect()),
        _ => None,
    }
}

/// Does `data` start with a handshake record carrying a ClientHello?
pub fn is_client_hello(data: &[u8]) -> bool {
    let Some(h) = header_bytes(data).and_then(|b| parse_record_header(b).ok()) else {
        return false;
    };
    h.content_type == ContentType::HANDSHAKE
        && data.get(RECORD_HEADER_LEN) == Some(&HandshakeType::CLIENT_HELLO.0)
        // legacy_version inside the ClientHello is 3.x as well.
        && data.get(RECORD_HEADER_LEN + 4).map_or(true, |&m| m == 3)
}

/// Upper bound for a ClientHello gathered by [`peek_client_hello`].
const PEEK_CAP: usize = 64 * 1024;

/// Read the ClientHello at the start of a stream (engines use this to recognise direct
/// TLS, e.g. PostgreSQL 17 with ALPN `postgresql` or TDS 8 with `tds/8.0`). Joins the
/// bodies of consecutive handshake records until the message is complete; `None` when
/// `data` does not start with a ClientHello or does not hold all of it yet.
pub fn peek_client_hello(data: &[u8]) -> Option<ClientHelloInfo> {
    if !is_client_hello(data) {
        return None;
    }
    let mut r = Reader::new(data);
    let mut msg: Vec<u8> = Vec::new();
    loop {
        let hdr = parse_record_header(header_bytes(r.take(RECORD_HEADER_LEN)?)?).ok()?;
        if hdr.content_type != ContentType::HANDSHAKE {
            return None;
        }
        let body = r.take(usize::from(hdr.length))?;
        // Fast path: the whole message in the first record needs no copy.
        let joined: &[u8] = if msg.is_empty() {
            body
        } else {
            msg.extend_from_slice(body);
            &msg
        };
        if joined.len() >= HANDSHAKE_HEADER_LEN {
            let len = u32::from_be_bytes([0, joined[1], joined[2], joined[3]]) as usize;
            if len > PEEK_CAP {
                return None;
            }
            if let Some(m) = joined.get(HANDSHAKE_HEADER_LEN..HANDSHAKE_HEADER_LEN + len) {
                return parse_client_hello(m);
            }
        }
        if msg.is_empty() {
            msg.extend_from_slice(body);
        }
    }
}

/// ALPN names of the ClientHello at the start of `data` (see [`peek_client_hello`]).
pub fn peek_client_hello_alpn(data: &[u8]) -> Option<Vec<String>> {
    peek_client_hello(data).map(|ch| ch.alpn)
}
