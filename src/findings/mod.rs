//! The connection verdict model: from what the flow, engine and TLS layers observed to
//! "is this connection encrypted, how, and what is wrong with it".

pub mod checks;
pub mod log;
pub mod policy;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use checks::CheckContext;

use crate::engine::dissect::{Dissector, Recognition};
use crate::engine::tns::TnsFacts;
use crate::engine::{AuthMethod, EngineKind, Observed};
use crate::flow::{ConnMeta, Direction};
use crate::tls::{self, CertVisibility, TlsSummary};
use crate::x509::CertSummary;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// Is the connection encrypted on the wire? (JSON `encryption`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    Tls,
    Gssapi,
    /// Oracle Native Network Encryption negotiated in the ANO exchange.
    Nne,
    Plaintext,
    Unknown,
}

impl Encryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Tls => "tls",
            Encryption::Gssapi => "gssapi",
            Encryption::Nne => "nne",
            Encryption::Plaintext => "plaintext",
            Encryption::Unknown => "unknown",
        }
    }
}

/// One problem or fact worth a line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(deserialize_with = "log::de_static")]
    pub id: log::StaticName,
    pub severity: Severity,
    pub detail: String,
}

/// TLS details of a connection (JSON `tls`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsReport {
    #[serde(deserialize_with = "log::de_static")]
    pub upgrade: log::StaticName,
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub cipher_id: Option<String>,
    pub sni: Option<String>,
    pub alpn: Option<String>,
    pub alpn_offered: Vec<String>,
    pub client_versions: Vec<String>,
    pub hello_retry_request: bool,
    /// `seen`, `encrypted` (TLS 1.3: not observable), or `not-captured`.
    #[serde(deserialize_with = "log::de_static")]
    pub certificate_visibility: log::StaticName,
    /// Leaf certificate.
    pub certificate: Option<CertSummary>,
    /// Further certificates the server sent (intermediates, roots).
    pub chain: Vec<CertSummary>,
    pub handshake_seen: bool,
    pub alerts: Vec<String>,
    /// JA3 client fingerprint string and its MD5 (of the first ClientHello).
    pub ja3: Option<String>,
    pub ja3_hash: Option<String>,
    /// JA4 client fingerprint.
    pub ja4: Option<String>,
    /// The chain leads to an anchor of `--ca-bundle` (null: no bundle, or not observable).
    pub chain_trusted: Option<bool>,
    /// Known CA family of the issuer (`data/ca-families.toml`), e.g. `rds-ca-2019`.
    pub ca_family: Option<String>,
}

/// Plaintext evidence (JSON `plaintext`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaintextReport {
    /// Protocol messages parsed in the clear.
    pub messages: u64,
    /// Queries seen in the clear (all of them, not only those listed).
    pub query_count: u64,
    /// Redacted query texts (first few distinct).
    pub queries: Vec<String>,
}

/// Login facts (JSON `credentials`). Never holds a password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialsReport {
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    /// Client host name the login announced (TDS LOGIN7).
    pub client_host: Option<String>,
    pub auth_method: Option<String>,
    pub cleartext_password_seen: bool,
    pub login_ok: Option<bool>,
}

/// The verdict for one TCP connection: one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub capture: String,
    pub client: String,
    pub server: String,
    #[serde(deserialize_with = "log::de_static")]
    pub engine: log::StaticName,
    pub encryption: Encryption,
    pub start: String,
    pub end: String,
    pub packets: u64,
    pub bytes: u64,
    pub server_version: Option<String>,
    /// The TCP handshake was captured (false: mid-stream, roles inferred).
    pub handshake_seen: bool,
    pub tls: Option<TlsReport>,
    pub plaintext: Option<PlaintextReport>,
    pub credentials: Option<CredentialsReport>,
    /// Oracle Net facts (connect descriptor, refusal, NNE negotiation); TNS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tns: Option<TnsFacts>,
    pub findings: Vec<Finding>,
    /// Capture gaps: bytes missing from the capture, per direction [to server, to client].
    pub missing_bytes: [u64; 2],
    #[serde(skip)]
    pub start_ns: u64,
    #[serde(skip)]
    pub end_ns: u64,
}

impl ConnectionReport {
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Whether a finished connection belongs in the report at all: database protocol
/// recognised, or traffic on a database port.
pub fn is_reportable(d: &Dissector) -> bool {
    match d.recognition() {
        Recognition::Engine => true,
        Recognition::TlsOnly => d.obs.engine != EngineKind::Unknown,
        Recognition::NotDatabase | Recognition::Undecided => d.port_hint() != EngineKind::Unknown && d.saw_payload(),
    }
}

fn hex_u16(v: u16) -> String {
    format!("0x{v:04x}")
}

fn tls_report(obs: &Observed, s: Option<&TlsSummary>) -> Option<TlsReport> {
    let upgrade = obs.tls_upgrade?;
    let empty = TlsSummary::default();
    let s = s.unwrap_or(&empty);
    let mut certs = s.certificates.iter().cloned();
    let certificate = certs.next();
    let tls13 = s.version == Some(0x0304);
    Some(TlsReport {
        upgrade: upgrade.as_str(),
        version: s.version.map(tls::version_name),
        cipher: s.cipher.map(|c| tls::cipher_name(c).map(str::to_string).unwrap_or_else(|| hex_u16(c))),
        cipher_id: s.cipher.map(hex_u16),
        sni: s.sni.clone(),
        alpn: s.alpn.clone(),
        alpn_offered: s.alpn_offered.clone(),
        client_versions: s.offered_versions.iter().map(|&v| tls::version_name(v)).collect(),
        hello_retry_request: s.hello_retry_request,
        certificate_visibility: match s.cert_visibility {
            CertVisibility::Seen => "seen",
            CertVisibility::EncryptedTls13 => "encrypted",
            CertVisibility::NotSeen if tls13 => "encrypted",
            CertVisibility::NotSeen => "not-captured",
        },
        certificate,
        chain: certs.collect(),
        handshake_seen: s.client_hello_seen || s.server_hello_seen,
        alerts: s
            .alerts
            .iter()
            .map(|a| {
                let from = if a.dir == Direction::ToServer { "client" } else { "server" };
                format!("{from} alert level {} description {}", a.level, a.description)
            })
            .collect(),
        ja3: s.fingerprint.as_ref().map(|f| f.ja3.clone()),
        ja3_hash: s.fingerprint.as_ref().map(|f| f.ja3_hash.clone()),
        ja4: s.fingerprint.as_ref().map(|f| f.ja4.clone()),
        chain_trusted: None,
        ca_family: None,
    })
}

/// Build the verdict for one finished connection with the built-in policy and no CA
/// bundle.
pub fn assess(capture: &str, meta: &ConnMeta, d: &Dissector) -> ConnectionReport {
    static DEFAULT: OnceLock<CheckContext> = OnceLock::new();
    assess_with(capture, meta, d, DEFAULT.get_or_init(CheckContext::default))
}

/// Build the verdict for one finished connection: TLS and certificate checks, then the
/// policy (which has the last word on severities).
pub fn assess_with(capture: &str, meta: &ConnMeta, d: &Dissector, ctx: &CheckContext) -> ConnectionReport {
    // The bytes showed the inferred roles were reversed: report them the right way round.
    let swapped_meta;
    let meta = if d.roles_swapped() {
        let mut m = meta.clone();
        std::mem::swap(&mut m.client, &mut m.server);
        m.packets.swap(0, 1);
        m.bytes.swap(0, 1);
        m.gap_bytes.swap(0, 1);
        m.overlap_conflict_bytes.swap(0, 1);
        swapped_meta = m;
        &swapped_meta
    } else {
        meta
    };
    let obs = &d.obs;
    let summary = d.tls.as_deref().map(|t| t.summary());
    let tls_records = summary.is_some_and(|s| s.records_seen);

    // Login-only TLS (TDS ENCRYPT_OFF on both sides) leaves the session in the clear.
    let encryption = if obs.tls_login_only {
        Encryption::Plaintext
    } else if obs.tls_upgrade.is_some() && (tls_records || obs.tls_requested) {
        Encryption::Tls
    } else if obs.gss_accepted {
        Encryption::Gssapi
    } else if d.tns_facts().is_some_and(|t| t.nne_encryption().is_some()) {
        Encryption::Nne
    } else if obs.plaintext_messages > 0 {
        Encryption::Plaintext
    } else {
        Encryption::Unknown
    };

    let tls = if encryption == Encryption::Tls || obs.tls_login_only { tls_report(obs, summary) } else { None };

    let plaintext = (obs.plaintext_messages > 0 && encryption != Encryption::Tls).then(|| PlaintextReport {
        messages: obs.plaintext_messages,
        query_count: obs.query_count,
        queries: obs.queries.clone(),
    });

    let credentials =
        (obs.user.is_some() || obs.cleartext_password_seen || obs.auth_method.is_some()).then(|| CredentialsReport {
            user: obs.user.clone(),
            database: obs.database.clone(),
            application_name: obs.application_name.clone(),
            client_host: obs.client_host.clone(),
            auth_method: obs.auth_method.as_ref().map(AuthMethod::describe),
            cleartext_password_seen: obs.cleartext_password_seen,
            login_ok: obs.auth_ok,
        });

    let mut report = ConnectionReport {
        capture: capture.to_string(),
        client: meta.client.to_string(),
        server: meta.server.to_string(),
        engine: obs.engine.as_str(),
        encryption,
        start: meta.start.to_rfc3339(),
        end: meta.end.to_rfc3339(),
        packets: meta.packets[0] + meta.packets[1],
        bytes: meta.bytes[0] + meta.bytes[1],
        server_version: obs.server_version.clone(),
        handshake_seen: meta.handshake_seen,
        tls,
        plaintext,
        credentials,
        tns: d.tns_facts().cloned(),
        findings: Vec::new(),
        missing_bytes: meta.gap_bytes,
        start_ns: meta.start.0,
        end_ns: meta.end.0,
    };
    report.findings = findings(&report, meta, d);
    if report.encryption == Encryption::Tls {
        if let Some(s) = summary {
            let mut more = Vec::new();
            let start_unix = i64::try_from(meta.start.0 / 1_000_000_000).unwrap_or(i64::MAX);
            checks::tls_checks(&mut report, s, start_unix, ctx, &mut more);
            report.findings.extend(more);
        }
    }
    checks::apply_policy(&mut report, ctx);
    report
}

fn findings(r: &ConnectionReport, meta: &ConnMeta, d: &Dissector) -> Vec<Finding> {
    let obs = &d.obs;
    let mut out = Vec::new();
    let mut add = |id: &'static str, severity: Severity, detail: String| out.push(Finding { id, severity, detail });

    if obs.cleartext_password_seen && obs.password_obfuscated {
        let who = obs.user.as_deref().map(|u| format!(" for user \"{u}\"")).unwrap_or_default();
        add(
            "cleartext-credentials",
            Severity::Critical,
            format!(
                "the login{who} crossed the network in the clear; its password is only XOR-obfuscated \
                 and trivially recoverable (value not shown)"
            ),
        );
    } else if obs.cleartext_password_seen {
        let who = obs.user.as_deref().map(|u| format!(" for user \"{u}\"")).unwrap_or_default();
        add(
            "cleartext-password",
            Severity::Critical,
            format!("a password{who} crossed the network in the clear (value not shown)"),
        );
    }
    match r.encryption {
        Encryption::Plaintext => {
            if obs.tls_requested && obs.tls_refused {
                add(
                    "tls-refused",
                    Severity::High,
                    "the client asked for TLS, the server refused, and the session continued in plaintext".into(),
                );
            } else if obs.tls_offered_by_server == Some(false) {
                let why = match obs.engine {
                    EngineKind::Tds => "PRELOGIN answered ENCRYPT_NOT_SUP",
                    _ => "no CLIENT_SSL capability",
                };
                add("tls-not-offered", Severity::High, format!("the server does not offer TLS ({why})"));
            }
            if obs.tls_login_only {
                add(
                    "login-only-encryption",
                    Severity::High,
                    "TLS protected the login only (PRELOGIN ENCRYPT_OFF on both sides); the session after it \
                     is plaintext"
                        .into(),
                );
            }
            if obs.query_count > 0 {
                add(
                    "plaintext-sql",
                    Severity::High,
                    format!("{} SQL statement(s) readable on the wire", obs.query_count),
                );
            } else {
                add(
                    "plaintext-session",
                    Severity::High,
                    format!("{} protocol message(s) in the clear", obs.plaintext_messages),
                );
            }
        }
        Encryption::Tls => {
            if let Some(t) = &r.tls {
                // Version, cipher and certificate findings: checks::tls_checks.
                if t.certificate_visibility == "encrypted" {
                    add(
                        "certificate-not-observable",
                        Severity::Info,
                        "TLS 1.3 encrypts the server certificate; it cannot be checked from the wire".into(),
                    );
                }
                if !t.handshake_seen {
                    add(
                        "tls-handshake-not-captured",
                        Severity::Info,
                        "TLS records seen but not the handshake: version and cipher unknown".into(),
                    );
                }
            }
        }
        Encryption::Gssapi => add("gssapi-encryption", Severity::Info, "GSSAPI session encryption accepted".into()),
        Encryption::Nne => tns_nne_findings(d.tns_facts(), &mut add),
        Encryption::Unknown => match d.recognition() {
            Recognition::NotDatabase => {
                let prefix = printable_prefix(d.unrecognised_prefix(Direction::ToServer));
                add(
                    "not-database-protocol",
                    Severity::Info,
                    format!("traffic on a {} port does not speak it (starts {prefix})", d.port_hint().as_str()),
                );
            }
            _ => add("no-verdict", Severity::Low, "too little payload captured to tell".into()),
        },
    }
    if obs.tds_legacy_login {
        add(
            "tds-legacy-login",
            Severity::Info,
            "TDS 4.2/5.0 login (Sybase ASE or a pre-TDS 7 client), not Microsoft SQL Server TDS 7+".into(),
        );
    }
    if let Some(t) = d.tns_facts() {
        tns_findings(t, r.encryption, &mut add);
    }
    if !meta.handshake_seen {
        add("midstream", Severity::Info, "connection start not captured; client/server inferred".into());
    }
    let missing = meta.gap_bytes[0] + meta.gap_bytes[1];
    if missing > 0 {
        add("capture-gaps", Severity::Low, format!("{missing} byte(s) missing from the capture"));
    }
    let [to_server, to_client] = meta.overlap_conflict_bytes;
    if to_server + to_client > 0 {
        // Either a network device rewrote a retransmission or someone crafted the
        // overlap (IDS evasion): the host may have used the other copy.
        add(
            "overlapping-data",
            Severity::Medium,
            format!(
                "overlapping TCP segments carried different bytes ({to_server} to the server, {to_client} to the client); the first copy was analysed"
            ),
        );
    }
    out
}

/// NNE encrypts the session: say with what, and flag algorithms Oracle deprecates.
fn tns_nne_findings(t: Option<&TnsFacts>, add: &mut dyn FnMut(&'static str, Severity, String)) {
    let Some(t) = t else { return };
    let enc = t.nne_encryption().unwrap_or("?");
    let integrity = t.nne.as_ref().and_then(|n| n.server_selected_integrity.as_deref()).unwrap_or("not seen");
    add(
        "nne-encryption",
        Severity::Info,
        format!(
            "Oracle Native Network Encryption {enc}, integrity {integrity}; traffic after the negotiation is opaque"
        ),
    );
    // Oracle's own guidance deprecates RC4, DES and 3DES112 for NNE, and MD5/SHA1 checksums.
    let weak_enc = ["RC4_", "DES56C", "DES40C", "3DES112"].iter().any(|w| enc.starts_with(w));
    let weak_int = ["MD5(", "SHA1("].iter().any(|w| integrity.starts_with(w));
    if weak_enc || weak_int {
        add(
            "nne-weak-algorithm",
            Severity::Medium,
            format!("NNE negotiated a deprecated algorithm (encryption {enc}, integrity {integrity})"),
        );
    }
    if !integrity.starts_with("none(") {
        return;
    }
    add("nne-no-integrity", Severity::Low, "NNE encryption without a data-integrity algorithm".into());
}

/// What the plaintext TNS handshake gives away, and why a listener said no.
fn tns_findings(t: &TnsFacts, enc: Encryption, add: &mut dyn FnMut(&'static str, Severity, String)) {
    if let Some(e) = t.refuse_error.filter(|&e| e != 0) {
        add("tns-refused", Severity::Info, format!("the listener refused the connection (ERR={e})"));
    }
    if let Some(r) = &t.redirect {
        add("tns-redirect", Severity::Info, format!("the listener redirected the client to {r}"));
    }
    if enc != Encryption::Plaintext {
        return;
    }
    if let Some(n) = &t.nne {
        let offered = n.client_offered_encryption.iter().any(|a| !a.starts_with("none("));
        if offered && n.server_selected_encryption.as_deref().is_some_and(|s| s.starts_with("none(")) {
            add(
                "nne-not-negotiated",
                Severity::High,
                "the client offered Native Network Encryption and the server chose none".into(),
            );
        }
    }
    if t.connect_data.is_some() {
        let what = t.service_name.as_deref().or(t.sid.as_deref()).unwrap_or("?");
        add(
            "tns-descriptor-plaintext",
            Severity::Info,
            format!("the connect descriptor (service {what}, program, host, OS user) is readable on the wire"),
        );
    }
}

/// A short, safe rendering of unrecognised bytes: printable ASCII or hex.
fn printable_prefix(b: &[u8]) -> String {
    let b = &b[..b.len().min(16)];
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\r' || *c == b'\n') {
        format!("{:?}", String::from_utf8_lossy(b).replace(['\r', '\n'], " ").trim_end())
    } else {
        b.iter().map(|c| format!("{c:02x}")).collect::<Vec<_>>().join(" ")
    }
}
