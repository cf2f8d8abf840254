//! The command line as a user meets it: one-line errors with exit code 2 for unusable
//! input and bad flags, never a backtrace.

mod common;

use std::io::Write;

fn one_line_error(out: &std::process::Output) -> String {
    common::assert_no_panic(out);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    err
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = common::run(&["/nonexistent/trace.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("/nonexistent/trace.pcap"), "{err}");
}

#[test]
fn text_file_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.pcap");
    std::fs::File::create(&p).unwrap().write_all(b"this is not a capture file at all\n").unwrap();
    let out = common::run(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("notes.pcap"), "{err}");
}

#[test]
fn empty_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("no capture files"), "{err}");
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--port", "postgresql", "x.pcap"][..],
        &["--port", "oracle=1521", "x.pcap"][..],
        &["--port", "mysql=70000", "x.pcap"][..],
        &["--fail-on", "severe", "x.pcap"][..],
        &["--format", "xml", "x.pcap"][..],
    ] {
        let out = common::run(args);
        common::assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// A pcap whose global header claims an unsupported link type: the packets cannot be
/// decoded, which the report says in a warning (not silently an empty report).
#[test]
fn unknown_link_type_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("weird.pcap");
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes()); // magic, µs
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // thiszone
    b.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    b.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    b.extend_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
    for i in 0..3u32 {
        b.extend_from_slice(&(1_700_000_000 + i).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(b"abcd");
    }
    std::fs::write(&p, &b).unwrap();
    let out = common::run(&["--format", "jsonl", p.to_str().unwrap()]);
    common::assert_no_panic(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("147"), "warning should name the link type: {err}");
}

/// TLS from the first byte is Oracle TCPS only where a port says so: on a port named with
/// `--port oracle=PORT` (2484 is hinted by default).
#[test]
fn oracle_port_hint_labels_tcps() {
    let cap = common::repo().join("captures/tns-tcps-2484.pcap");
    let (rows, out) = common::run_jsonl(&[&cap], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["engine"], "tns");
    assert_eq!(rows[0]["tls"]["upgrade"], "direct");
    // The refusal on 15210 is found by content, with or without a hint.
    let cap = common::repo().join("captures/tns-refuse-12514.pcap");
    for extra in [&[][..], &["--port", "oracle=15210"][..], &["--port", "tns=15210"][..]] {
        let (rows, out) = common::run_jsonl(&[&cap], extra);
        assert_eq!(out.status.code(), Some(0), "{extra:?}");
        assert_eq!(rows[0]["engine"], "tns", "{extra:?}");
        assert_eq!(rows[0]["tns"]["refuse_error"], 12514, "{extra:?}");
    }
}

/// Live-capture flags need `--interface`; `--interface` takes no capture files.
#[test]
fn live_flags_need_an_interface() {
    for args in [
        &["--filter", "tcp", "x.pcap"][..],
        &["--duration", "10s", "x.pcap"][..],
        &["--count", "10", "x.pcap"][..],
        &["--write", "out.pcap", "x.pcap"][..],
        &["--interface", "lo", "x.pcap"][..],
    ] {
        let out = common::run(args);
        common::assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Built without the `live` feature, `--interface` says how to get it.
#[cfg(not(feature = "live"))]
#[test]
fn interface_without_live_feature_says_how_to_build() {
    let out = common::run(&["--interface", "lo"]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("--features live") && err.contains("libpcap-dev"), "{err}");
}

/// Bad --duration and --count values are refused before any capture starts.
#[test]
fn bad_live_limits_exit_2() {
    for args in [
        &["-i", "lo", "--duration", "0s"][..],
        &["-i", "lo", "--duration", "soon"][..],
        &["-i", "lo", "--count", "0"][..],
    ] {
        let out = common::run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        one_line_error(&out);
    }
}

#[test]
fn bad_limit_flags_are_one_line_errors() {
    for args in [
        &["--max-flows", "0", "x.pcap"][..],
        &["--max-flows=-3", "x.pcap"][..],
        &["--max-buffer", "5Q", "x.pcap"][..],
        &["--max-buffer-total", "lots", "x.pcap"][..],
        &["--idle-timeout", "0", "x.pcap"][..],
        &["--idle-timeout", "1d", "x.pcap"][..],
        &["--max-fragments", "none", "x.pcap"][..],
        &["--max-fragment-buffer", "99999999999G", "x.pcap"][..],
    ] {
        let out = common::run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = one_line_error(&out);
        assert!(err.contains(args[0].split('=').next().unwrap()), "the error names the flag: {err}");
    }
}

/// A capture cut in the middle of a packet record (a tcpdump killed mid-write): the
/// connections read so far are reported, a warning says the file is damaged, and the
/// exit code is 3.
#[test]
fn file_cut_mid_record_gives_partial_report_and_exit_3() {
    let full = std::fs::read(common::repo().join("captures/pg-plain.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pcap");
    // 7 bytes short: inside the last record's data.
    std::fs::write(&p, &full[..full.len() - 7]).unwrap();
    let (rows, out) = common::run_jsonl(&[&p], &[]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("cut.pcap"), "{err}");
    assert!(rows.iter().any(|r| r["engine"] == "postgresql"), "partial report: {rows:?}");
}
