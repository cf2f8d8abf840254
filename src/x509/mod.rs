//! X.509 certificate summaries (x509-parser) for the report.
//!
//! Only what a reader of the report needs to judge a database server's certificate:
//! names, validity, key strength, signature algorithm and a fingerprint that can be
//! compared with `openssl x509 -fingerprint -sha256`.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// What the report shows of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Subject equals issuer and the key identifiers do not contradict it. The
    /// signature itself is not verified (no crypto backend is linked).
    #[serde(skip)]
    pub self_signed: bool,
    /// basicConstraints cA = TRUE (RFC 5280 §4.2.1.9).
    #[serde(skip)]
    pub is_ca: bool,
}

/// Why a certificate could not be summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    #[error("certificate does not parse: {0}")]
    Parse(String),
    #[error("CA bundle: {0}")]
    Bundle(String),
}

/// Distinct certificates remembered per thread by [`summarize_cached`].
const CERT_CACHE_ENTRIES: usize = 32;

thread_local! {
    /// Recently summarised certificates: (DER bytes, summary). A busy capture repeats the
    /// same server chain in every handshake; parsing it once is enough.
    static CERT_CACHE: std::cell::RefCell<crate::recent::Recent<Box<[u8]>, CertSummary>> =
        const { std::cell::RefCell::new(crate::recent::Recent::new(CERT_CACHE_ENTRIES)) };
}

/// [`summarize`], parsing each distinct certificate once: the last
/// [`CERT_CACHE_ENTRIES`] certificates seen on this thread are looked up by their DER
/// bytes (compared whole, so a lookup can never return another certificate's summary).
/// Certificates that fail to parse are not cached.
pub fn summarize_cached(der: &[u8]) -> Result<CertSummary, X509Error> {
    let hit = CERT_CACHE.with(|c| c.borrow().get(|d| **d == *der));
    if let Some(s) = hit {
        return Ok(s);
    }
    let s = summarize(der)?;
    CERT_CACHE.with(|c| c.borrow_mut().insert(der.into(), s.clone()));
    Ok(s)
}

/// Summarise one DER certificate.
///
/// Trailing bytes after the certificate are ignored; the fingerprint covers only the
/// certificate itself.
pub fn summarize(der: &[u8]) -> Result<CertSummary, X509Error> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| X509Error::Parse(e.to_string()))?;
    let own = &der[..der.len() - rest.len()];

    let validity = cert.validity();
    let not_before_unix = validity.not_before.timestamp();
    let not_after_unix = validity.not_after.timestamp();

    Ok(CertSummary {
        subject: format_name(cert.subject()),
        issuer: format_name(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        not_before: rfc3339(not_before_unix),
        not_after: rfc3339(not_after_unix),
        not_before_unix,
        not_after_unix,
        san: san_entries(&cert),
        key: key_description(cert.public_key()),
        signature: signature_name(&cert.signature_algorithm.algorithm),
        sha256: hex(&Sha256::digest(own)),
        self_signed: looks_self_signed(&cert),
        is_ca: matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca),
    })
}

/// Lower-case hex without separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// DER INTEGERs carry a leading zero when the high bit is set; openssl does not print it.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len().saturating_sub(1));
    hex(&raw[start..])
}

impl CertSummary {
    /// Fill the Unix times from `not_before`/`not_after` after reading a summary back
    /// from its JSON form, which leaves them out ([`rfc3339`] is inverted exactly).
    pub fn restore_unix_times(&mut self) {
        self.not_before_unix = unix_of(&self.not_before);
        self.not_after_unix = unix_of(&self.not_after);
    }
}

fn unix_of(s: &str) -> i64 {
    ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .or_else(|_| s.parse::<i64>())
        .unwrap_or(0)
}

fn rfc3339(unix: i64) -> String {
    match ::time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => t.format(&::time::format_description::well_known::Rfc3339).unwrap_or_else(|_| unix.to_string()),
        Err(_) => unix.to_string(),
    }
}

/// RFC 4514 §2: RDNs in reverse order of the DER sequence, `,` between RDNs, `+`
/// inside a multi-valued RDN.
fn format_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            out.push_str(&attribute_name(atv.attr_type()));
            out.push('=');
            match atv.as_str() {
                Ok(v) => escape_value(v, &mut out),
                // RFC 4514 §2.4: values that are not strings are written as `#` + hex.
                Err(_) => {
                    out.push('#');
                    out.push_str(&hex(atv.as_slice()));
                }
            }
        }
    }
    out
}

fn attribute_name(oid: &Oid<'_>) -> String {
    let s = oid.to_id_string();
    let short = match s.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return s,
    };
    short.to_string()
}

/// RFC 4514 §2.4 escaping.
fn escape_value(v: &str, out: &mut String) {
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c == '\0' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:02x}");
            }
        } else {
            out.push(c);
        }
    }
}

fn san_entries(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            match gn {
                GeneralName::DNSName(d) => out.push((*d).to_string()),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    match ip {
                        Some(ip) => out.push(ip.to_string()),
                        None => out.push(format!("#{}", hex(b))),
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn key_description(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.3.101.112" => return "Ed25519".into(),
        "1.3.101.113" => return "Ed448".into(),
        "1.3.101.110" => return "X25519".into(),
        _ => {}
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            // The curve is named in the algorithm parameters (RFC 5480 §2.1.1).
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "EC P-256".into(),
                Some("1.3.132.0.34") => "EC P-384".into(),
                Some("1.3.132.0.35") => "EC P-521".into(),
                Some("1.3.132.0.10") => "EC secp256k1".into(),
                Some(other) => format!("EC {other}"),
                None => format!("EC {}", point.key_size()),
            }
        }
        Ok(PublicKey::DSA(_)) => {
            format!("DSA {}", spki.parsed().map(|k| k.key_size()).unwrap_or(0))
        }
        _ => match alg.as_str() {
            // RSASSA-PSS keys (RFC 4055) do not parse as plain RSA in every version.
            "1.2.840.113549.1.1.10" => "RSA-PSS".into(),
            _ => alg,
        },
    }
}

/// OpenSSL short names, which is what administrators compare against.
fn signature_name(oid: &Oid<'_>) -> String {
    let s = oid.to_id_string();
    let name = match s.as_str() {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa_with_SHA256",
        _ => return s,
    };
    name.to_string()
}

/// Without a signature check, a certificate is taken as self-signed when issuer equals
/// subject and, if both key identifiers are present, they match (RFC 5280 §4.2.1.1).
fn looks_self_signed(cert: &X509Certificate<'_>) -> bool {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return false;
    }
    let mut aki: Option<&[u8]> = None;
    let mut ski: Option<&[u8]> = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|k| k.0),
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            _ => {}
        }
    }
    match (aki, ski) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

pub mod validate;

#[cfg(test)]
mod tests;
