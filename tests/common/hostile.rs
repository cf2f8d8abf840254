//! Writes hostile captures: floods and crafted framing that a capture from someone
//! else's network may hold, to check that dbwire's memory stays under its caps.
//!
//! A small pcap writer (legacy format, µs, Ethernet; draft-ietf-opsawg-pcap §4–5) and
//! frame builders for Ethernet II, IPv4 (RFC 791, header checksum filled in), IPv6
//! (RFC 8200) and TCP (RFC 9293). TCP checksums are left zero: dbwire does not verify
//! them (captures taken on the sending host carry offloaded, wrong checksums anyway).
//! Written by hand because the frames are trivial and the scenarios need exact control
//! over every length field, which is the point of the exercise.

#![allow(dead_code)]

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;
pub const FIN_ACK: u8 = 0x11;
pub const RST: u8 = 0x04;

/// A legacy pcap file (little-endian, microseconds, LINKTYPE_ETHERNET).
pub struct PcapWriter<W: Write> {
    out: W,
    /// Capture time of the next packet, µs.
    pub now_us: u64,
    pub packets: u64,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?; // version 2.4
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?; // thiszone
        out.write_all(&0u32.to_le_bytes())?; // sigfigs
        out.write_all(&262_144u32.to_le_bytes())?; // snaplen
        out.write_all(&1u32.to_le_bytes())?; // Ethernet
        Ok(PcapWriter { out, now_us: 1_700_000_000_000_000, packets: 0 })
    }

    /// One frame at the current time; the clock then moves on by `step_us`.
    pub fn frame(&mut self, frame: &[u8], step_us: u64) -> io::Result<()> {
        let (sec, usec) = (self.now_us / 1_000_000, self.now_us % 1_000_000);
        self.out.write_all(&(sec as u32).to_le_bytes())?;
        self.out.write_all(&(usec as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(frame)?;
        self.now_us += step_us;
        self.packets += 1;
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Ethernet II header (RFC 894) followed by `payload`.
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 header (RFC 791 §3.1) with a correct total length and checksum.
/// `frag` is the flags/fragment-offset word (offset in 8-byte units, MF = 0x2000).
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let sum = h.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv6 header (RFC 8200 §3).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

/// A 20-byte TCP header (RFC 9293 §3.1) followed by `payload`.
pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(20 + payload.len());
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&ack.to_be_bytes());
    h.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    h.extend_from_slice(payload);
    h
}

/// A TCP segment in IPv4 in Ethernet.
pub fn tcp4(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    ethernet(0x0800, &ipv4(src.0, dst.0, 6, 0, 0x4000, &tcp(src.1, dst.1, seq, ack, flags, payload)))
}

/// A TCP segment in IPv6 in Ethernet.
pub fn tcp6(src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    ethernet(0x86dd, &ipv6(src.0, dst.0, 6, &tcp(src.1, dst.1, seq, ack, flags, payload)))
}

/// Distinct client address number `n` in 10.0.0.0/8 (never .0).
pub fn client_v4(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | ((n % 0x00ff_fffe) + 1))
}

pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// How much of each hostile pattern to write.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// SYNs to port 5432, each from a distinct source.
    pub syns: u32,
    /// Connections each leaving a hole at the start and then sending out-of-order data.
    pub ooo_flows: u32,
    /// Out-of-order segments (1,000 bytes each) per such connection.
    pub ooo_segments: u32,
    /// Connections per engine framing with a huge declared length.
    pub huge_per_engine: u32,
    /// IPv4 fragments that never complete, each of its own datagram.
    pub fragments: u32,
}

impl Scale {
    /// A million SYNs and bigger floods (a ~300 MB file).
    pub const FULL: Scale =
        Scale { syns: 1_000_000, ooo_flows: 4_000, ooo_segments: 32, huge_per_engine: 1_000, fragments: 50_000 };
    /// Small enough for a debug build on two cores within seconds.
    pub const CI: Scale =
        Scale { syns: 200_000, ooo_flows: 1_000, ooo_segments: 32, huge_per_engine: 300, fragments: 10_000 };
}

/// Write every pattern, one after another.
pub fn write_all<W: Write>(w: &mut PcapWriter<W>, scale: Scale) -> io::Result<()> {
    syn_flood(w, scale.syns)?;
    ooo_flood(w, scale.ooo_flows, scale.ooo_segments)?;
    overlapping_segments(w)?;
    huge_lengths(w, scale.huge_per_engine)?;
    fragment_flood(w, scale.fragments)?;
    Ok(())
}

/// `n` SYNs to 192.0.2.10:5432 from distinct sources, 1 µs apart (far below any idle
/// timeout, so only the flow cap can keep the table small).
pub fn syn_flood<W: Write>(w: &mut PcapWriter<W>, n: u32) -> io::Result<()> {
    for i in 0..n {
        let src = (client_v4(i), 1024 + (i % 60_000) as u16);
        w.frame(&tcp4(src, (SERVER, 5432), i.wrapping_mul(2_654_435_761), 0, SYN, &[]), 1)?;
    }
    Ok(())
}

/// `flows` connections to 5432; after the handshake each client skips its first
/// segment (never sent) and sends `segments` 1,000-byte segments after the hole, all
/// interleaved across connections so every connection buffers at once.
pub fn ooo_flood<W: Write>(w: &mut PcapWriter<W>, flows: u32, segments: u32) -> io::Result<()> {
    let base = 0x0200_0000;
    let ep = |f: u32| (client_v4(base + f), 2000 + (f % 50_000) as u16);
    for f in 0..flows {
        w.frame(&tcp4(ep(f), (SERVER, 5432), 1000, 0, SYN, &[]), 1)?;
        w.frame(&tcp4((SERVER, 5432), ep(f), 7000, 1001, SYN | ACK, &[]), 1)?;
    }
    let chunk = [0x5au8; 1000];
    for s in 0..segments {
        for f in 0..flows {
            let seq = 1001 + 1000 * (s + 1);
            w.frame(&tcp4(ep(f), (SERVER, 5432), seq, 7001, PSH_ACK, &chunk), 1)?;
        }
    }
    Ok(())
}

/// One PostgreSQL connection whose client stream holds overlapping segments with
/// different bytes: the later copy ("SELECT 2") overlaps a buffered "SELECT 1".
pub fn overlapping_segments<W: Write>(w: &mut PcapWriter<W>) -> io::Result<()> {
    let cl = (Ipv4Addr::new(198, 51, 100, 7), 40_000);
    let sv = (SERVER, 5432);
    w.frame(&tcp4(cl, sv, 100, 0, SYN, &[]), 10)?;
    w.frame(&tcp4(sv, cl, 900, 101, SYN | ACK, &[]), 10)?;
    // StartupMessage: length 8 + "user\0app\0\0", protocol 3.0.
    let mut startup = Vec::new();
    let params = b"user\0app\0\0";
    startup.extend_from_slice(&((8 + params.len()) as u32).to_be_bytes());
    startup.extend_from_slice(&0x0003_0000u32.to_be_bytes());
    startup.extend_from_slice(params);
    let mut query = vec![b'Q'];
    let sql = b"SELECT 1\0";
    query.extend_from_slice(&((4 + sql.len()) as u32).to_be_bytes());
    query.extend_from_slice(sql);
    let mut stream = startup.clone();
    stream.extend_from_slice(&query);
    let mut forged = stream.clone();
    let n = forged.len();
    forged[n - 2] = b'2';
    let qs = startup.len();
    // The query arrives first (out of order), then everything with the forged query.
    w.frame(&tcp4(cl, sv, 101 + qs as u32, 901, PSH_ACK, &stream[qs..]), 10)?;
    w.frame(&tcp4(cl, sv, 101, 901, PSH_ACK, &forged), 10)?;
    // AuthenticationOk, ReadyForQuery.
    let reply = [b'R', 0, 0, 0, 8, 0, 0, 0, 0, b'Z', 0, 0, 0, 5, b'I'];
    w.frame(&tcp4(sv, cl, 901, 101 + n as u32, PSH_ACK, &reply), 10)?;
    w.frame(&tcp4(cl, sv, 101 + n as u32, 901 + reply.len() as u32, FIN_ACK, &[]), 10)?;
    w.frame(&tcp4(sv, cl, 901 + reply.len() as u32, 102 + n as u32, FIN_ACK, &[]), 10)?;
    Ok(())
}

/// First bytes of a message whose length field promises far more than will come, per
/// engine framing, with the server port it goes to and which side sends it.
fn huge_headers() -> Vec<(&'static str, u16, bool, Vec<u8>)> {
    vec![
        // PostgreSQL StartupMessage with length 0x7fffffff (protocol 3.0).
        ("pg-startup", 5432, true, vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]),
        // A StartupMessage (16 bytes, user "a"), then a Query message declaring 4 GiB - 1.
        ("pg-query", 5432, true, {
            let mut v = vec![0, 0, 0, 16, 0, 3, 0, 0, b'u', b's', b'e', b'r', 0, b'a', 0, 0];
            v.extend_from_slice(&[b'Q', 0xff, 0xff, 0xff, 0xff]);
            v
        }),
        // MySQL server greeting with the largest 3-byte payload length (16 MiB - 1).
        ("mysql-greeting", 3306, false, vec![0xff, 0xff, 0xff, 0x00, 0x0a]),
        // TLS record claiming 65,535 bytes of a handshake message claiming 16 MiB - 1.
        ("tls-record", 5432, true, vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03]),
        // TDS packet header (MS-TDS §2.2.3.1): PRELOGIN, length 0xffff.
        ("tds", 1433, true, vec![0x12, 0x01, 0xff, 0xff, 0x00, 0x00, 0x01, 0x00]),
        // TNS packet header: length 0xffff, type CONNECT (1).
        ("tns", 1521, true, vec![0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]),
    ]
}

/// For every engine framing, `per_engine` connections that send a header with a huge
/// declared length and then 4 KB of the promised body, then close.
pub fn huge_lengths<W: Write>(w: &mut PcapWriter<W>, per_engine: u32) -> io::Result<()> {
    let filler = [0x41u8; 1400];
    for (e, (_, port, client_sends, header)) in huge_headers().into_iter().enumerate() {
        for i in 0..per_engine {
            let cl = (client_v4(0x0300_0000 + (e as u32) * 100_000 + i), 3000 + (i % 50_000) as u16);
            let sv = (SERVER, port);
            w.frame(&tcp4(cl, sv, 10, 0, SYN, &[]), 1)?;
            w.frame(&tcp4(sv, cl, 20, 11, SYN | ACK, &[]), 1)?;
            let (from, to, mut seq, ack) = if client_sends { (cl, sv, 11u32, 21u32) } else { (sv, cl, 21, 11) };
            w.frame(&tcp4(from, to, seq, ack, PSH_ACK, &header), 1)?;
            seq += header.len() as u32;
            for _ in 0..3 {
                w.frame(&tcp4(from, to, seq, ack, PSH_ACK, &filler), 1)?;
                seq += filler.len() as u32;
            }
            w.frame(&tcp4(from, to, seq, ack, FIN_ACK, &[]), 1)?;
            w.frame(&tcp4(to, from, ack, seq + 1, FIN_ACK, &[]), 1)?;
        }
    }
    Ok(())
}

/// `n` first fragments (more-fragments set, 1,400 bytes) of distinct TCP datagrams to
/// 5432; none ever completes.
pub fn fragment_flood<W: Write>(w: &mut PcapWriter<W>, n: u32) -> io::Result<()> {
    let mut body = tcp(4444, 5432, 1, 1, PSH_ACK, &[0x33; 1380]);
    body.truncate(1400);
    for i in 0..n {
        let ip = ipv4(client_v4(0x0400_0000 + i / 60_000), SERVER, 6, (i % 60_000) as u16, 0x2000, &body);
        w.frame(&ethernet(0x0800, &ip), 1)?;
    }
    Ok(())
}
