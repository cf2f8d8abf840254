//! The audit report: one self-contained HTML file (inline CSS and SVG, no scripts, no
//! network fetches) that an auditor can file.
//!
//! Every string from a capture is attacker-controlled (SNI, user names, SQL, certificate
//! names). The askama template `templates/report.html` escapes every value it prints and
//! nothing is marked `safe`; the charts are SVG whose geometry is computed here and whose
//! labels go through the same escaping.
//!
//! Findings are rendered generically (id, severity, detail) so new finding kinds need no
//! change here.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

use askama::Template;
use sha2::{Digest, Sha256};

use super::RunSummary;
use crate::analyze::CaptureReport;
use crate::findings::{ConnectionReport, Encryption, Severity};

/// One input file as the report's provenance names it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: String,
    pub bytes: u64,
    /// SHA-256 of the whole file, lower-case hex.
    pub sha256: String,
}

/// Hash a capture file for the provenance section (streamed, bounded memory).
pub fn hash_file(path: &Path) -> io::Result<InputFile> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(InputFile { path: path.display().to_string(), bytes, sha256 })
}

/// Where the report came from and what was in force when it was made.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// When the report was generated, RFC 3339.
    pub generated: String,
    pub inputs: Vec<InputFile>,
    /// Options and policy in force, as (name, value); rendered as given.
    pub options: Vec<(String, String)>,
}

/// Rows of a finding group listed in full; the rest are counted.
const MAX_ROWS_PER_FINDING: usize = 200;
/// Plaintext connections listed in full.
const MAX_PLAINTEXT_ROWS: usize = 500;
/// Queries shown per connection.
const MAX_QUERIES: usize = 3;

struct Verdict {
    class: &'static str,
    headline: String,
    detail: String,
}

struct CaptureRow {
    path: String,
    bytes: u64,
    sha256: String,
    packets: u64,
    first: String,
    last: String,
    connections: usize,
    warnings: Vec<String>,
}

struct OptionRow {
    name: String,
    value: String,
}

struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    class: &'static str,
    title: String,
}

struct Label {
    x: i64,
    y: i64,
    anchor: &'static str,
    class: &'static str,
    text: String,
}

struct Line {
    x1: i64,
    y1: i64,
    x2: i64,
    y2: i64,
    class: &'static str,
}

struct LegendItem {
    class: &'static str,
    label: String,
}

struct Chart {
    title: String,
    width: i64,
    height: i64,
    rects: Vec<Rect>,
    labels: Vec<Label>,
    lines: Vec<Line>,
    legend: Vec<LegendItem>,
    /// Shown instead of the drawing when there is nothing to draw.
    empty: String,
    note: String,
}

impl Chart {
    fn new(title: &str, width: i64) -> Chart {
        Chart {
            title: title.to_string(),
            width,
            height: 0,
            rects: Vec::new(),
            labels: Vec::new(),
            lines: Vec::new(),
            legend: Vec::new(),
            empty: String::new(),
            note: String::new(),
        }
    }
}

struct ServerRow {
    server: String,
    engines: String,
    versions: Vec<String>,
    tls: u64,
    plaintext: u64,
    other: u64,
    tls_kinds: Vec<String>,
    certificates: Vec<String>,
    /// Server names clients asked for (SNI), distinct.
    sni: Vec<String>,
    clients: usize,
}

struct FindingRow {
    client: String,
    server: String,
    capture: String,
    detail: String,
    evidence: Vec<String>,
}

struct FindingGroup {
    id: String,
    severity: &'static str,
    count: usize,
    rows: Vec<FindingRow>,
    more: usize,
}

struct PlainRow {
    client: String,
    server: String,
    engine: &'static str,
    capture: String,
    start: String,
    user: String,
    auth: String,
    cleartext_password: bool,
    query_count: u64,
    queries: Vec<String>,
    tls_refused: bool,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    version: &'static str,
    generated: String,
    span: String,
    packets: u64,
    connections: u64,
    captures: Vec<CaptureRow>,
    options: Vec<OptionRow>,
    verdict: Verdict,
    severity_counts: Vec<LegendItem>,
    charts: Vec<Chart>,
    servers: Vec<ServerRow>,
    findings: Vec<FindingGroup>,
    plaintext: Vec<PlainRow>,
    plaintext_more: usize,
    warnings: Vec<String>,
}

fn file_name(p: &str) -> String {
    Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| p.to_string())
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verdict(s: &RunSummary, cleartext_credentials: u64) -> Verdict {
    let n = |e| s.by_encryption.get(&e).copied().unwrap_or(0);
    let (tls, gss, nne, plain, unknown) = (
        n(Encryption::Tls),
        n(Encryption::Gssapi),
        n(Encryption::Nne),
        n(Encryption::Plaintext),
        n(Encryption::Unknown),
    );
    let total = s.connections;
    let detail = format!("TLS {tls} · GSSAPI {gss} · Oracle NNE {nne} · plaintext {plain} · unclassified {unknown}");
    if total == 0 {
        return Verdict { class: "warn", headline: "No database connections found".into(), detail };
    }
    if plain > 0 {
        let creds = if cleartext_credentials > 0 {
            format!("{cleartext_credentials} with cleartext credentials")
        } else {
            "no cleartext password seen".to_string()
        };
        return Verdict {
            class: "bad",
            headline: format!("{plain} of {} in plaintext — {creds}", plural(total, "connection", "connections")),
            detail,
        };
    }
    if unknown > 0 {
        return Verdict {
            class: "warn",
            headline: format!(
                "No plaintext seen; {unknown} of {} could not be classified",
                plural(total, "connection", "connections")
            ),
            detail,
        };
    }
    let headline = if total == 1 {
        "The database connection is encrypted".to_string()
    } else {
        format!("All {total} database connections encrypted")
    };
    Verdict { class: "ok", headline, detail }
}

fn enc_class(e: Encryption) -> &'static str {
    match e {
        Encryption::Tls => "tls",
        Encryption::Gssapi => "gssapi",
        Encryption::Nne => "nne",
        Encryption::Plaintext => "plaintext",
        Encryption::Unknown => "unknown",
    }
}

fn enc_label(e: Encryption) -> &'static str {
    match e {
        Encryption::Tls => "TLS",
        Encryption::Gssapi => "GSSAPI",
        Encryption::Nne => "Oracle NNE",
        Encryption::Plaintext => "plaintext",
        Encryption::Unknown => "unclassified",
    }
}

const ENCRYPTIONS: [Encryption; 5] =
    [Encryption::Tls, Encryption::Gssapi, Encryption::Nne, Encryption::Plaintext, Encryption::Unknown];

/// Horizontal bars, label column on the left.
const LABEL_W: i64 = 170;
const ROW_H: i64 = 26;
const BAR_H: i64 = 18;

/// What the page needs from the connections, gathered in one pass so that the
/// reports are read back one at a time: counts, distinct certificates, and the rows
/// listed in full (capped).
#[derive(Default)]
struct Tally {
    by_engine: BTreeMap<&'static str, BTreeMap<Encryption, u64>>,
    by_version: BTreeMap<String, u64>,
    /// Distinct leaf certificates by fingerprint, with the servers that presented them.
    certs: BTreeMap<String, (crate::x509::CertSummary, Vec<String>)>,
    /// TLS connections without an observable certificate.
    hidden_certs: u64,
    sni: BTreeMap<String, Vec<String>>,
    groups: BTreeMap<(Reverse<Severity>, String), FindingGroup>,
    plain: Vec<PlainRow>,
    plain_more: usize,
    cleartext_credentials: u64,
}

/// Distinct leaf certificates kept for the expiry chart; past it they are counted.
const MAX_DISTINCT_CERTS: usize = 4096;
/// Distinct SNI names listed per server.
const MAX_SNI: usize = 8;

impl Tally {
    fn add(&mut self, c: &ConnectionReport) {
        *self.by_engine.entry(c.engine).or_default().entry(c.encryption).or_default() += 1;
        if c.credentials.as_ref().is_some_and(|cr| cr.cleartext_password_seen) {
            self.cleartext_credentials += 1;
        }
        if let Some(t) = &c.tls {
            *self.by_version.entry(t.version.clone().unwrap_or_else(|| "not captured".into())).or_default() += 1;
            match &t.certificate {
                Some(cert) => {
                    let known = self.certs.contains_key(&cert.sha256);
                    if known || self.certs.len() < MAX_DISTINCT_CERTS {
                        let e = self.certs.entry(cert.sha256.clone()).or_insert_with(|| (cert.clone(), Vec::new()));
                        if !e.1.contains(&c.server) {
                            e.1.push(c.server.clone());
                        }
                    }
                }
                None => self.hidden_certs += 1,
            }
            if let Some(name) = &t.sni {
                let names = self.sni.entry(c.server.clone()).or_default();
                if !names.contains(name) && names.len() < MAX_SNI {
                    names.push(name.clone());
                }
            }
        }
        for f in &c.findings {
            let id = f.id.to_string();
            let g = self.groups.entry((Reverse(f.severity), id.clone())).or_insert_with(|| FindingGroup {
                id,
                severity: f.severity.as_str(),
                count: 0,
                rows: Vec::new(),
                more: 0,
            });
            g.count += 1;
            if g.rows.len() < MAX_ROWS_PER_FINDING {
                g.rows.push(FindingRow {
                    client: c.client.clone(),
                    server: c.server.clone(),
                    capture: file_name(&c.capture),
                    detail: f.detail.clone(),
                    evidence: evidence(c),
                });
            } else {
                g.more += 1;
            }
        }
        if c.encryption == Encryption::Plaintext {
            if self.plain.len() < MAX_PLAINTEXT_ROWS {
                self.plain.push(plain_row(c));
            } else {
                self.plain_more += 1;
            }
        }
    }
}

fn engine_chart(by_engine: &BTreeMap<&'static str, BTreeMap<Encryption, u64>>) -> Chart {
    let mut c = Chart::new("Connections by engine and encryption", 640);
    if by_engine.is_empty() {
        c.empty = "No database connections.".into();
        return c;
    }
    let max: u64 = by_engine.values().map(|m| m.values().sum::<u64>()).max().unwrap_or(1).max(1);
    let bar_w = c.width - LABEL_W - 60;
    for (row, (engine, counts)) in by_engine.iter().enumerate() {
        let y = 10 + row as i64 * ROW_H;
        c.labels.push(Label { x: LABEL_W - 8, y: y + 14, anchor: "end", class: "lbl", text: engine.to_string() });
        let mut x = LABEL_W;
        let mut total = 0;
        for e in ENCRYPTIONS {
            let n = counts.get(&e).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            total += n;
            let w = ((n as i64 * bar_w) / max as i64).max(2);
            c.rects.push(Rect {
                x,
                y,
                w,
                h: BAR_H,
                class: enc_class(e),
                title: format!("{engine}: {n} {}", enc_label(e)),
            });
            if w >= 24 {
                c.labels.push(Label { x: x + w / 2, y: y + 14, anchor: "middle", class: "inbar", text: n.to_string() });
            }
            x += w;
        }
        c.labels.push(Label { x: x + 6, y: y + 14, anchor: "start", class: "lbl", text: total.to_string() });
    }
    c.height = 20 + by_engine.len() as i64 * ROW_H;
    for e in ENCRYPTIONS {
        if by_engine.values().any(|m| m.contains_key(&e)) {
            c.legend.push(LegendItem { class: enc_class(e), label: enc_label(e).to_string() });
        }
    }
    c
}

fn is_old_tls(version: &str) -> bool {
    matches!(version, "SSLv2" | "SSLv3" | "TLSv1.0" | "TLSv1.1")
}

fn tls_version_chart(by_version: &BTreeMap<String, u64>) -> Chart {
    let mut c = Chart::new("TLS versions negotiated", 640);
    if by_version.is_empty() {
        c.empty = "No TLS connections.".into();
        return c;
    }
    let max = by_version.values().copied().max().unwrap_or(1).max(1);
    let bar_w = c.width - LABEL_W - 60;
    for (row, (version, n)) in by_version.iter().enumerate() {
        let y = 10 + row as i64 * ROW_H;
        let class = if is_old_tls(version) {
            "old"
        } else if version == "not captured" {
            "unknown"
        } else {
            "tls"
        };
        let w = ((*n as i64 * bar_w) / max as i64).max(2);
        c.labels.push(Label { x: LABEL_W - 8, y: y + 14, anchor: "end", class: "lbl", text: version.clone() });
        c.rects.push(Rect { x: LABEL_W, y, w, h: BAR_H, class, title: format!("{version}: {n}") });
        c.labels.push(Label { x: LABEL_W + w + 6, y: y + 14, anchor: "start", class: "lbl", text: n.to_string() });
    }
    c.height = 20 + by_version.len() as i64 * ROW_H;
    c.legend.push(LegendItem { class: "tls", label: "TLS 1.2 or later".into() });
    if by_version.keys().any(|v| is_old_tls(v)) {
        c.legend.push(LegendItem { class: "old", label: "older than TLS 1.2".into() });
    }
    c
}

fn year_start(year: i32) -> Option<i64> {
    let d = time::Date::from_calendar_date(year, time::Month::January, 1).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp())
}

fn year_of(unix: i64) -> Option<i32> {
    time::OffsetDateTime::from_unix_timestamp(unix).ok().map(|t| t.year())
}

fn day_of(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
        }
        Err(_) => unix.to_string(),
    }
}

/// Certificates expiring within this many seconds of the capture are flagged.
const EXPIRY_WARNING: i64 = 30 * 24 * 3600;

fn expiry_chart(tally: &Tally, capture_time: Option<i64>) -> Chart {
    let mut c = Chart::new("Certificate validity (leaf certificates seen)", 760);
    let certs = &tally.certs;
    let hidden = tally.hidden_certs;
    if hidden > 0 {
        c.note = format!(
            "{} without an observable certificate (TLS 1.3 encrypts it, or the handshake was not captured).",
            plural(hidden, "TLS connection", "TLS connections")
        );
    }
    if certs.is_empty() {
        c.empty = "No server certificate observed.".into();
        return c;
    }
    let mut rows: Vec<_> = certs.values().collect();
    rows.sort_by_key(|(cert, _)| (cert.not_after_unix, cert.subject.clone()));
    const MAX_CERTS: usize = 40;
    let more = rows.len().saturating_sub(MAX_CERTS);
    rows.truncate(MAX_CERTS);

    let mut lo = rows.iter().map(|(c, _)| c.not_before_unix).min().unwrap_or(0);
    let mut hi = rows.iter().map(|(c, _)| c.not_after_unix).max().unwrap_or(0);
    if let Some(t) = capture_time {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    // Whole years on the axis.
    let (y0, y1) = (year_of(lo).unwrap_or(1970), year_of(hi).unwrap_or(1970).saturating_add(1));
    let (lo, hi) = (year_start(y0).unwrap_or(lo), year_start(y1).unwrap_or(hi));
    let span = (hi - lo).max(1);
    let left = 260;
    let plot_w = c.width - left - 20;
    let x_of = |t: i64| left + ((t.clamp(lo, hi) - lo) as i128 * plot_w as i128 / span as i128) as i64;
    let top = 24;
    let height = top + rows.len() as i64 * ROW_H;

    let years = (y1 - y0).max(1);
    let step = ((years + 9) / 10).max(1);
    let mut y = y0;
    while y <= y1 {
        if let Some(t) = year_start(y) {
            let x = x_of(t);
            c.lines.push(Line { x1: x, y1: top - 4, x2: x, y2: height, class: "grid" });
            c.labels.push(Label { x, y: top - 8, anchor: "middle", class: "axis", text: y.to_string() });
        }
        y += step;
    }
    for (i, (cert, servers)) in rows.iter().enumerate() {
        let y = top + i as i64 * ROW_H + 4;
        let class = match capture_time {
            Some(t) if cert.not_after_unix < t || cert.not_before_unix > t => "expired",
            Some(t) if cert.not_after_unix - t < EXPIRY_WARNING => "warn",
            _ => "tls",
        };
        let name: String = cert.subject.chars().take(38).collect();
        c.labels.push(Label { x: left - 8, y: y + 13, anchor: "end", class: "lbl", text: name });
        let (x0, x1) = (x_of(cert.not_before_unix), x_of(cert.not_after_unix));
        c.rects.push(Rect {
            x: x0,
            y,
            w: (x1 - x0).max(2),
            h: BAR_H - 2,
            class,
            title: format!(
                "{} — issuer {} — valid {} to {} — server {}",
                cert.subject,
                cert.issuer,
                day_of(cert.not_before_unix),
                day_of(cert.not_after_unix),
                servers.join(", ")
            ),
        });
    }
    if let Some(t) = capture_time {
        let x = x_of(t);
        c.lines.push(Line { x1: x, y1: top - 4, x2: x, y2: height, class: "now" });
        c.legend.push(LegendItem { class: "now", label: format!("capture time {}", day_of(t)) });
    }
    c.legend.push(LegendItem { class: "tls", label: "valid".into() });
    c.legend.push(LegendItem { class: "warn", label: "expires within 30 days".into() });
    c.legend.push(LegendItem { class: "expired", label: "expired or not yet valid at capture time".into() });
    if more > 0 {
        c.note = format!("{} … and {more} more certificate(s) not drawn.", c.note).trim().to_string();
    }
    c.height = height + 6;
    c
}

/// What a reader needs to judge a finding on one connection, already redacted:
/// SQL comes as the engine redacted it, passwords are never held.
fn evidence(c: &ConnectionReport) -> Vec<String> {
    let mut out = vec![format!("{} · {}", c.engine, enc_label(c.encryption))];
    if let Some(cr) = &c.credentials {
        if let Some(u) = &cr.user {
            out.push(format!("user {u}"));
        }
        if let Some(d) = &cr.database {
            out.push(format!("database {d}"));
        }
        if let Some(a) = &cr.auth_method {
            out.push(format!("authentication {a}"));
        }
        if cr.cleartext_password_seen {
            out.push("cleartext password on the wire (value not shown)".into());
        }
    }
    if let Some(t) = &c.tls {
        let mut s =
            format!("{} {}", t.version.as_deref().unwrap_or("version not captured"), t.cipher.as_deref().unwrap_or(""));
        if let Some(sni) = &t.sni {
            s.push_str(&format!(" · SNI {sni}"));
        }
        out.push(s.trim().to_string());
        if let Some(cert) = &t.certificate {
            out.push(format!("certificate {} issued by {} valid until {}", cert.subject, cert.issuer, cert.not_after));
        }
    }
    if let Some(p) = &c.plaintext {
        for q in p.queries.iter().take(MAX_QUERIES) {
            out.push(format!("SQL: {q}"));
        }
    }
    out
}

fn server_rows(s: &RunSummary, sni: &BTreeMap<String, Vec<String>>) -> Vec<ServerRow> {
    s.servers
        .iter()
        .map(|srv| {
            let mut certificates: Vec<String> = srv
                .certificates
                .iter()
                .map(|c| {
                    let mut parts =
                        vec![c.subject.clone(), format!("issuer {}", c.issuer), format!("expires {}", c.not_after)];
                    parts.extend(c.verdict_lines());
                    parts.join(" — ")
                })
                .collect();
            if srv.tls13_cert_hidden {
                certificates.push("TLS 1.3: certificate encrypted, not observable".into());
            }
            ServerRow {
                server: srv.server.clone(),
                engines: srv.engines.join(", "),
                versions: srv.versions.clone(),
                tls: srv.tls,
                plaintext: srv.plaintext,
                other: srv.gssapi + srv.unknown,
                tls_kinds: srv.tls_kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect(),
                certificates,
                sni: sni.get(srv.server.as_str()).cloned().unwrap_or_default(),
                clients: srv.clients.len(),
            }
        })
        .collect()
}

fn plain_row(c: &ConnectionReport) -> PlainRow {
    let cr = c.credentials.as_ref();
    PlainRow {
        client: c.client.clone(),
        server: c.server.clone(),
        engine: c.engine,
        capture: file_name(&c.capture),
        start: c.start.clone(),
        user: cr.and_then(|cr| cr.user.clone()).unwrap_or_default(),
        auth: cr.and_then(|cr| cr.auth_method.clone()).unwrap_or_default(),
        cleartext_password: cr.is_some_and(|cr| cr.cleartext_password_seen),
        query_count: c.plaintext.as_ref().map_or(0, |p| p.query_count),
        queries: c
            .plaintext
            .as_ref()
            .map(|p| p.queries.iter().take(MAX_QUERIES).cloned().collect())
            .unwrap_or_default(),
        tls_refused: c.findings.iter().any(|f| f.id == "tls-refused"),
    }
}

/// Render the report to `out`.
pub fn write_html(
    out: &mut dyn Write,
    captures: &[CaptureReport],
    s: &RunSummary,
    prov: &Provenance,
) -> io::Result<()> {
    let page = build_page(captures, s, prov)?;
    let html = page.render().map_err(io::Error::other)?;
    out.write_all(html.as_bytes())
}

fn build_page(captures: &[CaptureReport], s: &RunSummary, prov: &Provenance) -> io::Result<ReportPage> {
    let mut tally = Tally::default();
    for c in captures.iter().flat_map(|c| c.connections.iter()) {
        tally.add(&c?);
    }
    let capture_time = captures.iter().filter_map(|c| c.last_ts).max().map(|t| t.secs() as i64);

    let hashes: BTreeMap<&str, &InputFile> = prov.inputs.iter().map(|f| (f.path.as_str(), f)).collect();
    let capture_rows = captures
        .iter()
        .map(|c| {
            let h = hashes.get(c.path.as_str());
            CaptureRow {
                path: c.path.clone(),
                bytes: h.map_or(c.read.bytes_read, |h| h.bytes),
                sha256: h.map(|h| h.sha256.clone()).unwrap_or_else(|| "not computed".into()),
                packets: c.read.packets,
                first: c.first_ts.map(|t| t.to_rfc3339()).unwrap_or_default(),
                last: c.last_ts.map(|t| t.to_rfc3339()).unwrap_or_default(),
                connections: c.connections.len(),
                warnings: c.warnings.clone(),
            }
        })
        .collect();

    let span = match (&s.first, &s.last) {
        (Some(a), Some(b)) => format!("{a} → {b}"),
        _ => "no packets".to_string(),
    };
    let severity_counts = s
        .findings_by_severity
        .iter()
        .rev()
        .map(|(sev, n)| LegendItem { class: sev.as_str(), label: format!("{} {n}", sev.as_str()) })
        .collect();

    Ok(ReportPage {
        version: env!("CARGO_PKG_VERSION"),
        generated: prov.generated.clone(),
        span,
        packets: s.packets,
        connections: s.connections,
        captures: capture_rows,
        options: prov.options.iter().map(|(n, v)| OptionRow { name: n.clone(), value: v.clone() }).collect(),
        verdict: verdict(s, tally.cleartext_credentials),
        severity_counts,
        charts: vec![
            engine_chart(&tally.by_engine),
            tls_version_chart(&tally.by_version),
            expiry_chart(&tally, capture_time),
        ],
        servers: server_rows(s, &tally.sni),
        findings: tally.groups.into_values().collect(),
        plaintext: tally.plain,
        plaintext_more: tally.plain_more,
        warnings: captures.iter().flat_map(|c| c.warnings.iter().map(move |w| format!("{}: {w}", c.path))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze_file, AnalyzeConfig};
    use crate::findings::log::ConnectionList;

    fn shipped(name: &str) -> CaptureReport {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures").join(name);
        analyze_file(&p, &AnalyzeConfig::default(), &mut |_| {}).expect("shipped capture")
    }

    fn tally_of(conns: &[ConnectionReport]) -> Tally {
        let mut t = Tally::default();
        conns.iter().for_each(|c| t.add(c));
        t
    }

    fn render(caps: &[CaptureReport]) -> String {
        let s = super::super::summarize(caps).expect("summary");
        let mut out = Vec::new();
        write_html(&mut out, caps, &s, &Provenance::default()).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    /// Capture fields are attacker-controlled: markup in them must come out as text.
    #[test]
    fn capture_strings_are_escaped() {
        let mut plain = shipped("pg-plain.pcap");
        let mut tls = shipped("pg-tls12.pcap");
        let hostile = "<script>alert(1)</script>";
        {
            let mut v = plain.connections.to_vec().expect("reports");
            let c = &mut v[0];
            c.credentials.as_mut().expect("pg-plain has a login").user = Some(hostile.into());
            c.plaintext.as_mut().expect("pg-plain is plaintext").queries = vec![format!("SELECT '{hostile}'")];
            c.server = format!("{hostile}:5432");
            plain.connections = ConnectionList::from_reports(&v);
        }
        {
            let mut v = tls.connections.to_vec().expect("reports");
            let t = v[0].tls.as_mut().expect("pg-tls12 is TLS");
            t.sni = Some("\"><script>x</script>".into());
            t.certificate.as_mut().expect("TLS 1.2 shows the certificate").subject = format!("CN={hostile}");
            tls.connections = ConnectionList::from_reports(&v);
        }
        let html = render(&[plain, tls]);
        assert!(!html.contains("<script"), "unescaped markup in the report");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "hostile text should appear escaped");
        assert!(html.contains("&quot;&gt;&lt;script&gt;x&lt;/script&gt;"), "SNI should appear escaped");
    }

    #[test]
    fn verdict_counts_plaintext_and_cleartext_credentials() {
        let caps = [shipped("pg-plain.pcap"), shipped("pg-cleartext-password.pcap"), shipped("mysql-tls12.pcap")];
        let html = render(&caps);
        assert!(html.contains("2 of 3 connections in plaintext — 1 with cleartext credentials"), "{html}");
        let ok = render(&[shipped("pg-tls12.pcap"), shipped("mysql-tls12.pcap")]);
        assert!(ok.contains("All 2 database connections encrypted"));
        assert!(!ok.contains("in plaintext —"));
    }

    #[test]
    fn report_shows_certificate_and_never_a_password() {
        let html = render(&[shipped("pg-tls12.pcap"), shipped("pg-cleartext-password.pcap")]);
        // Facts from captures/expected.jsonl.
        assert!(html.contains("dbwire Test Root CA"));
        assert!(html.contains("TLSv1.2"));
        assert!(html.contains("cleartext-password"));
        assert!(html.contains("value not shown"));
        // scripts/record-captures.sh logs in as "legacy" with LEGACY_PW, sent in the clear.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = std::fs::read_to_string(root.join("scripts/record-captures.sh")).expect("recording script");
        let secret = script
            .lines()
            .find_map(|l| l.strip_prefix("LEGACY_PW="))
            .and_then(|v| v.split_whitespace().next())
            .expect("LEGACY_PW in the recording script");
        let pcap = std::fs::read(root.join("captures/pg-cleartext-password.pcap")).expect("capture");
        assert!(pcap.windows(secret.len()).any(|w| w == secret.as_bytes()), "the capture holds the password");
        assert!(!html.contains(secret), "password leaked into the report");
        assert!(!html.contains("http://") && !html.contains("https://"), "the report must not reference the network");
    }

    /// The pg-tls12 certificate is valid 2025-2035 (expected.jsonl): valid at capture
    /// time; moved to expire before the capture, it is drawn as expired.
    #[test]
    fn expiry_chart_marks_expired_certificates() {
        let cap = shipped("pg-tls12.pcap");
        let t = cap.last_ts.expect("packets").secs() as i64;
        let mut owned = cap.connections.to_vec().expect("reports");
        let chart = expiry_chart(&tally_of(&owned), Some(t));
        assert_eq!(chart.rects.len(), 1);
        assert_eq!(chart.rects[0].class, "tls");
        assert!(chart.labels.iter().any(|l| l.text == "2035"), "axis runs to the expiry year");

        let cert = owned[0].tls.as_mut().and_then(|t| t.certificate.as_mut()).expect("certificate");
        cert.not_after_unix = t - 86_400;
        assert_eq!(expiry_chart(&tally_of(&owned), Some(t)).rects[0].class, "expired");
        let cert = owned[0].tls.as_mut().and_then(|t| t.certificate.as_mut()).expect("certificate");
        cert.not_after_unix = t + 86_400;
        assert_eq!(expiry_chart(&tally_of(&owned), Some(t)).rects[0].class, "warn");
    }

    /// TLS 1.3 hides the certificate: nothing to draw, and the chart says why.
    #[test]
    fn expiry_chart_explains_hidden_certificates() {
        let cap = shipped("pg-tls13.pcap");
        let owned = cap.connections.to_vec().expect("reports");
        let chart = expiry_chart(&tally_of(&owned), None);
        assert!(chart.rects.is_empty());
        assert!(!chart.empty.is_empty());
        assert!(chart.note.contains("1 TLS connection without an observable certificate"), "{}", chart.note);
    }

    #[test]
    fn old_tls_versions_are_marked() {
        assert!(is_old_tls("TLSv1.0") && is_old_tls("SSLv3"));
        assert!(!is_old_tls("TLSv1.2") && !is_old_tls("TLSv1.3"));
    }
}
