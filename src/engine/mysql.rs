//! MySQL / MariaDB client/server protocol.
//!
//! References: the MySQL client/server protocol documentation ("MySQL Packets",
//! "Connection Phase", "Text Protocol", "Compression") and the MariaDB "Client/Server
//! Protocol" pages for MariaDB's extensions (extended capabilities, `5.5.5-` version
//! prefix, progress reports).
//!
//! Layout: pure `parse_*` functions that read one packet payload and return what it
//! says, a [`Framer`] that cuts a byte stream into packets with bounded memory, and the
//! connection state machine [`MysqlState`] that ties them to [`Observed`] facts.

use super::{sql, AuthMethod, ConnCx, EngineKind, Feed, Observed, TlsUpgrade};
use crate::flow::Direction;
use crate::reader::{Probe, Reader};
use std::borrow::Cow;

// Capability flags ("Capabilities Flags" in the protocol docs).
/// `CLIENT_LONG_PASSWORD`; MariaDB calls bit 0 `CLIENT_MYSQL`: a MariaDB server or client
/// leaves it clear and puts its extended capabilities in the reserved bytes.
const CLIENT_MYSQL: u32 = 0x0000_0001;
const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
const CLIENT_COMPRESS: u32 = 0x0000_0020;
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
const CLIENT_SSL: u32 = 0x0000_0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
const CLIENT_QUERY_ATTRIBUTES: u32 = 0x0800_0000;

// Command bytes ("Text Protocol" / "Prepared Statements" in the protocol docs).
const COM_SLEEP: u8 = 0x00;
const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1a;
const COM_SET_OPTION: u8 = 0x1b;
const COM_STMT_FETCH: u8 = 0x1c;
const COM_RESET_CONNECTION: u8 = 0x1f;
/// MariaDB `COM_STMT_BULK_EXECUTE`.
const COM_STMT_BULK_EXECUTE: u8 = 0xfa;

/// Largest payload of one packet; a payload this long continues in the next packet.
const MAX_PACKET: usize = 0xff_ffff;
/// Plain packet header: 3-byte length, 1-byte sequence id.
const HDR: usize = 4;
/// Compressed packet header: 3-byte compressed length, sequence id, 3-byte uncompressed
/// length.
const CHDR: usize = 7;
/// Never inflate more than this per compressed packet (zlib bombs, huge result sets).
const INFLATE_CAP: usize = 64 * 1024;
/// Handshake packets are buffered up to this size whatever `max_message` says.
const HANDSHAKE_CAP: usize = 16 * 1024;
/// A greeting or a first packet longer than this is not MySQL: stop waiting for it.
const PROBE_MAX_LEN: usize = 64 * 1024;
/// Longest user / database / program name kept.
const MAX_NAME: usize = 128;

/// Plugins whose client messages carry the password itself.
fn plugin_is_cleartext(name: &str) -> bool {
    matches!(name, "mysql_clear_password" | "dialog" | "auth_pam" | "pam")
}

// ---------------------------------------------------------------------------------------
// Small readers

/// Length-encoded integer ("Basic Data Types: Integer: LengthEncoded"). `0xfb` (NULL) and
/// `0xff` (undefined) give `None`.
fn lenenc(r: &mut Reader<'_>) -> Option<u64> {
    match r.u8()? {
        b @ 0..=0xfa => Some(u64::from(b)),
        0xfc => r.le_u16().map(u64::from),
        0xfd => r.le_u24().map(u64::from),
        0xfe => {
            let lo = r.le_u32()?;
            let hi = r.le_u32()?;
            Some(u64::from(lo) | (u64::from(hi) << 32))
        }
        _ => None,
    }
}

/// Length-encoded string.
fn lenenc_bytes<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let n = usize::try_from(lenenc(r)?).ok()?;
    r.take(n)
}

/// Bytes for a report: lossy UTF-8, bounded.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(MAX_NAME).collect()
}

/// Printable text (ASCII graphic, whitespace, or UTF-8 bytes).
fn is_texty(b: u8) -> bool {
    matches!(b, b' '..=b'~' | b'\t' | b'\r' | b'\n' | 0x80..=0xff)
}

/// Does this look like the start of an SQL statement? Used where framing is weak.
fn looks_like_sql(b: &[u8]) -> bool {
    let head = &b[..b.len().min(32)];
    let Some(first) = head.iter().find(|c| !c.is_ascii_whitespace()) else {
        return false;
    };
    (first.is_ascii_alphabetic() || matches!(first, b'(' | b'/' | b'-' | b'#')) && head.iter().all(|&c| is_texty(c))
}

/// A TLS record header (handshake/alert/CCS/application data, version 3.x)?
fn looks_like_tls_record(b: &[u8]) -> bool {
    b.len() >= 3 && (0x14..=0x17).contains(&b[0]) && b[1] == 3 && b[2] <= 4
}

/// Packet header (3-byte length, sequence id).
fn header(b: &[u8]) -> Option<(usize, u8)> {
    let mut r = Reader::new(b);
    let len = r.le_u24()? as usize;
    Some((len, r.u8()?))
}

// ---------------------------------------------------------------------------------------
// Packet parsers (pure)

/// Initial Handshake packet ("Connection Phase: Protocol::Handshake", v10; v9 too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub protocol: u8,
    /// Version as sent (MariaDB's may start with `5.5.5-`).
    pub raw_version: String,
    /// Capabilities: lower 32 bits standard, upper 32 bits MariaDB extended.
    pub caps: u64,
    pub auth_plugin: Option<String>,
}

impl Greeting {
    /// The version to report: MariaDB prefixes `5.5.5-` for old clients; the real
    /// version follows it.
    pub fn version(&self) -> &str {
        match self.raw_version.strip_prefix("5.5.5-") {
            Some(v) if v.contains("MariaDB") => v,
            _ => &self.raw_version,
        }
    }
    fn caps32(&self) -> u32 {
        self.caps as u32
    }
}

/// Parse a server greeting payload. `None` unless it is protocol 10 (or 9) with a
/// printable version that starts with a digit.
pub fn parse_greeting(p: &[u8]) -> Option<Greeting> {
    let mut r = Reader::new(p);
    let protocol = r.u8()?;
    if protocol != 10 && protocol != 9 {
        return None;
    }
    let v = r.cstr()?;
    if v.is_empty() || v.len() > 256 || !v[0].is_ascii_digit() || !v.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
    {
        return None;
    }
    let raw_version = String::from_utf8_lossy(v).into_owned();
    let mut g = Greeting { protocol, raw_version, caps: 0, auth_plugin: None };
    r.le_u32()?; // thread id
    if protocol == 9 {
        return Some(g); // v9: scramble (cstr) follows, nothing we need
    }
    r.skip(8)?; // auth-plugin-data part 1
    r.u8()?; // filler
             // Everything after this is optional in very old servers.
    let Some(lo) = r.le_u16() else { return Some(g) };
    let mut caps = u32::from(lo);
    let Some(_charset) = r.u8() else {
        return Some(g);
    };
    r.le_u16(); // status
    if let Some(hi) = r.le_u16() {
        caps |= u32::from(hi) << 16;
    }
    let auth_len = r.u8().unwrap_or(0);
    let ext = match r.take(10) {
        Some(res) if caps & CLIENT_MYSQL == 0 => u32::from_le_bytes([res[6], res[7], res[8], res[9]]),
        _ => 0,
    };
    g.caps = u64::from(caps) | (u64::from(ext) << 32);
    if caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = usize::from(auth_len).saturating_sub(8).max(13);
        // Some servers send fewer; take what is there.
        let n = n.min(r.left());
        r.skip(n);
    }
    if caps & CLIENT_PLUGIN_AUTH != 0 && !r.is_empty() {
        // MySQL 5.5.7–5.5.9 forgot the NUL: take the rest then.
        let name = r.cstr().unwrap_or_else(|| r.rest());
        if !name.is_empty() {
            g.auth_plugin = Some(text(name));
        }
    }
    Some(g)
}

/// ERR packet ("Generic Response Packets: ERR_Packet").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    pub sqlstate: Option<String>,
    pub message: String,
}

impl ErrPacket {
    /// `1045 (28000): Access denied for user …`
    pub fn describe(&self) -> String {
        match &self.sqlstate {
            Some(s) => format!("{} ({}): {}", self.code, s, self.message),
            None => format!("{}: {}", self.code, self.message),
        }
    }
}

/// Parse an ERR payload. MariaDB progress reports (code 0xffff) are not errors: `None`.
/// The SQL state marker is absent in errors sent before the handshake completes.
pub fn parse_err(p: &[u8]) -> Option<ErrPacket> {
    let mut r = Reader::new(p);
    if r.u8()? != 0xff {
        return None;
    }
    let code = r.le_u16()?;
    if code == 0xffff {
        return None;
    }
    let mut sqlstate = None;
    if r.rest().first() == Some(&b'#') && r.left() >= 6 {
        r.skip(1)?;
        let s = r.take(5)?;
        sqlstate = Some(text(s));
    }
    let message: String = String::from_utf8_lossy(r.rest()).chars().take(200).collect();
    Some(ErrPacket { code, sqlstate, message })
}

/// HandshakeResponse41 / HandshakeResponse320, or the SSL request that is its prefix
/// ("Connection Phase Packets: Protocol::HandshakeResponse", "Protocol::SSLRequest").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeResponse {
    /// Standard capabilities (320: only the low 16 bits).
    pub caps: u32,
    /// MariaDB extended capabilities (0 if none).
    pub ext_caps: u32,
    /// Short packet with CLIENT_SSL: TLS starts after it.
    pub ssl_request: bool,
    pub user: Option<String>,
    /// Length of the auth response (the response itself is never kept).
    pub auth_len: usize,
    /// The auth response, if a cleartext plugin is named here, is non-empty.
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
    pub program_name: Option<String>,
}

/// Parse a client handshake response payload.
pub fn parse_handshake_response(p: &[u8]) -> Option<HandshakeResponse> {
    let mut r = Reader::new(p);
    let lo = r.le_u16()?;
    if u32::from(lo) & CLIENT_PROTOCOL_41 == 0 {
        return parse_handshake_response_320(p);
    }
    let mut r2 = Reader::new(p);
    let caps = r2.le_u32()?;
    r2.le_u32()?; // max packet size
    r2.u8()?; // charset
    let reserved = r2.take(23)?;
    let ext_caps = if caps & CLIENT_MYSQL == 0 {
        u32::from_le_bytes([reserved[19], reserved[20], reserved[21], reserved[22]])
    } else {
        0
    };
    let mut h = HandshakeResponse { caps, ext_caps, ..Default::default() };
    if r2.is_empty() {
        // The 32-byte prefix alone is the SSL request; without CLIENT_SSL it is junk.
        h.ssl_request = caps & CLIENT_SSL != 0;
        return h.ssl_request.then_some(h);
    }
    h.user = Some(text(r2.cstr()?));
    let auth = if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        lenenc_bytes(&mut r2)?
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = r2.u8()?;
        r2.take(usize::from(n))?
    } else {
        r2.cstr()?
    };
    h.auth_len = auth.len();
    if caps & CLIENT_CONNECT_WITH_DB != 0 && !r2.is_empty() {
        let db = r2.cstr().unwrap_or_else(|| r2.rest());
        if !db.is_empty() {
            h.database = Some(text(db));
        }
    }
    if caps & CLIENT_PLUGIN_AUTH != 0 && !r2.is_empty() {
        let name = r2.cstr().unwrap_or_else(|| r2.rest());
        if !name.is_empty() {
            h.auth_plugin = Some(text(name));
        }
    }
    if caps & CLIENT_CONNECT_ATTRS != 0 {
        h.program_name = parse_connect_attrs(&mut r2, b"program_name");
    }
    Some(h)
}

/// HandshakeResponse320 (pre-4.1 clients): caps u16, max packet u24, user, auth (NUL
/// terminated if a database follows, else the rest), database.
fn parse_handshake_response_320(p: &[u8]) -> Option<HandshakeResponse> {
    let mut r = Reader::new(p);
    let caps = u32::from(r.le_u16()?);
    r.le_u24()?;
    let mut h = HandshakeResponse { caps, ..Default::default() };
    if r.is_empty() {
        h.ssl_request = caps & CLIENT_SSL != 0;
        return h.ssl_request.then_some(h);
    }
    h.user = Some(text(r.cstr()?));
    if caps & CLIENT_CONNECT_WITH_DB != 0 {
        h.auth_len = r.cstr()?.len();
        let db = r.cstr().unwrap_or_else(|| r.rest());
        if !db.is_empty() {
            h.database = Some(text(db));
        }
    } else {
        let auth = r.rest();
        h.auth_len = auth.iter().position(|&b| b == 0).unwrap_or(auth.len());
    }
    Some(h)
}

/// Connection attributes: lenenc total length, then lenenc key/value pairs. Returns the
/// value of `want`.
fn parse_connect_attrs(r: &mut Reader<'_>, want: &[u8]) -> Option<String> {
    let total = usize::try_from(lenenc(r)?).ok()?;
    let block = r.take(total.min(r.left()))?;
    let mut a = Reader::new(block);
    while !a.is_empty() {
        let k = lenenc_bytes(&mut a)?;
        let v = lenenc_bytes(&mut a)?;
        if k == want && !v.is_empty() {
            return Some(text(v));
        }
    }
    None
}

/// Auth switch request (0xfe, plugin name, plugin data). A bare 0xfe is the old
/// "switch to mysql_old_password".
pub fn parse_auth_switch(p: &[u8]) -> Option<String> {
    let mut r = Reader::new(p);
    if r.u8()? != 0xfe {
        return None;
    }
    if r.is_empty() {
        return Some("mysql_old_password".into());
    }
    let name = r.cstr().unwrap_or_else(|| r.rest());
    (!name.is_empty() && name.iter().all(u8::is_ascii_graphic)).then(|| text(name))
}

/// COM_CHANGE_USER: user, auth response, database, [charset], [plugin], [attrs].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeUser {
    pub user: String,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
}

pub fn parse_change_user(p: &[u8], caps: u32) -> Option<ChangeUser> {
    let mut r = Reader::new(p);
    if r.u8()? != COM_CHANGE_USER {
        return None;
    }
    let mut c = ChangeUser { user: text(r.cstr()?), ..Default::default() };
    if caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = r.u8()?;
        r.skip(usize::from(n))?;
    } else {
        r.cstr()?;
    }
    if let Some(db) = r.cstr() {
        if !db.is_empty() {
            c.database = Some(text(db));
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 && r.le_u16().is_some() {
            if let Some(name) = r.cstr() {
                if !name.is_empty() {
                    c.auth_plugin = Some(text(name));
                }
            }
        }
    }
    Some(c)
}

/// Skip one binary-protocol value of `ty` ("Binary Protocol Value" in the docs).
fn skip_binary_value(r: &mut Reader<'_>, ty: u8) -> Option<()> {
    match ty {
        0x06 => Some(()),                // NULL
        0x01 => r.skip(1),               // TINY
        0x02 | 0x0d => r.skip(2),        // SHORT, YEAR
        0x03 | 0x09 | 0x04 => r.skip(4), // LONG, INT24, FLOAT
        0x08 | 0x05 => r.skip(8),        // LONGLONG, DOUBLE
        0x07 | 0x0a | 0x0b | 0x0c | 0x11 | 0x12 => {
            // TIMESTAMP, DATE, TIME, DATETIME (+2 variants): 1-byte length prefix
            let n = r.u8()?;
            r.skip(usize::from(n))
        }
        _ => lenenc_bytes(r).map(|_| ()), // strings, blobs, decimals, JSON, …
    }
}

/// Skip the query attributes that precede the text of a COM_QUERY when
/// CLIENT_QUERY_ATTRIBUTES is on (MySQL 8.0.23+, "COM_QUERY" in the docs):
/// parameter_count, parameter_set_count, and for count > 0 the NULL bitmap,
/// new_params_bind_flag, types with names, and the values.
fn skip_query_attributes(r: &mut Reader<'_>) -> Option<()> {
    let count = usize::try_from(lenenc(r)?).ok()?;
    let _sets = lenenc(r)?; // always 1
    if count == 0 {
        return Some(());
    }
    if count > 4096 {
        return None;
    }
    let bitmap = r.take(count.div_ceil(8))?;
    if r.u8()? != 1 {
        // Without types the values cannot be skipped.
        return None;
    }
    let mut types = Vec::with_capacity(count);
    for _ in 0..count {
        let ty = r.le_u16()?;
        lenenc_bytes(r)?; // name
        types.push(ty as u8);
    }
    for (i, ty) in types.into_iter().enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            continue; // NULL: no value bytes
        }
        skip_binary_value(r, ty)?;
    }
    Some(())
}

/// The SQL text of a COM_QUERY / COM_STMT_PREPARE payload (command byte included).
/// `attrs`: `Some(true)` if query attributes were negotiated, `Some(false)` if not,
/// `None` if unknown (mid-stream): then the plain form is tried first.
pub fn parse_query_text(p: &[u8], attrs: Option<bool>) -> Option<&[u8]> {
    let body = p.get(1..)?;
    fn with_attrs(b: &[u8]) -> Option<&[u8]> {
        let mut r = Reader::new(b);
        skip_query_attributes(&mut r).map(|_| r.rest())
    }
    match (p[0], attrs) {
        (COM_QUERY, Some(true)) => with_attrs(body),
        (COM_QUERY, None) if !looks_like_sql(body) => with_attrs(body).filter(|t| looks_like_sql(t)),
        _ => Some(body),
    }
}

/// Inflate a zlib stream into at most `cap` bytes (never more, whatever it claims).
fn inflate_capped(src: &[u8], cap: usize) -> Option<Vec<u8>> {
    let mut d = flate2::Decompress::new(true);
    let mut out = Vec::with_capacity(cap);
    d.decompress_vec(src, &mut out, flate2::FlushDecompress::Finish).ok()?;
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Probe

/// Can these first bytes of `dir` be MySQL? `midstream`: the connection start was not
/// captured, so any message may come first.
pub fn probe(dir: Direction, data: &[u8], midstream: bool) -> Probe {
    if data.len() < HDR {
        return Probe::NeedMore;
    }
    let start = match dir {
        Direction::ToClient => probe_greeting(data),
        Direction::ToServer => probe_handshake_response(data),
    };
    if !midstream || start != Probe::NoMatch {
        return start;
    }
    match probe_packets(dir, data) {
        Probe::NoMatch => probe_compressed(dir, data),
        p => p,
    }
}

/// First server packet: greeting (seq 0, protocol 10, version) or ERR (seq 0).
fn probe_greeting(data: &[u8]) -> Probe {
    let Some((len, seq)) = header(data) else {
        return Probe::NeedMore;
    };
    if seq != 0 || !(3..PROBE_MAX_LEN).contains(&len) {
        return Probe::NoMatch;
    }
    let Some(&kind) = data.get(HDR) else {
        return Probe::NeedMore;
    };
    let avail = &data[HDR..data.len().min(HDR + len)];
    let complete = data.len() >= HDR + len;
    match kind {
        10 | 9 => {
            if complete {
                return if parse_greeting(avail).is_some() { Probe::Match } else { Probe::NoMatch };
            }
            // Partial: the version must be a digit then printable up to the NUL.
            let v = &avail[1..];
            let head = v.iter().position(|&b| b == 0).map_or(v, |n| &v[..n]);
            let ok = head.first().map_or(true, u8::is_ascii_digit)
                && head.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            if ok {
                Probe::NeedMore
            } else {
                Probe::NoMatch
            }
        }
        0xff => {
            if !complete {
                return if len < 512 { Probe::NeedMore } else { Probe::NoMatch };
            }
            match parse_err(avail) {
                Some(e) if e.message.len() >= 4 && avail[3..].iter().all(|&b| is_texty(b)) => Probe::Match,
                _ => Probe::NoMatch,
            }
        }
        _ => Probe::NoMatch,
    }
}

/// First client packet when the greeting was not seen: a handshake response (seq 1)
/// with CLIENT_PROTOCOL_41 and zero reserved bytes, or an SSL request.
fn probe_handshake_response(data: &[u8]) -> Probe {
    let Some((len, seq)) = header(data) else {
        return Probe::NeedMore;
    };
    if seq != 1 || !(32..PROBE_MAX_LEN).contains(&len) {
        return Probe::NoMatch;
    }
    if data.len() < HDR + 32 {
        return Probe::NeedMore;
    }
    let p = &data[HDR..];
    let caps = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
    // Reserved bytes are zero (MariaDB uses the last four for extended capabilities).
    if caps & CLIENT_PROTOCOL_41 == 0 || p[9..28].iter().any(|&b| b != 0) || p[8] == 0 {
        return Probe::NoMatch;
    }
    if data.len() < HDR + len {
        return Probe::NeedMore;
    }
    if parse_handshake_response(&data[HDR..HDR + len]).is_some() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// Walk plain packet headers from the start of `data`: how many complete packets, and
/// does the last one end exactly at the end of `data`. Sequence ids within a chain must
/// go up by one, or restart at 0 (a new command) when `restart_ok`.
fn walk(data: &[u8], restart_ok: bool) -> (usize, bool) {
    let mut pos = 0;
    let mut n = 0;
    let mut prev: Option<u8> = None;
    while let Some((len, seq)) = data.get(pos..).and_then(header) {
        if len == 0 && n == 0 {
            break;
        }
        if let Some(p) = prev {
            if seq != p.wrapping_add(1) && !(restart_ok && seq == 0) {
                break;
            }
        }
        let end = pos + HDR + len;
        if end > data.len() {
            break;
        }
        n += 1;
        pos = end;
        prev = Some(seq);
        if pos == data.len() {
            return (n, true);
        }
    }
    (n, false)
}

/// Mid-stream: strong evidence only. The chunk must be complete packets (or at least
/// two consecutive valid ones), the first a known command (client) or a generic
/// response (server).
fn probe_packets(dir: Direction, data: &[u8]) -> Probe {
    let Some((len, seq)) = header(data) else {
        return Probe::NeedMore;
    };
    if len == 0 || len > MAX_PACKET {
        return Probe::NoMatch;
    }
    let body = &data[HDR..data.len().min(HDR + len)];
    let complete = data.len() >= HDR + len;
    let first_ok = match dir {
        Direction::ToServer => seq == 0 && command_plausible(body, len),
        Direction::ToClient => response_plausible(body, len, seq),
    };
    if !first_ok {
        return Probe::NoMatch;
    }
    if !complete {
        return if len < PROBE_MAX_LEN { Probe::NeedMore } else { Probe::NoMatch };
    }
    let (n, exact) = walk(data, dir == Direction::ToServer);
    if exact || n >= 2 {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// Is `body` (the first bytes of a `len`-byte client packet) a plausible command?
fn command_plausible(body: &[u8], len: usize) -> bool {
    let Some(&cmd) = body.first() else {
        return false;
    };
    let rest = &body[1..];
    match cmd {
        COM_QUERY | COM_STMT_PREPARE => {
            !rest.is_empty() && (looks_like_sql(rest) || parse_query_text(body, None).is_some_and(looks_like_sql))
        }
        COM_INIT_DB | COM_FIELD_LIST => {
            !rest.is_empty() && rest.iter().take(64).all(|&b| b.is_ascii_graphic() || b >= 0x80 || b == 0)
        }
        COM_QUIT | 0x07 | 0x08 | 0x09 | 0x0a | 0x0d | 0x0e | COM_RESET_CONNECTION => len == 1,
        COM_STMT_CLOSE | COM_STMT_RESET | 0x0c => len == 5,
        COM_SET_OPTION => len == 3,
        COM_STMT_FETCH => len == 9,
        COM_STMT_EXECUTE => len >= 10 && rest.get(4).is_some_and(|&f| f <= 0x0f),
        COM_STMT_SEND_LONG_DATA => len >= 7,
        _ => false,
    }
}

/// Is this the first packet of a server response: OK, ERR, EOF, a result-set header or
/// a column definition?
fn response_plausible(body: &[u8], len: usize, seq: u8) -> bool {
    let Some(&kind) = body.first() else {
        return false;
    };
    match kind {
        0x00 => seq >= 1 && (7..1024).contains(&len),
        0xff => seq >= 1 && len >= 9 && body.get(3) == Some(&b'#'),
        0xfe => seq >= 1 && len < 9,
        // lenenc "def": catalog of a column definition.
        0x03 if body.starts_with(b"\x03def") => seq >= 2,
        1..=0xfa => seq == 1 && len <= 2,
        _ => false,
    }
}

/// Mid-stream compressed protocol: 7-byte headers; each payload either stored (ulen 0)
/// or zlib that inflates to something that itself looks like MySQL packets.
fn probe_compressed(dir: Direction, data: &[u8]) -> Probe {
    let mut r = Reader::new(data);
    let (Some(clen), Some(_seq), Some(ulen)) = (r.le_u24(), r.u8(), r.le_u24()) else {
        return Probe::NoMatch; // fewer than 7 bytes and the plain probe already failed
    };
    let (clen, ulen) = (clen as usize, ulen as usize);
    if clen == 0 || data.len() < CHDR + clen {
        return Probe::NoMatch;
    }
    let payload = &data[CHDR..CHDR + clen];
    let inner = if ulen == 0 {
        payload.to_vec()
    } else {
        if ulen < 4 || payload.first() != Some(&0x78) {
            return Probe::NoMatch;
        }
        match inflate_capped(payload, ulen.min(INFLATE_CAP)) {
            Some(v) if !v.is_empty() => v,
            _ => return Probe::NoMatch,
        }
    };
    // The framing of the inner stream restarts with every command / response.
    match probe_packets(dir, &inner) {
        Probe::Match => Probe::Match,
        Probe::NeedMore if ulen > inner.len() || clen >= MAX_PACKET => Probe::Match,
        _ => Probe::NoMatch,
    }
}

// ---------------------------------------------------------------------------------------
// Framing

/// One packet cut from a stream: the first `body.len()` bytes of a `len`-byte payload.
#[derive(Debug)]
struct Frame<'a> {
    seq: u8,
    len: usize,
    /// For compressed packets: the uncompressed length (0: stored).
    ulen: usize,
    /// Borrowed from the chunk when the payload lies whole in it (the common case: no
    /// copy, no allocation), owned when it was gathered across chunks.
    body: Cow<'a, [u8]>,
    /// Continuation of a previous 0xffffff-long payload.
    continuation: bool,
}

/// Cuts one direction's bytes into packets. Buffers at most `cap` bytes of a payload
/// and skips the rest with a counter, so memory stays bounded on huge results.
#[derive(Debug, Default)]
struct Framer {
    hdr: [u8; CHDR],
    hdr_len: usize,
    /// Inside a payload: its header fields, and how much of it we keep.
    in_body: bool,
    cur_len: usize,
    cur_seq: u8,
    cur_ulen: usize,
    want: usize,
    body: Vec<u8>,
    /// Payload bytes still to discard.
    skip: usize,
    /// The packet after a 0xffffff-long one continues it.
    next_is_continuation: bool,
    /// Framing lost (gap, mid-stream start): wait for a chunk that starts a packet.
    lost: bool,
}

impl Framer {
    fn idle(&self) -> bool {
        self.hdr_len == 0 && !self.in_body && self.skip == 0
    }

    fn reset(&mut self) {
        *self = Framer::default();
    }

    /// `n` bytes were lost. If we were skipping at least that much, nothing changes.
    fn gap(&mut self, n: u64) {
        if (self.skip as u64) >= n {
            self.skip -= n as usize;
        } else {
            self.reset();
            self.lost = true;
        }
    }

    /// Consume from `data[*pos..]` until one packet is complete (returned) or the data
    /// runs out (`None`). `hsize` is 4 (plain) or 7 (compressed).
    fn next<'a>(&mut self, data: &'a [u8], pos: &mut usize, hsize: usize, cap: usize) -> Option<Frame<'a>> {
        loop {
            let rest = data.get(*pos..).unwrap_or(&[]);
            if rest.is_empty() {
                return None;
            }
            if self.skip > 0 {
                let n = self.skip.min(rest.len());
                self.skip -= n;
                *pos += n;
                continue;
            }
            if !self.in_body {
                let n = (hsize - self.hdr_len).min(rest.len());
                self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&rest[..n]);
                self.hdr_len += n;
                *pos += n;
                if self.hdr_len < hsize {
                    return None;
                }
                let h = self.hdr;
                self.hdr_len = 0;
                self.cur_len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
                self.cur_seq = h[3];
                self.cur_ulen = if hsize == CHDR { u32::from_le_bytes([h[4], h[5], h[6], 0]) as usize } else { 0 };
                self.want = self.cur_len.min(cap);
                self.in_body = true;
                let rest = data.get(*pos..).unwrap_or(&[]);
                if let Some(whole) = rest.get(..self.want) {
                    *pos += self.want;
                    return Some(self.frame(hsize, Cow::Borrowed(whole)));
                }
                self.body = Vec::with_capacity(self.want);
            }
            let rest = data.get(*pos..).unwrap_or(&[]);
            let n = (self.want - self.body.len()).min(rest.len());
            self.body.extend_from_slice(&rest[..n]);
            *pos += n;
            if self.body.len() < self.want {
                return None;
            }
            let body = std::mem::take(&mut self.body);
            return Some(self.frame(hsize, Cow::Owned(body)));
        }
    }

    /// The payload is complete: the frame, and what to skip of the payload beyond `cap`.
    fn frame<'a>(&mut self, hsize: usize, body: Cow<'a, [u8]>) -> Frame<'a> {
        self.in_body = false;
        self.skip = self.cur_len - self.want;
        let continuation = self.next_is_continuation;
        self.next_is_continuation = hsize == HDR && self.cur_len == MAX_PACKET;
        Frame { seq: self.cur_seq, len: self.cur_len, ulen: self.cur_ulen, body, continuation }
    }
}

// ---------------------------------------------------------------------------------------
// State machine

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Waiting for the server greeting.
    #[default]
    Greeting,
    /// Greeting seen; waiting for the client's handshake response or SSL request.
    Response,
    /// Authentication exchange (after the response, or after COM_CHANGE_USER).
    Auth,
    /// Command phase.
    Command,
    /// Mid-stream start: command phase, but a greeting or a handshake response may
    /// still show up.
    Unknown,
    /// TLS took over; nothing more for us.
    Tls,
}

/// What the packet handler wants done with the rest of the chunk.
enum Next {
    Continue,
    /// TLS starts right after this packet.
    StartTls,
    Stop,
}

#[derive(Debug, Default)]
struct DirState {
    /// Framing of the bytes as they come (plain, or compressed wrappers).
    wire: Framer,
    /// Framing of the decompressed stream (compressed protocol only).
    inner: Framer,
    /// This direction was handed to TLS.
    tls: bool,
}

/// Per-connection MySQL state machine.
#[derive(Debug, Default)]
pub struct MysqlState {
    phase: Phase,
    dirs: [DirState; 2],
    server_caps: Option<u32>,
    client_caps: Option<u32>,
    /// Auth plugin in use right now (greeting, response, or auth switch).
    plugin: Option<String>,
    /// The client's next auth packets carry the password in the clear.
    cleartext_next: bool,
    /// caching_sha2_password asked for full authentication (0x01 0x04).
    sha2_full_auth: bool,
    /// Compressed protocol negotiated; active once `compress_on`.
    compress_negotiated: bool,
    compress_on: bool,
    stopped: bool,
}

impl MysqlState {
    pub fn new(midstream: bool) -> Self {
        let mut s = MysqlState::default();
        if midstream {
            s.phase = Phase::Unknown;
            for d in &mut s.dirs {
                d.wire.lost = true;
            }
        }
        s
    }

    /// How much of one payload to buffer. Handshake packets (connect attributes, auth
    /// data) are parsed whole up to a fixed bound even when `max_message` is tiny.
    fn cap(&self, cx: &ConnCx<'_>) -> usize {
        let cap = cx.cfg.max_message.max(64);
        match self.phase {
            Phase::Greeting | Phase::Response | Phase::Auth => cap.max(HANDSHAKE_CAP),
            _ => cap,
        }
    }

    fn negotiated(&self, flag: u32) -> Option<bool> {
        let c = self.client_caps?;
        Some(c & flag != 0 && self.server_caps.map_or(true, |s| s & flag != 0))
    }

    pub fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut ConnCx<'_>) -> Feed {
        let i = dir.index();
        if self.dirs[i].tls {
            return Feed::StartTls { offset: 0 };
        }
        if self.stopped {
            return Feed::Stop;
        }
        cx.obs.engine = EngineKind::Mysql;
        // After the SSL request the server answers with TLS; a TLS record in either
        // direction then (or where a response was due) means TLS took over.
        if self.phase == Phase::Tls
            || (self.phase == Phase::Response && dir == Direction::ToServer && looks_like_tls_record(data))
        {
            if self.phase != Phase::Tls {
                cx.obs.tls_requested = true;
                Observed::note(&mut cx.obs.anomalies, "mysql: TLS records without a visible SSL request");
            }
            self.phase = Phase::Tls;
            cx.obs.tls_upgrade.get_or_insert(TlsUpgrade::MysqlSslRequest);
            self.dirs[i].tls = true;
            return Feed::StartTls { offset: 0 };
        }
        if self.dirs[i].wire.lost {
            if !self.resync(dir, data) {
                return Feed::Continue;
            }
            self.dirs[i].wire.reset();
            self.dirs[i].inner.reset();
        }
        let mut pos = 0;
        while pos < data.len() {
            let cap = self.cap(cx);
            if self.compress_on {
                let Some(f) = self.dirs[i].wire.next(data, &mut pos, CHDR, cap) else {
                    break;
                };
                self.on_compressed(dir, f, cx);
            } else {
                let Some(f) = self.dirs[i].wire.next(data, &mut pos, HDR, cap) else {
                    break;
                };
                match self.on_packet(dir, &f, cx) {
                    Next::Continue => {}
                    Next::StartTls => {
                        self.dirs[i].tls = true;
                        return Feed::StartTls { offset: pos };
                    }
                    Next::Stop => {
                        self.stopped = true;
                        return Feed::Stop;
                    }
                }
            }
        }
        Feed::Continue
    }

    pub fn gap(&mut self, dir: Direction, len: u64, cx: &mut ConnCx<'_>) {
        let d = &mut self.dirs[dir.index()];
        if d.tls || len == 0 {
            return;
        }
        d.wire.gap(len);
        if d.wire.lost {
            d.inner.reset();
            Observed::note(&mut cx.obs.anomalies, format!("mysql: {len} bytes lost, resynchronising"));
        }
    }

    /// After a gap or a mid-stream start: does this chunk start with packets? Decides
    /// between plain and compressed framing too.
    fn resync(&mut self, dir: Direction, data: &[u8]) -> bool {
        let plain = || {
            probe_greeting(data) == Probe::Match
                || probe_handshake_response(data) == Probe::Match
                || probe_packets(dir, data) == Probe::Match
        };
        let compressed = || probe_compressed(dir, data) == Probe::Match;
        // The framing that matches decides the mode (it is per connection).
        if self.compress_on {
            if compressed() {
                return true;
            }
            if self.phase == Phase::Unknown && plain() {
                self.compress_on = false;
                return true;
            }
            false
        } else {
            if plain() {
                return true;
            }
            // Only where compression is possible: unknown capabilities, or negotiated.
            let possible = self.client_caps.is_none() || self.compress_negotiated;
            if possible && matches!(self.phase, Phase::Unknown | Phase::Command) && compressed() {
                self.compress_on = true;
                return true;
            }
            false
        }
    }

    /// One compressed wrapper: unwrap (inflate, capped) and feed the inner stream.
    fn on_compressed(&mut self, dir: Direction, f: Frame, cx: &mut ConnCx<'_>) {
        let i = dir.index();
        let full = if f.ulen == 0 { f.len } else { f.ulen };
        let inner: Cow<'_, [u8]> = if f.ulen == 0 {
            f.body
        } else if f.body.len() < f.len {
            // Compressed payload too large to buffer: its inner bytes are lost.
            Cow::Borrowed(&[])
        } else {
            match inflate_capped(&f.body, f.ulen.min(INFLATE_CAP)) {
                Some(v) => Cow::Owned(v),
                None => {
                    Observed::note(&mut cx.obs.anomalies, "mysql: bad zlib data in compressed packet");
                    Cow::Borrowed(&[])
                }
            }
        };
        if self.dirs[i].inner.lost {
            if probe_packets(dir, &inner) != Probe::Match && probe_packets(dir, &inner) != Probe::NeedMore {
                return;
            }
            self.dirs[i].inner.reset();
        }
        let cap = self.cap(cx);
        let mut pos = 0;
        while let Some(p) = self.dirs[i].inner.next(&inner, &mut pos, HDR, cap) {
            // No TLS or compression switch can happen inside compressed packets.
            if let Next::Stop = self.on_packet(dir, &p, cx) {
                break;
            }
        }
        if full > inner.len() {
            self.dirs[i].inner.gap((full - inner.len()) as u64);
        }
    }

    /// One plain packet (possibly cut at `max_message`).
    fn on_packet(&mut self, dir: Direction, f: &Frame, cx: &mut ConnCx<'_>) -> Next {
        if f.continuation {
            return Next::Continue; // tail of a 16 MiB payload: nothing new to parse
        }
        cx.obs.plaintext_messages += 1;
        let p = &f.body[..];
        match dir {
            Direction::ToClient => self.on_server(f.seq, p, cx),
            Direction::ToServer => self.on_client(f.seq, p, f.len, cx),
        }
    }

    fn on_server(&mut self, seq: u8, p: &[u8], cx: &mut ConnCx<'_>) -> Next {
        let Some(&kind) = p.first() else {
            return Next::Continue;
        };
        match self.phase {
            Phase::Greeting | Phase::Unknown if seq == 0 && (kind == 10 || kind == 9) => match parse_greeting(p) {
                Some(g) => self.on_greeting(&g, cx),
                None if self.phase == Phase::Greeting => {
                    Observed::note(&mut cx.obs.anomalies, "mysql: malformed server greeting");
                    return Next::Stop;
                }
                None => {}
            },
            Phase::Greeting => {
                if let Some(e) = (kind == 0xff).then(|| parse_err(p)).flatten() {
                    cx.obs.engine_by_content = true;
                    Observed::note(&mut cx.obs.errors, e.describe());
                    self.phase = Phase::Command;
                } else {
                    Observed::note(&mut cx.obs.anomalies, "mysql: first server packet is not a greeting");
                    return Next::Stop;
                }
            }
            Phase::Auth => self.on_auth_server(p, cx),
            Phase::Response | Phase::Command | Phase::Unknown | Phase::Tls => {
                if kind == 0xff {
                    if let Some(e) = parse_err(p) {
                        Observed::note(&mut cx.obs.errors, e.describe());
                    }
                }
            }
        }
        Next::Continue
    }

    fn on_greeting(&mut self, g: &Greeting, cx: &mut ConnCx<'_>) {
        cx.obs.engine_by_content = true;
        cx.obs.server_version = Some(g.version().to_string());
        let caps = g.caps32();
        self.server_caps = Some(caps);
        if g.protocol == 10 {
            let offered = caps & CLIENT_SSL != 0;
            cx.obs.tls_offered_by_server = Some(offered);
            // A MySQL server without CLIENT_SSL refuses TLS before anyone asks.
            cx.obs.tls_refused = !offered;
        }
        self.plugin = g.auth_plugin.clone();
        self.phase = Phase::Response;
    }

    /// Server packets while authenticating ("Authentication Phase" in the docs).
    fn on_auth_server(&mut self, p: &[u8], cx: &mut ConnCx<'_>) {
        match p[0] {
            0x00 => {
                cx.obs.auth_ok = Some(true);
                self.enter_command(cx);
            }
            0xff => {
                if let Some(e) = parse_err(p) {
                    cx.obs.auth_ok = Some(false);
                    Observed::note(&mut cx.obs.errors, e.describe());
                    self.phase = Phase::Command;
                }
            }
            0xfe => {
                if let Some(name) = parse_auth_switch(p) {
                    self.set_plugin(&name, cx);
                }
            }
            0x01 => match p.get(1..) {
                Some([0x03]) => {} // caching_sha2 fast auth succeeded; OK follows
                Some([0x04]) => self.sha2_full_auth = true,
                _ => {} // public key or other plugin data
            },
            // Other plugin data (e.g. PAM dialog prompts, 0x02/0x04 + text).
            _ => {}
        }
    }

    fn enter_command(&mut self, _cx: &mut ConnCx<'_>) {
        self.phase = Phase::Command;
        self.cleartext_next = false;
        self.sha2_full_auth = false;
        // Compression starts with the first packet after the handshake's OK.
        if self.compress_negotiated && !self.compress_on {
            self.compress_on = true;
            for d in &mut self.dirs {
                if !d.wire.idle() {
                    d.wire.reset();
                    d.wire.lost = true;
                }
            }
        }
    }

    fn set_plugin(&mut self, name: &str, cx: &mut ConnCx<'_>) {
        self.plugin = Some(name.to_string());
        self.cleartext_next = plugin_is_cleartext(name);
        self.sha2_full_auth = false;
        // Once a password went in the clear, that is what the report must say.
        if !cx.obs.cleartext_password_seen {
            cx.obs.auth_method = Some(if name == "mysql_clear_password" {
                AuthMethod::Cleartext
            } else {
                AuthMethod::Plugin(name.to_string())
            });
        }
    }

    fn saw_cleartext_password(&mut self, cx: &mut ConnCx<'_>) {
        cx.obs.cleartext_password_seen = true;
        cx.obs.auth_method = Some(AuthMethod::Cleartext);
    }

    fn on_client(&mut self, seq: u8, p: &[u8], len: usize, cx: &mut ConnCx<'_>) -> Next {
        match self.phase {
            Phase::Greeting | Phase::Response => return self.on_response(seq, p, cx),
            Phase::Unknown
                if seq == 1 && parse_handshake_response(p).is_some_and(|h| h.caps & CLIENT_PROTOCOL_41 != 0) =>
            {
                return self.on_response(seq, p, cx);
            }
            Phase::Auth => {
                if seq == 0 {
                    // A command: the auth exchange ended without us seeing the OK.
                    self.phase = Phase::Command;
                } else {
                    self.on_auth_client(p, cx);
                    return Next::Continue;
                }
            }
            _ => {}
        }
        if seq == 0 {
            self.on_command(p, len, cx);
        }
        Next::Continue
    }

    /// Client auth data after an auth switch / more-data request.
    fn on_auth_client(&mut self, p: &[u8], cx: &mut ConnCx<'_>) {
        if p.is_empty() {
            return;
        }
        if self.cleartext_next {
            self.saw_cleartext_password(cx);
        } else if self.sha2_full_auth {
            // Over a plaintext link the client should ask for the key (0x02); a
            // NUL-terminated printable string is the password itself.
            let printable = p.len() >= 2
                && p.last() == Some(&0)
                && p[..p.len() - 1].iter().all(|&b| b.is_ascii_graphic() || b == b' ' || b >= 0x80);
            if printable {
                self.saw_cleartext_password(cx);
            }
            self.sha2_full_auth = false;
        }
    }

    /// Handshake response or SSL request.
    fn on_response(&mut self, seq: u8, p: &[u8], cx: &mut ConnCx<'_>) -> Next {
        let Some(h) = parse_handshake_response(p) else {
            Observed::note(&mut cx.obs.anomalies, format!("mysql: malformed handshake response (seq {seq})"));
            return if self.phase == Phase::Greeting { Next::Stop } else { Next::Continue };
        };
        cx.obs.engine_by_content = true;
        self.client_caps = Some(h.caps);
        if h.ssl_request {
            cx.obs.tls_requested = true;
            cx.obs.tls_upgrade = Some(TlsUpgrade::MysqlSslRequest);
            self.phase = Phase::Tls;
            return Next::StartTls;
        }
        if let Some(u) = h.user.filter(|u| !u.is_empty()) {
            cx.obs.user = Some(u);
        }
        if let Some(db) = h.database {
            cx.obs.database = Some(db);
        }
        if let Some(app) = h.program_name {
            cx.obs.application_name = Some(app);
        }
        let plugin = h.auth_plugin.or_else(|| self.plugin.clone()).unwrap_or_else(|| {
            if h.caps & CLIENT_SECURE_CONNECTION != 0 { "mysql_native_password" } else { "mysql_old_password" }.into()
        });
        self.set_plugin(&plugin, cx);
        if plugin_is_cleartext(&plugin) && h.auth_len > 0 {
            self.saw_cleartext_password(cx);
        }
        self.compress_negotiated = self.negotiated(CLIENT_COMPRESS) == Some(true);
        self.phase = Phase::Auth;
        Next::Continue
    }

    /// Command phase, client side, sequence id 0.
    fn on_command(&mut self, p: &[u8], len: usize, cx: &mut ConnCx<'_>) {
        let Some(&cmd) = p.first() else { return };
        cx.obs.engine_by_content = true;
        match cmd {
            COM_QUERY | COM_STMT_PREPARE => {
                let attrs = if self.phase == Phase::Unknown {
                    None
                } else {
                    Some(self.negotiated(CLIENT_QUERY_ATTRIBUTES) == Some(true))
                };
                match parse_query_text(p, attrs) {
                    Some(t) => {
                        // `from_utf8` checks ASCII a word at a time; lossy only if invalid.
                        let t = match std::str::from_utf8(t) {
                            Ok(s) => std::borrow::Cow::Borrowed(s),
                            Err(_) => String::from_utf8_lossy(t),
                        };
                        cx.obs.add_query(cx.cfg, sql::Dialect::Mysql, &t);
                    }
                    None => Observed::note(&mut cx.obs.anomalies, "mysql: COM_QUERY with unparsable query attributes"),
                }
                if len > p.len() {
                    Observed::note(&mut cx.obs.anomalies, format!("mysql: {len}-byte query cut at {} bytes", p.len()));
                }
            }
            COM_INIT_DB => {
                let db = &p[1..];
                if !db.is_empty() {
                    cx.obs.database = Some(text(db.split(|&b| b == 0).next().unwrap_or(db)));
                }
            }
            COM_CHANGE_USER => {
                if let Some(c) =
                    parse_change_user(p, self.client_caps.unwrap_or(CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH))
                {
                    if !c.user.is_empty() {
                        cx.obs.user = Some(c.user);
                    }
                    if let Some(db) = c.database {
                        cx.obs.database = Some(db);
                    }
                    if let Some(pl) = c.auth_plugin {
                        self.set_plugin(&pl, cx);
                    }
                }
                self.phase = Phase::Auth;
            }
            COM_SLEEP
            | COM_QUIT
            | 0x04..=0x10
            | 0x12..=0x15
            | COM_STMT_EXECUTE
            | COM_STMT_SEND_LONG_DATA
            | COM_STMT_CLOSE
            | COM_STMT_RESET
            | COM_SET_OPTION
            | COM_STMT_FETCH
            | 0x1d
            | 0x1e
            | COM_RESET_CONNECTION
            | COM_STMT_BULK_EXECUTE => {}
            other => Observed::note(&mut cx.obs.anomalies, format!("mysql: unknown command 0x{other:02x}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;

    /// These tests check what the engine extracts, so literals stay visible; redaction
    /// has its own tests in `sql.rs`.
    fn raw_cfg() -> EngineConfig {
        EngineConfig { show_literals: true, ..EngineConfig::default() }
    }
    use proptest::prelude::*;
    use std::io::Write;

    const C: Direction = Direction::ToServer;
    const S: Direction = Direction::ToClient;

    type Chunks = Vec<(Direction, Vec<u8>)>;

    /// Load a recorded fixture: one "C <hex>" / "S <hex>" line per TCP segment.
    fn fixture(src: &str) -> Chunks {
        src.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(d, h)| {
                let dir = if d == "C" { C } else { S };
                let h = h.trim().as_bytes();
                let bytes =
                    h.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect();
                (dir, bytes)
            })
            .collect()
    }

    fn plain_fx() -> Chunks {
        fixture(include_str!("../../tests/fixtures/mysql/plain.hex"))
    }

    /// A packet: header computed from the payload.
    fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len() as u32;
        let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
        v.extend_from_slice(payload);
        v
    }

    /// Feed chunks like the dissector does: nothing more for a direction after
    /// StartTls, nothing at all after Stop.
    fn run_cfg(
        cfg: &EngineConfig,
        midstream: bool,
        chunks: &[(Direction, Vec<u8>)],
    ) -> (Observed, Vec<(Direction, Feed)>) {
        let mut obs = Observed::default();
        let mut tls = None;
        let mut st = MysqlState::new(midstream);
        let mut feeds = Vec::new();
        let mut in_tls = [false; 2];
        for (d, c) in chunks {
            if in_tls[d.index()] {
                continue;
            }
            let mut cx = ConnCx { cfg, obs: &mut obs, tls: &mut tls };
            let f = st.feed(*d, c, &mut cx);
            feeds.push((*d, f));
            match f {
                Feed::StartTls { .. } => in_tls[d.index()] = true,
                Feed::Stop => break,
                Feed::Continue => {}
            }
            // Memory stays bounded whatever the input.
            for ds in &st.dirs {
                assert!(ds.wire.body.capacity() <= cfg.max_message.max(HANDSHAKE_CAP));
                assert!(ds.inner.body.capacity() <= cfg.max_message.max(HANDSHAKE_CAP));
            }
        }
        (obs, feeds)
    }

    fn run(chunks: &[(Direction, Vec<u8>)]) -> Observed {
        run_cfg(&raw_cfg(), false, chunks).0
    }

    /// The same bytes, one byte per chunk.
    fn bytewise(chunks: &[(Direction, Vec<u8>)]) -> Chunks {
        chunks.iter().flat_map(|(d, c)| c.iter().map(move |b| (*d, vec![*b]))).collect()
    }

    fn assert_split_invariant(chunks: &[(Direction, Vec<u8>)]) {
        let whole = run(chunks);
        let split = run(&bytewise(chunks));
        assert_eq!(format!("{whole:?}"), format!("{split:?}"));
    }

    // MySQL 8.0 Initial Handshake v10 (hand-written per the protocol docs).
    const MYSQL8_GREETING: &[u8] = &[
        /* length */ 0x4a, 0x00, 0x00, /* seq */ 0x00, /* protocol */ 0x0a,
        /* version "8.0.36" */ b'8', b'.', b'0', b'.', b'3', b'6', 0x00, /* thread id */ 0x0c, 0x00, 0x00,
        0x00, /* auth data part 1 */ 0x10, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x18, /* filler */ 0x00,
        /* caps lower */ 0xff, 0xff, /* charset */ 0xff, /* status */ 0x02, 0x00,
        /* caps upper (incl. QUERY_ATTRIBUTES) */ 0xff, 0xdf, /* auth data length */ 0x15,
        /* reserved */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* auth data part 2 */ 0x21, 0x22, 0x23, 0x24, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x00, /* plugin */ b'c', b'a', b'c', b'h', b'i', b'n', b'g',
        b'_', b's', b'h', b'a', b'2', b'_', b'p', b'a', b's', b's', b'w', b'o', b'r', b'd', 0x00,
    ];

    /// HandshakeResponse41 payload built from its fields.
    fn response41(
        caps: u32,
        user: &str,
        auth: &[u8],
        db: Option<&str>,
        plugin: Option<&str>,
        attrs: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&0x0100_0000u32.to_le_bytes()); // max packet
        p.push(0xff); // charset
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(auth.len() as u8); // lenenc (< 251) and 1-byte length look the same
        p.extend_from_slice(auth);
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            p.extend_from_slice(db.unwrap_or("").as_bytes());
            p.push(0);
        }
        if let Some(pl) = plugin {
            p.extend_from_slice(pl.as_bytes());
            p.push(0);
        }
        if caps & CLIENT_CONNECT_ATTRS != 0 {
            let mut a = Vec::new();
            for (k, v) in attrs {
                a.push(k.len() as u8);
                a.extend_from_slice(k.as_bytes());
                a.push(v.len() as u8);
                a.extend_from_slice(v.as_bytes());
            }
            p.push(a.len() as u8);
            p.extend_from_slice(&a);
        }
        p
    }

    const CAPS8: u32 = CLIENT_PROTOCOL_41
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH
        | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CLIENT_CONNECT_WITH_DB
        | CLIENT_CONNECT_ATTRS
        | CLIENT_MYSQL;

    const OK_AFTER_AUTH: &[u8] = &[
        /* length */ 0x07, 0x00, 0x00, /* seq */ 0x02, /* OK */ 0x00, /* affected rows */ 0x00,
        /* last insert id */ 0x00, /* status */ 0x02, 0x00, /* warnings */ 0x00, 0x00,
    ];

    fn mysql8_login(caps: u32, plugin: &str) -> Chunks {
        vec![
            (S, MYSQL8_GREETING.to_vec()),
            (
                C,
                pkt(
                    1,
                    &response41(
                        caps,
                        "alice",
                        &[0x5a; 32],
                        Some("sales"),
                        Some(plugin),
                        &[("program_name", "reporter")],
                    ),
                ),
            ),
        ]
    }

    fn query(seq: u8, q: &str) -> Vec<u8> {
        let mut p = vec![COM_QUERY];
        p.extend_from_slice(q.as_bytes());
        pkt(seq, &p)
    }

    // ---- recorded MariaDB 10.11 exchanges -----------------------------------------

    #[test]
    fn mariadb_plain_login_and_queries() {
        let o = run(&plain_fx());
        assert_eq!(o.engine, EngineKind::Mysql);
        assert!(o.engine_by_content);
        assert_eq!(o.server_version.as_deref(), Some("10.11.19-MariaDB-0+deb12u1"));
        assert_eq!(o.tls_offered_by_server, Some(true));
        assert!(!o.tls_requested);
        assert_eq!(o.user.as_deref(), Some("app"));
        assert_eq!(o.database.as_deref(), Some("shop"));
        assert_eq!(o.application_name.as_deref(), Some("mysql"));
        assert_eq!(o.auth_method, Some(AuthMethod::Plugin("mysql_native_password".into())));
        assert_eq!(o.auth_ok, Some(true));
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.query_count, 2);
        assert!(o.queries[0].starts_with("SELECT name FROM items WHERE id ="), "{:?}", o.queries);
        assert_eq!(o.queries[1], "SELECT COUNT(*) FROM items");
        // greeting, response, OK, 2 × (query, count, column, EOF, row, EOF), quit
        assert_eq!(o.plaintext_messages, 3 + 2 * 6 + 1);
        assert!(o.errors.is_empty() && o.anomalies.is_empty(), "{o:?}");
    }

    #[test]
    fn recorded_fixtures_split_bytewise_give_same_facts() {
        for fx in [
            include_str!("../../tests/fixtures/mysql/plain.hex"),
            include_str!("../../tests/fixtures/mysql/tls.hex"),
            include_str!("../../tests/fixtures/mysql/clear-password.hex"),
            include_str!("../../tests/fixtures/mysql/failed-login.hex"),
            include_str!("../../tests/fixtures/mysql/compressed.hex"),
            include_str!("../../tests/fixtures/mysql/pam-dialog.hex"),
        ] {
            assert_split_invariant(&fixture(fx));
        }
    }

    #[test]
    fn all_in_one_chunk_per_direction_run() {
        // Several packets per chunk: glue consecutive same-direction segments.
        let mut glued: Chunks = Vec::new();
        for (d, c) in plain_fx() {
            match glued.last_mut() {
                Some((ld, lc)) if *ld == d => lc.extend_from_slice(&c),
                _ => glued.push((d, c)),
            }
        }
        assert_eq!(format!("{:?}", run(&glued)), format!("{:?}", run(&plain_fx())));
    }

    #[test]
    fn mariadb_ssl_request_hands_both_directions_to_tls() {
        let fx = fixture(include_str!("../../tests/fixtures/mysql/tls.hex"));
        let (o, feeds) = run_cfg(&raw_cfg(), false, &fx);
        assert!(o.tls_requested);
        assert_eq!(o.tls_upgrade, Some(TlsUpgrade::MysqlSslRequest));
        assert_eq!(o.server_version.as_deref(), Some("10.11.19-MariaDB-0+deb12u1"));
        // The SSL request is a 36-byte segment of its own: TLS starts at its end.
        assert_eq!(feeds[1], (C, Feed::StartTls { offset: 36 }));
        assert_eq!(feeds[2], (S, Feed::StartTls { offset: 0 }));
        assert_eq!(feeds.len(), 3);
        assert!(o.user.is_none() && o.queries.is_empty());

        // SSL request and ClientHello in one chunk: the offset is the end of the request.
        let mut joined = fx[1].1.clone();
        joined.extend_from_slice(&fx[2].1);
        let (_, feeds) = run_cfg(&raw_cfg(), false, &[fx[0].clone(), (C, joined)]);
        assert_eq!(feeds[1], (C, Feed::StartTls { offset: 36 }));
    }

    #[test]
    fn tls_record_from_client_without_visible_ssl_request() {
        // The SSL request segment was lost; the client's next bytes are a TLS record.
        let fx = fixture(include_str!("../../tests/fixtures/mysql/tls.hex"));
        let (o, feeds) = run_cfg(&raw_cfg(), false, &[fx[0].clone(), fx[2].clone(), fx[3].clone()]);
        assert_eq!(feeds[1], (C, Feed::StartTls { offset: 0 }));
        assert_eq!(feeds[2], (S, Feed::StartTls { offset: 0 }));
        assert!(o.tls_requested);
    }

    #[test]
    fn mariadb_clear_password_plugin_never_stores_password() {
        let o = run(&fixture(include_str!("../../tests/fixtures/mysql/clear-password.hex")));
        assert!(o.cleartext_password_seen);
        assert_eq!(o.auth_method, Some(AuthMethod::Cleartext));
        assert_eq!(o.user.as_deref(), Some("app"));
        assert_eq!(o.auth_ok, Some(true));
        assert_eq!(o.queries, vec!["SELECT 2".to_string()]);
        assert!(!format!("{o:?}").contains("s3cretPw"));
    }

    #[test]
    fn mariadb_failed_login() {
        let o = run(&fixture(include_str!("../../tests/fixtures/mysql/failed-login.hex")));
        assert_eq!(o.auth_ok, Some(false));
        assert_eq!(o.errors.len(), 1);
        assert!(o.errors[0].starts_with("1045 (28000): Access denied for user 'app'@"), "{:?}", o.errors);
        assert!(o.queries.is_empty());
    }

    #[test]
    fn mariadb_pam_dialog_is_cleartext() {
        let o = run(&fixture(include_str!("../../tests/fixtures/mysql/pam-dialog.hex")));
        assert_eq!(o.user.as_deref(), Some("pamuser"));
        assert!(o.cleartext_password_seen);
        assert_eq!(o.auth_method, Some(AuthMethod::Cleartext));
        assert_eq!(o.auth_ok, Some(false));
        assert!(!format!("{o:?}").contains("PamSecret9"));
    }

    #[test]
    fn mariadb_compressed_protocol() {
        let o = run(&fixture(include_str!("../../tests/fixtures/mysql/compressed.hex")));
        assert_eq!(o.auth_ok, Some(true));
        assert_eq!(o.query_count, 2, "{o:?}");
        assert!(o.queries[0].starts_with("SELECT name FROM items WHERE name ="), "{:?}", o.queries);
        assert!(o.queries[1].starts_with("SELECT REPEAT("), "{:?}", o.queries);
        assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
    }

    // ---- greeting -------------------------------------------------------------------

    #[test]
    fn greeting_mysql8() {
        let g = parse_greeting(&MYSQL8_GREETING[4..]).unwrap();
        assert_eq!(g.version(), "8.0.36");
        assert_eq!(g.caps32(), 0xdfff_ffff);
        assert_eq!(g.auth_plugin.as_deref(), Some("caching_sha2_password"));
        assert_eq!(probe(S, MYSQL8_GREETING, false), Probe::Match);
        let o = run(&[(S, MYSQL8_GREETING.to_vec())]);
        assert_eq!(o.server_version.as_deref(), Some("8.0.36"));
        assert_eq!(o.tls_offered_by_server, Some(true));
    }

    #[test]
    fn greeting_mariadb_strips_compat_prefix_and_reads_ext_caps() {
        let fx = plain_fx();
        let g = parse_greeting(&fx[0].1[4..]).unwrap();
        assert_eq!(g.raw_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(g.version(), "10.11.19-MariaDB-0+deb12u1");
        assert_eq!(g.caps >> 32, 0x1d, "MariaDB extended capabilities");
        assert_eq!(g.auth_plugin.as_deref(), Some("mysql_native_password"));
        // A MySQL 5.5.5 without MariaDB keeps its version.
        let mut p = fx[0].1[4..].to_vec();
        p.splice(1..1 + 32, b"5.5.5-plain-server-without-name!".iter().copied());
        assert_eq!(parse_greeting(&p).unwrap().version(), "5.5.5-plain-server-without-name!");
    }

    #[test]
    fn greeting_without_ssl_capability() {
        let mut g = MYSQL8_GREETING.to_vec();
        g[4 + 1 + 7 + 4 + 8 + 1 + 1] &= !0x08; // caps lower, high byte: clear CLIENT_SSL
        let o = run(&[(S, g)]);
        assert_eq!(o.tls_offered_by_server, Some(false));
        assert!(o.tls_refused);
        assert!(!run(&[(S, MYSQL8_GREETING.to_vec())]).tls_refused);
    }

    #[test]
    fn greeting_truncated_and_split() {
        let g = MYSQL8_GREETING;
        assert_eq!(probe(S, &g[..3], false), Probe::NeedMore);
        for n in 4..g.len() {
            assert_eq!(probe(S, &g[..n], false), Probe::NeedMore, "prefix {n}");
            assert!(parse_greeting(&g[4..n]).map_or(true, |x| x.version().starts_with('8')));
        }
        // Connection ends mid-greeting: nothing reported, no panic.
        let o = run(&[(S, g[..30].to_vec())]);
        assert!(o.server_version.is_none());
        assert_split_invariant(&mysql8_login(CAPS8, "caching_sha2_password"));
    }

    #[test]
    fn greeting_wrong_length_stops() {
        // Declared length cuts the version before its NUL.
        let mut g = MYSQL8_GREETING[..10].to_vec();
        g[0] = 6;
        let (o, feeds) = run_cfg(&raw_cfg(), false, &[(S, g)]);
        assert_eq!(feeds[0].1, Feed::Stop);
        assert!(o.server_version.is_none());
        assert_eq!(o.anomalies.len(), 1);
        // Absurd declared length is not a greeting.
        let mut g = MYSQL8_GREETING.to_vec();
        g[2] = 0x10;
        assert_eq!(probe(S, &g, false), Probe::NoMatch);
    }

    #[test]
    fn err_as_first_server_packet() {
        let mut p = vec![/* ERR */ 0xff, /* code 1130 */ 0x6a, 0x04];
        p.extend_from_slice(b"Host '10.1.2.3' is not allowed to connect to this MariaDB server");
        let bytes = pkt(0, &p);
        assert_eq!(probe(S, &bytes, false), Probe::Match);
        let o = run(&[(S, bytes)]);
        assert_eq!(
            o.errors,
            vec!["1130: Host '10.1.2.3' is not allowed to connect to this MariaDB server".to_string()]
        );
        assert!(o.engine_by_content);
    }

    // ---- SSL request ------------------------------------------------------------------

    #[test]
    fn ssl_request_mysql8() {
        let ssl: &[u8] = &[
            /* length */ 0x20, 0x00, 0x00, /* seq */ 0x01,
            /* caps: PROTOCOL_41 | SSL | SECURE_CONNECTION | PLUGIN_AUTH ... */ 0x05, 0xae, 0xff, 0x01,
            /* max packet */ 0x00, 0x00, 0x00, 0x01, /* charset */ 0xff, /* reserved */ 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let h = parse_handshake_response(&ssl[4..]).unwrap();
        assert!(h.ssl_request);
        assert_eq!(probe(C, ssl, false), Probe::Match);
        let hello: &[u8] = &[/* TLS handshake */ 0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
        let mut chunk = ssl.to_vec();
        chunk.extend_from_slice(hello);
        let (o, feeds) = run_cfg(
            &raw_cfg(),
            false,
            &[(S, MYSQL8_GREETING.to_vec()), (C, chunk), (S, vec![0x16, 0x03, 0x03, 0x00, 0x01, 0x02])],
        );
        assert_eq!(feeds[1], (C, Feed::StartTls { offset: 36 }));
        assert_eq!(feeds[2], (S, Feed::StartTls { offset: 0 }));
        assert!(o.tls_requested);
        assert_eq!(o.tls_upgrade, Some(TlsUpgrade::MysqlSslRequest));
        // Split at every byte: the StartTls comes with the request's last byte.
        let (_, feeds) = run_cfg(&raw_cfg(), false, &bytewise(&[(S, MYSQL8_GREETING.to_vec()), (C, ssl.to_vec())]));
        assert_eq!(feeds.last(), Some(&(C, Feed::StartTls { offset: 1 })));
        // CLIENT_SSL clear in a 32-byte packet: not an SSL request.
        let mut bad = ssl[4..].to_vec();
        bad[1] &= !0x08;
        assert!(parse_handshake_response(&bad).is_none());
    }

    // ---- handshake response -----------------------------------------------------------

    #[test]
    fn handshake_response_fields() {
        let o = run(&mysql8_login(CAPS8, "caching_sha2_password"));
        assert_eq!(o.user.as_deref(), Some("alice"));
        assert_eq!(o.database.as_deref(), Some("sales"));
        assert_eq!(o.application_name.as_deref(), Some("reporter"));
        assert_eq!(o.auth_method, Some(AuthMethod::Plugin("caching_sha2_password".into())));
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.plaintext_messages, 2);
    }

    #[test]
    fn handshake_response_annotated_without_db() {
        let p: &[u8] = &[
            /* caps: PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH */ 0x00, 0x82, 0x08, 0x00,
            /* max packet */ 0x00, 0x00, 0x00, 0x40, /* charset */ 0x21, /* reserved */ 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* user */ b'r', b'o', b'o', b't', 0x00,
            /* auth length */ 0x02, /* auth */ 0xaa, 0xbb, /* plugin */ b'm', b'y', b'p', 0x00,
        ];
        let h = parse_handshake_response(p).unwrap();
        assert_eq!(h.user.as_deref(), Some("root"));
        assert_eq!(h.auth_len, 2);
        assert_eq!(h.database, None);
        assert_eq!(h.auth_plugin.as_deref(), Some("myp"));
        // Every truncation either fails or yields a prefix of the facts; never panics.
        for n in 0..p.len() {
            let _ = parse_handshake_response(&p[..n]);
        }
        // Auth length pointing past the end.
        let mut bad = p.to_vec();
        bad[37] = 0xf0;
        assert!(parse_handshake_response(&bad).is_none());
    }

    #[test]
    fn handshake_response_320() {
        let p: &[u8] = &[
            /* caps: LONG_PASSWORD | CONNECT_WITH_DB */ 0x09, 0x00, /* max packet */ 0x00, 0x00, 0x01,
            /* user */ b'o', b'l', b'd', 0x00, /* auth */ b'x', b'y', 0x00, /* db */ b'd', b'b', 0x00,
        ];
        let h = parse_handshake_response(p).unwrap();
        assert_eq!((h.user.as_deref(), h.database.as_deref()), (Some("old"), Some("db")));
        let o = run(&[(S, MYSQL8_GREETING.to_vec()), (C, pkt(1, p))]);
        assert_eq!(o.user.as_deref(), Some("old"));
    }

    #[test]
    fn response_without_greeting_is_probed_and_parsed() {
        let login = mysql8_login(CAPS8, "mysql_native_password");
        assert_eq!(probe(C, &login[1].1, false), Probe::Match);
        let o = run(&login[1..]);
        assert_eq!(o.user.as_deref(), Some("alice"));
    }

    // ---- authentication ---------------------------------------------------------------

    #[test]
    fn clear_password_in_handshake_response() {
        let secret = b"hunter2-secret\0";
        let chunks = vec![
            (S, MYSQL8_GREETING.to_vec()),
            (C, pkt(1, &response41(CAPS8, "bob", secret, None, Some("mysql_clear_password"), &[]))),
            (S, OK_AFTER_AUTH.to_vec()),
        ];
        assert_cleartext_login_hidden(&chunks);
    }

    /// A login whose password went in the clear: flagged, method Cleartext, login ok,
    /// and the password itself nowhere in what the engine kept.
    fn assert_cleartext_login_hidden(chunks: &[(Direction, Vec<u8>)]) {
        let o = run(chunks);
        assert!(o.cleartext_password_seen);
        assert_eq!(o.auth_method, Some(AuthMethod::Cleartext));
        assert_eq!(o.auth_ok, Some(true));
        assert!(!format!("{o:?}").contains("hunter2"));
        assert_split_invariant(chunks);
    }

    #[test]
    fn auth_switch_to_clear_password() {
        let mut chunks = mysql8_login(CAPS8, "caching_sha2_password");
        chunks.push((S, {
            let mut p = vec![/* auth switch */ 0xfe];
            p.extend_from_slice(b"mysql_clear_password\0");
            pkt(2, &p)
        }));
        chunks.push((C, pkt(3, b"hunter2\0")));
        chunks.push((S, pkt(4, &OK_AFTER_AUTH[4..])));
        assert_cleartext_login_hidden(&chunks);
    }

    #[test]
    fn auth_switch_to_other_plugin_is_not_cleartext() {
        let mut chunks = mysql8_login(CAPS8, "caching_sha2_password");
        chunks.push((S, pkt(2, b"\xfemysql_native_password\0abcdefghij0123456789\0")));
        chunks.push((C, pkt(3, &[0x11; 20])));
        chunks.push((S, pkt(4, &OK_AFTER_AUTH[4..])));
        let o = run(&chunks);
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.auth_method, Some(AuthMethod::Plugin("mysql_native_password".into())));
        assert_eq!(o.auth_ok, Some(true));
    }

    #[test]
    fn caching_sha2_fast_and_full_auth() {
        // Fast auth: 0x01 0x03, then OK.
        let mut fast = mysql8_login(CAPS8, "caching_sha2_password");
        fast.push((S, pkt(2, &[/* more data */ 0x01, /* fast auth ok */ 0x03])));
        fast.push((S, pkt(3, &OK_AFTER_AUTH[4..])));
        let o = run(&fast);
        assert_eq!(o.auth_ok, Some(true));
        assert!(!o.cleartext_password_seen);

        // Full auth over plaintext, client asks for the public key: fine.
        let mut key = mysql8_login(CAPS8, "caching_sha2_password");
        key.push((S, pkt(2, &[0x01, /* full auth */ 0x04])));
        key.push((C, pkt(3, &[/* request public key */ 0x02])));
        key.push((S, pkt(4, b"\x01-----BEGIN PUBLIC KEY-----\n")));
        key.push((C, pkt(5, &[0x77; 256])));
        key.push((S, pkt(6, &OK_AFTER_AUTH[4..])));
        let o = run(&key);
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.auth_ok, Some(true));

        // Full auth and the password sent as is in the clear.
        let mut bad = mysql8_login(CAPS8, "caching_sha2_password");
        bad.push((S, pkt(2, &[0x01, 0x04])));
        bad.push((C, pkt(3, b"Tr0ub4dor&3\0")));
        let o = run(&bad);
        assert!(o.cleartext_password_seen);
        assert!(!format!("{o:?}").contains("Tr0ub4dor"));
    }

    #[test]
    fn err_after_auth() {
        let mut chunks = mysql8_login(CAPS8, "caching_sha2_password");
        let mut e = vec![/* ERR */ 0xff, /* 1045 */ 0x15, 0x04, b'#'];
        e.extend_from_slice(b"28000Access denied for user 'alice'@'10.0.0.9' (using password: YES)");
        chunks.push((S, pkt(2, &e)));
        let o = run(&chunks);
        assert_eq!(o.auth_ok, Some(false));
        assert_eq!(
            o.errors,
            vec!["1045 (28000): Access denied for user 'alice'@'10.0.0.9' (using password: YES)".to_string()]
        );
        // Truncated ERR: no panic, and no "28000" invented.
        assert_eq!(parse_err(&[0xff, 0x15]), None);
        assert_eq!(parse_err(&[0xff, 0x15, 0x04, b'#', b'2']).unwrap().sqlstate, None);
        // MariaDB progress report is not an error.
        assert_eq!(parse_err(&[0xff, 0xff, 0xff, 0x01, 0x01]), None);
    }

    // ---- commands -------------------------------------------------------------------

    fn logged_in(caps: u32) -> Chunks {
        let mut c = mysql8_login(caps, "caching_sha2_password");
        c.push((S, OK_AFTER_AUTH.to_vec()));
        c
    }

    #[test]
    fn com_query_and_prepare_and_init_db() {
        let mut chunks = logged_in(CAPS8);
        chunks.push((C, query(0, "SELECT id FROM t WHERE x = 1")));
        chunks.push((S, pkt(1, &OK_AFTER_AUTH[4..])));
        let mut prep = vec![COM_STMT_PREPARE];
        prep.extend_from_slice(b"UPDATE t SET y = ? WHERE id = ?");
        chunks.push((C, pkt(0, &prep)));
        chunks.push((C, pkt(0, b"\x02archive")));
        chunks.push((C, pkt(0, &[COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0])));
        chunks.push((C, pkt(0, &[COM_PING_FOR_TEST])));
        let o = run(&chunks);
        assert_eq!(o.query_count, 2);
        assert!(o.queries[0].starts_with("SELECT id FROM t"));
        assert!(o.queries[1].starts_with("UPDATE t SET y"));
        assert_eq!(o.database.as_deref(), Some("archive"));
        assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
        assert_eq!(o.plaintext_messages, 3 + 6);
        assert_split_invariant(&chunks);
    }
    const COM_PING_FOR_TEST: u8 = 0x0e;

    #[test]
    fn com_change_user() {
        let mut chunks = logged_in(CAPS8);
        let mut p = vec![COM_CHANGE_USER];
        p.extend_from_slice(b"carol\0");
        p.extend_from_slice(&[/* auth len */ 0x02, 0x01, 0x02]);
        p.extend_from_slice(b"hr\0");
        p.extend_from_slice(&[/* charset */ 0x21, 0x00]);
        p.extend_from_slice(b"mysql_native_password\0");
        chunks.push((C, pkt(0, &p)));
        chunks.push((S, pkt(1, &OK_AFTER_AUTH[4..])));
        chunks.push((C, query(0, "SELECT 1")));
        let o = run(&chunks);
        assert_eq!(o.user.as_deref(), Some("carol"));
        assert_eq!(o.database.as_deref(), Some("hr"));
        assert_eq!(o.auth_ok, Some(true));
        assert_eq!(o.query_count, 1);
    }

    const CAPS_QA: u32 = CAPS8 | CLIENT_QUERY_ATTRIBUTES;

    #[test]
    fn com_query_with_query_attributes() {
        let with_params: &[u8] = &[
            /* COM_QUERY */ 0x03, /* parameter_count */ 0x03, /* parameter_set_count */ 0x01,
            /* null bitmap: 2nd is NULL */ 0x02, /* new_params_bind_flag */ 0x01,
            /* type LONGLONG */ 0x08, 0x00, /* name */ 0x02, b'i', b'd', /* type STRING */ 0xfe, 0x00,
            /* name */ 0x01, b'n', /* type DATETIME */ 0x0c, 0x00, /* name */ 0x02, b'd', b't',
            /* id = 7 */ 0x07, 0, 0, 0, 0, 0, 0, 0, /* dt: length 4, 2024-05-01 */ 0x04, 0xe8, 0x07, 0x05,
            0x01, /* query */ b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'4', b'2',
        ];
        let no_params: &[u8] = &[
            /* COM_QUERY */ 0x03, /* parameter_count */ 0x00, /* parameter_set_count */ 0x01,
            /* query */ b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'7',
        ];
        assert_eq!(parse_query_text(with_params, Some(true)), Some(&b"SELECT 42"[..]));
        assert_eq!(parse_query_text(no_params, Some(true)), Some(&b"SELECT 7"[..]));
        // Mid-stream, capabilities unknown: recognised by shape.
        assert_eq!(parse_query_text(with_params, None), Some(&b"SELECT 42"[..]));
        assert_eq!(parse_query_text(b"\x03SELECT 1", None), Some(&b"SELECT 1"[..]));

        let mut chunks = logged_in(CAPS_QA);
        chunks.push((C, pkt(0, with_params)));
        chunks.push((C, pkt(0, no_params)));
        let o = run(&chunks);
        assert_eq!(o.queries.len(), 2, "{o:?}");
        assert!(o.queries[0].starts_with("SELECT "));
        assert!(o.queries.iter().all(|q| !q.contains('\u{1}')));
        // Without the capability on the client side, the same bytes are plain text.
        let mut plain = logged_in(CAPS8);
        plain.push((C, query(0, "SELECT 1")));
        assert_eq!(run(&plain).queries, vec!["SELECT 1".to_string()]);
        // Truncated attributes: never panic.
        for n in 1..with_params.len() {
            let _ = parse_query_text(&with_params[..n], Some(true));
            let _ = parse_query_text(&with_params[..n], None);
        }
    }

    #[test]
    fn long_query_is_cut_and_framing_kept() {
        let cfg = EngineConfig { max_message: 100, ..raw_cfg() };
        let long = format!("SELECT '{}'", "a".repeat(5000));
        let mut chunks = logged_in(CAPS8);
        let q = query(0, &long);
        for c in q.chunks(700) {
            chunks.push((C, c.to_vec()));
        }
        chunks.push((C, query(0, "SELECT 2")));
        let (o, _) = run_cfg(&cfg, false, &chunks);
        assert_eq!(o.query_count, 2);
        assert!(o.queries[0].starts_with("SELECT '"));
        assert!(o.queries[0].len() < 120);
        assert_eq!(o.queries[1], "SELECT 2");
        assert!(o.anomalies.iter().any(|a| a.contains("cut")));
    }

    #[test]
    fn big_result_set_is_skipped_without_buffering() {
        let cfg = raw_cfg();
        let mut chunks = logged_in(CAPS8);
        chunks.push((C, query(0, "SELECT big FROM blobs")));
        let mut resp = pkt(1, &[0x01]); // one column
        resp.extend(pkt(2, b"\x03def\x00\x00\x00\x03big\x00\x0c\x21\x00\xff\xff\xff\x00\xfc\x00\x00\x00\x00"));
        resp.extend(pkt(3, &[0xfe, 0, 0, 2, 0]));
        let mut row = vec![0xfd, 0x40, 0x0d, 0x03]; // lenenc 200 000
        row.extend(std::iter::repeat(b'x').take(200_000));
        resp.extend(pkt(4, &row));
        resp.extend(pkt(5, &[0xfe, 0, 0, 2, 0]));
        for c in resp.chunks(1448) {
            chunks.push((S, c.to_vec()));
        }
        chunks.push((C, query(0, "SELECT 3")));
        let (o, _) = run_cfg(&cfg, false, &chunks);
        assert_eq!(o.query_count, 2);
        assert_eq!(o.queries[1], "SELECT 3");
        assert!(o.errors.is_empty());
    }

    #[test]
    fn max_size_packet_continuation_is_not_a_command() {
        let cfg = EngineConfig { max_message: 64, ..raw_cfg() };
        let mut chunks = logged_in(CAPS8);
        let mut first = vec![0xff, 0xff, 0xff, 0x00, COM_QUERY];
        first.extend_from_slice(b"INSERT INTO t VALUES ('");
        first.resize(4 + MAX_PACKET, b'z');
        chunks.push((C, first));
        // The continuation packet (seq 1) happens to start with 0x03.
        chunks.push((C, pkt(1, b"\x03zz')")));
        chunks.push((C, query(0, "SELECT 4")));
        let (o, _) = run_cfg(&cfg, false, &chunks);
        assert_eq!(o.query_count, 2, "{:?}", o.queries);
        assert_eq!(o.queries[1], "SELECT 4");
    }

    // ---- compressed protocol ----------------------------------------------------------

    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    /// Compressed wrapper: 3-byte compressed length, seq, 3-byte uncompressed length.
    fn cpkt(seq: u8, inner: &[u8], compress: bool) -> Vec<u8> {
        let (body, ulen) = if compress { (zlib(inner), inner.len()) } else { (inner.to_vec(), 0) };
        let n = body.len();
        let mut v =
            vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq, ulen as u8, (ulen >> 8) as u8, (ulen >> 16) as u8];
        v.extend(body);
        v
    }

    #[test]
    fn compressed_connection_picked_up_mid_stream() {
        let fx = fixture(include_str!("../../tests/fixtures/mysql/compressed.hex"));
        // Skip greeting, response and OK: start at the first compressed command.
        assert_eq!(probe(C, &fx[3].1, true), Probe::Match);
        let (o, _) = run_cfg(&raw_cfg(), true, &fx[3..]);
        assert_eq!(o.query_count, 2, "{o:?}");
        assert!(o.queries[1].starts_with("SELECT REPEAT("));
        assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
    }

    #[test]
    fn compressed_packets_synthetic() {
        let mut chunks = logged_in(CAPS8 | CLIENT_COMPRESS);
        // Two commands in one compressed packet, then one stored (uncompressed) packet.
        let mut two = query(0, "SELECT a FROM t1 WHERE b = 'compressed'");
        two.extend(query(0, "SELECT c FROM t2"));
        chunks.push((C, cpkt(0, &two, true)));
        chunks.push((S, cpkt(0, &pkt(1, &OK_AFTER_AUTH[4..]), false)));
        chunks.push((C, cpkt(0, &query(0, "SELECT 5"), false)));
        let o = run(&chunks);
        assert_eq!(o.query_count, 3, "{o:?}");
        assert!(o.queries[0].starts_with("SELECT a FROM t1"));
        assert_eq!(o.queries[2], "SELECT 5");
        assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
        assert_split_invariant(&chunks);
        // Only one side asking for compression: not compressed.
        let mut greeting = MYSQL8_GREETING.to_vec();
        greeting[4 + 1 + 7 + 4 + 8 + 1] &= !0x20;
        let mut one_side = logged_in(CAPS8 | CLIENT_COMPRESS);
        one_side[0].1 = greeting;
        one_side.push((C, query(0, "SELECT 6")));
        assert_eq!(run(&one_side).queries, vec!["SELECT 6".to_string()]);
    }

    #[test]
    fn compressed_inner_packet_spanning_wrappers_and_zlib_bomb() {
        let mut chunks = logged_in(CAPS8 | CLIENT_COMPRESS);
        let q = query(0, "SELECT spanning FROM two_wrappers");
        chunks.push((C, cpkt(0, &q[..10], false)));
        chunks.push((C, cpkt(1, &q[10..], true)));
        // 4 MiB of zeros claims to be small packets: inflation stops at the cap.
        let bomb = vec![0u8; 4 << 20];
        let z = zlib(&bomb);
        let n = z.len();
        let mut b = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, 0, 0xff, 0xff, 0x3f];
        b.extend(z);
        chunks.push((S, b));
        // Garbage that is not zlib.
        chunks.push((S, vec![4, 0, 0, 1, 4, 0, 0, 0xde, 0xad, 0xbe, 0xef]));
        let o = run(&chunks);
        assert_eq!(o.queries, vec!["SELECT spanning FROM two_wrappers".to_string()]);
        assert!(o.anomalies.iter().any(|a| a.contains("zlib")));
    }

    // ---- probe ------------------------------------------------------------------------

    #[test]
    fn probe_rejects_other_protocols() {
        let others: &[&[u8]] = &[
            &[0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f], // PostgreSQL SSLRequest
            b"\x00\x00\x00\x25\x00\x03\x00\x00user\x00postgres\x00database\x00x\x00\x00", // StartupMessage
            b"GET / HTTP/1.1\r\nHost: db\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03], // TLS ClientHello
            b"*1\r\n$4\r\nPING\r\n",
            b"+PONG\r\n",
            b"R\x00\x00\x00\x08\x00\x00\x00\x00", // PG AuthenticationOk
            b"E\x00\x00\x00\x0aSFATAL\x00\x00",
            b"SSH-2.0-OpenSSH_9.6\r\n",
        ];
        for o in others {
            for dir in [C, S] {
                for mid in [false, true] {
                    assert_eq!(
                        probe(dir, o, mid),
                        Probe::NoMatch,
                        "{dir:?} mid={mid} {:?}",
                        String::from_utf8_lossy(o)
                    );
                }
            }
        }
    }

    #[test]
    fn probe_start_of_connection() {
        let fx = plain_fx();
        assert_eq!(probe(S, &fx[0].1, false), Probe::Match); // MariaDB greeting (any port)
        assert_eq!(probe(C, &fx[1].1, false), Probe::Match); // handshake response
        assert_eq!(probe(S, &fx[0].1[..2], false), Probe::NeedMore);
        assert_eq!(probe(S, &fx[0].1[..40], false), Probe::NeedMore);
        // A command is not a connection start.
        assert_eq!(probe(C, &fx[3].1, false), Probe::NoMatch);
    }

    #[test]
    fn probe_midstream() {
        let fx = plain_fx();
        // COM_QUERY alone; result set (several packets); OK; quit.
        assert_eq!(probe(C, &fx[3].1, true), Probe::Match);
        assert_eq!(probe(S, &fx[4].1, true), Probe::Match);
        assert_eq!(probe(S, &pkt(1, &OK_AFTER_AUTH[4..]), true), Probe::Match);
        assert_eq!(probe(C, &fx[7].1, true), Probe::Match);
        // Start-of-connection packets still count.
        assert_eq!(probe(S, &fx[0].1, true), Probe::Match);
        // Incomplete COM_QUERY: wait.
        assert_eq!(probe(C, &fx[3].1[..12], true), Probe::NeedMore);
        // Wrong length (one byte short / long), wrong seq, binary "query", unknown command.
        let q = &fx[3].1;
        let mut short = q.clone();
        short[0] -= 1;
        assert_eq!(probe(C, &short, true), Probe::NoMatch);
        let mut long = q.clone();
        long.push(b'x');
        assert_eq!(probe(C, &long, true), Probe::NoMatch);
        let mut seq = q.clone();
        seq[3] = 5;
        assert_eq!(probe(C, &seq, true), Probe::NoMatch);
        assert_eq!(probe(C, &pkt(0, &[0x03, 0x00, 0x9c, 0x13, 0x01, 0x02]), true), Probe::NoMatch);
        assert_eq!(probe(C, &pkt(0, &[0x42, b'a', b'b']), true), Probe::NoMatch);
        // Server: a lone text row is too weak.
        assert_eq!(probe(S, &pkt(4, b"\x05apple"), true), Probe::NoMatch);
        // Compressed, mid-stream.
        let c = cpkt(0, &query(0, "SELECT x FROM y WHERE z = 'compressed mid-stream'"), true);
        assert_eq!(probe(C, &c, true), Probe::Match);
        assert_eq!(probe(C, &c, false), Probe::NoMatch);
    }

    #[test]
    fn midstream_connection_and_gap_resync() {
        let fx = plain_fx();
        // Start at the first query: the login was not captured.
        let o = run_cfg(&raw_cfg(), true, &fx[3..]).0;
        assert_eq!(o.query_count, 2);
        assert!(o.engine_by_content);
        assert!(o.user.is_none());

        // A gap in the middle of a client packet: the rest of it is ignored, the next
        // chunk that starts with a packet resynchronises.
        let cfg = raw_cfg();
        let mut obs = Observed::default();
        let mut tls = None;
        let mut st = MysqlState::new(false);
        for (d, c) in &fx[..3] {
            st.feed(*d, c, &mut ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls });
        }
        let q = query(0, "SELECT lost FROM t");
        let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
        st.feed(C, &q[..6], &mut cx);
        st.gap(C, 5, &mut cx);
        st.feed(C, &q[11..], &mut cx);
        st.feed(C, &query(0, "SELECT found"), &mut cx);
        assert_eq!(obs.queries, vec!["SELECT found".to_string()]);

        // A gap inside a skipped result body keeps the framing.
        let mut st = MysqlState::new(false);
        let mut obs = Observed::default();
        let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
        for (d, c) in &fx[..4] {
            st.feed(*d, c, &mut cx);
        }
        let small = EngineConfig { max_message: 64, ..raw_cfg() };
        let mut cx = ConnCx { cfg: &small, obs: &mut obs, tls: &mut tls };
        let row = pkt(1, &[b'r'; 1000]);
        st.feed(S, &row[..100], &mut cx);
        st.gap(S, 500, &mut cx);
        st.feed(S, &row[600..], &mut cx);
        st.feed(S, &pkt(2, &[0xfe, 0, 0, 2, 0]), &mut cx);
        assert!(!st.dirs[1].wire.lost);
        assert!(obs.anomalies.is_empty());
    }

    #[test]
    fn hostile_parsers_never_panic() {
        for p in [
            &[][..],
            &[0x0a],
            &[0x0a, b'8', 0],
            &[0xff],
            &[0xfe],
            &[0x11, 0],
            &[0x03, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0x03, 0xfc, 0xff, 0xff, 0x01, 0x00],
        ] {
            let _ = parse_greeting(p);
            let _ = parse_err(p);
            let _ = parse_auth_switch(p);
            let _ = parse_change_user(p, u32::MAX);
            let _ = parse_handshake_response(p);
            let _ = parse_query_text(p, Some(true));
            let _ = parse_query_text(p, None);
        }
        // A huge lenenc never allocates or reads past the end.
        let mut r = Reader::new(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1]);
        assert!(lenenc_bytes(&mut r).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_chunks_never_panic(
            mid in any::<bool>(),
            chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), 0u64..50), 0..24),
        ) {
            let cfg = EngineConfig { max_message: 128, ..raw_cfg() };
            let mut obs = Observed::default();
            let mut tls = None;
            let mut st = MysqlState::new(mid);
            for (to_server, data, gap) in &chunks {
                let dir = if *to_server { C } else { S };
                let _ = probe(dir, data, mid);
                let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
                if *gap == 7 {
                    st.gap(dir, 1000, &mut cx);
                }
                if let Feed::StartTls { offset } = st.feed(dir, data, &mut cx) {
                    prop_assert!(offset <= data.len());
                }
            }
        }

        #[test]
        fn fuzzed_real_session_never_panics(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in 1usize..97,
        ) {
            // Real bytes with a few corrupted ones, cut into odd chunk sizes.
            let mut fx = plain_fx();
            fx.extend(fixture(include_str!("../../tests/fixtures/mysql/compressed.hex")));
            for (idx, val) in flips {
                let i = idx.index(fx.len());
                let j = idx.index(fx[i].1.len().max(1));
                if let Some(b) = fx[i].1.get_mut(j) { *b = val; }
            }
            let chunks: Chunks = fx.iter().flat_map(|(d, c)| c.chunks(cut).map(move |x| (*d, x.to_vec()))).collect();
            let _ = run_cfg(&raw_cfg(), false, &chunks);
            let _ = run_cfg(&raw_cfg(), true, &chunks);
        }
    }
}
