//! Chain validation against a CA bundle (rustls-webpki with *ring*), host name checks,
//! and the CA families of `data/ca-families.toml`.
//!
//! Validity periods are checked separately by the caller against the connection's capture
//! time, so that the (expensive, signature-checking) trust verdict of a chain does not
//! depend on time and can be cached per distinct chain.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use serde::Deserialize;

use super::{CertSummary, X509Error};

/// Trust anchors read from a PEM bundle (e.g. Amazon RDS `global-bundle.pem`, which holds
/// roots and intermediates: every certificate in it is taken as an anchor).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    /// Where the bundle came from, for messages.
    pub source: String,
}

impl TrustStore {
    /// Read a PEM bundle. Certificates that webpki cannot use as an anchor are skipped; a
    /// bundle without any usable certificate is an error.
    pub fn from_pem(pem: &[u8], source: &str) -> Result<TrustStore, X509Error> {
        let mut anchors = Vec::new();
        let mut seen = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| X509Error::Bundle(format!("{source}: {e}")))?;
            seen += 1;
            if let Ok(a) = webpki::anchor_from_trusted_cert(&cert) {
                anchors.push(a.to_owned());
            }
        }
        if anchors.is_empty() {
            return Err(X509Error::Bundle(format!(
                "{source}: no usable certificate in this PEM file ({seen} certificate block(s))"
            )));
        }
        Ok(TrustStore { anchors, source: source.to_string() })
    }

    pub fn load(path: &Path) -> Result<TrustStore, X509Error> {
        let pem = std::fs::read(path).map_err(|e| X509Error::Bundle(format!("{}: {e}", path.display())))?;
        TrustStore::from_pem(&pem, &path.display().to_string())
    }

    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// A time inside every certificate's validity when there is one, so that the trust
/// verdict is about issuers and signatures only.
fn verification_time(chain: &[CertSummary], fallback_unix: i64) -> i64 {
    let start = chain.iter().map(|c| c.not_before_unix).max();
    let end = chain.iter().map(|c| c.not_after_unix).min();
    match (start, end) {
        (Some(s), Some(e)) if s <= e => s,
        _ => fallback_unix,
    }
}

fn unix_time(t: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(t).unwrap_or(0)))
}

/// Does `chain` (leaf first, DER) lead to an anchor of `store`? `Err` says why not.
/// Time is taken from inside the certificates' own validity (see module docs).
pub fn verify_chain(
    store: &TrustStore,
    chain_der: &[Vec<u8>],
    chain: &[CertSummary],
    fallback_unix: i64,
) -> Result<(), String> {
    let Some(leaf) = chain_der.first() else {
        return Err("no certificate".into());
    };
    let leaf = CertificateDer::from(leaf.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| format!("leaf certificate not usable: {e}"))?;
    let intermediates: Vec<CertificateDer<'_>> =
        chain_der.iter().skip(1).map(|d| CertificateDer::from(d.as_slice())).collect();
    let t = verification_time(chain, fallback_unix);
    match ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &store.anchors,
        &intermediates,
        unix_time(t),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    ) {
        Ok(_) => Ok(()),
        // Validity is judged against the capture time by the caller.
        Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

fn describe(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => "issuer not found in the CA bundle".into(),
        E::UnsupportedSignatureAlgorithmContext(_) | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a signature uses an algorithm or key size that is not accepted (e.g. SHA-1, RSA < 2048)".into()
        }
        E::InvalidSignatureForPublicKey => "a signature does not verify".into(),
        E::CaUsedAsEndEntity => "the server certificate is a CA certificate".into(),
        E::RequiredEkuNotFoundContext(_) => {
            "the certificate is not for TLS server authentication (extendedKeyUsage)".into()
        }
        other => format!("{other:?}"),
    }
}

/// Is the leaf valid for `name` (a DNS name or an IP address)? Like webpki and RFC 6125,
/// only subjectAltName counts, not the subject CN.
pub fn name_matches(leaf_der: &[u8], name: &str) -> Result<(), String> {
    let leaf = CertificateDer::from(leaf_der);
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| format!("leaf certificate not usable: {e}"))?;
    let server_name = ServerName::try_from(name).map_err(|_| format!("{name:?} is not a host name"))?;
    ee.verify_is_valid_for_subject_name(&server_name).map_err(|_| format!("not valid for {name:?}"))
}

/// One CA family of `data/ca-families.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CaFamily {
    pub id: String,
    pub provider: String,
    pub issuer_cn: Vec<String>,
    /// YYYY-MM-DD after which the family is not valid any more.
    #[serde(default)]
    pub retired: Option<String>,
    #[serde(default)]
    pub successors: Vec<String>,
    pub source: String,
}

#[derive(Deserialize)]
struct FamilyFile {
    family: Vec<CaFamily>,
}

const FAMILIES_TOML: &str = include_str!("../../data/ca-families.toml");

/// The table shipped in `data/ca-families.toml`.
pub fn ca_families() -> &'static [CaFamily] {
    static TABLE: OnceLock<Vec<CaFamily>> = OnceLock::new();
    TABLE.get_or_init(|| parse_families(FAMILIES_TOML).unwrap_or_default())
}

pub fn parse_families(text: &str) -> Result<Vec<CaFamily>, String> {
    toml::from_str::<FamilyFile>(text).map(|f| f.family).map_err(|e| e.to_string())
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The CN of an RFC 4514 name as [`super::summarize`] writes it (`CN=…,O=…`).
pub fn common_name(rfc4514: &str) -> Option<String> {
    // Split on unescaped commas.
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in rfc4514.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts.into_iter().find_map(|p| p.strip_prefix("CN=").map(str::to_string))
}

/// The family of the chain's issuers, if any is known.
pub fn family_of(chain: &[CertSummary], families: &'static [CaFamily]) -> Option<&'static CaFamily> {
    let names = chain.iter().map(|c| c.issuer.as_str()).chain(chain.last().map(|c| c.subject.as_str()));
    for name in names {
        let Some(cn) = common_name(name) else { continue };
        if let Some(f) = families.iter().find(|f| f.issuer_cn.iter().any(|p| glob_match(p, &cn))) {
            return Some(f);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_family_table_parses_and_names_rds_successors() {
        let t = ca_families();
        assert_eq!(parse_families(FAMILIES_TOML).map(|v| v.len()), Ok(t.len()));
        let old = t.iter().find(|f| f.id == "rds-ca-2019").expect("rds-ca-2019");
        assert_eq!(old.retired.as_deref(), Some("2024-08-22"));
        assert_eq!(old.successors, ["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"]);
        for s in &old.successors {
            assert!(t.iter().any(|f| &f.id == s), "successor {s} has its own entry");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("Amazon RDS * 2019 CA", "Amazon RDS us-east-1 2019 CA"));
        assert!(!glob_match("Amazon RDS * 2019 CA", "Amazon RDS us-east-1 Root CA RSA2048 G1"));
        assert!(glob_match("Amazon RDS * CA RSA2048 G1*", "Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn common_name_handles_escaped_commas() {
        let issuer = "CN=Amazon RDS us-east-1 2019 CA,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,C=US";
        assert_eq!(common_name(issuer).as_deref(), Some("Amazon RDS us-east-1 2019 CA"));
        assert_eq!(common_name("O=x\\,CN=y"), None);
    }

    #[test]
    fn bundle_errors_are_reported() {
        assert!(TrustStore::from_pem(b"", "empty.pem").is_err());
        assert!(
            TrustStore::from_pem(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "bad.pem").is_err()
        );
    }
}
