//! Saved captures: pcap (µs and ns) and pcapng (several interfaces, each with its own
//! link type and timestamp resolution), read with pcap-parser.
//!
//! References:
//! - legacy pcap: draft-ietf-opsawg-pcap (file header §4, packet record §5) and
//!   <https://wiki.wireshark.org/Development/LibpcapFileFormat> (ns magic `a1b23c4d`).
//! - pcapng: draft-ietf-opsawg-pcapng (SHB §4.1, IDB §4.2 with `if_tsresol` and
//!   `if_tsoffset`, EPB §4.3, SPB §4.4).
//!
//! The reader streams: one buffer (1 MiB, grown for an oversized block up to
//! [`MAX_BUFFER`]) is refilled from the file, and packets are handed out as slices of
//! it. Nothing is allocated per packet: legacy records come from pcap-parser as plain
//! slices, and Enhanced Packet Blocks are read straight from the buffer (pcap-parser
//! would collect their options into a `Vec`); other pcapng blocks go through
//! pcap-parser.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pcap_parser::pcapng::{Block, InterfaceDescriptionBlock, OptionCode};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{LinkType, Packet, Timestamp};

/// Initial size of the streaming buffer.
const INITIAL_BUFFER: usize = 1 << 20;
/// Largest buffer we grow to for one oversized record or block. Real snap lengths are
/// at most 256 KiB; anything near this is a corrupt length field.
pub const MAX_BUFFER: usize = 64 << 20;

/// Why a capture file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a pcap or pcapng file")]
    NotACapture { path: PathBuf },
    #[error("{path}: {msg}")]
    Corrupt { path: PathBuf, msg: String },
}

/// Counters and warnings from reading one file.
#[derive(Debug, Clone, Default)]
pub struct ReadStats {
    pub packets: u64,
    /// Bytes of the file consumed.
    pub bytes_read: u64,
    /// Packets whose captured length is below their original length (snap length).
    pub snaplen_truncated: u64,
    /// Set when the file ends mid-record or holds a corrupt block: what was read before
    /// is still reported.
    pub warning: Option<String>,
    /// pcapng packets that name an interface no Interface Description Block declared
    /// (skipped).
    pub unknown_interface: u64,
    /// pcapng interfaces whose `if_tsresol` is out of range (µs assumed).
    pub bad_tsresol: u64,
    /// pcapng sections seen (Section Header Blocks).
    pub sections: u64,
}

impl ReadStats {
    /// Add the counters of another file read into the same analysis (warnings are left
    /// to the caller, which knows the file names).
    pub fn add(&mut self, o: &ReadStats) {
        self.packets += o.packets;
        self.bytes_read += o.bytes_read;
        self.snaplen_truncated += o.snaplen_truncated;
        self.unknown_interface += o.unknown_interface;
        self.bad_tsresol += o.bad_tsresol;
        self.sections += o.sections;
    }

    fn warn(&mut self, msg: String) {
        match &mut self.warning {
            Some(w) => {
                w.push_str("; ");
                w.push_str(&msg);
            }
            None => self.warning = Some(msg),
        }
    }
}

/// File format, from the magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Legacy pcap; `nanos` for the `a1b23c4d` magic, `big_endian` for the byte order
    /// the file was written in.
    Pcap { nanos: bool, big_endian: bool },
    /// pcapng (Section Header Block type `0a0d0d0a`).
    PcapNg,
}

/// An open capture file.
pub struct CaptureFile {
    path: PathBuf,
    format: CaptureFormat,
    /// The file is gzip-compressed (magic `1f 8b`, RFC 1952 §2.3.1); it is inflated as
    /// it is read, never whole.
    gzip: bool,
}

/// Gzip member magic (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Read into `buf` until it is full or the source ends; returns the bytes read.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A reader whose first error ends the stream instead, recording that it happened.
struct SoftEnd<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for SoftEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.failed.load(Ordering::Relaxed) {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.failed.store(true, Ordering::Relaxed);
                    return Ok(0);
                }
                ok => return ok,
            }
        }
    }
}

/// Buffer between the file and the gzip decoder (the inflated data goes to the
/// parser's own buffer).
const GZIP_INPUT_BUFFER: usize = 256 << 10;

/// Inflate a gzip stream as it is read. Several members in a row (`cat a.gz b.gz`) are
/// one stream, as gzip(1) treats them.
fn gunzip(file: File) -> flate2::read::MultiGzDecoder<std::io::BufReader<File>> {
    flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(GZIP_INPUT_BUFFER, file))
}

/// Recognise the first four bytes of a capture file.
fn format_from_magic(m: [u8; 4]) -> Option<CaptureFormat> {
    use CaptureFormat::*;
    Some(match m {
        [0xd4, 0xc3, 0xb2, 0xa1] => Pcap { nanos: false, big_endian: false },
        [0xa1, 0xb2, 0xc3, 0xd4] => Pcap { nanos: false, big_endian: true },
        [0x4d, 0x3c, 0xb2, 0xa1] => Pcap { nanos: true, big_endian: false },
        [0xa1, 0xb2, 0x3c, 0x4d] => Pcap { nanos: true, big_endian: true },
        // Kuznetzov's "modified" pcap (µs, little-endian only in pcap-parser).
        [0x34, 0xcd, 0xb2, 0xa1] => Pcap { nanos: false, big_endian: false },
        [0x0a, 0x0d, 0x0d, 0x0a] => PcapNg,
        _ => return None,
    })
}

impl CaptureFile {
    /// Open `path` and check its magic number. A gzip-compressed file is recognised by
    /// its own magic (not its name) and the capture's magic is read from inside it.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let io = |source| CaptureError::Io { path: path.to_path_buf(), source };
        let mut f = File::open(path).map_err(io)?;
        let mut magic = [0u8; 4];
        let mut got = read_up_to(&mut f, &mut magic).map_err(io)?;
        if got == 0 {
            return Err(CaptureError::Corrupt { path: path.to_path_buf(), msg: "empty file".into() });
        }
        let gzip = got >= 2 && magic[..2] == GZIP_MAGIC;
        if gzip {
            let f = File::open(path).map_err(io)?;
            magic = [0u8; 4];
            got = read_up_to(&mut gunzip(f), &mut magic).map_err(|e| CaptureError::Corrupt {
                path: path.to_path_buf(),
                msg: format!("gzip-compressed, but cannot be decompressed ({e})"),
            })?;
            if got == 0 {
                return Err(CaptureError::Corrupt {
                    path: path.to_path_buf(),
                    msg: "gzip-compressed, but empty inside".into(),
                });
            }
        }
        let format = if got < 4 { None } else { format_from_magic(magic) };
        match format {
            Some(format) => Ok(CaptureFile { path: path.to_path_buf(), format, gzip }),
            None => Err(CaptureError::NotACapture { path: path.to_path_buf() }),
        }
    }

    /// The file is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Timestamp of the first packet, or `None` when the file has no packet. Reads only
    /// as far as that packet.
    pub fn first_timestamp(&mut self) -> Result<Option<Timestamp>, CaptureError> {
        let mut first = None;
        self.read_packets(&mut |_| {}, &mut |pkt| {
            first = Some(pkt.ts);
            false
        })?;
        Ok(first)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    fn corrupt(&self, msg: String) -> CaptureError {
        CaptureError::Corrupt { path: self.path.clone(), msg }
    }

    /// Calls `on_packet` for every packet in file order, and `on_progress` with the
    /// number of file bytes consumed after each buffer refill.
    ///
    /// A file that ends mid-record or holds a corrupt block after a valid header gives
    /// `Ok` with what was read and [`ReadStats::warning`] set; a bad file header is an
    /// error.
    pub fn for_each(
        &mut self,
        on_progress: &mut dyn FnMut(u64),
        on_packet: &mut dyn FnMut(&Packet<'_>),
    ) -> Result<ReadStats, CaptureError> {
        self.read_packets(on_progress, &mut |pkt| {
            on_packet(pkt);
            true
        })
    }

    /// [`CaptureFile::for_each`] that stops as soon as `on_packet` returns false.
    fn read_packets(
        &mut self,
        on_progress: &mut dyn FnMut(u64),
        on_packet: &mut dyn FnMut(&Packet<'_>) -> bool,
    ) -> Result<ReadStats, CaptureError> {
        let file = File::open(&self.path).map_err(|source| CaptureError::Io { path: self.path.clone(), source })?;
        // Used to tell a record that runs past the end of the file from one that only
        // needs a bigger buffer, without allocating for a corrupt length. Unknown for a
        // compressed file: there the decoder reports a stream that ends early.
        let file_len = if self.gzip { u64::MAX } else { file.metadata().map(|m| m.len()).unwrap_or(u64::MAX) };
        // A damaged or cut gzip stream ends the input like the end of a file would, so
        // that everything inflated before is analysed; the flag turns it into a warning.
        let gzip_failed = Arc::new(AtomicBool::new(false));
        let source: Box<dyn Read + Send> = if self.gzip {
            Box::new(SoftEnd { inner: gunzip(file), failed: gzip_failed.clone() })
        } else {
            Box::new(file)
        };
        let header_error = |what: &str| {
            if self.gzip {
                format!("{what} (or the gzip stream is damaged)")
            } else {
                what.to_string()
            }
        };
        let mut rdr = match pcap_parser::create_reader(INITIAL_BUFFER, source) {
            Ok(r) => r,
            Err(PcapError::Eof) => return Err(self.corrupt("empty file".into())),
            Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                return Err(self.corrupt(header_error("file header truncated")))
            }
            Err(PcapError::ReadError) => return Err(self.corrupt(header_error("read error on file header"))),
            Err(_) => return Err(self.corrupt("bad pcap/pcapng file header".into())),
        };

        let mut st = ReadState::default();
        let mut stats = ReadStats::default();
        let mut capacity = INITIAL_BUFFER;
        // Data available before the last refill: a refill that adds nothing while the
        // parser still wants more means the buffer is full (or the parser cannot say
        // how much it needs).
        let mut stalled_at: Option<usize> = None;

        loop {
            // Common case first: a legacy record or an Enhanced Packet Block read straight
            // from the buffer. `consume_noshift`: the unread tail is moved to the front
            // once per refill, not every time half the buffer has been used.
            let fast = match st.legacy {
                Some(_) => st.fast_legacy(rdr.data(), &mut stats, on_packet),
                None => st.fast_epb(rdr.data(), &mut stats, on_packet),
            };
            if let Some(len) = fast {
                stalled_at = None;
                rdr.consume_noshift(len);
                if st.stop {
                    break;
                }
                continue;
            }
            let step = match rdr.next() {
                Ok((offset, block)) => {
                    st.handle(block, &mut stats, on_packet);
                    Step::Consume(offset)
                }
                Err(PcapError::Eof) => Step::Eof,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::ReadError) => Step::ReadError,
                Err(e) => Step::Corrupt(e.to_string()),
            };
            match step {
                Step::Consume(offset) => {
                    stalled_at = None;
                    rdr.consume(offset);
                    if st.stop {
                        break;
                    }
                }
                Step::Eof => break,
                Step::Refill | Step::Grow => {
                    let avail = rdr.data().len();
                    // A complete block that still does not parse is corrupt, not short.
                    if let Some(need) = st.next_record_len(rdr.data()) {
                        let left = file_len.saturating_sub(rdr.consumed() as u64);
                        if need > left && need <= MAX_BUFFER as u64 {
                            stats.warn(format!(
                                "file ends mid-record after {} packets (truncated capture)",
                                stats.packets
                            ));
                            break;
                        }
                        if need > MAX_BUFFER as u64 {
                            stats.warn(format!(
                                "corrupt record ({need} bytes announced) after {} packets; rest of file skipped",
                                stats.packets
                            ));
                            break;
                        }
                        if avail as u64 >= need {
                            stats.warn(format!("corrupt block after {} packets; rest of file skipped", stats.packets));
                            break;
                        }
                        if need as usize > capacity / 2 || matches!(step, Step::Grow) {
                            // pcap-parser wants the whole block in the buffer.
                            let want = (need as usize).saturating_mul(2).min(MAX_BUFFER);
                            if want > capacity {
                                if !rdr.grow(want) {
                                    stats.warn(format!(
                                        "cannot grow read buffer to {want} bytes after {} packets",
                                        stats.packets
                                    ));
                                    break;
                                }
                                capacity = want;
                            }
                        }
                    } else if matches!(step, Step::Grow) || stalled_at == Some(avail) {
                        if capacity >= MAX_BUFFER {
                            stats.warn(format!(
                                "block larger than {} MiB after {} packets; rest of file skipped",
                                MAX_BUFFER >> 20,
                                stats.packets
                            ));
                            break;
                        }
                        let want = capacity.saturating_mul(2).min(MAX_BUFFER);
                        if !rdr.grow(want) {
                            stats.warn(format!("cannot grow read buffer after {} packets", stats.packets));
                            break;
                        }
                        capacity = want;
                    }
                    stalled_at = Some(avail);
                    if rdr.refill().is_err() {
                        stats.warn(format!("read error after {} packets", stats.packets));
                        break;
                    }
                    on_progress(rdr.consumed() as u64);
                }
                Step::Truncated => {
                    stats.warn(format!("file ends mid-record after {} packets (truncated capture)", stats.packets));
                    break;
                }
                Step::ReadError => {
                    stats.warn(format!("read error after {} packets", stats.packets));
                    break;
                }
                Step::Corrupt(e) => {
                    stats.warn(format!("corrupt block after {} packets ({e}); rest of file skipped", stats.packets));
                    break;
                }
            }
        }
        stats.bytes_read = rdr.consumed() as u64;
        if gzip_failed.load(Ordering::Relaxed) {
            stats
                .warn(format!("compressed data damaged or cut short (truncated .gz?) after {} packets", stats.packets));
        }
        if stats.unknown_interface > 0 {
            let n = stats.unknown_interface;
            stats.warn(format!("{n} packets on undeclared pcapng interfaces skipped"));
        }
        if stats.bad_tsresol > 0 {
            let n = stats.bad_tsresol;
            stats.warn(format!("{n} pcapng interfaces with invalid if_tsresol (µs assumed)"));
        }
        Ok(stats)
    }
}

/// What to do after one `next()`; owns nothing from the reader's buffer so the reader
/// can be mutated afterwards.
enum Step {
    Consume(usize),
    Eof,
    Refill,
    Grow,
    Truncated,
    ReadError,
    Corrupt(String),
}

/// One pcapng interface (IDB, draft-ietf-opsawg-pcapng §4.2).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    /// Timestamp units per second (`if_tsresol`, §4.2 option 9).
    units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`, §4.2 option 14).
    offset_secs: i64,
}

#[derive(Default)]
struct ReadState {
    /// Legacy pcap: link type, whether the fraction field counts nanoseconds, and
    /// whether the file is big-endian.
    legacy: Option<(LinkType, bool, bool)>,
    /// Legacy pcap in Kuznetzov's modified format (24-byte record headers).
    legacy_modified: bool,
    /// pcapng: interfaces of the current section, by index.
    ifaces: Vec<Interface>,
    /// pcapng: byte order of the current section.
    big_endian: bool,
    /// Timestamp of the previous packet, lent to Simple Packet Blocks (which have none)
    /// so time-based logic downstream sees a plausible clock.
    last_ts: Timestamp,
    /// The consumer asked to stop.
    stop: bool,
}

impl ReadState {
    fn handle(
        &mut self,
        block: PcapBlockOwned<'_>,
        stats: &mut ReadStats,
        on_packet: &mut dyn FnMut(&Packet<'_>) -> bool,
    ) {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.legacy = Some((LinkType(h.network.0 as u32), h.is_nanosecond_precision(), h.is_bigendian()));
                self.legacy_modified = h.is_modified_format();
            }
            PcapBlockOwned::Legacy(b) => {
                let (link, nanos, _) = self.legacy.unwrap_or((LinkType::ETHERNET, false, false));
                let frac = if nanos { b.ts_usec as u64 } else { b.ts_usec as u64 * 1000 };
                let ts = Timestamp((b.ts_sec as u64 * 1_000_000_000).saturating_add(frac));
                self.stop |= !deliver(stats, on_packet, ts, link, b.data, b.origlen);
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                // §4.1: interface indexes restart in every section.
                self.ifaces.clear();
                self.big_endian = shb.big_endian();
                stats.sections += 1;
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let iface = interface_from_idb(&idb, self.big_endian, stats);
                self.ifaces.push(iface);
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.ifaces.get(epb.if_id as usize) else {
                    stats.unknown_interface += 1;
                    return;
                };
                let ts = ng_timestamp(epb.ts_high, epb.ts_low, iface);
                self.last_ts = ts;
                self.stop |= !deliver(stats, on_packet, ts, iface.link, epb.packet_data(), epb.origlen);
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                // §4.4: an SPB belongs to interface 0 and has no timestamp.
                let Some(iface) = self.ifaces.first() else {
                    stats.unknown_interface += 1;
                    return;
                };
                let mut data = spb.packet_data();
                if iface.snaplen != 0 && data.len() > iface.snaplen as usize {
                    data = data.get(..iface.snaplen as usize).unwrap_or(data);
                }
                self.stop |= !deliver(stats, on_packet, self.last_ts, iface.link, data, spb.origlen);
            }
            PcapBlockOwned::NG(_) => {}
        }
    }

    /// Deliver the legacy pcap record (draft-ietf-opsawg-pcap §5: ts_sec, ts_frac,
    /// caplen, origlen, then caplen bytes) at the start of `data` without going through
    /// pcap-parser's iterator, the per-packet cost that matters most on big files. The
    /// record is read exactly as pcap-parser reads it. Returns the record length to
    /// consume, or `None` when the record is incomplete (or the format is the modified
    /// one), leaving it to pcap-parser and the refill logic.
    fn fast_legacy(
        &mut self,
        data: &[u8],
        stats: &mut ReadStats,
        on_packet: &mut dyn FnMut(&Packet<'_>) -> bool,
    ) -> Option<usize> {
        let (link, nanos, be) = self.legacy?;
        if self.legacy_modified {
            return None;
        }
        let hdr: &[u8; 16] = data.get(..16)?.try_into().ok()?;
        let word = |at: usize| {
            let b = [hdr[at], hdr[at + 1], hdr[at + 2], hdr[at + 3]];
            if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (ts_sec, ts_frac, caplen, origlen) = (word(0), word(4), word(8) as usize, word(12));
        let pkt = data.get(16..16usize.checked_add(caplen)?)?;
        let frac = if nanos { u64::from(ts_frac) } else { u64::from(ts_frac) * 1000 };
        let ts = Timestamp((u64::from(ts_sec) * 1_000_000_000).saturating_add(frac));
        self.stop |= !deliver(stats, on_packet, ts, link, pkt, origlen);
        Some(16 + caplen)
    }

    /// Deliver an Enhanced Packet Block (§4.3) at the start of `data` without going
    /// through pcap-parser, which collects EPB options into a `Vec` (an allocation per
    /// packet when options are present; we ignore them). Returns the block length to
    /// consume, or `None` to let pcap-parser handle whatever is there (another block
    /// type, a partial block, or anything malformed).
    fn fast_epb(
        &mut self,
        data: &[u8],
        stats: &mut ReadStats,
        on_packet: &mut dyn FnMut(&Packet<'_>) -> bool,
    ) -> Option<usize> {
        if self.legacy.is_some() || stats.sections == 0 {
            return None;
        }
        let be = self.big_endian;
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(if be { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
        };
        if word(0)? != 6 {
            return None;
        }
        let len = word(4)? as usize;
        if len < 32 || len % 4 != 0 || data.len() < len || word(len - 4)? as usize != len {
            return None;
        }
        let (if_id, high, low) = (word(8)?, word(12)?, word(16)?);
        let (caplen, origlen) = (word(20)? as usize, word(24)?);
        if caplen > len - 32 {
            return None;
        }
        let pkt = data.get(28..28 + caplen)?;
        match self.ifaces.get(if_id as usize) {
            Some(iface) => {
                let ts = ng_timestamp(high, low, iface);
                self.last_ts = ts;
                self.stop |= !deliver(stats, on_packet, ts, iface.link, pkt, origlen);
            }
            None => stats.unknown_interface += 1,
        }
        Some(len)
    }

    /// Size of the record or block at the start of `data`, read from its header, when
    /// the header itself is present.
    fn next_record_len(&self, data: &[u8]) -> Option<u64> {
        let word = |at: usize, be: bool| -> Option<u32> {
            let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
            Some(if be { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
        };
        if let Some((_, _, be)) = self.legacy {
            // Record header: ts_sec, ts_frac, caplen, origlen (16 bytes; the modified
            // format has 24 but shares the caplen position).
            return Some(16 + word(8, be)? as u64);
        }
        // A new SHB may switch byte order; its length field is read in its own order.
        if data.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            let bom = data.get(8..12)?;
            let be = bom == [0x1a, 0x2b, 0x3c, 0x4d];
            return Some(word(4, be)? as u64);
        }
        Some(word(4, self.big_endian)? as u64)
    }
}

/// Hand one packet out; false when the consumer wants no more.
fn deliver(
    stats: &mut ReadStats,
    on_packet: &mut dyn FnMut(&Packet<'_>) -> bool,
    ts: Timestamp,
    link: LinkType,
    data: &[u8],
    orig_len: u32,
) -> bool {
    let pkt = Packet { ts, link, data, orig_len };
    stats.packets += 1;
    if pkt.truncated() {
        stats.snaplen_truncated += 1;
    }
    on_packet(&pkt)
}

fn interface_from_idb(idb: &InterfaceDescriptionBlock<'_>, big_endian: bool, stats: &mut ReadStats) -> Interface {
    let mut tsresol: u8 = 6; // §4.2: default resolution is 10^-6 s.
    let mut offset_secs: i64 = 0;
    for opt in &idb.options {
        let Ok(v) = opt.as_bytes() else { continue };
        match opt.code {
            OptionCode::IfTsresol => {
                if let Some(&r) = v.first() {
                    tsresol = r;
                }
            }
            OptionCode::IfTsoffset => {
                // Read in the section's byte order (pcap-parser always reads LE).
                if let Some(b) = v.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                    offset_secs = if big_endian { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) };
                }
            }
            _ => {}
        }
    }
    let units_per_sec = match units_per_sec(tsresol) {
        Some(u) => u,
        None => {
            stats.bad_tsresol += 1;
            1_000_000
        }
    };
    Interface { link: LinkType(idb.linktype.0 as u32), snaplen: idb.snaplen, units_per_sec, offset_secs }
}

/// `if_tsresol` (§4.2): high bit clear → 10^-n s, set → 2^-n s.
fn units_per_sec(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else if n < 64 {
        Some(1u64 << n)
    } else {
        None
    }
}

/// EPB timestamp (§4.3): 64-bit count of interface time units, plus `if_tsoffset`
/// seconds. Out-of-range results saturate rather than wrap.
fn ng_timestamp(high: u32, low: u32, iface: &Interface) -> Timestamp {
    let units = (u64::from(high) << 32) | u64::from(low);
    let per = iface.units_per_sec.max(1);
    let secs = i128::from(units / per) + i128::from(iface.offset_secs);
    let frac = u128::from(units % per);
    let nanos = (frac * 1_000_000_000 / u128::from(per)) as u32;
    let secs = secs.clamp(0, i128::from(u64::MAX)) as u64;
    Timestamp::from_secs_nanos(secs, nanos)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A file in the temp dir, removed on drop.
    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        pub(crate) fn new(name: &str, bytes: &[u8]) -> TempFile {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("dbwire-capture-{}-{n}-{name}", std::process::id()));
            std::fs::write(&p, bytes).expect("write temp file");
            TempFile(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// (timestamp, link type, captured bytes, original length) of every packet.
    type Got = Vec<(Timestamp, LinkType, Vec<u8>, u32)>;

    fn read_all(path: &Path) -> Result<(Got, ReadStats, Vec<u64>), CaptureError> {
        let mut got = Vec::new();
        let mut progress = Vec::new();
        let mut f = CaptureFile::open(path)?;
        let stats =
            f.for_each(&mut |n| progress.push(n), &mut |p| got.push((p.ts, p.link, p.data.to_vec(), p.orig_len)))?;
        Ok((got, stats, progress))
    }

    fn u16b(v: u16, be: bool) -> [u8; 2] {
        if be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32b(v: u32, be: bool) -> [u8; 4] {
        if be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Legacy pcap file header (draft-ietf-opsawg-pcap §4).
    fn pcap_header(be: bool, nanos: bool, link: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, be)); // magic
        v.extend(u16b(2, be)); // version major
        v.extend(u16b(4, be)); // version minor
        v.extend(u32b(0, be)); // thiszone
        v.extend(u32b(0, be)); // sigfigs
        v.extend(u32b(65535, be)); // snaplen
        v.extend(u32b(link, be)); // LinkType
        v
    }

    /// Legacy pcap record (§5): ts_sec, ts_frac, caplen, origlen, data.
    fn pcap_record(be: bool, sec: u32, frac: u32, data: &[u8], orig: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(u32b(sec, be));
        v.extend(u32b(frac, be));
        v.extend(u32b(data.len() as u32, be));
        v.extend(u32b(orig, be));
        v.extend(data);
        v
    }

    /// A pcapng block (§3.1): type, total length, body padded to 32 bits, length again.
    fn ng_block(be: bool, ty: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let mut v = Vec::new();
        v.extend(u32b(ty, be));
        v.extend(u32b(len, be));
        v.extend(body);
        v.extend(u32b(len, be));
        v
    }

    /// Section Header Block (§4.1): byte-order magic, version 1.0, section length -1.
    fn shb(be: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(u32b(0x1a2b_3c4d, be)); // byte-order magic
        b.extend(u16b(1, be)); // major
        b.extend(u16b(0, be)); // minor
        b.extend([0xff; 8]); // section length: unknown
        ng_block(be, 0x0a0d_0d0a, &b)
    }

    /// Interface Description Block (§4.2) with optional if_tsresol / if_tsoffset.
    fn idb(be: bool, link: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(u16b(link, be)); // LinkType
        b.extend(u16b(0, be)); // reserved
        b.extend(u32b(0, be)); // SnapLen: none
        if let Some(r) = tsresol {
            b.extend(u16b(9, be)); // option code if_tsresol
            b.extend(u16b(1, be)); // option length
            b.extend([r, 0, 0, 0]); // value + padding
        }
        if let Some(o) = tsoffset {
            b.extend(u16b(14, be)); // option code if_tsoffset
            b.extend(u16b(8, be));
            b.extend(if be { o.to_be_bytes() } else { o.to_le_bytes() });
        }
        if tsresol.is_some() || tsoffset.is_some() {
            b.extend([0, 0, 0, 0]); // opt_endofopt
        }
        ng_block(be, 0x0000_0001, &b)
    }

    /// Enhanced Packet Block (§4.3).
    fn epb(be: bool, if_id: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(u32b(if_id, be)); // Interface ID
        b.extend(u32b((ts >> 32) as u32, be)); // Timestamp (upper)
        b.extend(u32b(ts as u32, be)); // Timestamp (lower)
        b.extend(u32b(data.len() as u32, be)); // Captured Packet Length
        b.extend(u32b(orig, be)); // Original Packet Length
        b.extend(data);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        ng_block(be, 0x0000_0006, &b)
    }

    /// Simple Packet Block (§4.4).
    fn spb(be: bool, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(u32b(data.len() as u32, be)); // Original Packet Length
        b.extend(data);
        ng_block(be, 0x0000_0003, &b)
    }

    const SEC: u32 = 1_700_000_000;

    #[test]
    fn pcap_microseconds_little_endian() {
        let mut f = pcap_header(false, false, 1);
        f.extend(pcap_record(false, SEC, 123_456, &[1, 2, 3, 4], 4));
        f.extend(pcap_record(false, SEC + 1, 999_999, &[5, 6], 60));
        let t = TempFile::new("us-le.pcap", &f);
        let cf = CaptureFile::open(&t.0).unwrap();
        assert_eq!(cf.format(), CaptureFormat::Pcap { nanos: false, big_endian: false });
        let (got, st, progress) = read_all(&t.0).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, Timestamp(SEC as u64 * 1_000_000_000 + 123_456_000));
        assert_eq!(got[1].0, Timestamp((SEC as u64 + 1) * 1_000_000_000 + 999_999_000));
        assert_eq!(got[0].1, LinkType::ETHERNET);
        assert_eq!(got[0].2, vec![1, 2, 3, 4]);
        assert_eq!(got[1].3, 60);
        assert_eq!(st.packets, 2);
        assert_eq!(st.snaplen_truncated, 1);
        assert_eq!(st.bytes_read, f.len() as u64);
        assert!(st.warning.is_none(), "{:?}", st.warning);
        assert!(!progress.is_empty());
        assert!(progress.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn pcap_nanoseconds_big_endian() {
        let mut f = pcap_header(true, true, 101);
        f.extend(pcap_record(true, SEC, 999_999_999, &[0x45, 0, 0, 20], 4));
        f.extend(pcap_record(true, SEC, 1, &[0x60], 1));
        let t = TempFile::new("ns-be.pcap", &f);
        assert_eq!(CaptureFile::open(&t.0).unwrap().format(), CaptureFormat::Pcap { nanos: true, big_endian: true });
        let (got, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 2);
        assert_eq!(got[0].0, Timestamp(SEC as u64 * 1_000_000_000 + 999_999_999));
        assert_eq!(got[1].0, Timestamp(SEC as u64 * 1_000_000_000 + 1));
        assert_eq!(got[0].1, LinkType::RAW);
        assert_eq!(got[0].2, vec![0x45, 0, 0, 20]);
    }

    #[test]
    fn pcap_other_two_magics() {
        for (be, nanos) in [(true, false), (false, true)] {
            let mut f = pcap_header(be, nanos, 113);
            f.extend(pcap_record(be, SEC, 7, &[9; 3], 3));
            let t = TempFile::new("magic.pcap", &f);
            let (got, st, _) = read_all(&t.0).unwrap();
            assert_eq!(st.packets, 1);
            assert_eq!(got[0].1, LinkType::LINUX_SLL);
            let frac = if nanos { 7 } else { 7_000 };
            assert_eq!(got[0].0, Timestamp(SEC as u64 * 1_000_000_000 + frac));
        }
    }

    #[test]
    fn pcapng_two_interfaces_nanosecond_resolution() {
        let ts0: u64 = SEC as u64 * 1_000_000_000 + 123_456_789;
        let mut f = shb(false);
        f.extend(idb(false, 1, Some(9), None)); // interface 0: Ethernet, ns
        f.extend(idb(false, 276, Some(9), None)); // interface 1: SLL2, ns
        f.extend(epb(false, 0, ts0, &[0xaa; 5], 5));
        f.extend(epb(false, 1, ts0 + 1, &[0xbb; 7], 100));
        f.extend(epb(false, 7, ts0 + 2, &[0xcc; 3], 3)); // no such interface
        f.extend(spb(false, &[0xdd; 6])); // interface 0, no timestamp
        let t = TempFile::new("two-if.pcapng", &f);
        assert_eq!(CaptureFile::open(&t.0).unwrap().format(), CaptureFormat::PcapNg);
        let (got, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 3);
        assert_eq!(got[0].0, Timestamp(ts0));
        assert_eq!(got[0].1, LinkType::ETHERNET);
        assert_eq!(got[0].2, vec![0xaa; 5]);
        assert_eq!(got[1].0, Timestamp(ts0 + 1));
        assert_eq!(got[1].1, LinkType::LINUX_SLL2);
        assert_eq!(got[1].2, vec![0xbb; 7]);
        assert_eq!(got[1].3, 100);
        assert_eq!(got[2].1, LinkType::ETHERNET);
        assert_eq!(got[2].2, vec![0xdd; 6]);
        assert_eq!(got[2].0, Timestamp(ts0 + 1)); // SPB: previous packet's time
        assert_eq!(st.snaplen_truncated, 1);
        assert_eq!(st.unknown_interface, 1);
        assert!(st.warning.as_deref().unwrap_or("").contains("undeclared"), "{:?}", st.warning);
    }

    #[test]
    fn pcapng_default_and_binary_resolution_and_offset() {
        let mut f = shb(false);
        f.extend(idb(false, 1, None, None)); // µs (default)
        f.extend(idb(false, 1, Some(0x80 | 10), Some(100))); // 2^-10 s, +100 s
        f.extend(epb(false, 0, SEC as u64 * 1_000_000 + 5, &[1], 1));
        f.extend(epb(false, 1, 3 * 1024 + 512, &[2], 1));
        let t = TempFile::new("resol.pcapng", &f);
        let (got, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 2);
        assert_eq!(got[0].0, Timestamp(SEC as u64 * 1_000_000_000 + 5_000));
        assert_eq!(got[1].0, Timestamp(103 * 1_000_000_000 + 500_000_000));
    }

    #[test]
    fn pcapng_several_sections_and_byte_orders() {
        let mut f = shb(false);
        f.extend(idb(false, 1, None, None));
        f.extend(epb(false, 0, 1_000_000, &[1], 1));
        f.extend(shb(true)); // new section, big-endian: interfaces restart
        f.extend(idb(true, 113, Some(9), Some(-1)));
        f.extend(epb(true, 0, 2_000_000_000, &[2, 2], 2));
        f.extend(epb(true, 1, 0, &[3], 1)); // interface 1 only existed... nowhere
        let t = TempFile::new("sections.pcapng", &f);
        let (got, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.sections, 2);
        assert_eq!(st.packets, 2);
        assert_eq!(got[0].1, LinkType::ETHERNET);
        assert_eq!(got[0].0, Timestamp(1_000_000_000));
        assert_eq!(got[1].1, LinkType::LINUX_SLL);
        assert_eq!(got[1].0, Timestamp(1_000_000_000)); // 2 s - 1 s offset
        assert_eq!(got[1].2, vec![2, 2]);
        assert_eq!(st.unknown_interface, 1);
    }

    #[test]
    fn truncated_pcap_keeps_complete_packets() {
        let mut f = pcap_header(false, false, 1);
        for i in 0..3 {
            f.extend(pcap_record(false, SEC, i, &[i as u8; 40], 40));
        }
        let cut = &f[..f.len() - 10];
        let t = TempFile::new("trunc.pcap", cut);
        let (got, st, _) = read_all(&t.0).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(st.packets, 2);
        let w = st.warning.expect("warning");
        assert!(w.contains("after 2 packets") && w.contains("truncated"), "{w}");
        // Cut inside a record header.
        let t = TempFile::new("trunc2.pcap", &f[..24 + 56 + 5]);
        let (_, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 1);
        assert!(st.warning.is_some());
    }

    #[test]
    fn truncated_pcapng_keeps_complete_packets() {
        let mut f = shb(false);
        f.extend(idb(false, 1, None, None));
        for i in 0..4 {
            f.extend(epb(false, 0, i, &[7; 30], 30));
        }
        let t = TempFile::new("trunc.pcapng", &f[..f.len() - 1]);
        let (_, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 3);
        assert!(st.warning.expect("warning").contains("after 3 packets"));
    }

    #[test]
    fn corrupt_block_after_packets_is_a_warning() {
        let mut f = shb(false);
        f.extend(idb(false, 1, None, None));
        f.extend(epb(false, 0, 1, &[7; 30], 30));
        // An EPB whose captured length exceeds its block.
        let mut bad = epb(false, 0, 2, &[7; 8], 8);
        bad[20..24].copy_from_slice(&1000u32.to_le_bytes());
        f.extend(bad);
        f.extend(epb(false, 0, 3, &[7; 30], 30));
        let t = TempFile::new("corrupt.pcapng", &f);
        let (_, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 1);
        assert!(st.warning.expect("warning").contains("after 1 packets"));

        // A block length below the minimum.
        let mut f = shb(false);
        f.extend(idb(false, 1, None, None));
        f.extend(epb(false, 0, 1, &[7; 30], 30));
        f.extend([6, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        let t = TempFile::new("corrupt2.pcapng", &f);
        let (_, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 1);
        assert!(st.warning.is_some());
    }

    #[test]
    fn absurd_record_length_is_a_warning() {
        let mut f = pcap_header(false, false, 1);
        f.extend(pcap_record(false, SEC, 0, &[1; 20], 20));
        let mut bad = pcap_record(false, SEC, 0, &[1; 20], 20);
        bad[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        f.extend(bad);
        let t = TempFile::new("huge.pcap", &f);
        let (_, st, _) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, 1);
        assert!(st.warning.is_some());
    }

    #[test]
    fn record_larger_than_initial_buffer() {
        let big = vec![0x5a; INITIAL_BUFFER + 12345];
        let mut f = pcap_header(false, false, 1);
        f.extend(pcap_record(false, SEC, 0, &[1; 20], 20));
        f.extend(pcap_record(false, SEC, 1, &big, big.len() as u32));
        f.extend(pcap_record(false, SEC, 2, &[2; 20], 20));
        let t = TempFile::new("bigrec.pcap", &f);
        let (got, st, _) = read_all(&t.0).unwrap();
        assert!(st.warning.is_none(), "{:?}", st.warning);
        assert_eq!(st.packets, 3);
        assert_eq!(got[1].2.len(), big.len());
        assert_eq!(got[2].2, vec![2; 20]);
    }

    #[test]
    fn many_packets_across_refills() {
        let mut f = pcap_header(false, false, 1);
        let n = 40_000u32; // ~3.5 MiB: several buffer refills
        for i in 0..n {
            f.extend(pcap_record(false, SEC, i, &[i as u8; 72], 72));
        }
        let t = TempFile::new("many.pcap", &f);
        let (got, st, progress) = read_all(&t.0).unwrap();
        assert_eq!(st.packets, n as u64);
        assert_eq!(got.last().unwrap().0, Timestamp(SEC as u64 * 1_000_000_000 + (n as u64 - 1) * 1000));
        assert!(progress.len() >= 3, "{progress:?}");
        assert_eq!(st.bytes_read, f.len() as u64);
    }

    #[test]
    fn not_a_capture_empty_missing_and_bad_header() {
        let t = TempFile::new("notes.txt", b"hello, this is text\n");
        let e = CaptureFile::open(&t.0).err().expect("error");
        assert!(matches!(e, CaptureError::NotACapture { .. }));
        let msg = e.to_string();
        assert!(msg.contains("notes.txt") && !msg.contains('\n'), "{msg}");

        let t = TempFile::new("empty.pcap", b"");
        let e = CaptureFile::open(&t.0).err().expect("error");
        assert!(e.to_string().contains("empty.pcap"));

        let missing = std::env::temp_dir().join("dbwire-no-such-file.pcap");
        let e = CaptureFile::open(&missing).err().expect("error");
        assert!(matches!(e, CaptureError::Io { .. }));
        assert!(e.to_string().contains("dbwire-no-such-file.pcap"));

        // Right magic, header cut short: an error, not a warning.
        let t = TempFile::new("short.pcap", &pcap_header(false, false, 1)[..10]);
        let mut cf = CaptureFile::open(&t.0).unwrap();
        assert!(cf.for_each(&mut |_| {}, &mut |_| {}).is_err());

        // pcapng magic with a garbage section header.
        let t = TempFile::new("bad.pcapng", &[0x0a, 0x0d, 0x0d, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9]);
        let mut cf = CaptureFile::open(&t.0).unwrap();
        assert!(cf.for_each(&mut |_| {}, &mut |_| {}).is_err());
    }

    #[test]
    fn pcapng_epb_with_options() {
        for be in [false, true] {
            let mut body = Vec::new();
            body.extend(u32b(0, be)); // Interface ID
            body.extend(u32b(0, be)); // Timestamp (upper)
            body.extend(u32b(42, be)); // Timestamp (lower)
            body.extend(u32b(3, be)); // Captured Packet Length
            body.extend(u32b(3, be)); // Original Packet Length
            body.extend([1, 2, 3, /* padding */ 0]);
            body.extend(u16b(1, be)); // opt_comment
            body.extend(u16b(5, be));
            body.extend(b"hello\0\0\0"); // value + padding
            body.extend(u16b(2, be)); // epb_flags
            body.extend(u16b(4, be));
            body.extend(u32b(1, be)); // inbound
            body.extend([0, 0, 0, 0]); // opt_endofopt
            let mut f = shb(be);
            f.extend(idb(be, 1, None, None));
            f.extend(ng_block(be, 6, &body));
            f.extend(epb(be, 0, 43, &[4], 1));
            let t = TempFile::new("epb-opts.pcapng", &f);
            let (got, st, _) = read_all(&t.0).unwrap();
            assert!(st.warning.is_none(), "{:?}", st.warning);
            assert_eq!(st.packets, 2);
            assert_eq!(got[0].2, vec![1, 2, 3]);
            assert_eq!(got[0].0, Timestamp(42_000));
            assert_eq!(got[1].2, vec![4]);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Damaged files never panic or hang: either an error or partial results.
        #[test]
        fn damaged_files_never_panic(
            ng in proptest::prelude::any::<bool>(),
            flips in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 1..8),
            cut in 0usize..400,
        ) {
            let mut f = if ng {
                let mut f = shb(false);
                f.extend(idb(false, 1, Some(9), Some(5)));
                f.extend(epb(false, 0, 1, &[7; 40], 40));
                f.extend(spb(false, &[8; 20]));
                f.extend(epb(false, 0, 2, &[9; 50], 60));
                f
            } else {
                let mut f = pcap_header(false, true, 1);
                for i in 0..5 {
                    f.extend(pcap_record(false, SEC, i, &[i as u8; 50], 60));
                }
                f
            };
            for (at, v) in flips {
                let n = f.len();
                if let Some(b) = f.get_mut(at % n) {
                    *b = v;
                }
            }
            f.truncate(cut.max(4));
            let t = TempFile::new("damaged", &f);
            if let Ok(mut cf) = CaptureFile::open(&t.0) {
                let _ = cf.for_each(&mut |_| {}, &mut |_| {});
            }
        }
    }

    /// The shared corpus of real captures, when present (never copied into the repo).
    pub(crate) fn shared_captures() -> Option<PathBuf> {
        [
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/captures"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/captures"),
            "/work/shared/captures",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("captures.json").is_file())
    }

    pub(crate) fn shared_capture_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read captures dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".pcap") || n.ends_with(".pcapng")
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn real_captures_packet_counts_and_truncation() {
        let Some(dir) = shared_captures() else {
            eprintln!("shared captures absent; skipped");
            return;
        };
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("captures.json")).unwrap()).unwrap();
        let expected: std::collections::HashMap<String, u64> = json["captures"]
            .as_array()
            .expect("captures array")
            .iter()
            .filter_map(|c| Some((c["file"].as_str()?.to_string(), c["packets"].as_u64()?)))
            .collect();
        let files = shared_capture_files(&dir);
        assert!(!files.is_empty());
        for path in files {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let mut n = 0u64;
            let mut cf = CaptureFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
            let st = cf.for_each(&mut |_| {}, &mut |_| n += 1).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(st.packets, n);
            // Some corpus files carry trailing bytes after the last record (a warning,
            // not an error); the packet count is what matters.
            if let Some(&want) = expected.get(&name) {
                assert_eq!(st.packets, want, "{name}");
            }

            let bytes = std::fs::read(&path).unwrap();
            let half = bytes.len() / 2;
            let t = TempFile::new(&name, &bytes[..half]);
            let mut cf = CaptureFile::open(&t.0).unwrap();
            let st2 = cf.for_each(&mut |_| {}, &mut |_| {}).unwrap_or_else(|e| panic!("{name} half: {e}"));
            assert!(st2.packets <= st.packets);
            assert!(st2.warning.is_some() || st2.bytes_read == half as u64, "{name}: half copy read without warning");
        }
    }
}
