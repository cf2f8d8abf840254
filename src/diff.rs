//! Before/after: what changed between two runs, for following enforcement progress
//! (turning on `rds.force_ssl`, `require_secure_transport`, rotating a CA).
//!
//! Each side is a list of connections, from captures analysed now or from a JSON
//! report (`--format json`, or JSON lines) written earlier. Both paths go through the
//! JSON form of a connection, so a report from a newer dbwire with extra fields still
//! reads. Clients are keyed by client IP and server endpoint: client ports change from
//! one connection to the next.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use crate::analyze::CaptureReport;

/// Why a side could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("not a dbwire JSON report: {0}")]
    Json(String),
    #[error("JSON report has no \"connections\" array")]
    NoConnections,
}

/// What the diff needs of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffConn {
    pub client_ip: String,
    pub server: String,
    pub engine: String,
    pub encryption: String,
    pub cleartext_password: bool,
    pub certificate: Option<CertId>,
    pub findings: Vec<FindingId>,
}

/// A leaf certificate as the diff compares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CertId {
    pub sha256: String,
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingId {
    pub id: String,
    pub severity: String,
    pub detail: String,
}

/// Client IP of `ip:port` or `[v6]:port`.
fn client_ip(endpoint: &str) -> String {
    match endpoint.rsplit_once(':') {
        Some((ip, port)) if port.chars().all(|c| c.is_ascii_digit()) => ip.to_string(),
        _ => endpoint.to_string(),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// One connection from its JSON form; `None` when it lacks the keys every report has.
pub fn conn_from_json(v: &Value) -> Option<DiffConn> {
    let client = str_at(v, &["client"])?;
    let server = str_at(v, &["server"])?.to_string();
    let encryption = str_at(v, &["encryption"])?.to_string();
    let certificate = v.get("tls").and_then(|t| t.get("certificate")).filter(|c| c.is_object()).map(|c| CertId {
        sha256: str_at(c, &["sha256"]).unwrap_or_default().to_string(),
        subject: str_at(c, &["subject"]).unwrap_or_default().to_string(),
        issuer: str_at(c, &["issuer"]).unwrap_or_default().to_string(),
        not_after: str_at(c, &["not_after"]).unwrap_or_default().to_string(),
    });
    let findings = v
        .get("findings")
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| {
                    Some(FindingId {
                        id: str_at(f, &["id"])?.to_string(),
                        severity: str_at(f, &["severity"]).unwrap_or("info").to_string(),
                        detail: str_at(f, &["detail"]).unwrap_or_default().to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(DiffConn {
        client_ip: client_ip(client),
        server,
        engine: str_at(v, &["engine"]).unwrap_or("unknown").to_string(),
        encryption,
        cleartext_password: v
            .get("credentials")
            .and_then(|c| c.get("cleartext_password_seen"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        certificate,
        findings,
    })
}

/// Connections of captures analysed in this run.
pub fn conns_from_reports(captures: &[CaptureReport]) -> std::io::Result<Vec<DiffConn>> {
    let mut out = Vec::new();
    for c in captures.iter().flat_map(|c| c.connections.iter()) {
        if let Some(d) = serde_json::to_value(c?).ok().and_then(|v| conn_from_json(&v)) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Connections of a report written earlier: one JSON document with a `connections`
/// array (`--format json`), or JSON lines (`--format jsonl`).
pub fn conns_from_json_text(text: &str) -> Result<Vec<DiffConn>, DiffError> {
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => {
            let arr = doc.get("connections").and_then(Value::as_array).ok_or(DiffError::NoConnections)?;
            Ok(arr.iter().filter_map(conn_from_json).collect())
        }
        Err(whole) => {
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    DiffError::Json(if i == 0 { whole.to_string() } else { format!("line {}: {e}", i + 1) })
                })?;
                out.extend(conn_from_json(&v));
            }
            Ok(out)
        }
    }
}

/// Connections of one client by encryption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tls: u64,
    pub plaintext: u64,
    pub other: u64,
    pub cleartext_password: u64,
}

impl Counts {
    fn add(&mut self, c: &DiffConn) {
        match c.encryption.as_str() {
            "tls" => self.tls += 1,
            "plaintext" => self.plaintext += 1,
            _ => self.other += 1,
        }
        if c.cleartext_password {
            self.cleartext_password += 1;
        }
    }
    fn total(&self) -> u64 {
        self.tls + self.plaintext + self.other
    }
}

/// One client (IP) of one server endpoint, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ClientChange {
    pub client_ip: String,
    pub server: String,
    pub engine: String,
    pub before: Counts,
    pub after: Counts,
}

/// A server endpoint whose leaf certificate differs between the two sides.
#[derive(Debug, Clone, Serialize)]
pub struct CertChange {
    pub server: String,
    pub before: Vec<CertId>,
    pub after: Vec<CertId>,
    /// The issuers differ too: a CA rotation, not only a renewal.
    pub issuer_changed: bool,
}

/// A finding on one client/server pair present on one side only.
#[derive(Debug, Clone, Serialize)]
pub struct FindingChange {
    pub id: String,
    pub severity: String,
    pub client_ip: String,
    pub server: String,
    pub connections: u64,
    /// Detail of the first such finding.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideTotals {
    pub connections: u64,
    pub tls: u64,
    pub plaintext: u64,
    pub other: u64,
    pub cleartext_password: u64,
}

/// The comparison (JSON output of `dbwire diff --format json`).
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub before: SideTotals,
    pub after: SideTotals,
    /// Plaintext before; after, seen again and never in plaintext.
    pub moved_to_tls: Vec<ClientChange>,
    /// Plaintext on both sides.
    pub still_plaintext: Vec<ClientChange>,
    /// Plaintext after, but not before (new clients or regressions).
    pub new_plaintext: Vec<ClientChange>,
    /// Plaintext before, not seen after: cannot tell whether they moved.
    pub plaintext_not_seen_after: Vec<ClientChange>,
    pub certificate_changes: Vec<CertChange>,
    pub new_findings: Vec<FindingChange>,
    pub resolved_findings: Vec<FindingChange>,
}

type ClientKey = (String, String);

fn totals(conns: &[DiffConn]) -> SideTotals {
    let mut c = Counts::default();
    for conn in conns {
        c.add(conn);
    }
    SideTotals {
        connections: c.total(),
        tls: c.tls,
        plaintext: c.plaintext,
        other: c.other,
        cleartext_password: c.cleartext_password,
    }
}

fn by_client(conns: &[DiffConn]) -> BTreeMap<ClientKey, (Counts, String)> {
    let mut m: BTreeMap<ClientKey, (Counts, String)> = BTreeMap::new();
    for c in conns {
        let e = m.entry((c.client_ip.clone(), c.server.clone())).or_insert_with(|| (Counts::default(), String::new()));
        e.0.add(c);
        if e.1.is_empty() || e.1 == "unknown" {
            e.1 = c.engine.clone();
        }
    }
    m
}

fn certs_by_server(conns: &[DiffConn]) -> BTreeMap<String, BTreeSet<CertId>> {
    let mut m: BTreeMap<String, BTreeSet<CertId>> = BTreeMap::new();
    for c in conns {
        if let Some(cert) = &c.certificate {
            m.entry(c.server.clone()).or_default().insert(cert.clone());
        }
    }
    m
}

fn findings_by_key(conns: &[DiffConn]) -> BTreeMap<(String, String, String), FindingChange> {
    let mut m: BTreeMap<(String, String, String), FindingChange> = BTreeMap::new();
    for c in conns {
        for f in &c.findings {
            m.entry((f.id.clone(), c.client_ip.clone(), c.server.clone()))
                .or_insert_with(|| FindingChange {
                    id: f.id.clone(),
                    severity: f.severity.clone(),
                    client_ip: c.client_ip.clone(),
                    server: c.server.clone(),
                    connections: 0,
                    detail: f.detail.clone(),
                })
                .connections += 1;
        }
    }
    m
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// Compare two sides.
pub fn diff(before: &[DiffConn], after: &[DiffConn]) -> Diff {
    let b = by_client(before);
    let a = by_client(after);
    let mut d = Diff {
        before: totals(before),
        after: totals(after),
        moved_to_tls: Vec::new(),
        still_plaintext: Vec::new(),
        new_plaintext: Vec::new(),
        plaintext_not_seen_after: Vec::new(),
        certificate_changes: Vec::new(),
        new_findings: Vec::new(),
        resolved_findings: Vec::new(),
    };
    let keys: BTreeSet<&ClientKey> = b.keys().chain(a.keys()).collect();
    for key in keys {
        let (bc, be) = b.get(key).cloned().unwrap_or_default();
        let (ac, ae) = a.get(key).cloned().unwrap_or_default();
        let engine = if ae.is_empty() { be } else { ae };
        let change = ClientChange {
            client_ip: key.0.clone(),
            server: key.1.clone(),
            engine,
            before: bc.clone(),
            after: ac.clone(),
        };
        match (bc.plaintext > 0, ac.plaintext > 0) {
            (true, true) => d.still_plaintext.push(change),
            (false, true) => d.new_plaintext.push(change),
            (true, false) if ac.tls > 0 => d.moved_to_tls.push(change),
            (true, false) => d.plaintext_not_seen_after.push(change),
            (false, false) => {}
        }
    }

    let bcerts = certs_by_server(before);
    let acerts = certs_by_server(after);
    for (server, bset) in &bcerts {
        let Some(aset) = acerts.get(server) else { continue };
        if bset != aset {
            let issuers = |s: &BTreeSet<CertId>| s.iter().map(|c| c.issuer.clone()).collect::<BTreeSet<_>>();
            d.certificate_changes.push(CertChange {
                server: server.clone(),
                before: bset.iter().cloned().collect(),
                after: aset.iter().cloned().collect(),
                issuer_changed: issuers(bset) != issuers(aset),
            });
        }
    }

    let bf = findings_by_key(before);
    let af = findings_by_key(after);
    d.new_findings = af.iter().filter(|(k, _)| !bf.contains_key(*k)).map(|(_, v)| v.clone()).collect();
    d.resolved_findings = bf.iter().filter(|(k, _)| !af.contains_key(*k)).map(|(_, v)| v.clone()).collect();
    for list in [&mut d.new_findings, &mut d.resolved_findings] {
        list.sort_by_key(|f| {
            (Reverse(severity_rank(&f.severity)), f.id.clone(), f.client_ip.clone(), f.server.clone())
        });
    }
    d
}

/// The diff as one JSON document.
pub fn write_json(out: &mut dyn Write, d: &Diff) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, d)?;
    out.write_all(b"\n")
}

fn counts_text(c: &Counts) -> String {
    let mut s = format!("TLS {} / plaintext {}", c.tls, c.plaintext);
    if c.other > 0 {
        s.push_str(&format!(" / other {}", c.other));
    }
    if c.cleartext_password > 0 {
        s.push_str(&format!(" ({} cleartext password)", c.cleartext_password));
    }
    s
}

fn client_section(out: &mut dyn Write, title: &str, rows: &[ClientChange]) -> io::Result<()> {
    writeln!(out, "\n{title} ({}):", rows.len())?;
    if rows.is_empty() {
        return writeln!(out, "  none");
    }
    for r in rows {
        writeln!(
            out,
            "  {} → {}  {}  before: {}  after: {}",
            r.client_ip,
            r.server,
            r.engine,
            counts_text(&r.before),
            counts_text(&r.after)
        )?;
    }
    Ok(())
}

fn finding_section(out: &mut dyn Write, title: &str, rows: &[FindingChange]) -> io::Result<()> {
    writeln!(out, "\n{title} ({}):", rows.len())?;
    if rows.is_empty() {
        return writeln!(out, "  none");
    }
    for f in rows {
        writeln!(
            out,
            "  {:>8}  {}  {} → {}  ×{}  {}",
            f.severity, f.id, f.client_ip, f.server, f.connections, f.detail
        )?;
    }
    Ok(())
}

/// The diff as text for a terminal.
pub fn write_table(out: &mut dyn Write, d: &Diff) -> io::Result<()> {
    let side = |s: &SideTotals| {
        format!("{} connection(s): TLS {}, plaintext {}, other {}", s.connections, s.tls, s.plaintext, s.other)
    };
    writeln!(out, "before: {}", side(&d.before))?;
    writeln!(out, "after:  {}", side(&d.after))?;
    client_section(out, "Moved from plaintext to TLS", &d.moved_to_tls)?;
    client_section(out, "Still in plaintext", &d.still_plaintext)?;
    client_section(out, "New in plaintext", &d.new_plaintext)?;
    if !d.plaintext_not_seen_after.is_empty() {
        client_section(out, "Plaintext before, not seen after", &d.plaintext_not_seen_after)?;
    }
    writeln!(out, "\nCertificate changes ({}):", d.certificate_changes.len())?;
    if d.certificate_changes.is_empty() {
        writeln!(out, "  none")?;
    }
    for c in &d.certificate_changes {
        let what = if c.issuer_changed { "issuer changed (CA rotation)" } else { "certificate changed, same issuer" };
        writeln!(out, "  {}  {what}", c.server)?;
        for (label, certs) in [("before", &c.before), ("after", &c.after)] {
            for cert in certs {
                writeln!(
                    out,
                    "    {label:<6} {}  issuer {}  expires {}  sha256 {}",
                    cert.subject, cert.issuer, cert.not_after, cert.sha256
                )?;
            }
        }
    }
    finding_section(out, "New findings", &d.new_findings)?;
    finding_section(out, "Resolved findings", &d.resolved_findings)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(client: &str, server: &str, enc: &str, findings: &[&str], issuer: Option<&str>) -> DiffConn {
        DiffConn {
            client_ip: client_ip(client),
            server: server.into(),
            engine: "postgresql".into(),
            encryption: enc.into(),
            cleartext_password: false,
            certificate: issuer.map(|i| CertId {
                sha256: format!("sha-{i}"),
                subject: "CN=db".into(),
                issuer: i.into(),
                not_after: "2030-01-01T00:00:00Z".into(),
            }),
            findings: findings
                .iter()
                .map(|f| FindingId { id: f.to_string(), severity: "high".into(), detail: String::new() })
                .collect(),
        }
    }

    #[test]
    fn client_ip_strips_the_port() {
        assert_eq!(client_ip("10.0.0.7:50123"), "10.0.0.7");
        assert_eq!(client_ip("[::1]:5432"), "[::1]");
        assert_eq!(client_ip("garbage"), "garbage");
    }

    /// Ports differ between the runs; the client IP and server endpoint match them up.
    #[test]
    fn clients_are_classified_across_port_changes() {
        let before = [
            conn("10.0.0.1:40000", "10.0.0.9:5432", "plaintext", &["plaintext-sql"], None),
            conn("10.0.0.2:40001", "10.0.0.9:5432", "plaintext", &["plaintext-sql"], None),
            conn("10.0.0.3:40002", "10.0.0.9:5432", "tls", &[], Some("Old CA")),
            conn("10.0.0.4:40003", "10.0.0.9:5432", "plaintext", &[], None),
        ];
        let after = [
            conn("10.0.0.1:51000", "10.0.0.9:5432", "tls", &[], Some("New CA")),
            conn("10.0.0.2:51001", "10.0.0.9:5432", "plaintext", &["plaintext-sql"], None),
            conn("10.0.0.3:51002", "10.0.0.9:5432", "plaintext", &["tls-refused"], None),
        ];
        let d = diff(&before, &after);
        let ips = |v: &[ClientChange]| v.iter().map(|c| c.client_ip.clone()).collect::<Vec<_>>();
        assert_eq!(ips(&d.moved_to_tls), ["10.0.0.1"]);
        assert_eq!(ips(&d.still_plaintext), ["10.0.0.2"]);
        assert_eq!(ips(&d.new_plaintext), ["10.0.0.3"]);
        assert_eq!(ips(&d.plaintext_not_seen_after), ["10.0.0.4"]);
        assert_eq!(d.certificate_changes.len(), 1);
        assert!(d.certificate_changes[0].issuer_changed);
        let ids = |v: &[FindingChange]| v.iter().map(|f| (f.id.clone(), f.client_ip.clone())).collect::<Vec<_>>();
        assert_eq!(ids(&d.new_findings), [("tls-refused".to_string(), "10.0.0.3".to_string())]);
        assert_eq!(ids(&d.resolved_findings), [("plaintext-sql".to_string(), "10.0.0.1".to_string())]);
    }

    #[test]
    fn json_document_and_lines_both_read() {
        let line = r#"{"client":"1.2.3.4:5","server":"6.7.8.9:5432","engine":"postgresql","encryption":"tls","future_field":{"x":1},"findings":[{"id":"new-kind","severity":"medium","detail":"d","extra":true}]}"#;
        let doc = format!(r#"{{"tool":"dbwire","connections":[{line}]}}"#);
        let from_doc = conns_from_json_text(&doc).expect("document");
        let from_lines = conns_from_json_text(&format!("{line}\n{line}\n")).expect("lines");
        assert_eq!(from_doc.len(), 1);
        assert_eq!(from_lines.len(), 2);
        assert_eq!(from_doc[0], from_lines[0]);
        assert_eq!(from_doc[0].findings[0].id, "new-kind");
        assert!(matches!(conns_from_json_text("{\"tool\":\"x\"}"), Err(DiffError::NoConnections)));
        assert!(matches!(conns_from_json_text("not json\n"), Err(DiffError::Json(_))));
    }
}
