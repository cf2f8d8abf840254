//! Client fingerprints of a ClientHello: JA3 (Salesforce, 2017) and JA4 (FoxIO, JA4
//! client only, as specified in `technical_details/JA4.md` of the FoxIO JA4 repository).
//!
//! Both ignore GREASE values (RFC 8701); [`ClientHelloInfo`] has them removed already.

use md5::Md5;
use sha2::{Digest, Sha256};

use super::handshake::{ClientHelloInfo, ExtensionType};
use crate::x509::hex;

/// JA3 and JA4 of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientFingerprint {
    /// `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`, decimal
    /// values joined by `-`.
    pub ja3: String,
    /// MD5 of [`ja3`](Self::ja3), lower-case hex.
    pub ja3_hash: String,
    /// e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub ja4: String,
}

/// Compute both fingerprints (TLS over TCP).
///
/// A client sends the same lists in every ClientHello, so the last
/// [`FINGERPRINT_CACHE_ENTRIES`] distinct inputs seen on this thread keep their result;
/// inputs are compared field by field, so a lookup never returns another hello's
/// fingerprints.
pub fn client_fingerprint(ch: &ClientHelloInfo) -> ClientFingerprint {
    let hit = FINGERPRINT_CACHE.with(|c| c.borrow().get(|k| same_input(k, ch)));
    if let Some(f) = hit {
        return f;
    }
    let f = compute_fingerprint(ch);
    // Only what the fingerprints read is kept (not the server name or ALPN strings).
    let key = ClientHelloInfo { sni: None, alpn: Vec::new(), ..ch.clone() };
    FINGERPRINT_CACHE.with(|c| c.borrow_mut().insert(key, f.clone()));
    f
}

/// Distinct ClientHello inputs remembered per thread by [`client_fingerprint`].
const FINGERPRINT_CACHE_ENTRIES: usize = 16;

thread_local! {
    static FINGERPRINT_CACHE: std::cell::RefCell<crate::recent::Recent<ClientHelloInfo, ClientFingerprint>> =
        const { std::cell::RefCell::new(crate::recent::Recent::new(FINGERPRINT_CACHE_ENTRIES)) };
}

/// Equal in every field JA3 and JA4 read.
fn same_input(a: &ClientHelloInfo, b: &ClientHelloInfo) -> bool {
    a.legacy_version == b.legacy_version
        && a.ciphers == b.ciphers
        && a.versions == b.versions
        && a.extensions == b.extensions
        && a.groups == b.groups
        && a.point_formats == b.point_formats
        && a.signature_algorithms == b.signature_algorithms
        && a.alpn_first_raw == b.alpn_first_raw
}

fn compute_fingerprint(ch: &ClientHelloInfo) -> ClientFingerprint {
    let ja3 = ja3_string(ch);
    let ja3_hash = hex(&Md5::digest(ja3.as_bytes()));
    ClientFingerprint { ja3, ja3_hash, ja4: ja4(ch) }
}

fn join_dec<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("-")
}

/// JA3: the ClientHello legacy version, then the lists in wire order.
pub fn ja3_string(ch: &ClientHelloInfo) -> String {
    format!(
        "{},{},{},{},{}",
        ch.legacy_version,
        join_dec(&ch.ciphers),
        join_dec(&ch.extensions),
        join_dec(&ch.groups),
        join_dec(&ch.point_formats)
    )
}

/// JA4 "TLS and DTLS Version": the highest supported_versions entry, else the
/// ClientHello version; unknown values are `00`.
fn ja4_version(ch: &ClientHelloInfo) -> &'static str {
    let v = ch.versions.iter().copied().max().unwrap_or(ch.legacy_version);
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// JA4 "ALPN Extension Value": first and last character of the first ALPN value; if
/// either byte is not ASCII alphanumeric, the first and last hex digit of the value.
fn ja4_alpn(first: Option<&[u8]>) -> String {
    let Some(v) = first.filter(|v| !v.is_empty()) else {
        return "00".into();
    };
    let (a, b) = (v[0], v[v.len() - 1]);
    if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() {
        format!("{}{}", a as char, b as char)
    } else {
        let h = hex(v);
        let first = h.chars().next().unwrap_or('0');
        let last = h.chars().last().unwrap_or('0');
        format!("{first}{last}")
    }
}

fn truncated_sha256(s: &str) -> String {
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn hex4_list(v: &[u16]) -> String {
    v.iter().map(|x| format!("{x:04x}")).collect::<Vec<_>>().join(",")
}

/// JA4 (TLS over TCP).
pub fn ja4(ch: &ClientHelloInfo) -> String {
    let has_sni = ch.extensions.contains(&ExtensionType::SERVER_NAME.0);
    let a = format!(
        "t{}{}{:02}{:02}{}",
        ja4_version(ch),
        if has_sni { 'd' } else { 'i' },
        ch.ciphers.len().min(99),
        ch.extensions.len().min(99),
        ja4_alpn(ch.alpn_first_raw.as_deref()),
    );
    let mut ciphers = ch.ciphers.clone();
    ciphers.sort_unstable();
    let b = if ciphers.is_empty() { "000000000000".to_string() } else { truncated_sha256(&hex4_list(&ciphers)) };
    // SNI and ALPN are in part a already.
    let mut exts: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|&e| e != ExtensionType::SERVER_NAME.0 && e != ExtensionType::ALPN.0)
        .collect();
    exts.sort_unstable();
    let c = if exts.is_empty() {
        "000000000000".to_string()
    } else if ch.signature_algorithms.is_empty() {
        truncated_sha256(&hex4_list(&exts))
    } else {
        truncated_sha256(&format!("{}_{}", hex4_list(&exts), hex4_list(&ch.signature_algorithms)))
    };
    format!("{a}_{b}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::parse_client_hello;

    /// The worked example of the JA4 specification (FoxIO JA4 repository,
    /// `technical_details/JA4.md`, sections "Cipher hash", "Extension hash" and
    /// "Example"): 15 ciphers, 16 extensions in the order listed there, ALPN `h2`, SNI,
    /// supported_versions with TLS 1.3, the eight signature algorithms. Built as ClientHello
    /// bytes with GREASE values added (which JA4 must ignore) and parsed by the real
    /// parser. Expected: `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    fn spec_example_hello() -> Vec<u8> {
        let ciphers: [u16; 16] = [
            0x0a0a, // GREASE
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d,
            0x002f, 0x0035,
        ];
        // Extension order of the specification's example, GREASE first and last.
        let order: [u16; 18] = [
            0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b,
            0xff01, 0x000b, 0x000a, 0x0015, 0x2a2a,
        ];
        let mut exts = Vec::new();
        for &ty in &order {
            let data: Vec<u8> = match ty {
                // server_name: list length, host_name (0), name length, "example.com"
                0x0000 => {
                    let name = b"example.com";
                    let mut d = vec![0, (name.len() + 3) as u8, 0, 0, name.len() as u8];
                    d.extend_from_slice(name);
                    d
                }
                // ALPN: list length 3, "h2"
                0x0010 => vec![0x00, 0x03, 0x02, b'h', b'2'],
                // signature_algorithms: 8 schemes in the spec's order
                0x000d => vec![
                    0x00, 0x10, /* */ 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01,
                    0x08, 0x06, 0x06, 0x01,
                ],
                // supported_versions: GREASE, TLS 1.3, TLS 1.2
                0x002b => vec![0x06, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03],
                // supported_groups: x25519, secp256r1
                0x000a => vec![0x00, 0x04, 0x00, 0x1d, 0x00, 0x17],
                // ec_point_formats: uncompressed
                0x000b => vec![0x01, 0x00],
                _ => vec![],
            };
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(&data);
        }
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x11; 32]); // random
        body.push(0); // session id length
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[0x01, 0x00]); // compression: null
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        body
    }

    #[test]
    fn ja4_matches_the_specification_example() {
        let ch = parse_client_hello(&spec_example_hello()).expect("parses");
        assert_eq!(ch.ciphers.len(), 15, "GREASE cipher ignored");
        assert_eq!(ch.extensions.len(), 16, "GREASE extensions ignored");
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn ja4_hash_parts_match_the_specification_strings() {
        // "Cipher hash" and "Extension hash" sections: strings and their truncated hashes.
        assert_eq!(
            truncated_sha256("002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"),
            "8daaf6152771"
        );
        assert_eq!(
            truncated_sha256("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"),
            "6d807ffa2a79"
        );
    }

    #[test]
    fn ja4_without_signature_algorithms_alpn_or_sni() {
        let ch = ClientHelloInfo {
            legacy_version: 0x0303,
            ciphers: vec![0x002f],
            extensions: vec![
                0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d, 0x0033, 0x4469,
                0xff01,
            ],
            ..Default::default()
        };
        let f = ja4(&ch);
        assert!(f.starts_with("t12i011400_"), "{f}");
        assert!(f.ends_with("_6d807ffa2a79"), "no underscore part when no signature algorithms: {f}");
        let empty = ClientHelloInfo { legacy_version: 0x0301, ..Default::default() };
        assert_eq!(ja4(&empty), "t10i000000_000000000000_000000000000");
    }

    #[test]
    fn ja4_alpn_rules_of_the_specification() {
        assert_eq!(ja4_alpn(Some(b"http/1.1")), "h1");
        assert_eq!(ja4_alpn(Some(b"h")), "hh");
        assert_eq!(ja4_alpn(None), "00");
        assert_eq!(ja4_alpn(Some(b"")), "00");
        // The specification's non-alphanumeric examples.
        assert_eq!(ja4_alpn(Some(&[0xab])), "ab");
        assert_eq!(ja4_alpn(Some(&[0xab, 0xcd])), "ad");
        assert_eq!(ja4_alpn(Some(&[0x30, 0xab])), "3b");
        assert_eq!(ja4_alpn(Some(&[0x30, 0x31, 0xab, 0xcd])), "3d");
        assert_eq!(ja4_alpn(Some(&[0x30, 0xab, 0xcd, 0x31])), "01");
    }

    #[test]
    fn ja3_of_the_example_skips_grease_and_keeps_wire_order() {
        let ch = parse_client_hello(&spec_example_hello()).expect("parses");
        let s = ja3_string(&ch);
        assert_eq!(
            s,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23,0"
        );
        // MD5 of a known string (RFC 1321 §A.5 test suite: "abc").
        assert_eq!(hex(&Md5::digest(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
    }

    /// Hostile extension bodies: lengths that overrun, odd byte counts, empty bodies.
    /// The extension still counts (JA3/JA4 list types), its values are cut to what is there.
    #[test]
    fn malformed_extension_bodies_are_cut_not_fatal() {
        let mut hello = spec_example_hello();
        // signature_algorithms body starts with its list length 0x0010: claim 0x00ff.
        let at = hello.windows(4).position(|w| w == [0x00, 0x0d, 0x00, 0x12]).expect("sig algs ext");
        hello[at + 4] = 0x00;
        hello[at + 5] = 0xff;
        let ch = parse_client_hello(&hello).expect("still parses");
        assert_eq!(ch.signature_algorithms.len(), 8, "values cut to the 16 bytes present");
        // Odd list length: the last half value is dropped.
        hello[at + 5] = 0x0f;
        let ch = parse_client_hello(&hello).expect("still parses");
        assert_eq!(ch.signature_algorithms.len(), 7);
        assert!(ch.extensions.contains(&0x000d));
        // ec_point_formats (`00 0b 00 02 01 00`) claiming 200 formats.
        let at = hello.windows(6).position(|w| w == [0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]).expect("ec formats ext");
        hello[at + 4] = 200;
        let ch = parse_client_hello(&hello).expect("still parses");
        assert_eq!(ch.point_formats, [0]);
        let f = client_fingerprint(&ch);
        assert_eq!(f.ja3_hash.len(), 32);
        assert_eq!(f.ja4.len(), 36);
    }

    /// Hellos that differ in one fingerprinted field get their own fingerprints from the
    /// cache; the server name does not count.
    #[test]
    fn cached_fingerprints_belong_to_their_hello() {
        let ch = parse_client_hello(&spec_example_hello()).expect("parses");
        let first = client_fingerprint(&ch);
        let mut fewer = ch.clone();
        fewer.ciphers.pop();
        let other = client_fingerprint(&fewer);
        assert_ne!(other, first);
        assert_eq!(other, compute_fingerprint(&fewer));
        let renamed = ClientHelloInfo { sni: Some("elsewhere.example".into()), ..ch.clone() };
        assert_eq!(client_fingerprint(&renamed), first);
        assert_eq!(client_fingerprint(&ch), first);
    }

    proptest::proptest! {
        /// Any byte flipped or the hello cut anywhere: parsing and fingerprinting never panic.
        #[test]
        fn fingerprint_never_panics(pos in 0usize..400, val in 0u8..=255, cut in 0usize..400) {
            let mut hello = spec_example_hello();
            if pos < hello.len() {
                hello[pos] = val;
            }
            hello.truncate(cut.max(1));
            if let Some(ch) = parse_client_hello(&hello) {
                let f = client_fingerprint(&ch);
                proptest::prop_assert_eq!(f.ja4.split('_').count(), 3);
                // The per-thread cache (filled by earlier cases) answers as a fresh computation.
                proptest::prop_assert_eq!(f, compute_fingerprint(&ch));
            }
        }
    }
}
