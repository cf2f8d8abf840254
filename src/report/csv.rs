//! One row per connection for spreadsheets: RFC 4180 quoting (the `csv` crate) and a
//! stable column set, documented in README. Cells that a spreadsheet would read as a
//! formula get a leading `'` (capture strings are attacker-controlled).

use std::borrow::Cow;
use std::io::{self, Write};

use crate::analyze::CaptureReport;
use crate::findings::ConnectionReport;

/// The columns, in order. Append new columns at the end; never rename or reorder.
pub const COLUMNS: &[&str] = &[
    "capture",
    "start",
    "end",
    "client",
    "server",
    "engine",
    "encryption",
    "tls_upgrade",
    "tls_version",
    "tls_cipher",
    "sni",
    "alpn",
    "certificate_visibility",
    "certificate_subject",
    "certificate_issuer",
    "certificate_not_after",
    "certificate_sha256",
    "server_version",
    "user",
    "database",
    "application_name",
    "auth_method",
    "cleartext_password_seen",
    "plaintext_queries",
    "packets",
    "bytes",
    "max_severity",
    "findings",
];

/// Neutralise spreadsheet formulas: a cell starting with `=`, `+`, `-`, `@` (or a tab or
/// carriage return, which some spreadsheets skip before such a character) gets a
/// leading `'`.
pub fn formula_safe(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

fn row(c: &ConnectionReport) -> Vec<String> {
    let tls = c.tls.as_ref();
    let cert = tls.and_then(|t| t.certificate.as_ref());
    let cr = c.credentials.as_ref();
    let opt = |v: Option<&String>| v.cloned().unwrap_or_default();
    vec![
        c.capture.clone(),
        c.start.clone(),
        c.end.clone(),
        c.client.clone(),
        c.server.clone(),
        c.engine.to_string(),
        c.encryption.as_str().to_string(),
        tls.map(|t| t.upgrade.to_string()).unwrap_or_default(),
        opt(tls.and_then(|t| t.version.as_ref())),
        opt(tls.and_then(|t| t.cipher.as_ref())),
        opt(tls.and_then(|t| t.sni.as_ref())),
        opt(tls.and_then(|t| t.alpn.as_ref())),
        tls.map(|t| t.certificate_visibility.to_string()).unwrap_or_default(),
        opt(cert.map(|c| &c.subject)),
        opt(cert.map(|c| &c.issuer)),
        opt(cert.map(|c| &c.not_after)),
        opt(cert.map(|c| &c.sha256)),
        opt(c.server_version.as_ref()),
        opt(cr.and_then(|cr| cr.user.as_ref())),
        opt(cr.and_then(|cr| cr.database.as_ref())),
        opt(cr.and_then(|cr| cr.application_name.as_ref())),
        opt(cr.and_then(|cr| cr.auth_method.as_ref())),
        cr.is_some_and(|cr| cr.cleartext_password_seen).to_string(),
        c.plaintext.as_ref().map_or(0, |p| p.query_count).to_string(),
        c.packets.to_string(),
        c.bytes.to_string(),
        c.max_severity().map(|s| s.as_str().to_string()).unwrap_or_default(),
        c.findings.iter().map(|f| f.id.to_string()).collect::<Vec<_>>().join(";"),
    ]
}

/// Write the header and one row per connection.
pub fn write_csv(out: &mut dyn Write, captures: &[CaptureReport]) -> io::Result<()> {
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(out);
    w.write_record(COLUMNS)?;
    for c in captures.iter().flat_map(|c| c.connections.iter()) {
        w.write_record(row(&c?).iter().map(|cell| formula_safe(cell).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze_file, AnalyzeConfig};
    use std::path::Path;

    fn shipped(name: &str) -> CaptureReport {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join(name);
        analyze_file(&p, &AnalyzeConfig::default(), &mut |_| {}).expect("shipped capture")
    }

    fn records(caps: &[CaptureReport]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        write_csv(&mut out, caps).expect("csv");
        let mut r = ::csv::ReaderBuilder::new().has_headers(false).from_reader(out.as_slice());
        r.records().map(|rec| rec.expect("valid csv").iter().map(str::to_string).collect()).collect()
    }

    fn col(name: &str) -> usize {
        COLUMNS.iter().position(|c| *c == name).expect("column")
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(formula_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(formula_safe("+1"), "'+1");
        assert_eq!(formula_safe("-2+3"), "'-2+3");
        assert_eq!(formula_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(formula_safe("\t=1"), "'\t=1");
        assert_eq!(formula_safe("app"), "app");
        assert_eq!(formula_safe(""), "");
        assert_eq!(formula_safe("a=b"), "a=b");
    }

    /// Facts from captures/expected.jsonl, one row each, header first.
    #[test]
    fn one_row_per_connection_with_known_facts() {
        let rows = records(&[shipped("pg-tls12.pcap"), shipped("mysql-cleartext-password.pcap")]);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], COLUMNS);
        let tls = &rows[1];
        assert_eq!(tls[col("engine")], "postgresql");
        assert_eq!(tls[col("encryption")], "tls");
        assert_eq!(tls[col("tls_version")], "TLSv1.2");
        assert_eq!(tls[col("tls_cipher")], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(tls[col("sni")], "db.dbwire.test");
        assert!(tls[col("certificate_issuer")].contains("dbwire Test Root CA"));
        let plain = &rows[2];
        assert_eq!(plain[col("engine")], "mysql");
        assert_eq!(plain[col("encryption")], "plaintext");
        assert_eq!(plain[col("user")], "legacy");
        assert_eq!(plain[col("cleartext_password_seen")], "true");
        assert_eq!(plain[col("max_severity")], "critical");
        assert!(plain[col("findings")].split(';').any(|f| f == "cleartext-password"));
    }

    /// Quotes, commas and newlines in capture strings survive a round trip; formulas
    /// do not reach the spreadsheet.
    #[test]
    fn hostile_strings_round_trip_quoted() {
        let mut cap = shipped("pg-plain.pcap");
        let mut v = cap.connections.to_vec().expect("reports");
        let c = &mut v[0];
        c.credentials.as_mut().expect("login").user = Some("=cmd|' /C calc'!A0".into());
        c.credentials.as_mut().expect("login").database = Some("a,\"b\"\r\nc".into());
        cap.connections = crate::findings::log::ConnectionList::from_reports(&v);
        let mut raw = Vec::new();
        write_csv(&mut raw, std::slice::from_ref(&cap)).expect("csv");
        assert!(String::from_utf8_lossy(&raw).contains("\"a,\"\"b\"\"\r\nc\""), "RFC 4180 quoting");
        let rows = records(&[cap]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][col("user")], "'=cmd|' /C calc'!A0");
        assert_eq!(rows[1][col("database")], "a,\"b\"\r\nc");
        assert_eq!(rows[1].len(), COLUMNS.len());
    }
}
