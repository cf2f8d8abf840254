//! Oracle Net (TNS) — packet framing, the CONNECT descriptor, REFUSE/REDIRECT reasons,
//! the Advanced Networking Option (ANO) negotiation that turns on Native Network
//! Encryption (NNE), the server banner of the TTC set-protocol exchange, and SQL text in
//! cleartext DATA packets.
//!
//! Oracle publishes no wire specification. The layouts below follow Wireshark's
//! `packet-tns.c` and the public captures under `../shared/captures` (cross-checked with
//! tshark), and are cited as "TNS header", "CONNECT body" etc. below.
//!
//! TNS header (8 bytes): before a version ≥ 315 has been agreed in CONNECT/ACCEPT,
//! `length:u16 packet_checksum:u16 type:u8 flags:u8 header_checksum:u16`; afterwards every
//! packet carries `length:u32 type:u8 flags:u8 header_checksum:u16` ("large SDU"). The
//! length counts the header. The type is at offset 4 in both layouts.

use serde::Serialize;

use super::{sql, ConnCx, Feed, Observed};
use crate::flow::Direction;
use crate::reader::{Probe, Reader};

/// Size of the TNS header in both layouts.
pub const HEADER_LEN: usize = 8;
/// First TNS version whose packets (after CONNECT/ACCEPT) carry a 4-byte length.
pub const LARGE_SDU_VERSION: u16 = 315;
/// Versions real clients send (Oracle 7.x sends 300-308, 23ai 319); a little headroom.
const VERSION_RANGE: std::ops::RangeInclusive<u16> = 300..=330;
/// Longest connect descriptor / refuse text kept.
const MAX_TEXT: usize = 2048;
/// How far past a broken header the framing looks for the next packet.
const RESYNC_WINDOW: usize = 16;
/// ANO magic at the start of a negotiation DATA payload.
pub const ANO_MAGIC: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

/// TNS packet type (open: unknown values survive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketType(pub u8);

impl PacketType {
    pub const CONNECT: PacketType = PacketType(1);
    pub const ACCEPT: PacketType = PacketType(2);
    pub const ACK: PacketType = PacketType(3);
    pub const REFUSE: PacketType = PacketType(4);
    pub const REDIRECT: PacketType = PacketType(5);
    pub const DATA: PacketType = PacketType(6);
    pub const NULL: PacketType = PacketType(7);
    pub const ABORT: PacketType = PacketType(9);
    pub const RESEND: PacketType = PacketType(11);
    pub const MARKER: PacketType = PacketType(12);
    pub const ATTENTION: PacketType = PacketType(13);
    pub const CONTROL: PacketType = PacketType(14);

    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "CONNECT",
            2 => "ACCEPT",
            3 => "ACK",
            4 => "REFUSE",
            5 => "REDIRECT",
            6 => "DATA",
            7 => "NULL",
            9 => "ABORT",
            11 => "RESEND",
            12 => "MARKER",
            13 => "ATTENTION",
            14 => "CONTROL",
            _ => "OTHER",
        }
    }

    /// Types defined by Oracle Net (1..=19); anything else means the framing is lost.
    fn is_plausible(self) -> bool {
        (1..=19).contains(&self.0)
    }
}

/// A TNS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Whole packet length, header included.
    pub length: u32,
    pub ptype: PacketType,
    pub flags: u8,
}

/// Parse a TNS header. `large_sdu`: a version ≥ 315 was agreed, lengths are 4 bytes.
/// A 2-byte length of zero can only be the high half of a 4-byte length (a packet is at
/// least 8 bytes), which lets the framing recover when the ACCEPT was not captured.
pub fn parse_header(b: &[u8], large_sdu: bool) -> Option<Header> {
    let mut r = Reader::new(b);
    let short = r.be_u16()?;
    let length = if large_sdu || short == 0 {
        u32::from_be_bytes([b[0], b[1], *b.get(2)?, *b.get(3)?])
    } else {
        u32::from(short)
    };
    let ptype = PacketType(*b.get(4)?);
    let flags = *b.get(5)?;
    b.get(HEADER_LEN - 1)?;
    Some(Header { length, ptype, flags })
}

/// CONNECT body (after the header): `version:u16 compatible:u16 service_options:u16
/// sdu:u16 tdu:u16 nt_characteristics:u16 line_turnaround:u16 value_of_one:u16
/// connect_data_length:u16 connect_data_offset:u16 …`; the offset counts from the start
/// of the packet. Connect data longer than 230 bytes is sent after the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    pub version: u16,
    pub compatible: u16,
    pub data_length: u16,
    pub data_offset: u16,
    /// The connect data, when it is inside this packet.
    pub data: Option<&'a [u8]>,
}

/// Parse a whole CONNECT packet (header included). `None`: too short or not sane.
pub fn parse_connect(pkt: &[u8]) -> Option<Connect<'_>> {
    let mut r = Reader::new(pkt.get(HEADER_LEN..)?);
    let version = r.be_u16()?;
    let compatible = r.be_u16()?;
    r.skip(12)?;
    let data_length = r.be_u16()?;
    let data_offset = r.be_u16()?;
    let start = usize::from(data_offset);
    let end = start + usize::from(data_length);
    let data = if data_length > 0 && start >= HEADER_LEN + 20 { pkt.get(start..end) } else { None };
    Some(Connect { version, compatible, data_length, data_offset, data })
}

/// REFUSE body: `user_reason:u8 system_reason:u8 data_length:u16 data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refuse<'a> {
    pub user_reason: u8,
    pub system_reason: u8,
    pub data: &'a [u8],
}

pub fn parse_refuse(pkt: &[u8]) -> Option<Refuse<'_>> {
    let mut r = Reader::new(pkt.get(HEADER_LEN..)?);
    let user_reason = r.u8()?;
    let system_reason = r.u8()?;
    let len = usize::from(r.be_u16()?);
    // A truncated packet keeps what is there.
    let rest = r.rest();
    Some(Refuse { user_reason, system_reason, data: &rest[..len.min(rest.len())] })
}

/// REDIRECT body: `data_length:u16 data`; a long address follows in a DATA packet.
pub fn parse_redirect(pkt: &[u8]) -> Option<(u16, &[u8])> {
    let mut r = Reader::new(pkt.get(HEADER_LEN..)?);
    let len = r.be_u16()?;
    let rest = r.rest();
    Some((len, &rest[..usize::from(len).min(rest.len())]))
}

/// Value of `(KEY=value)` in a connect descriptor, case-insensitive on the key. The
/// first occurrence wins (`HOST` appears in both `CID` and `ADDRESS`: use
/// [`descriptor_value_in`] to pick one).
pub fn descriptor_value<'a>(desc: &'a str, key: &str) -> Option<&'a str> {
    let bytes = desc.as_bytes();
    let mut i = 0;
    while let Some(p) = bytes.get(i..)?.iter().position(|&c| c == b'(') {
        let start = i + p + 1;
        let rest = &desc[start..];
        let name_end = rest.find('=')?;
        let name = rest[..name_end].trim();
        if name.eq_ignore_ascii_case(key) {
            let value = &rest[name_end + 1..];
            // A nested list has no scalar value.
            if value.trim_start().starts_with('(') {
                i = start;
                continue;
            }
            let end = value.find(')').unwrap_or(value.len());
            return Some(value[..end].trim());
        }
        i = start;
    }
    None
}

/// Value of `KEY` inside the first `(SECTION=…)` of a descriptor.
pub fn descriptor_value_in<'a>(desc: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let upper = desc.to_ascii_uppercase();
    let at = upper.find(&format!("({}=", section.to_ascii_uppercase()))?;
    // The section ends where its parentheses balance.
    let mut depth = 0usize;
    let mut end = desc.len();
    for (k, c) in desc[at..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    end = at + k + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    descriptor_value(&desc[at + 1..end], key)
}

/// Oracle's packed version number (`VSNNUM`, e.g. 318767104) as "19.0.0.0.0".
pub fn vsnnum_to_string(v: u32) -> String {
    format!("{}.{}.{}.{}.{}", v >> 24, (v >> 20) & 0xf, (v >> 12) & 0xff, (v >> 8) & 0xf, v & 0xff)
}

// --- ANO / Native Network Encryption ---------------------------------------------------

/// ANO service numbers.
pub const ANO_AUTHENTICATION: u16 = 1;
pub const ANO_ENCRYPTION: u16 = 2;
pub const ANO_INTEGRITY: u16 = 3;
pub const ANO_SUPERVISOR: u16 = 4;

/// NNE encryption algorithm name for an ANO id.
pub fn encryption_name(id: u8) -> Option<&'static str> {
    Some(match id {
        0 => "none",
        1 => "RC4_40",
        2 => "DES56C",
        3 => "DES40C",
        6 => "RC4_256",
        8 => "RC4_56",
        10 => "RC4_128",
        11 => "3DES112",
        12 => "3DES168",
        15 => "AES128",
        16 => "AES192",
        17 => "AES256",
        _ => return None,
    })
}

/// NNE data-integrity (checksum) algorithm name for an ANO id.
pub fn integrity_name(id: u8) -> Option<&'static str> {
    Some(match id {
        0 => "none",
        1 => "MD5",
        3 => "SHA1",
        4 => "SHA512",
        5 => "SHA256",
        6 => "SHA384",
        _ => return None,
    })
}

/// "AES256(17)", or "unknown(99)" for ids nobody documented.
fn algo_label(name: Option<&str>, id: u8) -> String {
    format!("{}({id})", name.unwrap_or("unknown"))
}

/// What one ANO negotiation packet says about one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnoService {
    pub service: u16,
    /// Algorithm ids of the first RAW sub-packet (the client's offer, in preference order).
    pub offered: Vec<u8>,
    /// First UB1 sub-packet (the server's choice).
    pub chosen: Option<u8>,
}

/// An ANO negotiation packet: `magic:u32=0xDEADBEEF length:u16 version:u32
/// service_count:u16 error_flags:u8`, then per service `service:u16 subpackets:u16
/// error:u32` and per sub-packet `length:u16 type:u16 value[length]` (type 1 RAW,
/// 2 UB1, 3 UB2, 4 UB4, 5 VERSION, 6 STATUS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ano {
    pub version: u32,
    pub services: Vec<AnoService>,
}

/// Parse an ANO packet from the start of a DATA payload (after the data flags). Stops
/// at the first malformed service and keeps what was read before it.
pub fn parse_ano(payload: &[u8]) -> Option<Ano> {
    let mut r = Reader::new(payload);
    if r.take(4)? != ANO_MAGIC {
        return None;
    }
    let _length = r.be_u16()?;
    let version = r.be_u32()?;
    let count = r.be_u16()?;
    let _flags = r.u8()?;
    let mut ano = Ano { version, services: Vec::new() };
    // Four services exist; a hostile count must not make us loop for long.
    for _ in 0..count.min(16) {
        let (Some(service), Some(subs), Some(_err)) = (r.be_u16(), r.be_u16(), r.be_u32()) else {
            break;
        };
        let mut svc = AnoService { service, ..AnoService::default() };
        let mut ok = true;
        for _ in 0..subs.min(64) {
            let (Some(len), Some(kind)) = (r.be_u16(), r.be_u16()) else {
                ok = false;
                break;
            };
            let Some(value) = r.take(usize::from(len)) else {
                ok = false;
                break;
            };
            match kind {
                1 if svc.offered.is_empty() && service != ANO_SUPERVISOR => {
                    svc.offered.extend(value.iter().take(32));
                }
                2 if svc.chosen.is_none() && len == 1 => svc.chosen = Some(value[0]),
                _ => {}
            }
        }
        ano.services.push(svc);
        if !ok {
            break;
        }
    }
    Some(ano)
}

/// The NNE negotiation as reported (JSON `tns.nne`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NneReport {
    /// The client sent an ANO negotiation (0xDEADBEEF).
    pub client_ano: bool,
    /// The server answered one.
    pub server_ano: bool,
    pub client_offered_encryption: Vec<String>,
    pub client_offered_integrity: Vec<String>,
    /// e.g. "AES256(17)", "none(0)"; `None`: the server's answer was not seen.
    pub server_selected_encryption: Option<String>,
    pub server_selected_integrity: Option<String>,
}

/// Oracle facts of one connection (JSON `tns`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TnsFacts {
    /// TNS packet types seen, in order of first appearance.
    #[serde(deserialize_with = "crate::findings::log::de_static_vec")]
    pub packet_types: Vec<crate::findings::log::StaticName>,
    /// Version the client asked for in CONNECT and the one the server accepted.
    pub connect_version: Option<u16>,
    pub accept_version: Option<u16>,
    /// The plaintext connect descriptor (first CONNECT), bounded.
    pub connect_data: Option<String>,
    pub service_name: Option<String>,
    pub sid: Option<String>,
    /// From `CID`: the client program, host and operating-system user.
    pub program: Option<String>,
    pub client_host: Option<String>,
    pub os_user: Option<String>,
    /// From `ADDRESS`: the protocol (TCP, TCPS, …).
    pub protocol: Option<String>,
    /// Connect data announced but not inside the CONNECT packet (sent afterwards).
    pub connect_data_separate: bool,
    /// REFUSE: the `ERR=` code of the refusal text, and the text itself (bounded).
    pub refuse_error: Option<u32>,
    pub refuse_data: Option<String>,
    /// REDIRECT: where the listener sent the client.
    pub redirect: Option<String>,
    /// Client platform from the TTC set-protocol request (e.g. "IBMPC/WIN_NT-8.1.0").
    pub client_banner: Option<String>,
    pub nne: Option<NneReport>,
}

impl TnsFacts {
    fn saw(&mut self, t: PacketType) {
        let n = t.name();
        if !self.packet_types.contains(&n) {
            self.packet_types.push(n);
        }
    }

    /// The algorithm NNE encrypts with, when the server chose one.
    pub fn nne_encryption(&self) -> Option<&str> {
        let s = self.nne.as_ref()?.server_selected_encryption.as_deref()?;
        (!s.starts_with("none(")).then_some(s)
    }
}

fn bounded_text(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_TEXT)];
    String::from_utf8_lossy(b).chars().filter(|c| !c.is_control()).collect()
}

// --- TTC (inside DATA) --------------------------------------------------------------------

/// TTC set-protocol (function 1) body: `0x01`, the accepted protocol versions ending in
/// `0x00`, then the peer's platform banner, NUL-terminated. The server's banner is e.g.
/// "x86_64/Linux 2.4.xx".
pub fn parse_set_protocol(payload: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0x01 {
        return None;
    }
    // Version list: at most a handful of small numbers.
    for _ in 0..16 {
        let v = r.u8()?;
        if v == 0 {
            let banner = r.cstr()?;
            let ok = banner.len() >= 3 && banner.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
            return ok.then_some(banner);
        }
        if v > 16 {
            return None;
        }
    }
    None
}

/// SQL statement keywords that start a statement text. The heuristic: TTC carries the
/// statement of OALL8 / piggy-backed calls as a (possibly chunked) length-prefixed
/// string; rather than decode every TTC version's call layout, find a run of printable
/// bytes starting with one of these words at a word boundary.
const SQL_KEYWORDS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "ALTER",
    "CREATE",
    "DROP",
    "BEGIN",
    "DECLARE",
    "WITH",
    "CALL",
    "GRANT",
    "REVOKE",
    "TRUNCATE",
    "COMMIT",
    "ROLLBACK",
    "LOCK",
    "EXPLAIN",
    "SAVEPOINT",
];

/// Shortest text accepted as a statement (avoids "WITH" in random bytes).
const MIN_SQL_LEN: usize = 12;

fn keyword_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    for kw in SQL_KEYWORDS {
        let k = kw.as_bytes();
        if b.len() > i + k.len()
            && b[i..i + k.len()].eq_ignore_ascii_case(k)
            && matches!(b[i + k.len()], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b'*' | b';')
        {
            return Some(k.len());
        }
    }
    None
}

fn is_sql_byte(c: u8) -> bool {
    c.is_ascii_graphic() || matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Find SQL statement text in a TTC payload. A long string is sent as `0xFE` then
/// chunks `len:u8 bytes[len]` ending with a zero length: joined when seen.
pub fn find_sql(payload: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < payload.len() {
        let c = payload[i];
        if !c.is_ascii_alphabetic() || keyword_at(payload, i).is_none() {
            i += 1;
            continue;
        }
        let prev = if i > 0 { Some(payload[i - 1]) } else { None };
        let chunked = i >= 2 && payload[i - 2] == 0xfe;
        let text: Vec<u8> = match prev {
            Some(n) if chunked && n > 0 => {
                // Chunked string: join the chunks.
                let mut out = Vec::new();
                let mut r = Reader::new(&payload[i - 1..]);
                while let Some(n) = r.u8() {
                    if n == 0 || out.len() > 64 * 1024 {
                        break;
                    }
                    match r.take(usize::from(n)) {
                        Some(chunk) => out.extend_from_slice(chunk),
                        None => {
                            out.extend_from_slice(r.rest());
                            break;
                        }
                    }
                }
                out
            }
            Some(n) if usize::from(n) >= MIN_SQL_LEN && i + usize::from(n) <= payload.len() => {
                let s = &payload[i..i + usize::from(n)];
                if s.iter().all(|&c| is_sql_byte(c)) {
                    s.to_vec()
                } else {
                    printable_run(&payload[i..]).to_vec()
                }
            }
            _ => printable_run(&payload[i..]).to_vec(),
        };
        let text = String::from_utf8_lossy(&text).trim_end_matches(['\0', ' ']).to_string();
        if text.len() >= MIN_SQL_LEN && text.bytes().filter(|c| c.is_ascii_alphabetic()).count() >= 8 {
            return Some(text);
        }
        i += 1;
    }
    None
}

fn printable_run(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|&c| !is_sql_byte(c)).unwrap_or(b.len());
    &b[..n]
}

// --- Content probe --------------------------------------------------------------------

fn starts_with_ignore_case(b: &[u8], prefix: &[u8]) -> bool {
    b.len() >= prefix.len() && b[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Does this look like the start of a connect descriptor?
fn looks_like_descriptor(b: &[u8]) -> Probe {
    for p in [&b"(DESCRIPTION="[..], b"(CONNECT_DATA=", b"(ADDRESS="] {
        let n = b.len().min(p.len());
        if starts_with_ignore_case(p, &b[..n]) {
            return if n == p.len() { Probe::Match } else { Probe::NeedMore };
        }
    }
    Probe::NoMatch
}

/// Tri-state content probe on the first bytes of one direction. The client's CONNECT
/// (type 1, sane length and version, a descriptor at the stated offset) or the server's
/// ACCEPT/REFUSE identifies TNS on any port. Mid-stream, whole DATA/MARKER/CONTROL
/// packets back to back (zero checksums, lengths that add up to the bytes seen) do.
pub fn probe(dir: Direction, data: &[u8], midstream: bool) -> Probe {
    if midstream {
        match probe_midstream(data) {
            Probe::NoMatch => {}
            answer => return answer,
        }
    }
    if data.len() < HEADER_LEN {
        // A 2-byte length below 0x2000 starts with a small byte; type at 4.
        let ok = data.first().map_or(true, |&b| b < 0x20) && data.get(4).map_or(true, |&t| matches!(t, 1 | 2 | 4 | 5));
        return if ok { Probe::NeedMore } else { Probe::NoMatch };
    }
    let Some(h) = parse_header(data, false) else { return Probe::NeedMore };
    let len = h.length as usize;
    if !(HEADER_LEN + 2..=0x2000).contains(&len) || data[2..4] != [0, 0] {
        return Probe::NoMatch;
    }
    let mut r = Reader::new(&data[HEADER_LEN..]);
    match (dir, h.ptype) {
        (Direction::ToServer, PacketType::CONNECT) => {
            let (Some(version), Some(compat)) = (r.be_u16(), r.be_u16()) else { return Probe::NeedMore };
            if !VERSION_RANGE.contains(&version) || compat > version || compat < 200 {
                return Probe::NoMatch;
            }
            if r.skip(12).is_none() {
                return Probe::NeedMore;
            }
            let (Some(cd_len), Some(cd_off)) = (r.be_u16(), r.be_u16()) else { return Probe::NeedMore };
            let (cd_len, cd_off) = (usize::from(cd_len), usize::from(cd_off));
            if cd_len == 0 || cd_off < HEADER_LEN + 20 {
                return Probe::NoMatch;
            }
            if cd_off >= len {
                // Connect data sent after the packet (longer than 230 bytes).
                return if len >= HEADER_LEN + 26 && cd_len > 230 { Probe::Match } else { Probe::NoMatch };
            }
            if cd_off + cd_len > len {
                return Probe::NoMatch;
            }
            match data.get(cd_off..) {
                Some(d) if !d.is_empty() => looks_like_descriptor(d),
                _ => Probe::NeedMore,
            }
        }
        (Direction::ToClient, PacketType::ACCEPT) => match r.be_u16() {
            Some(v) if VERSION_RANGE.contains(&v) => Probe::Match,
            Some(_) => Probe::NoMatch,
            None => Probe::NeedMore,
        },
        (Direction::ToClient, PacketType::REFUSE) => match data.get(HEADER_LEN + 4..) {
            Some(d) if !d.is_empty() => looks_like_descriptor(d),
            _ => Probe::NeedMore,
        },
        _ => Probe::NoMatch,
    }
}

/// Packets after the connection start: DATA (6), MARKER (12) or CONTROL (14) headers
/// with zero checksums whose lengths tile the bytes exactly.
fn probe_midstream(data: &[u8]) -> Probe {
    let mut at = 0;
    let mut packets = 0;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < HEADER_LEN {
            return if packets > 0 { Probe::NeedMore } else { Probe::NoMatch };
        }
        if !plausible_header(rest, false) || !matches!(rest[4], 6 | 12 | 14) {
            return Probe::NoMatch;
        }
        let len = parse_header(rest, false).map_or(0, |h| h.length as usize);
        if !(HEADER_LEN + 2..=0x1_0000).contains(&len) {
            return Probe::NoMatch;
        }
        if len > rest.len() {
            return Probe::NeedMore;
        }
        at += len;
        packets += 1;
    }
    Probe::Match
}

// --- State machine ----------------------------------------------------------------------

/// Where a direction's framing stands.
#[derive(Debug, Default)]
struct DirState {
    /// A packet in progress (header and at most `max_message` bytes).
    buf: Vec<u8>,
    /// Bytes of an oversized packet still to discard.
    skip: u64,
    /// Whole packet length of the packet in `buf`.
    want: Option<u32>,
    /// Bytes dropped so far while looking for the next header after a bad one.
    skipped: usize,
    /// Raw (unframed) connect data still expected from the client.
    raw_connect_data: usize,
    off: bool,
}

/// Per-connection TNS state.
#[derive(Debug)]
pub struct TnsState {
    dirs: [DirState; 2],
    large_sdu: bool,
    /// The CONNECT announced data it did not carry: the next client DATA has it.
    connect_data_pending: bool,
    /// A REDIRECT announced an address it did not carry.
    redirect_pending: bool,
    /// NNE encryption was negotiated: DATA after this is ciphertext.
    encrypted: bool,
    pub facts: TnsFacts,
}

impl TnsState {
    pub fn new(_midstream: bool) -> Self {
        TnsState {
            dirs: [DirState::default(), DirState::default()],
            large_sdu: false,
            connect_data_pending: false,
            redirect_pending: false,
            encrypted: false,
            facts: TnsFacts::default(),
        }
    }

    /// Feed ordered bytes of one direction.
    pub fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut ConnCx<'_>) -> Feed {
        let i = dir.index();
        let cap = cx.cfg.max_message.max(HEADER_LEN);
        let mut input = data;
        while !input.is_empty() {
            if self.dirs[i].off || self.encrypted {
                return Feed::Stop;
            }
            let st = &mut self.dirs[i];
            if st.skip > 0 {
                let n = (st.skip.min(input.len() as u64)) as usize;
                st.skip -= n as u64;
                input = &input[n..];
                continue;
            }
            // Connect data sent without a TNS header after a CONNECT that announced it.
            if st.raw_connect_data > 0 && st.buf.is_empty() && dir == Direction::ToServer {
                if input[0] == b'(' {
                    let n = st.raw_connect_data.min(input.len());
                    st.raw_connect_data -= n;
                    self.set_descriptor(&input[..n], cx);
                    input = &input[n..];
                    continue;
                }
                st.raw_connect_data = 0;
            }
            // Fast path: a whole packet in the input, nothing buffered.
            if st.buf.is_empty() {
                if let Some(h) = parse_header(input, self.large_sdu) {
                    let len = h.length as usize;
                    if h.ptype.is_plausible() && len >= HEADER_LEN && len <= input.len() && len <= cap {
                        self.packet(dir, h, &input[..len], false, cx);
                        input = &input[len..];
                        continue;
                    }
                }
            }
            // Slow path: collect the header, then the packet (at most `cap` bytes).
            let st = &mut self.dirs[i];
            if st.want.is_none() {
                let need = HEADER_LEN - st.buf.len();
                let n = need.min(input.len());
                st.buf.extend_from_slice(&input[..n]);
                input = &input[n..];
                if st.buf.len() < HEADER_LEN {
                    continue;
                }
                let Some(h) = parse_header(&st.buf, self.large_sdu) else { continue };
                let ok = if st.skipped == 0 {
                    h.ptype.is_plausible() && h.length as usize >= HEADER_LEN
                } else {
                    plausible_header(&st.buf, self.large_sdu)
                };
                if !ok {
                    // Some captures carry a stray byte or two between packets: slide
                    // towards the next plausible header close by, else give up.
                    if st.skipped < RESYNC_WINDOW {
                        st.buf.remove(0);
                        st.skipped += 1;
                        continue;
                    }
                    return self.desync(dir, cx);
                }
                if st.skipped > 0 {
                    let k = std::mem::take(&mut st.skipped);
                    Observed::note(
                        &mut cx.obs.anomalies,
                        format!("tns: skipped {k} byte(s) between packets ({})", side(dir)),
                    );
                }
                st.want = Some(h.length);
            }
            let Some(want) = st.want else { continue };
            let keep = (want as usize).min(cap);
            let n = keep.saturating_sub(st.buf.len()).min(input.len());
            st.buf.extend_from_slice(&input[..n]);
            input = &input[n..];
            if st.buf.len() >= keep {
                let pkt = std::mem::take(&mut st.buf);
                st.skip = u64::from(want).saturating_sub(keep as u64);
                st.want = None;
                if let Some(h) = parse_header(&pkt, self.large_sdu) {
                    self.packet(dir, h, &pkt, keep < want as usize, cx);
                }
                // Give the buffer back so the next slow-path packet reuses it.
                let st = &mut self.dirs[i];
                st.buf = pkt;
                st.buf.clear();
            }
        }
        if self.dirs[i].off || self.encrypted {
            Feed::Stop
        } else {
            Feed::Continue
        }
    }

    /// Bytes were lost: the framing of that direction is gone.
    pub fn gap(&mut self, dir: Direction, _len: u64, cx: &mut ConnCx<'_>) {
        let st = &mut self.dirs[dir.index()];
        if !st.off {
            Observed::note(&mut cx.obs.anomalies, format!("tns: capture gap ({}), stopped parsing", side(dir)));
        }
        st.off = true;
        st.buf = Vec::new();
    }

    fn desync(&mut self, dir: Direction, cx: &mut ConnCx<'_>) -> Feed {
        Observed::note(&mut cx.obs.anomalies, format!("tns: bad packet header ({}), stopped parsing", side(dir)));
        let st = &mut self.dirs[dir.index()];
        st.off = true;
        st.buf = Vec::new();
        Feed::Stop
    }

    fn set_descriptor(&mut self, raw: &[u8], cx: &mut ConnCx<'_>) {
        let text = bounded_text(raw);
        let f = &mut self.facts;
        if f.connect_data.is_some() {
            // A resent CONNECT or the rest of raw connect data.
            if let Some(d) = f.connect_data.as_mut().filter(|_| f.connect_data_separate) {
                if d.len() < MAX_TEXT && !d.ends_with("))") {
                    d.push_str(&text);
                }
            }
        } else {
            f.connect_data = Some(text);
        }
        let Some(d) = f.connect_data.clone() else { return };
        let pick = |k: &str| descriptor_value_in(&d, "CONNECT_DATA", k).map(str::to_string);
        f.service_name = pick("SERVICE_NAME");
        f.sid = pick("SID");
        f.program = descriptor_value_in(&d, "CID", "PROGRAM").map(str::to_string);
        f.client_host = descriptor_value_in(&d, "CID", "HOST").map(str::to_string);
        f.os_user = descriptor_value_in(&d, "CID", "USER").map(str::to_string);
        f.protocol = descriptor_value_in(&d, "ADDRESS", "PROTOCOL").map(str::to_string);
        cx.obs.database = f.service_name.clone().or_else(|| f.sid.clone());
        cx.obs.application_name = f.program.clone();
    }

    fn packet(&mut self, dir: Direction, h: Header, pkt: &[u8], truncated: bool, cx: &mut ConnCx<'_>) {
        self.facts.saw(h.ptype);
        cx.obs.plaintext_messages += 1;
        match (dir, h.ptype) {
            (Direction::ToServer, PacketType::CONNECT) => {
                let Some(c) = parse_connect(pkt) else {
                    Observed::note(&mut cx.obs.anomalies, "tns: short CONNECT");
                    return;
                };
                self.facts.connect_version.get_or_insert(c.version);
                match c.data {
                    Some(d) => self.set_descriptor(d, cx),
                    None if c.data_length > 0 && usize::from(c.data_offset) >= pkt.len() && !truncated => {
                        self.facts.connect_data_separate = true;
                        if self.facts.connect_data.is_none() {
                            self.connect_data_pending = true;
                            self.dirs[0].raw_connect_data = usize::from(c.data_length);
                        }
                    }
                    None => Observed::note(&mut cx.obs.anomalies, "tns: CONNECT data outside the packet"),
                }
            }
            (Direction::ToClient, PacketType::ACCEPT) => {
                if let Some(v) = Reader::new(&pkt[HEADER_LEN..]).be_u16() {
                    self.facts.accept_version = Some(v);
                    // Packets after the ACCEPT carry 4-byte lengths from version 315 on.
                    self.large_sdu = v >= LARGE_SDU_VERSION;
                }
                self.dirs[0].raw_connect_data = 0;
            }
            (Direction::ToClient, PacketType::REFUSE) => {
                if let Some(r) = parse_refuse(pkt) {
                    self.note_refuse(r.data, cx);
                }
            }
            (Direction::ToClient, PacketType::REDIRECT) => {
                if let Some((len, d)) = parse_redirect(pkt) {
                    if d.is_empty() && len > 0 {
                        self.redirect_pending = true;
                    } else {
                        self.facts.redirect = Some(bounded_text(d));
                    }
                }
            }
            (_, PacketType::DATA) => self.data(dir, pkt.get(HEADER_LEN..).unwrap_or(&[]), cx),
            _ => {}
        }
    }

    fn note_refuse(&mut self, data: &[u8], cx: &mut ConnCx<'_>) {
        let text = bounded_text(data);
        let err = descriptor_value(&text, "ERR").and_then(|e| e.parse::<u32>().ok());
        self.facts.refuse_error = err;
        if let Some(v) = descriptor_value(&text, "VSNNUM").and_then(|v| v.parse::<u32>().ok()).filter(|&v| v > 0) {
            cx.obs.server_version.get_or_insert_with(|| vsnnum_to_string(v));
        }
        if let Some(e) = err.filter(|&e| e != 0) {
            Observed::note(&mut cx.obs.errors, format!("TNS-{e:05}: connection refused by the listener"));
        }
        self.facts.refuse_data = Some(text);
    }

    /// DATA body: `data_flags:u16` then the payload (ANO, TTC, or continued connect data).
    fn data(&mut self, dir: Direction, body: &[u8], cx: &mut ConnCx<'_>) {
        let payload = body.get(2..).unwrap_or(&[]);
        if dir == Direction::ToServer && self.connect_data_pending {
            self.connect_data_pending = false;
            self.dirs[0].raw_connect_data = 0;
            if let Some(p) = payload.iter().take(4).position(|&c| c == b'(') {
                self.set_descriptor(&payload[p..], cx);
                return;
            }
        }
        if dir == Direction::ToClient && self.redirect_pending {
            self.redirect_pending = false;
            self.facts.redirect = Some(bounded_text(payload));
            return;
        }
        if payload.starts_with(&ANO_MAGIC) {
            self.ano(dir, payload, cx);
            return;
        }
        if let Some(banner) = parse_set_protocol(payload) {
            let b = bounded_text(banner);
            match dir {
                Direction::ToClient => {
                    cx.obs.server_version.get_or_insert(b);
                }
                Direction::ToServer => {
                    self.facts.client_banner.get_or_insert(b);
                }
            }
            return;
        }
        if dir == Direction::ToServer {
            if let Some(q) = find_sql(payload) {
                // Oracle quotes like standard SQL ('…' strings, "…" identifiers), which
                // the PostgreSQL dialect of the normaliser redacts correctly.
                cx.obs.add_query(cx.cfg, sql::Dialect::Postgres, &q);
            }
        }
    }

    fn ano(&mut self, dir: Direction, payload: &[u8], cx: &mut ConnCx<'_>) {
        let nne = self.facts.nne.get_or_insert_with(NneReport::default);
        let Some(ano) = parse_ano(payload) else {
            Observed::note(&mut cx.obs.anomalies, "tns: malformed ANO negotiation");
            return;
        };
        match dir {
            Direction::ToServer => {
                nne.client_ano = true;
                for s in &ano.services {
                    match s.service {
                        ANO_ENCRYPTION if nne.client_offered_encryption.is_empty() => {
                            nne.client_offered_encryption =
                                s.offered.iter().map(|&a| algo_label(encryption_name(a), a)).collect();
                        }
                        ANO_INTEGRITY if nne.client_offered_integrity.is_empty() => {
                            nne.client_offered_integrity =
                                s.offered.iter().map(|&a| algo_label(integrity_name(a), a)).collect();
                        }
                        _ => {}
                    }
                }
            }
            Direction::ToClient => {
                nne.server_ano = true;
                for s in &ano.services {
                    match (s.service, s.chosen) {
                        (ANO_ENCRYPTION, Some(a)) => {
                            nne.server_selected_encryption = Some(algo_label(encryption_name(a), a));
                            // Every DATA packet after this answer is encrypted.
                            self.encrypted |= a != 0;
                        }
                        (ANO_INTEGRITY, Some(a)) => {
                            nne.server_selected_integrity = Some(algo_label(integrity_name(a), a));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// A header that real stacks send: known type, sane length, zero checksums.
fn plausible_header(b: &[u8], large_sdu: bool) -> bool {
    let Some(h) = parse_header(b, large_sdu) else { return false };
    let zero_sums = b[6..8] == [0, 0] && (large_sdu || b[..2] == [0, 0] || b[2..4] == [0, 0]);
    zero_sums && h.ptype.name() != "OTHER" && (HEADER_LEN..=0x10_0000).contains(&(h.length as usize))
}

fn side(dir: Direction) -> &'static str {
    match dir {
        Direction::ToServer => "client",
        Direction::ToClient => "server",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::tls::TlsTracker;
    use Direction::{ToClient, ToServer};

    /// Feed chunks in order; returns the observations, the engine state and the last
    /// feed result per direction.
    fn run(chunks: &[(Direction, &[u8])]) -> (Observed, TnsState, [Feed; 2]) {
        let cfg = EngineConfig::default();
        let mut obs = Observed::default();
        let mut tls: Option<Box<TlsTracker>> = None;
        let mut st = TnsState::new(false);
        let mut last = [Feed::Continue; 2];
        for (dir, bytes) in chunks {
            let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
            last[dir.index()] = st.feed(*dir, bytes, &mut cx);
        }
        (obs, st, last)
    }

    /// A 2-byte-length CONNECT carrying `desc` at offset 58 (layout of the public
    /// TRex capture).
    fn connect(version: u16, desc: &[u8]) -> Vec<u8> {
        let len = 58 + desc.len();
        let mut p = vec![
            /* length */ (len >> 8) as u8,
            len as u8,
            /* packet checksum */ 0x00,
            0x00,
            /* type CONNECT */ 0x01,
            /* flags */ 0x00,
            /* header checksum */ 0x00,
            0x00,
        ];
        p.extend_from_slice(&version.to_be_bytes()); // version
        p.extend_from_slice(&[
            /* compatible 300 */ 0x01, 0x2c, /* service options */ 0x0c, 0x41, /* SDU */ 0x20, 0x00,
            /* TDU */ 0xff, 0xff, /* NT characteristics */ 0x7f, 0x08, /* line turnaround */ 0x00, 0x00,
            /* value of one */ 0x00, 0x01,
        ]);
        p.extend_from_slice(&(desc.len() as u16).to_be_bytes()); // connect data length
        p.extend_from_slice(&[/* connect data offset 58 */ 0x00, 0x3a]);
        p.resize(58, 0);
        p.extend_from_slice(desc);
        p
    }

    const DESC: &[u8] = b"(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=10.1.3.81)(PORT=1521))\
(CONNECT_DATA=(SERVICE_NAME=secsph)(CID=(PROGRAM=sqlplus@kali)(HOST=kali)(USER=root))))";

    /// ACCEPT version 315 (from the nDPI oracle12 capture): later packets use 4-byte lengths.
    const ACCEPT_315: &[u8] = &[
        /* length 41 */ 0x00, 0x29, /* checksum */ 0x00, 0x00, /* type ACCEPT */ 0x02, 0x00, 0x00, 0x00,
        /* version 315 */ 0x01, 0x3b, /* service options */ 0x0c, 0x41, /* SDU, TDU */ 0x00, 0x00, 0x00,
        0x00, /* byte order */ 0x01, 0x00, /* accept data length */ 0x00, 0x00, /* offset */ 0x00, 0x29,
        /* flags */ 0x41, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        /* large SDU */ 0x00, 0x00, 0x20, 0x00, /* large TDU */ 0x00, 0x20, 0x00, 0x00, 0x00,
    ];

    /// The client's ANO offer of the nDPI oracle12 capture (DATA, 4-byte length 0xa4).
    const ANO_OFFER: &[u8] = &[
        /* length 164 */ 0x00, 0x00, 0x00, 0xa4, /* DATA */ 0x06, 0x20, 0x00, 0x00,
        /* data flags */ 0x00, 0x00, /* magic */ 0xde, 0xad, 0xbe, 0xef, /* length */ 0x00, 0x9a,
        /* version */ 0x00, 0x00, 0x00, 0x00, /* services */ 0x00, 0x04, /* error flags */ 0x00,
        /* supervisor, 3 sub-packets */ 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        /*   version 12.1.0.2 */ 0x00, 0x04, 0x00, 0x05, 0x0c, 0x10, 0x02, 0x00, /*   CID */ 0x00, 0x08,
        0x00, 0x01, 0x00, 0x00, 0x4a, 0x59, 0x7d, 0x2f, 0xd5, 0xdc, /*   service array */ 0x00, 0x12, 0x00, 0x01,
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03,
        /* authentication, 3 sub-packets */ 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x05, 0x0c, 0x10, 0x02, 0x00, 0x00, 0x02, 0x00, 0x03, 0xe0, 0xe1, 0x00, 0x02, 0x00, 0x06, 0xfc, 0xff,
        /* encryption, 3 sub-packets */ 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x05,
        0x0c, 0x10, 0x02, 0x00,
        /*   offer (RAW): none AES256 RC4_256 AES192 3DES168 AES128 RC4_128 3DES112 RC4_56 DES56C RC4_40 DES40C */
        0x00, 0x0c, 0x00, 0x01, 0x00, 0x11, 0x06, 0x10, 0x0c, 0x0f, 0x0a, 0x0b, 0x08, 0x02, 0x01, 0x03,
        /*   driver (UB1) */ 0x00, 0x01, 0x00, 0x02, 0x01, /* integrity, 2 sub-packets */ 0x00, 0x03, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x05, 0x0c, 0x10, 0x02, 0x00,
        /*   offer: none SHA1 MD5 SHA512 SHA256 SHA384 */ 0x00, 0x06, 0x00, 0x01, 0x00, 0x03, 0x01, 0x04, 0x05,
        0x06,
    ];

    /// A server ANO answer choosing `enc` and `integrity` (layout of the nDPI answer).
    fn ano_answer(enc: u8, integrity: u8) -> Vec<u8> {
        let body: Vec<u8> = [
            &[/* magic */ 0xde, 0xad, 0xbe, 0xef, /* length */ 0x00, 0x3d][..],
            &[/* version */ 0x0c, 0x10, 0x02, 0x00, /* services */ 0x00, 0x02, /* flags */ 0x00],
            &[/* encryption, 2 sub-packets */ 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00],
            &[
                /* version */ 0x00, 0x04, 0x00, 0x05, 0x0c, 0x10, 0x02, 0x00, /* chosen (UB1) */ 0x00, 0x01,
                0x00, 0x02, enc,
            ],
            &[/* integrity, 2 sub-packets */ 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00],
            &[
                /* version */ 0x00, 0x04, 0x00, 0x05, 0x0c, 0x10, 0x02, 0x00, /* chosen */ 0x00, 0x01, 0x00,
                0x02, integrity,
            ],
        ]
        .concat();
        data_packet(&body, true)
    }

    fn data_packet(payload: &[u8], large: bool) -> Vec<u8> {
        let len = 10 + payload.len();
        let mut p = if large {
            let mut h = (len as u32).to_be_bytes().to_vec();
            h.extend_from_slice(&[/* DATA */ 0x06, 0x00, 0x00, 0x00]);
            h
        } else {
            vec![(len >> 8) as u8, len as u8, 0x00, 0x00, /* DATA */ 0x06, 0x00, 0x00, 0x00]
        };
        p.extend_from_slice(&[/* data flags */ 0x00, 0x00]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn header_layouts() {
        let short =
            [/* length 8 */ 0x00, 0x08, /* checksum */ 0x00, 0x00, /* RESEND */ 0x0b, 0x00, 0x00, 0x00];
        assert_eq!(parse_header(&short, false), Some(Header { length: 8, ptype: PacketType::RESEND, flags: 0 }));
        let large = [/* length 0x1d */ 0x00, 0x00, 0x00, 0x1d, /* DATA */ 0x06, 0x20, 0x00, 0x00];
        assert_eq!(parse_header(&large, true).map(|h| h.length), Some(0x1d));
        // A zero 2-byte length is the high half of a 4-byte one (ACCEPT not captured).
        assert_eq!(parse_header(&large, false).map(|h| h.length), Some(0x1d));
        assert_eq!(parse_header(&large[..7], true), None);
    }

    #[test]
    fn complete_connect_descriptor() {
        let c = connect(312, DESC);
        let parsed = parse_connect(&c).expect("connect");
        assert_eq!((parsed.version, parsed.data_offset), (312, 58));
        assert_eq!(parsed.data, Some(DESC));
        assert_eq!(probe(ToServer, &c, false), Probe::Match);
        let (obs, st, last) = run(&[(ToServer, &c)]);
        let f = &st.facts;
        assert_eq!(f.connect_version, Some(312));
        assert_eq!(f.service_name.as_deref(), Some("secsph"));
        assert_eq!(f.program.as_deref(), Some("sqlplus@kali"));
        assert_eq!(f.client_host.as_deref(), Some("kali"), "CID HOST, not ADDRESS HOST");
        assert_eq!(f.os_user.as_deref(), Some("root"));
        assert_eq!(f.protocol.as_deref(), Some("TCP"));
        assert_eq!(obs.database.as_deref(), Some("secsph"));
        assert_eq!(obs.plaintext_messages, 1);
        assert_eq!(last[0], Feed::Continue);
    }

    #[test]
    fn split_across_segments_byte_by_byte() {
        let c = connect(315, DESC);
        let mut chunks: Vec<(Direction, &[u8])> = c.chunks(1).map(|b| (ToServer, b)).collect();
        chunks.extend(ACCEPT_315.chunks(3).map(|b| (ToClient, b)));
        chunks.extend(ANO_OFFER.chunks(7).map(|b| (ToServer, b)));
        let (_, st, _) = run(&chunks);
        assert_eq!(st.facts.connect_data.as_deref().map(str::as_bytes), Some(DESC));
        assert_eq!(st.facts.accept_version, Some(315));
        let nne = st.facts.nne.as_ref().expect("ANO seen");
        assert_eq!(nne.client_offered_encryption.len(), 12);
        assert_eq!(nne.client_offered_encryption[1], "AES256(17)");
        assert_eq!(
            nne.client_offered_integrity,
            ["none(0)", "SHA1(3)", "MD5(1)", "SHA512(4)", "SHA256(5)", "SHA384(6)"]
        );
    }

    #[test]
    fn truncated_connect_needs_more_and_reports_nothing() {
        let c = connect(315, DESC);
        assert_eq!(probe(ToServer, &c[..5], false), Probe::NeedMore);
        assert_eq!(probe(ToServer, &c[..30], false), Probe::NeedMore);
        assert_eq!(probe(ToServer, &c[..60], false), Probe::NeedMore, "descriptor prefix \"(D\" so far");
        let (obs, st, _) = run(&[(ToServer, &c[..c.len() - 1])]);
        assert_eq!(st.facts.connect_data, None);
        assert_eq!(obs.plaintext_messages, 0);
    }

    #[test]
    fn nne_chosen_stops_parsing_and_names_algorithm() {
        let c = connect(315, DESC);
        let answer = ano_answer(17, 5);
        let after = data_packet(b"SELECT secret FROM t WHERE x = 1", true);
        let (obs, st, last) = run(&[
            (ToServer, &c),
            (ToClient, ACCEPT_315),
            (ToServer, ANO_OFFER),
            (ToClient, &answer),
            (ToServer, &after),
        ]);
        assert_eq!(st.facts.nne_encryption(), Some("AES256(17)"));
        let nne = st.facts.nne.as_ref().unwrap();
        assert_eq!(nne.server_selected_integrity.as_deref(), Some("SHA256(5)"));
        assert!(nne.client_ano && nne.server_ano);
        assert_eq!(last, [Feed::Stop, Feed::Stop]);
        assert_eq!(obs.query_count, 0, "bytes after an NNE answer are not parsed as SQL");
    }

    #[test]
    fn nne_none_keeps_plaintext_and_finds_sql() {
        let c = connect(315, DESC);
        let answer = ano_answer(0, 0);
        // TTC OALL8 call, statement as one length-prefixed string.
        let sql = b"select name from accounts where id = 42";
        let mut call = vec![/* function call */ 0x03, /* OALL8 */ 0x5e, /* seq */ 0x02, 0x00, 0x00];
        call.push(sql.len() as u8);
        call.extend_from_slice(sql);
        call.extend_from_slice(&[0x01, 0x00]);
        let q = data_packet(&call, true);
        let (obs, st, _) =
            run(&[(ToServer, &c), (ToClient, ACCEPT_315), (ToServer, ANO_OFFER), (ToClient, &answer), (ToServer, &q)]);
        assert_eq!(st.facts.nne_encryption(), None);
        assert_eq!(obs.query_count, 1);
        assert_eq!(obs.queries, ["select name from accounts where id = ?"]);
    }

    #[test]
    fn chunked_sql_is_joined() {
        // OALL7 call of the TRex capture: 0xFE, then chunks of at most 64 bytes, then 0.
        let a = b"select sid from V$SESSION  where audsid = ( select USERENV('SESS";
        assert_eq!(a.len(), 64);
        let b = b"IONID') from dual )";
        let mut p = vec![/* call */ 0x03, /* OALL7 */ 0x3e, 0x07, 0x00, 0x00, /* chunked */ 0xfe, 0x40];
        p.extend_from_slice(a);
        p.push(b.len() as u8);
        p.extend_from_slice(b);
        p.push(0x00);
        assert_eq!(
            find_sql(&p).as_deref(),
            Some("select sid from V$SESSION  where audsid = ( select USERENV('SESSIONID') from dual )")
        );
    }

    #[test]
    fn no_sql_in_binary_or_auth_payloads() {
        assert_eq!(find_sql(b"\x03\x76\x02\xfe\xff\xff\xff\x09\x00AUTH_TERMINAL\x0fpts/0"), None);
        assert_eq!(find_sql(b"xSELECTED items"), None, "keyword must start a word");
        assert_eq!(find_sql(b"\x00with a\x01"), None, "too short to be a statement");
        let noise: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert_eq!(find_sql(&noise), None);
    }

    #[test]
    fn refuse_reports_err_and_listener_version() {
        let text = b"(DESCRIPTION=(TMP=)(VSNNUM=318767104)(ERR=12514)(ERROR_STACK=(ERROR=(CODE=12514)(EMFI=4))))";
        let len = 12 + text.len();
        let mut r = vec![(len >> 8) as u8, len as u8, 0x00, 0x00, /* REFUSE */ 0x04, 0x00, 0x00, 0x00];
        r.extend_from_slice(&[/* user reason */ 0x22, /* system reason */ 0x00]);
        r.extend_from_slice(&(text.len() as u16).to_be_bytes());
        r.extend_from_slice(text);
        assert_eq!(probe(ToClient, &r, false), Probe::Match);
        let (obs, st, _) = run(&[(ToServer, &connect(318, b"(CONNECT_DATA=(SERVICE_NAME=NOSUCH))")), (ToClient, &r)]);
        assert_eq!(st.facts.refuse_error, Some(12514));
        assert_eq!(obs.server_version.as_deref(), Some("19.0.0.0.0"));
        assert_eq!(st.facts.service_name.as_deref(), Some("NOSUCH"));
        assert!(obs.errors[0].contains("12514"));
    }

    #[test]
    fn connect_data_in_following_data_packet() {
        // python-oracledb: descriptor longer than 230 bytes, CONNECT ends at offset 74 and
        // the descriptor follows in a DATA packet (data flags, then the text).
        let desc = format!("(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=127.0.0.1)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=SHOP)(CID=(PROGRAM={})(HOST=vm)(USER=root))))", "p".repeat(150));
        let mut c = connect(319, b"");
        c[0..2].copy_from_slice(&74u16.to_be_bytes());
        c[24..26].copy_from_slice(&(desc.len() as u16).to_be_bytes());
        c[26..28].copy_from_slice(&74u16.to_be_bytes());
        c.resize(74, 0);
        assert_eq!(probe(ToServer, &c, false), Probe::Match);
        let d = data_packet(desc.as_bytes(), false);
        let both = [c.clone(), d].concat();
        let (_, st, _) = run(&[(ToServer, &both)]);
        assert!(st.facts.connect_data_separate);
        assert_eq!(st.facts.service_name.as_deref(), Some("SHOP"));
        // Unframed continuation (raw descriptor bytes after the CONNECT).
        let (_, st, _) = run(&[(ToServer, &c), (ToServer, desc.as_bytes())]);
        assert_eq!(st.facts.service_name.as_deref(), Some("SHOP"));
    }

    #[test]
    fn server_banner_from_set_protocol() {
        let resp = data_packet(b"\x01\x06\x00x86_64/Linux 2.4.xx\x00\x69\x03\x01", true);
        let (obs, _, _) = run(&[(ToServer, &connect(315, DESC)), (ToClient, ACCEPT_315), (ToClient, &resp)]);
        assert_eq!(obs.server_version.as_deref(), Some("x86_64/Linux 2.4.xx"));
        assert_eq!(parse_set_protocol(b"\x01\x06\x00\x01\x02\x00"), None, "binary is no banner");
        assert_eq!(parse_set_protocol(b"\x01\x06"), None);
    }

    #[test]
    fn wrong_length_and_bad_type_stop_the_direction() {
        // Length 4 (< header) and type 0x63 (no such type): framing lost.
        let bad = [0x00, 0x04, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0xaa, 0xbb];
        // Resynchronisation looks a few bytes further before giving up.
        let (obs, _, last) = run(&[(ToServer, &connect(315, DESC)), (ToServer, &bad), (ToServer, &[0xff; 32])]);
        assert_eq!(last[0], Feed::Stop);
        assert!(obs.anomalies.iter().any(|a| a.contains("bad packet header")));
        let bad_type = [0x00, 0x10, 0x00, 0x00, 0x63, 0x00, 0x00, 0x00];
        let (_, _, last) = run(&[(ToServer, &bad_type), (ToServer, &[0xff; 64])]);
        assert_eq!(last[0], Feed::Stop);
    }

    #[test]
    fn stray_byte_between_packets_is_skipped() {
        // The TRex capture has one extra ')' after a CONNECT.
        let mut c = connect(312, DESC);
        c.push(b')');
        let resend = [0x00, 0x08, 0x00, 0x00, /* RESEND */ 0x0b, 0x00, 0x00, 0x00];
        let (obs, st, last) = run(&[(ToServer, &c), (ToServer, &resend), (ToServer, &connect(312, DESC))]);
        assert_eq!(last[0], Feed::Continue);
        assert!(st.facts.packet_types.contains(&"RESEND"));
        assert!(obs.anomalies.iter().any(|a| a.contains("skipped 1 byte")));
    }

    #[test]
    fn hostile_lengths_and_offsets() {
        // 4-byte length of 4 GiB parses; 16 MiB of DATA is skipped without buffering
        // more than max_message.
        let huge = [0xff, 0xff, 0xff, 0xff, 0x06, 0x00, 0x00, 0x00];
        assert_eq!(parse_header(&huge, true).map(|h| h.length), Some(u32::MAX));
        let mut stream = vec![0x00, 0xff, 0xff, 0xff, /* DATA */ 0x06, 0x00, 0x00, 0x00];
        stream.resize(stream.len() + 200_000, 0x41);
        let (_, st, last) = run(&[(ToServer, &connect(315, DESC)), (ToClient, ACCEPT_315), (ToServer, &stream)]);
        assert_eq!(last[0], Feed::Continue);
        assert!(st.dirs[0].buf.capacity() <= 2 * EngineConfig::default().max_message);
        assert_eq!(st.dirs[0].skip, 0xff_ffff - 200_008, "the rest of the packet is still to skip");
        // CONNECT whose connect data offset/length point outside the packet.
        let mut c = connect(315, DESC);
        c[26..28].copy_from_slice(&0xfff0u16.to_be_bytes());
        assert_eq!(probe(ToServer, &c, false), Probe::NoMatch);
        let (_, st, _) = run(&[(ToServer, &c)]);
        assert_eq!(st.facts.connect_data, None);
        // Offset inside the fixed header fields.
        let mut c = connect(315, DESC);
        c[26..28].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(parse_connect(&c).and_then(|p| p.data), None);
        // ANO with absurd counts and sub-packet lengths.
        let ano = [
            0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0, 0x00, 0x02, 0xff, 0xff, 0, 0, 0, 0, 0xff,
            0xff, 0x00, 0x01,
        ];
        let parsed = parse_ano(&ano).expect("magic");
        assert_eq!(parsed.services.len(), 1);
        assert!(parsed.services[0].offered.is_empty());
        // REFUSE whose data length exceeds the packet.
        let r = [0x00, 0x0e, 0, 0, 0x04, 0, 0, 0, 0x22, 0x00, 0xff, 0xff, b'(', b'E'];
        assert_eq!(parse_refuse(&r).map(|r| r.data.len()), Some(2));
        // Every prefix of a real exchange parses without panicking.
        let all = [connect(315, DESC), ACCEPT_315.to_vec(), ANO_OFFER.to_vec()].concat();
        for cut in 0..all.len() {
            let _ = run(&[(ToServer, &all[..cut])]);
            let _ = probe(ToServer, &all[..cut], false);
        }
    }

    #[test]
    fn probe_rejects_other_protocols() {
        // PostgreSQL StartupMessage, HTTP, TLS ClientHello, MySQL greeting.
        assert_eq!(probe(ToServer, b"\x00\x00\x00\x08\x04\xd2\x16\x2f", false), Probe::NoMatch);
        assert_eq!(probe(ToServer, b"GET / HTTP/1.1\r\n", false), Probe::NoMatch);
        assert_eq!(probe(ToServer, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false), Probe::NoMatch);
        assert_eq!(probe(ToClient, b"\x4a\x00\x00\x00\x0a\x35\x2e\x37\x2e", false), Probe::NoMatch);
        // CONNECT with an impossible version.
        let mut c = connect(315, DESC);
        c[8..10].copy_from_slice(&999u16.to_be_bytes());
        assert_eq!(probe(ToServer, &c, false), Probe::NoMatch);
        // ACCEPT from the server identifies TNS too.
        assert_eq!(probe(ToClient, ACCEPT_315, false), Probe::Match);
    }

    #[test]
    fn midstream_data_packets_are_recognised() {
        let q = data_packet(b"\x03\x5e\x02\x00\x27select name from accounts where id = 42", true);
        assert_eq!(probe(ToServer, &q, true), Probe::Match);
        assert_eq!(probe(ToServer, &q, false), Probe::NoMatch, "only mid-stream");
        assert_eq!(probe(ToServer, &q[..q.len() - 1], true), Probe::NeedMore);
        let two = [q.clone(), data_packet(b"\x03\x09\x03", true)].concat();
        assert_eq!(probe(ToServer, &two, true), Probe::Match);
        // A length that does not tile the bytes (what follows is no header), or a
        // nonzero header checksum.
        let mut bad = q.clone();
        bad[3] -= 9;
        assert_eq!(probe(ToServer, &bad, true), Probe::NoMatch);
        let mut bad = q.clone();
        bad[7] = 0x55;
        assert_eq!(probe(ToServer, &bad, true), Probe::NoMatch);
        assert_eq!(probe(ToServer, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true), Probe::NoMatch);
        // And the engine started mid-stream still finds the statement.
        let (obs, _, _) = run(&[(ToServer, &two)]);
        assert_eq!(obs.query_count, 1);
    }

    #[test]
    fn redirect_inline_and_in_following_data() {
        let addr = b"(ADDRESS=(PROTOCOL=TCP)(HOST=10.0.0.9)(PORT=1522))";
        let len = 10 + addr.len();
        let mut r = vec![(len >> 8) as u8, len as u8, 0x00, 0x00, /* REDIRECT */ 0x05, 0x00, 0x00, 0x00];
        r.extend_from_slice(&(addr.len() as u16).to_be_bytes());
        r.extend_from_slice(addr);
        let (_, st, _) = run(&[(ToServer, &connect(315, DESC)), (ToClient, &r)]);
        assert_eq!(st.facts.redirect.as_deref().map(str::as_bytes), Some(&addr[..]));
        // Length announced, data in the next DATA packet from the server.
        let head = [0x00, 0x0a, 0x00, 0x00, /* REDIRECT */ 0x05, 0x00, 0x00, 0x00, 0x00, addr.len() as u8];
        let (_, st, _) =
            run(&[(ToServer, &connect(315, DESC)), (ToClient, &head), (ToClient, &data_packet(addr, false))]);
        assert_eq!(st.facts.redirect.as_deref().map(str::as_bytes), Some(&addr[..]));
    }

    #[test]
    fn descriptor_values() {
        let d = "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcps)(HOST=db)(PORT=2484))(CONNECT_DATA=(SID=ORCL)(CID=(PROGRAM=x)(HOST=h)(USER=u))))";
        assert_eq!(descriptor_value_in(d, "ADDRESS", "HOST"), Some("db"));
        assert_eq!(descriptor_value_in(d, "CID", "HOST"), Some("h"));
        assert_eq!(descriptor_value_in(d, "CONNECT_DATA", "SID"), Some("ORCL"));
        assert_eq!(descriptor_value(d, "missing"), None);
        assert_eq!(descriptor_value("(ERR=", "ERR"), Some(""));
        assert_eq!(vsnnum_to_string(318767104), "19.0.0.0.0");
    }
}
