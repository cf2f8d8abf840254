//! Tracker tests on handshakes recorded from real OpenSSL peers
//! (scripts/record-tls-fixtures.sh), plus annotated bytes and hostile input.

use super::*;
use crate::flow::Direction::{ToClient, ToServer};
use sha2::{Digest, Sha256};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/", $name))
    };
}

struct Case {
    c2s: &'static [u8],
    s2c: &'static [u8],
}

const TLS12_RSA: Case = Case { c2s: fixture!("tls12_rsa.c2s"), s2c: fixture!("tls12_rsa.s2c") };
const TLS12_FRAG: Case = Case { c2s: fixture!("tls12_frag.c2s"), s2c: fixture!("tls12_frag.s2c") };
const TLS12_EC: Case = Case { c2s: fixture!("tls12_ec.c2s"), s2c: fixture!("tls12_ec.s2c") };
const TLS13: Case = Case { c2s: fixture!("tls13.c2s"), s2c: fixture!("tls13.s2c") };
const TLS13_HRR: Case = Case { c2s: fixture!("tls13_hrr.c2s"), s2c: fixture!("tls13_hrr.s2c") };
const ALL: [&Case; 5] = [&TLS12_RSA, &TLS12_FRAG, &TLS12_EC, &TLS13, &TLS13_HRR];

const RSA_PEM: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/server-rsa.pem"));
const EC_PEM: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/server-ec.pem"));
const CA_PEM: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem"));

/// DER of the first PEM block (base64 decoded by hand: no extra crates).
pub(crate) fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in body.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Tiny deterministic PRNG (xorshift64*) for chunk sizes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Server first, then client: the order an engine that buffers one side might use.
fn run_whole(case: &Case) -> TlsTracker {
    let mut t = TlsTracker::new();
    t.feed(ToServer, case.c2s);
    t.feed(ToClient, case.s2c);
    t
}

/// Random chunk sizes, directions interleaved at random.
fn run_chunked(case: &Case, seed: u64, max: usize) -> TlsTracker {
    let mut rng = Rng(seed | 1);
    let mut t = TlsTracker::new();
    let (mut c, mut s) = (case.c2s, case.s2c);
    while !c.is_empty() || !s.is_empty() {
        let to_server = !c.is_empty() && (s.is_empty() || rng.below(2) == 0);
        let src = if to_server { &mut c } else { &mut s };
        let n = (1 + rng.below(max)).min(src.len());
        let (piece, rest) = src.split_at(n);
        t.feed(if to_server { ToServer } else { ToClient }, piece);
        *src = rest;
    }
    t
}

fn dbg(s: &TlsSummary) -> String {
    format!("{s:?}")
}

#[test]
fn chunking_and_order_do_not_change_the_summary() {
    for case in ALL {
        let whole = dbg(run_whole(case).summary());
        let mut t = TlsTracker::new();
        t.feed(ToClient, case.s2c);
        t.feed(ToServer, case.c2s);
        assert_eq!(dbg(t.summary()), whole, "server-first order");
        for seed in 1..40u64 {
            for max in [1, 3, 7, 64, 600] {
                assert_eq!(dbg(run_chunked(case, seed, max).summary()), whole, "seed {seed} max {max}");
            }
        }
        assert!(run_whole(case).summary().anomalies.is_empty(), "{whole}");
    }
}

fn assert_rsa_leaf(c: &CertSummary) {
    assert_eq!(c.subject, "CN=db.test.local,O=dbwire tests");
    assert_eq!(c.issuer, "CN=dbwire Test CA,O=dbwire tests");
    assert_eq!(c.san, ["db.test.local", "localhost", "127.0.0.1"]);
    assert_eq!(c.key, "RSA 2048");
    assert_eq!(c.signature, "sha256WithRSAEncryption");
    assert_eq!(c.not_before, "2025-01-01T00:00:00Z");
    assert_eq!(c.not_after, "2035-01-01T00:00:00Z");
    assert_eq!(c.not_before_unix, 1_735_689_600);
    assert_eq!(c.not_after_unix, 2_051_222_400);
    assert_eq!(c.serial, "1001");
    assert_eq!(c.sha256, sha256_hex(&pem_to_der(RSA_PEM)));
    assert!(!c.is_ca && !c.self_signed);
}

#[test]
fn tls12_rsa_with_sni_and_alpn() {
    let t = run_whole(&TLS12_RSA);
    let s = t.summary();
    assert!(s.records_seen && s.client_hello_seen && s.server_hello_seen);
    assert_eq!(s.record_version, Some(0x0301), "OpenSSL opens with a TLS 1.0 record");
    assert_eq!(s.client_version, Some(0x0303));
    assert_eq!(s.version, Some(0x0303));
    assert_eq!(s.cipher, Some(0xc02f));
    assert_eq!(cipher_name(0xc02f), Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
    assert!(s.offered_ciphers.contains(&0xc02f));
    assert_eq!(s.sni.as_deref(), Some("db.test.local"));
    assert_eq!(s.alpn_offered, ["postgresql", "http/1.1"]);
    assert_eq!(s.alpn.as_deref(), Some("postgresql"));
    assert!(!s.hello_retry_request);
    assert_eq!(s.cert_visibility, CertVisibility::Seen);
    assert_eq!(s.certificates.len(), 1);
    assert_rsa_leaf(&s.certificates[0]);
    assert!(!s.client_certificate);
    // Finished, the query/answer and close_notify are encrypted in each direction.
    assert_eq!(s.encrypted_records, [3, 3]);
    assert!(s.encrypted_bytes[0] > 0 && s.encrypted_bytes[1] > 0);
    assert!(s.alerts.is_empty(), "close_notify is encrypted: {:?}", s.alerts);
    assert!(t.handshake_done());
}

#[test]
fn tls12_certificate_split_over_records_with_chain() {
    let s = run_whole(&TLS12_FRAG).summary().clone();
    assert_eq!(s.version, Some(0x0303));
    assert_eq!(s.cipher, Some(0xc030));
    assert_eq!(cipher_name(0xc030), Some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"));
    assert_eq!(s.certificates.len(), 2);
    assert_rsa_leaf(&s.certificates[0]);
    let ca = &s.certificates[1];
    assert_eq!(ca.subject, "CN=dbwire Test CA,O=dbwire tests");
    assert_eq!(ca.subject, ca.issuer);
    assert!(ca.is_ca && ca.self_signed);
    assert_eq!(ca.serial, "1000");
    assert_eq!(ca.sha256, sha256_hex(&pem_to_der(CA_PEM)));
    assert!(s.alpn.is_none() && s.alpn_offered.is_empty());
}

#[test]
fn tls12_ec_p256_certificate() {
    let s = run_whole(&TLS12_EC).summary().clone();
    assert_eq!(s.cipher, Some(0xc02c));
    assert_eq!(cipher_name(0xc02c), Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"));
    assert_eq!(s.alpn_offered, ["tds/8.0"]);
    assert_eq!(s.alpn, None, "server configured without ALPN");
    let c = &s.certificates[0];
    assert_eq!(c.key, "EC P-256");
    assert_eq!(c.signature, "sha256WithRSAEncryption", "signed by the RSA CA");
    assert_eq!(c.sha256, sha256_hex(&pem_to_der(EC_PEM)));
    assert_eq!(peek_client_hello_alpn(TLS12_EC.c2s), Some(vec!["tds/8.0".to_string()]));
}

#[test]
fn tls13_certificate_is_encrypted() {
    let t = run_whole(&TLS13);
    let s = t.summary();
    assert_eq!(s.version, Some(0x0304));
    assert_eq!(s.client_version, Some(0x0303), "legacy_version stays 1.2");
    assert!(s.offered_versions.contains(&0x0304));
    assert_eq!(s.cipher, Some(0x1301));
    assert_eq!(cipher_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(s.sni.as_deref(), Some("db.test.local"));
    assert_eq!(s.alpn_offered, ["postgresql"]);
    // The server did select it, but inside the encrypted EncryptedExtensions.
    assert_eq!(s.alpn, None);
    assert_eq!(s.cert_visibility, CertVisibility::EncryptedTls13);
    assert!(s.certificates.is_empty());
    assert!(!s.hello_retry_request);
    // Everything after ServerHello (and the compatibility CCS) is application data.
    let s2c_appdata = count_records(TLS13.s2c, ContentType::APPLICATION_DATA);
    assert_eq!(s.encrypted_records[1], s2c_appdata);
    assert!(t.handshake_done());
}

#[test]
fn tls13_hello_retry_request() {
    let s = run_whole(&TLS13_HRR).summary().clone();
    assert!(s.hello_retry_request);
    assert!(s.server_hello_seen);
    assert_eq!(s.version, Some(0x0304));
    assert_eq!(s.cipher, Some(0x1302));
    assert_eq!(cipher_name(0x1302), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(s.cert_visibility, CertVisibility::EncryptedTls13);
    assert!(s.certificates.is_empty());
    assert_eq!(s.sni.as_deref(), Some("db.test.local"));
    // The compatibility CCS before the second hellos does not make them "encrypted".
    assert_eq!(s.encrypted_records[0], count_records(TLS13_HRR.c2s, ContentType::APPLICATION_DATA));
    assert_eq!(s.encrypted_records[1], count_records(TLS13_HRR.s2c, ContentType::APPLICATION_DATA));
}

#[test]
fn hrr_random_is_sha256_of_its_name() {
    assert_eq!(Sha256::digest(b"HelloRetryRequest").as_slice(), HRR_RANDOM);
}

/// (content type, body) of every record.
fn records(stream: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut r = crate::reader::Reader::new(stream);
    while let (Some(t), Some(_), Some(l)) = (r.u8(), r.be_u16(), r.be_u16()) {
        out.push((t, r.take(usize::from(l)).unwrap()));
    }
    out
}

fn count_records(stream: &[u8], t: ContentType) -> u64 {
    records(stream).iter().filter(|(ty, _)| *ty == t.0).count() as u64
}

/// Re-frame the leading plaintext handshake records as records of `size` bytes:
/// messages then span records, and several share one.
fn reframe(stream: &[u8], size: usize) -> Vec<u8> {
    let recs = records(stream);
    let n = recs.iter().take_while(|(t, _)| *t == 22).count();
    let hs: Vec<u8> = recs[..n].iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let mut out = Vec::new();
    for piece in hs.chunks(size) {
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        out.extend_from_slice(piece);
    }
    for (t, b) in &recs[n..] {
        out.extend_from_slice(&[*t, 3, 3]);
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(b);
    }
    out
}

#[test]
fn handshake_messages_reassembled_across_any_record_split() {
    let base = run_whole(&TLS12_RSA).summary().clone();
    for size in [1, 2, 3, 5, 100, 4000] {
        let mut t = TlsTracker::new();
        t.feed(ToServer, &reframe(TLS12_RSA.c2s, size));
        t.feed(ToClient, &reframe(TLS12_RSA.s2c, size));
        let s = t.summary();
        assert_eq!(s.certificates, base.certificates, "record size {size}");
        assert_eq!((s.cipher, s.sni.clone(), s.alpn.clone()), (base.cipher, base.sni.clone(), base.alpn.clone()));
        assert_eq!(s.encrypted_records, base.encrypted_records);
    }
}

#[test]
fn peek_client_hello_whole_and_split() {
    let ch = peek_client_hello(TLS13.c2s).unwrap();
    assert_eq!(ch.alpn, ["postgresql"]);
    assert_eq!(ch.sni.as_deref(), Some("db.test.local"));
    assert!(ch.versions.contains(&0x0304));
    assert!(is_client_hello(TLS13.c2s));
    assert!(!is_client_hello(TLS13.s2c));
    // Split over 64-byte records: still found once all records are there.
    let split = reframe(TLS13.c2s, 64);
    assert_eq!(peek_client_hello_alpn(&split), Some(vec!["postgresql".to_string()]));
    assert_eq!(peek_client_hello(&split[..200]), None);
    assert_eq!(peek_client_hello(&TLS13.c2s[..100]), None);
    assert_eq!(peek_client_hello(b"\x16\x03\x01\x00\x04\x01\xff\xff\xff"), None);
}

// --- annotated bytes -----------------------------------------------------------------

#[test]
fn record_header_fields() {
    //           type  version    length
    let h = [0x16, 0x03, 0x01, 0x02, 0x00];
    let r = parse_record_header(&h).unwrap();
    assert_eq!(r.content_type, ContentType::HANDSHAKE);
    assert_eq!(r.version, ProtocolVersion(0x0301));
    assert_eq!(r.length, 512);
    // 2^14 + 2048 is the largest allowed body.
    assert!(parse_record_header(&[0x17, 0x03, 0x03, 0x48, 0x00]).is_ok());
    assert_eq!(parse_record_header(&[0x17, 0x03, 0x03, 0x48, 0x01]), Err(HeaderError::Length(0x4801)));
    assert_eq!(parse_record_header(&[0x19, 0x03, 0x03, 0, 1]), Err(HeaderError::ContentType(0x19)));
    assert_eq!(parse_record_header(&[0x17, 0x02, 0x00, 0, 1]), Err(HeaderError::Version(0x0200)));
    // SSLv2 CLIENT-HELLO: length 0x2e with the msb set, type 1, version 3.1.
    assert_eq!(
        parse_record_header(&[0x80, 0x2e, 0x01, 0x03, 0x01]),
        Err(HeaderError::Sslv2ClientHello { version: 0x0301 })
    );
}

#[test]
fn probe() {
    assert_eq!(probe_record(b""), Probe::NeedMore);
    assert_eq!(probe_record(&[0x16, 0x03, 0x01, 0x00]), Probe::NeedMore);
    // Handshake record, ClientHello first: TLS.
    assert_eq!(probe_record(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]), Probe::Match);
    assert_eq!(probe_record(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x02]), Probe::Match);
    // Header alone is enough to say yes.
    assert_eq!(probe_record(&[0x16, 0x03, 0x01, 0x00, 0xc8]), Probe::Match);
    // Handshake record starting with a Certificate is no connection start.
    assert_eq!(probe_record(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x0b]), Probe::NoMatch);
    assert_eq!(probe_record(&[0x17, 0x03, 0x03, 0x00, 0x20]), Probe::Match);
    // TLS 1.5 does not exist; neither does content type 25.
    assert_eq!(probe_record(&[0x17, 0x03, 0x05, 0x00, 0x20]), Probe::NoMatch);
    assert_eq!(probe_record(&[0x19, 0x03, 0x03, 0x00, 0x20]), Probe::NoMatch);
    // PostgreSQL SSLRequest (length 8, code 80877103) is not TLS.
    assert_eq!(probe_record(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), Probe::NoMatch);
    // MySQL greeting.
    assert_eq!(probe_record(b"J\0\0\0\x0a8.0.36"), Probe::NoMatch);
    for case in ALL {
        assert_eq!(probe_record(case.c2s), Probe::Match);
        assert_eq!(probe_record(case.s2c), Probe::Match);
    }
}

#[test]
fn plaintext_alert_recorded() {
    let mut t = TlsTracker::new();
    // alert(21) TLS1.2 len 2: fatal(2) handshake_failure(40)
    t.feed(ToClient, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
    // five more warnings: only four alerts are kept in all
    for _ in 0..5 {
        t.feed(ToServer, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]);
    }
    let s = t.summary();
    assert_eq!(s.alerts.len(), 4);
    assert_eq!(s.alerts[0], TlsAlert { dir: ToClient, level: 2, description: 40 });
    assert_eq!(s.alerts[1].dir, ToServer);
}

#[test]
fn sslv2_client_hello_is_an_anomaly() {
    let mut t = TlsTracker::new();
    let mut v2 = vec![0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10];
    v2.resize(0x30, 0x42);
    t.feed(ToServer, &v2);
    t.feed(ToServer, TLS12_RSA.c2s);
    let s = t.summary();
    assert_eq!(s.anomalies.len(), 1);
    assert!(s.anomalies[0].contains("SSLv2"), "{:?}", s.anomalies);
    assert!(!s.client_hello_seen, "halted until a gap");
}

#[test]
fn invalid_header_halts_until_gap_then_resyncs() {
    let mut t = TlsTracker::new();
    t.feed(ToClient, b"HTTP/1.1 400 Bad Request\r\n");
    assert_eq!(t.summary().anomalies.len(), 1);
    t.feed(ToClient, TLS12_RSA.s2c);
    assert!(!t.summary().server_hello_seen);
    t.gap(ToClient, 10);
    // Chunk not starting at a record: ignored.
    t.feed(ToClient, &TLS12_RSA.s2c[3..]);
    assert!(!t.summary().server_hello_seen);
    t.feed(ToClient, TLS12_RSA.s2c);
    assert!(t.summary().server_hello_seen);
    assert_eq!(t.summary().anomalies.len(), 1);
}

#[test]
fn gap_in_certificate_then_resync_on_next_record() {
    let recs = records(TLS12_RSA.s2c);
    let mut t = TlsTracker::new();
    t.feed(ToServer, TLS12_RSA.c2s);
    // ServerHello record, then half of the Certificate record.
    let sh_len = 5 + recs[0].1.len();
    let cert_len = 5 + recs[1].1.len();
    t.feed(ToClient, &TLS12_RSA.s2c[..sh_len + cert_len / 2]);
    t.gap(ToClient, (cert_len - cert_len / 2) as u64);
    t.feed(ToClient, &TLS12_RSA.s2c[sh_len + cert_len..]);
    let s = t.summary();
    assert!(s.server_hello_seen);
    assert_eq!(s.cert_visibility, CertVisibility::NotSeen);
    assert!(s.certificates.is_empty());
    assert_eq!(s.encrypted_records[1], 3, "framing recovered after the gap");
    assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
}

#[test]
fn gap_inside_application_data_keeps_framing() {
    let mut t = TlsTracker::new();
    // app data record of 100 bytes; 10 seen, 50 lost, 40 seen, then another record
    t.feed(ToServer, &[0x17, 0x03, 0x03, 0x00, 0x64]);
    t.feed(ToServer, &[0xaa; 10]);
    t.gap(ToServer, 50);
    let mut rest = vec![0xbb; 40];
    rest.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x01, 0xcc]);
    t.feed(ToServer, &rest);
    let s = t.summary();
    assert_eq!(s.encrypted_records[0], 2);
    assert_eq!(s.encrypted_bytes[0], 51);
    assert!(s.anomalies.is_empty());
}

#[test]
fn application_data_is_skipped_without_buffering() {
    let mut t = TlsTracker::new();
    let mut rec = vec![0x17, 0x03, 0x03, 0x40, 0x00];
    rec.resize(5 + 0x4000, 0x5a);
    for _ in 0..64 {
        for piece in rec.chunks(1460) {
            t.feed(ToClient, piece);
        }
    }
    let s = t.summary();
    assert_eq!(s.encrypted_records[1], 64);
    assert_eq!(s.encrypted_bytes[1], 64 * 0x4000);
    let st = &t.dirs[1];
    assert_eq!(st.msg.capacity() + st.small.capacity(), 0);
}

#[test]
fn oversized_handshake_message_is_skipped() {
    let mut t = TlsTracker::new();
    // Certificate claiming 300 KiB, delivered in full, then a normal ServerHello.
    let len = 300 * 1024usize;
    let mut hs = vec![11, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    hs.resize(4 + len, 0x30);
    let sh = &records(TLS12_RSA.s2c)[0].1;
    hs.extend_from_slice(sh);
    for piece in hs.chunks(MAX_RECORD_LEN - 2048) {
        let mut rec = vec![22, 3, 3];
        rec.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        rec.extend_from_slice(piece);
        t.feed(ToClient, &rec);
        assert!(t.dirs[1].msg.len() <= MAX_HANDSHAKE_MESSAGE + MAX_RECORD_LEN);
    }
    let s = t.summary();
    assert_eq!(s.anomalies.len(), 1, "{:?}", s.anomalies);
    assert!(s.server_hello_seen);
    assert_eq!(s.cert_visibility, CertVisibility::NotSeen);
}

#[test]
fn truncated_and_corrupted_streams_do_not_panic() {
    for case in ALL {
        for end in 0..case.s2c.len() {
            let mut t = TlsTracker::new();
            t.feed(ToServer, case.c2s);
            t.feed(ToClient, &case.s2c[..end]);
            let _ = t.summary();
        }
        // Flip each byte of the server's plaintext part (wrong lengths, types, versions).
        let plain = records(case.s2c).iter().take_while(|(t, _)| *t == 22).map(|(_, b)| b.len() + 5).sum::<usize>();
        for i in 0..plain {
            for x in [0xff, 0x80, 0x01] {
                let mut s = case.s2c.to_vec();
                s[i] ^= x;
                let mut t = TlsTracker::new();
                t.feed(ToServer, case.c2s);
                t.feed(ToClient, &s);
                assert!(t.summary().anomalies.len() <= MAX_ANOMALIES);
            }
        }
    }
}

mod hostile_prop {
    use super::*;
    use proptest::prelude::*;

    fn check_bounds(t: &TlsTracker) {
        for st in &t.dirs {
            assert!(st.msg.len() <= MAX_HANDSHAKE_MESSAGE + MAX_RECORD_LEN + HANDSHAKE_HEADER_LEN);
            assert!(st.small.len() <= MAX_RECORD_LEN);
        }
        let s = t.summary();
        assert!(s.anomalies.len() <= MAX_ANOMALIES && s.alerts.len() <= MAX_ALERTS);
        assert!(s.certificates.len() <= MAX_CERTS);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(chunks in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..300), 0u64..3), 0..40)) {
            let mut t = TlsTracker::new();
            for (to_server, data, gap) in &chunks {
                let dir = if *to_server { ToServer } else { ToClient };
                if *gap == 0 { t.gap(dir, data.len() as u64 + 1); }
                t.feed(dir, data);
                check_bounds(&t);
            }
        }

        /// Records with valid headers and random bodies reach the handshake parsers.
        #[test]
        fn random_records_never_panic(recs in prop::collection::vec(
            (20u8..25, any::<bool>(), prop::collection::vec(any::<u8>(), 0..200)), 0..30)) {
            let mut t = TlsTracker::new();
            for (ty, to_server, body) in &recs {
                let mut rec = vec![*ty, 3, 3];
                rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
                rec.extend_from_slice(body);
                t.feed(if *to_server { ToServer } else { ToClient }, &rec);
                check_bounds(&t);
            }
        }

        #[test]
        fn mutated_fixture_never_panics(case in 0usize..5, pos in any::<prop::sample::Index>(),
                                        val in any::<u8>(), seed in any::<u64>()) {
            let c = ALL[case];
            let mut s2c = c.s2c.to_vec();
            let i = pos.index(s2c.len());
            s2c[i] = val;
            let mutated = Case { c2s: c.c2s, s2c: Vec::leak(s2c) };
            let t = run_chunked(&mutated, seed, 97);
            check_bounds(&t);
        }

        #[test]
        fn peek_never_panics(data in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut d = vec![0x16, 0x03, 0x01];
            d.extend_from_slice(&data);
            let _ = peek_client_hello(&d);
            let _ = probe_record(&d);
            let _ = is_client_hello(&d);
        }
    }
}

#[test]
fn client_certificate_is_noticed() {
    // Mutual TLS 1.2: the client answers with its own Certificate message.
    let leaf = pem_to_der(RSA_PEM);
    let list_len = leaf.len() + 3;
    let mut hs = vec![11];
    hs.extend_from_slice(&((list_len + 3) as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&(list_len as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&(leaf.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&leaf);
    let mut rec = vec![22, 3, 3];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    let mut t = TlsTracker::new();
    t.feed(ToServer, &rec);
    let s = t.summary();
    assert!(s.client_certificate);
    assert!(s.certificates.is_empty(), "only the server chain is summarised");
}
