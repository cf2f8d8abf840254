//! Link and IP layers: from a captured packet to a TCP segment. etherparse does the
//! heavy lifting for IPv4 (RFC 791) and IPv6 with its extension headers (RFC 8200);
//! small shims in [`link`] cover the link layers, and a capped IPv4/IPv6
//! defragmenter ([`defrag`]) handles fragments.
//!
//! Packets cut by the snap length are used as far as they go: the IP header's length
//! fields give [`TcpSegment::payload_wire_len`], the captured bytes give
//! [`TcpSegment::payload`]. Nothing here panics or indexes unchecked on packet bytes.

use std::net::IpAddr;

use etherparse::{IpNumber, Ipv6ExtensionsSlice, LaxIpSlice};

pub mod defrag;
mod link;

pub use defrag::DefragLimits;
use defrag::{Defrag, FragKey, FragOutcome};
use link::Net;

/// TCP flags we act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// A TCP segment borrowed from the packet (or from the defragmenter's buffer).
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload length the IP header announces (larger than `payload.len()` when the
    /// snap length cut the packet).
    pub payload_wire_len: u32,
}

impl TcpSegment<'_> {
    /// True when the capture cut part of this segment's payload.
    pub fn payload_truncated(&self) -> bool {
        (self.payload.len() as u64) < self.payload_wire_len as u64
    }
}

use crate::capture::Packet;

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}

/// Counters kept by the decoder.
#[derive(Debug, Clone, Default)]
pub struct DecodeStats {
    pub packets: u64,
    pub tcp_segments: u64,
    pub not_ip: u64,
    pub not_tcp: u64,
    pub malformed: u64,
    /// IP fragments seen (IPv4 with MF or an offset; IPv6 Fragment header that
    /// fragments).
    pub fragments: u64,
    pub reassembled_datagrams: u64,
    /// Fragments discarded: caps, timeouts, inconsistencies, or cut by the snap length.
    pub fragments_dropped: u64,
    /// Frames whose captured length is below their original length.
    pub snaplen_truncated: u64,
    /// Packets on a link type this decoder does not know.
    pub unsupported_link: u64,
}

/// Link/IP/TCP decoder with a capped defragmenter.
#[derive(Default)]
pub struct Decoder {
    pub stats: DecodeStats,
    defrag: Defrag,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder whose defragmenter uses `limits` instead of the defaults.
    pub fn with_defrag_limits(limits: DefragLimits) -> Self {
        Decoder {
            stats: DecodeStats::default(),
            defrag: Defrag::new(limits),
        }
    }

    /// Datagrams the defragmenter is still waiting on, and the bytes it holds.
    pub fn defrag_pending(&self) -> (usize, usize) {
        (self.defrag.in_progress(), self.defrag.bytes_held())
    }

    /// Decode one packet. `Ok(None)` for packets that are not TCP (or a fragment still
    /// waiting for the rest of its datagram).
    pub fn decode<'a>(
        &'a mut self,
        pkt: &Packet<'a>,
    ) -> Result<Option<TcpSegment<'a>>, DecodeError> {
        let Decoder { stats, defrag } = self;
        stats.packets += 1;
        if pkt.truncated() {
            stats.snaplen_truncated += 1;
        }
        let r = decode_packet(stats, defrag, pkt);
        match &r {
            Ok(Some(_)) => stats.tcp_segments += 1,
            Ok(None) => {}
            Err(DecodeError::UnsupportedLinkType(_)) => stats.unsupported_link += 1,
            Err(DecodeError::Malformed(_)) => stats.malformed += 1,
        }
        r
    }
}

const TCP: IpNumber = IpNumber::TCP;
const IPV6_DEST_OPTIONS: u8 = 60;

fn decode_packet<'a>(
    stats: &mut DecodeStats,
    defrag: &'a mut Defrag,
    pkt: &Packet<'a>,
) -> Result<Option<TcpSegment<'a>>, DecodeError> {
    let (ip, want) = match link::strip(pkt.link, pkt.data)? {
        Net::Ipv4(b) => (b, Some(4)),
        Net::Ipv6(b) => (b, Some(6)),
        Net::Ip(b) => (b, None),
        Net::NotIp => {
            stats.not_ip += 1;
            return Ok(None);
        }
    };
    let (slice, ext_err) = match LaxIpSlice::from_slice(ip) {
        Ok(s) => s,
        Err(_) if ip.is_empty() => return Err(DecodeError::Malformed("no IP header")),
        Err(_) => return Err(DecodeError::Malformed("bad or truncated IP header")),
    };
    let version = match slice {
        LaxIpSlice::Ipv4(_) => 4,
        LaxIpSlice::Ipv6(_) => 6,
    };
    if want.is_some_and(|w| w != version) {
        return Err(DecodeError::Malformed(
            "IP version does not match the link type",
        ));
    }
    let ts = pkt.ts.0;
    match slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let src = IpAddr::V4(h.source_addr());
            let dst = IpAddr::V4(h.destination_addr());
            let hlen = h.slice().len();
            let total = usize::from(h.total_len());
            if v4.is_payload_fragmented() {
                stats.fragments += 1;
                if h.protocol() != TCP {
                    stats.not_tcp += 1;
                    return Ok(None);
                }
                if total < hlen {
                    return Err(DecodeError::Malformed(
                        "IPv4 total length below header length",
                    ));
                }
                let Some(data) = ip.get(hlen..total) else {
                    // Cut by the snap length: the datagram cannot be rebuilt.
                    stats.fragments_dropped += 1;
                    return Ok(None);
                };
                let key = FragKey {
                    src,
                    dst,
                    id: u32::from(h.identification()),
                    proto: 6,
                };
                let offset = usize::from(h.fragments_offset().byte_offset());
                return match defrag.add(
                    key,
                    ts,
                    offset,
                    h.more_fragments(),
                    data,
                    &mut stats.fragments_dropped,
                ) {
                    FragOutcome::Complete(payload) => {
                        stats.reassembled_datagrams += 1;
                        tcp(src, dst, payload, payload.len()).map(Some)
                    }
                    FragOutcome::Pending | FragOutcome::Dropped => Ok(None),
                };
            }
            let p = v4.payload();
            if p.ip_number != TCP {
                if ext_err.is_some() {
                    return Err(DecodeError::Malformed("bad IPv4 authentication header"));
                }
                stats.not_tcp += 1;
                return Ok(None);
            }
            let wire = if p.incomplete {
                let ext = v4.extensions().auth.map_or(0, |a| a.slice().len());
                total.saturating_sub(hlen + ext)
            } else {
                p.payload.len()
            };
            tcp(src, dst, p.payload, wire).map(Some)
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let src = IpAddr::V6(h.source_addr());
            let dst = IpAddr::V6(h.destination_addr());
            if v6.is_payload_fragmented() {
                stats.fragments += 1;
                return ipv6_fragment(
                    stats,
                    defrag,
                    ts,
                    ip,
                    src,
                    dst,
                    h.next_header().0,
                    usize::from(h.payload_length()),
                );
            }
            let p = v6.payload();
            if p.ip_number != TCP {
                if ext_err.is_some() {
                    return Err(DecodeError::Malformed(
                        "bad or truncated IPv6 extension header",
                    ));
                }
                stats.not_tcp += 1;
                return Ok(None);
            }
            let wire = if p.incomplete {
                usize::from(h.payload_length()).saturating_sub(v6.extensions().slice().len())
            } else {
                p.payload.len()
            };
            tcp(src, dst, p.payload, wire).map(Some)
        }
    }
}

/// An IPv6 packet with a Fragment header (RFC 8200 §4.5). The extension headers before
/// it are walked here rather than taken from etherparse, which also parses the bytes
/// after the Fragment header as headers, and those are fragment data in all but the
/// first fragment.
#[allow(clippy::too_many_arguments)]
fn ipv6_fragment<'a>(
    stats: &mut DecodeStats,
    defrag: &'a mut Defrag,
    ts: u64,
    ip: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    first_header: u8,
    payload_len: usize,
) -> Result<Option<TcpSegment<'a>>, DecodeError> {
    const HDR: usize = 40;
    let captured = ip.get(HDR..).unwrap_or(&[]);
    let complete = captured.len() >= payload_len;
    let payload = captured.get(..payload_len).unwrap_or(captured);
    let mut next = first_header;
    let mut at = 0usize;
    // Each header is at least 8 bytes, so a 64 KiB payload bounds this loop; cap it
    // anyway.
    for _ in 0..64 {
        let b0 = payload.get(at).copied();
        let b1 = payload.get(at + 1).copied();
        match next {
            // Hop-by-Hop, Routing, Destination Options: length in 8-octet units, not
            // counting the first 8 octets (RFC 8200 §4.3–4.6).
            0 | 43 | 60 => {
                let (Some(n), Some(l)) = (b0, b1) else {
                    return Err(DecodeError::Malformed("IPv6 extension header truncated"));
                };
                next = n;
                at += (usize::from(l) + 1) * 8;
            }
            // Authentication Header: length in 4-octet units minus 2 (RFC 4302 §2.2).
            51 => {
                let (Some(n), Some(l)) = (b0, b1) else {
                    return Err(DecodeError::Malformed("IPv6 extension header truncated"));
                };
                next = n;
                at += (usize::from(l) + 2) * 4;
            }
            44 => {
                let Some(f) = payload.get(at..at + 8) else {
                    return Err(DecodeError::Malformed("IPv6 fragment header truncated"));
                };
                let inner = f[0];
                let off_flags = u16::from_be_bytes([f[2], f[3]]);
                let offset = usize::from(off_flags & 0xfff8);
                let more = off_flags & 1 == 1;
                let id = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
                // Only datagrams that can carry TCP are worth memory.
                if inner != TCP.0 && inner != IPV6_DEST_OPTIONS {
                    stats.not_tcp += 1;
                    return Ok(None);
                }
                if !complete {
                    stats.fragments_dropped += 1;
                    return Ok(None);
                }
                let data = payload.get(at + 8..).unwrap_or(&[]);
                let key = FragKey {
                    src,
                    dst,
                    id,
                    proto: 0,
                };
                return match defrag.add(key, ts, offset, more, data, &mut stats.fragments_dropped) {
                    FragOutcome::Complete(buf) => {
                        stats.reassembled_datagrams += 1;
                        let (_, num, rest, err) =
                            Ipv6ExtensionsSlice::from_slice_lax(IpNumber(inner), buf);
                        if num != TCP {
                            if err.is_some() {
                                return Err(DecodeError::Malformed("bad IPv6 extension header"));
                            }
                            stats.not_tcp += 1;
                            return Ok(None);
                        }
                        tcp(src, dst, rest, rest.len()).map(Some)
                    }
                    FragOutcome::Pending | FragOutcome::Dropped => Ok(None),
                };
            }
            _ => break,
        }
        if at > payload.len() {
            return Err(DecodeError::Malformed("IPv6 extension header truncated"));
        }
    }
    // etherparse saw a Fragment header that this walk did not reach.
    Err(DecodeError::Malformed("IPv6 fragment header not found"))
}

/// The TCP header (RFC 9293 §3.1). Read by hand because only the first 20 bytes are
/// needed: a header whose options were cut by the snap length still yields ports,
/// sequence numbers and flags (with no payload).
fn tcp<'a>(
    src_ip: IpAddr,
    dst_ip: IpAddr,
    b: &'a [u8],
    wire_len: usize,
) -> Result<TcpSegment<'a>, DecodeError> {
    let h: &[u8; 20] = b
        .get(..20)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Malformed("TCP header truncated"))?;
    let doff = usize::from(h[12] >> 4) * 4;
    if doff < 20 {
        return Err(DecodeError::Malformed("TCP data offset below 5"));
    }
    if wire_len < doff {
        return Err(DecodeError::Malformed(
            "TCP header longer than the IP payload",
        ));
    }
    let fl = h[13];
    Ok(TcpSegment {
        src_ip,
        dst_ip,
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: TcpFlags {
            fin: fl & 0x01 != 0,
            syn: fl & 0x02 != 0,
            rst: fl & 0x04 != 0,
            ack: fl & 0x10 != 0,
        },
        window: u16::from_be_bytes([h[14], h[15]]),
        payload: b.get(doff..).unwrap_or(&[]),
        payload_wire_len: u32::try_from(wire_len - doff).unwrap_or(u32::MAX),
    })
}
