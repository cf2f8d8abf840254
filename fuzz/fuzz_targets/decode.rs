//! Link/IP/TCP decoding with the defragmenter: one input is a link type and a run of
//! packets, so fragments of one datagram can meet.
#![no_main]

use dbwire::capture::{LinkType, Packet, Timestamp};
use dbwire::decode::{Decoder, DefragLimits};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 9] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else { return };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    let limits =
        DefragLimits { max_datagrams: 4, max_total_bytes: 8192, max_datagram_bytes: 64 << 10, timeout_ns: 1000 };
    let mut decoder = Decoder::with_defrag_limits(limits);
    let mut ts = 0u64;
    // Packets: a 2-byte length, a 1-byte "snap cut" (orig_len excess), then the bytes.
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let extra = u32::from(rest[2]);
        rest = &rest[3..];
        let n = len.min(rest.len());
        let (pkt, tail) = rest.split_at(n);
        rest = tail;
        ts += u64::from(extra) * 10;
        let p = Packet { ts: Timestamp(ts), link, data: pkt, orig_len: n as u32 + extra };
        if let Ok(Some(seg)) = decoder.decode(&p) {
            assert!(seg.payload.len() <= pkt.len().max(64 << 10));
        }
        let (pending, held) = decoder.defrag_pending();
        assert!(pending <= limits.max_datagrams);
        assert!(held <= limits.max_total_bytes);
    }
});
