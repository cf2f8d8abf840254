//! The ways packets reach the analysis: several threads, gzip-compressed files, several
//! files read as one capture. Each must give the same verdicts as the plain
//! single-threaded read of the same packets.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo, run_jsonl};
use serde_json::Value;

/// A connection's verdict without the field that names the file it came from.
fn without_capture(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("capture");
            }
            r
        })
        .collect()
}

fn shipped() -> PathBuf {
    repo().join("captures")
}

/// Same JSON lines, in the same order, for 1 and N threads: every shipped capture, and
/// the shared public captures when present (many engines, link types, odd captures).
#[test]
fn threads_do_not_change_the_report() {
    let mut inputs = vec![shipped()];
    match common::shared_captures() {
        Some(d) => inputs.push(d),
        None => eprintln!("note: ../shared/captures not present; shipped captures only"),
    }
    let paths: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let (one, out1) = run_jsonl(&paths, &["--threads", "1"]);
    common::assert_no_panic(&out1);
    assert!(one.len() >= 13, "expected at least one connection per shipped capture, got {}", one.len());
    // `--max-report-memory 0`: every report goes through the temporary file.
    for flags in [
        &["--threads", "2"][..],
        &["--threads", "3"],
        &["--threads", "1", "--max-report-memory", "0"],
        &["--threads", "2", "--max-report-memory", "0"],
    ] {
        let (many, out) = run_jsonl(&paths, flags);
        common::assert_no_panic(&out);
        assert_eq!(out.status.code(), out1.status.code(), "exit code with {flags:?}");
        assert_eq!(one.len(), many.len(), "connection count with {flags:?}");
        for (a, b) in one.iter().zip(&many) {
            assert_eq!(a, b, "{flags:?} differs");
        }
    }
}

/// Every format reads the reports back from the temporary file exactly as it would
/// have kept them in memory.
#[test]
fn reports_kept_on_disk_render_like_reports_in_memory() {
    let dir = shipped();
    let d = dir.to_str().expect("utf-8 path");
    for format in ["json", "table", "csv", "html"] {
        let mem = common::run_env(&["-q", "-f", format, "--color", "never", d], &[("SOURCE_DATE_EPOCH", "0")]);
        let disk = common::run_env(
            &["-q", "-f", format, "--color", "never", "--max-report-memory", "0", "--threads", "2", d],
            &[("SOURCE_DATE_EPOCH", "0")],
        );
        common::assert_no_panic(&disk);
        assert!(!mem.stdout.is_empty(), "{format}: empty report");
        assert_eq!(mem.status.code(), disk.status.code(), "{format}: exit code");
        let (m, k) = (String::from_utf8_lossy(&mem.stdout), String::from_utf8_lossy(&disk.stdout));
        // The command line is part of the HTML provenance; nothing else may differ.
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("--max-report-memory") && !l.contains("-q -f html"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&m), strip(&k), "{format}: report differs when kept on disk");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn gzip_capture_reads_like_the_plain_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["pg-tls12.pcap", "mysql-tls13.pcap", "pg-any-sll2.pcap"] {
        let plain = shipped().join(name);
        let bytes = std::fs::read(&plain).expect("read capture");
        let gz = gzip(&bytes);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        // Detected by content: one copy named .gz, one with a name that says nothing.
        let named = dir.path().join(format!("{name}.gz"));
        let unnamed = dir.path().join(format!("{name}.bin"));
        std::fs::write(&named, &gz).expect("write");
        std::fs::write(&unnamed, &gz).expect("write");
        let (want, _) = run_jsonl(&[&plain], &[]);
        assert!(!want.is_empty());
        for p in [&named, &unnamed] {
            let (got, out) = run_jsonl(&[p], &[]);
            assert!(out.status.success(), "{}: {}", p.display(), String::from_utf8_lossy(&out.stderr));
            assert_eq!(without_capture(&got), without_capture(&want), "{}", p.display());
        }
    }
    // A folder search finds *.pcap.gz.
    let (rows, out) = run_jsonl(&[dir.path()], &[]);
    assert!(out.status.success());
    assert_eq!(rows.iter().filter(|r| common::file_name(r).ends_with(".pcap.gz")).count(), 3);
}

#[test]
fn truncated_gzip_gives_partial_report_and_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Several captures back to back in one gzip stream: cutting it keeps the first ones.
    let mut cat = std::fs::read(shipped().join("pg-tls12.pcap")).expect("read");
    let one = cat.len();
    let rest = std::fs::read(shipped().join("pg-tls12.pcap")).expect("read");
    // Records of a second copy appended after the first (same header, later records).
    cat.extend_from_slice(&rest[24..]);
    cat.extend_from_slice(&rest[24..]);
    let gz = gzip(&cat);
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).expect("write");
    let (rows, out) = run_jsonl(&[&cut], &[]);
    common::assert_no_panic(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "partial result exit code; stderr: {err}");
    assert!(err.contains("truncated .gz"), "warning names the cause: {err}");
    assert!(!rows.is_empty(), "what was inflated before the cut is reported");
    assert!(one < cat.len());

    // Cut inside the gzip header: a one-line error, exit 2.
    let tiny = dir.path().join("tiny.pcap.gz");
    std::fs::write(&tiny, &gz[..6]).expect("write");
    let out = common::run(&["--quiet", tiny.to_str().expect("utf-8 path")]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// Split a legacy pcap after the given packet counts: every part gets the file header,
/// as `editcap -c` and `tcpdump -C` write them.
fn split_pcap(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let header = &bytes[..24];
    let little = bytes[0] == 0xd4;
    let mut at = 24;
    let mut parts = Vec::new();
    let mut records = Vec::new();
    while at + 16 <= bytes.len() {
        let l = &bytes[at + 8..at + 12];
        let caplen =
            if little { u32::from_le_bytes(l.try_into().unwrap()) } else { u32::from_be_bytes(l.try_into().unwrap()) };
        let end = at + 16 + caplen as usize;
        records.push(&bytes[at..end]);
        at = end;
    }
    let mut it = records.into_iter();
    for &n in sizes.iter().chain(std::iter::once(&usize::MAX)) {
        let mut part = header.to_vec();
        for r in it.by_ref().take(n) {
            part.extend_from_slice(r);
        }
        if part.len() > 24 {
            parts.push(part);
        }
    }
    parts
}

fn check_merged_equals_unsplit(plain: &Path, parts: &[PathBuf]) {
    let (want, _) = run_jsonl(&[plain], &[]);
    assert_eq!(want.len(), 1);
    // Given newest first: the order comes from the packets, not the command line.
    let rev: Vec<&Path> = parts.iter().rev().map(PathBuf::as_path).collect();
    for threads in ["1", "2"] {
        let (got, out) = run_jsonl(&rev, &["--merge", "--threads", threads]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(without_capture(&got), without_capture(&want), "--merge --threads {threads}");
    }
    // Without --merge each file is its own capture: the connection falls apart.
    let (apart, _) = run_jsonl(&rev, &[]);
    assert_ne!(without_capture(&apart), without_capture(&want));
}

#[test]
fn merge_joins_a_connection_split_over_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = shipped().join("pg-tls12.pcap");
    let bytes = std::fs::read(&plain).expect("read");
    // 26 packets: the TLS handshake (packets 8-11) spans the first two files.
    let parts: Vec<PathBuf> = split_pcap(&bytes, &[9, 9])
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let path = dir.path().join(format!("rot.pcap{}", if i == 0 { String::new() } else { i.to_string() }));
            std::fs::write(&path, p).expect("write");
            path
        })
        .collect();
    assert_eq!(parts.len(), 3);
    check_merged_equals_unsplit(&plain, &parts);

    // A folder of rotated files (`dump.pcap`, `dump.pcap1`, ...) is found and merged.
    let (rows, out) = run_jsonl(&[dir.path()], &["--merge"]);
    assert!(out.status.success());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["tls"]["version"], run_jsonl(&[&plain], &[]).0[0]["tls"]["version"]);
}

/// The same with files written by editcap (Wireshark), when it is installed.
#[test]
fn merge_of_editcap_split_files() {
    if Command::new("editcap").arg("-h").output().is_err() {
        eprintln!("skipped: editcap not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["pg-tls12.pcap", "mysql-tls12.pcap"] {
        let plain = shipped().join(name);
        let stem = dir.path().join(name.replace(".pcap", ""));
        std::fs::create_dir_all(&stem).expect("mkdir");
        let out = Command::new("editcap")
            .args(["-F", "pcap", "-c", "7"])
            .arg(&plain)
            .arg(stem.join("part.pcap"))
            .output()
            .expect("editcap");
        assert!(out.status.success(), "editcap: {}", String::from_utf8_lossy(&out.stderr));
        let mut parts: Vec<PathBuf> =
            std::fs::read_dir(&stem).expect("readdir").map(|e| e.expect("entry").path()).collect();
        parts.sort();
        assert!(parts.len() >= 3, "editcap made {} files", parts.len());
        check_merged_equals_unsplit(&plain, &parts);
    }
}

/// No writable temporary directory: the reports stay in memory, the report is complete
/// and a warning says why.
#[test]
fn unwritable_temporary_directory_keeps_reports_in_memory() {
    let file = shipped().join("pg-plain.pcap");
    let f = file.to_str().expect("utf-8 path");
    let want = common::run(&["-q", "-f", "jsonl", f]);
    let got = common::run_env(
        &["-q", "-f", "jsonl", "--max-report-memory", "0", f],
        &[("TMPDIR", "/nonexistent/dbwire-test")],
    );
    common::assert_no_panic(&got);
    assert_eq!(got.stdout, want.stdout);
    assert!(!want.stdout.is_empty());
    let err = String::from_utf8_lossy(&got.stderr);
    assert!(err.contains("cannot write connection reports to a temporary file"), "{err}");
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
}
