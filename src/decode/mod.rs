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
        Decoder { stats: DecodeStats::default(), defrag: Defrag::new(limits) }
    }

    /// Datagrams the defragmenter is still waiting on, and the bytes it holds.
    pub fn defrag_pending(&self) -> (usize, usize) {
        (self.defrag.in_progress(), self.defrag.bytes_held())
    }

    /// Decode one packet. `Ok(None)` for packets that are not TCP (or a fragment still
    /// waiting for the rest of its datagram).
    pub fn decode<'a>(&'a mut self, pkt: &Packet<'a>) -> Result<Option<TcpSegment<'a>>, DecodeError> {
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

impl DecodeStats {
    /// Add another decoder's counters (the threaded pipeline decodes on several threads).
    pub fn add(&mut self, o: &DecodeStats) {
        self.packets += o.packets;
        self.tcp_segments += o.tcp_segments;
        self.not_ip += o.not_ip;
        self.not_tcp += o.not_tcp;
        self.malformed += o.malformed;
        self.fragments += o.fragments;
        self.reassembled_datagrams += o.reassembled_datagrams;
        self.fragments_dropped += o.fragments_dropped;
        self.snaplen_truncated += o.snaplen_truncated;
        self.unsupported_link += o.unsupported_link;
    }
}

/// The TCP endpoints `(src, src port, dst, dst port)` of a plain packet: IPv4 that is
/// not a fragment, or IPv6 whose first next header is TCP, with the ports captured.
/// `None` for anything else (fragments, extension headers, other protocols, odd
/// links); such packets need the full [`Decoder`], whose defragmenter must see every
/// fragment of a datagram. Reads a few header bytes only, so the threaded pipeline's
/// reader can pick a packet's worker without decoding it.
pub(crate) fn plain_tcp_endpoints(pkt: &Packet<'_>) -> Option<(IpAddr, u16, IpAddr, u16)> {
    let ip = match link::strip(pkt.link, pkt.data).ok()? {
        Net::Ipv4(b) | Net::Ipv6(b) | Net::Ip(b) => b,
        Net::NotIp => return None,
    };
    let (src, dst, l4, _) = ip_tcp(ip, None)?;
    let sp = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dp = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    Some((src, sp, dst, dp))
}

const TCP: IpNumber = IpNumber::TCP;
const IPV6_DEST_OPTIONS: u8 = 60;

fn decode_packet<'a>(
    stats: &mut DecodeStats,
    defrag: &'a mut Defrag,
    pkt: &Packet<'a>,
) -> Result<Option<TcpSegment<'a>>, DecodeError> {
    decode_net(stats, defrag, link::strip(pkt.link, pkt.data)?, pkt.ts.0, 0)
}

/// Tunnels inside tunnels are followed this deep.
const MAX_TUNNEL_DEPTH: usize = 4;

/// GRE and VXLAN (as used by traffic mirroring) carry a whole inner packet: decode it
/// instead of the tunnel. `None`: not a tunnel we follow.
fn tunnel(ip_number: IpNumber, payload: &[u8]) -> Option<Result<Net<'_>, DecodeError>> {
    match ip_number {
        IpNumber::GRE => Some(link::gre(payload)),
        IpNumber::UDP => link::vxlan(payload),
        _ => None,
    }
}

/// TCP straight over IP: an unfragmented IPv4 datagram (options allowed) or an IPv6
/// packet without extension headers. The addresses, the bytes after the IP header as
/// captured, and the TCP length the IP header declares (`None`: IPv4 total length
/// below its header, or an IPv6 jumbogram, RFC 2675: the full decoder decides).
#[inline]
fn ip_tcp(ip: &[u8], want: Option<u8>) -> Option<(IpAddr, IpAddr, &[u8], Option<usize>)> {
    let version = ip.first()? >> 4;
    if want.is_some_and(|w| w != version) {
        return None;
    }
    match version {
        4 => {
            let hlen = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let flags_frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            // More-fragments flag or a fragment offset: the defragmenter's business.
            if hlen < 20 || flags_frag & 0x3fff != 0 || *ip.get(9)? != 6 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some((IpAddr::from(src), IpAddr::from(dst), ip.get(hlen..)?, total.checked_sub(hlen)))
        }
        6 => {
            if *ip.get(6)? != 6 {
                return None;
            }
            let payload_len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            Some((IpAddr::from(src), IpAddr::from(dst), ip.get(40..)?, (payload_len != 0).then_some(payload_len)))
        }
        _ => None,
    }
}

/// The common case without the general parser: [`ip_tcp`] with the whole declared
/// TCP segment in the capture. `None` for anything else, which takes the full path;
/// where both apply they give the same segment (a property test holds them to it).
#[inline]
fn plain_tcp(ip: &[u8], want: Option<u8>) -> Option<(IpAddr, IpAddr, &[u8])> {
    let (src, dst, l4, declared) = ip_tcp(ip, want)?;
    Some((src, dst, l4.get(..declared?)?))
}

fn decode_net<'a>(
    stats: &mut DecodeStats,
    defrag: &'a mut Defrag,
    net: Net<'a>,
    ts: u64,
    depth: usize,
) -> Result<Option<TcpSegment<'a>>, DecodeError> {
    let fast = match net {
        Net::Ipv4(b) => plain_tcp(b, Some(4)),
        Net::Ipv6(b) => plain_tcp(b, Some(6)),
        Net::Ip(b) => plain_tcp(b, None),
        Net::NotIp => None,
    };
    if let Some((src, dst, payload)) = fast {
        return tcp(src, dst, payload, payload.len()).map(Some);
    }
    decode_net_full(stats, defrag, net, ts, depth)
}

fn decode_net_full<'a>(
    stats: &mut DecodeStats,
    defrag: &'a mut Defrag,
    net: Net<'a>,
    ts: u64,
    depth: usize,
) -> Result<Option<TcpSegment<'a>>, DecodeError> {
    let (ip, want) = match net {
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
        return Err(DecodeError::Malformed("IP version does not match the link type"));
    }
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
                    return Err(DecodeError::Malformed("IPv4 total length below header length"));
                }
                let Some(data) = ip.get(hlen..total) else {
                    // Cut by the snap length: the datagram cannot be rebuilt.
                    stats.fragments_dropped += 1;
                    return Ok(None);
                };
                let key = FragKey { src, dst, id: u32::from(h.identification()), proto: 6 };
                let offset = usize::from(h.fragments_offset().byte_offset());
                return match defrag.add(key, ts, offset, h.more_fragments(), data, &mut stats.fragments_dropped) {
                    FragOutcome::Complete(payload) => {
                        stats.reassembled_datagrams += 1;
                        tcp(src, dst, payload, payload.len()).map(Some)
                    }
                    FragOutcome::Pending | FragOutcome::Dropped => Ok(None),
                };
            }
            let p = v4.payload();
            if depth < MAX_TUNNEL_DEPTH && !p.incomplete {
                if let Some(inner) = tunnel(p.ip_number, p.payload) {
                    return decode_net(stats, defrag, inner?, ts, depth + 1);
                }
            }
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
            // etherparse 0.19 reads the IPv6 Fragment header's offset and M flag from
            // the wrong bits, so the header is located and decoded here instead.
            let payload_len = usize::from(h.payload_length());
            if let Some(frag) = find_ipv6_fragment(ip, h.next_header().0, payload_len)? {
                if frag.offset != 0 || frag.more {
                    stats.fragments += 1;
                    return ipv6_fragment(stats, defrag, ts, ip, src, dst, payload_len, frag);
                }
                // An atomic fragment (RFC 8200 §4.5, RFC 6946) is a whole datagram.
            }
            let p = v6.payload();
            if depth < MAX_TUNNEL_DEPTH && !p.incomplete {
                if let Some(inner) = tunnel(p.ip_number, p.payload) {
                    return decode_net(stats, defrag, inner?, ts, depth + 1);
                }
            }
            if p.ip_number != TCP {
                if ext_err.is_some() {
                    return Err(DecodeError::Malformed("bad or truncated IPv6 extension header"));
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

/// A decoded IPv6 Fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy)]
struct Frag6 {
    /// Next Header after the Fragment header (first header of the fragmentable part).
    inner: u8,
    /// Offset in bytes (the 13-bit field counts 8-octet units).
    offset: usize,
    more: bool,
    id: u32,
    /// Where the fragment data starts, counted from the end of the fixed header.
    data_at: usize,
}

/// Walk the extension headers of the unfragmentable part looking for a Fragment
/// header. The walk stops at the first header that is not an extension header.
fn find_ipv6_fragment(ip: &[u8], first_header: u8, payload_len: usize) -> Result<Option<Frag6>, DecodeError> {
    const HDR: usize = 40;
    let captured = ip.get(HDR..).unwrap_or(&[]);
    let payload = captured.get(..payload_len).unwrap_or(captured);
    let mut next = first_header;
    let mut at = 0usize;
    // Each header is at least 8 bytes; the cap is a belt for the 64 KiB bound.
    for _ in 0..64 {
        match next {
            // Hop-by-Hop, Routing, Destination Options: length in 8-octet units, not
            // counting the first 8 octets (RFC 8200 §4.3, §4.4, §4.6).
            0 | 43 | 60 => {
                let (Some(&n), Some(&l)) = (payload.get(at), payload.get(at + 1)) else {
                    return Err(DecodeError::Malformed("IPv6 extension header truncated"));
                };
                next = n;
                at += (usize::from(l) + 1) * 8;
            }
            // Authentication Header: length in 4-octet units minus 2 (RFC 4302 §2.2).
            51 => {
                let (Some(&n), Some(&l)) = (payload.get(at), payload.get(at + 1)) else {
                    return Err(DecodeError::Malformed("IPv6 extension header truncated"));
                };
                next = n;
                at += (usize::from(l) + 2) * 4;
            }
            // Fragment: next header (1), reserved (1), offset (13 bits) | res (2) | M
            // (1), identification (4).
            44 => {
                let Some(f) = payload.get(at..at + 8) else {
                    return Err(DecodeError::Malformed("IPv6 fragment header truncated"));
                };
                let off_flags = u16::from_be_bytes([f[2], f[3]]);
                return Ok(Some(Frag6 {
                    inner: f[0],
                    offset: usize::from(off_flags & 0xfff8),
                    more: off_flags & 1 == 1,
                    id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                    data_at: at + 8,
                }));
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// A fragment of an IPv6 datagram: feed the defragmenter, and decode the datagram
/// once complete. Bytes after the Fragment header are fragment data (RFC 8200 §4.5),
/// so headers there are only parsed after reassembly.
#[allow(clippy::too_many_arguments)]
fn ipv6_fragment<'a>(
    stats: &mut DecodeStats,
    defrag: &'a mut Defrag,
    ts: u64,
    ip: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    payload_len: usize,
    frag: Frag6,
) -> Result<Option<TcpSegment<'a>>, DecodeError> {
    // Only datagrams that can carry TCP are worth memory.
    if frag.inner != TCP.0 && frag.inner != IPV6_DEST_OPTIONS {
        stats.not_tcp += 1;
        return Ok(None);
    }
    let Some(data) = ip.get(40 + frag.data_at..40 + payload_len) else {
        // Cut by the snap length (or a payload length shorter than the headers).
        stats.fragments_dropped += 1;
        return Ok(None);
    };
    let key = FragKey { src, dst, id: frag.id, proto: 0 };
    match defrag.add(key, ts, frag.offset, frag.more, data, &mut stats.fragments_dropped) {
        FragOutcome::Complete(buf) => {
            stats.reassembled_datagrams += 1;
            let (_, num, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(IpNumber(frag.inner), buf);
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
    }
}

/// The TCP header (RFC 9293 §3.1). Read by hand because only the first 20 bytes are
/// needed: a header whose options were cut by the snap length still yields ports,
/// sequence numbers and flags (with no payload).
fn tcp<'a>(src_ip: IpAddr, dst_ip: IpAddr, b: &'a [u8], wire_len: usize) -> Result<TcpSegment<'a>, DecodeError> {
    let h: &[u8; 20] =
        b.get(..20).and_then(|s| s.try_into().ok()).ok_or(DecodeError::Malformed("TCP header truncated"))?;
    let doff = usize::from(h[12] >> 4) * 4;
    if doff < 20 {
        return Err(DecodeError::Malformed("TCP data offset below 5"));
    }
    if wire_len < doff {
        return Err(DecodeError::Malformed("TCP header longer than the IP payload"));
    }
    let fl = h[13];
    Ok(TcpSegment {
        src_ip,
        dst_ip,
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: TcpFlags { fin: fl & 0x01 != 0, syn: fl & 0x02 != 0, rst: fl & 0x04 != 0, ack: fl & 0x10 != 0 },
        window: u16::from_be_bytes([h[14], h[15]]),
        payload: b.get(doff..).unwrap_or(&[]),
        payload_wire_len: u32::try_from(wire_len - doff).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{LinkType, Timestamp};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// What a test needs from a segment, owned so the decoder can be reused.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Seg {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        payload: Vec<u8>,
        wire: u32,
    }

    fn dec_at(d: &mut Decoder, link: LinkType, data: &[u8], ts: u64) -> Result<Option<Seg>, DecodeError> {
        let pkt = Packet { ts: Timestamp(ts), link, data, orig_len: data.len() as u32 };
        Ok(d.decode(&pkt)?.map(|s| Seg {
            src: s.src_ip,
            dst: s.dst_ip,
            sport: s.src_port,
            dport: s.dst_port,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            payload: s.payload.to_vec(),
            wire: s.payload_wire_len,
        }))
    }

    fn dec(d: &mut Decoder, link: LinkType, data: &[u8]) -> Result<Option<Seg>, DecodeError> {
        dec_at(d, link, data, 0)
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// IPv4 + TCP: 192.0.2.1:40000 → 198.51.100.2:5432, PSH|ACK, payload "hello".
    const IPV4_TCP: &[u8] = &[
        /* version 4, IHL 5 */ 0x45, /* DSCP/ECN */ 0x00, /* total length 45 */ 0x00, 0x2d,
        /* identification */ 0x12, 0x34, /* flags DF, offset 0 */ 0x40, 0x00, /* TTL */ 0x40,
        /* protocol TCP */ 0x06, /* header checksum */ 0x00, 0x00, /* source 192.0.2.1 */ 0xc0, 0x00,
        0x02, 0x01, /* destination 198.51.100.2 */ 0xc6, 0x33, 0x64, 0x02, /* source port 40000 */ 0x9c,
        0x40, /* destination port 5432 */ 0x15, 0x38, /* sequence number */ 0x01, 0x02, 0x03, 0x04,
        /* acknowledgment number */ 0x0a, 0x0b, 0x0c, 0x0d, /* data offset 5 */ 0x50,
        /* flags PSH|ACK */ 0x18, /* window */ 0x72, 0x10, /* checksum */ 0x00, 0x00,
        /* urgent pointer */ 0x00, 0x00, /* payload */ b'h', b'e', b'l', b'l', b'o',
    ];

    /// IPv6 + Hop-by-Hop options + TCP: [2001:db8::1]:3306 → [2001:db8::2]:50000,
    /// SYN|ACK, payload "abc".
    const IPV6_HBH_TCP: &[u8] = &[
        /* version 6, traffic class, flow label */ 0x60, 0x00, 0x00, 0x00, /* payload length 31 */ 0x00,
        0x1f, /* next header: Hop-by-Hop */ 0x00, /* hop limit */ 0x40, /* source 2001:db8::1 */ 0x20,
        0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        /* destination 2001:db8::2 */ 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, /* HBH: next header TCP */ 0x06, /* length 0 (8 bytes) */ 0x00,
        /* PadN option, 4 bytes */ 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, /* source port 3306 */ 0x0c, 0xea,
        /* destination port 50000 */ 0xc3, 0x50, /* sequence number */ 0xff, 0xff, 0xff, 0xfe,
        /* acknowledgment number */ 0x00, 0x00, 0x00, 0x01, /* data offset 5 */ 0x50,
        /* flags SYN|ACK */ 0x12, /* window */ 0x20, 0x00, /* checksum */ 0x00, 0x00,
        /* urgent pointer */ 0x00, 0x00, /* payload */ b'a', b'b', b'c',
    ];

    const ETH_IPV4: &[u8] = &[
        /* destination MAC */ 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, /* source MAC */ 0x66, 0x77, 0x88, 0x99,
        0xaa, 0xbb, /* ethertype IPv4 */ 0x08, 0x00,
    ];

    fn assert_v4(s: &Seg) {
        assert_eq!(s.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(s.dst, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)));
        assert_eq!((s.sport, s.dport), (40000, 5432));
        assert_eq!((s.seq, s.ack), (0x0102_0304, 0x0a0b_0c0d));
        assert_eq!(s.flags, TcpFlags { syn: false, ack: true, fin: false, rst: false });
        assert_eq!(s.window, 0x7210);
        assert_eq!(s.payload, b"hello");
        assert_eq!(s.wire, 5);
    }

    fn assert_v6(s: &Seg) {
        assert_eq!(s.src, IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        assert_eq!(s.dst, IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)));
        assert_eq!((s.sport, s.dport), (3306, 50000));
        assert_eq!((s.seq, s.ack), (0xffff_fffe, 1));
        assert_eq!(s.flags, TcpFlags { syn: true, ack: true, fin: false, rst: false });
        assert_eq!(s.payload, b"abc");
        assert_eq!(s.wire, 3);
    }

    /// Every link type carrying the same IPv4/TCP packet.
    fn v4_on_every_link() -> Vec<(LinkType, Vec<u8>)> {
        let vlan: &[u8] = &[
            /* dst MAC */ 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, /* src MAC */ 0x66, 0x77, 0x88, 0x99, 0xaa,
            0xbb, /* ethertype 802.1Q */ 0x81, 0x00, /* TCI: VLAN 100 */ 0x00, 0x64,
            /* ethertype IPv4 */ 0x08, 0x00,
        ];
        let qinq: &[u8] = &[
            /* dst MAC */ 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, /* src MAC */ 0x66, 0x77, 0x88, 0x99, 0xaa,
            0xbb, /* ethertype 802.1ad S-tag */ 0x88, 0xa8, /* TCI */ 0x00, 0x0a,
            /* ethertype 802.1Q C-tag */ 0x81, 0x00, /* TCI */ 0x00, 0x64, /* ethertype IPv4 */ 0x08,
            0x00,
        ];
        let qinq_9100: &[u8] = &[
            /* dst MAC */ 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, /* src MAC */ 0x66, 0x77, 0x88, 0x99, 0xaa,
            0xbb, /* ethertype QinQ (pre-standard) */ 0x91, 0x00, /* TCI */ 0x00, 0x0a,
            /* ethertype 802.1Q */ 0x81, 0x00, /* TCI */ 0x00, 0x64, /* ethertype IPv4 */ 0x08, 0x00,
        ];
        let sll: &[u8] = &[
            /* packet type: to us */ 0x00, 0x00, /* ARPHRD_ETHER */ 0x00, 0x01,
            /* address length */ 0x00, 0x06, /* address (8, padded) */ 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
            0x00, 0x00, /* protocol IPv4 */ 0x08, 0x00,
        ];
        let sll2: &[u8] = &[
            /* protocol IPv4 */ 0x08, 0x00, /* reserved */ 0x00, 0x00, /* interface index */ 0x00, 0x00,
            0x00, 0x02, /* ARPHRD_ETHER */ 0x00, 0x01, /* packet type: to us */ 0x00,
            /* address length */ 0x06, /* address (8, padded) */ 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00,
            0x00,
        ];
        let null_le: &[u8] = &[/* AF_INET, little-endian host */ 0x02, 0x00, 0x00, 0x00];
        let null_be: &[u8] = &[/* AF_INET, big-endian host */ 0x00, 0x00, 0x00, 0x02];
        let lp: &[u8] = &[/* AF_INET, network order */ 0x00, 0x00, 0x00, 0x02];
        vec![
            (LinkType::ETHERNET, cat(&[ETH_IPV4, IPV4_TCP])),
            (LinkType::ETHERNET, cat(&[vlan, IPV4_TCP])),
            (LinkType::ETHERNET, cat(&[qinq, IPV4_TCP])),
            (LinkType::ETHERNET, cat(&[qinq_9100, IPV4_TCP])),
            (LinkType::LINUX_SLL, cat(&[sll, IPV4_TCP])),
            (LinkType::LINUX_SLL2, cat(&[sll2, IPV4_TCP])),
            (LinkType::NULL, cat(&[null_le, IPV4_TCP])),
            (LinkType::NULL, cat(&[null_be, IPV4_TCP])),
            (LinkType::LOOP, cat(&[lp, IPV4_TCP])),
            (LinkType::RAW, IPV4_TCP.to_vec()),
            (LinkType::RAW_ALT12, IPV4_TCP.to_vec()),
            (LinkType::RAW_ALT14, IPV4_TCP.to_vec()),
            (LinkType::IPV4, IPV4_TCP.to_vec()),
        ]
    }

    #[test]
    fn ipv4_tcp_on_every_link_type() {
        for (link, frame) in v4_on_every_link() {
            let mut d = Decoder::new();
            let s = dec(&mut d, link, &frame).unwrap_or_else(|e| panic!("{link:?}: {e}"));
            assert_v4(&s.unwrap_or_else(|| panic!("{link:?}: no segment")));
            assert_eq!(d.stats.tcp_segments, 1);
        }
    }

    #[test]
    fn mpls_label_stacks() {
        let mac: &[u8] = &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];
        let one_label = cat(&[
            mac,
            &[/* ethertype MPLS unicast */ 0x88, 0x47],
            &[/* label 16, TC 0, bottom of stack, TTL 64 */ 0x00, 0x01, 0x01, 0x40],
            IPV4_TCP,
        ]);
        let two_labels_vlan = cat(&[
            mac,
            &[/* 802.1Q */ 0x81, 0x00, /* VLAN 7 */ 0x00, 0x07, /* MPLS */ 0x88, 0x47],
            &[/* label 100, not bottom */ 0x00, 0x06, 0x40, 0x40],
            &[/* label 200, bottom */ 0x00, 0x0c, 0x81, 0x40],
            IPV4_TCP,
        ]);
        // RFC 4448 Ethernet pseudowire: control word of zeros, then the customer frame.
        let pseudowire = cat(&[
            mac,
            &[0x88, 0x47, /* label, bottom */ 0x00, 0x02, 0x01, 0x40, /* control word */ 0, 0, 0, 0],
            ETH_IPV4,
            IPV4_TCP,
        ]);
        for frame in [&one_label, &two_labels_vlan, &pseudowire] {
            let s = dec(&mut Decoder::new(), LinkType::ETHERNET, frame).unwrap().unwrap();
            assert_v4(&s);
        }
        let v6 = cat(&[mac, &[0x88, 0x47, 0x00, 0x01, 0x01, 0x40], IPV6_HBH_TCP]);
        assert_v6(&dec(&mut Decoder::new(), LinkType::ETHERNET, &v6).unwrap().unwrap());

        // Hostile: a stack that never ends, a cut label, and an unknown payload.
        let endless = cat(&[mac, &[0x88, 0x47], &[0x00, 0x01, 0x00, 0x40].repeat(40)]);
        assert_eq!(
            dec(&mut Decoder::new(), LinkType::ETHERNET, &endless),
            Err(DecodeError::Malformed("too many MPLS labels"))
        );
        let cut = cat(&[mac, &[0x88, 0x47, 0x00, 0x01]]);
        assert!(dec(&mut Decoder::new(), LinkType::ETHERNET, &cut).is_err());
        let other = cat(&[mac, &[0x88, 0x47, 0x00, 0x01, 0x01, 0x40, 0x81, 0, 0, 0]]);
        assert_eq!(dec(&mut Decoder::new(), LinkType::ETHERNET, &other), Ok(None));
        // Pseudowire inside pseudowire inside …: bounded, never a stack overflow.
        let mut nested = IPV4_TCP.to_vec();
        for _ in 0..50 {
            nested = cat(&[mac, &[0x88, 0x47, 0x00, 0x02, 0x01, 0x40, 0, 0, 0, 0], &nested]);
        }
        assert_eq!(dec(&mut Decoder::new(), LinkType::ETHERNET, &nested), Ok(None));
    }

    /// An outer IPv4 header (10.9.9.1 → 10.9.9.2) with protocol `proto` around `inner`.
    fn outer_v4(proto: u8, inner: &[u8]) -> Vec<u8> {
        let total = (20 + inner.len()) as u16;
        let t = total.to_be_bytes();
        cat(&[
            &[/* v4, IHL 5 */ 0x45, 0x00, t[0], t[1], /* id */ 0x00, 0x01, /* DF */ 0x40, 0x00],
            &[/* TTL */ 0x40, proto, /* checksum */ 0x00, 0x00, 10, 9, 9, 1, 10, 9, 9, 2],
            inner,
        ])
    }

    #[test]
    fn gre_and_vxlan_tunnels_are_followed() {
        // GRE, no options, IPv4 inside (RFC 2784).
        let gre_ip = outer_v4(47, &cat(&[&[/* flags, version 0 */ 0x00, 0x00, /* IPv4 */ 0x08, 0x00], IPV4_TCP]));
        // GRE with key and sequence number (RFC 2890), Ethernet inside (0x6558).
        let gre_teb = outer_v4(
            47,
            &cat(&[
                &[
                    /* K and S */ 0x30, 0x00, /* TEB */ 0x65, 0x58, /* key */ 0, 0, 0, 7,
                    /* seq */ 0, 0, 0, 1,
                ],
                ETH_IPV4,
                IPV4_TCP,
            ]),
        );
        // ERSPAN type II: GRE with sequence number, 8-byte ERSPAN header, the frame.
        let erspan = outer_v4(
            47,
            &cat(&[
                &[/* S */ 0x10, 0x00, /* ERSPAN II */ 0x88, 0xbe, /* seq */ 0, 0, 0, 9],
                &[/* version 1, VLAN 0, session 5, index */ 0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0],
                ETH_IPV4,
                IPV4_TCP,
            ]),
        );
        // VXLAN: UDP to 4789, I flag, VNI 100, then the Ethernet frame.
        let vx_payload = cat(&[&[0x08, 0, 0, 0, 0, 0, 100, 0], ETH_IPV4, IPV4_TCP]);
        let udp_len = ((8 + vx_payload.len()) as u16).to_be_bytes();
        let vxlan = outer_v4(
            17,
            &cat(&[&[/* src port */ 0xc0, 0x00, /* dst 4789 */ 0x12, 0xb5, udp_len[0], udp_len[1], 0, 0], &vx_payload]),
        );
        for ip in [&gre_ip, &gre_teb, &erspan, &vxlan] {
            let frame = cat(&[ETH_IPV4, ip]);
            assert_v4(&dec(&mut Decoder::new(), LinkType::ETHERNET, &frame).unwrap().unwrap());
            assert_v4(&dec(&mut Decoder::new(), LinkType::RAW, ip).unwrap().unwrap());
        }

        // Other UDP and PPTP's GRE version 1 are not tunnels we follow.
        let mut not_vxlan = vxlan.clone();
        not_vxlan[22..24].copy_from_slice(&53u16.to_be_bytes());
        assert_eq!(dec(&mut Decoder::new(), LinkType::RAW, &not_vxlan), Ok(None));
        let pptp = outer_v4(47, &[0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(dec(&mut Decoder::new(), LinkType::RAW, &pptp), Ok(None));
        // A cut GRE header is malformed, never a panic.
        let cut = outer_v4(47, &[0xb0, 0x00, 0x08, 0x00, 0, 0]);
        assert!(dec(&mut Decoder::new(), LinkType::RAW, &cut).is_err());
        // GRE in GRE in GRE …: followed a few levels deep, then given up.
        let mut nested = IPV4_TCP.to_vec();
        for _ in 0..MAX_TUNNEL_DEPTH {
            nested = outer_v4(47, &cat(&[&[0x00, 0x00, 0x08, 0x00], &nested]));
        }
        assert_v4(&dec(&mut Decoder::new(), LinkType::RAW, &nested).unwrap().unwrap());
        let deeper = outer_v4(47, &cat(&[&[0x00, 0x00, 0x08, 0x00], &nested]));
        assert_eq!(dec(&mut Decoder::new(), LinkType::RAW, &deeper), Ok(None));
    }

    #[test]
    fn ipv6_with_extension_header_on_raw_links() {
        let null_af30: &[u8] = &[/* AF_INET6 (macOS), little-endian */ 0x1e, 0x00, 0x00, 0x00];
        let null_af10: &[u8] = &[/* AF_INET6 (Linux), big-endian */ 0x00, 0x00, 0x00, 0x0a];
        let eth6: &[u8] = &[
            /* dst MAC */ 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, /* src MAC */ 0x66, 0x77, 0x88, 0x99, 0xaa,
            0xbb, /* ethertype IPv6 */ 0x86, 0xdd,
        ];
        for (link, frame) in [
            (LinkType::RAW, IPV6_HBH_TCP.to_vec()),
            (LinkType::IPV6, IPV6_HBH_TCP.to_vec()),
            (LinkType::NULL, cat(&[null_af30, IPV6_HBH_TCP])),
            (LinkType::NULL, cat(&[null_af10, IPV6_HBH_TCP])),
            (LinkType::ETHERNET, cat(&[eth6, IPV6_HBH_TCP])),
        ] {
            let mut d = Decoder::new();
            let s = dec(&mut d, link, &frame).unwrap().expect("segment");
            assert_v6(&s);
        }
    }

    #[test]
    fn version_must_match_link_type() {
        let mut d = Decoder::new();
        assert!(dec(&mut d, LinkType::IPV6, IPV4_TCP).is_err());
        assert!(dec(&mut d, LinkType::IPV4, IPV6_HBH_TCP).is_err());
        assert_eq!(d.stats.malformed, 2);
    }

    #[test]
    fn snaplen_cut_payload() {
        let frame = cat(&[ETH_IPV4, IPV4_TCP]);
        let cut = &frame[..14 + 40 + 2];
        let mut d = Decoder::new();
        let pkt = Packet { ts: Timestamp(0), link: LinkType::ETHERNET, data: cut, orig_len: frame.len() as u32 };
        let s = d.decode(&pkt).unwrap().expect("segment");
        assert_eq!(s.payload, b"he");
        assert_eq!(s.payload_wire_len, 5);
        assert!(s.payload_truncated());
        assert_eq!(d.stats.snaplen_truncated, 1);

        // IPv6 cut inside the payload.
        let cut6 = &IPV6_HBH_TCP[..IPV6_HBH_TCP.len() - 2];
        let s = dec(&mut d, LinkType::RAW, cut6).unwrap().expect("segment");
        assert_eq!((s.payload.as_slice(), s.wire), (&b"a"[..], 3));
    }

    #[test]
    fn tcp_options_cut_by_snaplen_still_give_header_fields() {
        let mut ip = IPV4_TCP.to_vec();
        ip[32] = 0x80; // data offset 8: 12 bytes of options that "hello" pretends to be
        ip.extend([0u8; 7]); // total length stays 45 + 7 would mismatch: fix total length
        ip[2..4].copy_from_slice(&52u16.to_be_bytes());
        let cut = &ip[..44];
        let mut d = Decoder::new();
        let s = dec(&mut d, LinkType::RAW, cut).unwrap().expect("segment");
        assert_eq!((s.sport, s.dport, s.seq), (40000, 5432, 0x0102_0304));
        assert!(s.payload.is_empty());
        assert_eq!(s.wire, 0);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        // Minimum Ethernet frame is 60 bytes before the FCS: a short packet is padded.
        let mut frame = cat(&[ETH_IPV4, IPV4_TCP]);
        frame.extend([/* padding */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        let mut d = Decoder::new();
        let s = dec(&mut d, LinkType::ETHERNET, &frame).unwrap().expect("segment");
        assert_eq!(s.payload, b"hello");
        assert_eq!(s.wire, 5);

        // A bare SYN (no payload) padded to 60 bytes.
        let mut syn = IPV4_TCP[..40].to_vec();
        syn[2..4].copy_from_slice(&40u16.to_be_bytes());
        syn[33] = 0x02;
        let frame = cat(&[ETH_IPV4, &syn, &[0u8; 6]]);
        let s = dec(&mut d, LinkType::ETHERNET, &frame).unwrap().expect("segment");
        assert!(s.payload.is_empty() && s.wire == 0 && s.flags.syn);
    }

    #[test]
    fn non_ip_and_non_tcp() {
        let mut d = Decoder::new();
        let arp = cat(&[&ETH_IPV4[..12], &[/* ethertype ARP */ 0x08, 0x06], &[0u8; 28]]);
        assert_eq!(dec(&mut d, LinkType::ETHERNET, &arp), Ok(None));
        let llc = cat(&[&ETH_IPV4[..12], &[/* 802.3 length */ 0x00, 0x26], &[0u8; 38]]);
        assert_eq!(dec(&mut d, LinkType::ETHERNET, &llc), Ok(None));
        assert_eq!(dec(&mut d, LinkType::NULL, &[/* AF 99 */ 99, 0, 0, 0, 0x45]), Ok(None));
        assert_eq!(d.stats.not_ip, 3);
        let mut udp = IPV4_TCP.to_vec();
        udp[9] = 17;
        assert_eq!(dec(&mut d, LinkType::RAW, &udp), Ok(None));
        assert_eq!(d.stats.not_tcp, 1);
        assert_eq!(d.stats.packets, 4);
    }

    #[test]
    fn unsupported_link_type() {
        let mut d = Decoder::new();
        assert_eq!(dec(&mut d, LinkType(147), IPV4_TCP), Err(DecodeError::UnsupportedLinkType(147)));
        assert_eq!(d.stats.unsupported_link, 1);
    }

    #[test]
    fn truncated_headers_are_errors_never_panics() {
        let mut frames = v4_on_every_link();
        frames.push((LinkType::RAW, IPV6_HBH_TCP.to_vec()));
        for (link, frame) in frames {
            let mut d = Decoder::new();
            for n in 0..frame.len() {
                // Every prefix: an error, nothing, or a (cut) segment, never a panic.
                let _ = dec(&mut d, link, &frame[..n]);
            }
            // Cut inside the link header or the first 20 bytes of IP: an error.
            assert!(
                dec(&mut d, link, &frame[..frame.len() - IPV4_TCP.len().min(frame.len()) + 10]).is_err()
                    || link == LinkType::RAW
            );
        }
        let mut d = Decoder::new();
        assert!(dec(&mut d, LinkType::ETHERNET, &ETH_IPV4[..13]).is_err());
        assert!(dec(&mut d, LinkType::ETHERNET, ETH_IPV4).is_err()); // no IP header
        assert!(dec(&mut d, LinkType::RAW, &IPV4_TCP[..30]).is_err()); // TCP header cut
        let mut bad_ihl = IPV4_TCP.to_vec();
        bad_ihl[0] = 0x43;
        assert!(dec(&mut d, LinkType::RAW, &bad_ihl).is_err());
        let mut bad_doff = IPV4_TCP.to_vec();
        bad_doff[32] = 0x30;
        assert!(dec(&mut d, LinkType::RAW, &bad_doff).is_err());
        let mut long_doff = IPV4_TCP.to_vec();
        long_doff[32] = 0xf0; // 60-byte header in a 25-byte IP payload
        assert!(dec(&mut d, LinkType::RAW, &long_doff).is_err());
        assert!(dec(&mut d, LinkType::RAW, &[0x00; 40]).is_err()); // IP version 0
        assert!(d.stats.malformed >= 7);
    }

    // ---- fragments -------------------------------------------------------------

    /// TCP segment (20-byte header + 40 bytes of payload) used as the datagram payload.
    fn tcp_bytes() -> Vec<u8> {
        let mut t = IPV4_TCP[20..40].to_vec();
        t.extend((0u8..40).map(|i| b'A' + i % 26));
        t
    }

    /// One IPv4 fragment of `payload[off..off+data.len()]`.
    fn frag_v4(id: u16, off: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut h = IPV4_TCP[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes()); // total length
        h[4..6].copy_from_slice(&id.to_be_bytes()); // identification
        let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 }; // MF flag + offset
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h.extend(data);
        h
    }

    /// One IPv6 fragment: fixed header, Fragment header (RFC 8200 §4.5), data.
    fn frag_v6(id: u32, off: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut p = IPV6_HBH_TCP[..40].to_vec();
        p[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes()); // payload length
        p[6] = 44; // next header: Fragment
        p.extend([/* next header TCP */ 0x06, /* reserved */ 0x00]);
        p.extend(((off as u16) | more as u16).to_be_bytes()); // offset (8-octet units << 3) | M
        p.extend(id.to_be_bytes());
        p.extend(data);
        p
    }

    fn check_reassembled(s: &Seg) {
        let t = tcp_bytes();
        assert_eq!((s.sport, s.dport, s.seq), (40000, 5432, 0x0102_0304));
        assert_eq!(s.payload, &t[20..]);
        assert_eq!(s.wire, 40);
    }

    #[test]
    fn ipv4_fragments_in_order() {
        let t = tcp_bytes();
        let mut d = Decoder::new();
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(7, 0, true, &t[..24])), Ok(None));
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(7, 24, true, &t[24..48])), Ok(None));
        let s = dec(&mut d, LinkType::RAW, &frag_v4(7, 48, false, &t[48..])).unwrap().expect("reassembled");
        check_reassembled(&s);
        assert_eq!(d.stats.fragments, 3);
        assert_eq!(d.stats.reassembled_datagrams, 1);
        assert_eq!(d.stats.fragments_dropped, 0);
        assert_eq!(d.defrag_pending(), (0, 0));
    }

    #[test]
    fn ipv4_fragments_out_of_order_and_interleaved() {
        let t = tcp_bytes();
        let mut d = Decoder::new();
        let eth = |ip: Vec<u8>| cat(&[ETH_IPV4, &ip]);
        assert_eq!(dec(&mut d, LinkType::ETHERNET, &eth(frag_v4(1, 48, false, &t[48..]))), Ok(None));
        assert_eq!(dec(&mut d, LinkType::ETHERNET, &eth(frag_v4(2, 48, false, &t[48..]))), Ok(None));
        assert_eq!(dec(&mut d, LinkType::ETHERNET, &eth(frag_v4(1, 0, true, &t[..24]))), Ok(None));
        let s = dec(&mut d, LinkType::ETHERNET, &eth(frag_v4(1, 24, true, &t[24..48]))).unwrap();
        check_reassembled(&s.expect("datagram 1"));
        assert_eq!(d.defrag_pending().0, 1); // datagram 2 still waiting
    }

    #[test]
    fn ipv4_overlapping_fragments_first_wins() {
        let t = tcp_bytes();
        let mut d = Decoder::new();
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(9, 0, true, &t[..32])), Ok(None));
        // Rewrites bytes 24..32 that already arrived: ignored there.
        let mut evil = t[24..].to_vec();
        evil[..8].copy_from_slice(b"XXXXXXXX");
        let s = dec(&mut d, LinkType::RAW, &frag_v4(9, 24, false, &evil)).unwrap().expect("reassembled");
        check_reassembled(&s);
        // A duplicate of a whole fragment changes nothing either.
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(10, 0, true, &t[..24])), Ok(None));
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(10, 0, true, &[b'Z'; 24])), Ok(None));
        let s = dec(&mut d, LinkType::RAW, &frag_v4(10, 24, false, &t[24..])).unwrap().expect("reassembled");
        check_reassembled(&s);
    }

    #[test]
    fn ipv6_fragments() {
        let t = tcp_bytes();
        let mut d = Decoder::new();
        assert_eq!(dec(&mut d, LinkType::IPV6, &frag_v6(0xdead_beef, 32, false, &t[32..])), Ok(None));
        let s = dec(&mut d, LinkType::IPV6, &frag_v6(0xdead_beef, 0, true, &t[..32])).unwrap().expect("reassembled");
        assert_eq!(s.src, IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        check_reassembled(&s);
        assert_eq!(d.stats.fragments, 2);
        assert_eq!(d.stats.reassembled_datagrams, 1);
    }

    #[test]
    fn non_tcp_and_snaplen_cut_fragments_are_not_kept() {
        let t = tcp_bytes();
        let mut d = Decoder::new();
        let mut udp = frag_v4(3, 0, true, &t[..24]);
        udp[9] = 17;
        assert_eq!(dec(&mut d, LinkType::RAW, &udp), Ok(None));
        assert_eq!(d.stats.not_tcp, 1);
        let f = frag_v4(4, 0, true, &t[..24]);
        let pkt = Packet { ts: Timestamp(0), link: LinkType::RAW, data: &f[..30], orig_len: f.len() as u32 };
        assert!(matches!(d.decode(&pkt), Ok(None)));
        assert_eq!(d.stats.fragments_dropped, 1);
        assert_eq!(d.defrag_pending().0, 0);
    }

    #[test]
    fn defrag_caps_hold() {
        let t = tcp_bytes();
        let limits =
            DefragLimits { max_datagrams: 4, max_total_bytes: 200, max_datagram_bytes: 1000, timeout_ns: 1_000 };
        // Datagram count.
        let mut d = Decoder::with_defrag_limits(limits);
        for id in 0..10 {
            assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(id, 0, true, &t[..24])), Ok(None));
            assert!(d.defrag_pending().0 <= 4);
        }
        assert_eq!(d.stats.fragments_dropped, 6);

        // Bytes in total: each datagram holds 120 bytes once its far fragment arrived.
        let mut d = Decoder::with_defrag_limits(limits);
        for id in 0..5 {
            let _ = dec(&mut d, LinkType::RAW, &frag_v4(id, 96, true, &t[..24]));
            assert!(d.defrag_pending().1 <= 200, "{:?}", d.defrag_pending());
        }
        assert!(d.stats.fragments_dropped >= 3);

        // Bytes per datagram.
        let mut d = Decoder::with_defrag_limits(limits);
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(1, 992, true, &t[..24])), Ok(None));
        assert_eq!(d.defrag_pending(), (0, 0));
        assert_eq!(d.stats.fragments_dropped, 1);

        // Age, in capture time.
        let mut d = Decoder::with_defrag_limits(limits);
        assert_eq!(dec_at(&mut d, LinkType::RAW, &frag_v4(1, 0, true, &t[..24]), 0), Ok(None));
        assert_eq!(dec_at(&mut d, LinkType::RAW, &frag_v4(2, 0, true, &t[..24]), 5_000), Ok(None));
        assert_eq!(d.defrag_pending().0, 1);
        // The rest of datagram 1 arrives too late to complete it.
        assert_eq!(dec_at(&mut d, LinkType::RAW, &frag_v4(1, 24, false, &t[24..]), 5_001), Ok(None));
        assert_eq!(d.stats.reassembled_datagrams, 0);
        assert_eq!(d.stats.fragments_dropped, 1);
    }

    #[test]
    fn inconsistent_fragments_are_dropped() {
        let t = tcp_bytes();
        let mut d = Decoder::new();
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(5, 24, false, &t[24..])), Ok(None));
        // A second "last" fragment with a different end.
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(5, 24, false, &t[24..40])), Ok(None));
        assert_eq!(d.defrag_pending().0, 0);
        assert_eq!(d.stats.fragments_dropped, 2);
        // Data beyond the known end.
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(6, 8, false, &t[8..24])), Ok(None));
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(6, 16, true, &t[16..40])), Ok(None));
        assert_eq!(dec(&mut d, LinkType::RAW, &frag_v4(6, 0, true, &t[..8])), Ok(None));
        assert_eq!(d.stats.reassembled_datagrams, 0);
        assert_eq!(d.stats.fragments_dropped, 4);
    }

    /// IPv6 without extension headers + the TCP segment of [`tcp_bytes`].
    fn ipv6_tcp() -> Vec<u8> {
        let t = tcp_bytes();
        let mut v =
            vec![/* version 6 */ 0x60, 0, 0, 0, /* payload length */ 0, t.len() as u8, /* TCP */ 6, 64];
        v.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[1]));
        v.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[2]));
        v.extend(t);
        v
    }

    #[test]
    fn plain_tcp_takes_only_the_common_case() {
        let v4 = IPV4_TCP;
        assert!(plain_tcp(v4, Some(4)).is_some());
        assert!(plain_tcp(v4, Some(6)).is_none(), "version must match the link type");
        assert!(plain_tcp(&ipv6_tcp(), None).is_some());
        let mut frag = v4.to_vec();
        frag[6] = 0x20; // more fragments
        assert!(plain_tcp(&frag, Some(4)).is_none());
        let mut cut = v4.to_vec();
        cut.pop(); // total length beyond the capture: snaplen-cut, full path
        assert!(plain_tcp(&cut, Some(4)).is_none());
        assert!(plain_tcp(IPV6_HBH_TCP, Some(6)).is_none(), "extension headers take the full path");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Wherever the common-case decoder answers, the general one gives the same
        /// segment (or the same error).
        #[test]
        fn plain_tcp_agrees_with_the_full_decoder(
            v6 in proptest::prelude::any::<bool>(),
            flips in proptest::collection::vec((0usize..60, proptest::prelude::any::<u8>()), 0..4),
            cut in 0usize..8,
            extra in 0usize..6,
        ) {
            let mut ip = if v6 { ipv6_tcp() } else { IPV4_TCP.to_vec() };
            for (at, v) in flips {
                let n = ip.len();
                ip[at % n] = v;
            }
            ip.truncate(ip.len().saturating_sub(cut));
            ip.extend(std::iter::repeat(0xee).take(extra)); // link-layer padding
            for want in [Some(4), Some(6), None] {
                if let Some((src, dst, payload)) = plain_tcp(&ip, want) {
                    let fast = tcp(src, dst, payload, payload.len()).map(Some);
                    let mut stats = DecodeStats::default();
                    let mut defrag = Defrag::default();
                    let net = match want {
                        Some(4) => Net::Ipv4(&ip),
                        Some(6) => Net::Ipv6(&ip),
                        _ => Net::Ip(&ip),
                    };
                    let full = decode_net_full(&mut stats, &mut defrag, net, 0, 0);
                    proptest::prop_assert_eq!(format!("{fast:?}"), format!("{full:?}"));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(
            link in proptest::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999]),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut d = Decoder::new();
            let _ = dec(&mut d, LinkType(link), &data);
        }

        #[test]
        fn mutated_packets_never_panic(
            which in 0usize..14,
            flips in proptest::collection::vec((0usize..120, proptest::prelude::any::<u8>()), 1..6),
            cut in 0usize..130,
            ts in 0u64..100_000_000_000,
        ) {
            let mut frames = v4_on_every_link();
            frames.push((LinkType::RAW, IPV6_HBH_TCP.to_vec()));
            let (link, mut f) = frames.swap_remove(which % frames.len());
            for (at, v) in flips {
                let n = f.len().max(1);
                if let Some(b) = f.get_mut(at % n) {
                    *b = v;
                }
            }
            f.truncate(cut.max(1));
            let mut d = Decoder::new();
            // Feed it twice: mutated headers often look like fragments.
            let _ = dec_at(&mut d, link, &f, ts);
            let _ = dec_at(&mut d, link, &f, ts + 1);
        }
    }

    #[test]
    fn real_captures_decode() {
        use crate::capture::file::tests::{shared_capture_files, shared_captures};
        use crate::capture::file::CaptureFile;
        let Some(dir) = shared_captures() else {
            eprintln!("shared captures absent; skipped");
            return;
        };
        for path in shared_capture_files(&dir) {
            let mut d = Decoder::new();
            let mut with_payload = 0u64;
            let mut cf = CaptureFile::open(&path).unwrap();
            cf.for_each(&mut |_| {}, &mut |p| {
                if let Ok(Some(s)) = d.decode(p) {
                    if !s.payload.is_empty() {
                        with_payload += 1;
                    }
                }
            })
            .unwrap();
            let name = path.display();
            eprintln!("{name}: {:?}", d.stats);
            assert!(d.stats.tcp_segments > 0, "{name}: {:?}", d.stats);
            assert!(with_payload > 0, "{name}: no TCP payload");
            assert_eq!(d.stats.unsupported_link, 0, "{name}");
        }
    }
}
