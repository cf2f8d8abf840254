//! TLS as seen by a passive observer: record framing, handshake messages reassembled
//! across records, hello details, and the server certificate chain (TLS ≤ 1.2).
//!
//! The tracker takes *de-framed* TLS record bytes per direction: engines that carry TLS
//! inside their own packets (TDS PRELOGIN) strip their framing and feed the records.
//!
//! Cost model: handshake and alert record bodies are buffered (bounded); application
//! data and anything after ChangeCipherSpec is skipped with a counter, never copied.
//! Nothing here panics on hostile input; memory per connection is bounded by
//! [`MAX_HANDSHAKE_MESSAGE`] plus one record per direction.

mod fingerprint;
mod handshake;
mod record;
#[cfg(test)]
pub(crate) mod tests;

pub use fingerprint::{client_fingerprint, ja3_string, ja4, ClientFingerprint};
pub use handshake::{
    is_client_hello, is_grease, parse_certificate_list, parse_client_hello, parse_server_hello, peek_client_hello,
    peek_client_hello_alpn, ClientHelloInfo, ExtensionType, HandshakeType, ServerHelloInfo, HANDSHAKE_HEADER_LEN,
    HRR_RANDOM,
};
pub use record::{
    parse_record_header, plausible_header, probe_record, ContentType, HeaderError, ProtocolVersion, RecordHeader,
    MAX_RECORD_LEN, RECORD_HEADER_LEN,
};

use crate::flow::Direction;
use crate::reader::Probe;
use crate::x509::CertSummary;

/// Where the server certificate stands for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertVisibility {
    /// No Certificate message seen (handshake not captured, or resumption).
    #[default]
    NotSeen,
    /// Certificate message parsed (TLS ≤ 1.2).
    Seen,
    /// TLS 1.3: the certificate travels encrypted and cannot be observed.
    EncryptedTls13,
}

/// A TLS alert seen in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsAlert {
    pub dir: Direction,
    pub level: u8,
    pub description: u8,
}

/// Everything the tracker learned about one TLS session.
#[derive(Debug, Clone, Default)]
pub struct TlsSummary {
    /// A well-formed TLS record header was seen in at least one direction.
    pub records_seen: bool,
    pub client_hello_seen: bool,
    pub server_hello_seen: bool,
    /// The first ServerHello was a HelloRetryRequest (TLS 1.3).
    pub hello_retry_request: bool,
    /// Record-layer version of the client's first record, else the server's (useful
    /// mid-stream; OpenSSL opens with 0x0301 whatever it negotiates).
    pub record_version: Option<u16>,
    /// ClientHello: legacy version, supported_versions, cipher suites, SNI, ALPN.
    pub client_version: Option<u16>,
    pub offered_versions: Vec<u16>,
    pub offered_ciphers: Vec<u16>,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    /// Negotiated protocol version (TLS 1.3 read from supported_versions).
    pub version: Option<u16>,
    /// Negotiated cipher suite id.
    pub cipher: Option<u16>,
    /// ALPN protocol the server selected. TLS ≤ 1.2 only: TLS 1.3 sends it in the
    /// encrypted EncryptedExtensions (RFC 8446 §4.3.1).
    pub alpn: Option<String>,
    /// Server chain, leaf first (TLS ≤ 1.2 only).
    pub certificates: Vec<CertSummary>,
    /// The same chain as DER, for validation (bounded like `certificates`).
    pub certificates_der: Vec<Vec<u8>>,
    /// JA3 / JA4 of the (first) ClientHello.
    pub fingerprint: Option<ClientFingerprint>,
    pub cert_visibility: CertVisibility,
    /// Alerts seen before encryption started (bounded).
    pub alerts: Vec<TlsAlert>,
    /// The client sent a non-empty Certificate (mutual TLS, visible up to TLS 1.2).
    pub client_certificate: bool,
    /// Records whose body is encrypted (application data, anything after
    /// ChangeCipherSpec), per direction [to server, to client].
    pub encrypted_records: [u64; 2],
    /// Body bytes of those records actually seen (headers excluded).
    pub encrypted_bytes: [u64; 2],
    /// Parse problems (bounded); the tracker never panics.
    pub anomalies: Vec<String>,
}

/// Human name of a TLS protocol version, e.g. `TLSv1.2`.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        0x0002 => "SSLv2".into(),
        _ => format!("0x{v:04x}"),
    }
}

/// IANA name of a cipher suite, e.g. 0xc030 → `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`.
pub fn cipher_name(id: u16) -> Option<&'static str> {
    tls_parser::TlsCipherSuite::from_id(id).map(|c| c.name)
}

/// Largest handshake message reassembled; a bigger one is skipped with an anomaly.
/// Certificate chains are the only large messages and stay well below this.
pub const MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;
const MAX_ALERTS: usize = 4;
const MAX_ANOMALIES: usize = 16;
const MAX_CERTS: usize = 16;
/// Plaintext alert records are two bytes (RFC 5246 §7.2); keep a few pairs at most.
const ALERT_BUF_CAP: usize = 32;
const TLS13: u16 = 0x0304;

/// What the current record body is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Body {
    /// Between records: the next bytes are a header.
    #[default]
    Header,
    /// Skipped without copying; `encrypted` says whether it is counted as such.
    Skip {
        encrypted: bool,
    },
    /// Appended to the handshake message stream.
    Handshake,
    /// Handshake record after ChangeCipherSpec while the version is unknown: TLS 1.3
    /// middlebox compatibility (RFC 8446 §D.4) sends a dummy ChangeCipherSpec before a
    /// plaintext ClientHello/ServerHello after HelloRetryRequest, so buffer the record
    /// and decide at its end.
    Probe,
    Alert,
    ChangeCipherSpec,
}

/// Framing and handshake state of one direction.
#[derive(Debug, Default)]
struct DirState {
    hdr: [u8; RECORD_HEADER_LEN],
    hdr_len: usize,
    body: Body,
    /// Body bytes of the current record still to come.
    left: usize,
    /// Handshake byte stream not yet consumed as whole messages.
    msg: Vec<u8>,
    /// Bytes still to discard of an oversized handshake message.
    msg_skip: usize,
    /// Alert / probe record body.
    small: Vec<u8>,
    /// ChangeCipherSpec seen.
    ccs: bool,
    /// Handshake records from here on are encrypted.
    encrypted: bool,
    /// Invalid header: nothing is parsed until a gap.
    halted: bool,
    /// After a gap: wait for a chunk that starts with a plausible header.
    resync: bool,
    /// Record version of this direction's first record.
    first_record: Option<u16>,
}

impl DirState {
    fn set_encrypted(&mut self) {
        self.encrypted = true;
        // Nothing more will be reassembled here: give the memory back.
        self.msg = Vec::new();
        self.msg_skip = 0;
    }
}

fn dir_name(dir: Direction) -> &'static str {
    match dir {
        Direction::ToServer => "client",
        Direction::ToClient => "server",
    }
}

/// Follows one TLS session, both directions.
#[derive(Debug, Default)]
pub struct TlsTracker {
    summary: TlsSummary,
    dirs: [DirState; 2],
}

impl TlsTracker {
    pub fn new() -> Self {
        TlsTracker::default()
    }

    /// TLS record bytes (headers included) of one direction, in order, in any chunking.
    ///
    /// After a [`gap`](Self::gap) a chunk is only used if it starts with a plausible
    /// record header (chunks shorter than a header are dropped while resynchronising).
    pub fn feed(&mut self, dir: Direction, data: &[u8]) {
        let i = dir.index();
        let mut data = data;
        {
            let st = &mut self.dirs[i];
            if st.halted || data.is_empty() {
                return;
            }
            if st.resync {
                // Engines feed at segment boundaries, so a record usually starts a chunk.
                if plausible_header(data) != Probe::Match {
                    return;
                }
                st.resync = false;
            }
        }
        while !data.is_empty() {
            let st = &mut self.dirs[i];
            if st.body == Body::Header {
                let hdr: [u8; RECORD_HEADER_LEN] = if st.hdr_len == 0 && data.len() >= 5 {
                    let (h, rest) = data.split_at(RECORD_HEADER_LEN);
                    data = rest;
                    match h.try_into() {
                        Ok(h) => h,
                        Err(_) => return,
                    }
                } else {
                    let n = (RECORD_HEADER_LEN - st.hdr_len).min(data.len());
                    st.hdr[st.hdr_len..st.hdr_len + n].copy_from_slice(&data[..n]);
                    st.hdr_len += n;
                    data = &data[n..];
                    if st.hdr_len < RECORD_HEADER_LEN {
                        return;
                    }
                    st.hdr_len = 0;
                    st.hdr
                };
                match parse_record_header(&hdr) {
                    Ok(h) => self.start_record(dir, h),
                    Err(e) => {
                        self.anomaly(format!("{}: {e}; direction not parsed further", dir_name(dir)));
                        self.dirs[i].halted = true;
                        return;
                    }
                }
                if self.dirs[i].left == 0 {
                    self.end_record(dir);
                }
                continue;
            }
            let n = st.left.min(data.len());
            let (piece, rest) = data.split_at(n);
            data = rest;
            st.left -= n;
            match st.body {
                // Hot path on bulk traffic: count and move on.
                Body::Skip { encrypted } => {
                    if encrypted {
                        self.summary.encrypted_bytes[i] += n as u64;
                    }
                }
                Body::Handshake => self.push_handshake(dir, piece),
                Body::Probe | Body::Alert | Body::ChangeCipherSpec => {
                    let cap = if st.body == Body::Probe { MAX_RECORD_LEN } else { ALERT_BUF_CAP };
                    let room = cap.saturating_sub(st.small.len()).min(piece.len());
                    st.small.extend_from_slice(&piece[..room]);
                }
                Body::Header => {}
            }
            if self.dirs[i].left == 0 {
                self.end_record(dir);
            }
        }
    }

    /// `len` bytes of `dir` were lost. Inside a skipped record body the framing survives;
    /// otherwise partial record and message state is dropped and parsing resumes on
    /// the next chunk that starts with a plausible record header.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        let st = &mut self.dirs[dir.index()];
        if len == 0 {
            return;
        }
        if matches!(st.body, Body::Skip { .. }) && len <= st.left as u64 {
            st.left -= len as usize;
            if st.left == 0 {
                st.body = Body::Header;
            }
            return;
        }
        st.hdr_len = 0;
        st.body = Body::Header;
        st.left = 0;
        st.msg.clear();
        st.msg_skip = 0;
        st.small.clear();
        st.halted = false;
        st.resync = true;
    }

    pub fn summary(&self) -> &TlsSummary {
        &self.summary
    }

    /// The server's side of the handshake is settled: ServerHello seen and either the
    /// certificate parsed or the server's records encrypted from here on.
    pub fn handshake_done(&self) -> bool {
        self.summary.server_hello_seen
            && (self.summary.cert_visibility != CertVisibility::NotSeen
                || self.dirs[Direction::ToClient.index()].encrypted)
    }

    fn anomaly(&mut self, what: String) {
        if self.summary.anomalies.len() < MAX_ANOMALIES {
            self.summary.anomalies.push(what);
        }
    }

    /// The ServerHello chose TLS 1.2 or older, so ChangeCipherSpec really switches keys.
    fn known_pre_tls13(&self) -> bool {
        self.summary.server_hello_seen && self.summary.version.is_some_and(|v| v < TLS13)
    }

    fn start_record(&mut self, dir: Direction, h: RecordHeader) {
        let i = dir.index();
        self.summary.records_seen = true;
        // The client's first record wins, whatever order the directions are fed in.
        if dir == Direction::ToServer && self.dirs[i].first_record.is_none() {
            self.summary.record_version = Some(h.version.0);
        } else if dir == Direction::ToClient && self.dirs[0].first_record.is_none() {
            self.summary.record_version.get_or_insert(h.version.0);
        }
        self.dirs[i].first_record.get_or_insert(h.version.0);
        let pre13 = self.known_pre_tls13();
        let st = &mut self.dirs[i];
        st.left = usize::from(h.length);
        let encrypted = match h.content_type {
            ContentType::APPLICATION_DATA => true,
            ContentType::HANDSHAKE => {
                if st.encrypted {
                    true
                } else if st.ccs && st.msg.is_empty() && st.msg_skip == 0 {
                    if pre13 {
                        st.set_encrypted();
                        true
                    } else {
                        st.small.clear();
                        st.body = Body::Probe;
                        return;
                    }
                } else {
                    st.body = Body::Handshake;
                    return;
                }
            }
            // Encrypted alerts are longer than the two plaintext bytes.
            ContentType::ALERT if st.encrypted || (st.ccs && h.length != 2) => true,
            ContentType::ALERT => {
                st.small.clear();
                st.body = Body::Alert;
                return;
            }
            ContentType::CHANGE_CIPHER_SPEC => {
                st.body = Body::ChangeCipherSpec;
                return;
            }
            // Heartbeat (RFC 6520): encrypted once keys are in use.
            _ => st.ccs || st.encrypted,
        };
        st.body = Body::Skip { encrypted };
        if encrypted {
            self.summary.encrypted_records[i] += 1;
        }
    }

    fn end_record(&mut self, dir: Direction) {
        let i = dir.index();
        let body = std::mem::take(&mut self.dirs[i].body);
        match body {
            Body::Alert => {
                let small = std::mem::take(&mut self.dirs[i].small);
                for pair in small.chunks_exact(2) {
                    if self.summary.alerts.len() < MAX_ALERTS {
                        self.summary.alerts.push(TlsAlert { dir, level: pair[0], description: pair[1] });
                    }
                }
                self.dirs[i].small = small;
                self.dirs[i].small.clear();
            }
            Body::ChangeCipherSpec => {
                let pre13 = self.known_pre_tls13();
                let st = &mut self.dirs[i];
                st.small.clear();
                st.ccs = true;
                if pre13 {
                    st.set_encrypted();
                }
            }
            Body::Probe => {
                let small = std::mem::take(&mut self.dirs[i].small);
                if probe_plaintext_hello(dir, &small) {
                    self.push_handshake(dir, &small);
                } else {
                    self.dirs[i].set_encrypted();
                    self.summary.encrypted_records[i] += 1;
                    self.summary.encrypted_bytes[i] += small.len() as u64;
                }
                // Probe buffers can be a full record: do not keep that capacity.
                self.dirs[i].small = Vec::new();
            }
            _ => {}
        }
    }

    /// Append handshake record bytes and handle every complete message
    /// (RFC 8446 §5.1: messages may be split across records or share one).
    fn push_handshake(&mut self, dir: Direction, piece: &[u8]) {
        let i = dir.index();
        let st = &mut self.dirs[i];
        if st.encrypted {
            return;
        }
        let mut piece = piece;
        if st.msg_skip > 0 {
            let k = st.msg_skip.min(piece.len());
            st.msg_skip -= k;
            piece = &piece[k..];
        }
        if piece.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut st.msg);
        buf.extend_from_slice(piece);
        let mut pos = 0;
        while buf.len() - pos >= HANDSHAKE_HEADER_LEN {
            let avail = buf.len() - pos;
            let ty = buf[pos];
            let len = u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            let total = HANDSHAKE_HEADER_LEN + len;
            if len > MAX_HANDSHAKE_MESSAGE {
                self.anomaly(format!(
                    "{}: handshake message type {ty} of {len} bytes exceeds the cap; skipped",
                    dir_name(dir)
                ));
                if avail >= total {
                    pos += total;
                    continue;
                }
                self.dirs[i].msg_skip = total - avail;
                pos = buf.len();
                break;
            }
            if avail < total {
                break;
            }
            self.handle_message(dir, HandshakeType(ty), &buf[pos + HANDSHAKE_HEADER_LEN..pos + total]);
            pos += total;
            if self.dirs[i].encrypted {
                // TLS 1.3 after ServerHello: what follows is not plaintext handshake.
                return;
            }
        }
        buf.drain(..pos);
        self.dirs[i].msg = buf;
    }

    fn handle_message(&mut self, dir: Direction, ty: HandshakeType, body: &[u8]) {
        let s = &mut self.summary;
        match (dir, ty) {
            (Direction::ToServer, HandshakeType::CLIENT_HELLO) => {
                // After HelloRetryRequest the second ClientHello repeats the offer;
                // the first one is kept.
                if s.client_hello_seen {
                    return;
                }
                match parse_client_hello(body) {
                    Some(ch) => {
                        s.fingerprint = Some(client_fingerprint(&ch));
                        s.client_hello_seen = true;
                        s.client_version = Some(ch.legacy_version);
                        s.offered_versions = ch.versions;
                        s.offered_ciphers = ch.ciphers;
                        s.sni = ch.sni;
                        s.alpn_offered = ch.alpn;
                    }
                    None => self.anomaly("client: malformed ClientHello".into()),
                }
            }
            (Direction::ToClient, HandshakeType::SERVER_HELLO) => {
                if s.server_hello_seen {
                    return;
                }
                let Some(sh) = parse_server_hello(body) else {
                    self.anomaly("server: malformed ServerHello".into());
                    return;
                };
                let version = sh.version();
                s.version = Some(version);
                s.cipher = Some(sh.cipher);
                if version == TLS13 {
                    s.cert_visibility = CertVisibility::EncryptedTls13;
                }
                if sh.hello_retry_request {
                    // Provisional: the next ServerHello is the real one.
                    s.hello_retry_request = true;
                    return;
                }
                s.server_hello_seen = true;
                s.alpn = sh.alpn;
                if version == TLS13 {
                    // RFC 8446 §2: everything after ServerHello is encrypted.
                    self.dirs[dir.index()].set_encrypted();
                }
            }
            (Direction::ToClient, HandshakeType::CERTIFICATE) => {
                if s.cert_visibility != CertVisibility::NotSeen {
                    return;
                }
                let Some(chain) = parse_certificate_list(body) else {
                    self.anomaly("server: malformed Certificate message".into());
                    return;
                };
                s.cert_visibility = CertVisibility::Seen;
                let mut errors = Vec::new();
                for der in chain.iter().take(MAX_CERTS) {
                    match crate::x509::summarize_cached(der) {
                        Ok(c) => {
                            s.certificates.push(c);
                            s.certificates_der.push(der.to_vec());
                        }
                        Err(e) => errors.push(format!("server: {e}")),
                    }
                }
                for e in errors {
                    self.anomaly(e);
                }
            }
            (Direction::ToServer, HandshakeType::CERTIFICATE) => {
                if let Some(chain) = parse_certificate_list(body) {
                    s.client_certificate |= !chain.is_empty();
                }
            }
            _ => {}
        }
    }
}

/// Is this post-ChangeCipherSpec handshake record a plaintext hello (TLS 1.3 middlebox
/// compatibility, RFC 8446 §D.4) rather than an encrypted Finished? It must hold one
/// whole, well-formed ClientHello (to server) or ServerHello (to client).
fn probe_plaintext_hello(dir: Direction, body: &[u8]) -> bool {
    let expected = match dir {
        Direction::ToServer => HandshakeType::CLIENT_HELLO,
        Direction::ToClient => HandshakeType::SERVER_HELLO,
    };
    let [ty, a, b, c, 3, _, ..] = *body else {
        return false;
    };
    let len = u32::from_be_bytes([0, a, b, c]) as usize;
    if ty != expected.0 || HANDSHAKE_HEADER_LEN + len > body.len() {
        return false;
    }
    let msg = &body[HANDSHAKE_HEADER_LEN..HANDSHAKE_HEADER_LEN + len];
    match dir {
        Direction::ToServer => parse_client_hello(msg).is_some(),
        Direction::ToClient => parse_server_hello(msg).is_some(),
    }
}
