//! Link-layer headers: from a captured frame to the first byte of the IP header.
//!
//! These headers are fixed-size and trivial, so they are read here directly rather than
//! through etherparse: etherparse 0.19 has no Linux SLL2 or BSD NULL/LOOP support, and
//! its `LaxSlicedPacket` would go on to parse IP and TCP, which [`super`] does itself
//! (it needs the raw IP bytes for defragmentation). Header layouts follow the
//! tcpdump.org LINKTYPE pages cited on each function.

use super::DecodeError;
use crate::capture::LinkType;

/// What the link layer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net<'a> {
    /// Bytes starting at an IPv4 header.
    Ipv4(&'a [u8]),
    /// Bytes starting at an IPv6 header.
    Ipv6(&'a [u8]),
    /// An IP header of either version (raw IP link types: the version nibble decides).
    Ip(&'a [u8]),
    /// ARP, LLC, IPX, …
    NotIp,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IEEE 802.1Q customer tag, 802.1ad service tag, and the pre-standard QinQ value.
const ETHERTYPE_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// More stacked VLAN tags than this is treated as malformed (real networks use ≤ 2).
const MAX_VLAN_TAGS: usize = 8;
/// MPLS unicast and multicast (RFC 3032 §5).
const ETHERTYPE_MPLS: [u16; 2] = [0x8847, 0x8848];
/// More stacked MPLS labels than this is treated as malformed (real stacks are short).
const MAX_MPLS_LABELS: usize = 16;
/// Ethernet inside MPLS inside Ethernet…: how deep we follow.
const MAX_ENCAPSULATION: usize = 4;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Strip the link header of `link` from `data`.
pub(crate) fn strip(link: LinkType, data: &[u8]) -> Result<Net<'_>, DecodeError> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::LINUX_SLL => sll(data),
        LinkType::LINUX_SLL2 => sll2(data),
        LinkType::NULL => bsd_null(data, false),
        LinkType::LOOP => bsd_null(data, true),
        LinkType::RAW | LinkType::RAW_ALT12 | LinkType::RAW_ALT14 => Ok(Net::Ip(data)),
        LinkType::IPV4 => Ok(Net::Ipv4(data)),
        LinkType::IPV6 => Ok(Net::Ipv6(data)),
        LinkType(n) => Err(DecodeError::UnsupportedLinkType(n)),
    }
}

/// Dispatch on an EtherType, stepping over 802.1Q / 802.1ad VLAN tags (4 bytes each:
/// TCI then the inner EtherType) and MPLS label stacks.
fn by_ethertype(ethertype: u16, rest: &[u8]) -> Result<Net<'_>, DecodeError> {
    by_ethertype_at(ethertype, rest, 0)
}

fn by_ethertype_at(mut ethertype: u16, mut rest: &[u8], depth: usize) -> Result<Net<'_>, DecodeError> {
    // The common case first: this runs once per packet.
    match ethertype {
        ETHERTYPE_IPV4 => return Ok(Net::Ipv4(rest)),
        ETHERTYPE_IPV6 => return Ok(Net::Ipv6(rest)),
        _ => {}
    }
    let mut tags = 0;
    while ETHERTYPE_VLAN.contains(&ethertype) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(DecodeError::Malformed("too many VLAN tags"));
        }
        ethertype = be16(rest, 2).ok_or(DecodeError::Malformed("VLAN tag truncated"))?;
        rest = rest.get(4..).unwrap_or(&[]);
    }
    if ETHERTYPE_MPLS.contains(&ethertype) {
        return mpls(rest, depth);
    }
    Ok(match ethertype {
        ETHERTYPE_IPV4 => Net::Ipv4(rest),
        ETHERTYPE_IPV6 => Net::Ipv6(rest),
        _ => Net::NotIp,
    })
}

/// An MPLS label stack (RFC 3032 §2.1: label 20 bits, TC 3, bottom-of-stack 1, TTL 8).
/// MPLS does not say what follows the stack; like tcpdump and Wireshark we look at the
/// first nibble: 4 or 6 is IP, 0 is a pseudowire control word (RFC 4385 §3) followed by
/// an Ethernet frame (RFC 4448).
fn mpls(mut rest: &[u8], depth: usize) -> Result<Net<'_>, DecodeError> {
    for _ in 0..MAX_MPLS_LABELS {
        let entry = rest.get(..4).ok_or(DecodeError::Malformed("MPLS label truncated"))?;
        let bottom = entry[2] & 1 == 1;
        rest = &rest[4..];
        if bottom {
            return Ok(match rest.first().map(|b| b >> 4) {
                Some(4) => Net::Ipv4(rest),
                Some(6) => Net::Ipv6(rest),
                Some(0) if depth < MAX_ENCAPSULATION => {
                    let frame = rest.get(4..).unwrap_or(&[]);
                    let ethertype = be16(frame, 12).ok_or(DecodeError::Malformed("Ethernet in MPLS truncated"))?;
                    if ethertype < 0x0600 {
                        return Ok(Net::NotIp);
                    }
                    by_ethertype_at(ethertype, frame.get(14..).unwrap_or(&[]), depth + 1)?
                }
                _ => Net::NotIp,
            });
        }
    }
    Err(DecodeError::Malformed("too many MPLS labels"))
}

/// LINKTYPE_ETHERNET (1): destination (6), source (6), EtherType or 802.3 length (2).
/// <https://www.tcpdump.org/linktypes/LINKTYPE_ETHERNET.html>
fn ethernet(data: &[u8]) -> Result<Net<'_>, DecodeError> {
    let ethertype = be16(data, 12).ok_or(DecodeError::Malformed("Ethernet header truncated"))?;
    if ethertype < 0x0600 {
        // 802.3 length field: an LLC frame, never IP in practice.
        return Ok(Net::NotIp);
    }
    by_ethertype(ethertype, data.get(14..).unwrap_or(&[]))
}

/// LINKTYPE_LINUX_SLL (113), 16 bytes: packet type (2), ARPHRD type (2), address
/// length (2), address (8), protocol (2).
/// <https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html>
fn sll(data: &[u8]) -> Result<Net<'_>, DecodeError> {
    let hatype = be16(data, 2).ok_or(DecodeError::Malformed("Linux SLL header truncated"))?;
    let proto = be16(data, 14).ok_or(DecodeError::Malformed("Linux SLL header truncated"))?;
    sll_payload(hatype, proto, data.get(16..).unwrap_or(&[]))
}

/// LINKTYPE_LINUX_SLL2 (276), 20 bytes: protocol (2), reserved (2), interface index
/// (4), ARPHRD type (2), packet type (1), address length (1), address (8).
/// <https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html>
fn sll2(data: &[u8]) -> Result<Net<'_>, DecodeError> {
    let proto = be16(data, 0).ok_or(DecodeError::Malformed("Linux SLL2 header truncated"))?;
    let hatype = be16(data, 8).ok_or(DecodeError::Malformed("Linux SLL2 header truncated"))?;
    if data.len() < 20 {
        return Err(DecodeError::Malformed("Linux SLL2 header truncated"));
    }
    sll_payload(hatype, proto, data.get(20..).unwrap_or(&[]))
}

/// ARPHRD_NETLINK: the protocol field is a netlink family, not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

fn sll_payload(hatype: u16, proto: u16, rest: &[u8]) -> Result<Net<'_>, DecodeError> {
    if hatype == ARPHRD_NETLINK || proto < 0x0600 {
        // Values below 0x0600 are Linux pseudo-protocols (802.2 LLC, 802.3, CAN, …).
        return Ok(Net::NotIp);
    }
    by_ethertype(proto, rest)
}

/// LINKTYPE_NULL (0) and LINKTYPE_LOOP (108): a 4-byte address family, in the
/// capturing host's byte order for NULL and in network byte order for LOOP (we accept
/// either order for both: captures get moved between machines, and some writers get
/// LOOP wrong). AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD),
/// 28 (FreeBSD), 30 (macOS).
/// <https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html>,
/// <https://www.tcpdump.org/linktypes/LINKTYPE_LOOP.html>
fn bsd_null(data: &[u8], network_order_first: bool) -> Result<Net<'_>, DecodeError> {
    let fam: [u8; 4] =
        data.get(..4).and_then(|s| s.try_into().ok()).ok_or(DecodeError::Malformed("NULL/LOOP header truncated"))?;
    let rest = data.get(4..).unwrap_or(&[]);
    let (first, second) = if network_order_first {
        (u32::from_be_bytes(fam), u32::from_le_bytes(fam))
    } else {
        (u32::from_le_bytes(fam), u32::from_be_bytes(fam))
    };
    for af in [first, second] {
        match af {
            2 => return Ok(Net::Ipv4(rest)),
            10 | 24 | 28 | 30 => return Ok(Net::Ipv6(rest)),
            _ => {}
        }
    }
    Ok(Net::NotIp)
}

/// EtherType of Transparent Ethernet Bridging (an Ethernet frame inside GRE).
const ETHERTYPE_TEB: u16 = 0x6558;
/// ERSPAN type II (GRE with sequence number, then an 8-byte ERSPAN header and the frame).
const ETHERTYPE_ERSPAN_II: u16 = 0x88be;
/// ERSPAN type III (12-byte header, 20 with the optional platform sub-header).
const ETHERTYPE_ERSPAN_III: u16 = 0x22eb;

/// A GRE header (RFC 2784 §2.1 with the key and sequence fields of RFC 2890 §2): flags
/// and version (2), protocol type (2), then 4 bytes each for checksum (C), key (K) and
/// sequence number (S) when their flag is set. The protocol type is an EtherType.
pub(crate) fn gre(data: &[u8]) -> Result<Net<'_>, DecodeError> {
    let flags = be16(data, 0).ok_or(DecodeError::Malformed("GRE header truncated"))?;
    let proto = be16(data, 2).ok_or(DecodeError::Malformed("GRE header truncated"))?;
    if flags & 0x7 != 0 {
        // Version 1 is PPTP's enhanced GRE: PPP inside, not followed.
        return Ok(Net::NotIp);
    }
    let optional = [0x8000u16, 0x2000, 0x1000].iter().filter(|&&bit| flags & bit != 0).count();
    let rest = data.get(4 + 4 * optional..).ok_or(DecodeError::Malformed("GRE header truncated"))?;
    match proto {
        ETHERTYPE_TEB => ethernet(rest),
        ETHERTYPE_ERSPAN_II => ethernet(rest.get(8..).ok_or(DecodeError::Malformed("ERSPAN header truncated"))?),
        ETHERTYPE_ERSPAN_III => {
            // Bit 0 of the last byte (O) announces the 8-byte platform sub-header.
            let h = rest.get(..12).ok_or(DecodeError::Malformed("ERSPAN header truncated"))?;
            let skip = if h[11] & 1 == 1 { 20 } else { 12 };
            ethernet(rest.get(skip..).ok_or(DecodeError::Malformed("ERSPAN header truncated"))?)
        }
        _ => by_ethertype(proto, rest),
    }
}

/// IANA port of VXLAN (RFC 7348 §5).
const VXLAN_PORT: u16 = 4789;

/// A UDP datagram to the VXLAN port with the I flag set (RFC 7348 §5: 8-byte UDP header,
/// then flags (1), reserved (3), VNI (3), reserved (1)) carries an Ethernet frame.
/// `None` for any other UDP.
pub(crate) fn vxlan(udp: &[u8]) -> Option<Result<Net<'_>, DecodeError>> {
    if be16(udp, 2)? != VXLAN_PORT {
        return None;
    }
    let flags = *udp.get(8)?;
    if flags & 0x08 == 0 {
        return None;
    }
    Some(ethernet(udp.get(16..).unwrap_or(&[])))
}
