//! The audit report (HTML, CSV) and `dbwire diff`, through the real binary, against
//! facts known from the shipped captures (captures/expected.jsonl).

mod common;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn capture(name: &str) -> PathBuf {
    common::repo().join("captures").join(name)
}

fn run_ok(args: &[&str]) -> String {
    let out = common::run(args);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A folder holding copies of the named shipped captures.
fn folder(dir: &Path, sub: &str, names: &[&str]) -> PathBuf {
    let d = dir.join(sub);
    std::fs::create_dir_all(&d).unwrap();
    for n in names {
        std::fs::copy(capture(n), d.join(n)).unwrap();
    }
    d
}

#[test]
fn html_report_has_provenance_verdict_and_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let caps = ["pg-cleartext-password.pcap", "pg-tls12.pcap", "mysql-plain.pcap"];
    let mut args = vec!["--format", "html", "-o", out.to_str().unwrap()];
    let paths: Vec<String> = caps.iter().map(|c| capture(c).to_string_lossy().into_owned()).collect();
    args.extend(paths.iter().map(String::as_str));
    run_ok(&args);
    let html = std::fs::read_to_string(&out).unwrap();

    // Provenance: every input with its SHA-256, computed here independently.
    for p in &paths {
        let digest: String = Sha256::digest(std::fs::read(p).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
        assert!(html.contains(&digest), "SHA-256 of {p} missing");
    }
    assert!(html.contains(concat!("dbwire ", env!("CARGO_PKG_VERSION"))));
    // Two of three in plaintext, one with a cleartext password (expected.jsonl).
    assert!(html.contains("2 of 3 connections in plaintext — 1 with cleartext credentials"));
    // Charts are inline SVG; no script and nothing fetched from the network.
    assert!(html.matches("<svg").count() >= 3, "three charts");
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url(http"));
    // Evidence: the users of the plaintext logins, the certificate issuer, redacted SQL.
    assert!(html.contains("legacy") && html.contains("app"));
    assert!(html.contains("dbwire Test Root CA"));
    assert!(html.contains("FROM accounts"));
    assert!(html.contains("cleartext-password"));
    // Options in force: literals were redacted in this run.
    assert!(html.contains("SQL literals") && html.contains("redacted"));
    assert!(!html.contains("--show-literals)"));
}

/// With --show-literals the report says so in its provenance, and still never shows the
/// password (scripts/record-captures.sh: LEGACY_PW, sent in the clear).
#[test]
fn html_report_records_show_literals() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let cap = capture("pg-cleartext-password.pcap");
    run_ok(&["--format", "html", "--show-literals", "-o", out.to_str().unwrap(), cap.to_str().unwrap()]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("shown (--show-literals)"));
    assert!(!html.contains("hunter2-not-secret"), "password in the report");
    assert!(html.contains("1 of 1 connection in plaintext — 1 with cleartext credentials"), "verdict");
}

/// With SOURCE_DATE_EPOCH the same input gives the same bytes (reproducible reports).
#[test]
fn html_report_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let cap = capture("pg-tls12.pcap");
    let render = |name: &str| {
        let out = dir.path().join(name);
        let st = common::bin()
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .args(["--format", "html", "-o", out.to_str().unwrap(), cap.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read(out).unwrap()
    };
    // Same output path: the command line is part of the provenance.
    let (a, b) = (render("report.html"), render("report.html"));
    assert!(a == b, "two renderings of the same input differ");
    assert!(String::from_utf8_lossy(&a).contains("generated 2026-01-01T00:00:00Z"));
}

#[test]
fn csv_has_header_and_one_row_per_connection() {
    let text = run_ok(&[
        "--format",
        "csv",
        capture("mysql-tls12.pcap").to_str().unwrap(),
        capture("pg-plain.pcap").to_str().unwrap(),
    ]);
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header.first().map(String::as_str), Some("capture"));
    let idx = |n: &str| header.iter().position(|h| h == n).unwrap_or_else(|| panic!("column {n}"));
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let by_engine = |e: &str| rows.iter().find(|r| &r[idx("engine")] == e).unwrap_or_else(|| panic!("{e} row"));
    let my = by_engine("mysql");
    assert_eq!(&my[idx("encryption")], "tls");
    assert_eq!(&my[idx("tls_version")], "TLSv1.2");
    assert_eq!(&my[idx("server")], "127.0.0.1:3306");
    let pg = by_engine("postgresql");
    assert_eq!(&pg[idx("encryption")], "plaintext");
    assert_eq!(&pg[idx("user")], "app");
    assert_eq!(&pg[idx("client")], "127.0.0.1:49894");
}

/// BEFORE: plaintext PostgreSQL and MySQL; AFTER: the same clients over TLS.
#[test]
fn diff_plain_to_tls() {
    let dir = tempfile::tempdir().unwrap();
    let before = folder(dir.path(), "before", &["pg-plain.pcap", "mysql-plain.pcap"]);
    let after = folder(dir.path(), "after", &["pg-tls12.pcap", "mysql-tls12.pcap"]);
    let text = run_ok(&["diff", before.to_str().unwrap(), after.to_str().unwrap(), "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let servers = |k: &str| -> Vec<String> {
        d[k].as_array().unwrap().iter().map(|c| c["server"].as_str().unwrap().to_string()).collect()
    };
    // Client ports differ (49894 → 49898 on PostgreSQL): matched by client IP + server.
    assert_eq!(servers("moved_to_tls"), ["127.0.0.1:3306", "127.0.0.1:5432"]);
    assert!(d["moved_to_tls"].as_array().unwrap().iter().all(|c| c["client_ip"] == "127.0.0.1"));
    assert!(servers("still_plaintext").is_empty());
    assert!(servers("new_plaintext").is_empty());
    assert_eq!(d["before"]["plaintext"], 2);
    assert_eq!(d["after"]["tls"], 2);
    let resolved: Vec<&str> =
        d["resolved_findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    // Each plaintext connection had its SQL in the clear and broke the built-in policy
    // (encryption required); both are gone after.
    assert_eq!(resolved, ["encryption-required", "encryption-required", "plaintext-sql", "plaintext-sql"]);
    // No certificate before, so nothing to compare.
    assert!(d["certificate_changes"].as_array().unwrap().is_empty());

    let table = run_ok(&["diff", before.to_str().unwrap(), after.to_str().unwrap()]);
    assert!(table.contains("Moved from plaintext to TLS (2)"), "{table}");
    assert!(table.contains("Still in plaintext (0)"), "{table}");
}

/// MySQL stays in plaintext while PostgreSQL moves; the cleartext-password login
/// appearing afterwards is a new critical finding.
#[test]
fn diff_still_plaintext_and_new_findings() {
    let dir = tempfile::tempdir().unwrap();
    let before = folder(dir.path(), "before", &["pg-plain.pcap", "mysql-plain.pcap"]);
    let after = folder(dir.path(), "after", &["pg-tls12.pcap", "mysql-cleartext-password.pcap"]);
    let text = run_ok(&["diff", before.to_str().unwrap(), after.to_str().unwrap(), "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(d["moved_to_tls"][0]["server"], "127.0.0.1:5432");
    assert_eq!(d["still_plaintext"][0]["server"], "127.0.0.1:3306");
    assert_eq!(d["still_plaintext"][0]["after"]["cleartext_password"], 1);
    let new: Vec<&str> = d["new_findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(new, ["cleartext-password"]);
    assert_eq!(d["new_findings"][0]["severity"], "critical");
}

/// A JSON report written earlier works as either side, and a changed certificate issuer
/// (CA rotation) is reported as such.
#[test]
fn diff_reads_json_reports_and_sees_ca_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let tls12 = capture("pg-tls12.pcap");
    let before_json = dir.path().join("before.json");
    run_ok(&["--format", "json", "-o", before_json.to_str().unwrap(), tls12.to_str().unwrap()]);

    // Same capture on both sides: nothing changed.
    let same = run_ok(&["diff", before_json.to_str().unwrap(), tls12.to_str().unwrap(), "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&same).unwrap();
    for k in
        ["moved_to_tls", "still_plaintext", "new_plaintext", "certificate_changes", "new_findings", "resolved_findings"]
    {
        assert!(d[k].as_array().unwrap().is_empty(), "{k} should be empty: {same}");
    }

    // The server now presents a certificate from another CA.
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&before_json).unwrap()).unwrap();
    let cert = &mut doc["connections"][0]["tls"]["certificate"];
    assert_eq!(cert["issuer"], "CN=dbwire Test Root CA", "expected.jsonl: issuer of pg-tls12");
    cert["issuer"] = "CN=Rotated Root CA 2026".into();
    cert["sha256"] = "00".repeat(32).into();
    let after_json = dir.path().join("after.json");
    std::fs::write(&after_json, serde_json::to_string(&doc).unwrap()).unwrap();
    let text = run_ok(&["diff", before_json.to_str().unwrap(), after_json.to_str().unwrap(), "--format", "json"]);
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    let changes = d["certificate_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["server"], "127.0.0.1:5432");
    assert_eq!(changes[0]["issuer_changed"], true);
    assert_eq!(changes[0]["after"][0]["issuer"], "CN=Rotated Root CA 2026");
    let table = run_ok(&["diff", before_json.to_str().unwrap(), after_json.to_str().unwrap()]);
    assert!(table.contains("CA rotation"), "{table}");
}

#[test]
fn diff_bad_input_is_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("report.json");
    std::fs::write(&bad, "{\"tool\": \"something else\"}").unwrap();
    let out = common::run(&["diff", bad.to_str().unwrap(), capture("pg-plain.pcap").to_str().unwrap()]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{err}");
    assert!(err.contains("connections"), "{err}");
    let out = common::run(&["diff", "/nonexistent/a.pcap", capture("pg-plain.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// The table's certificate column says what the chain check concluded, certificate by
/// certificate, and says nothing of it without a bundle.
#[test]
fn table_shows_the_chain_verdict_per_certificate() {
    // captures/cert-expected.jsonl: cert-good.pcap's leaf is issued by the test
    // intermediate under the bundle's root; cert-selfsigned.pcap's leaf issues itself.
    let facts = std::fs::read_to_string(capture("cert-expected.jsonl")).expect("facts");
    let issuer_of = |name: &str| -> String {
        facts
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["capture"] == name)
            .and_then(|v| v["leaf_issuer"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("{name} in cert-expected.jsonl"))
    };
    let (good, own) = (issuer_of("cert-good.pcap"), issuer_of("cert-selfsigned.pcap"));
    assert_ne!(good, own);
    let bundle = capture("cert-ca-bundle.pem");
    let (g, s) = (capture("cert-good.pcap"), capture("cert-selfsigned.pcap"));
    let args = |extra: &[&str]| {
        let mut a = vec!["-q", "--color", "never"];
        a.extend_from_slice(extra);
        a.push(g.to_str().expect("utf-8"));
        a.push(s.to_str().expect("utf-8"));
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let with = args(&["--ca-bundle", bundle.to_str().expect("utf-8")]);
    let text = run_ok(&with.iter().map(String::as_str).collect::<Vec<_>>());
    let lines: Vec<&str> = text.lines().collect();
    // Subject, issuer, expiry, then the verdict.
    let verdict_for = |issuer: &str| -> &str {
        let at = lines.iter().position(|l| l.contains(&format!("issuer {issuer}"))).expect("issuer line");
        lines[at + 2]
    };
    assert!(verdict_for(&good).contains("chain trusted (--ca-bundle)"), "{text}");
    assert!(verdict_for(&own).contains("chain NOT trusted (--ca-bundle)"), "{text}");
    let without = args(&[]);
    let text = run_ok(&without.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!text.contains("chain trusted") && !text.contains("NOT trusted"), "{text}");
}
