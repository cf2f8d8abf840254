//! JA3 against an independent implementation: tshark's `tls.handshake.ja3_full` /
//! `tls.handshake.ja3` of every ClientHello in the TLS captures (shipped and, when present,
//! `../shared/captures`). Skips when tshark is not installed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn tshark_ja3(path: &Path, decode_as: &[String]) -> Option<BTreeMap<String, (String, String)>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(path);
    for d in decode_as {
        cmd.arg("-d").arg(d);
    }
    cmd.args(["-Y", "tls.handshake.type == 1", "-T", "fields", "-E", "separator=|"]);
    for f in ["ip.src", "ipv6.src", "tcp.srcport", "tls.handshake.ja3_full", "tls.handshake.ja3"] {
        cmd.arg("-e").arg(f);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 5 || f[3].is_empty() {
            continue;
        }
        let ip = if f[0].is_empty() { format!("[{}]", f[1]) } else { f[0].to_string() };
        // The first ClientHello of a connection (a second one follows a HelloRetryRequest).
        m.entry(format!("{ip}:{}", f[2])).or_insert((f[3].to_string(), f[4].to_string()));
    }
    Some(m)
}

#[test]
fn ja3_matches_tshark_on_every_tls_capture() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("skipped: tshark not installed");
        return;
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(common::repo().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    if let Some(shared) = common::shared_captures() {
        files.extend(
            std::fs::read_dir(shared)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().contains("-tls-")),
        );
    }
    files.sort();
    let mut compared = 0;
    let mut problems = Vec::new();
    for f in &files {
        let (rows, out) = common::run_jsonl(&[f.as_path()], &[]);
        common::assert_no_panic(&out);
        // tshark 4.0 does not follow a TLS handshake wrapped in TDS PRELOGIN packets, so
        // there is nothing of its own to compare those with.
        let tls: Vec<_> =
            rows.iter().filter(|c| !c["tls"]["ja3"].is_null() && c["tls"]["upgrade"] != "tds-prelogin").collect();
        if tls.is_empty() {
            continue;
        }
        let mut decode_as = Vec::new();
        for c in &tls {
            let port = c["server"].as_str().unwrap().rsplit_once(':').unwrap().1.to_string();
            let proto = match c["engine"].as_str().unwrap() {
                "postgresql" => "pgsql",
                "mysql" => "mysql",
                // TDS 8 strict is TLS from the first byte; tshark's TDS dissector on 1433
                // would mislabel it as SQL batches.
                "tds" => "tls",
                "tns" => "tls",
                _ => continue,
            };
            decode_as.push(format!("tcp.port=={port},{proto}"));
        }
        decode_as.sort();
        decode_as.dedup();
        let Some(theirs) = tshark_ja3(f, &decode_as) else {
            problems.push(format!("{}: tshark failed", f.display()));
            continue;
        };
        for c in tls {
            let client = c["client"].as_str().unwrap();
            let name = f.file_name().unwrap().to_string_lossy();
            match theirs.get(client) {
                None => problems.push(format!("{name} {client}: tshark saw no ClientHello")),
                Some((full, hash)) => {
                    compared += 1;
                    if c["tls"]["ja3"] != full.as_str() || c["tls"]["ja3_hash"] != hash.as_str() {
                        problems.push(format!("{name} {client}: ours {} / tshark {full}", c["tls"]["ja3"]));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(compared >= 10, "only {compared} ClientHellos compared");
    eprintln!("{compared} ClientHellos: JA3 equal to tshark's");
}
