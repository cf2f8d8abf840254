//! TLS quality and certificate findings, and policy evaluation.
//!
//! Certificate chains are validated once per distinct chain (cache keyed by the DER
//! chain itself, compared whole): big captures repeat the same handshake thousands of
//! times. What
//! depends on the connection (capture time, the name asked for) is cheap and done per
//! connection.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::policy::Policy;
use super::{ConnectionReport, Encryption, Finding, Severity};
use crate::tls::{self, TlsSummary};
use crate::x509::validate::{self, CaFamily, TrustStore};
use crate::x509::CertSummary;

const DAY: i64 = 86_400;

/// What the checks need besides the connection: policy, CA bundle, expected host, the
/// wall clock, and the per-run chain cache.
#[derive(Debug)]
pub struct CheckContext {
    pub policy: Policy,
    pub trust: Option<TrustStore>,
    /// `--expect-host` (else the policy's, else the SNI).
    pub expect_host: Option<String>,
    /// `certificate-expires-soon` window.
    pub expiry_warning_days: u32,
    /// "Today", Unix seconds (the wall clock; tests pin it).
    pub now_unix: i64,
    cache: Mutex<ChainCache>,
    /// Chains validated / validations answered from the cache.
    pub chains_validated: AtomicU64,
    pub chain_cache_hits: AtomicU64,
}

impl Default for CheckContext {
    fn default() -> Self {
        CheckContext::new(Policy::default(), None, None)
    }
}

impl CheckContext {
    pub fn new(policy: Policy, trust: Option<TrustStore>, expect_host: Option<String>) -> CheckContext {
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let expect_host = expect_host.or_else(|| policy.certificates.expect_host.clone());
        CheckContext {
            expiry_warning_days: policy.certificates.expiry_warning_days,
            policy,
            trust,
            expect_host,
            now_unix,
            cache: Mutex::new(ChainCache::default()),
            chains_validated: AtomicU64::new(0),
            chain_cache_hits: AtomicU64::new(0),
        }
    }

    /// Load the CA bundle named by the policy (relative to the policy file's folder).
    pub fn bundle_from_policy(policy: &Policy, policy_dir: &Path) -> Result<Option<TrustStore>, String> {
        match &policy.certificates.ca_bundle {
            None => Ok(None),
            Some(p) => {
                let path = if p.is_absolute() { p.clone() } else { policy_dir.join(p) };
                TrustStore::load(&path).map(Some).map_err(|e| e.to_string())
            }
        }
    }

    fn verdict(&self, chain_der: &[Vec<u8>], chain: &[CertSummary], at_unix: i64) -> Arc<ChainVerdict> {
        // Looked up by the chain's bytes: hashing them with the seeded hasher is a
        // fraction of a digest's cost, and equal keys are compared in full, so a
        // verdict never belongs to another chain.
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.map.get(chain_der).cloned()) {
            self.chain_cache_hits.fetch_add(1, Ordering::Relaxed);
            return v;
        }
        self.chains_validated.fetch_add(1, Ordering::Relaxed);
        let v = Arc::new(ChainVerdict {
            trust: self.trust.as_ref().map(|t| validate::verify_chain(t, chain_der, chain, at_unix)),
            family: validate::family_of(chain, validate::ca_families()),
            names: Mutex::new(HashMap::new()),
        });
        if let Ok(mut c) = self.cache.lock() {
            // Bounded: a capture of many distinct chains stops caching, it does not grow.
            let bytes: usize = chain_der.iter().map(Vec::len).sum();
            if c.map.len() < CHAIN_CACHE_ENTRIES && c.bytes + bytes <= CHAIN_CACHE_BYTES {
                c.bytes += bytes;
                c.map.insert(chain_der.to_vec(), v.clone());
            }
        }
        v
    }
}

/// Distinct chains whose verdict is kept, and the DER bytes they may hold in all.
const CHAIN_CACHE_ENTRIES: usize = 1024;
const CHAIN_CACHE_BYTES: usize = 4 << 20;

/// Verdicts by DER chain.
#[derive(Debug, Default)]
struct ChainCache {
    map: HashMap<Vec<Vec<u8>>, Arc<ChainVerdict>, foldhash::fast::RandomState>,
    bytes: usize,
}

/// What does not change between connections that present the same chain.
#[derive(Debug)]
struct ChainVerdict {
    /// `None` without a CA bundle.
    trust: Option<Result<(), String>>,
    family: Option<&'static CaFamily>,
    /// Host name → the leaf is valid for it (Err: why not).
    names: Mutex<HashMap<String, Result<(), String>>>,
}

impl ChainVerdict {
    fn name_check(&self, leaf_der: &[u8], name: &str) -> Result<(), String> {
        if let Some(r) = self.names.lock().ok().and_then(|m| m.get(name).cloned()) {
            return r;
        }
        let r = validate::name_matches(leaf_der, name);
        if let Ok(mut m) = self.names.lock() {
            if m.len() < 64 {
                m.insert(name.to_string(), r.clone());
            }
        }
        r
    }
}

/// Properties of a cipher suite that matter for the findings, read from its IANA name
/// (tls-parser's table), which spells them out: `TLS_<kx>_WITH_<cipher>_<mac>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CipherClass {
    pub null: bool,
    pub export: bool,
    pub anon: bool,
    pub rc4: bool,
    pub des: bool,
    pub cbc: bool,
    pub forward_secrecy: bool,
}

impl CipherClass {
    pub fn weak(&self) -> bool {
        self.null || self.export || self.anon || self.rc4 || self.des
    }

    fn weak_reasons(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.null {
            v.push("no encryption (NULL)");
        }
        if self.export {
            v.push("EXPORT-grade");
        }
        if self.anon {
            v.push("anonymous key exchange (no server authentication)");
        }
        if self.rc4 {
            v.push("RC4");
        }
        if self.des {
            v.push("DES/3DES");
        }
        v
    }
}

/// `None` for unknown ids and signalling values (SCSV).
///
/// Every suite a client offers is classified, for every TLS connection: the answer for
/// each id is worked out once per run and kept in a 64 KiB table (0: not yet, 1: not a
/// suite, else 0x80 | the seven flags).
pub fn classify_cipher(id: u16) -> Option<CipherClass> {
    use std::sync::atomic::AtomicU8;
    static MEMO: [AtomicU8; 65536] = [const { AtomicU8::new(0) }; 65536];
    let slot = &MEMO[usize::from(id)];
    match slot.load(Ordering::Relaxed) {
        0 => {}
        1 => return None,
        m => return Some(CipherClass::unpack(m)),
    }
    let c = classify_by_name(id);
    slot.store(c.map_or(1, CipherClass::pack), Ordering::Relaxed);
    c
}

impl CipherClass {
    fn pack(self) -> u8 {
        [self.null, self.export, self.anon, self.rc4, self.des, self.cbc, self.forward_secrecy]
            .iter()
            .enumerate()
            .fold(0x80, |m, (i, &b)| m | (u8::from(b) << i))
    }

    fn unpack(m: u8) -> CipherClass {
        let bit = |i: u8| m & (1 << i) != 0;
        CipherClass {
            null: bit(0),
            export: bit(1),
            anon: bit(2),
            rc4: bit(3),
            des: bit(4),
            cbc: bit(5),
            forward_secrecy: bit(6),
        }
    }
}

fn classify_by_name(id: u16) -> Option<CipherClass> {
    if matches!(id, 0x00ff | 0x5600) {
        return None;
    }
    let name = tls::cipher_name(id)?;
    // TLS 1.3 suites (RFC 8446 §B.4) always use (EC)DHE.
    let tls13 = (0x1301..=0x1305).contains(&id);
    Some(CipherClass {
        null: name.contains("_WITH_NULL_") || name == "TLS_NULL_WITH_NULL_NULL",
        export: name.contains("EXPORT"),
        anon: name.contains("_anon_"),
        rc4: name.contains("_RC4_"),
        des: name.contains("_DES_") || name.contains("_DES40_") || name.contains("3DES"),
        cbc: name.contains("_CBC_"),
        forward_secrecy: tls13 || name.contains("_DHE_") || name.contains("_ECDHE_"),
    })
}

fn cipher_label(id: u16) -> String {
    tls::cipher_name(id).map(str::to_string).unwrap_or_else(|| format!("0x{id:04x}"))
}

/// TLS quality and certificate findings of one TLS connection.
pub(crate) fn tls_checks(
    r: &mut ConnectionReport,
    s: &TlsSummary,
    start_unix: i64,
    ctx: &CheckContext,
    out: &mut Vec<Finding>,
) {
    let mut add = |id: &'static str, severity: Severity, detail: String| out.push(Finding { id, severity, detail });

    // Version.
    if let Some(v) = s.version {
        let min = ctx.policy.min_version();
        if v < min {
            let severity = if v <= 0x0300 { Severity::High } else { Severity::Medium };
            add(
                "tls-old-version",
                severity,
                format!("{} negotiated; {} or later is expected", tls::version_name(v), tls::version_name(min)),
            );
        }
    }

    // Negotiated suite.
    if let Some(id) = s.cipher {
        if let Some(c) = classify_cipher(id) {
            if c.weak() {
                let severity = if c.null || c.anon || c.export { Severity::Critical } else { Severity::High };
                add(
                    "tls-weak-cipher",
                    severity,
                    format!("{} negotiated: {}", cipher_label(id), c.weak_reasons().join(", ")),
                );
            }
            if !c.forward_secrecy && !c.anon {
                add(
                    "tls-no-forward-secrecy",
                    Severity::Medium,
                    format!(
                        "{} has no (EC)DHE key exchange: a later key compromise exposes recorded traffic",
                        cipher_label(id)
                    ),
                );
            }
            if c.cbc && s.version == Some(0x0301) {
                add(
                    "tls-cbc-tls10",
                    Severity::Medium,
                    format!("CBC suite {} with TLS 1.0 (predictable IVs, BEAST)", cipher_label(id)),
                );
            }
        }
        let name = cipher_label(id);
        let hex = format!("0x{id:04x}");
        let matches = |pats: &[String]| {
            pats.iter().any(|p| {
                let p = p.to_ascii_lowercase();
                validate::glob_match(&p, &name.to_ascii_lowercase()) || validate::glob_match(&p, &hex)
            })
        };
        let tp = &ctx.policy.tls;
        if matches(&tp.forbidden_ciphers) {
            add("tls-cipher-not-allowed", Severity::High, format!("{name} is forbidden by the policy"));
        } else if !tp.allowed_ciphers.is_empty() && !matches(&tp.allowed_ciphers) {
            add("tls-cipher-not-allowed", Severity::High, format!("{name} is not among the policy's allowed suites"));
        }
    }

    // What the client offered.
    let weak_offers: Vec<String> = s
        .offered_ciphers
        .iter()
        .filter(|&&id| classify_cipher(id).is_some_and(|c| c.weak()))
        .map(|&id| cipher_label(id))
        .collect();
    if !weak_offers.is_empty() {
        let shown: Vec<&str> = weak_offers.iter().take(4).map(String::as_str).collect();
        let more = weak_offers.len().saturating_sub(shown.len());
        add(
            "tls-client-offers-weak-ciphers",
            Severity::Low,
            format!(
                "the client offers {} weak suite(s): {}{}",
                weak_offers.len(),
                shown.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ),
        );
    }

    // Certificates (TLS ≤ 1.2 only; TLS 1.3 is reported as not observable by the caller).
    let Some(leaf) = s.certificates.first() else {
        if ctx.trust.is_some() {
            for f in r.findings.iter_mut().filter(|f| f.id == "certificate-not-observable") {
                f.detail.push_str("; the CA bundle check was not applied");
            }
        }
        return;
    };
    if s.certificates_der.len() != s.certificates.len() {
        return;
    }
    let verdict = ctx.verdict(&s.certificates_der, &s.certificates, start_unix);
    let when = rfc3339(start_unix);
    let mut expired = false;
    for (i, c) in s.certificates.iter().enumerate() {
        let which = if i == 0 { "server certificate".to_string() } else { format!("chain certificate {}", c.subject) };
        if start_unix > c.not_after_unix {
            expired = true;
            add(
                "certificate-expired",
                Severity::High,
                format!("{which} expired {} before the capture ({when})", c.not_after),
            );
        } else if start_unix < c.not_before_unix {
            add(
                "certificate-not-yet-valid",
                Severity::High,
                format!("{which} valid only from {} (capture {when})", c.not_before),
            );
        }
    }
    if !expired {
        let window = i64::from(ctx.expiry_warning_days) * DAY;
        let left = leaf.not_after_unix.saturating_sub(ctx.now_unix);
        if left < window {
            let detail = if left < 0 {
                format!(
                    "the server certificate expired on {} ({} day(s) ago, after the capture)",
                    leaf.not_after,
                    -left / DAY
                )
            } else {
                format!("the server certificate expires on {} (in {} day(s))", leaf.not_after, left / DAY)
            };
            add("certificate-expires-soon", Severity::Medium, detail);
        }
    }
    let trusted = verdict.trust.as_ref().map(|t| t.is_ok());
    if let Some(Err(why)) = &verdict.trust {
        let src = ctx.trust.as_ref().map(|t| t.source.as_str()).unwrap_or("the CA bundle");
        add("certificate-untrusted", Severity::High, format!("chain not trusted by {src}: {why}"));
    }
    if leaf.self_signed && trusted != Some(true) {
        add(
            "certificate-self-signed",
            Severity::Medium,
            format!("the server certificate {} is self-signed", leaf.subject),
        );
    }
    if leaf.san.is_empty() {
        add(
            "certificate-no-san",
            Severity::Low,
            "the server certificate has no subjectAltName; clients that verify host names reject it".into(),
        );
    }
    let name = ctx.expect_host.clone().or_else(|| s.sni.clone());
    if let (Some(name), Some(der)) = (name, s.certificates_der.first()) {
        if let Err(why) = verdict.name_check(der, &name) {
            add(
                "certificate-name-mismatch",
                Severity::High,
                format!(
                    "the server certificate is {why} (names: {})",
                    if leaf.san.is_empty() { "none".to_string() } else { leaf.san.join(", ") }
                ),
            );
        }
    }
    for c in s.certificates.iter().filter(|c| !c.self_signed) {
        let sig = c.signature.to_ascii_lowercase();
        if sig.contains("sha1") || sig.contains("md5") {
            add(
                "certificate-weak-signature",
                Severity::Medium,
                format!("{} is signed with {}", c.subject, c.signature),
            );
        }
    }
    for c in &s.certificates {
        let bits =
            c.key.strip_prefix("RSA ").or_else(|| c.key.strip_prefix("DSA ")).and_then(|b| b.parse::<u32>().ok());
        if let Some(b) = bits.filter(|&b| b < 2048) {
            add("certificate-weak-key", Severity::Medium, format!("{} has a {}-bit {} key", c.subject, b, &c.key[..3]));
        }
    }
    if let Some(f) = verdict.family {
        if let Some(retired) = &f.retired {
            if retired_by(retired, ctx.now_unix) {
                let next = if f.successors.is_empty() {
                    String::new()
                } else {
                    format!("; move to {}", f.successors.join(", "))
                };
                add(
                    "certificate-ca-retired",
                    Severity::High,
                    format!("issued under {} CA {} which expired on {retired}{next}", f.provider, f.id),
                );
            }
        }
    }
    if let Some(t) = r.tls.as_mut() {
        t.chain_trusted = trusted;
        t.ca_family = verdict.family.map(|f| f.id.clone());
    }
}

/// Is `date` (YYYY-MM-DD) on or before `now`?
fn retired_by(date: &str, now_unix: i64) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(date, &fmt) {
        Ok(d) => d.midnight().assume_utc().unix_timestamp() <= now_unix,
        Err(_) => false,
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Policy: required encryption, then severity overrides (last, so they apply to every
/// finding).
pub(crate) fn apply_policy(r: &mut ConnectionReport, ctx: &CheckContext) {
    let p = &ctx.policy;
    let sni = r.tls.as_ref().and_then(|t| t.sni.as_deref());
    let required = p.encryption_required(&r.server, r.engine, sni);
    if r.encryption != Encryption::Unknown {
        // SQL Server login-only TLS is reported as plaintext with this finding.
        let kind = if r.findings.iter().any(|f| f.id == "login-only-encryption") {
            "login-only"
        } else {
            r.encryption.as_str()
        };
        match p.counts_as_encrypted(kind) {
            Some(false) if required => r.findings.push(Finding {
                id: "encryption-required",
                severity: Severity::High,
                detail: format!(
                    "the policy requires encryption for {} ({}); this connection is {}",
                    r.server,
                    r.engine,
                    r.encryption.as_str()
                ),
            }),
            _ => {}
        }
        if !required {
            // Plaintext is accepted here: keep the evidence, drop the alarm.
            for f in r.findings.iter_mut() {
                if matches!(f.id, "plaintext-sql" | "plaintext-session" | "tls-refused" | "tls-not-offered") {
                    f.severity = Severity::Info;
                }
            }
        }
    }
    if !p.severity.is_empty() {
        r.findings.retain_mut(|f| match p.severity_override(f.id) {
            Some(None) => false,
            Some(Some(s)) => {
                f.severity = s;
                true
            }
            None => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_classes_from_iana_names() {
        // TLS_RSA_WITH_NULL_SHA256 (RFC 5246 §A.5)
        let c = classify_cipher(0x003b).expect("known");
        assert!(c.null && c.weak() && !c.forward_secrecy);
        // TLS_RSA_WITH_3DES_EDE_CBC_SHA
        let c = classify_cipher(0x000a).expect("known");
        assert!(c.des && c.cbc && !c.forward_secrecy);
        // TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_EXPORT_WITH_RC4_40_MD5, TLS_DH_anon_WITH_AES_128_CBC_SHA
        assert!(classify_cipher(0x0005).is_some_and(|c| c.rc4));
        assert!(classify_cipher(0x0003).is_some_and(|c| c.export));
        assert!(classify_cipher(0x0034).is_some_and(|c| c.anon));
        // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_AES_256_GCM_SHA384
        assert_eq!(classify_cipher(0xc030), Some(CipherClass { forward_secrecy: true, ..Default::default() }));
        assert_eq!(classify_cipher(0x1302), Some(CipherClass { forward_secrecy: true, ..Default::default() }));
        // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
        assert!(classify_cipher(0xc014).is_some_and(|c| c.cbc && c.forward_secrecy && !c.weak()));
        // TLS_EMPTY_RENEGOTIATION_INFO_SCSV is no suite.
        assert_eq!(classify_cipher(0x00ff), None);
    }

    /// The memo table answers exactly as reading the name does, first time and after.
    #[test]
    fn memoised_classes_equal_the_names() {
        let mut suites = 0;
        for id in 0..=u16::MAX {
            let want = classify_by_name(id);
            suites += usize::from(want.is_some());
            assert_eq!(classify_cipher(id), want, "0x{id:04x}");
            assert_eq!(classify_cipher(id), want, "0x{id:04x} from the table");
        }
        assert!(suites > 300, "tls-parser names {suites} suites");
    }

    fn plaintext_report(findings: &[&'static str]) -> ConnectionReport {
        ConnectionReport {
            capture: "x.pcap".into(),
            client: "10.0.0.1:50000".into(),
            server: "10.0.0.2:1433".into(),
            engine: "tds",
            encryption: Encryption::Plaintext,
            start: String::new(),
            end: String::new(),
            packets: 0,
            bytes: 0,
            server_version: None,
            handshake_seen: true,
            tls: None,
            plaintext: None,
            credentials: None,
            tns: None,
            findings: findings
                .iter()
                .map(|&id| Finding { id, severity: Severity::High, detail: String::new() })
                .collect(),
            missing_bytes: [0, 0],
            start_ns: 0,
            end_ns: 0,
        }
    }

    #[test]
    fn login_only_and_gssapi_follow_the_policy() {
        let ids = |r: &ConnectionReport| r.findings.iter().map(|f| f.id).collect::<Vec<_>>();
        let default = CheckContext::default();
        let mut r = plaintext_report(&["login-only-encryption"]);
        apply_policy(&mut r, &default);
        assert!(ids(&r).contains(&"encryption-required"), "login-only does not count by default");
        let counts =
            CheckContext::new(Policy::from_toml("[encryption]\nlogin_only_counts = true").expect("policy"), None, None);
        let mut r = plaintext_report(&["login-only-encryption"]);
        apply_policy(&mut r, &counts);
        assert!(!ids(&r).contains(&"encryption-required"));
        let mut r = plaintext_report(&["gssapi-encryption"]);
        r.encryption = Encryption::Gssapi;
        apply_policy(&mut r, &default);
        assert!(!ids(&r).contains(&"encryption-required"), "GSSAPI counts by default");
        let strict =
            CheckContext::new(Policy::from_toml("[encryption]\ngssapi_counts = false").expect("policy"), None, None);
        apply_policy(&mut r, &strict);
        assert!(ids(&r).contains(&"encryption-required"));
    }

    #[test]
    fn retired_dates() {
        // 2024-08-22T00:00:00Z = 1724284800
        assert!(retired_by("2024-08-22", 1_724_284_800));
        assert!(!retired_by("2024-08-22", 1_724_284_799));
        assert!(!retired_by("not a date", i64::MAX));
    }
}
