//! The per-connection dissector: decides by content which engine a connection speaks,
//! feeds that engine the ordered bytes of each direction, and hands TLS records to the
//! TLS tracker once a direction switches to TLS.

use std::sync::Arc;

use super::mysql::{self, MysqlState};
use super::pgsql::{self, PgsqlState};
use super::tds::{self, TdsState};
use super::tns::{self, TnsFacts, TnsState};
use super::{ConnCx, EngineConfig, EngineKind, Feed, Observed, TlsUpgrade};
use crate::flow::{Direction, Interest, StreamHandler};
use crate::reader::Probe;
use crate::tls::{self, TlsTracker};

/// Bytes kept per direction while the protocol is still unknown. Every engine decides
/// within its first message; beyond this the flow is not a database we know.
const PROBE_CAP: usize = 4096;

/// Which engine each server port suggests (ports are hints: content decides).
#[derive(Clone)]
pub struct PortHints {
    map: Vec<EngineKind>,
}

impl Default for PortHints {
    fn default() -> Self {
        let mut h = PortHints { map: vec![EngineKind::Unknown; 65536] };
        h.set(5432, EngineKind::Postgres);
        h.set(3306, EngineKind::Mysql);
        h.set(1433, EngineKind::Tds);
        // Oracle listener, and TCPS (TLS from the first byte).
        h.set(1521, EngineKind::Tns);
        h.set(2484, EngineKind::Tns);
        h
    }
}

impl PortHints {
    pub fn set(&mut self, port: u16, engine: EngineKind) {
        self.map[port as usize] = engine;
    }
    pub fn get(&self, port: u16) -> EngineKind {
        self.map[port as usize]
    }
    /// All ports with a hint, for the flow table's role inference.
    pub fn ports(&self) -> Vec<u16> {
        (0..=u16::MAX).filter(|&p| self.get(p) != EngineKind::Unknown).collect()
    }
}

#[derive(Debug)]
enum EngineState {
    Probing,
    Pg(PgsqlState),
    My(MysqlState),
    Tds(TdsState),
    Tns(Box<TnsState>),
    /// TLS from the first byte (or mid-stream): no engine parser, only the tracker.
    TlsOnly,
    /// Not a database protocol we know.
    NotDatabase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirMode {
    Engine,
    Tls,
    Off,
}

/// Why the dissector gave up on a connection's bytes (for the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognition {
    /// Still undecided when the connection ended (too few bytes).
    Undecided,
    /// An engine recognised the bytes.
    Engine,
    /// TLS records with no database framing around them.
    TlsOnly,
    /// Bytes seen, but they are not any database protocol we know.
    NotDatabase,
}

/// Per-connection dissector; implements the flow layer's [`StreamHandler`].
#[derive(Debug)]
pub struct Dissector {
    cfg: Arc<EngineConfig>,
    hint: EngineKind,
    midstream: bool,
    state: EngineState,
    mode: [DirMode; 2],
    /// First bytes of each direction while probing, and the order they came in.
    probe_buf: [Vec<u8>; 2],
    probe_log: Vec<(Direction, usize)>,
    /// Bytes were lost in a direction before the engine was chosen.
    gap_while_probing: [bool; 2],
    /// Mid-stream roles were inferred the wrong way round: the content showed that the
    /// flow table's "client" is the server. Directions are flipped on the way in.
    swapped: bool,
    pub obs: Observed,
    pub tls: Option<Box<TlsTracker>>,
}

impl Dissector {
    /// `hint`: the engine the server port suggests; `midstream`: the TCP handshake was
    /// not captured, so the first bytes may be from the middle of the conversation.
    pub fn new(cfg: Arc<EngineConfig>, hint: EngineKind, midstream: bool) -> Self {
        Dissector {
            cfg,
            hint,
            midstream,
            state: EngineState::Probing,
            mode: [DirMode::Engine; 2],
            probe_buf: [Vec::new(), Vec::new()],
            probe_log: Vec::new(),
            gap_while_probing: [false; 2],
            swapped: false,
            obs: Observed { engine: hint, ..Observed::default() },
            tls: None,
        }
    }

    pub fn port_hint(&self) -> EngineKind {
        self.hint
    }

    pub fn midstream(&self) -> bool {
        self.midstream
    }

    /// The content showed the inferred client/server roles were reversed.
    pub fn roles_swapped(&self) -> bool {
        self.swapped
    }

    pub fn recognition(&self) -> Recognition {
        match self.state {
            EngineState::Probing => Recognition::Undecided,
            EngineState::Pg(_) | EngineState::My(_) | EngineState::Tds(_) | EngineState::Tns(_) => Recognition::Engine,
            EngineState::TlsOnly => Recognition::TlsOnly,
            EngineState::NotDatabase => Recognition::NotDatabase,
        }
    }

    /// True when the dissector never saw any payload.
    pub fn saw_payload(&self) -> bool {
        !matches!(self.state, EngineState::Probing) || !self.probe_log.is_empty()
    }

    /// First bytes of a direction that no engine recognised (for the report).
    pub fn unrecognised_prefix(&self, dir: Direction) -> &[u8] {
        &self.probe_buf[dir.index()]
    }

    /// Oracle facts, when the connection speaks TNS.
    pub fn tns_facts(&self) -> Option<&TnsFacts> {
        match &self.state {
            EngineState::Tns(s) => Some(&s.facts),
            _ => None,
        }
    }

    fn tracker(&mut self) -> &mut TlsTracker {
        self.tls.get_or_insert_with(|| Box::new(TlsTracker::new()))
    }

    /// Decide what the buffered first bytes are. Returns true once decided.
    fn decide(&mut self) -> bool {
        let c2s = &self.probe_buf[0];
        let s2c = &self.probe_buf[1];

        // TLS from the first byte: a ClientHello is the first thing the client sends
        // (PostgreSQL 17 direct TLS, TCPS, TDS 8), or, mid-stream, records either way.
        let tls_c = tls::probe_record(c2s);
        let tls_s = tls::probe_record(s2c);
        let client_hello = c2s.len() >= 6 && c2s[0] == 22 && c2s[5] == 1 && tls_c == Probe::Match;
        if client_hello || (self.midstream && (tls_c == Probe::Match || tls_s == Probe::Match)) {
            self.state = EngineState::TlsOnly;
            self.mode = [DirMode::Tls; 2];
            self.obs.tls_upgrade =
                Some(if self.midstream && !client_hello { TlsUpgrade::UnknownMidstream } else { TlsUpgrade::Direct });
            self.replay();
            // ALPN names the protocol inside (RFC 7301; PostgreSQL 17 sends "postgresql").
            let alpn =
                |name: &str| self.tls.as_ref().is_some_and(|t| t.summary().alpn_offered.iter().any(|a| a == name));
            if alpn("postgresql") {
                self.obs.engine = EngineKind::Postgres;
                self.obs.engine_by_content = true;
                self.obs.tls_upgrade = Some(TlsUpgrade::PgDirect);
            } else if alpn("tds/8.0") {
                // TDS 8.0 strict encryption ([MS-TDS] 3.2.5.1): PRELOGIN travels inside TLS.
                self.obs.engine = EngineKind::Tds;
                self.obs.engine_by_content = true;
                self.obs.tls_upgrade = Some(TlsUpgrade::Tds8Strict);
            } else if client_hello && self.hint == EngineKind::Tds {
                // A ClientHello first on the SQL Server port can only be TDS 8.0 strict;
                // without the ALPN this rests on the port alone.
                self.obs.tls_upgrade = Some(TlsUpgrade::Tds8Strict);
            }
            return true;
        }

        let mut candidates = [EngineKind::Postgres, EngineKind::Mysql, EngineKind::Tds, EngineKind::Tns];
        // The hinted engine is asked first.
        if let Some(at) = candidates.iter().position(|&k| k == self.hint) {
            candidates[..=at].rotate_right(1);
        }
        let mut all_no = true;
        for kind in candidates {
            let mut answers = [Probe::NeedMore; 2];
            for (i, dir) in [Direction::ToServer, Direction::ToClient].into_iter().enumerate() {
                let buf = &self.probe_buf[i];
                if buf.is_empty() {
                    continue;
                }
                // Bytes after a gap may start mid-message, whatever the connection state.
                let mid = self.midstream || self.gap_while_probing[i];
                answers[i] = match kind {
                    EngineKind::Postgres => pgsql::probe(dir, buf, mid),
                    EngineKind::Mysql => mysql::probe(dir, buf, mid),
                    EngineKind::Tds => tds::probe(dir, buf, mid),
                    EngineKind::Tns => tns::probe(dir, buf, mid),
                    EngineKind::Unknown => Probe::NoMatch,
                };
            }
            if answers.contains(&Probe::Match) {
                self.start_engine(kind);
                return true;
            }
            let seen = [!c2s.is_empty(), !s2c.is_empty()];
            let no = (0..2).all(|i| !seen[i] || answers[i] == Probe::NoMatch);
            all_no &= no;
        }
        // Mid-stream roles come from port numbers; the bytes may show they are reversed.
        if self.midstream && !self.swapped {
            for kind in candidates {
                let mut hit = false;
                for (i, dir) in [Direction::ToClient, Direction::ToServer].into_iter().enumerate() {
                    let buf = &self.probe_buf[i];
                    if buf.is_empty() {
                        continue;
                    }
                    let p = match kind {
                        EngineKind::Postgres => pgsql::probe(dir, buf, true),
                        EngineKind::Mysql => mysql::probe(dir, buf, true),
                        EngineKind::Tds => tds::probe(dir, buf, true),
                        EngineKind::Tns => tns::probe(dir, buf, true),
                        EngineKind::Unknown => Probe::NoMatch,
                    };
                    hit |= p == Probe::Match;
                }
                if hit {
                    self.swapped = true;
                    self.probe_buf.swap(0, 1);
                    self.gap_while_probing.swap(0, 1);
                    for (d, _) in self.probe_log.iter_mut() {
                        *d = d.reverse();
                    }
                    self.start_engine(kind);
                    return true;
                }
            }
        }
        let full = self.probe_buf.iter().any(|b| b.len() >= PROBE_CAP);
        if all_no || full {
            self.state = EngineState::NotDatabase;
            // The port suggested an engine; the bytes say otherwise.
            self.obs.engine = EngineKind::Unknown;
            self.mode = [DirMode::Off; 2];
            return true;
        }
        false
    }

    fn start_engine(&mut self, kind: EngineKind) {
        let mid = self.midstream || self.gap_while_probing.iter().any(|&g| g);
        self.state = match kind {
            EngineKind::Postgres => EngineState::Pg(PgsqlState::new(mid)),
            EngineKind::Mysql => EngineState::My(MysqlState::new(mid)),
            EngineKind::Tds => EngineState::Tds(TdsState::new(mid)),
            EngineKind::Tns => EngineState::Tns(Box::new(TnsState::new(mid))),
            EngineKind::Unknown => EngineState::NotDatabase,
        };
        self.obs.engine = kind;
        self.obs.engine_by_content = true;
        self.replay();
    }

    /// Feed the buffered first bytes to the chosen path, in their original order.
    fn replay(&mut self) {
        let bufs = std::mem::take(&mut self.probe_buf);
        let log = std::mem::take(&mut self.probe_log);
        let mut pos = [0usize; 2];
        for (dir, len) in log {
            let i = dir.index();
            let end = (pos[i] + len).min(bufs[i].len());
            let chunk = &bufs[i][pos[i]..end];
            pos[i] = end;
            if !chunk.is_empty() {
                self.route(dir, chunk);
            }
        }
        // Keep nothing: the probe buffers' memory is released here.
        self.probe_buf = [Vec::new(), Vec::new()];
    }

    /// Send bytes of `dir` to the engine or the TLS tracker.
    fn route(&mut self, dir: Direction, data: &[u8]) {
        let i = dir.index();
        match self.mode[i] {
            DirMode::Off => {}
            DirMode::Tls => self.tracker().feed(dir, data),
            DirMode::Engine => {
                let feed = {
                    let mut cx = ConnCx { cfg: &self.cfg, obs: &mut self.obs, tls: &mut self.tls };
                    match &mut self.state {
                        EngineState::Pg(s) => s.feed(dir, data, &mut cx),
                        EngineState::My(s) => s.feed(dir, data, &mut cx),
                        EngineState::Tds(s) => s.feed(dir, data, &mut cx),
                        EngineState::Tns(s) => s.feed(dir, data, &mut cx),
                        EngineState::TlsOnly => Feed::StartTls { offset: 0 },
                        EngineState::Probing | EngineState::NotDatabase => Feed::Stop,
                    }
                };
                match feed {
                    Feed::Continue => {}
                    Feed::Stop => self.mode[i] = DirMode::Off,
                    Feed::StartTls { offset } => {
                        self.mode[i] = DirMode::Tls;
                        if self.obs.tls_upgrade.is_none() {
                            self.obs.tls_upgrade = Some(match self.obs.engine {
                                EngineKind::Postgres => TlsUpgrade::PgSslRequest,
                                EngineKind::Mysql => TlsUpgrade::MysqlSslRequest,
                                EngineKind::Tds => TlsUpgrade::TdsPrelogin,
                                EngineKind::Tns | EngineKind::Unknown => TlsUpgrade::Direct,
                            });
                        }
                        if let Some(rest) = data.get(offset..) {
                            if !rest.is_empty() {
                                self.tracker().feed(dir, rest);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Nothing more to learn once both directions are off, or both are encrypted past
    /// the handshake: stop reassembly to save work.
    fn interest(&self) -> Interest {
        if self.mode.iter().all(|m| *m == DirMode::Off) {
            return Interest::Done;
        }
        if self.mode.iter().all(|m| *m != DirMode::Engine) {
            if let Some(t) = &self.tls {
                let s = t.summary();
                let both_encrypted = s.encrypted_records.iter().all(|&n| n > 0);
                let no_handshake_coming = self.obs.tls_upgrade == Some(TlsUpgrade::UnknownMidstream);
                if both_encrypted && (s.server_hello_seen || no_handshake_coming) {
                    return Interest::Done;
                }
            }
        }
        Interest::More
    }
}

impl StreamHandler for Dissector {
    fn on_data(&mut self, dir: Direction, data: &[u8]) -> Interest {
        let dir = if self.swapped { dir.reverse() } else { dir };
        if data.is_empty() {
            return Interest::More;
        }
        if let EngineState::Probing = self.state {
            let i = dir.index();
            let room = PROBE_CAP.saturating_sub(self.probe_buf[i].len());
            let take = room.min(data.len());
            self.probe_buf[i].extend_from_slice(&data[..take]);
            match self.probe_log.last_mut() {
                Some((d, n)) if *d == dir => *n += take,
                _ => self.probe_log.push((dir, take)),
            }
            if !self.decide() {
                return Interest::More;
            }
            // Bytes beyond the probe cap were not buffered: pass them on now.
            if take < data.len() {
                self.route(dir, &data[take..]);
            }
            return self.interest();
        }
        self.route(dir, data);
        self.interest()
    }

    fn on_gap(&mut self, dir: Direction, len: u64) {
        let dir = if self.swapped { dir.reverse() } else { dir };
        let i = dir.index();
        match self.state {
            EngineState::Probing => {
                // Bytes before the gap can no longer be parsed as a stream start.
                self.gap_while_probing[i] = true;
                self.probe_buf[i].clear();
                self.probe_log.retain(|(d, _)| *d != dir);
            }
            _ => match self.mode[i] {
                DirMode::Off => {}
                DirMode::Tls => self.tracker().gap(dir, len),
                DirMode::Engine => {
                    let mut cx = ConnCx { cfg: &self.cfg, obs: &mut self.obs, tls: &mut self.tls };
                    match &mut self.state {
                        EngineState::Pg(s) => s.gap(dir, len, &mut cx),
                        EngineState::My(s) => s.gap(dir, len, &mut cx),
                        EngineState::Tds(s) => s.gap(dir, len, &mut cx),
                        EngineState::Tns(s) => s.gap(dir, len, &mut cx),
                        _ => {}
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dissector(hint: EngineKind) -> Dissector {
        Dissector::new(Arc::new(EngineConfig::default()), hint, false)
    }

    /// A ClientHello offering ALPN "tds/8.0" (recorded from OpenSSL) is TDS 8.0 strict
    /// on any port; one offering another protocol's ALPN is not.
    #[test]
    fn tds8_strict_by_alpn_on_any_port() {
        let hello = include_bytes!("../../tests/fixtures/tls/tls12_ec.c2s");
        let mut d = dissector(EngineKind::Unknown);
        d.on_data(Direction::ToServer, hello);
        assert_eq!(d.obs.engine, EngineKind::Tds);
        assert!(d.obs.engine_by_content);
        assert_eq!(d.obs.tls_upgrade, Some(TlsUpgrade::Tds8Strict));
        assert_eq!(d.recognition(), Recognition::TlsOnly);

        let other = include_bytes!("../../tests/fixtures/tls/tls13.c2s");
        let mut d = dissector(EngineKind::Unknown);
        d.on_data(Direction::ToServer, other);
        // That recording offers ALPN "postgresql" only.
        assert_eq!(d.obs.engine, EngineKind::Postgres);
        assert_eq!(d.obs.tls_upgrade, Some(TlsUpgrade::PgDirect));
    }

    /// A PRELOGIN packet is recognised by content on a port that hints another engine.
    #[test]
    fn prelogin_recognised_on_a_mysql_port() {
        let prelogin: &[u8] = &[
            /* PRELOGIN, EOM, length 0x1a */ 0x12, 0x01, 0x00, 0x1a, 0x00, 0x00, 0x01, 0x00,
            /* VERSION at 11, 6 bytes */ 0x00, 0x00, 0x0b, 0x00, 0x06, /* ENCRYPTION at 17 */ 0x01, 0x00,
            0x11, 0x00, 0x01, /* terminator */ 0xff, /* 11.0.0.0 */ 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00,
            /* ENCRYPT_OFF */ 0x00,
        ];
        let mut d = dissector(EngineKind::Mysql);
        d.on_data(Direction::ToServer, prelogin);
        assert_eq!(d.recognition(), Recognition::Engine);
        assert_eq!(d.obs.engine, EngineKind::Tds);
    }
}
