//! Microsoft SQL Server Tabular Data Stream (TDS 7.x, TDS 8.0), plus the TDS 4.2/5.0
//! login of Sybase ASE as far as it shows a cleartext login.
//!
//! References: [MS-TDS] 2.2.3.1 (packet header), 2.2.5.3 (ALL_HEADERS), 2.2.6.4 (LOGIN7),
//! 2.2.6.5 (PRELOGIN and the encryption negotiation table), 2.2.6.6 (RPCRequest),
//! 2.2.6.7 (SQLBatch), 2.2.7 (tokens: LOGINACK, ERROR, DONE), 3.2.5 / 3.3.5 (TLS
//! negotiation wrapped in PRELOGIN packets, and login-only encryption); the Sybase
//! "TDS 5.0 Functional Specification" for the 512-byte TDS 4.2/5.0 login record and
//! the TDS_LANGUAGE token.
//!
//! Layout: pure `parse_*` functions over one message, a per-direction [`Unit`] framer
//! that tells TLS records from TDS packets at every boundary (TDS packet types never
//! take the TLS content types 0x14–0x17), and the connection state machine
//! [`TdsState`]. TLS travels in three ways and the framer handles all of them:
//! wrapped in PRELOGIN packets during the handshake (the 8-byte TDS header is stripped
//! and the payload fed to the TLS tracker), as raw records on the socket afterwards,
//! and, with login-only encryption, as raw records for LOGIN7 only, followed by plain
//! TDS again.

use super::{sql, AuthMethod, ConnCx, EngineKind, Feed, Observed, TlsUpgrade};
use crate::flow::Direction;
use crate::reader::{Probe, Reader};

/// Packet header length ([MS-TDS] 2.2.3.1).
pub const HEADER_LEN: usize = 8;
/// Largest packet a server may negotiate (packet size 32767, [MS-TDS] 2.2.6.4).
const MAX_PACKET_LEN: usize = 32768;
/// TLS record header length (RFC 8446 §5.1).
const TLS_HEADER_LEN: usize = 5;
/// Login-phase messages are buffered up to this whatever `max_message` says.
const LOGIN_CAP: usize = 16 * 1024;
/// Longest user / database / host / application name kept (characters).
const MAX_NAME: usize = 128;
/// Size of the TDS 4.2 / 5.0 login record.
const SYBASE_LOGIN_LEN: usize = 512;

/// Packet types ([MS-TDS] 2.2.3.1.1). Open: unknown values survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketType(pub u8);

impl PacketType {
    pub const SQL_BATCH: PacketType = PacketType(0x01);
    /// Pre-TDS7 login (TDS 4.2 / Sybase TDS 5.0).
    pub const LEGACY_LOGIN: PacketType = PacketType(0x02);
    pub const RPC: PacketType = PacketType(0x03);
    pub const TABULAR_RESULT: PacketType = PacketType(0x04);
    pub const ATTENTION: PacketType = PacketType(0x06);
    pub const BULK_LOAD: PacketType = PacketType(0x07);
    pub const FEDAUTH_TOKEN: PacketType = PacketType(0x08);
    pub const TRANSACTION_MANAGER: PacketType = PacketType(0x0e);
    /// Sybase TDS 5.0 "normal tokenised request".
    pub const TDS5_REQUEST: PacketType = PacketType(0x0f);
    pub const LOGIN7: PacketType = PacketType(0x10);
    pub const SSPI: PacketType = PacketType(0x11);
    pub const PRELOGIN: PacketType = PacketType(0x12);

    /// Sent by clients.
    fn sent_by_client(self) -> bool {
        matches!(self.0, 0x01 | 0x02 | 0x03 | 0x06 | 0x07 | 0x08 | 0x0e | 0x0f | 0x10 | 0x11 | 0x12)
    }
}

/// Status bit: last packet of a message.
const STATUS_EOM: u8 = 0x01;

/// The 8-byte packet header ([MS-TDS] 2.2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    pub ptype: PacketType,
    pub status: u8,
    /// Whole packet, header included (big-endian on the wire).
    pub length: u16,
    pub spid: u16,
    pub packet_id: u8,
    pub window: u8,
}

impl PacketHeader {
    pub fn eom(&self) -> bool {
        self.status & STATUS_EOM != 0
    }
    pub fn payload_len(&self) -> usize {
        usize::from(self.length).saturating_sub(HEADER_LEN)
    }
}

pub fn parse_header(b: &[u8]) -> Option<PacketHeader> {
    let mut r = Reader::new(b);
    Some(PacketHeader {
        ptype: PacketType(r.u8()?),
        status: r.u8()?,
        length: r.be_u16()?,
        spid: r.be_u16()?,
        packet_id: r.u8()?,
        window: r.u8()?,
    })
}

/// A header a real peer could send: known type, defined status bits only (0x04 appears
/// in some client captures and is tolerated), a length that holds the header, window 0.
fn plausible_header(h: &PacketHeader, dir: Direction) -> bool {
    let type_ok = match dir {
        Direction::ToServer => h.ptype.sent_by_client(),
        Direction::ToClient => h.ptype == PacketType::TABULAR_RESULT || h.ptype == PacketType::PRELOGIN,
    };
    type_ok
        && h.status & !0x1f == 0
        && usize::from(h.length) >= HEADER_LEN
        && usize::from(h.length) <= MAX_PACKET_LEN
        && h.window == 0
}

/// A TLS record header (content type 20–23, major version 3)?
fn is_tls_record_start(b: &[u8]) -> bool {
    matches!(b, [0x14..=0x17, 0x03, 0x00..=0x04, ..])
}

// ---------------------------------------------------------------------------------------
// PRELOGIN

/// ENCRYPTION option value ([MS-TDS] 2.2.6.5). Open: unknown values survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptOption(pub u8);

impl EncryptOption {
    pub const OFF: EncryptOption = EncryptOption(0x00);
    pub const ON: EncryptOption = EncryptOption(0x01);
    pub const NOT_SUP: EncryptOption = EncryptOption(0x02);
    pub const REQ: EncryptOption = EncryptOption(0x03);
    /// ORed into OFF/ON/REQ: the client authenticates with a certificate.
    pub const CLIENT_CERT_BIT: u8 = 0x80;

    /// The value without the client-certificate bit.
    pub fn base(self) -> EncryptOption {
        EncryptOption(self.0 & !Self::CLIENT_CERT_BIT)
    }
    pub fn client_cert(self) -> bool {
        self.0 & Self::CLIENT_CERT_BIT != 0
    }
    pub fn name(self) -> String {
        let base = match self.base() {
            Self::OFF => "ENCRYPT_OFF".to_string(),
            Self::ON => "ENCRYPT_ON".to_string(),
            Self::NOT_SUP => "ENCRYPT_NOT_SUP".to_string(),
            Self::REQ => "ENCRYPT_REQ".to_string(),
            EncryptOption(v) => format!("0x{v:02x}"),
        };
        if self.client_cert() {
            format!("{base}|ENCRYPT_CLIENT_CERT")
        } else {
            base
        }
    }
}

/// What the two ENCRYPTION values negotiate ([MS-TDS] 2.2.6.5, the client/server table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// Nothing is encrypted (NOT_SUP on either side).
    None,
    /// TLS protects LOGIN7 only; everything after it is plaintext (OFF / OFF).
    LoginOnly,
    /// TLS for the whole connection (ON or REQ on either side, neither NOT_SUP).
    Full,
    /// One side requires encryption the other cannot do: the connection is terminated.
    Refused,
}

pub fn negotiate(client: EncryptOption, server: EncryptOption) -> Negotiated {
    use EncryptOption as E;
    let (c, s) = (client.base(), server.base());
    let wants = |v: EncryptOption| v == E::ON || v == E::REQ;
    if c == E::NOT_SUP || s == E::NOT_SUP {
        if wants(c) || wants(s) {
            Negotiated::Refused
        } else {
            Negotiated::None
        }
    } else if c == E::OFF && s == E::OFF {
        Negotiated::LoginOnly
    } else if wants(c) || wants(s) {
        Negotiated::Full
    } else {
        // Unknown values: assume the worst case the spec allows.
        Negotiated::LoginOnly
    }
}

/// PRELOGIN option tokens ([MS-TDS] 2.2.6.5).
mod option {
    pub const VERSION: u8 = 0x00;
    pub const ENCRYPTION: u8 = 0x01;
    pub const INSTOPT: u8 = 0x02;
    pub const THREADID: u8 = 0x03;
    pub const MARS: u8 = 0x04;
    pub const FEDAUTHREQUIRED: u8 = 0x06;
    pub const TERMINATOR: u8 = 0xff;
}

/// A parsed PRELOGIN structure (client request or server response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prelogin {
    /// UL_VERSION: major, minor, build (big-endian), then the sub-build.
    pub version: Option<(u8, u8, u16, u16)>,
    pub encryption: Option<EncryptOption>,
    pub instance: Option<String>,
    pub thread_id: Option<u32>,
    pub mars: Option<u8>,
    pub fedauth_required: Option<u8>,
}

impl Prelogin {
    /// `major.minor.build`, the form SQL Server reports (e.g. `16.0.1000`).
    pub fn version_string(&self) -> Option<String> {
        self.version.map(|(a, b, c, _)| format!("{a}.{b}.{c}"))
    }
}

/// Parse a PRELOGIN payload: option table, terminator 0xFF, every option's data inside
/// the payload and after the table. `None` when that does not hold.
pub fn parse_prelogin(p: &[u8]) -> Option<Prelogin> {
    let mut r = Reader::new(p);
    let mut out = Prelogin::default();
    let mut n = 0;
    loop {
        let token = r.u8()?;
        if token == option::TERMINATOR {
            break;
        }
        n += 1;
        // Eight options are defined; a table much longer than that is not PRELOGIN.
        if n > 32 {
            return None;
        }
        let offset = usize::from(r.be_u16()?);
        let len = usize::from(r.be_u16()?);
        let end = offset.checked_add(len)?;
        if end > p.len() {
            return None;
        }
        let data = &p[offset..end];
        let mut d = Reader::new(data);
        match token {
            option::VERSION => out.version = Some((d.u8()?, d.u8()?, d.be_u16()?, d.be_u16().unwrap_or(0))),
            option::ENCRYPTION => out.encryption = Some(EncryptOption(d.u8()?)),
            option::INSTOPT => {
                let s = data.split(|&b| b == 0).next().unwrap_or(&[]);
                out.instance = Some(String::from_utf8_lossy(s).chars().take(MAX_NAME).collect());
            }
            option::THREADID => out.thread_id = d.be_u32(),
            option::MARS => out.mars = d.u8(),
            option::FEDAUTHREQUIRED => out.fedauth_required = d.u8(),
            _ => {}
        }
    }
    // Option data starts after the table (offsets count from the payload start).
    let table_end = r.position();
    let mut check = Reader::new(p);
    loop {
        let token = check.u8()?;
        if token == option::TERMINATOR {
            break;
        }
        let offset = usize::from(check.be_u16()?);
        let len = usize::from(check.be_u16()?);
        if len > 0 && offset < table_end {
            return None;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// LOGIN7 and the legacy login

/// What a LOGIN7 record shows ([MS-TDS] 2.2.6.4). The password is never kept: only
/// whether one is present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login7 {
    /// TDSVersion as sent (little-endian DWORD, e.g. 0x74000004 for TDS 7.4).
    pub tds_version: u32,
    pub host: Option<String>,
    pub user: Option<String>,
    pub app: Option<String>,
    pub server: Option<String>,
    pub database: Option<String>,
    /// cchPassword > 0.
    pub has_password: bool,
    /// fIntSecurity: SSPI (Kerberos / NTLM) instead of a SQL password.
    pub integrated: bool,
}

/// OptionFlags2 fIntSecurity.
const F_INT_SECURITY: u8 = 0x80;

/// UTF-16LE to a bounded string (lossy).
fn utf16(b: &[u8], max_chars: usize) -> String {
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')).take(max_chars).collect()
}

/// Parse a LOGIN7 payload. Offsets are from the start of the record; every field must
/// lie inside it.
pub fn parse_login7(p: &[u8]) -> Option<Login7> {
    let mut r = Reader::new(p);
    let length = r.le_u32()? as usize;
    // Length covers the fixed part (94 bytes) at least; some clients add a
    // feature extension after the variable data, so it may be shorter than the packet.
    if length < 36 + 58 || length > p.len().max(LOGIN_CAP) {
        return None;
    }
    let tds_version = r.le_u32()?;
    r.skip(4 + 4 + 4 + 4)?; // packet size, client program version, client PID, connection id
    let _flags1 = r.u8()?;
    let flags2 = r.u8()?;
    r.skip(1 + 1 + 4 + 4)?; // type flags, option flags 3, time zone, LCID
    let field = |r: &mut Reader<'_>| -> Option<(usize, usize)> {
        let off = usize::from(r.le_u16()?);
        let cch = usize::from(r.le_u16()?);
        Some((off, cch))
    };
    let host = field(&mut r)?;
    let user = field(&mut r)?;
    let password = field(&mut r)?;
    let app = field(&mut r)?;
    let server = field(&mut r)?;
    let _extension = field(&mut r)?;
    let _library = field(&mut r)?;
    let _language = field(&mut r)?;
    let database = field(&mut r)?;
    let text = |(off, cch): (usize, usize)| -> Option<Option<String>> {
        if cch == 0 {
            return Some(None);
        }
        let end = off.checked_add(cch.checked_mul(2)?)?;
        let b = p.get(off..end)?;
        Some(Some(utf16(b, MAX_NAME)))
    };
    let pw_end = password.0.checked_add(password.1 * 2)?;
    if password.1 > 0 && pw_end > p.len() {
        return None;
    }
    Some(Login7 {
        tds_version,
        host: text(host)?,
        user: text(user)?,
        app: text(app)?,
        server: text(server)?,
        database: text(database)?,
        has_password: password.1 > 0,
        integrated: flags2 & F_INT_SECURITY != 0,
    })
}

/// TDS 4.2 / 5.0 login record: fixed 30-byte fields each followed by a length byte
/// (host name, user name, password, host process). The password is in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyLogin {
    pub host: Option<String>,
    pub user: Option<String>,
    pub has_password: bool,
}

pub fn parse_legacy_login(p: &[u8]) -> Option<LegacyLogin> {
    if p.len() < 124 {
        return None;
    }
    // Each field is zero-padded after its length (space-padded by some old clients).
    let field = |at: usize| -> Option<&[u8]> {
        let n = usize::from(p[at + 30]);
        (n <= 30 && p[at + n..at + 30].iter().all(|&b| b == 0 || b == b' ')).then(|| &p[at..at + n])
    };
    let name =
        |b: &[u8]| (!b.is_empty()).then(|| String::from_utf8_lossy(b).chars().take(MAX_NAME).collect::<String>());
    let host = field(0)?;
    let user = field(31)?;
    let password = field(62)?;
    field(93)?;
    Some(LegacyLogin { host: name(host), user: name(user), has_password: !password.is_empty() })
}

// ---------------------------------------------------------------------------------------
// Requests

/// Skip ALL_HEADERS ([MS-TDS] 2.2.5.3) when present: TotalLength (u32 LE, itself
/// included), then headers of HeaderLength (u32) and HeaderType (u16, 1–3). TDS 7.2+
/// always sends it (the transaction descriptor is mandatory, so at least 22 bytes);
/// older TDS never does. A text start cannot be taken for it: its first two UTF-16
/// units would make a length far beyond the message.
pub fn skip_all_headers(p: &[u8]) -> &[u8] {
    let mut r = Reader::new(p);
    let Some(total) = r.le_u32() else { return p };
    let total = total as usize;
    if total < 22 || total > p.len() {
        return p;
    }
    let mut pos = 4;
    while pos < total {
        let mut h = Reader::new(&p[pos..total]);
        let (Some(len), Some(ty)) = (h.le_u32(), h.le_u16()) else { return p };
        let len = len as usize;
        if len < 6 || !(1..=3).contains(&ty) || pos + len > total {
            return p;
        }
        pos += len;
    }
    &p[total..]
}

/// SQL text of a SQLBatch payload ([MS-TDS] 2.2.6.7): UTF-16LE after ALL_HEADERS.
pub fn parse_sql_batch(p: &[u8], max_chars: usize) -> Option<String> {
    let text = skip_all_headers(p);
    if text.len() < 2 {
        return None;
    }
    Some(utf16(text, max_chars))
}

/// Well-known procedures called by number (ProcID, [MS-TDS] 2.2.6.6).
pub fn proc_name(id: u16) -> Option<&'static str> {
    Some(match id {
        1 => "sp_cursor",
        2 => "sp_cursoropen",
        3 => "sp_cursorprepare",
        4 => "sp_cursorexecute",
        5 => "sp_cursorprepexec",
        6 => "sp_cursorunprepare",
        7 => "sp_cursorfetch",
        8 => "sp_cursoroption",
        9 => "sp_cursorclose",
        10 => "sp_executesql",
        11 => "sp_prepare",
        12 => "sp_execute",
        13 => "sp_prepexec",
        14 => "sp_prepexecrpc",
        15 => "sp_unprepare",
        _ => return None,
    })
}

/// Which parameter of a system procedure holds the SQL statement: sp_executesql
/// (@stmt, …), sp_cursoropen (@cursor OUTPUT, @stmt, …), sp_prepare / sp_prepexec /
/// sp_cursorprepare (@handle OUTPUT, @params, @stmt, …), sp_cursorprepexec (@handle
/// OUTPUT, @cursor OUTPUT, @params, @stmt, …).
fn statement_param(proc: &str) -> Option<usize> {
    match proc {
        "sp_executesql" => Some(0),
        "sp_cursoropen" => Some(1),
        "sp_prepare" | "sp_prepexec" | "sp_cursorprepare" => Some(2),
        "sp_cursorprepexec" => Some(3),
        _ => None,
    }
}

/// What an RPCRequest calls, and the SQL text it carries when it is one of the
/// procedures whose first parameter is a statement (sp_executesql, sp_prepare…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcCall {
    pub name: String,
    pub statement: Option<String>,
}

/// Parse the first RPC of an RPCRequest payload ([MS-TDS] 2.2.6.6).
pub fn parse_rpc(p: &[u8], max_chars: usize) -> Option<RpcCall> {
    let body = skip_all_headers(p);
    let mut r = Reader::new(body);
    let name_len = r.le_u16()?;
    let (name, statement_param) = if name_len == 0xffff {
        let id = r.le_u16()?;
        let name = proc_name(id).map(str::to_string).unwrap_or_else(|| format!("procid {id}"));
        let idx = statement_param(proc_name(id).unwrap_or(""));
        (name, idx)
    } else {
        if name_len == 0 || name_len > 1024 {
            return None;
        }
        let raw = r.take(usize::from(name_len) * 2)?;
        let name = utf16(raw, MAX_NAME);
        let lower = name.to_ascii_lowercase();
        let idx = statement_param(lower.trim_start_matches("sys.").trim_start_matches("dbo."));
        (name, idx)
    };
    r.le_u16()?; // option flags
    let statement = statement_param.and_then(|idx| rpc_string_param(&mut r, idx, max_chars));
    Some(RpcCall { name, statement })
}

/// The `idx`-th parameter's value when every parameter up to it is a simple type we
/// can skip and the wanted one is an (N)VARCHAR/(N)TEXT; `None` otherwise.
fn rpc_string_param(r: &mut Reader<'_>, idx: usize, max_chars: usize) -> Option<String> {
    for i in 0..=idx {
        let name_len = usize::from(r.u8()?);
        r.skip(name_len * 2)?;
        r.u8()?; // status flags
        let ty = r.u8()?;
        let value = match ty {
            // INTN: max length, then a length-prefixed value.
            0x26 => {
                r.u8()?;
                let n = usize::from(r.u8()?);
                r.take(n)?;
                None
            }
            // Fixed-length INT4 / INT2 / INT1 / BIT.
            0x38 => r.take(4).map(|_| None)?,
            0x34 => r.take(2).map(|_| None)?,
            0x30 | 0x32 => r.take(1).map(|_| None)?,
            // NVARCHAR / NCHAR / BIGVARCHAR / BIGCHAR: u16 max length, 5-byte collation.
            0xe7 | 0xef | 0xa7 | 0xaf => {
                let max = r.le_u16()?;
                r.skip(5)?;
                let unicode = ty == 0xe7 || ty == 0xef;
                let bytes = if max == 0xffff { read_plp(r)? } else { plp_or_short(r)? };
                Some(if unicode {
                    utf16(&bytes, max_chars)
                } else {
                    String::from_utf8_lossy(&bytes).chars().take(max_chars).collect()
                })
            }
            // NTEXT / TEXT: u32 max length, collation, then a text pointer-free value
            // in RPC parameters: u32 length.
            0x63 | 0x23 => {
                r.le_u32()?;
                r.skip(5)?;
                let n = r.le_u32()?;
                if n == u32::MAX {
                    Some(String::new())
                } else {
                    let b = r.take(n as usize)?;
                    Some(if ty == 0x63 { utf16(b, max_chars) } else { String::from_utf8_lossy(b).into() })
                }
            }
            _ => return None,
        };
        if i == idx {
            return value;
        }
    }
    None
}

/// A u16-length value (0xFFFF = NULL), bounded by what is there.
fn plp_or_short(r: &mut Reader<'_>) -> Option<Vec<u8>> {
    let n = r.le_u16()?;
    if n == 0xffff {
        return Some(Vec::new());
    }
    let n = usize::from(n).min(r.left());
    Some(r.take(n)?.to_vec())
}

/// Partially length-prefixed value ([MS-TDS] 2.2.5.2.3): u64 total, then chunks of u32
/// length until a zero chunk. Bounded by what is in the buffer.
fn read_plp(r: &mut Reader<'_>) -> Option<Vec<u8>> {
    let total = r.take(8)?;
    if total == [0xff; 8] {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    while let Some(n) = r.le_u32() {
        if n == 0 {
            break;
        }
        let n = (n as usize).min(r.left());
        out.extend_from_slice(r.take(n)?);
        if r.is_empty() {
            break;
        }
    }
    Some(out)
}

/// TDS 5.0 request: the SQL text of a TDS_LANGUAGE token (0x21: u32 length, status
/// byte, text in the client character set).
pub fn parse_tds5_language(p: &[u8], max_chars: usize) -> Option<String> {
    let mut r = Reader::new(p);
    if r.u8()? != 0x21 {
        return None;
    }
    let len = r.le_u32()? as usize;
    r.u8()?; // status
    let n = len.saturating_sub(1).min(r.left());
    let text = r.take(n)?;
    Some(String::from_utf8_lossy(text).chars().take(max_chars).collect())
}

// ---------------------------------------------------------------------------------------
// Server tokens

/// Token types ([MS-TDS] 2.2.7).
mod token {
    pub const RETURNSTATUS: u8 = 0x79;
    pub const COLMETADATA: u8 = 0x81;
    pub const TABNAME: u8 = 0xa4;
    pub const COLINFO: u8 = 0xa5;
    pub const ORDER: u8 = 0xa9;
    pub const ERROR: u8 = 0xaa;
    pub const INFO: u8 = 0xab;
    pub const RETURNVALUE: u8 = 0xac;
    pub const LOGINACK: u8 = 0xad;
    pub const FEATUREEXTACK: u8 = 0xae;
    pub const ROW: u8 = 0xd1;
    pub const NBCROW: u8 = 0xd2;
    /// TDS 5.0 capability and extended error.
    pub const TDS5_CAPABILITY: u8 = 0xe2;
    pub const ENVCHANGE: u8 = 0xe3;
    pub const SESSIONSTATE: u8 = 0xe4;
    pub const TDS5_EED: u8 = 0xe5;
    pub const SSPI: u8 = 0xed;
    pub const FEDAUTHINFO: u8 = 0xee;
    pub const DONE: u8 = 0xfd;
    pub const DONEPROC: u8 = 0xfe;
    pub const DONEINPROC: u8 = 0xff;
}

fn is_known_token(t: u8) -> bool {
    use token::*;
    matches!(
        t,
        RETURNSTATUS
            | COLMETADATA
            | TABNAME
            | COLINFO
            | ORDER
            | ERROR
            | INFO
            | RETURNVALUE
            | LOGINACK
            | FEATUREEXTACK
            | ROW
            | NBCROW
            | TDS5_CAPABILITY
            | ENVCHANGE
            | SESSIONSTATE
            | TDS5_EED
            | SSPI
            | FEDAUTHINFO
            | DONE
            | DONEPROC
            | DONEINPROC
    )
}

/// What the login response shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginResponse {
    /// LOGINACK ProgVersion as `major.minor.build`, and ProgName.
    pub version: Option<String>,
    pub prog_name: Option<String>,
    pub login_ack: bool,
    /// ERROR tokens: number and message (bounded).
    pub errors: Vec<(u32, String)>,
}

/// Walk the tokens of a response up to the first one whose length we cannot know
/// without column metadata. `tds5`: TDS 5.0 layouts (LOGINACK, EED) apply.
pub fn parse_login_response(p: &[u8]) -> LoginResponse {
    let mut out = LoginResponse::default();
    let mut r = Reader::new(p);
    while let Some(t) = r.u8() {
        let body = match t {
            token::DONE | token::DONEPROC | token::DONEINPROC => {
                // Status, CurCmd, DoneRowCount (u32 before TDS 7.2, u64 after): the
                // login response ends here either way.
                break;
            }
            token::RETURNSTATUS => {
                if r.skip(4).is_none() {
                    break;
                }
                continue;
            }
            token::FEDAUTHINFO | token::SESSIONSTATE => {
                let Some(n) = r.le_u32() else { break };
                if r.skip(n as usize).is_none() {
                    break;
                }
                continue;
            }
            token::ERROR
            | token::INFO
            | token::LOGINACK
            | token::ENVCHANGE
            | token::SSPI
            | token::TDS5_CAPABILITY
            | token::TDS5_EED
            | token::ORDER
            | token::COLINFO
            | token::TABNAME => {
                let Some(n) = r.le_u16() else { break };
                let Some(b) = r.take(usize::from(n)) else { break };
                b
            }
            _ => break,
        };
        match t {
            token::LOGINACK => {
                out.login_ack = true;
                let mut b = Reader::new(body);
                let _interface = b.u8();
                let _tds_version = b.be_u32();
                let name_len = b.u8().map(usize::from).unwrap_or(0);
                // ProgName: UTF-16 in TDS 7+, single-byte in TDS 5.0. The remaining
                // length tells which: ProgVersion is the last four bytes.
                let rest = b.rest();
                if rest.len() >= 4 {
                    let (name, ver) = rest.split_at(rest.len() - 4);
                    if name.len() == name_len * 2 {
                        out.prog_name = Some(utf16(name, MAX_NAME));
                    } else if name.len() == name_len {
                        out.prog_name = Some(String::from_utf8_lossy(name).chars().take(MAX_NAME).collect());
                    }
                    let build = u16::from_be_bytes([ver[2], ver[3]]);
                    out.version = Some(format!("{}.{}.{}", ver[0], ver[1], build));
                }
            }
            token::ERROR => {
                let mut b = Reader::new(body);
                let number = b.le_u32().unwrap_or(0);
                b.skip(2); // state, class
                let msg = b.le_u16().and_then(|n| b.take(usize::from(n) * 2)).map(|m| utf16(m, 200));
                if out.errors.len() < 4 {
                    out.errors.push((number, msg.unwrap_or_default()));
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Probing

/// Content probe. At a stream start the client's first packet is PRELOGIN (or LOGIN7 /
/// a TDS 4.2/5.0 login from clients that skip it) and the server's is a PRELOGIN
/// response; mid-stream, requests (SQLBatch, RPC…) and token streams count too.
pub fn probe(dir: Direction, data: &[u8], midstream: bool) -> Probe {
    if data.len() < HEADER_LEN {
        return Probe::NeedMore;
    }
    let Some(h) = parse_header(data) else { return Probe::NeedMore };
    if !plausible_header(&h, dir) {
        return Probe::NoMatch;
    }
    let payload = &data[HEADER_LEN..data.len().min(usize::from(h.length))];
    let complete = data.len() >= usize::from(h.length);
    match (dir, h.ptype) {
        (Direction::ToServer, PacketType::PRELOGIN) | (Direction::ToClient, PacketType::TABULAR_RESULT)
            if complete && parse_prelogin(payload).is_some_and(|p| p.version.is_some()) =>
        {
            // The option table must also say something: a version.
            Probe::Match
        }
        (Direction::ToServer, PacketType::PRELOGIN) if !complete => Probe::NeedMore,
        (Direction::ToServer, PacketType::LOGIN7) => {
            if !complete {
                return if usize::from(h.length) <= 4096 { Probe::NeedMore } else { Probe::NoMatch };
            }
            if parse_login7(payload).is_some_and(|l| l.tds_version >> 24 >= 0x70 || l.tds_version == 0x0000_0070) {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        (Direction::ToServer, PacketType::LEGACY_LOGIN) => {
            if payload.len() < 124 {
                return if complete { Probe::NoMatch } else { Probe::NeedMore };
            }
            // The record is 512 bytes; TDS 4.2/5.0 packets are 512 bytes at most.
            if usize::from(h.length) <= SYBASE_LOGIN_LEN && parse_legacy_login(payload).is_some() {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        _ if !midstream => {
            if complete {
                Probe::NoMatch
            } else {
                Probe::NeedMore
            }
        }
        (Direction::ToServer, PacketType::SQL_BATCH) => probe_text_request(payload, complete),
        (Direction::ToServer, PacketType::RPC) => {
            if payload.len() < 16 && !complete {
                return Probe::NeedMore;
            }
            let body = skip_all_headers(payload);
            let mut r = Reader::new(body);
            match r.le_u16() {
                Some(0xffff) if r.le_u16().and_then(proc_name).is_some() => Probe::Match,
                Some(n) if (1..=128).contains(&n) => {
                    let name = r.take(usize::from(n) * 2).unwrap_or_else(|| r.rest());
                    if name.len() >= 2 && looks_utf16_text(name) {
                        Probe::Match
                    } else {
                        Probe::NoMatch
                    }
                }
                None if !complete => Probe::NeedMore,
                _ => Probe::NoMatch,
            }
        }
        (Direction::ToClient, PacketType::TABULAR_RESULT) => {
            let Some(&t) = payload.first() else {
                return if complete { Probe::NoMatch } else { Probe::NeedMore };
            };
            if !is_known_token(t) {
                return Probe::NoMatch;
            }
            // A complete packet followed by more bytes: the next must be a header too.
            if complete && data.len() > usize::from(h.length) {
                let next = &data[usize::from(h.length)..];
                if next.len() >= HEADER_LEN && !parse_header(next).is_some_and(|n| plausible_header(&n, dir)) {
                    return Probe::NoMatch;
                }
            }
            // A token byte alone is weak: the first token's length must fit too.
            if matches!(t, token::ENVCHANGE | token::INFO | token::ERROR | token::LOGINACK) {
                let n = payload.get(1..3).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
                return match n {
                    Some(n) if n >= 3 && (3 + n <= payload.len() || !complete || !h.eom()) => Probe::Match,
                    None if !complete => Probe::NeedMore,
                    _ => Probe::NoMatch,
                };
            }
            Probe::Match
        }
        (Direction::ToServer, PacketType::TDS5_REQUEST) => match payload.first() {
            Some(0x21) if payload.len() >= 7 && looks_ascii_text(&payload[6..]) => Probe::Match,
            None if !complete => Probe::NeedMore,
            _ => Probe::NoMatch,
        },
        _ => {
            if complete {
                Probe::NoMatch
            } else {
                Probe::NeedMore
            }
        }
    }
}

fn probe_text_request(payload: &[u8], complete: bool) -> Probe {
    let text = skip_all_headers(payload);
    if text.len() < 8 {
        return if complete { Probe::NoMatch } else { Probe::NeedMore };
    }
    if looks_utf16_text(&text[..text.len().min(64)]) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// UTF-16LE text that is mostly ASCII-range: every unit is printable or whitespace and
/// at least half of them are ASCII (SQL keywords are).
fn looks_utf16_text(b: &[u8]) -> bool {
    let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    if units.is_empty() {
        return false;
    }
    let ascii = units.iter().filter(|&&u| (0x20..0x7f).contains(&u) || matches!(u, 9 | 10 | 13)).count();
    let printable = units.iter().all(|&u| u >= 0x20 || matches!(u, 9 | 10 | 13));
    printable && ascii * 2 >= units.len()
}

fn looks_ascii_text(b: &[u8]) -> bool {
    let b = &b[..b.len().min(32)];
    !b.is_empty() && b.iter().all(|&c| c.is_ascii_graphic() || c.is_ascii_whitespace() || c >= 0x80)
}

// ---------------------------------------------------------------------------------------
// Framing

/// What the bytes at the current position of a direction belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Unit {
    /// At a boundary: the next byte says TLS record or TDS packet.
    #[default]
    Boundary,
    /// Collecting a TDS packet header (`hdr_len` bytes so far).
    TdsHeader,
    /// Inside a TDS packet payload; `left` bytes to come.
    TdsPayload { header: PacketHeader, left: usize, tls: bool },
    /// Collecting a TLS record header.
    TlsHeader,
    /// Inside a raw TLS record body; `left` bytes to come.
    TlsBody { left: usize },
}

#[derive(Debug, Default)]
struct DirState {
    unit: Unit,
    hdr: [u8; HEADER_LEN],
    hdr_len: usize,
    /// Payload of the current message (bounded by `cap`) and its type.
    msg: Vec<u8>,
    msg_type: Option<PacketType>,
    /// Framing lost (mid-stream start or gap): wait for a chunk that starts a packet.
    lost: bool,
    /// Raw TLS records seen in this direction.
    raw_tls: bool,
    /// Handed to the TLS tracker for good (full encryption).
    tls: bool,
}

impl DirState {
    fn reset_framing(&mut self) {
        self.unit = Unit::Boundary;
        self.hdr_len = 0;
        self.msg.clear();
        self.msg_type = None;
    }
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Waiting for PRELOGIN (or a login from clients without it).
    #[default]
    Start,
    /// Client PRELOGIN seen; waiting for the server's response.
    PreloginSent,
    /// Encryption negotiated: TLS handshake in PRELOGIN packets.
    TlsHandshake,
    /// Waiting for LOGIN7 and its response (in the clear, or LOGIN7 inside TLS).
    Login,
    /// After login (or mid-stream): requests and responses.
    Session,
}

/// Per-connection TDS state machine.
#[derive(Debug, Default)]
pub struct TdsState {
    phase: Phase,
    dirs: [DirState; 2],
    client_enc: Option<EncryptOption>,
    server_enc: Option<EncryptOption>,
    negotiated: Option<Negotiated>,
    /// LOGIN7 TDSVersion (decides nothing we need yet, kept for notes).
    tds_version: Option<u32>,
    /// Sybase TDS 4.2/5.0 login seen.
    legacy: bool,
    login_response_seen: bool,
    stopped: bool,
}

impl TdsState {
    pub fn new(midstream: bool) -> Self {
        let mut s = TdsState::default();
        if midstream {
            s.phase = Phase::Session;
            for d in &mut s.dirs {
                d.lost = true;
            }
        }
        s
    }

    fn cap(&self, cx: &ConnCx<'_>, dir: Direction) -> usize {
        let cap = cx.cfg.max_message.max(64);
        match (self.phase, dir) {
            (Phase::Session, Direction::ToServer) => cap,
            // After login, responses are only counted: keep the first bytes for the
            // occasional error message.
            (Phase::Session, Direction::ToClient) if self.login_response_seen => 512,
            (Phase::Session, Direction::ToClient) => 4096,
            _ => cap.max(LOGIN_CAP),
        }
    }

    pub fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut ConnCx<'_>) -> Feed {
        let i = dir.index();
        if self.dirs[i].tls {
            return Feed::StartTls { offset: 0 };
        }
        if self.stopped {
            return Feed::Stop;
        }
        cx.obs.engine = EngineKind::Tds;
        if self.dirs[i].lost {
            if !self.resync(dir, data) {
                return Feed::Continue;
            }
            self.dirs[i].lost = false;
            self.dirs[i].reset_framing();
        }
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            let unit = self.dirs[i].unit;
            match unit {
                Unit::Boundary => {
                    if is_tls_record_start(rest) || (rest.len() < 3 && (0x14..=0x17).contains(&rest[0])) {
                        // Raw TLS on the socket: after the wrapped handshake (or a
                        // client's last TLS 1.3 flight), LOGIN7 in login-only mode, or
                        // everything with full encryption.
                        self.dirs[i].raw_tls = true;
                        if self.phase == Phase::TlsHandshake || self.phase == Phase::PreloginSent {
                            self.phase = Phase::Login;
                        }
                        if self.negotiated == Some(Negotiated::Full) && self.full_tls_ready(cx) {
                            self.dirs[i].tls = true;
                            cx.obs.tls_upgrade.get_or_insert(TlsUpgrade::TdsPrelogin);
                            return Feed::StartTls { offset: pos };
                        }
                        self.dirs[i].unit = Unit::TlsHeader;
                        self.dirs[i].hdr_len = 0;
                    } else {
                        self.dirs[i].unit = Unit::TdsHeader;
                        self.dirs[i].hdr_len = 0;
                    }
                }
                Unit::TdsHeader | Unit::TlsHeader => {
                    let want = if unit == Unit::TdsHeader { HEADER_LEN } else { TLS_HEADER_LEN };
                    let d = &mut self.dirs[i];
                    let n = (want - d.hdr_len).min(rest.len());
                    d.hdr[d.hdr_len..d.hdr_len + n].copy_from_slice(&rest[..n]);
                    d.hdr_len += n;
                    pos += n;
                    if d.hdr_len < want {
                        break;
                    }
                    d.hdr_len = 0;
                    if unit == Unit::TlsHeader {
                        let len = usize::from(u16::from_be_bytes([d.hdr[3], d.hdr[4]]));
                        let hdr = d.hdr;
                        d.unit = if len == 0 { Unit::Boundary } else { Unit::TlsBody { left: len } };
                        cx.tls().feed(dir, &hdr[..TLS_HEADER_LEN]);
                        cx.obs.tls_upgrade.get_or_insert(TlsUpgrade::TdsPrelogin);
                        continue;
                    }
                    let Some(h) = parse_header(&d.hdr) else { break };
                    if !plausible_header(&h, dir) {
                        Observed::note(
                            &mut cx.obs.anomalies,
                            format!("tds: implausible packet header {:02x?}; direction not parsed further", d.hdr),
                        );
                        self.dirs[i].lost = true;
                        return Feed::Continue;
                    }
                    let tls = self.wrapped_tls(dir, &h, data.get(pos).copied());
                    let left = h.payload_len();
                    self.dirs[i].unit = Unit::TdsPayload { header: h, left, tls };
                    if !tls {
                        if let Some(prev) = self.dirs[i].msg_type.filter(|&t| t != h.ptype) {
                            // A new message type before the previous one's EOM. Sybase
                            // sends its 512-byte login record without EOM and the
                            // capabilities in a 0x0F packet: take what was there.
                            self.finish_message(dir, prev, cx);
                        }
                        self.dirs[i].msg_type = Some(h.ptype);
                    }
                    if left == 0 {
                        self.end_packet(dir, h, tls, cx);
                    }
                }
                Unit::TlsBody { left } => {
                    let n = left.min(rest.len());
                    cx.tls().feed(dir, &rest[..n]);
                    pos += n;
                    let left = left - n;
                    self.dirs[i].unit = if left == 0 { Unit::Boundary } else { Unit::TlsBody { left } };
                }
                Unit::TdsPayload { header, left, tls } => {
                    let n = left.min(rest.len());
                    let piece = &rest[..n];
                    pos += n;
                    if tls {
                        cx.tls().feed(dir, piece);
                    } else {
                        let cap = self.cap(cx, dir);
                        let d = &mut self.dirs[i];
                        let room = cap.saturating_sub(d.msg.len()).min(n);
                        d.msg.extend_from_slice(&piece[..room]);
                    }
                    let left = left - n;
                    self.dirs[i].unit = Unit::TdsPayload { header, left, tls };
                    if left == 0 {
                        self.end_packet(dir, header, tls, cx);
                        if self.stopped {
                            return Feed::Stop;
                        }
                    }
                }
            }
        }
        Feed::Continue
    }

    /// Full encryption: hand a direction to the tracker once the handshake in PRELOGIN
    /// packets is over, i.e. once the server finished its side.
    fn full_tls_ready(&self, cx: &mut ConnCx<'_>) -> bool {
        cx.tls.as_ref().is_some_and(|t| t.summary().server_hello_seen)
    }

    /// Is this packet's payload TLS handshake bytes wrapped in TDS?
    fn wrapped_tls(&mut self, dir: Direction, h: &PacketHeader, first: Option<u8>) -> bool {
        let tls_byte = first.is_some_and(|b| (0x14..=0x17).contains(&b));
        let expected = matches!(self.phase, Phase::TlsHandshake);
        let wraps = h.ptype == PacketType::PRELOGIN || (dir == Direction::ToClient && expected);
        // The client's first PRELOGIN starts with option token 0x00; a TLS record
        // starts with 0x16. When the first payload byte is not in this chunk, go by
        // the phase.
        wraps && (tls_byte || (first.is_none() && expected))
    }

    pub fn gap(&mut self, dir: Direction, len: u64, cx: &mut ConnCx<'_>) {
        let i = dir.index();
        let d = &mut self.dirs[i];
        if d.tls || len == 0 {
            return;
        }
        // Inside a payload or TLS body the framing survives a gap that ends in it.
        match d.unit {
            Unit::TdsPayload { header, left, tls } if (left as u64) > len => {
                d.unit = Unit::TdsPayload { header, left: left - len as usize, tls };
                if tls {
                    cx.tls().gap(dir, len);
                }
                return;
            }
            Unit::TlsBody { left } if (left as u64) > len => {
                d.unit = Unit::TlsBody { left: left - len as usize };
                cx.tls().gap(dir, len);
                return;
            }
            _ => {}
        }
        d.reset_framing();
        d.lost = true;
        if d.raw_tls || matches!(d.unit, Unit::TlsBody { .. }) {
            cx.tls().gap(dir, len);
        }
        Observed::note(&mut cx.obs.anomalies, format!("tds: {len} bytes lost, resynchronising"));
    }

    /// After a gap or a mid-stream start: does this chunk start with a packet (or a TLS
    /// record)?
    fn resync(&mut self, dir: Direction, data: &[u8]) -> bool {
        if is_tls_record_start(data) && tls_plausible(data) {
            return true;
        }
        probe(dir, data, true) == Probe::Match
            || parse_header(data).is_some_and(|h| {
                // A continuation packet of a message whose start was lost.
                plausible_header(&h, dir)
                    && (data.len() < usize::from(h.length)
                        || data.len() == usize::from(h.length)
                        || data
                            .get(usize::from(h.length)..)
                            .and_then(parse_header)
                            .is_some_and(|n| plausible_header(&n, dir)))
                    && h.packet_id != 1
                    && h.ptype != PacketType::PRELOGIN
            })
    }

    /// One packet's payload is complete.
    fn end_packet(&mut self, dir: Direction, h: PacketHeader, tls: bool, cx: &mut ConnCx<'_>) {
        let i = dir.index();
        self.dirs[i].unit = Unit::Boundary;
        if tls {
            cx.obs.tls_upgrade.get_or_insert(TlsUpgrade::TdsPrelogin);
            if matches!(self.phase, Phase::PreloginSent | Phase::Start) {
                self.phase = Phase::TlsHandshake;
            }
            return;
        }
        if h.eom() {
            self.finish_message(dir, h.ptype, cx);
        }
    }

    /// Hand the buffered message to [`on_message`](Self::on_message) and reset.
    fn finish_message(&mut self, dir: Direction, ty: PacketType, cx: &mut ConnCx<'_>) {
        let i = dir.index();
        let mut msg = std::mem::take(&mut self.dirs[i].msg);
        self.dirs[i].msg_type = None;
        self.on_message(dir, ty, &msg, cx);
        // Keep the buffer's memory for the next message unless it grew large.
        msg.clear();
        if msg.capacity() <= 4096 {
            self.dirs[i].msg = msg;
        }
    }

    fn on_message(&mut self, dir: Direction, ty: PacketType, p: &[u8], cx: &mut ConnCx<'_>) {
        let max_chars = cx.cfg.max_query_len.saturating_mul(4).max(64);
        match (dir, ty) {
            (Direction::ToServer, PacketType::PRELOGIN) => {
                let Some(pl) = parse_prelogin(p) else {
                    Observed::note(&mut cx.obs.anomalies, "tds: malformed PRELOGIN");
                    return;
                };
                cx.obs.plaintext_messages += 1;
                self.client_enc = pl.encryption;
                // OFF means "available, but off": only ON and REQ ask for TLS.
                if pl.encryption.is_some_and(|e| matches!(e.base(), EncryptOption::ON | EncryptOption::REQ)) {
                    cx.obs.tls_requested = true;
                }
                if self.phase == Phase::Start {
                    self.phase = Phase::PreloginSent;
                }
            }
            (Direction::ToClient, PacketType::TABULAR_RESULT) if self.phase == Phase::PreloginSent => {
                let Some(pl) = parse_prelogin(p) else {
                    // Not a PRELOGIN response: an old server answering with tokens.
                    self.phase = Phase::Login;
                    self.on_message(dir, ty, p, cx);
                    return;
                };
                cx.obs.plaintext_messages += 1;
                self.server_enc = pl.encryption;
                if let Some(v) = pl.version_string() {
                    cx.obs.server_version.get_or_insert(v);
                }
                // A server answers NOT_SUP to a client that said NOT_SUP whatever it could
                // do: only an answer to a client that offered TLS says what it offers.
                let client_offered = self.client_enc.is_some_and(|c| c.base() != EncryptOption::NOT_SUP);
                if let (Some(e), true) = (pl.encryption, client_offered) {
                    cx.obs.tls_offered_by_server = Some(e.base() != EncryptOption::NOT_SUP);
                }
                let neg = negotiate(
                    self.client_enc.unwrap_or(EncryptOption::NOT_SUP),
                    pl.encryption.unwrap_or(EncryptOption::NOT_SUP),
                );
                self.negotiated = Some(neg);
                let c = self.client_enc.map(EncryptOption::name).unwrap_or_else(|| "none".into());
                let s = pl.encryption.map(EncryptOption::name).unwrap_or_else(|| "none".into());
                Observed::note(&mut cx.obs.anomalies, format!("tds: PRELOGIN encryption client {c}, server {s}"));
                match neg {
                    Negotiated::None => {
                        cx.obs.tls_refused = cx.obs.tls_requested;
                        self.phase = Phase::Login;
                    }
                    Negotiated::Refused => {
                        cx.obs.tls_refused = true;
                        self.phase = Phase::Login;
                    }
                    Negotiated::LoginOnly => {
                        cx.obs.tls_login_only = true;
                        self.phase = Phase::TlsHandshake;
                    }
                    Negotiated::Full => self.phase = Phase::TlsHandshake,
                }
            }
            (Direction::ToServer, PacketType::LOGIN7) => {
                cx.obs.plaintext_messages += 1;
                let Some(l) = parse_login7(p) else {
                    Observed::note(&mut cx.obs.anomalies, "tds: malformed LOGIN7");
                    return;
                };
                self.tds_version = Some(l.tds_version);
                self.phase = Phase::Login;
                cx.obs.user = l.user.clone().or(cx.obs.user.take());
                cx.obs.database = l.database.clone().or(cx.obs.database.take());
                cx.obs.application_name = l.app.clone().or(cx.obs.application_name.take());
                cx.obs.client_host = l.host.clone();
                if l.integrated {
                    cx.obs.auth_method = Some(AuthMethod::Sspi);
                } else {
                    cx.obs.auth_method = Some(AuthMethod::Other("sql-password".into()));
                }
                if l.has_password {
                    // LOGIN7 passwords are only nibble-swapped and XORed with 0xA5.
                    cx.obs.cleartext_password_seen = true;
                    cx.obs.password_obfuscated = true;
                }
            }
            (Direction::ToServer, PacketType::LEGACY_LOGIN) => {
                cx.obs.plaintext_messages += 1;
                self.legacy = true;
                cx.obs.tds_legacy_login = true;
                self.phase = Phase::Login;
                Observed::note(
                    &mut cx.obs.anomalies,
                    "tds: TDS 4.2/5.0 login (Sybase ASE or an old client), not Microsoft TDS 7+",
                );
                if let Some(l) = parse_legacy_login(p) {
                    cx.obs.user = l.user;
                    cx.obs.client_host = l.host;
                    cx.obs.auth_method = Some(AuthMethod::Cleartext);
                    // The TDS 4.2/5.0 login record carries the password as is.
                    cx.obs.cleartext_password_seen |= l.has_password;
                }
            }
            (Direction::ToClient, PacketType::TABULAR_RESULT) => {
                cx.obs.plaintext_messages += 1;
                if self.login_response_seen && self.phase == Phase::Session {
                    return;
                }
                let r = parse_login_response(p);
                if let Some(v) = r.version {
                    // LOGINACK names the version of the server that answered.
                    cx.obs.server_version = Some(v);
                }
                for (n, m) in &r.errors {
                    Observed::note(&mut cx.obs.errors, format!("{n} {m}"));
                }
                if r.login_ack {
                    self.login_response_seen = true;
                    cx.obs.auth_ok = Some(true);
                    self.phase = Phase::Session;
                } else if self.phase == Phase::Login && !r.errors.is_empty() {
                    self.login_response_seen = true;
                    cx.obs.auth_ok = Some(false);
                }
            }
            (Direction::ToServer, PacketType::SQL_BATCH) => {
                cx.obs.plaintext_messages += 1;
                self.after_login();
                if let Some(q) = parse_sql_batch(p, max_chars) {
                    cx.obs.add_query(cx.cfg, sql::Dialect::Postgres, &q);
                }
            }
            (Direction::ToServer, PacketType::RPC) => {
                cx.obs.plaintext_messages += 1;
                self.after_login();
                if let Some(call) = parse_rpc(p, max_chars) {
                    // The statement an sp_executesql carries is the SQL on the wire;
                    // otherwise the procedure name is the evidence.
                    let text = match call.statement {
                        Some(s) if !s.trim().is_empty() => s,
                        _ => format!("EXEC {}", call.name),
                    };
                    cx.obs.add_query(cx.cfg, sql::Dialect::Postgres, &text);
                }
            }
            (Direction::ToServer, PacketType::TDS5_REQUEST) => {
                cx.obs.plaintext_messages += 1;
                if let Some(q) = parse_tds5_language(p, max_chars) {
                    self.after_login();
                    cx.obs.add_query(cx.cfg, sql::Dialect::Postgres, &q);
                }
            }
            _ => {
                cx.obs.plaintext_messages += 1;
            }
        }
    }

    fn after_login(&mut self) {
        if self.phase != Phase::Session {
            self.phase = Phase::Session;
        }
    }
}

/// A raw TLS record header with a sane length.
fn tls_plausible(b: &[u8]) -> bool {
    b.len() >= TLS_HEADER_LEN && usize::from(u16::from_be_bytes([b[3], b[4]])) <= crate::tls::MAX_RECORD_LEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use proptest::prelude::*;

    const C: Direction = Direction::ToServer;
    const S: Direction = Direction::ToClient;
    type Chunks = Vec<(Direction, Vec<u8>)>;

    fn raw_cfg() -> EngineConfig {
        EngineConfig { show_literals: true, ..EngineConfig::default() }
    }

    /// One TDS packet: header computed from the payload.
    fn pkt(ty: u8, status: u8, payload: &[u8]) -> Vec<u8> {
        let n = (payload.len() + HEADER_LEN) as u16;
        let mut v = vec![ty, status, (n >> 8) as u8, n as u8, 0x00, 0x00, 0x01, 0x00];
        v.extend_from_slice(payload);
        v
    }

    fn u16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// [MS-TDS] 4.1 "Pre-Login Request", byte for byte.
    const SPEC_PRELOGIN: &[u8] = &[
        /* type */ 0x12, /* status EOM */ 0x01, /* length */ 0x00, 0x2f, /* SPID */ 0x00, 0x00,
        /* packet id */ 0x01, /* window */ 0x00, /* VERSION at 0x1a, 6 bytes */ 0x00, 0x00, 0x1a, 0x00,
        0x06, /* ENCRYPTION at 0x20, 1 byte */ 0x01, 0x00, 0x20, 0x00, 0x01,
        /* INSTOPT at 0x21, 1 byte */ 0x02, 0x00, 0x21, 0x00, 0x01, /* THREADID at 0x22, 4 bytes */ 0x03,
        0x00, 0x22, 0x00, 0x04, /* MARS at 0x26, 1 byte */ 0x04, 0x00, 0x26, 0x00, 0x01,
        /* terminator */ 0xff, /* version 9.0.0, sub-build 0 */ 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
        /* encryption ON */ 0x01, /* instance "" */ 0x00, /* thread id */ 0xb8, 0x0d, 0x00, 0x00,
        /* MARS on */ 0x01,
    ];

    /// A PRELOGIN payload with VERSION and ENCRYPTION only.
    fn prelogin(version: [u8; 6], enc: u8) -> Vec<u8> {
        let mut v = vec![
            /* VERSION at 11, 6 bytes */ 0x00, 0x00, 0x0b, 0x00, 0x06, /* ENCRYPTION at 17, 1 byte */ 0x01,
            0x00, 0x11, 0x00, 0x01, /* terminator */ 0xff,
        ];
        v.extend_from_slice(&version);
        v.push(enc);
        v
    }

    /// A LOGIN7 record (TDS 7.4) with the given strings; the password is obfuscated as
    /// [MS-TDS] 2.2.6.4 says.
    fn login7(host: &str, user: &str, password: &str, app: &str, database: &str) -> Vec<u8> {
        let fields = [host, user, password, app, "srv", "", "lib", "", database];
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&0u32.to_le_bytes()); // length, patched below
        fixed.extend_from_slice(&0x7400_0004u32.to_le_bytes()); // TDS 7.4
        fixed.extend_from_slice(&4096u32.to_le_bytes()); // packet size
        fixed.extend_from_slice(&[0; 4 + 4 + 4]); // client version, PID, connection id
        fixed.extend_from_slice(&[0xe0, 0x03, 0x00, 0x00]); // option flags 1, 2 (no fIntSecurity), type, 3
        fixed.extend_from_slice(&[0; 8]); // time zone, LCID
        let offsets_len = 9 * 4 + 6 + 4 * 4;
        let mut data = Vec::new();
        let mut table = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let off = (36 + offsets_len + data.len()) as u16;
            let mut b = u16le(f);
            if i == 2 {
                b = b.iter().map(|&x| x.rotate_left(4) ^ 0xa5).collect();
            }
            table.extend_from_slice(&off.to_le_bytes());
            table.extend_from_slice(&(f.encode_utf16().count() as u16).to_le_bytes());
            data.extend_from_slice(&b);
        }
        table.extend_from_slice(&[0; 6]); // client id
        table.extend_from_slice(&[0; 16]); // SSPI, attach db file, change password, SSPI long
        let mut v = fixed;
        v.extend_from_slice(&table);
        v.extend_from_slice(&data);
        let n = v.len() as u32;
        v[..4].copy_from_slice(&n.to_le_bytes());
        v
    }

    /// LOGINACK for "Microsoft SQL Server" 16.0.1000, then DONE (TDS 7.2+).
    fn login_ack() -> Vec<u8> {
        let name = u16le("Microsoft SQL Server");
        let mut body =
            vec![/* interface */ 0x01, /* TDS 7.4 */ 0x74, 0x00, 0x00, 0x04, /* name chars */ 20];
        body.extend_from_slice(&name);
        body.extend_from_slice(&[/* 16.0 */ 16, 0, /* build 1000 */ 0x03, 0xe8]);
        let mut v = vec![0xad];
        v.extend_from_slice(&(body.len() as u16).to_le_bytes());
        v.extend_from_slice(&body);
        v.extend_from_slice(&[/* DONE */ 0xfd, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    /// ALL_HEADERS with the transaction descriptor header (22 bytes).
    fn all_headers() -> Vec<u8> {
        let mut v = vec![/* total */ 0x16, 0x00, 0x00, 0x00, /* header length */ 0x12, 0x00, 0x00, 0x00];
        v.extend_from_slice(&[/* type: transaction descriptor */ 0x02, 0x00]);
        v.extend_from_slice(&[0; 8]); // descriptor
        v.extend_from_slice(&[/* outstanding requests */ 0x01, 0x00, 0x00, 0x00]);
        v
    }

    fn batch(sql: &str) -> Vec<u8> {
        let mut p = all_headers();
        p.extend_from_slice(&u16le(sql));
        pkt(0x01, 0x01, &p)
    }

    struct Run {
        obs: Observed,
        feeds: Vec<(Direction, Feed)>,
        tls: Option<Box<crate::tls::TlsTracker>>,
    }

    /// Feed chunks like the dissector: after StartTls a direction's bytes go to the
    /// tracker, after Stop nothing is fed.
    fn run_with(midstream: bool, chunks: &[(Direction, Vec<u8>)]) -> Run {
        let cfg = raw_cfg();
        let mut obs = Observed::default();
        let mut tls = None;
        let mut st = TdsState::new(midstream);
        let mut feeds = Vec::new();
        let mut in_tls = [false; 2];
        for (d, c) in chunks {
            if in_tls[d.index()] {
                tls.get_or_insert_with(|| Box::new(crate::tls::TlsTracker::new())).feed(*d, c);
                continue;
            }
            let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
            let f = st.feed(*d, c, &mut cx);
            feeds.push((*d, f));
            match f {
                Feed::StartTls { offset } => {
                    in_tls[d.index()] = true;
                    tls.get_or_insert_with(|| Box::new(crate::tls::TlsTracker::new())).feed(*d, &c[offset..]);
                }
                Feed::Stop => break,
                Feed::Continue => {}
            }
            for ds in &st.dirs {
                assert!(ds.msg.capacity() <= cfg.max_message.max(LOGIN_CAP), "message buffer unbounded");
            }
        }
        Run { obs, feeds, tls }
    }

    fn run(chunks: &[(Direction, Vec<u8>)]) -> Observed {
        run_with(false, chunks).obs
    }

    fn bytewise(chunks: &[(Direction, Vec<u8>)]) -> Chunks {
        chunks.iter().flat_map(|(d, c)| c.iter().map(move |b| (*d, vec![*b]))).collect()
    }

    fn plain_login(client_enc: u8, server_enc: u8) -> Chunks {
        vec![
            (C, pkt(0x12, 0x01, &prelogin([0x0b, 0x00, 0x00, 0x00, 0x00, 0x00], client_enc))),
            (S, pkt(0x04, 0x01, &prelogin([16, 0, 0x03, 0xe8, 0, 0], server_enc))),
            (C, pkt(0x10, 0x01, &login7("ws01", "legacy", "s3cret-pw", "tsql", "shop"))),
            (S, pkt(0x04, 0x01, &login_ack())),
            (C, batch("SELECT * FROM accounts WHERE card = '4111'")),
            (S, pkt(0x04, 0x01, &[0xfd, 0x10, 0x00, 0xc1, 0x00, 1, 0, 0, 0, 0, 0, 0, 0])),
        ]
    }

    #[test]
    fn spec_prelogin_example() {
        let h = parse_header(SPEC_PRELOGIN).unwrap();
        assert_eq!(h.ptype, PacketType::PRELOGIN);
        assert!(h.eom());
        assert_eq!(h.length, 0x2f);
        assert_eq!(h.payload_len(), SPEC_PRELOGIN.len() - HEADER_LEN);
        let p = parse_prelogin(&SPEC_PRELOGIN[HEADER_LEN..]).unwrap();
        assert_eq!(p.version, Some((9, 0, 0, 0)));
        assert_eq!(p.version_string().as_deref(), Some("9.0.0"));
        assert_eq!(p.encryption, Some(EncryptOption::ON));
        assert_eq!(p.instance.as_deref(), Some(""));
        assert_eq!(p.thread_id, Some(0xb80d_0000));
        assert_eq!(p.mars, Some(1));
        assert_eq!(probe(C, SPEC_PRELOGIN, false), Probe::Match);
    }

    #[test]
    fn prelogin_truncated_wrong_length_and_hostile() {
        let body = &SPEC_PRELOGIN[HEADER_LEN..];
        // Every truncation of the packet: the probe waits, never matches a half.
        for n in 0..SPEC_PRELOGIN.len() {
            assert_eq!(probe(C, &SPEC_PRELOGIN[..n], false), Probe::NeedMore, "cut at {n}");
            let _ = parse_prelogin(&body[..n.min(body.len())]);
        }
        // Option data beyond the payload.
        let mut bad = body.to_vec();
        bad[1] = 0x01; // VERSION offset 0x011a
        assert_eq!(parse_prelogin(&bad), None);
        // Option data inside the option table.
        let mut bad = body.to_vec();
        bad[2] = 0x02;
        assert_eq!(parse_prelogin(&bad), None);
        // No terminator.
        assert_eq!(parse_prelogin(&[0x00, 0x00, 0x05, 0x00, 0x00]), None);
        // Huge offset and length in an option.
        assert_eq!(parse_prelogin(&[0x01, 0xff, 0xff, 0xff, 0xff, 0xff]), None);
        // Wrong packet length: 0x0004 is shorter than the header itself.
        let mut short = SPEC_PRELOGIN.to_vec();
        short[3] = 0x04;
        assert_eq!(probe(C, &short, false), Probe::NoMatch);
        // Non-zero window byte.
        let mut w = SPEC_PRELOGIN.to_vec();
        w[7] = 0x01;
        assert_eq!(probe(C, &w, false), Probe::NoMatch);
    }

    #[test]
    fn negotiation_table() {
        use EncryptOption as E;
        assert_eq!(negotiate(E::OFF, E::OFF), Negotiated::LoginOnly);
        assert_eq!(negotiate(E::OFF, E::ON), Negotiated::Full);
        assert_eq!(negotiate(E::OFF, E::REQ), Negotiated::Full);
        assert_eq!(negotiate(E::ON, E::ON), Negotiated::Full);
        assert_eq!(negotiate(E::OFF, E::NOT_SUP), Negotiated::None);
        assert_eq!(negotiate(E::NOT_SUP, E::NOT_SUP), Negotiated::None);
        assert_eq!(negotiate(E::NOT_SUP, E::OFF), Negotiated::None);
        assert_eq!(negotiate(E::ON, E::NOT_SUP), Negotiated::Refused);
        assert_eq!(negotiate(E::NOT_SUP, E::REQ), Negotiated::Refused);
        // The client-certificate bit does not change the mode.
        assert_eq!(negotiate(E(0x81), E::ON), Negotiated::Full);
        assert_eq!(E(0x81).name(), "ENCRYPT_ON|ENCRYPT_CLIENT_CERT");
    }

    #[test]
    fn login7_fields_and_hostile_offsets() {
        let l = login7("ws01", "legacy", "s3cret-pw", "tsql", "shop");
        let p = parse_login7(&l).unwrap();
        assert_eq!(p.tds_version, 0x7400_0004);
        assert_eq!(p.user.as_deref(), Some("legacy"));
        assert_eq!(p.host.as_deref(), Some("ws01"));
        assert_eq!(p.app.as_deref(), Some("tsql"));
        assert_eq!(p.database.as_deref(), Some("shop"));
        assert!(p.has_password && !p.integrated);
        // User name offset pointing past the record.
        let mut bad = l.clone();
        bad[36 + 4] = 0xff;
        bad[36 + 5] = 0xff;
        assert_eq!(parse_login7(&bad), None);
        // Huge character count.
        let mut bad = l.clone();
        bad[36 + 6] = 0xff;
        bad[36 + 7] = 0x7f;
        assert_eq!(parse_login7(&bad), None);
        for n in 0..l.len() {
            let _ = parse_login7(&l[..n]);
        }
    }

    #[test]
    fn cleartext_login_never_stores_the_password() {
        let obs = run(&plain_login(0x02, 0x02));
        assert_eq!(obs.engine, EngineKind::Tds);
        assert_eq!(obs.user.as_deref(), Some("legacy"));
        assert_eq!(obs.database.as_deref(), Some("shop"));
        assert_eq!(obs.application_name.as_deref(), Some("tsql"));
        assert_eq!(obs.client_host.as_deref(), Some("ws01"));
        assert!(obs.cleartext_password_seen && obs.password_obfuscated);
        assert_eq!(obs.auth_ok, Some(true));
        assert_eq!(obs.server_version.as_deref(), Some("16.0.1000"));
        assert_eq!(obs.queries, ["SELECT * FROM accounts WHERE card = '4111'"]);
        assert!(obs.tls_upgrade.is_none() && !obs.tls_login_only);
        // The client said NOT_SUP: the server's NOT_SUP says nothing about what it offers.
        assert_eq!(obs.tls_offered_by_server, None);
        let dump = format!("{obs:?}");
        assert!(!dump.contains("s3cret"), "password kept: {dump}");
    }

    #[test]
    fn server_not_sup_refuses_a_client_that_offered() {
        let obs = run(&plain_login(0x00, 0x02));
        assert_eq!(obs.tls_offered_by_server, Some(false));
        assert!(!obs.tls_requested, "OFF offers TLS but does not ask for it");
    }

    #[test]
    fn split_bytewise_gives_same_facts() {
        for chunks in [plain_login(0x02, 0x02), plain_login(0x00, 0x02)] {
            let whole = run(&chunks);
            let split = run(&bytewise(&chunks));
            assert_eq!(format!("{whole:?}"), format!("{split:?}"));
        }
    }

    #[test]
    fn message_spanning_packets() {
        let sql = "UPDATE accounts SET balance = balance + 10 WHERE id = 7";
        let mut p = all_headers();
        p.extend_from_slice(&u16le(sql));
        let (a, b) = p.split_at(40);
        let mut chunks = plain_login(0x02, 0x02);
        chunks.truncate(4);
        chunks.push((C, [pkt(0x01, 0x00, a), pkt(0x01, 0x01, b)].concat()));
        let obs = run(&chunks);
        assert_eq!(obs.queries, [sql]);
    }

    #[test]
    fn rpc_by_name_and_by_procid() {
        // RPC "p_GetBogusData" with no parameters.
        let mut p = all_headers();
        p.extend_from_slice(&[/* name length */ 14, 0x00]);
        p.extend_from_slice(&u16le("p_GetBogusData"));
        p.extend_from_slice(&[/* option flags */ 0x00, 0x00]);
        let call = parse_rpc(&p, 100).unwrap();
        assert_eq!(call.name, "p_GetBogusData");
        assert_eq!(call.statement, None);
        // sp_executesql by ProcID 10 with an NVARCHAR(4000) statement.
        let stmt = u16le("SELECT name FROM sys.databases");
        let mut p = all_headers();
        p.extend_from_slice(&[/* 0xFFFF: ProcID follows */ 0xff, 0xff, /* sp_executesql */ 0x0a, 0x00]);
        p.extend_from_slice(&[/* option flags */ 0x00, 0x00, /* unnamed */ 0x00, /* status */ 0x00]);
        p.extend_from_slice(&[/* NVARCHAR */ 0xe7, /* max 8000 */ 0x40, 0x1f]);
        p.extend_from_slice(&[/* collation */ 0x09, 0x04, 0xd0, 0x00, 0x34]);
        p.extend_from_slice(&(stmt.len() as u16).to_le_bytes());
        p.extend_from_slice(&stmt);
        let call = parse_rpc(&p, 100).unwrap();
        assert_eq!(call.name, "sp_executesql");
        assert_eq!(call.statement.as_deref(), Some("SELECT name FROM sys.databases"));
        // The same with NVARCHAR(MAX): a PLP value of one chunk.
        let mut q = p[..p.len() - stmt.len() - 2 - 7].to_vec();
        q.extend_from_slice(&[0xff, 0xff, 0x09, 0x04, 0xd0, 0x00, 0x34]);
        q.extend_from_slice(&(stmt.len() as u64).to_le_bytes());
        q.extend_from_slice(&(stmt.len() as u32).to_le_bytes());
        q.extend_from_slice(&stmt);
        q.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(parse_rpc(&q, 100).unwrap().statement.as_deref(), Some("SELECT name FROM sys.databases"));
        // Truncated anywhere: no panic.
        for n in 0..q.len() {
            let _ = parse_rpc(&q[..n], 100);
        }
        // Through the engine, mid-stream.
        let obs = run_with(true, &[(C, pkt(0x03, 0x01, &p))]).obs;
        assert_eq!(obs.queries, ["SELECT name FROM sys.databases"]);
    }

    #[test]
    fn batch_without_all_headers_tds71() {
        let p = u16le("select 1");
        assert_eq!(parse_sql_batch(&p, 100).as_deref(), Some("select 1"));
        assert_eq!(skip_all_headers(&p), &p[..]);
    }

    #[test]
    fn login_response_loginack_and_error() {
        let r = parse_login_response(&login_ack());
        assert!(r.login_ack);
        assert_eq!(r.version.as_deref(), Some("16.0.1000"));
        assert_eq!(r.prog_name.as_deref(), Some("Microsoft SQL Server"));
        // ERROR 18456 "Login failed" then DONE with the error bit.
        let msg = u16le("Login failed");
        let mut body = vec![];
        body.extend_from_slice(&18456u32.to_le_bytes());
        body.extend_from_slice(&[/* state */ 1, /* class */ 14]);
        body.extend_from_slice(&(12u16).to_le_bytes());
        body.extend_from_slice(&msg);
        body.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0]); // server, proc name, line number
        let mut err = vec![0xaa];
        err.extend_from_slice(&(body.len() as u16).to_le_bytes());
        err.extend_from_slice(&body);
        let r = parse_login_response(&err);
        assert!(!r.login_ack);
        assert_eq!(r.errors, [(18456, "Login failed".to_string())]);
        let mut chunks = plain_login(0x02, 0x02);
        chunks[3] = (S, pkt(0x04, 0x01, &err));
        chunks.truncate(4);
        assert_eq!(run(&chunks).auth_ok, Some(false));
        // A token length beyond the message: stops, no panic.
        assert!(!parse_login_response(&[0xad, 0xff, 0xff, 0x01]).login_ack);
    }

    /// Split a recorded TLS byte stream into whole records.
    fn records(stream: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 5 <= stream.len() {
            let n = 5 + usize::from(u16::from_be_bytes([stream[pos + 3], stream[pos + 4]]));
            out.push(&stream[pos..(pos + n).min(stream.len())]);
            pos += n;
        }
        out
    }

    /// The TLS 1.2 handshake recorded from OpenSSL peers, carried as TDS 7.x carries
    /// it: handshake and ChangeCipherSpec records wrapped in PRELOGIN packets, then
    /// application data as raw records.
    fn tds_tls12(client_enc: u8, server_enc: u8) -> Chunks {
        let c2s = include_bytes!("../../tests/fixtures/tls/tls12_rsa.c2s");
        let s2c = include_bytes!("../../tests/fixtures/tls/tls12_rsa.s2c");
        let (c, s) = (records(c2s), records(s2c));
        let hs = |r: &&[u8]| r[0] == 22 || r[0] == 20;
        let wrap = |rs: &[&[u8]]| pkt(0x12, 0x01, &rs.concat());
        let c_hs: Vec<&[u8]> = c.iter().copied().take_while(hs).collect();
        let s_hs: Vec<&[u8]> = s.iter().copied().take_while(hs).collect();
        let c_app: Vec<u8> = c.iter().copied().skip(c_hs.len()).collect::<Vec<_>>().concat();
        let s_app: Vec<u8> = s.iter().copied().skip(s_hs.len()).collect::<Vec<_>>().concat();
        vec![
            (C, pkt(0x12, 0x01, &prelogin([0x0b, 0, 0, 0, 0, 0], client_enc))),
            (S, pkt(0x04, 0x01, &prelogin([16, 0, 0x03, 0xe8, 0, 0], server_enc))),
            (C, wrap(&c_hs[..1])),
            (S, wrap(&s_hs)),
            (C, wrap(&c_hs[1..])),
            (C, c_app),
            (S, s_app),
        ]
    }

    #[test]
    fn full_tls_inside_prelogin_then_raw_records() {
        let r = run_with(false, &tds_tls12(0x01, 0x01));
        assert_eq!(r.obs.tls_upgrade, Some(TlsUpgrade::TdsPrelogin));
        assert!(!r.obs.tls_login_only);
        assert!(r.obs.tls_requested);
        assert_eq!(r.obs.server_version.as_deref(), Some("16.0.1000"));
        let s = r.tls.as_ref().unwrap().summary();
        assert_eq!(s.version, Some(0x0303));
        assert_eq!(s.cipher, Some(0xc02f));
        assert_eq!(s.sni.as_deref(), Some("db.test.local"));
        assert_eq!(s.cert_visibility, crate::tls::CertVisibility::Seen);
        assert!(s.encrypted_records[0] > 0 && s.encrypted_records[1] > 0);
        // Both directions were handed to the tracker at their first raw record.
        let starts: Vec<_> = r.feeds.iter().filter(|(_, f)| matches!(f, Feed::StartTls { .. })).collect();
        assert_eq!(starts.len(), 2, "{:?}", r.feeds);
        // The same bytes one at a time.
        let split = run_with(false, &bytewise(&tds_tls12(0x01, 0x01)));
        assert_eq!(split.tls.unwrap().summary().cipher, Some(0xc02f));
    }

    /// Some clients send their last handshake flight as raw records instead of inside
    /// PRELOGIN: the tracker must still see it, in order.
    #[test]
    fn last_client_flight_outside_prelogin() {
        let mut chunks = tds_tls12(0x01, 0x01);
        let c2s = include_bytes!("../../tests/fixtures/tls/tls12_rsa.c2s");
        let c = records(c2s);
        let rest: Vec<u8> =
            c.iter().skip(1).take_while(|r| r[0] == 22 || r[0] == 20).copied().collect::<Vec<_>>().concat();
        chunks[4] = (C, rest);
        let r = run_with(false, &chunks);
        let s = r.tls.as_ref().unwrap().summary();
        assert_eq!(s.cipher, Some(0xc02f));
        assert!(s.encrypted_records[0] > 0, "client Finished and data counted as encrypted");
        assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
        assert_eq!(r.obs.tls_upgrade, Some(TlsUpgrade::TdsPrelogin));
    }

    #[test]
    fn login_only_tls_then_plaintext_batch() {
        let mut chunks = tds_tls12(0x00, 0x00);
        // LOGIN7 went as the client's raw records; the server answers in the clear.
        chunks.truncate(6);
        chunks.push((S, pkt(0x04, 0x01, &login_ack())));
        chunks.push((C, batch("SELECT 1")));
        let r = run_with(false, &chunks);
        assert!(r.obs.tls_login_only);
        assert_eq!(r.obs.tls_upgrade, Some(TlsUpgrade::TdsPrelogin));
        assert!(!r.feeds.iter().any(|(_, f)| matches!(f, Feed::StartTls { .. })));
        assert_eq!(r.obs.auth_ok, Some(true));
        assert_eq!(r.obs.queries, ["SELECT 1"]);
        assert_eq!(r.tls.unwrap().summary().version, Some(0x0303));
    }

    #[test]
    fn probes() {
        // PostgreSQL StartupMessage / SSLRequest: not TDS.
        assert_eq!(probe(C, &[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], false), Probe::NoMatch);
        // A TLS ClientHello record: not TDS framing.
        assert_eq!(probe(C, &[0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x7c], true), Probe::NoMatch);
        // Mid-stream SQL batch and a response starting with DONE.
        assert_eq!(probe(C, &batch("select @@version"), true), Probe::Match);
        assert_eq!(probe(C, &batch("select @@version"), false), Probe::NoMatch);
        let done = pkt(0x04, 0x01, &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(probe(S, &done, true), Probe::Match);
        // Binary junk in a batch packet.
        assert_eq!(
            probe(C, &pkt(0x01, 0x01, &[0x00, 0x01, 0x02, 0x03, 0xff, 0xfe, 0x00, 0x00, 0x10, 0x11]), true),
            Probe::NoMatch
        );
        // LOGIN7 as the first packet (TDS 7.0 clients skip PRELOGIN).
        let l = pkt(0x10, 0x01, &login7("h", "u", "p", "a", "d"));
        assert_eq!(probe(C, &l, false), Probe::Match);
        assert_eq!(probe(C, &l[..20], false), Probe::NeedMore);
    }

    #[test]
    fn sybase_legacy_login_and_language_token() {
        let mut rec = vec![0u8; SYBASE_LOGIN_LEN - HEADER_LEN];
        rec[31..35].copy_from_slice(b"sa_x");
        rec[61] = 4; // user name length
        rec[62..67].copy_from_slice(b"hunt2");
        rec[92] = 5; // password length
        let login = pkt(0x02, 0x00, &rec);
        assert_eq!(probe(C, &login, false), Probe::Match);
        let mut lang = vec![/* TDS_LANGUAGE */ 0x21, /* length */ 0x0e, 0, 0, 0, /* status */ 0];
        lang.extend_from_slice(b"use aaaa_prod");
        let obs = run(&[(C, login), (C, pkt(0x0f, 0x01, &lang))]);
        assert!(obs.tds_legacy_login);
        assert_eq!(obs.user.as_deref(), Some("sa_x"));
        assert!(obs.cleartext_password_seen && !obs.password_obfuscated);
        assert_eq!(obs.queries, ["use aaaa_prod"]);
        assert!(!format!("{obs:?}").contains("hunt2"));
        // A length byte over 30 is not a login record.
        let mut bad = rec.clone();
        bad[61] = 31;
        assert_eq!(probe(C, &pkt(0x02, 0x00, &bad), false), Probe::NoMatch);
    }

    #[test]
    fn midstream_resync_after_gap() {
        let cfg = raw_cfg();
        let mut obs = Observed::default();
        let mut tls = None;
        let mut st = TdsState::new(true);
        let b = batch("select 42");
        let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
        // Starts inside a packet: ignored until a packet start.
        st.feed(C, &b[5..], &mut cx);
        st.feed(C, &b, &mut cx);
        // A gap inside the next packet, then a fresh packet.
        st.feed(C, &b[..12], &mut cx);
        st.gap(C, 1000, &mut cx);
        st.feed(C, &batch("select 43"), &mut cx);
        assert_eq!(obs.queries, ["select 42", "select 43"]);
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..12), mid in any::<bool>()) {
            let chunks: Chunks = chunks.into_iter().map(|(d, c)| (if d { C } else { S }, c)).collect();
            let _ = run_with(mid, &chunks);
            for (d, c) in &chunks {
                let _ = probe(*d, c, mid);
                let _ = parse_prelogin(c);
                let _ = parse_login7(c);
                let _ = parse_rpc(c, 50);
                let _ = parse_login_response(c);
                let _ = parse_legacy_login(c);
            }
        }

        #[test]
        fn huge_lengths_in_valid_headers(len in 0u16..=u16::MAX, ty in prop::sample::select(vec![0x01u8, 0x03, 0x04, 0x10, 0x12]), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut p = vec![ty, 0x01, (len >> 8) as u8, len as u8, 0, 0, 1, 0];
            p.extend_from_slice(&body);
            let _ = run_with(false, &[(C, p.clone()), (S, p)]);
        }
    }
}
