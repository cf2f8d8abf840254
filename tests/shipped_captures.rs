//! The captures in `captures/` were recorded from real servers by
//! `scripts/record-captures.sh`; `captures/expected.jsonl` holds what each recording set
//! up (forced cipher, TLS version, user, cleartext password…), confirmed with tshark at
//! recording time. dbwire must report exactly that.

mod common;

use serde_json::Value;

fn expected() -> Vec<Value> {
    let p = common::repo().join("captures/expected.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("expected.jsonl line"))
        .collect()
}

#[test]
fn shipped_captures_match_what_was_recorded() {
    let dir = common::repo().join("captures");
    let (ours, out) = common::run_jsonl(&[&dir], &[]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let exp = expected();
    assert!(exp.len() >= 10, "expected.jsonl has only {} rows", exp.len());

    let mut problems = Vec::new();
    for e in &exp {
        let cap = e["capture"].as_str().unwrap();
        let server = e["server"].as_str().unwrap();
        let cands: Vec<&Value> = ours.iter().filter(|c| common::file_name(c) == cap && c["server"] == server).collect();
        if cands.is_empty() {
            problems.push(format!("{cap} {server}: not reported"));
            continue;
        }
        // Every connection the recording made to that server must match.
        for c in cands {
            let mut errs = Vec::new();
            let mut check = |field: &str, ours: &Value| {
                let want = &e[field];
                if !want.is_null() && ours != want {
                    errs.push(format!("{field}: {ours} (expected {want})"));
                }
            };
            check("engine", &c["engine"]);
            check("encryption", &c["encryption"]);
            check("tls_version", &c["tls"]["version"]);
            check("cipher", &c["tls"]["cipher"]);
            check("cipher_id", &c["tls"]["cipher_id"]);
            check("sni", &c["tls"]["sni"]);
            // A refused SSLRequest is recorded as attempted; only TLS connections have one.
            if e["encryption"] == "tls" {
                check("upgrade", &c["tls"]["upgrade"]);
            }
            check("user", &c["credentials"]["user"]);
            // Oracle: the descriptor's service, the listener's refusal, the NNE choice.
            check("tns_service_name", &c["tns"]["service_name"]);
            check("tns_refuse_error", &c["tns"]["refuse_error"]);
            check("tns_connect_data_separate", &c["tns"]["connect_data_separate"]);
            check("nne_encryption", &c["tns"]["nne"]["server_selected_encryption"]);
            check("nne_integrity", &c["tns"]["nne"]["server_selected_integrity"]);
            if e["cleartext_password_seen"] == true {
                check("cleartext_password_seen", &c["credentials"]["cleartext_password_seen"]);
            }
            if let Some(cn) = e["certificate_subject_cn"].as_str() {
                let subj = c["tls"]["certificate"]["subject"].as_str().unwrap_or("");
                if !subj.contains(&format!("CN={cn}")) {
                    errs.push(format!("certificate subject {subj:?} lacks CN={cn}"));
                }
            }
            if e["tls_version"] == "TLSv1.3" && c["tls"]["certificate_visibility"] != "encrypted" {
                errs.push("TLS 1.3 certificate must be reported as encrypted".into());
            }
            if let Some(v) = e["server_version_prefix"].as_str() {
                let ours = c["server_version"].as_str().unwrap_or("");
                // MariaDB's greeting says "5.5.5-10.11.…" for old clients; dbwire reports
                // the real version after that prefix.
                let real = v.strip_prefix("5.5.5-").unwrap_or(v);
                if !ours.starts_with(real) {
                    errs.push(format!("server_version {ours:?} (expected prefix {v:?})"));
                }
            }
            if let Some(q) = e["query_substring"].as_str() {
                let qs = c["plaintext"]["queries"].as_array().cloned().unwrap_or_default();
                if !qs.iter().any(|x| x.as_str().unwrap_or("").contains(q)) {
                    errs.push(format!("no query containing {q:?} in {qs:?}"));
                }
            }
            if let Some(id) = e["finding"].as_str() {
                let ids: Vec<&str> =
                    c["findings"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
                if !ids.contains(&id) {
                    errs.push(format!("no finding {id:?} in {ids:?}"));
                }
            }
            if !errs.is_empty() {
                problems.push(format!("{cap} {} -> {server}: {}", c["client"], errs.join("; ")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Literals in the recorded queries (an e-mail address and a card number) are redacted
/// by default and shown only with --show-literals; passwords never appear.
#[test]
fn secrets_stay_hidden() {
    let dir = common::repo().join("captures");
    for args in [&["--format", "jsonl"][..], &["--format", "json"][..], &["--format", "table"][..]] {
        let mut a = args.to_vec();
        a.push(dir.to_str().unwrap());
        let out = common::run(&a);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("4111-1111"), "card number leaked with {args:?}");
        assert!(!text.contains("hunter2"), "password leaked with {args:?}");
    }
    let out = common::run(&["--format", "jsonl", "--show-literals", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4111-1111"), "--show-literals should show literals");
    assert!(!text.contains("hunter2"), "password leaked with --show-literals");
}

/// TDS 8.0 strict encryption on port 1433: TLS from the first byte. tshark 4.0's default
/// decoding labels these records as TDS ("SQL batch", "Unknown Packet Type: 22"; recorded
/// in expected.jsonl as `tshark_default_labels`); dbwire must report TLS 1.3 with the
/// tds8-strict upgrade and no plaintext SQL at all.
#[test]
fn tds8_strict_on_1433_is_tls_not_sql() {
    let exp = expected();
    let row = exp.iter().find(|e| e["capture"] == "tds8-strict-1433.pcap").expect("tds8-strict row");
    let labels = row["tshark_default_labels"].as_array().expect("tshark labels recorded");
    assert!(labels.iter().any(|l| l == "SQL batch"), "the recording saw tshark mislabel the TLS: {labels:?}");
    let path = common::repo().join("captures/tds8-strict-1433.pcap");
    let (ours, out) = common::run_jsonl(&[&path], &[]);
    common::assert_no_panic(&out);
    assert_eq!(ours.len(), 1, "one connection");
    let c = &ours[0];
    assert_eq!(c["engine"], "tds");
    assert_eq!(c["encryption"], "tls");
    assert_eq!(c["tls"]["upgrade"], "tds8-strict");
    assert_eq!(c["tls"]["version"], "TLSv1.3");
    assert!(c["tls"]["alpn_offered"].as_array().is_some_and(|a| a.iter().any(|x| x == "tds/8.0")));
    assert!(c["plaintext"].is_null(), "no plaintext evidence inside TLS: {}", c["plaintext"]);
    assert!(c["credentials"].is_null(), "the login is inside TLS: {}", c["credentials"]);
}
