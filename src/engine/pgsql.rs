//! PostgreSQL frontend/backend protocol, version 3.0 (and 3.2 from PostgreSQL 18).
//!
//! References are to the PostgreSQL documentation, chapter "Frontend/Backend Protocol":
//! sections "Message Flow" (53.2: Start-up, SSL Session Encryption, GSSAPI Session
//! Encryption, Simple Query, Extended Query, Canceling Requests in Progress) and
//! "Message Formats" (53.7).
//!
//! What this engine wants to know is narrow: did the connection negotiate encryption
//! (SSLRequest / GSSENCRequest and the one-byte answer), and if it stayed in the clear,
//! what leaked (user, database, application, authentication method, whether a password
//! crossed in the clear, query texts, server version, errors). Everything else is framed
//! and skipped without being buffered.

use super::sql::Dialect;
use super::{AuthMethod, ConnCx, EngineKind, Feed, Observed, TlsUpgrade};
use crate::flow::Direction;
use crate::reader::{Probe, Reader};

/// SSLRequest code (Message Formats: SSLRequest): 1234 << 16 | 5679.
const SSL_REQUEST_CODE: u32 = 80_877_103;
/// GSSENCRequest code (Message Formats: GSSENCRequest): 1234 << 16 | 5680.
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// CancelRequest code (Message Formats: CancelRequest): 1234 << 16 | 5678.
const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// Largest StartupMessage we accept; the server itself refuses more than 10000 bytes
/// (MAX_STARTUP_PACKET_LENGTH in the backend).
const MAX_STARTUP_LEN: u32 = 10_000;
/// Cap on the length of ordinary messages: no legitimate RowDescription, ErrorResponse,
/// ParameterStatus… comes near it, so a larger value means we are not in sync.
const MAX_SMALL_LEN: u32 = 1 << 20;
/// Cap on messages that can carry bulk data (DataRow, CopyData, Query, Bind…): the
/// server's own allocation limit is 1 GiB.
const MAX_BULK_LEN: u32 = 1 << 30;
/// Longest user / database / parameter value kept (characters).
const MAX_FIELD_CHARS: usize = 128;
/// Longest error message kept (characters).
const MAX_ERROR_CHARS: usize = 200;
/// A TLS handshake record starts with content type 22; no untyped PostgreSQL start
/// message can (its length's first byte is always 0).
const TLS_HANDSHAKE: u8 = 0x16;

// ---------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------

/// Can these first bytes of `dir` be PostgreSQL? `midstream`: the connection start was not
/// captured, so any message may come first.
///
/// From the start, the client must open with one of the untyped messages (Message Flow:
/// Start-up). Mid-stream we need strong evidence: typed messages known for that
/// direction, with sane lengths and contents, either filling the chunk exactly or at
/// least two consecutive headers.
pub fn probe(dir: Direction, data: &[u8], midstream: bool) -> Probe {
    if dir == Direction::ToServer {
        match probe_start(data) {
            Probe::NoMatch if midstream => {}
            answer => return answer,
        }
    }
    probe_typed(dir, data)
}

/// Probe for an untyped start message (SSLRequest, GSSENCRequest, CancelRequest,
/// StartupMessage).
fn probe_start(data: &[u8]) -> Probe {
    let mut r = Reader::new(data);
    let (Some(len), Some(code)) = (r.be_u32(), r.be_u32()) else {
        // A length is at most 10000, so the first two bytes must be zero.
        return if data.iter().take(2).all(|&b| b == 0) { Probe::NeedMore } else { Probe::NoMatch };
    };
    match parse_start_header(len, code) {
        None => Probe::NoMatch,
        Some(StartKind::Startup(_)) => {
            let body = &data[8..];
            let want = len as usize - 8;
            if body.len() >= want {
                match parse_startup_params(&body[..want]) {
                    Some(p) if p.printable_keys => Probe::Match,
                    _ => Probe::NoMatch,
                }
            } else if startup_prefix_ok(body) {
                // Parameters so far are well-formed names: enough to tell.
                if body.contains(&0) {
                    Probe::Match
                } else {
                    Probe::NeedMore
                }
            } else {
                Probe::NoMatch
            }
        }
        Some(_) => Probe::Match,
    }
}

/// Probe for typed messages (strong evidence, see [`probe`]).
fn probe_typed(dir: Direction, data: &[u8]) -> Probe {
    let w = walk(dir, data, MAX_SMALL_LEN);
    if w.bad {
        Probe::NoMatch
    } else if (w.exact && w.complete >= 1) || w.headers >= 2 {
        Probe::Match
    } else {
        Probe::NeedMore
    }
}

/// Result of walking typed message headers over a chunk.
#[derive(Debug, Default)]
struct Walk {
    /// Headers seen (the last message may be incomplete).
    headers: usize,
    /// Messages entirely inside the chunk.
    complete: usize,
    /// The chunk ends exactly at a message boundary.
    exact: bool,
    /// A header or a complete body was invalid.
    bad: bool,
}

/// Walk typed headers from the start of `data`, validating each header and the bodies
/// that are complete. `cap` bounds lengths of non-bulk messages.
fn walk(dir: Direction, data: &[u8], cap: u32) -> Walk {
    let mut w = Walk::default();
    let mut pos = 0usize;
    loop {
        let rest = &data[pos..];
        if rest.is_empty() {
            w.exact = true;
            return w;
        }
        if rest.len() < 5 {
            // Partial header: check the type byte at least.
            if len_bounds(dir, rest[0]).is_none() {
                w.bad = true;
            }
            return w;
        }
        let ty = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        if !header_ok(dir, ty, len, cap) {
            w.bad = true;
            return w;
        }
        w.headers += 1;
        let total = len as usize + 1;
        if rest.len() < total {
            return w;
        }
        if !body_ok(dir, ty, &rest[5..total]) {
            w.bad = true;
            return w;
        }
        w.complete += 1;
        pos += total;
    }
}

/// Length bounds (including the length field itself) per message type and direction
/// (Message Formats), and whether the type can carry bulk data. `None`: not a message
/// of that direction.
fn len_bounds(dir: Direction, ty: u8) -> Option<(u32, u32)> {
    let small = MAX_SMALL_LEN;
    let bulk = MAX_BULK_LEN;
    let b = match dir {
        Direction::ToClient => match ty {
            b'R' => (8, small),
            // 4-byte key in 3.0, up to 256 bytes in 3.2.
            b'K' => (12, 12 + 256),
            b'Z' => (5, 5),
            b'1' | b'2' | b'3' | b'n' | b's' | b'I' | b'c' => (4, 4),
            b'C' | b'E' | b'N' => (5, small),
            b'S' => (6, small),
            b'T' | b't' => (6, small),
            b'D' => (6, bulk),
            b'd' => (4, bulk),
            b'G' | b'H' | b'W' => (7, small),
            b'A' => (10, small),
            b'v' => (12, small),
            b'V' => (8, bulk),
            _ => return None,
        },
        Direction::ToServer => match ty {
            b'Q' => (5, bulk),
            b'P' => (8, bulk),
            b'B' => (12, bulk),
            b'E' => (9, small),
            b'D' | b'C' => (6, small),
            b'S' | b'H' | b'X' | b'c' => (4, 4),
            b'F' => (14, bulk),
            b'd' => (4, bulk),
            b'f' => (5, small),
            b'p' => (4, small),
            _ => return None,
        },
    };
    Some(b)
}

/// Is `ty` with `len` a plausible header for `dir`? `cap` lowers the upper bound.
fn header_ok(dir: Direction, ty: u8, len: u32, cap: u32) -> bool {
    match len_bounds(dir, ty) {
        Some((min, max)) => len >= min && len <= max.min(cap.max(min)),
        None => false,
    }
}

/// Content checks for complete message bodies, used where framing is not yet trusted
/// (probe, resync). Only cheap, certain rules.
fn body_ok(dir: Direction, ty: u8, body: &[u8]) -> bool {
    let ends_nul = body.last() == Some(&0);
    match (dir, ty) {
        (Direction::ToClient, b'Z') => matches!(body, [b'I' | b'T' | b'E']),
        (Direction::ToClient, b'R') => match parse_auth(body) {
            Some(AuthRequest::Unknown(_)) | None => false,
            Some(a) => a.fixed_len().map_or(true, |n| n == body.len()),
        },
        (Direction::ToClient, b'S') => ends_nul && body.iter().filter(|&&b| b == 0).count() == 2,
        (Direction::ToClient, b'C' | b'E' | b'N') => ends_nul,
        (Direction::ToServer, b'Q' | b'f') => ends_nul,
        (Direction::ToServer, b'D' | b'C') => matches!(body.first(), Some(b'S' | b'P')) && ends_nul,
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------
// Pure message parsers (Message Formats)
// ---------------------------------------------------------------------------------------

/// Kind of untyped start message, from its length and code (Message Formats:
/// StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartKind {
    Ssl,
    GssEnc,
    Cancel,
    /// Protocol version (major << 16 | minor).
    Startup(u32),
}

/// Classify an untyped message header. Lengths must match the code exactly: that is
/// what keeps random bytes from passing.
fn parse_start_header(len: u32, code: u32) -> Option<StartKind> {
    match (len, code) {
        (8, SSL_REQUEST_CODE) => Some(StartKind::Ssl),
        (8, GSSENC_REQUEST_CODE) => Some(StartKind::GssEnc),
        // Process id + secret key: 4 bytes in 3.0, up to 256 in 3.2.
        (16..=268, CANCEL_REQUEST_CODE) => Some(StartKind::Cancel),
        // 3.0, and 3.2 from PostgreSQL 18 (3.1 was never used but is harmless). At least
        // the terminating NUL of the parameter list.
        (9..=MAX_STARTUP_LEN, v) if v >> 16 == 3 && v & 0xffff <= 2 => Some(StartKind::Startup(v)),
        _ => None,
    }
}

/// The StartupMessage parameters we report.
#[derive(Debug, Default)]
struct StartupParams<'a> {
    user: Option<&'a [u8]>,
    database: Option<&'a [u8]>,
    application_name: Option<&'a [u8]>,
    /// All parameter names are printable ASCII (real clients only send such names).
    printable_keys: bool,
}

/// Parse the name/value pairs after the protocol version, ending with an empty name.
fn parse_startup_params(body: &[u8]) -> Option<StartupParams<'_>> {
    let mut r = Reader::new(body);
    let mut p = StartupParams { printable_keys: true, ..Default::default() };
    loop {
        let key = r.cstr()?;
        if key.is_empty() {
            // Anything after the terminator is not part of a valid message.
            return r.is_empty().then_some(p);
        }
        let value = r.cstr()?;
        p.printable_keys &= key.iter().all(|b| b.is_ascii_graphic());
        match key {
            b"user" => p.user = Some(value),
            b"database" => p.database = Some(value),
            b"application_name" => p.application_name = Some(value),
            _ => {}
        }
    }
}

/// Is this prefix of a StartupMessage body consistent (names printable so far)?
fn startup_prefix_ok(body: &[u8]) -> bool {
    let first_key = body.split(|&b| b == 0).next().unwrap_or(&[]);
    first_key.iter().all(|b| b.is_ascii_graphic())
}

/// An Authentication* request (Message Formats: AuthenticationOk … AuthenticationSASLFinal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthRequest<'a> {
    Ok,
    KerberosV5,
    Cleartext,
    Md5,
    Scm,
    Gss,
    GssContinue,
    Sspi,
    /// Mechanism names, each NUL-terminated, then an empty name.
    Sasl(&'a [u8]),
    SaslContinue,
    SaslFinal,
    Unknown(u32),
}

impl AuthRequest<'_> {
    /// Body length for the fixed-size requests.
    fn fixed_len(&self) -> Option<usize> {
        match self {
            AuthRequest::Ok
            | AuthRequest::KerberosV5
            | AuthRequest::Cleartext
            | AuthRequest::Scm
            | AuthRequest::Gss
            | AuthRequest::Sspi => Some(4),
            AuthRequest::Md5 => Some(8), // 4-byte salt
            _ => None,
        }
    }
}

fn parse_auth(body: &[u8]) -> Option<AuthRequest<'_>> {
    let mut r = Reader::new(body);
    let a = match r.be_u32()? {
        0 => AuthRequest::Ok,
        2 => AuthRequest::KerberosV5,
        3 => AuthRequest::Cleartext,
        5 => AuthRequest::Md5,
        6 => AuthRequest::Scm,
        7 => AuthRequest::Gss,
        8 => AuthRequest::GssContinue,
        9 => AuthRequest::Sspi,
        10 => AuthRequest::Sasl(r.rest()),
        11 => AuthRequest::SaslContinue,
        12 => AuthRequest::SaslFinal,
        n => AuthRequest::Unknown(n),
    };
    Some(a)
}

/// First mechanism of an AuthenticationSASL list.
fn first_sasl_mechanism(list: &[u8]) -> Option<&[u8]> {
    Reader::new(list).cstr().filter(|m| !m.is_empty())
}

/// ParameterStatus: name and value (Message Formats: ParameterStatus). Lenient on a
/// missing final NUL, for values cut at the buffer limit.
fn parse_parameter_status(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut r = Reader::new(body);
    let name = r.cstr()?;
    let value = r.cstr().unwrap_or(r.rest());
    Some((name, value))
}

/// The fields of an ErrorResponse / NoticeResponse we report (Error and Notice Message
/// Fields): `S` localized severity, `V` severity (never localized, 9.6+), `C` SQLSTATE,
/// `M` primary message.
#[derive(Debug, Default, PartialEq, Eq)]
struct ErrorFields<'a> {
    severity: Option<&'a [u8]>,
    code: Option<&'a [u8]>,
    message: Option<&'a [u8]>,
}

fn parse_error_fields(body: &[u8]) -> ErrorFields<'_> {
    let mut r = Reader::new(body);
    let mut f = ErrorFields::default();
    while let Some(t) = r.u8() {
        if t == 0 {
            break;
        }
        let v = r.cstr().unwrap_or_else(|| r.rest());
        match t {
            b'V' => f.severity = Some(v),
            b'S' if f.severity.is_none() => f.severity = Some(v),
            b'C' => f.code = Some(v),
            b'M' => f.message = Some(v),
            _ => {}
        }
    }
    f
}

/// Query text of a Query message (Message Formats: Query): up to the NUL, or all of it
/// when the message was cut.
fn parse_query(body: &[u8]) -> &[u8] {
    body.split(|&b| b == 0).next().unwrap_or(body)
}

/// Query text of a Parse message (Message Formats: Parse): statement name, then query.
fn parse_parse(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    r.cstr()?;
    Some(parse_query(r.rest()))
}

/// Mechanism chosen in a SASLInitialResponse (Message Formats: SASLInitialResponse).
fn parse_sasl_initial(body: &[u8]) -> Option<&[u8]> {
    Reader::new(body).cstr().filter(|m| !m.is_empty())
}

/// Bytes from the wire as report text: lossy UTF-8, control characters replaced,
/// bounded.
fn text(b: &[u8], max_chars: usize) -> String {
    String::from_utf8_lossy(b).chars().take(max_chars).map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

// ---------------------------------------------------------------------------------------
// State machine
// ---------------------------------------------------------------------------------------

/// Where one direction's byte stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    /// Client: untyped start messages (Message Flow: Start-up).
    Start,
    /// Server: the one-byte answer to SSLRequest is due (SSL Session Encryption).
    SslAnswer,
    /// Server: the one-byte answer to GSSENCRequest is due (GSSAPI Session Encryption).
    GssAnswer,
    /// Typed messages.
    #[default]
    Typed,
    /// Framing lost (mid-stream start, gap, bad header): wait for a chunk that starts
    /// with plausible messages.
    Resync,
    /// The rest of this direction is TLS.
    Tls,
    /// Nothing more to parse (GSS-encrypted).
    Stopped,
}

/// What a PasswordMessage-family 'p' message carries; only the last authentication
/// request tells (Message Formats: "the exact message type can be deduced from the
/// context").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum PExpect {
    #[default]
    Unknown,
    /// PasswordMessage after AuthenticationCleartextPassword: the password itself.
    Cleartext,
    /// PasswordMessage with an MD5 hash, or a GSS/SSPI token: nothing to report.
    Opaque,
    SaslInitial,
    SaslResponse,
}

/// One direction: framing state and the little buffer for messages being parsed.
#[derive(Debug, Default)]
struct Side {
    mode: Mode,
    /// Header (and body prefix) of the message being gathered; bounded by
    /// `MAX_STARTUP_LEN` or `5 + max_message`.
    buf: Vec<u8>,
    /// Bytes of the current message to gather in `buf` before parsing (0: none).
    want: usize,
    /// Body length of the message being gathered (beyond `want` it is skipped).
    body_len: u64,
    /// Bytes of the current message left to skip unbuffered.
    skip: u64,
}

/// Per-connection PostgreSQL state machine.
#[derive(Debug, Default)]
pub struct PgsqlState {
    /// Indexed by `Direction::index()`: client, server.
    side: [Side; 2],
    startup_seen: bool,
    /// ReadyForQuery seen: the session is established, later errors are not about login.
    ready: bool,
    expect_p: PExpect,
}

/// Whether to parse a typed message or only frame it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Parse,
    Skip,
}

impl PgsqlState {
    pub fn new(midstream: bool) -> Self {
        let mut s = PgsqlState::default();
        if midstream {
            s.side[0].mode = Mode::Resync;
            s.side[1].mode = Mode::Resync;
        } else {
            s.side[0].mode = Mode::Start;
            s.side[1].mode = Mode::Typed;
        }
        s
    }

    /// Feed the next in-order bytes of `dir`.
    pub fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut ConnCx<'_>) -> Feed {
        let d = dir.index();
        let mut pos = 0usize;
        loop {
            match self.side[d].mode {
                Mode::Tls => return Feed::StartTls { offset: pos },
                Mode::Stopped => return Feed::Stop,
                _ => {}
            }
            if pos >= data.len() {
                return Feed::Continue;
            }
            let out = match self.side[d].mode {
                Mode::Start => self.step_start(data, &mut pos, cx),
                Mode::SslAnswer | Mode::GssAnswer => self.step_answer(data, &mut pos, cx),
                Mode::Typed => self.step_typed(dir, data, &mut pos, cx),
                Mode::Resync => {
                    self.resync(dir, &data[pos..]);
                    if self.side[d].mode == Mode::Resync {
                        return Feed::Continue;
                    }
                    None
                }
                Mode::Tls | Mode::Stopped => None,
            };
            if let Some(f) = out {
                return f;
            }
        }
    }

    /// `len` bytes of `dir` were not captured.
    pub fn gap(&mut self, dir: Direction, len: u64, cx: &mut ConnCx<'_>) {
        let _ = cx;
        let side = &mut self.side[dir.index()];
        match side.mode {
            Mode::Tls | Mode::Stopped | Mode::Resync => return,
            _ => {}
        }
        if side.want == 0 && side.buf.is_empty() && side.skip >= len {
            // The hole is inside a body we were skipping anyway: framing survives.
            side.skip -= len;
            return;
        }
        side.buf.clear();
        side.want = 0;
        side.skip = 0;
        side.mode = Mode::Resync;
    }

    /// Look for a point to pick up framing again: the chunk must start with plausible
    /// messages.
    fn resync(&mut self, dir: Direction, chunk: &[u8]) {
        let side = &mut self.side[dir.index()];
        if dir == Direction::ToServer && !self.startup_seen && probe_start(chunk) == Probe::Match {
            side.mode = Mode::Start;
            return;
        }
        let w = walk(dir, chunk, MAX_BULK_LEN);
        if !w.bad && w.headers >= 1 {
            side.mode = Mode::Typed;
        }
    }

    /// Client untyped messages: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage.
    fn step_start(&mut self, data: &[u8], pos: &mut usize, cx: &mut ConnCx<'_>) -> Option<Feed> {
        let side = &mut self.side[0];
        if side.buf.is_empty() && data[*pos] == TLS_HANDSHAKE {
            // Direct TLS (PostgreSQL 17 sslnegotiation=direct) or the ClientHello after
            // an 'S' we did not see: hand over rather than misparse.
            side.mode = Mode::Tls;
            return None;
        }
        // Gather the 8-byte length + code.
        if side.want == 0 {
            let avail = &data[*pos..];
            let need = 8 - side.buf.len();
            let n = need.min(avail.len());
            side.buf.extend_from_slice(&avail[..n]);
            *pos += n;
            if side.buf.len() < 8 {
                return None;
            }
            let len = u32::from_be_bytes([side.buf[0], side.buf[1], side.buf[2], side.buf[3]]);
            let code = u32::from_be_bytes([side.buf[4], side.buf[5], side.buf[6], side.buf[7]]);
            if parse_start_header(len, code).is_none() {
                Observed::note(
                    &mut cx.obs.anomalies,
                    format!("pgsql: invalid start message (length {len}, code {code})"),
                );
                side.buf.clear();
                side.mode = Mode::Resync;
                *pos = data.len();
                return None;
            }
            side.want = len as usize;
        }
        let avail = &data[*pos..];
        let n = (side.want - side.buf.len()).min(avail.len());
        side.buf.extend_from_slice(&avail[..n]);
        *pos += n;
        if side.buf.len() < side.want {
            return None;
        }
        let msg = std::mem::take(&mut side.buf);
        side.want = 0;
        self.on_start_message(&msg, cx);
        // Keep the allocation for the next message.
        self.side[0].buf = msg;
        self.side[0].buf.clear();
        None
    }

    fn on_start_message(&mut self, msg: &[u8], cx: &mut ConnCx<'_>) {
        let len = u32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]);
        let code = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]);
        let obs = &mut *cx.obs;
        obs.plaintext_messages += 1;
        confirm(obs);
        match parse_start_header(len, code) {
            Some(StartKind::Ssl) => {
                obs.tls_requested = true;
                self.await_answer(Mode::SslAnswer);
            }
            Some(StartKind::GssEnc) => {
                obs.gss_requested = true;
                self.await_answer(Mode::GssAnswer);
            }
            Some(StartKind::Cancel) => {}
            Some(StartKind::Startup(_)) => {
                self.startup_seen = true;
                self.side[0].mode = Mode::Typed;
                if self.side[1].mode != Mode::Tls && self.side[1].mode != Mode::Stopped {
                    self.side[1].mode = Mode::Typed;
                }
                match parse_startup_params(&msg[8..]) {
                    Some(p) => {
                        if let Some(u) = p.user {
                            obs.user = Some(text(u, MAX_FIELD_CHARS));
                        }
                        if let Some(db) = p.database {
                            obs.database = Some(text(db, MAX_FIELD_CHARS));
                        }
                        if let Some(a) = p.application_name {
                            obs.application_name = Some(text(a, MAX_FIELD_CHARS));
                        }
                    }
                    None => Observed::note(&mut obs.anomalies, "pgsql: malformed StartupMessage parameters"),
                }
            }
            None => {}
        }
    }

    fn await_answer(&mut self, mode: Mode) {
        let server = &mut self.side[1];
        if server.mode != Mode::Tls && server.mode != Mode::Stopped {
            server.buf.clear();
            server.want = 0;
            server.skip = 0;
            server.mode = mode;
        }
    }

    /// The server's single-byte answer to SSLRequest / GSSENCRequest.
    fn step_answer(&mut self, data: &[u8], pos: &mut usize, cx: &mut ConnCx<'_>) -> Option<Feed> {
        let ssl = self.side[1].mode == Mode::SslAnswer;
        let obs = &mut *cx.obs;
        match (ssl, data[*pos]) {
            (true, b'S') => {
                obs.plaintext_messages += 1;
                obs.tls_upgrade = Some(TlsUpgrade::PgSslRequest);
                self.side[1].mode = Mode::Tls;
                if self.side[0].mode != Mode::Stopped {
                    self.side[0].mode = Mode::Tls;
                }
                Some(Feed::StartTls { offset: *pos + 1 })
            }
            (false, b'G') => {
                obs.plaintext_messages += 1;
                obs.gss_accepted = true;
                self.side[0].mode = Mode::Stopped;
                self.side[1].mode = Mode::Stopped;
                Some(Feed::Stop)
            }
            (_, b'N') => {
                obs.plaintext_messages += 1;
                if ssl {
                    obs.tls_refused = true;
                }
                *pos += 1;
                self.side[1].mode = Mode::Typed;
                None
            }
            (_, b'E') => {
                // A server too old to know the request answers with an ErrorResponse
                // (Message Flow: SSL Session Encryption): no encryption on offer.
                if ssl {
                    obs.tls_refused = true;
                }
                self.side[1].mode = Mode::Typed;
                None
            }
            (_, b) => {
                Observed::note(
                    &mut obs.anomalies,
                    format!("pgsql: unexpected answer byte 0x{b:02x} to encryption request"),
                );
                self.side[1].mode = Mode::Typed;
                None
            }
        }
    }

    /// Typed messages: 1 type byte + Int32 length (Message Formats).
    fn step_typed(&mut self, dir: Direction, data: &[u8], pos: &mut usize, cx: &mut ConnCx<'_>) -> Option<Feed> {
        let d = dir.index();
        let side = &mut self.side[d];
        let avail = &data[*pos..];

        if side.skip > 0 {
            let n = side.skip.min(avail.len() as u64);
            side.skip -= n;
            *pos += n as usize;
            return None;
        }

        if side.want > 0 {
            // Gathering a message to parse; the header is already in `buf`.
            let n = (side.want - side.buf.len()).min(avail.len());
            side.buf.extend_from_slice(&avail[..n]);
            *pos += n;
            if side.buf.len() == side.want {
                let msg = std::mem::take(&mut side.buf);
                self.finish_message(dir, &msg, cx);
                let side = &mut self.side[d];
                side.buf = msg;
                side.buf.clear();
            }
            return None;
        }

        // Need a header.
        let hdr: [u8; 5] = if side.buf.is_empty() && avail.len() >= 5 {
            [avail[0], avail[1], avail[2], avail[3], avail[4]]
        } else {
            let n = (5 - side.buf.len()).min(avail.len());
            side.buf.extend_from_slice(&avail[..n]);
            *pos += n;
            if side.buf.len() < 5 {
                return None;
            }
            [side.buf[0], side.buf[1], side.buf[2], side.buf[3], side.buf[4]]
        };
        let header_buffered = !side.buf.is_empty();
        let ty = hdr[0];
        let len = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]);
        if !header_ok(dir, ty, len, MAX_BULK_LEN) {
            Observed::note(
                &mut cx.obs.anomalies,
                format!("pgsql: bad {} message header (type 0x{ty:02x}, length {len}); resyncing", dir_name(dir)),
            );
            side.buf.clear();
            side.mode = Mode::Resync;
            *pos = data.len();
            return None;
        }
        cx.obs.plaintext_messages += 1;
        confirm(cx.obs);
        let body_len = u64::from(len - 4);
        let action = self.action(dir, ty, cx);
        let side = &mut self.side[d];
        if action == Action::Skip {
            if header_buffered {
                side.buf.clear();
            } else {
                *pos += 5;
            }
            side.skip = body_len;
            return None;
        }
        let keep = body_len.min(cx.cfg.max_message as u64) as usize;
        let want = 5 + keep;
        side.body_len = body_len;
        let avail = &data[*pos..];
        if !header_buffered && avail.len() >= want {
            // Whole message in this chunk: parse in place, no copy.
            *pos += want;
            self.finish_message(dir, &avail[..want], cx);
            return None;
        }
        if !header_buffered {
            side.buf.extend_from_slice(&avail[..5]);
            *pos += 5;
        }
        side.want = want;
        if side.buf.len() == want {
            let msg = std::mem::take(&mut side.buf);
            self.finish_message(dir, &msg, cx);
            let side = &mut self.side[d];
            side.buf = msg;
            side.buf.clear();
        }
        None
    }

    /// Decide from the type (and the authentication context) whether a message is worth
    /// buffering. A cleartext PasswordMessage is never buffered.
    fn action(&mut self, dir: Direction, ty: u8, cx: &mut ConnCx<'_>) -> Action {
        match (dir, ty) {
            (Direction::ToClient, b'Z') => {
                self.ready = true;
                Action::Skip
            }
            (Direction::ToClient, b'R' | b'S' | b'E') => Action::Parse,
            (Direction::ToServer, b'Q' | b'P') => Action::Parse,
            (Direction::ToServer, b'p') => match self.expect_p {
                PExpect::Cleartext => {
                    // The body is the password: note that it crossed, never look at it.
                    cx.obs.cleartext_password_seen = true;
                    self.expect_p = PExpect::Unknown;
                    Action::Skip
                }
                PExpect::SaslInitial => Action::Parse,
                _ => Action::Skip,
            },
            _ => Action::Skip,
        }
    }

    /// A gathered message (header + body, the body possibly cut at `max_message`).
    fn finish_message(&mut self, dir: Direction, msg: &[u8], cx: &mut ConnCx<'_>) {
        let d = dir.index();
        let side = &mut self.side[d];
        let ty = msg[0];
        let body = &msg[5..];
        let cut = (body.len() as u64) < side.body_len;
        side.skip = side.body_len - body.len() as u64;
        side.want = 0;
        side.body_len = 0;
        confirm(cx.obs);
        match (dir, ty) {
            (Direction::ToClient, b'R') => self.on_auth(body, cx),
            (Direction::ToClient, b'S') => on_parameter_status(body, cx.obs),
            (Direction::ToClient, b'E') => self.on_error(body, cx),
            (Direction::ToServer, b'Q') => on_query(parse_query(body), cut, cx),
            (Direction::ToServer, b'P') => {
                if let Some(q) = parse_parse(body) {
                    on_query(q, cut, cx);
                }
            }
            (Direction::ToServer, b'p') if self.expect_p == PExpect::SaslInitial => {
                if let Some(m) = parse_sasl_initial(body) {
                    cx.obs.auth_method = Some(sasl_method(m));
                }
                self.expect_p = PExpect::SaslResponse;
            }
            _ => {}
        }
    }

    /// Authentication request (Message Flow: Start-up).
    fn on_auth(&mut self, body: &[u8], cx: &mut ConnCx<'_>) {
        let obs = &mut *cx.obs;
        let Some(req) = parse_auth(body) else {
            Observed::note(&mut obs.anomalies, "pgsql: short Authentication message");
            return;
        };
        match req {
            AuthRequest::Ok => {
                obs.auth_ok = Some(true);
                // Only call it trust if we saw the whole start-up and no challenge.
                if obs.auth_method.is_none() && self.startup_seen {
                    obs.auth_method = Some(AuthMethod::None);
                }
                self.expect_p = PExpect::Unknown;
            }
            AuthRequest::Cleartext => {
                obs.auth_method = Some(AuthMethod::Cleartext);
                self.expect_p = PExpect::Cleartext;
            }
            AuthRequest::Md5 => {
                obs.auth_method = Some(AuthMethod::Md5);
                self.expect_p = PExpect::Opaque;
            }
            AuthRequest::Sasl(list) => {
                if let Some(m) = first_sasl_mechanism(list) {
                    obs.auth_method = Some(sasl_method(m));
                }
                self.expect_p = PExpect::SaslInitial;
            }
            AuthRequest::SaslContinue => self.expect_p = PExpect::SaslResponse,
            AuthRequest::SaslFinal => self.expect_p = PExpect::Unknown,
            AuthRequest::Gss | AuthRequest::GssContinue => {
                obs.auth_method = Some(AuthMethod::Gss);
                self.expect_p = PExpect::Opaque;
            }
            AuthRequest::Sspi => {
                obs.auth_method = Some(AuthMethod::Sspi);
                self.expect_p = PExpect::Opaque;
            }
            AuthRequest::KerberosV5 => obs.auth_method = Some(AuthMethod::Other("kerberos-v5".into())),
            AuthRequest::Scm => obs.auth_method = Some(AuthMethod::Other("scm-credential".into())),
            AuthRequest::Unknown(n) => {
                Observed::note(&mut obs.anomalies, format!("pgsql: unknown authentication request {n}"));
            }
        }
    }

    /// ErrorResponse: keep "SEVERITY CODE: message". A failed login is a FATAL error of
    /// class 28 (invalid authorization: with trust, "role does not exist" even follows
    /// AuthenticationOk), or any FATAL after the StartupMessage and before the first
    /// ReadyForQuery.
    fn on_error(&mut self, body: &[u8], cx: &mut ConnCx<'_>) {
        let obs = &mut *cx.obs;
        let f = parse_error_fields(body);
        let sev = f.severity.map(|s| text(s, 16)).unwrap_or_else(|| "ERROR".into());
        let code = f.code.map(|c| text(c, 5)).unwrap_or_default();
        let msg = f.message.map(|m| text(m, MAX_ERROR_CHARS)).unwrap_or_default();
        let line = if code.is_empty() { format!("{sev}: {msg}") } else { format!("{sev} {code}: {msg}") };
        Observed::note(&mut obs.errors, line);
        let fatal = sev == "FATAL" || sev == "PANIC";
        if fatal && !self.ready && (code.starts_with("28") || self.startup_seen) {
            obs.auth_ok = Some(false);
        }
    }
}

/// The bytes proved this is PostgreSQL.
fn confirm(obs: &mut Observed) {
    obs.engine = EngineKind::Postgres;
    obs.engine_by_content = true;
}

fn dir_name(dir: Direction) -> &'static str {
    match dir {
        Direction::ToServer => "frontend",
        Direction::ToClient => "backend",
    }
}

fn sasl_method(m: &[u8]) -> AuthMethod {
    let name = text(m, 40);
    if name.starts_with("SCRAM-") {
        AuthMethod::Scram(name)
    } else {
        AuthMethod::Other(name)
    }
}

/// ParameterStatus (Message Flow: Asynchronous Operations): the server reports
/// `server_version` at start-up, and `application_name` / `session_authorization`
/// which help when the StartupMessage was not captured.
fn on_parameter_status(body: &[u8], obs: &mut Observed) {
    let Some((name, value)) = parse_parameter_status(body) else {
        return;
    };
    match name {
        b"server_version" => obs.server_version = Some(text(value, MAX_FIELD_CHARS)),
        b"application_name" if obs.application_name.is_none() && !value.is_empty() => {
            obs.application_name = Some(text(value, MAX_FIELD_CHARS))
        }
        b"session_authorization" if obs.user.is_none() && !value.is_empty() => {
            obs.user = Some(text(value, MAX_FIELD_CHARS))
        }
        _ => {}
    }
}

/// A query text from Query or Parse; `cut` when the message was longer than we buffer.
fn on_query(q: &[u8], cut: bool, cx: &mut ConnCx<'_>) {
    // `from_utf8` checks ASCII a word at a time; the lossy walk only for invalid text.
    let raw = match std::str::from_utf8(q) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(q),
    };
    if cut {
        let mut s = raw.into_owned();
        s.push('…');
        cx.obs.add_query(cx.cfg, Dialect::Postgres, &s);
    } else {
        cx.obs.add_query(cx.cfg, Dialect::Postgres, &raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use Direction::{ToClient, ToServer};

    // --- helpers -----------------------------------------------------------------------

    fn unhex(s: &str) -> Vec<u8> {
        let s = s.trim();
        assert!(s.len() % 2 == 0, "odd hex length");
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// A recorded exchange: "> HEX" client→server, "< HEX" server→client per segment.
    fn fixture(text: &str) -> Vec<(Direction, Vec<u8>)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (d, hex) = l.split_at(1);
                let dir = if d == ">" { ToServer } else { ToClient };
                (dir, unhex(hex))
            })
            .collect()
    }

    /// Outcome of feeding a whole exchange.
    struct Run {
        obs: Observed,
        /// Feed results, in order, for chunks that were fed.
        feeds: Vec<(Direction, Feed)>,
        state: PgsqlState,
    }

    fn run_with(cfg: &EngineConfig, chunks: &[(Direction, Vec<u8>)], midstream: bool) -> Run {
        let mut obs = Observed::default();
        let mut tls = None;
        let mut st = PgsqlState::new(midstream);
        let mut done = [false; 2];
        let mut feeds = Vec::new();
        for (dir, data) in chunks {
            if done[dir.index()] {
                continue;
            }
            let mut cx = ConnCx { cfg, obs: &mut obs, tls: &mut tls };
            let f = st.feed(*dir, data, &mut cx);
            if f != Feed::Continue {
                done[dir.index()] = true;
            }
            feeds.push((*dir, f));
        }
        Run { obs, feeds, state: st }
    }

    fn run(chunks: &[(Direction, Vec<u8>)]) -> Run {
        run_with(&EngineConfig::default(), chunks, false)
    }

    /// The same exchange fed one byte at a time.
    fn run_bytewise(chunks: &[(Direction, Vec<u8>)], midstream: bool) -> Observed {
        let single: Vec<(Direction, Vec<u8>)> =
            chunks.iter().flat_map(|(d, data)| data.iter().map(move |b| (*d, vec![*b]))).collect();
        run_with(&EngineConfig::default(), &single, midstream).obs
    }

    fn assert_bytewise_same(chunks: &[(Direction, Vec<u8>)]) -> Observed {
        let whole = run(chunks).obs;
        let bytes = run_bytewise(chunks, false);
        assert_eq!(format!("{whole:?}"), format!("{bytes:?}"));
        whole
    }

    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ty];
        v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = 196608u32.to_be_bytes().to_vec();
        for (k, v) in params {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut v = (body.len() as u32 + 4).to_be_bytes().to_vec();
        v.extend_from_slice(&body);
        v
    }

    const SSL_REQUEST: [u8; 8] = [
        /* length */ 0x00, 0x00, 0x00, 0x08, //
        /* code 1234.5679 */ 0x04, 0xd2, 0x16, 0x2f,
    ];
    const GSSENC_REQUEST: [u8; 8] = [
        /* length */ 0x00, 0x00, 0x00, 0x08, //
        /* code 1234.5680 */ 0x04, 0xd2, 0x16, 0x30,
    ];
    const CANCEL_REQUEST: [u8; 16] = [
        /* length */ 0x00, 0x00, 0x00, 0x10, //
        /* code 1234.5678 */ 0x04, 0xd2, 0x16, 0x2e, //
        /* pid */ 0x00, 0x00, 0x30, 0x39, //
        /* secret key */ 0xde, 0xad, 0xbe, 0xef,
    ];
    const STARTUP_BOB: [u8; 41] = [
        /* length */ 0x00, 0x00, 0x00, 0x29, //
        /* protocol 3.0 */ 0x00, 0x03, 0x00, 0x00, //
        /* "user" */ b'u', b's', b'e', b'r', 0x00, //
        /* "bob" */ b'b', b'o', b'b', 0x00, //
        /* "database" */ b'd', b'a', b't', b'a', b'b', b'a', b's', b'e', 0x00, //
        /* "shop" */ b's', b'h', b'o', b'p', 0x00, //
        /* "options" */ b'o', b'p', b't', b'i', b'o', b'n', b's', 0x00, //
        /* "" */ 0x00, //
        /* terminator */ 0x00,
    ];
    const AUTH_CLEARTEXT: [u8; 9] = [
        /* 'R' */ 0x52, /* length */ 0x00, 0x00, 0x00, 0x08, /* 3 = cleartext */ 0x00, 0x00, 0x00, 0x03,
    ];
    const AUTH_MD5: [u8; 13] = [
        /* 'R' */ 0x52, /* length */ 0x00, 0x00, 0x00, 0x0c, /* 5 = MD5 */ 0x00, 0x00, 0x00, 0x05,
        /* salt */ 0x01, 0x02, 0x03, 0x04,
    ];
    const AUTH_OK: [u8; 9] =
        [/* 'R' */ 0x52, /* length */ 0x00, 0x00, 0x00, 0x08, /* 0 = ok */ 0x00, 0x00, 0x00, 0x00];
    const READY_IDLE: [u8; 6] = [/* 'Z' */ 0x5a, /* length */ 0x00, 0x00, 0x00, 0x05, /* idle */ b'I'];
    const PASSWORD: &str = "Tr0ub4dor&3-unique";

    fn password_message() -> Vec<u8> {
        let mut body = PASSWORD.as_bytes().to_vec();
        body.push(0);
        msg(b'p', &body)
    }

    // --- fixtures recorded from PostgreSQL 15 (scripts/record-pgsql-fixtures.sh) ---------

    #[test]
    fn fixture_trust_after_ssl_refused() {
        let chunks = fixture(include_str!("../../tests/fixtures/pgsql/trust-ssl-refused.txt"));
        let r = run(&chunks);
        assert!(r.feeds.iter().all(|(_, f)| *f == Feed::Continue));
        let o = assert_bytewise_same(&chunks);
        assert!(o.tls_requested && o.tls_refused);
        assert_eq!(o.tls_upgrade, None);
        assert!(o.engine_by_content);
        assert_eq!(o.user.as_deref(), Some("trustuser"));
        assert_eq!(o.database.as_deref(), Some("shop"));
        assert_eq!(o.application_name.as_deref(), Some("dbwire-fixture"));
        assert_eq!(o.server_version.as_deref(), Some("15.18 (Debian 15.18-0+deb12u1)"));
        assert_eq!(o.auth_method, Some(AuthMethod::None));
        assert_eq!(o.auth_ok, Some(true));
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.queries, vec!["SELECT relname, ? FROM pg_class WHERE relname = ? LIMIT ?".to_string()]);
        assert_eq!(o.query_count, 1);
        assert!(o.plaintext_messages > 10, "{}", o.plaintext_messages);
        assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
        assert!(o.errors.is_empty());
    }

    #[test]
    fn fixture_md5() {
        let chunks = fixture(include_str!("../../tests/fixtures/pgsql/md5.txt"));
        let o = assert_bytewise_same(&chunks);
        assert!(!o.tls_requested);
        assert_eq!(o.user.as_deref(), Some("md5user"));
        assert_eq!(o.auth_method, Some(AuthMethod::Md5));
        assert_eq!(o.auth_ok, Some(true));
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.queries, vec!["SELECT ? AS x".to_string()]);
        assert!(!format!("{o:?}").contains("4111"));
        assert!(o.anomalies.is_empty(), "{:?}", o.anomalies);
    }

    #[test]
    fn fixture_cleartext_password() {
        let chunks = fixture(include_str!("../../tests/fixtures/pgsql/cleartext.txt"));
        let r = run(&chunks);
        let o = assert_bytewise_same(&chunks);
        assert_eq!(o.user.as_deref(), Some("pwuser"));
        assert_eq!(o.auth_method, Some(AuthMethod::Cleartext));
        assert!(o.cleartext_password_seen);
        assert_eq!(o.auth_ok, Some(true));
        assert_eq!(o.queries, vec!["SELECT ?".to_string()]);
        for dump in [format!("{o:?}"), format!("{:?}", r.state), format!("{:?}", r.obs)] {
            assert!(!dump.contains("Hunter2"), "password leaked: {dump}");
        }
    }

    #[test]
    fn fixture_scram() {
        let chunks = fixture(include_str!("../../tests/fixtures/pgsql/scram.txt"));
        let o = assert_bytewise_same(&chunks);
        assert_eq!(o.user.as_deref(), Some("scramuser"));
        assert_eq!(o.auth_method, Some(AuthMethod::Scram("SCRAM-SHA-256".into())));
        assert_eq!(o.auth_ok, Some(true));
        assert!(!o.cleartext_password_seen);
        assert_eq!(o.queries, vec!["SELECT now()".to_string()]);
        assert_eq!(o.server_version.as_deref(), Some("15.18 (Debian 15.18-0+deb12u1)"));
    }

    #[test]
    fn fixture_bad_password() {
        let chunks = fixture(include_str!("../../tests/fixtures/pgsql/badpass.txt"));
        let o = assert_bytewise_same(&chunks);
        assert_eq!(o.auth_method, Some(AuthMethod::Scram("SCRAM-SHA-256".into())));
        assert_eq!(o.auth_ok, Some(false));
        assert_eq!(o.errors, vec!["FATAL 28P01: password authentication failed for user \"scramuser\"".to_string()]);
        assert!(o.queries.is_empty());
    }

    #[test]
    fn fixture_ssl_require_hands_over_to_tls() {
        let chunks = fixture(include_str!("../../tests/fixtures/pgsql/ssl-require.txt"));
        let r = run(&chunks);
        assert_eq!(
            &r.feeds[..3],
            &[
                (ToServer, Feed::Continue),
                (ToClient, Feed::StartTls { offset: 1 }),
                (ToServer, Feed::StartTls { offset: 0 }),
            ]
        );
        let o = assert_bytewise_same(&chunks);
        assert!(o.tls_requested && !o.tls_refused);
        assert_eq!(o.tls_upgrade, Some(TlsUpgrade::PgSslRequest));
        assert_eq!(o.user, None);
        assert!(o.queries.is_empty());
        assert_eq!(o.plaintext_messages, 2);
    }

    // --- encryption negotiation ----------------------------------------------------------

    #[test]
    fn ssl_answer_sharing_a_chunk_with_tls() {
        // 'S' immediately followed by a (server) TLS record in the same chunk.
        let mut server = vec![b'S'];
        server.extend_from_slice(&[0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00]);
        let r = run(&[(ToServer, SSL_REQUEST.to_vec()), (ToClient, server)]);
        assert_eq!(r.feeds[1], (ToClient, Feed::StartTls { offset: 1 }));
    }

    #[test]
    fn ssl_refused_then_startup_in_clear() {
        let chunks = vec![
            (ToServer, SSL_REQUEST.to_vec()),
            (ToClient, vec![b'N']),
            (ToServer, STARTUP_BOB.to_vec()),
            (ToClient, [AUTH_OK.as_slice(), &READY_IDLE].concat()),
            (ToServer, msg(b'Q', b"select 1\0")),
        ];
        let o = assert_bytewise_same(&chunks);
        assert!(o.tls_requested && o.tls_refused);
        assert_eq!(o.user.as_deref(), Some("bob"));
        assert_eq!(o.database.as_deref(), Some("shop"));
        assert_eq!(o.auth_method, Some(AuthMethod::None));
        assert_eq!(o.queries, vec!["select ?".to_string()]);
    }

    #[test]
    fn client_hello_after_refusal_or_at_start_goes_to_tls() {
        let hello = vec![0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00];
        let r = run(&[(ToServer, SSL_REQUEST.to_vec()), (ToClient, vec![b'N']), (ToServer, hello.clone())]);
        assert_eq!(r.feeds[2], (ToServer, Feed::StartTls { offset: 0 }));
        let r = run(&[(ToServer, hello)]);
        assert_eq!(r.feeds[0], (ToServer, Feed::StartTls { offset: 0 }));
        assert_eq!(r.obs.plaintext_messages, 0);
    }

    #[test]
    fn old_server_answers_ssl_request_with_error() {
        let err = msg(b'E', b"SFATAL\0C08P01\0Munsupported frontend protocol 1234.5679\0\0");
        let r = run(&[(ToServer, SSL_REQUEST.to_vec()), (ToClient, err)]);
        assert!(r.obs.tls_refused);
        assert_eq!(r.obs.errors, vec!["FATAL 08P01: unsupported frontend protocol 1234.5679".to_string()]);
        // Not a failed login: no StartupMessage was sent.
        assert_eq!(r.obs.auth_ok, None);
    }

    #[test]
    fn gss_encryption_accepted_stops_both_directions() {
        let r = run(&[(ToServer, GSSENC_REQUEST.to_vec()), (ToClient, vec![b'G']), (ToServer, vec![0, 0, 0, 9, 1])]);
        assert_eq!(r.feeds[1], (ToClient, Feed::Stop));
        assert_eq!(r.feeds[2], (ToServer, Feed::Stop));
        assert!(r.obs.gss_requested && r.obs.gss_accepted);
    }

    #[test]
    fn gss_refused_then_ssl_then_startup() {
        let chunks = vec![
            (ToServer, GSSENC_REQUEST.to_vec()),
            (ToClient, vec![b'N']),
            (ToServer, SSL_REQUEST.to_vec()),
            (ToClient, vec![b'N']),
            (ToServer, STARTUP_BOB.to_vec()),
        ];
        let o = assert_bytewise_same(&chunks);
        assert!(o.gss_requested && !o.gss_accepted && o.tls_refused);
        assert_eq!(o.user.as_deref(), Some("bob"));
    }

    #[test]
    fn cancel_request_and_protocol_3_2() {
        let r = run(&[(ToServer, CANCEL_REQUEST.to_vec())]);
        assert_eq!(r.obs.plaintext_messages, 1);
        assert!(r.obs.anomalies.is_empty());
        let mut s32 = startup(&[("user", "carol")]);
        s32[4..8].copy_from_slice(&196610u32.to_be_bytes());
        let r = run(&[(ToServer, s32)]);
        assert_eq!(r.obs.user.as_deref(), Some("carol"));
    }

    // --- authentication --------------------------------------------------------------------

    #[test]
    fn cleartext_password_is_flagged_never_kept() {
        let chunks = vec![
            (ToServer, STARTUP_BOB.to_vec()),
            (ToClient, AUTH_CLEARTEXT.to_vec()),
            (ToServer, password_message()),
            (ToClient, [AUTH_OK.as_slice(), &READY_IDLE].concat()),
        ];
        let r = run(&chunks);
        let o = assert_bytewise_same(&chunks);
        assert!(o.cleartext_password_seen);
        assert_eq!(o.auth_method, Some(AuthMethod::Cleartext));
        assert_eq!(o.auth_ok, Some(true));
        assert!(!format!("{o:?}").contains(PASSWORD));
        assert!(!format!("{:?}", r.state).contains("Tr0ub"));
        // Split so the password straddles chunks: still never buffered.
        let pw = password_message();
        let mut split = chunks.clone();
        split.splice(2..3, [(ToServer, pw[..7].to_vec()), (ToServer, pw[7..].to_vec())]);
        let r = run(&split);
        assert!(r.obs.cleartext_password_seen);
        assert!(!format!("{:?}", r.state).contains("Tr0ub"));
    }

    #[test]
    fn md5_password_is_not_cleartext() {
        let chunks = vec![
            (ToServer, STARTUP_BOB.to_vec()),
            (ToClient, AUTH_MD5.to_vec()),
            (ToServer, msg(b'p', b"md5c0ffee\0")),
            (ToClient, AUTH_OK.to_vec()),
        ];
        let o = assert_bytewise_same(&chunks);
        assert_eq!(o.auth_method, Some(AuthMethod::Md5));
        assert!(!o.cleartext_password_seen);
    }

    #[test]
    fn sasl_mechanism_follows_the_clients_choice() {
        let sasl = msg(b'R', b"\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        let init = msg(b'p', b"SCRAM-SHA-256\0\x00\x00\x00\x05n,,n=");
        let r = run(&[(ToServer, STARTUP_BOB.to_vec()), (ToClient, sasl.clone())]);
        assert_eq!(r.obs.auth_method, Some(AuthMethod::Scram("SCRAM-SHA-256-PLUS".into())));
        let r = run(&[(ToServer, STARTUP_BOB.to_vec()), (ToClient, sasl), (ToServer, init)]);
        assert_eq!(r.obs.auth_method, Some(AuthMethod::Scram("SCRAM-SHA-256".into())));
    }

    #[test]
    fn login_without_role_fails() {
        let err = msg(b'E', b"SFATAL\0VFATAL\0C28000\0Mrole \"eve\" does not exist\0\0");
        let r = run(&[(ToServer, STARTUP_BOB.to_vec()), (ToClient, err)]);
        assert_eq!(r.obs.auth_ok, Some(false));
        assert_eq!(r.obs.errors, vec!["FATAL 28000: role \"eve\" does not exist".to_string()]);
    }

    #[test]
    fn trust_then_missing_role_is_a_failed_login() {
        // zeek psql-login-no-role: trust answers AuthenticationOk, then the role check fails.
        let err = msg(b'E', b"SFATAL\0VFATAL\0C28000\0Mrole \"test\" does not exist\0\0");
        let r = run(&[(ToServer, STARTUP_BOB.to_vec()), (ToClient, [AUTH_OK.as_slice(), &err].concat())]);
        assert_eq!(r.obs.auth_ok, Some(false));
        // A FATAL after the session is up (e.g. admin shutdown) is not a login failure.
        let bye = msg(b'E', b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0");
        let server = [AUTH_OK.as_slice(), &READY_IDLE, &bye].concat();
        let r = run(&[(ToServer, STARTUP_BOB.to_vec()), (ToClient, server)]);
        assert_eq!(r.obs.auth_ok, Some(true));
        assert_eq!(r.obs.errors.len(), 1);
        assert_eq!(r.obs.engine, EngineKind::Postgres);
    }

    #[test]
    fn error_after_login_keeps_auth_ok() {
        let err = msg(b'E', b"SERROR\0VERROR\0C42P01\0Mrelation \"nope\" does not exist\0P15\0\0");
        let r = run(&[(ToServer, STARTUP_BOB.to_vec()), (ToClient, [AUTH_OK.as_slice(), &err].concat())]);
        assert_eq!(r.obs.auth_ok, Some(true));
        assert_eq!(r.obs.errors, vec!["ERROR 42P01: relation \"nope\" does not exist".to_string()]);
    }

    #[test]
    fn parse_error_fields_is_lenient() {
        assert_eq!(parse_error_fields(b""), ErrorFields::default());
        let f = parse_error_fields(b"SFATAL\0MLogin\0Ccut-no-nul");
        assert_eq!(f.severity, Some(&b"FATAL"[..]));
        assert_eq!(f.message, Some(&b"Login"[..]));
        assert_eq!(f.code, Some(&b"cut-no-nul"[..]));
    }

    // --- queries ----------------------------------------------------------------------------

    #[test]
    fn extended_query_parse_is_recorded() {
        let parse = msg(b'P', b"s1\0SELECT * FROM t WHERE email = $1 AND n > 10\0\x00\x00");
        let bind = msg(b'B', b"\0s1\0\x00\x00\x00\x01\x00\x00\x00\x05alice\x00\x00");
        let chunks = vec![(ToServer, STARTUP_BOB.to_vec()), (ToServer, [parse, bind, msg(b'S', b"")].concat())];
        let o = assert_bytewise_same(&chunks);
        assert_eq!(o.queries, vec!["SELECT * FROM t WHERE email = $1 AND n > ?".to_string()]);
        assert!(!format!("{o:?}").contains("alice"));
    }

    #[test]
    fn long_query_is_cut_and_rest_skipped() {
        let cfg = EngineConfig { max_message: 32, ..Default::default() };
        let mut q = b"SELECT a, b, c, d, e FROM tbl WHERE x = 'secret secret secret'".to_vec();
        q.extend_from_slice(&[b' '; 5000]);
        q.push(0);
        let chunks = vec![(ToServer, STARTUP_BOB.to_vec()), (ToServer, [msg(b'Q', &q), msg(b'X', b"")].concat())];
        let r = run_with(&cfg, &chunks, false);
        assert_eq!(r.obs.queries, vec!["SELECT a, b, c, d, e FROM tbl WH…".to_string()]);
        assert!(r.state.side[0].buf.capacity() <= MAX_STARTUP_LEN as usize);
        assert_eq!(r.obs.plaintext_messages, 3); // startup, Q, X
        assert!(r.obs.anomalies.is_empty());
        // Same, byte by byte.
        let single: Vec<_> = chunks.iter().flat_map(|(d, v)| v.iter().map(move |b| (*d, vec![*b]))).collect();
        let r2 = run_with(&cfg, &single, false);
        assert_eq!(format!("{:?}", r.obs), format!("{:?}", r2.obs));
    }

    #[test]
    fn big_data_rows_are_skipped_without_buffering() {
        let row = msg(b'D', &[&[0x00, 0x01, 0x00, 0x0f, 0x42, 0x40][..], &vec![b'x'; 1_000_000]].concat());
        let server = [AUTH_OK.as_slice(), &row, &row, &READY_IDLE].concat();
        let chunks: Vec<_> = std::iter::once((ToServer, STARTUP_BOB.to_vec()))
            .chain(server.chunks(1460).map(|c| (ToClient, c.to_vec())))
            .collect();
        let r = run(&chunks);
        assert!(r.state.side[1].buf.capacity() < 64, "{}", r.state.side[1].buf.capacity());
        assert_eq!(r.obs.plaintext_messages, 1 + 4);
        assert!(r.obs.anomalies.is_empty());
    }

    // --- malformed and hostile input ----------------------------------------------------------

    #[test]
    fn zeek_bad_backend_message_length_below_four() {
        // Startup message from zeek's bad-backend-message-1 trace, then 'Z' with length 1.
        let client = unhex("000000130003000075736572007a65656b0000");
        let server = vec![/* 'Z' */ 0x5a, /* length 1 (< 4) */ 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
        let r = run(&[(ToServer, client), (ToClient, server)]);
        assert_eq!(r.obs.user.as_deref(), Some("zeek"));
        assert_eq!(r.obs.anomalies.len(), 1, "{:?}", r.obs.anomalies);
        assert_eq!(r.state.side[1].mode, Mode::Resync);
    }

    #[test]
    fn hostile_start_messages() {
        for bad in [
            vec![0xff, 0xff, 0xff, 0xff, 0x00, 0x03, 0x00, 0x00], // huge length
            vec![0x00, 0x00, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00], // length < 8
            vec![0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00], // startup without terminator
            vec![0x00, 0x00, 0x00, 0x09, 0x04, 0xd2, 0x16, 0x2f, 0], // SSLRequest with wrong length
            vec![0x00, 0x00, 0x00, 0x08, 0x00, 0xff, 0x00, 0xff], // unknown code (suricata UnknownMessage)
            vec![0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x00, 0, 0, 0, 0], // protocol 2.0
        ] {
            let r = run(&[(ToServer, bad.clone())]);
            assert_eq!(r.obs.user, None);
            assert_eq!(r.obs.anomalies.len(), 1, "{bad:02x?}: {:?}", r.obs.anomalies);
            assert_eq!(probe(ToServer, &bad, false), Probe::NoMatch, "{bad:02x?}");
        }
        // Key without value: startup parses to an anomaly, not a user.
        let odd = vec![0x00, 0x00, 0x00, 0x0e, 0x00, 0x03, 0x00, 0x00, b'u', b's', b'e', b'r', 0x00, 0x00];
        let r = run(&[(ToServer, odd)]);
        assert_eq!(r.obs.user, None);
        assert!(r.obs.anomalies[0].contains("malformed"), "{:?}", r.obs.anomalies);
    }

    #[test]
    fn truncated_messages_wait_for_more() {
        let st = STARTUP_BOB.to_vec();
        let r = run(&[(ToServer, st[..20].to_vec())]);
        assert_eq!(r.obs.user, None);
        assert_eq!(r.obs.plaintext_messages, 0);
        let r = run(&[(ToServer, st[..20].to_vec()), (ToServer, st[20..].to_vec())]);
        assert_eq!(r.obs.user.as_deref(), Some("bob"));
    }

    #[test]
    fn bad_typed_header_resyncs_on_next_good_chunk() {
        let chunks = vec![
            (ToServer, STARTUP_BOB.to_vec()),
            (ToServer, b"GET / HTTP/1.1\r\n".to_vec()),
            (ToServer, b"more junk".to_vec()),
            (ToServer, msg(b'Q', b"select 2\0")),
        ];
        let r = run(&chunks);
        assert_eq!(r.obs.anomalies.len(), 1);
        assert_eq!(r.obs.queries, vec!["select ?".to_string()]);
    }

    #[test]
    fn gap_inside_skipped_body_keeps_framing_else_resyncs() {
        let cfg = EngineConfig::default();
        let mut obs = Observed::default();
        let mut tls = None;
        let mut st = PgsqlState::new(false);
        let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
        st.feed(ToServer, &STARTUP_BOB, &mut cx);
        let row = msg(b'D', &[&[0x00, 0x01, 0x00, 0x00, 0x03, 0xe8][..], &[b'y'; 1000]].concat());
        st.feed(ToClient, &row[..100], &mut cx);
        st.gap(ToClient, 500, &mut cx);
        st.feed(ToClient, &row[600..], &mut cx);
        assert_eq!(st.side[1].mode, Mode::Typed);
        st.feed(ToClient, &READY_IDLE, &mut cx);
        // A gap across message boundaries loses framing: ignore chunks until one starts
        // with a header.
        st.feed(ToServer, &msg(b'Q', b"select 1\0")[..4], &mut cx);
        st.gap(ToServer, 10, &mut cx);
        assert_eq!(st.side[0].mode, Mode::Resync);
        st.feed(ToServer, b"t 1\0", &mut cx);
        assert_eq!(st.side[0].mode, Mode::Resync);
        st.feed(ToServer, &msg(b'Q', b"select 3\0"), &mut cx);
        assert_eq!(st.side[0].mode, Mode::Typed);
        assert_eq!(cx.obs.queries, vec!["select ?".to_string()]);
        assert!(cx.obs.anomalies.is_empty(), "{:?}", cx.obs.anomalies);
    }

    // --- mid-stream ----------------------------------------------------------------------------

    #[test]
    fn midstream_typed_messages() {
        // deepflow "error" trace style: a Query, then the server's ErrorResponse + Ready.
        let q = msg(b'Q', b"asdsdfdsf;\0");
        let err = msg(b'E', b"SERROR\0VERROR\0C42601\0Msyntax error at or near \"asdsdfdsf\"\0P1\0\0");
        let server = [err.as_slice(), &READY_IDLE].concat();
        assert_eq!(probe(ToServer, &q, true), Probe::Match);
        assert_eq!(probe(ToClient, &server, true), Probe::Match);
        // Partial single message: can't tell yet.
        assert_eq!(probe(ToServer, &q[..8], true), Probe::NeedMore);
        let chunks = vec![(ToServer, q), (ToClient, server)];
        let r = run_with(&EngineConfig::default(), &chunks, true);
        assert_eq!(r.obs.queries, vec!["asdsdfdsf;".to_string()]);
        assert_eq!(r.obs.errors.len(), 1);
        assert_eq!(r.obs.auth_ok, None);
        assert!(r.obs.engine_by_content);
        // Mid-stream the dissector replays the probed bytes as one chunk; after that,
        // any chunking gives the same result.
        let mut split = vec![chunks[0].clone()];
        split.push((ToClient, chunks[1].1[..10].to_vec()));
        split.extend(chunks[1].1[10..].iter().map(|b| (ToClient, vec![*b])));
        let bytes = run_with(&EngineConfig::default(), &split, true).obs;
        assert_eq!(format!("{bytes:?}"), format!("{:?}", r.obs));
    }

    #[test]
    fn midstream_session_parameters_fill_in_user() {
        let ps =
            [msg(b'S', b"session_authorization\0alice\0"), msg(b'S', b"application_name\0psql\0"), READY_IDLE.to_vec()]
                .concat();
        assert_eq!(probe(ToClient, &ps, true), Probe::Match);
        let r = run_with(&EngineConfig::default(), &[(ToClient, ps)], true);
        assert_eq!(r.obs.user.as_deref(), Some("alice"));
        assert_eq!(r.obs.application_name.as_deref(), Some("psql"));
        assert_eq!(r.obs.auth_method, None);
    }

    #[test]
    fn midstream_skips_until_aligned_chunk() {
        let row = msg(b'D', &[&[0x00, 0x01, 0x00, 0x00, 0x00, 0x10][..], &[b'z'; 16]].concat());
        let chunks = vec![
            (ToClient, row[3..].to_vec()),
            (ToClient, [row.as_slice(), &msg(b'C', b"SELECT 1\0"), &READY_IDLE].concat()),
        ];
        let r = run_with(&EngineConfig::default(), &chunks, true);
        assert_eq!(r.obs.plaintext_messages, 3);
        assert!(r.obs.anomalies.is_empty());
    }

    // --- probe ---------------------------------------------------------------------------------

    #[test]
    fn probe_start_messages() {
        assert_eq!(probe(ToServer, &SSL_REQUEST, false), Probe::Match);
        assert_eq!(probe(ToServer, &GSSENC_REQUEST, false), Probe::Match);
        assert_eq!(probe(ToServer, &CANCEL_REQUEST, false), Probe::Match);
        assert_eq!(probe(ToServer, &STARTUP_BOB, false), Probe::Match);
        assert_eq!(probe(ToServer, &STARTUP_BOB[..12], false), Probe::NeedMore);
        assert_eq!(probe(ToServer, &STARTUP_BOB[..16], false), Probe::Match);
        assert_eq!(probe(ToServer, &SSL_REQUEST[..5], false), Probe::NeedMore);
        assert_eq!(probe(ToServer, &[], false), Probe::NeedMore);
        // Start messages are fine mid-stream too (the dissector may not know).
        assert_eq!(probe(ToServer, &SSL_REQUEST, true), Probe::Match);
        // Startup whose last byte is not the terminator.
        let mut bad = STARTUP_BOB.to_vec();
        bad[40] = b'x';
        assert_eq!(probe(ToServer, &bad, false), Probe::NoMatch);
    }

    #[test]
    fn probe_rejects_other_protocols() {
        let http = b"GET / HTTP/1.1\r\nHost: db:5432\r\n\r\n";
        let http_resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        // MySQL 8 greeting: 3-byte length, sequence 0, protocol 10, version.
        let mysql = unhex("4a0000000a382e302e3333000d000000");
        // Contrived greeting whose length byte is 'R' (82): auth code would be "5.7.".
        let mysql_r = unhex("520000000a352e372e34340008000000");
        let hello = unhex("16030100c4010000c00303");
        for midstream in [false, true] {
            for dir in [ToServer, ToClient] {
                for (name, data) in [
                    ("http", &http[..]),
                    ("http-resp", &http_resp[..]),
                    ("mysql", &mysql[..]),
                    ("mysql-r", &mysql_r[..]),
                    ("tls", &hello[..]),
                ] {
                    assert_eq!(probe(dir, data, midstream), Probe::NoMatch, "{name} {dir:?} midstream={midstream}");
                }
            }
        }
    }

    #[test]
    fn probe_typed_needs_strong_evidence() {
        // One complete message with sane contents: match.
        assert_eq!(probe(ToClient, &READY_IDLE, true), Probe::Match);
        // 'Z' with a bad status byte.
        assert_eq!(probe(ToClient, &[0x5a, 0, 0, 0, 5, b'Q'], true), Probe::NoMatch);
        // Frontend-only type in the backend direction.
        assert_eq!(probe(ToClient, &msg(b'Q', b"x\0"), true), Probe::NoMatch);
        // Over 1 MiB: not plausible for a probe.
        assert_eq!(probe(ToClient, &[b'D', 0x10, 0, 0, 0, 0, 1], true), Probe::NoMatch);
        // Two headers, the second incomplete: match.
        let two = [msg(b'Q', b"select 1\0"), msg(b'Q', b"select 2\0")[..7].to_vec()].concat();
        assert_eq!(probe(ToServer, &two, true), Probe::Match);
        // Lone answer byte: cannot tell.
        assert_eq!(probe(ToClient, b"N", false), Probe::NeedMore);
    }

    // --- robustness ----------------------------------------------------------------------------

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn chunk() -> impl Strategy<Value = (bool, Vec<u8>)> {
            let bytes = prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                // Bias towards protocol-looking bytes.
                proptest::collection::vec(
                    prop_oneof![
                        Just(0u8),
                        Just(4u8),
                        Just(8u8),
                        Just(b'R'),
                        Just(b'Q'),
                        Just(b'S'),
                        Just(b'N'),
                        any::<u8>()
                    ],
                    0..64
                ),
            ];
            (any::<bool>(), bytes)
        }

        /// A plausible conversation: start-up, authentication, queries, results.
        fn conversation() -> impl Strategy<Value = Vec<(Direction, Vec<u8>)>> {
            let step = prop_oneof![
                "[a-z0-9 ,'=]{0,40}".prop_map(|q| (ToServer, msg(b'Q', format!("{q}\0").as_bytes()))),
                "[a-z ]{0,20}".prop_map(|q| (ToServer, msg(b'P', format!("\0{q}\0\0\0").as_bytes()))),
                (0usize..3000).prop_map(|n| (ToClient, msg(b'D', &vec![7u8; n]))),
                Just((ToClient, READY_IDLE.to_vec())),
                Just((ToClient, msg(b'S', b"server_version\x0016.1\0"))),
                Just((ToClient, msg(b'E', b"SERROR\0C42601\0Moops\0\0"))),
                Just((ToClient, AUTH_CLEARTEXT.to_vec())),
                Just((ToServer, password_message())),
                Just((ToClient, AUTH_OK.to_vec())),
            ];
            proptest::collection::vec(step, 0..12).prop_map(|steps| {
                let mut v =
                    vec![(ToServer, SSL_REQUEST.to_vec()), (ToClient, vec![b'N']), (ToServer, STARTUP_BOB.to_vec())];
                v.extend(steps);
                v
            })
        }

        proptest! {
            /// Chunk boundaries must not change what is observed.
            #[test]
            fn chunking_does_not_change_observations(
                conv in conversation(),
                cuts in proptest::collection::vec(1usize..50, 1..8),
            ) {
                let cfg = EngineConfig { max_message: 256, ..Default::default() };
                let whole = run_with(&cfg, &conv, false).obs;
                let mut split = Vec::new();
                for (i, (dir, data)) in conv.iter().enumerate() {
                    let mut rest = &data[..];
                    let mut k = i;
                    while !rest.is_empty() {
                        let n = cuts[k % cuts.len()].min(rest.len());
                        split.push((*dir, rest[..n].to_vec()));
                        rest = &rest[n..];
                        k += 1;
                    }
                }
                let pieces = run_with(&cfg, &split, false).obs;
                prop_assert_eq!(format!("{whole:?}"), format!("{pieces:?}"));
                let dump = format!("{whole:?}");
                prop_assert!(!dump.contains(PASSWORD));
            }

            #[test]
            fn arbitrary_chunks_never_panic(
                midstream in any::<bool>(),
                prefix in 0usize..4,
                chunks in proptest::collection::vec(chunk(), 0..24),
                gaps in proptest::collection::vec(any::<u16>(), 0..4),
            ) {
                let cfg = EngineConfig { max_message: 128, ..Default::default() };
                let mut obs = Observed::default();
                let mut tls = None;
                let mut st = PgsqlState::new(midstream);
                let mut cx = ConnCx { cfg: &cfg, obs: &mut obs, tls: &mut tls };
                // Optionally open with real start messages so deeper states are reached.
                let openers: [&[u8]; 4] = [&[], &SSL_REQUEST, &STARTUP_BOB, &GSSENC_REQUEST];
                st.feed(ToServer, openers[prefix], &mut cx);
                for (i, (to_server, data)) in chunks.iter().enumerate() {
                    let dir = if *to_server { ToServer } else { ToClient };
                    let _ = probe(dir, data, midstream);
                    if let Some(g) = gaps.get(i) {
                        if g % 5 == 0 {
                            st.gap(dir, u64::from(*g), &mut cx);
                        }
                    }
                    if let Feed::StartTls { offset } = st.feed(dir, data, &mut cx) {
                        prop_assert!(offset <= data.len());
                    }
                    for s in &st.side {
                        prop_assert!(s.buf.len() <= MAX_STARTUP_LEN as usize);
                    }
                }
            }
        }
    }
}
