//! The policy file (`--policy FILE`, TOML): what the run requires, and how severe each
//! finding is. Every field has a built-in default, so an empty file is the default policy.
//! See `policy.example.toml` for a commented example.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::Severity;

/// Why a policy file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Toml(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub encryption: EncryptionPolicy,
    pub tls: TlsPolicy,
    pub certificates: CertificatePolicy,
    /// Finding id → `info|low|medium|high|critical|off` (`off` drops the finding).
    pub severity: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionPolicy {
    /// Default for every server: connections must be encrypted.
    pub required: bool,
    /// Per engine (`postgresql`, `mysql`, `mssql`/`tds`, `oracle`/`tns`): overrides `required`.
    pub engines: BTreeMap<String, bool>,
    /// Per server (`ip:port`, `ip`, or a host name matched against SNI): overrides the
    /// engine and default settings. The first matching rule wins.
    pub servers: Vec<ServerRule>,
    /// SQL Server "encrypt login only" (TLS for the login packet, then plaintext).
    pub login_only_counts: bool,
    /// PostgreSQL GSSAPI session encryption.
    pub gssapi_counts: bool,
    /// Oracle Native Network Encryption.
    pub oracle_nne_counts: bool,
}

impl Default for EncryptionPolicy {
    fn default() -> Self {
        EncryptionPolicy {
            required: true,
            engines: BTreeMap::new(),
            servers: Vec::new(),
            login_only_counts: false,
            gssapi_counts: true,
            oracle_nne_counts: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRule {
    pub server: String,
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsPolicy {
    /// Lowest acceptable negotiated version (`TLSv1.2`, `1.2`, `TLSv1.3`, …).
    pub min_version: String,
    /// Globs (`*` = anything, case-insensitive) over IANA names or `0x….` ids; a
    /// negotiated suite matching one is a `tls-cipher-not-allowed` finding.
    pub forbidden_ciphers: Vec<String>,
    /// When not empty, a negotiated suite must match one of these.
    pub allowed_ciphers: Vec<String>,
}

impl Default for TlsPolicy {
    fn default() -> Self {
        TlsPolicy { min_version: "TLSv1.2".into(), forbidden_ciphers: Vec::new(), allowed_ciphers: Vec::new() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificatePolicy {
    /// PEM bundle of trusted CAs (relative paths are relative to the policy file).
    pub ca_bundle: Option<PathBuf>,
    /// `certificate-expires-soon` when the leaf expires within this many days of today.
    pub expiry_warning_days: u32,
    /// Host name the certificates must be valid for (else the SNI the client sent).
    pub expect_host: Option<String>,
}

impl Default for CertificatePolicy {
    fn default() -> Self {
        CertificatePolicy { ca_bundle: None, expiry_warning_days: 30, expect_host: None }
    }
}

/// A severity override: a level, or `off` to drop the finding.
pub type Override = Option<Severity>;

impl Policy {
    /// Parse and check a policy document.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string().trim().to_string()))?;
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        parse_version(&self.tls.min_version).ok_or_else(|| {
            PolicyError::Invalid(format!(
                "tls.min_version {:?}: expected TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3",
                self.tls.min_version
            ))
        })?;
        for (id, sev) in &self.severity {
            parse_override(sev).ok_or_else(|| {
                PolicyError::Invalid(format!(
                    "severity.{id} = {sev:?}: expected info, low, medium, high, critical or off"
                ))
            })?;
        }
        Ok(())
    }

    pub fn min_version(&self) -> u16 {
        parse_version(&self.tls.min_version).unwrap_or(0x0303)
    }

    /// The override for a finding id, if the policy has one.
    pub fn severity_override(&self, id: &str) -> Option<Override> {
        self.severity.get(id).and_then(|s| parse_override(s))
    }

    /// Must a connection to `server` (`ip:port` as reported) of `engine`, with the client's
    /// SNI, be encrypted?
    pub fn encryption_required(&self, server: &str, engine: &str, sni: Option<&str>) -> bool {
        let ip = host_of(server);
        for rule in &self.encryption.servers {
            let want = rule.server.trim();
            let hit = want == server
                || want.trim_start_matches('[').trim_end_matches(']') == ip
                || sni.is_some_and(|s| s.eq_ignore_ascii_case(want));
            if hit {
                return rule.required;
            }
        }
        // Keys may name the product (`mssql`, `oracle`, `mariadb`) or the protocol as
        // reported (`tds`, `tns`, `mysql`).
        self.encryption
            .engines
            .iter()
            .find(|(k, _)| engine_alias(k) == engine)
            .map(|(_, &v)| v)
            .unwrap_or(self.encryption.required)
    }

    /// Does this kind of protection count as encrypted (JSON `encryption` value)?
    pub fn counts_as_encrypted(&self, encryption: &str) -> Option<bool> {
        match encryption {
            "tls" => Some(true),
            "gssapi" => Some(self.encryption.gssapi_counts),
            "login-only" | "tls-login-only" => Some(self.encryption.login_only_counts),
            "nne" | "oracle-nne" => Some(self.encryption.oracle_nne_counts),
            "plaintext" => Some(false),
            _ => None,
        }
    }
}

/// `ip` of `ip:port` or `[v6]:port`.
fn host_of(server: &str) -> &str {
    let h = server.rsplit_once(':').map_or(server, |(h, _)| h);
    h.trim_start_matches('[').trim_end_matches(']')
}

fn parse_override(s: &str) -> Option<Override> {
    if s.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    Severity::parse(s).map(Some)
}

/// `TLSv1.2`, `TLS1.2`, `1.2` → 0x0303.
pub fn parse_version(s: &str) -> Option<u16> {
    let v = s.trim().to_ascii_lowercase();
    let v = v.trim_start_matches("tlsv").trim_start_matches("tls").trim();
    Some(match v {
        "1.0" | "1" => 0x0301,
        "1.1" => 0x0302,
        "1.2" => 0x0303,
        "1.3" => 0x0304,
        _ => return None,
    })
}

/// Engine name in a policy file → the JSON `engine` value.
fn engine_alias(key: &str) -> &str {
    match key.trim().to_ascii_lowercase().as_str() {
        "postgresql" | "postgres" | "pgsql" | "pg" => "postgresql",
        "mysql" | "mariadb" => "mysql",
        "tds" | "mssql" | "sqlserver" => "tds",
        "tns" | "oracle" => "tns",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_policy() {
        let p = Policy::from_toml("").expect("empty policy");
        assert!(p.encryption.required);
        assert_eq!(p.min_version(), 0x0303);
        assert_eq!(p.certificates.expiry_warning_days, 30);
        assert!(p.encryption.gssapi_counts && !p.encryption.login_only_counts);
    }

    #[test]
    fn shipped_example_parses() {
        let text = include_str!("../../policy.example.toml");
        let p = Policy::from_toml(text).expect("policy.example.toml");
        assert_eq!(p.min_version(), 0x0303);
        assert!(!p.encryption_required("10.0.0.9:5432", "postgresql", None));
        assert!(p.encryption_required("10.0.0.10:5432", "postgresql", None));
    }

    #[test]
    fn server_rules_beat_engine_rules_beat_the_default() {
        let p = Policy::from_toml(
            r#"
            [encryption]
            required = false
            engines = { mysql = true }
            servers = [ { server = "127.0.0.1:3306", required = false },
                        { server = "db.example.com", required = true },
                        { server = "::1", required = true } ]
            "#,
        )
        .expect("policy");
        assert!(!p.encryption_required("127.0.0.1:3306", "mysql", None));
        assert!(p.encryption_required("127.0.0.1:3307", "mysql", None));
        assert!(!p.encryption_required("127.0.0.1:5432", "postgresql", None));
        assert!(p.encryption_required("10.1.1.1:5432", "postgresql", Some("DB.example.com")));
        assert!(p.encryption_required("[::1]:5432", "postgresql", None));
    }

    #[test]
    fn engine_keys_may_name_the_product_or_the_protocol() {
        let p = Policy::from_toml("[encryption]\nengines = { mssql = false, oracle = false, mariadb = false }")
            .expect("policy");
        assert!(!p.encryption_required("10.0.0.1:1433", "tds", None));
        assert!(!p.encryption_required("10.0.0.1:1521", "tns", None));
        assert!(!p.encryption_required("10.0.0.1:3306", "mysql", None));
        assert!(p.encryption_required("10.0.0.1:5432", "postgresql", None));
        let p = Policy::from_toml("[encryption]\nrequired = false\nengines = { tds = true }").expect("policy");
        assert!(p.encryption_required("10.0.0.1:1433", "tds", None));
        assert!(!p.encryption_required("10.0.0.1:1521", "tns", None));
    }

    #[test]
    fn bad_values_are_errors_with_the_field_named() {
        let e = Policy::from_toml("[tls]\nmin_version = \"TLSv9\"").unwrap_err();
        assert!(e.to_string().contains("tls.min_version"), "{e}");
        let e = Policy::from_toml("[severity]\n\"tls-old-version\" = \"urgent\"").unwrap_err();
        assert!(e.to_string().contains("severity.tls-old-version"), "{e}");
        assert!(Policy::from_toml("[tls]\nmin_versoin = \"1.2\"").is_err(), "unknown keys are rejected");
        assert!(Policy::from_toml("not toml [").is_err());
    }

    #[test]
    fn overrides_and_versions() {
        let p = Policy::from_toml("[severity]\n\"certificate-no-san\" = \"off\"\n\"tls-old-version\" = \"HIGH\"")
            .expect("policy");
        assert_eq!(p.severity_override("certificate-no-san"), Some(None));
        assert_eq!(p.severity_override("tls-old-version"), Some(Some(Severity::High)));
        assert_eq!(p.severity_override("other"), None);
        assert_eq!(parse_version("TLSv1.3"), Some(0x0304));
        assert_eq!(parse_version("1.0"), Some(0x0301));
        assert_eq!(parse_version("SSLv3"), None);
    }

    #[test]
    fn what_counts_as_encrypted() {
        let d = Policy::default();
        assert_eq!(d.counts_as_encrypted("tls"), Some(true));
        assert_eq!(d.counts_as_encrypted("gssapi"), Some(true));
        assert_eq!(d.counts_as_encrypted("login-only"), Some(false));
        assert_eq!(d.counts_as_encrypted("oracle-nne"), Some(true));
        assert_eq!(d.counts_as_encrypted("plaintext"), Some(false));
        assert_eq!(d.counts_as_encrypted("unknown"), None);
        let p = Policy::from_toml(
            "[encryption]\ngssapi_counts = false\nlogin_only_counts = true\noracle_nne_counts = false\n",
        )
        .expect("policy");
        assert_eq!(p.counts_as_encrypted("gssapi"), Some(false));
        assert_eq!(p.counts_as_encrypted("login-only"), Some(true));
        assert_eq!(p.counts_as_encrypted("nne"), Some(false));
    }
}
