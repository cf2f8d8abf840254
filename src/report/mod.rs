//! Renderers: terminal summary, JSON lines, one JSON document.

pub mod csv;
pub mod html;
pub mod json;
pub mod table;

use std::collections::BTreeMap;
use std::io;

use crate::analyze::CaptureReport;
use crate::findings::{ConnectionReport, Encryption, Severity};

/// Per server endpoint: what its connections looked like.
#[derive(Debug, Clone, Default)]
pub struct ServerSummary {
    pub server: String,
    pub engines: Vec<&'static str>,
    pub versions: Vec<String>,
    pub tls: u64,
    pub plaintext: u64,
    pub gssapi: u64,
    pub nne: u64,
    pub unknown: u64,
    /// "TLSv1.3 TLS_AES_256_GCM_SHA384" → connections.
    pub tls_kinds: BTreeMap<String, u64>,
    /// Distinct leaf certificates (at most 8 per server).
    pub certificates: Vec<CertSeen>,
    pub tls13_cert_hidden: bool,
    pub clients: BTreeMap<String, u64>,
}

/// A leaf certificate a server presented, with what was concluded about its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSeen {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    /// The chain against `--ca-bundle` (`None`: no bundle given).
    pub trusted: Option<bool>,
    /// Known CA family of the issuer (e.g. `rds-ca-rsa2048-g1`).
    pub ca_family: Option<String>,
}

impl CertSeen {
    /// What the chain check and the CA family say, for the per-server views; empty when
    /// neither applies.
    pub fn verdict_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.trusted {
            Some(true) => out.push("chain trusted (--ca-bundle)".to_string()),
            Some(false) => out.push("chain NOT trusted (--ca-bundle)".to_string()),
            None => {}
        }
        if let Some(f) = &self.ca_family {
            out.push(format!("CA family {f}"));
        }
        out
    }
}

/// Totals across every capture of a run.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub captures: usize,
    pub packets: u64,
    pub connections: u64,
    pub by_encryption: BTreeMap<Encryption, u64>,
    pub servers: Vec<ServerSummary>,
    pub findings_by_severity: BTreeMap<Severity, u64>,
    /// Connections per finding, worst severity first.
    pub findings_by_id: BTreeMap<(std::cmp::Reverse<Severity>, &'static str), u64>,
    pub first: Option<String>,
    pub last: Option<String>,
}

/// One pass over every connection (read back from where the run kept them).
pub fn summarize(captures: &[CaptureReport]) -> io::Result<RunSummary> {
    let mut s = RunSummary { captures: captures.len(), ..RunSummary::default() };
    let mut servers: BTreeMap<String, ServerSummary> = BTreeMap::new();
    let mut first = None;
    let mut last = None;
    for cap in captures {
        s.packets += cap.read.packets;
        first = match (first, cap.first_ts) {
            (None, t) => t,
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
        };
        last = match (last, cap.last_ts) {
            (None, t) => t,
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, None) => a,
        };
        for c in cap.connections.iter() {
            let c = c?;
            s.connections += 1;
            *s.by_encryption.entry(c.encryption).or_default() += 1;
            for f in &c.findings {
                *s.findings_by_severity.entry(f.severity).or_default() += 1;
                *s.findings_by_id.entry((std::cmp::Reverse(f.severity), f.id)).or_default() += 1;
            }
            let e = servers
                .entry(c.server.clone())
                .or_insert_with(|| ServerSummary { server: c.server.clone(), ..ServerSummary::default() });
            add_connection(e, &c);
        }
    }
    s.first = first.map(|t| t.to_rfc3339());
    s.last = last.map(|t| t.to_rfc3339());
    s.servers = servers.into_values().collect();
    Ok(s)
}

fn add_connection(e: &mut ServerSummary, c: &ConnectionReport) {
    if !e.engines.contains(&c.engine) {
        e.engines.push(c.engine);
    }
    if let Some(v) = &c.server_version {
        if !e.versions.contains(v) {
            e.versions.push(v.clone());
        }
    }
    match c.encryption {
        Encryption::Tls => e.tls += 1,
        Encryption::Plaintext => e.plaintext += 1,
        Encryption::Gssapi => e.gssapi += 1,
        Encryption::Nne => e.nne += 1,
        Encryption::Unknown => e.unknown += 1,
    }
    let client_ip = c.client.rsplit_once(':').map(|(ip, _)| ip.to_string()).unwrap_or_default();
    *e.clients.entry(client_ip).or_default() += 1;
    if let Some(enc) = c.tns.as_ref().and_then(|t| t.nne_encryption()) {
        *e.tls_kinds.entry(format!("Oracle NNE {enc}")).or_default() += 1;
    }
    if let Some(t) = &c.tls {
        let mut kind =
            format!("{} {}", t.version.as_deref().unwrap_or("version?"), t.cipher.as_deref().unwrap_or("cipher?"));
        if c.encryption == Encryption::Plaintext {
            // TDS login-only encryption: this TLS protected the login, not the session.
            kind.push_str(" (login only)");
        }
        *e.tls_kinds.entry(kind).or_default() += 1;
        if let Some(cert) = &t.certificate {
            let seen = CertSeen {
                subject: cert.subject.clone(),
                issuer: cert.issuer.clone(),
                not_after: cert.not_after.clone(),
                trusted: t.chain_trusted,
                ca_family: t.ca_family.clone(),
            };
            if !e.certificates.contains(&seen) && e.certificates.len() < 8 {
                e.certificates.push(seen);
            }
        }
        if t.certificate_visibility == "encrypted" {
            e.tls13_cert_hidden = true;
        }
    }
}
