//! Summaries of certificates made by scripts/record-tls-fixtures.sh (known names,
//! keys and validity); fingerprints compared with the PEM files' DER.

use super::*;
use crate::tls::tests::pem_to_der;

macro_rules! pem {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/", $name))
    };
}

#[test]
fn rsa_leaf() {
    let der = pem_to_der(pem!("server-rsa.pem"));
    let c = summarize(&der).unwrap();
    assert_eq!(c.subject, "CN=db.test.local,O=dbwire tests");
    assert_eq!(c.issuer, "CN=dbwire Test CA,O=dbwire tests");
    assert_eq!(c.serial, "1001");
    assert_eq!(c.not_before, "2025-01-01T00:00:00Z");
    assert_eq!(c.not_after, "2035-01-01T00:00:00Z");
    assert_eq!(c.san, ["db.test.local", "localhost", "127.0.0.1"]);
    assert_eq!(c.key, "RSA 2048");
    assert_eq!(c.signature, "sha256WithRSAEncryption");
    assert_eq!(c.sha256, hex(&Sha256::digest(&der)));
    assert!(!c.self_signed && !c.is_ca);
}

#[test]
fn ec_leaf_and_ca() {
    let c = summarize(&pem_to_der(pem!("server-ec.pem"))).unwrap();
    assert_eq!(c.key, "EC P-256");
    assert_eq!(c.subject, "CN=db.test.local,O=dbwire tests");
    let ca = summarize(&pem_to_der(pem!("ca.pem"))).unwrap();
    assert_eq!(ca.subject, ca.issuer);
    assert!(ca.self_signed && ca.is_ca);
    assert_eq!(ca.key, "RSA 2048");
    assert_eq!(ca.san, Vec::<String>::new());
}

#[test]
fn trailing_bytes_are_not_fingerprinted() {
    let der = pem_to_der(pem!("server-rsa.pem"));
    let mut padded = der.clone();
    padded.extend_from_slice(&[0; 7]);
    assert_eq!(summarize(&padded).unwrap().sha256, hex(&Sha256::digest(&der)));
}

#[test]
fn garbage_is_an_error() {
    assert!(summarize(b"").is_err());
    assert!(summarize(b"\x30\x82\xff\xff").is_err());
    let der = pem_to_der(pem!("server-ec.pem"));
    for end in 0..der.len() {
        assert!(summarize(&der[..end]).is_err());
    }
    for i in 0..der.len() {
        let mut d = der.clone();
        d[i] ^= 0x5a;
        let _ = summarize(&d);
    }
}

#[test]
fn rfc4514_escaping() {
    let mut s = String::new();
    escape_value(" a,b+c\"d\\e<f>g;h ", &mut s);
    assert_eq!(s, "\\ a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\ ");
    let mut s = String::new();
    escape_value("#x\u{1}", &mut s);
    assert_eq!(s, "\\#x\\01");
}

#[test]
fn serial_drops_der_sign_byte() {
    assert_eq!(serial_hex(&[0x00, 0x80, 0x01]), "8001");
    assert_eq!(serial_hex(&[0x00]), "00");
    assert_eq!(serial_hex(&[]), "");
}

proptest::proptest! {
    #[test]
    fn random_der_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let mut d = vec![0x30, 0x82];
        d.extend_from_slice(&data);
        let _ = summarize(&data);
        let _ = summarize(&d);
    }
}

#[test]
fn cached_summary_is_the_certificates_own() {
    let rsa = pem_to_der(pem!("server-rsa.pem"));
    let ec = pem_to_der(pem!("server-ec.pem"));
    let ca = pem_to_der(pem!("ca.pem"));
    // Interleaved and repeated: each lookup must return its own certificate's summary.
    for _ in 0..3 {
        for der in [&rsa, &ec, &ca] {
            assert_eq!(summarize_cached(der).unwrap(), summarize(der).unwrap());
        }
    }
    assert_ne!(summarize_cached(&rsa).unwrap().sha256, summarize_cached(&ec).unwrap().sha256);
    // More distinct certificates than the cache holds (the RSA leaf with one byte of
    // trailing garbage each time is a distinct input with the same summary).
    for i in 0..(CERT_CACHE_ENTRIES as u8 + 4) {
        let mut d = rsa.clone();
        d.push(i);
        assert_eq!(summarize_cached(&d).unwrap(), summarize(&rsa).unwrap());
    }
    assert_eq!(summarize_cached(&ec).unwrap(), summarize(&ec).unwrap());
    assert!(summarize_cached(&rsa[..rsa.len() / 2]).is_err());
    CERT_CACHE.with(|c| assert!(c.borrow().len() <= CERT_CACHE_ENTRIES));
}
