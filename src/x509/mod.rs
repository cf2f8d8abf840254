//! X.509 certificate summaries (x509-parser) for the report.

use serde::Serialize;

/// What the report shows of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    /// RFC 4514 string, e.g. `CN=bench-db.local,O=Example`.
    pub subject: String,
    pub issuer: String,
    /// Serial number, lower-case hex without separators.
    pub serial: String,
    /// RFC 3339 UTC, e.g. `2024-08-22T08:08:50Z`.
    pub not_before: String,
    pub not_after: String,
    /// Validity as Unix seconds, for policy checks.
    #[serde(skip)]
    pub not_before_unix: i64,
    #[serde(skip)]
    pub not_after_unix: i64,
    /// DNS names and IP addresses from subjectAltName.
    pub san: Vec<String>,
    /// e.g. `RSA 2048`, `EC P-256`, `Ed25519`.
    pub key: String,
    /// Signature algorithm name, e.g. `sha256WithRSAEncryption`.
    pub signature: String,
    /// SHA-256 of the DER encoding, lower-case hex.
    pub sha256: String,
    #[serde(skip)]
    pub self_signed: bool,
    #[serde(skip)]
    pub is_ca: bool,
}

/// Why a certificate could not be summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    #[error("certificate does not parse: {0}")]
    Parse(String),
}

/// Summarise one DER certificate.
pub fn summarize(der: &[u8]) -> Result<CertSummary, X509Error> {
    let _ = der;
    Err(X509Error::Parse("not implemented".into()))
}
