//! Database wire protocols. One file per protocol; each is a small state machine fed the
//! ordered bytes of one direction at a time, plus a tri-state content probe so that
//! ports are hints, not truth.

pub mod dissect;
pub mod mysql;
pub mod pgsql;
pub mod sql;
pub mod tds;
pub mod tns;

use crate::tls::TlsTracker;

/// Which database protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum EngineKind {
    #[default]
    Unknown,
    Postgres,
    Mysql,
    /// Microsoft SQL Server TDS (and the Sybase TDS 4.2/5.0 login, noted as such).
    Tds,
    /// Oracle Net (TNS).
    Tns,
}

impl EngineKind {
    /// Name used in the JSON contract.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Unknown => "unknown",
            EngineKind::Postgres => "postgresql",
            EngineKind::Mysql => "mysql",
            EngineKind::Tds => "tds",
            EngineKind::Tns => "tns",
        }
    }
}

/// How a connection reached TLS (JSON `tls.upgrade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsUpgrade {
    /// PostgreSQL SSLRequest answered 'S'.
    PgSslRequest,
    /// PostgreSQL 17+ direct TLS (ClientHello first, ALPN "postgresql").
    PgDirect,
    /// MySQL/MariaDB short handshake response with CLIENT_SSL.
    MysqlSslRequest,
    /// TDS 7.x: TLS handshake wrapped in PRELOGIN packets.
    TdsPrelogin,
    /// TDS 8.0 strict encryption: TLS first, ALPN "tds/8.0", PRELOGIN inside TLS.
    Tds8Strict,
    /// TLS from the first byte on the connection.
    Direct,
    /// Connection start not captured; TLS records seen mid-stream.
    UnknownMidstream,
}

impl TlsUpgrade {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsUpgrade::PgSslRequest => "pg-sslrequest",
            TlsUpgrade::PgDirect => "pg-direct",
            TlsUpgrade::MysqlSslRequest => "mysql-ssl-request",
            TlsUpgrade::TdsPrelogin => "tds-prelogin",
            TlsUpgrade::Tds8Strict => "tds8-strict",
            TlsUpgrade::Direct => "direct",
            TlsUpgrade::UnknownMidstream => "unknown-midstream",
        }
    }
}

/// Authentication method seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// The server let the client in without a password exchange (trust).
    None,
    /// Password sent in the clear (PG AuthenticationCleartextPassword,
    /// MySQL `mysql_clear_password`).
    Cleartext,
    Md5,
    Scram(String),
    Gss,
    Sspi,
    /// MySQL auth plugin name, e.g. `mysql_native_password`, `caching_sha2_password`.
    Plugin(String),
    Other(String),
}

impl AuthMethod {
    pub fn describe(&self) -> String {
        match self {
            AuthMethod::None => "none (trust)".into(),
            AuthMethod::Cleartext => "cleartext password".into(),
            AuthMethod::Md5 => "md5".into(),
            AuthMethod::Scram(m) => m.clone(),
            AuthMethod::Gss => "gss".into(),
            AuthMethod::Sspi => "sspi".into(),
            AuthMethod::Plugin(p) => p.clone(),
            AuthMethod::Other(o) => o.clone(),
        }
    }
}

/// Limits and switches for the engines.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Show SQL literals instead of `?`.
    pub show_literals: bool,
    /// Keep at most this many distinct query texts per connection (the rest are counted).
    pub max_queries: usize,
    /// Longest query text kept (characters); longer ones are cut with `…`.
    pub max_query_len: usize,
    /// Largest protocol message an engine buffers to parse; longer ones are skipped.
    pub max_message: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { show_literals: false, max_queries: 10, max_query_len: 300, max_message: 64 * 1024 }
    }
}

/// Raw query texts remembered per connection by [`Observed::add_query`].
const RECENT_RAW: usize = 8;

/// Facts an engine observed on one connection, filled in as bytes arrive. The
/// `findings` module turns them into a verdict.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub engine: EngineKind,
    /// The engine was recognised by content (not just by port).
    pub engine_by_content: bool,
    pub server_version: Option<String>,
    /// The client asked for TLS (SSLRequest, CLIENT_SSL).
    pub tls_requested: bool,
    /// The server refused TLS ('N' to SSLRequest, no CLIENT_SSL capability).
    pub tls_refused: bool,
    /// The server advertised TLS support (MySQL CLIENT_SSL capability).
    pub tls_offered_by_server: Option<bool>,
    /// How TLS started, once it did.
    pub tls_upgrade: Option<TlsUpgrade>,
    /// PostgreSQL GSSENCRequest sent / accepted ('G').
    pub gss_requested: bool,
    pub gss_accepted: bool,
    /// Protocol messages parsed in the clear (both directions).
    pub plaintext_messages: u64,
    /// Redacted query texts (first `max_queries` distinct), and how many queries in all.
    pub queries: Vec<String>,
    pub query_count: u64,
    /// Hashes of the last raw query texts already redacted: a query sent again verbatim
    /// (extended-protocol Parse, a repeated statement) adds nothing new, so it skips
    /// redaction. Seeded per run, so crafted texts cannot collide on purpose.
    recent_raw: [u64; RECENT_RAW],
    /// Valid entries of `recent_raw`, and where the next one goes.
    recent_len: usize,
    recent_at: usize,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub auth_method: Option<AuthMethod>,
    /// A password travelled in the clear. The password itself is never stored.
    pub cleartext_password_seen: bool,
    /// That password was only obfuscated (TDS LOGIN7: nibble swap and XOR), which
    /// anyone can undo.
    pub password_obfuscated: bool,
    /// Client host name the login announced (TDS LOGIN7).
    pub client_host: Option<String>,
    /// TDS: PRELOGIN negotiated login-only encryption (ENCRYPT_OFF on both sides): TLS
    /// protects LOGIN7 and the session after it is plaintext.
    pub tls_login_only: bool,
    /// TDS: a TDS 4.2/5.0 login record (Sybase ASE or a pre-7 client), not TDS 7+.
    pub tds_legacy_login: bool,
    /// The login succeeded / failed, when seen.
    pub auth_ok: Option<bool>,
    /// Server error messages (bounded, e.g. "28P01 password authentication failed").
    pub errors: Vec<String>,
    /// Parser anomalies (bounded).
    pub anomalies: Vec<String>,
}

impl Observed {
    /// Bounded list push for notes and errors.
    pub fn note(list: &mut Vec<String>, s: impl Into<String>) {
        if list.len() < 8 {
            list.push(s.into());
        }
    }

    /// Record a query text: redacts it (unless configured not to), bounds it, dedups it.
    pub fn add_query(&mut self, cfg: &EngineConfig, dialect: sql::Dialect, raw: &str) {
        self.query_count += 1;
        if self.queries.len() >= cfg.max_queries {
            return;
        }
        // Redaction is a pure function of the text (the configuration and dialect are
        // fixed per connection): a text seen before changes nothing.
        use std::hash::BuildHasher;
        static SEED: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
        let h = SEED.get_or_init(foldhash::fast::RandomState::default).hash_one(raw);
        if self.recent_raw[..self.recent_len].contains(&h) {
            return;
        }
        self.recent_raw[self.recent_at] = h;
        self.recent_at = (self.recent_at + 1) % RECENT_RAW;
        self.recent_len = (self.recent_len + 1).min(RECENT_RAW);
        let text = sql::normalize(raw, dialect, cfg.show_literals, cfg.max_query_len);
        if text.is_empty() || self.queries.contains(&text) {
            return;
        }
        self.queries.push(text);
    }
}

/// What an engine tells the dissector after a chunk of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Keep feeding this engine.
    Continue,
    /// From `offset` in this chunk on, this direction carries TLS records: the dissector
    /// routes them (and everything after) to the TLS tracker.
    StartTls { offset: usize },
    /// The bytes are no longer this protocol or nothing more can be learned: stop.
    Stop,
}

/// What an engine may touch besides its own state.
pub struct ConnCx<'a> {
    pub cfg: &'a EngineConfig,
    pub obs: &'a mut Observed,
    /// Created on first use; engines that carry TLS inside their own framing feed it.
    pub tls: &'a mut Option<Box<TlsTracker>>,
}

impl ConnCx<'_> {
    pub fn tls(&mut self) -> &mut TlsTracker {
        self.tls.get_or_insert_with(|| Box::new(TlsTracker::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_texts_are_counted_and_kept_once() {
        let cfg = EngineConfig::default();
        let mut obs = Observed::default();
        let d = sql::Dialect::Postgres;
        // Extended protocol: the same Parse text again and again.
        for _ in 0..5 {
            obs.add_query(&cfg, d, "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
        }
        // Different literals, one redacted text.
        obs.add_query(&cfg, d, "UPDATE t SET v = 1 WHERE id = 7");
        obs.add_query(&cfg, d, "UPDATE t SET v = 2 WHERE id = 8");
        assert_eq!(obs.query_count, 7);
        assert_eq!(
            obs.queries,
            ["SELECT abalance FROM pgbench_accounts WHERE aid = $1", "UPDATE t SET v = ? WHERE id = ?"]
        );
        // More distinct texts than the recent-text memory holds, then an old one again:
        // still one entry each (the redacted list itself de-duplicates).
        for i in 0..RECENT_RAW + 2 {
            obs.add_query(&cfg, d, &format!("SELECT c{i} FROM t"));
        }
        obs.add_query(&cfg, d, "SELECT abalance FROM pgbench_accounts WHERE aid = $1");
        assert_eq!(obs.query_count, 7 + RECENT_RAW as u64 + 3);
        assert_eq!(obs.queries.len(), cfg.max_queries);
        assert_eq!(obs.queries.iter().filter(|q| q.contains("pgbench_accounts")).count(), 1);
        // The same text under --show-literals keeps its literal.
        let show = EngineConfig { show_literals: true, ..EngineConfig::default() };
        let mut o2 = Observed::default();
        o2.add_query(&show, d, "UPDATE t SET v = 1 WHERE id = 7");
        o2.add_query(&show, d, "UPDATE t SET v = 1 WHERE id = 7");
        assert_eq!(o2.queries, ["UPDATE t SET v = 1 WHERE id = 7"]);
    }
}
