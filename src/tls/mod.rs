//! TLS as seen by a passive observer: record framing, handshake messages reassembled
//! across records, hello details, and the server certificate chain (TLS ≤ 1.2).
//!
//! The tracker takes *de-framed* TLS record bytes per direction: engines that carry TLS
//! inside their own packets (TDS PRELOGIN) strip their framing and feed the records.

use crate::flow::Direction;
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
    /// Record-layer version of the first record seen (useful mid-stream).
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
    /// ALPN protocol the server selected.
    pub alpn: Option<String>,
    /// Server chain, leaf first (TLS ≤ 1.2 only).
    pub certificates: Vec<CertSummary>,
    pub cert_visibility: CertVisibility,
    /// Alerts seen before encryption started (bounded).
    pub alerts: Vec<TlsAlert>,
    /// ChangeCipherSpec or application data seen, per direction [to server, to client].
    pub encrypted_records: [u64; 2],
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

use crate::reader::Probe;

/// Does `data` start with a plausible TLS record header (content type 20–24, version
/// 3.x, length ≤ 2^14 + 2048)?
pub fn probe_record(data: &[u8]) -> Probe {
    let _ = data;
    Probe::NeedMore
}

/// Follows one TLS session, both directions.
#[derive(Debug, Default)]
pub struct TlsTracker {
    summary: TlsSummary,
}

impl TlsTracker {
    pub fn new() -> Self {
        TlsTracker::default()
    }
    /// TLS record bytes (headers included) of one direction, in order.
    pub fn feed(&mut self, _dir: Direction, _data: &[u8]) {}
    /// Bytes of `dir` were lost: resynchronise on the next record header.
    pub fn gap(&mut self, _dir: Direction, _len: u64) {}
    pub fn summary(&self) -> &TlsSummary {
        &self.summary
    }
}

/// IANA name of a cipher suite, e.g. 0xc030 → `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`.
pub fn cipher_name(id: u16) -> Option<&'static str> {
    tls_parser::TlsCipherSuite::from_id(id).map(|c| c.name)
}
