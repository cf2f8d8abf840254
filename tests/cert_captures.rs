//! Certificate and TLS-quality findings on the captures made by
//! `scripts/record-cert-captures.sh` (real PostgreSQL 15 / MariaDB servers, certificates
//! generated with openssl). `captures/cert-expected.jsonl` holds what each recording set
//! up, cross-checked with tshark and openssl at recording time; the findings expected
//! here are derived from those facts, and every capture must show exactly those
//! certificate/TLS findings (so each fires on its capture and on no other).
//!
//! Time: a capture's time is when it was recorded. Validity "at capture time" is checked
//! against the packet timestamps; "expires soon" uses today's date, so the tests that
//! touch it compute their windows from the wall clock.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

fn captures() -> PathBuf {
    common::repo().join("captures")
}

fn bundle() -> String {
    captures().join("cert-ca-bundle.pem").display().to_string()
}

fn expected() -> Vec<Value> {
    let p = captures().join("cert-expected.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("cert-expected.jsonl line"))
        .collect()
}

/// openssl's `Jan  1 00:00:00 2025 GMT` → Unix seconds.
fn openssl_date(s: &str) -> i64 {
    let f =
        time::macros::format_description!("[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT");
    time::PrimitiveDateTime::parse(s, &f).unwrap_or_else(|e| panic!("{s:?}: {e}")).assume_utc().unix_timestamp()
}

fn rfc3339(s: &str) -> i64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .unix_timestamp()
}

/// The certificate / TLS-quality findings each recording must produce, from its facts.
fn findings_from_facts(e: &Value, capture_start: i64) -> BTreeSet<&'static str> {
    let mut want = BTreeSet::new();
    let nb = openssl_date(e["not_before"].as_str().unwrap());
    let na = openssl_date(e["not_after"].as_str().unwrap());
    if capture_start > na {
        want.insert("certificate-expired");
    }
    if capture_start < nb {
        want.insert("certificate-not-yet-valid");
    }
    if e["key_bits"].as_u64().unwrap() < 2048 {
        want.insert("certificate-weak-key");
    }
    if e["signature"].as_str().unwrap().to_ascii_lowercase().contains("sha1") {
        want.insert("certificate-weak-signature");
    }
    let san = e["san"].as_bool().unwrap();
    if !san {
        want.insert("certificate-no-san");
    }
    let self_signed = e["chain_length"] == 1 && e["leaf_subject"] == e["leaf_issuer"];
    if self_signed {
        // The bundle holds the recording's root CA only.
        want.insert("certificate-self-signed");
        want.insert("certificate-untrusted");
    }
    // The recording's SHA-1 leaf: webpki (like current TLS clients) does not accept SHA-1.
    if want.contains("certificate-weak-signature") {
        want.insert("certificate-untrusted");
    }
    // Every leaf was issued for DNS:db.dbwire.test (subjectAltName) when it has one.
    if let Some(sni) = e["sni"].as_str() {
        if !san || sni != "db.dbwire.test" {
            want.insert("certificate-name-mismatch");
        }
    }
    let version = e["tls_version"].as_str().unwrap();
    if version == "TLSv1.0" || version == "TLSv1.1" {
        want.insert("tls-old-version");
    }
    match e["cipher_id"].as_str().unwrap() {
        // TLS_RSA_WITH_NULL_SHA256: no encryption, RSA key exchange; the client was
        // configured to offer it.
        "0x003b" => {
            want.extend(["tls-weak-cipher", "tls-no-forward-secrecy", "tls-client-offers-weak-ciphers"]);
        }
        // TLS_RSA_WITH_AES_128_CBC_SHA: RSA key exchange.
        "0x002f" => {
            want.insert("tls-no-forward-secrecy");
        }
        // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: CBC; with TLS 1.0 that is BEAST territory.
        "0xc014" if version == "TLSv1.0" => {
            want.insert("tls-cbc-tls10");
        }
        _ => {}
    }
    want
}

const CHECKED_IDS: &[&str] = &[
    "certificate-expired",
    "certificate-not-yet-valid",
    "certificate-expires-soon",
    "certificate-self-signed",
    "certificate-untrusted",
    "certificate-name-mismatch",
    "certificate-no-san",
    "certificate-weak-signature",
    "certificate-weak-key",
    "certificate-ca-retired",
    "tls-old-version",
    "tls-weak-cipher",
    "tls-no-forward-secrecy",
    "tls-cbc-tls10",
    "tls-client-offers-weak-ciphers",
    "tls-cipher-not-allowed",
];

fn ids(conn: &Value) -> BTreeSet<String> {
    conn["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .filter(|id| CHECKED_IDS.contains(&id.as_str()))
        .collect()
}

fn check(problems: &mut Vec<String>, name: &str, what: &str, ours: &Value, want: &Value) {
    if ours != want {
        problems.push(format!("{name}: {what} = {ours}, recorded {want}"));
    }
}

fn run_one(name: &str, extra: &[&str]) -> (Value, std::process::Output) {
    let path = captures().join(name);
    let (rows, out) = common::run_jsonl(&[&path], extra);
    common::assert_no_panic(&out);
    assert_eq!(rows.len(), 1, "{name}: one connection expected, got {}", rows.len());
    (rows.into_iter().next().unwrap(), out)
}

#[test]
fn every_recording_shows_exactly_its_findings_and_facts() {
    let exp = expected();
    assert!(exp.len() >= 12, "cert-expected.jsonl has {} rows", exp.len());
    let b = bundle();
    let mut problems = Vec::new();
    let mut fired: BTreeSet<String> = BTreeSet::new();
    for e in &exp {
        let name = e["capture"].as_str().unwrap();
        let (c, out) = run_one(name, &["--ca-bundle", &b]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let t = &c["tls"];
        check(&mut problems, name, "engine", &c["engine"], &e["engine"]);
        check(&mut problems, name, "server", &c["server"], &e["server"]);
        check(&mut problems, name, "tls.version", &t["version"], &e["tls_version"]);
        check(&mut problems, name, "tls.cipher_id", &t["cipher_id"], &e["cipher_id"]);
        check(&mut problems, name, "tls.sni", &t["sni"], &e["sni"]);
        check(&mut problems, name, "tls.certificate.sha256", &t["certificate"]["sha256"], &e["leaf_sha256"]);
        check(&mut problems, name, "tls.certificate.subject", &t["certificate"]["subject"], &e["leaf_subject"]);
        check(&mut problems, name, "tls.certificate.issuer", &t["certificate"]["issuer"], &e["leaf_issuer"]);
        check(
            &mut problems,
            name,
            "tls.certificate.key",
            &t["certificate"]["key"],
            &Value::from(format!("RSA {}", e["key_bits"])),
        );
        check(&mut problems, name, "tls.certificate.signature", &t["certificate"]["signature"], &e["signature"]);
        check(
            &mut problems,
            name,
            "chain length",
            &Value::from(1 + t["chain"].as_array().map_or(0, Vec::len)),
            &e["chain_length"],
        );
        // tshark's JA3 of the same ClientHello.
        check(&mut problems, name, "tls.ja3", &t["ja3"], &e["ja3_full"]);
        check(&mut problems, name, "tls.ja3_hash", &t["ja3_hash"], &e["ja3"]);
        let nb = rfc3339(t["certificate"]["not_before"].as_str().unwrap());
        let na = rfc3339(t["certificate"]["not_after"].as_str().unwrap());
        if nb != openssl_date(e["not_before"].as_str().unwrap()) || na != openssl_date(e["not_after"].as_str().unwrap())
        {
            problems.push(format!("{name}: validity {nb}..{na} differs from the recording"));
        }

        let start = rfc3339(c["start"].as_str().unwrap());
        let want: BTreeSet<String> = findings_from_facts(e, start).into_iter().map(String::from).collect();
        let mut got = ids(&c);
        // Wall-clock dependent; tested below with windows computed from today.
        got.remove("certificate-expires-soon");
        if got != want {
            problems.push(format!("{name}: findings {got:?}, expected {want:?}"));
        }
        fired.extend(got);
        let trusted = !want.contains("certificate-untrusted");
        check(&mut problems, name, "tls.chain_trusted", &t["chain_trusted"], &Value::from(trusted));
        // JA4: TLS over TCP, version and SNI flag from the ClientHello.
        let ja4 = t["ja4"].as_str().unwrap_or_default();
        let sni_flag = if e["sni"].is_null() { 'i' } else { 'd' };
        if !(ja4.starts_with('t') && ja4.chars().nth(3) == Some(sni_flag) && ja4.len() == 36) {
            problems.push(format!("{name}: ja4 {ja4:?} malformed"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for id in [
        "certificate-expired",
        "certificate-not-yet-valid",
        "certificate-self-signed",
        "certificate-untrusted",
        "certificate-name-mismatch",
        "certificate-no-san",
        "certificate-weak-signature",
        "certificate-weak-key",
        "tls-old-version",
        "tls-weak-cipher",
        "tls-no-forward-secrecy",
        "tls-cbc-tls10",
        "tls-client-offers-weak-ciphers",
    ] {
        assert!(fired.contains(id), "{id} fired on no capture");
    }
}

#[test]
fn good_chain_has_no_certificate_findings_and_is_trusted_only_with_its_bundle() {
    let (c, _) = run_one("cert-good.pcap", &["--ca-bundle", &bundle()]);
    assert!(ids(&c).is_empty(), "{:?}", c["findings"]);
    assert_eq!(c["tls"]["chain_trusted"], true);
    // Without a bundle nothing is claimed about trust.
    let (c, _) = run_one("cert-good.pcap", &[]);
    assert_eq!(c["tls"]["chain_trusted"], Value::Null);
    // With a bundle that does not hold the root (the self-signed capture's certificate is
    // not a CA of this chain): untrusted.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    let pem = include_str!("fixtures/tls/ca.pem");
    std::fs::write(&other, pem).unwrap();
    let (c, _) = run_one("cert-good.pcap", &["--ca-bundle", other.to_str().unwrap()]);
    assert!(ids(&c).contains("certificate-untrusted"), "{:?}", c["findings"]);
    assert_eq!(c["tls"]["chain_trusted"], false);
}

#[test]
fn expect_host_overrides_the_sni() {
    let (c, _) = run_one("cert-name-mismatch.pcap", &["--expect-host", "db.dbwire.test"]);
    assert!(!ids(&c).contains("certificate-name-mismatch"), "{:?}", c["findings"]);
    let (c, _) = run_one("cert-good.pcap", &["--expect-host", "elsewhere.example"]);
    assert!(ids(&c).contains("certificate-name-mismatch"), "{:?}", c["findings"]);
}

#[test]
fn expiry_warning_window_is_counted_from_today() {
    let e = expected().into_iter().find(|e| e["capture"] == "cert-good.pcap").unwrap();
    let not_after = openssl_date(e["not_after"].as_str().unwrap());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days_left = (not_after - now) / 86_400;
    assert!(days_left > 30, "the good certificate must be valid for a while yet");
    let wide = format!("{}d", days_left + 2);
    let narrow = format!("{}d", days_left - 2);
    let (c, _) = run_one("cert-good.pcap", &["--expiry-warning", &wide]);
    assert!(ids_all(&c).contains("certificate-expires-soon"), "{:?}", c["findings"]);
    let (c, _) = run_one("cert-good.pcap", &["--expiry-warning", &narrow]);
    assert!(!ids_all(&c).contains("certificate-expires-soon"), "{:?}", c["findings"]);
    // The default window (30 days) stays quiet on a certificate valid for years.
    let (c, _) = run_one("cert-good.pcap", &[]);
    assert!(!ids_all(&c).contains("certificate-expires-soon"));
}

fn ids_all(conn: &Value) -> BTreeSet<String> {
    conn["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

fn write_policy(dir: &tempfile::TempDir, text: &str) -> String {
    let p = dir.path().join("policy.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn fail_on_with_policy_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let rsa_kx = captures().join("cert-pg-rsa-kx.pcap").display().to_string();
    let good = captures().join("cert-good.pcap").display().to_string();
    // No forward secrecy is medium by default.
    let out = common::run(&["--format", "jsonl", "-q", "--fail-on", "medium", &rsa_kx]);
    assert_eq!(out.status.code(), Some(1));
    let out = common::run(&["--format", "jsonl", "-q", "--fail-on", "medium", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // The policy decides severities.
    let low = write_policy(&dir, "[severity]\n\"tls-no-forward-secrecy\" = \"low\"\n");
    let out = common::run(&["--format", "jsonl", "-q", "--policy", &low, "--fail-on", "medium", &rsa_kx]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let off = write_policy(&dir, "[severity]\n\"tls-no-forward-secrecy\" = \"off\"\n");
    let (c, _) = run_one("cert-pg-rsa-kx.pcap", &["--policy", &off]);
    assert!(!ids_all(&c).contains("tls-no-forward-secrecy"));
    // Forbidden cipher patterns and a stricter minimum version.
    let strict = write_policy(&dir, "[tls]\nmin_version = \"TLSv1.3\"\nforbidden_ciphers = [\"*_cbc_*\"]\n");
    let (c, _) = run_one("cert-pg-rsa-kx.pcap", &["--policy", &strict]);
    assert!(ids_all(&c).contains("tls-cipher-not-allowed"), "{:?}", c["findings"]);
    assert!(ids_all(&c).contains("tls-old-version"), "{:?}", c["findings"]);
    let (c, _) = run_one("cert-good.pcap", &["--policy", &strict]);
    assert!(!ids_all(&c).contains("tls-cipher-not-allowed"), "GCM suite is not CBC");
    let allowed = write_policy(&dir, "[tls]\nallowed_ciphers = [\"TLS_ECDHE_*_GCM_*\"]\n");
    let (c, _) = run_one("cert-pg-rsa-kx.pcap", &["--policy", &allowed]);
    assert!(ids_all(&c).contains("tls-cipher-not-allowed"));
    let (c, _) = run_one("cert-good.pcap", &["--policy", &allowed]);
    assert!(!ids_all(&c).contains("tls-cipher-not-allowed"));
    // Unusable policy, bundle or flag: exit 2 with one line.
    let bad = write_policy(&dir, "[tls]\nmin_version = \"TLSv9\"\n");
    for args in [
        vec!["--policy", bad.as_str(), good.as_str()],
        vec!["--policy", "/nonexistent/policy.toml", good.as_str()],
        vec!["--ca-bundle", "/nonexistent/bundle.pem", good.as_str()],
        vec!["--ca-bundle", rsa_kx.as_str(), good.as_str()],
        vec!["--expiry-warning", "soon", good.as_str()],
    ] {
        let out = common::run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        common::assert_no_panic(&out);
    }
}

#[test]
fn policy_decides_where_encryption_is_required() {
    let dir = tempfile::tempdir().unwrap();
    // pg-plain.pcap: plaintext PostgreSQL to 127.0.0.1:5432 (record-captures.sh).
    let (c, _) = common_one("pg-plain.pcap", &[]);
    let f = c["findings"].as_array().unwrap();
    let req = f.iter().find(|f| f["id"] == "encryption-required").expect("required by default");
    assert_eq!(req["severity"], "high");
    let lab = write_policy(&dir, "[encryption]\nservers = [ { server = \"127.0.0.1:5432\", required = false } ]\n");
    let (c, _) = common_one("pg-plain.pcap", &["--policy", &lab]);
    let f = c["findings"].as_array().unwrap();
    assert!(f.iter().all(|f| f["id"] != "encryption-required"));
    let sql = f.iter().find(|f| f["id"] == "plaintext-sql").expect("evidence kept");
    assert_eq!(sql["severity"], "info");
    // Per engine.
    let engines = write_policy(&dir, "[encryption]\nrequired = true\nengines = { postgresql = false }\n");
    let (c, _) = common_one("pg-plain.pcap", &["--policy", &engines]);
    assert!(c["findings"].as_array().unwrap().iter().all(|f| f["id"] != "encryption-required"));
    // TLS is encrypted whatever the policy.
    let (c, _) = common_one("pg-tls12.pcap", &[]);
    assert!(c["findings"].as_array().unwrap().iter().all(|f| f["id"] != "encryption-required"));
}

fn common_one(name: &str, extra: &[&str]) -> (Value, std::process::Output) {
    run_one(name, extra)
}

#[test]
fn tls13_certificate_is_not_observable_never_passed_or_failed() {
    let (c, _) = run_one("pg-tls13.pcap", &["--ca-bundle", &bundle()]);
    let got = ids_all(&c);
    assert!(got.contains("certificate-not-observable"));
    assert!(got.iter().all(|id| !id.starts_with("certificate-") || id == "certificate-not-observable"), "{got:?}");
    assert_eq!(c["tls"]["chain_trusted"], Value::Null);
    assert_eq!(c["tls"]["certificate_visibility"], "encrypted");
    let f = c["findings"].as_array().unwrap().iter().find(|f| f["id"] == "certificate-not-observable").unwrap();
    assert!(f["detail"].as_str().unwrap().contains("CA bundle check was not applied"), "{f}");
}

#[test]
fn amazon_rds_2019_ca_is_recognised_as_retired() {
    let Some(dir) = common::shared_captures() else {
        eprintln!("skipped: ../shared/captures not present");
        return;
    };
    // Public captures of Amazon RDS (zeek test data), recorded in December 2022 against a
    // server certificate issued by "Amazon RDS us-east-1 2019 CA".
    for name in ["mysql-tls-zeek-tls-12-amazon-rds.pcap", "pgsql-tls-zeek-psql-aws-ssl-require.pcap"] {
        let (rows, out) = common::run_jsonl(&[&dir.join(name)], &[]);
        common::assert_no_panic(&out);
        let c = rows.iter().find(|c| c["encryption"] == "tls").expect("a TLS connection");
        assert_eq!(c["tls"]["ca_family"], "rds-ca-2019", "{name}");
        let f = c["findings"].as_array().unwrap().iter().find(|f| f["id"] == "certificate-ca-retired").expect(name);
        let d = f["detail"].as_str().unwrap();
        for successor in ["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"] {
            assert!(d.contains(successor), "{d}");
        }
        // Valid when captured (2022), so not expired at capture time.
        assert!(c["findings"].as_array().unwrap().iter().all(|f| f["id"] != "certificate-expired"));
    }
}

#[test]
fn each_distinct_chain_is_validated_once_per_run() {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use dbwire::analyze::{analyze_file, AnalyzeConfig};
    use dbwire::findings::policy::Policy;
    use dbwire::findings::CheckContext;
    use dbwire::x509::validate::TrustStore;

    // Three recordings with the same chain (same leaf SHA-256 in cert-expected.jsonl),
    // one with another.
    let exp = expected();
    let leaf = |n: &str| exp.iter().find(|e| e["capture"] == n).unwrap()["leaf_sha256"].clone();
    let same = ["cert-good.pcap", "cert-verified.pcap", "cert-name-mismatch.pcap"];
    assert!(same.iter().all(|n| leaf(n) == leaf(same[0])));
    assert_ne!(leaf("cert-expired.pcap"), leaf(same[0]));

    let trust = TrustStore::load(&captures().join("cert-ca-bundle.pem")).expect("bundle");
    let cfg = AnalyzeConfig {
        checks: Arc::new(CheckContext::new(Policy::default(), Some(trust), None)),
        ..AnalyzeConfig::default()
    };
    for n in same.iter().chain(["cert-expired.pcap"].iter()) {
        let r = analyze_file(&captures().join(n), &cfg, &mut |_| {}).expect(n);
        assert_eq!(r.connections.len(), 1);
    }
    assert_eq!(cfg.checks.chains_validated.load(Ordering::Relaxed), 2);
    assert_eq!(cfg.checks.chain_cache_hits.load(Ordering::Relaxed), 2);
}
