//! Flow key (the connection's 4-tuple, direction-independent) and the server port set.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::decode::TcpSegment;

/// Both endpoints of a TCP connection, normalised so that the two directions of one
/// connection map to the same key (RFC 9293 §2.7: a connection is identified by the
/// pair of sockets).
///
/// Addresses are stored as 128-bit values split into two words (IPv4 as the IPv4-mapped
/// IPv6 address), so the key is 40 bytes and hashing an IPv4 key touches only the words
/// that can differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// `[lo high word, lo low word, hi high word, hi low word]`.
    ips: [u64; 4],
    /// `[lo port, hi port]`.
    ports: [u16; 2],
}

fn ip_words(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl FlowKey {
    /// The key of `seg`'s connection, and whether the segment's sender is the "lo" side
    /// of the key (the smaller of the two (address, port) pairs).
    pub fn from_segment(seg: &TcpSegment<'_>) -> (FlowKey, bool) {
        let src = (ip_words(seg.src_ip), seg.src_port);
        let dst = (ip_words(seg.dst_ip), seg.dst_port);
        let src_is_lo = src <= dst;
        let (lo, hi) = if src_is_lo { (src, dst) } else { (dst, src) };
        let key =
            FlowKey { ips: [(lo.0 >> 64) as u64, lo.0 as u64, (hi.0 >> 64) as u64, hi.0 as u64], ports: [lo.1, hi.1] };
        (key, src_is_lo)
    }

    /// Port of the lo side, then of the hi side.
    pub fn ports(&self) -> (u16, u16) {
        (self.ports[0], self.ports[1])
    }
}

impl Hash for FlowKey {
    fn hash<S: Hasher>(&self, state: &mut S) {
        // IPv4 (mapped) addresses have a constant high word: skip it. Equal keys take the
        // same branch, so this stays consistent with `Eq`.
        const V4_HIGH: u64 = 0;
        if self.ips[0] == V4_HIGH && self.ips[2] == V4_HIGH {
            state.write_u64(self.ips[1]);
            state.write_u64(self.ips[3]);
        } else {
            for w in self.ips {
                state.write_u64(w);
            }
        }
        state.write_u32(u32::from(self.ports[0]) << 16 | u32::from(self.ports[1]));
    }
}

/// A set of TCP ports as a 65536-bit bitmap (8 KiB): one load and a mask per lookup.
#[derive(Clone)]
pub struct PortSet {
    bits: Box<[u64]>,
}

impl PortSet {
    pub fn new(ports: &[u16]) -> Self {
        let mut bits = vec![0u64; 65536 / 64].into_boxed_slice();
        for &p in ports {
            bits[usize::from(p) / 64] |= 1 << (p % 64);
        }
        PortSet { bits }
    }

    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<u16> = (0..=u16::MAX).filter(|&p| self.contains(p)).collect();
        f.debug_set().entries(ports).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn seg(src: IpAddr, sp: u16, dst: IpAddr, dp: u16) -> TcpSegment<'static> {
        TcpSegment {
            src_ip: src,
            dst_ip: dst,
            src_port: sp,
            dst_port: dp,
            seq: 0,
            ack: 0,
            flags: TcpFlags::default(),
            window: 0,
            payload: &[],
            payload_wire_len: 0,
        }
    }

    #[test]
    fn both_directions_share_a_key() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let (k1, lo1) = FlowKey::from_segment(&seg(a, 40000, b, 5432));
        let (k2, lo2) = FlowKey::from_segment(&seg(b, 5432, a, 40000));
        assert_eq!(k1, k2);
        assert_ne!(lo1, lo2);
        let (k3, _) = FlowKey::from_segment(&seg(a, 40001, b, 5432));
        assert_ne!(k1, k3);
        let a6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let (k4, _) = FlowKey::from_segment(&seg(a6, 40000, b, 5432));
        assert_ne!(k1, k4);
        assert_eq!(std::mem::size_of::<FlowKey>(), 40);
    }

    #[test]
    fn port_set() {
        let s = PortSet::new(&[0, 5432, 3306, 65535]);
        assert!(s.contains(0) && s.contains(5432) && s.contains(3306) && s.contains(65535));
        assert!(!s.contains(1) && !s.contains(5433));
    }
}
