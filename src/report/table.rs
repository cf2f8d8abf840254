//! The terminal summary a person reads in ten seconds: per server endpoint, then the
//! plaintext connections with their evidence, then findings and warnings.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};

use super::{RunSummary, ServerSummary};
use crate::analyze::CaptureReport;
use crate::findings::{ConnectionReport, Encryption, Severity};

/// How the table renders.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    pub color: bool,
    /// Terminal width; `None` lets comfy-table pick (or no limit when not a terminal).
    pub width: Option<u16>,
}

fn new_table(style: TableStyle) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = style.width {
        t.set_width(w);
    }
    if style.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

fn colored(text: impl Into<String>, color: Color, style: TableStyle) -> Cell {
    let c = Cell::new(text.into());
    if style.color {
        c.fg(color)
    } else {
        c
    }
}

fn severity_color(s: Severity) -> Color {
    match s {
        Severity::Critical | Severity::High => Color::Red,
        Severity::Medium => Color::Yellow,
        Severity::Low => Color::Cyan,
        Severity::Info => Color::Grey,
    }
}

fn count_cell(n: u64, color: Color, style: TableStyle) -> Cell {
    if n == 0 {
        Cell::new("0")
    } else {
        colored(n.to_string(), color, style)
    }
}

fn server_row(s: &ServerSummary, style: TableStyle) -> Vec<Cell> {
    let tls_kinds = s.tls_kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join("\n");
    let mut certs: Vec<String> = s
        .certificates
        .iter()
        .map(|c| {
            let mut lines =
                vec![c.subject.clone(), format!("  issuer {}", c.issuer), format!("  expires {}", c.not_after)];
            lines.extend(c.verdict_lines().into_iter().map(|l| format!("  {l}")));
            lines.join("\n")
        })
        .collect();
    if s.tls13_cert_hidden {
        certs.push("(TLS 1.3: certificate encrypted, not observable)".into());
    }
    vec![
        Cell::new(&s.server),
        Cell::new(s.engines.join(", ")),
        Cell::new(s.versions.join("\n")),
        count_cell(s.tls, Color::Green, style),
        count_cell(s.plaintext, Color::Red, style),
        count_cell(s.unknown + s.gssapi + s.nne, Color::Yellow, style),
        Cell::new(tls_kinds),
        Cell::new(certs.join("\n")),
    ]
}

fn evidence(c: &ConnectionReport) -> String {
    let mut parts = Vec::new();
    if let Some(cr) = &c.credentials {
        if cr.cleartext_password_seen {
            parts.push("CLEARTEXT PASSWORD (not shown)".to_string());
        }
        if let Some(u) = &cr.user {
            parts.push(format!("user {u}"));
        }
    }
    if let Some(p) = &c.plaintext {
        if p.query_count > 0 {
            parts.push(format!("{} quer{}", p.query_count, if p.query_count == 1 { "y" } else { "ies" }));
            for q in p.queries.iter().take(2) {
                parts.push(format!("  {q}"));
            }
        } else {
            parts.push(format!("{} message(s), no SQL", p.messages));
        }
    }
    for f in &c.findings {
        if f.id == "tls-refused" || f.id == "tls-not-offered" {
            parts.push(f.id.to_string());
        }
    }
    parts.join("\n")
}

/// Render the run.
pub fn write_table(
    out: &mut dyn Write,
    captures: &[CaptureReport],
    s: &RunSummary,
    style: TableStyle,
) -> io::Result<()> {
    let n = |e| s.by_encryption.get(&e).copied().unwrap_or(0);
    let span = match (&s.first, &s.last) {
        (Some(a), Some(b)) => format!(", {a} → {b}"),
        _ => String::new(),
    };
    writeln!(
        out,
        "dbwire: {} database connection(s) in {} capture(s), {} packets{span}",
        s.connections, s.captures, s.packets
    )?;
    writeln!(
        out,
        "  TLS {}   plaintext {}   GSSAPI {}   unknown {}",
        n(Encryption::Tls),
        n(Encryption::Plaintext),
        n(Encryption::Gssapi),
        n(Encryption::Unknown)
    )?;
    if n(Encryption::Nne) > 0 {
        writeln!(out, "  Oracle NNE {}", n(Encryption::Nne))?;
    }

    if !s.servers.is_empty() {
        let mut t = new_table(style);
        t.set_header(
            ["Server", "Engine", "Version", "TLS", "Plain", "Other", "TLS version / cipher", "Certificate"]
                .into_iter()
                .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
        );
        for srv in &s.servers {
            t.add_row(server_row(srv, style));
        }
        writeln!(out, "\n{t}")?;
    }

    let plain = n(Encryption::Plaintext);
    if plain > 0 {
        writeln!(out, "\nPlaintext connections ({plain}):")?;
        let mut t = new_table(style);
        t.set_header(
            ["Client → server", "Engine", "Capture", "Evidence"]
                .into_iter()
                .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
        );
        const MAX_ROWS: usize = 50;
        for c in captures.iter().flat_map(|c| c.connections.plaintext()).take(MAX_ROWS) {
            let c = c?;
            let capture = std::path::Path::new(&c.capture)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            t.add_row(vec![
                Cell::new(format!("{}\n→ {}", c.client, c.server)),
                Cell::new(c.engine),
                Cell::new(capture),
                Cell::new(evidence(&c)),
            ]);
        }
        writeln!(out, "{t}")?;
        if plain > MAX_ROWS as u64 {
            writeln!(out, "  … and {} more (use --format jsonl for all)", plain - MAX_ROWS as u64)?;
        }
    }

    if !s.findings_by_severity.is_empty() {
        writeln!(out, "\nFindings:")?;
        for ((sev, id), count) in &s.findings_by_id {
            let label = format!("{:>8}", sev.0.as_str());
            let label = if style.color { paint(&label, severity_color(sev.0)) } else { label };
            writeln!(out, "  {label}  {id} ×{count}")?;
        }
    }

    let warnings: Vec<String> =
        captures.iter().flat_map(|c| c.warnings.iter().map(move |w| format!("{}: {w}", c.path))).collect();
    if !warnings.is_empty() {
        writeln!(out, "\nWarnings:")?;
        for w in warnings {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}

fn paint(s: &str, c: Color) -> String {
    let code = match c {
        Color::Red => "31",
        Color::Yellow => "33",
        Color::Cyan => "36",
        Color::Green => "32",
        _ => "90",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}
