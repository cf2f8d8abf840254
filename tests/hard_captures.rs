//! Messy captures from other people's tcpdumps, end to end through the binary: a pcapng
//! whose interfaces have different link types and nanosecond clocks, carrying the two
//! directions of one PostgreSQL session on different interfaces, with the query in IPv4
//! fragments behind a VLAN tag and an MPLS label.

mod common;

use std::net::Ipv4Addr;

use common::hostile::{ethernet, ipv4, tcp, tcp4, ACK, FIN_ACK, PSH_ACK, SYN};

/// pcapng blocks (draft-ietf-opsawg-pcapng §4.1–4.3), little-endian.
fn block(ty: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut b = ty.to_le_bytes().to_vec();
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.extend(len.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut b = 0x1a2b_3c4du32.to_le_bytes().to_vec(); // byte-order magic
    b.extend([1, 0, 0, 0]); // version 1.0
    b.extend([0xff; 8]); // section length unknown
    block(0x0a0d_0d0a, &b)
}

/// Interface with nanosecond timestamps (`if_tsresol` = 9).
fn idb(link: u16) -> Vec<u8> {
    let mut b = link.to_le_bytes().to_vec();
    b.extend([0, 0, 0, 0, 0, 0]); // reserved, snaplen 0
    b.extend([9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol: 10^-9
    b.extend([0, 0, 0, 0]); // end of options
    block(1, &b)
}

fn epb(iface: u32, ts_ns: u64, data: &[u8]) -> Vec<u8> {
    let mut b = iface.to_le_bytes().to_vec();
    b.extend(((ts_ns >> 32) as u32).to_le_bytes());
    b.extend((ts_ns as u32).to_le_bytes());
    b.extend((data.len() as u32).to_le_bytes());
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    block(6, &b)
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

/// PostgreSQL messages (protocol 3.0, "Message Formats").
fn startup() -> Vec<u8> {
    let params = b"user\0app\0database\0shop\0\0";
    let mut m = ((8 + params.len()) as u32).to_be_bytes().to_vec();
    m.extend(0x0003_0000u32.to_be_bytes());
    m.extend(params);
    m
}

fn tagged(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend(((4 + body.len()) as u32).to_be_bytes());
    m.extend(body);
    m
}

/// A raw IPv4 packet (no link header) for the server's interface.
fn raw4(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    ipv4(src.0, dst.0, 6, 0, 0x4000, &tcp(src.1, dst.1, seq, ack, flags, payload))
}

#[test]
fn one_session_across_two_interfaces_with_fragments_vlan_and_mpls() {
    let cl = (CLIENT, 51000);
    let sv = (SERVER, 5432);
    let t0: u64 = 1_700_000_000_123_456_789; // ns
    let su = startup();
    let auth_ok = [tagged(b'R', &[0, 0, 0, 0]), tagged(b'S', b"server_version\x0015.4\0"), tagged(b'Z', b"I")].concat();
    let query = tagged(b'Q', b"SELECT * FROM t WHERE id = 42\0");
    let (c1, s1) = (1001u32, 5001u32);
    let c2 = c1 + su.len() as u32;
    let s2 = s1 + auth_ok.len() as u32;
    let c3 = c2 + query.len() as u32;

    // Interface 0: Ethernet towards the server. Interface 1: raw IP from the server.
    let mut f = [shb(), idb(1), idb(101)].concat();
    let mut t = t0;
    let to_server = |f: &mut Vec<u8>, frame: Vec<u8>, t: &mut u64| {
        f.extend(epb(0, *t, &frame));
        *t += 1_000;
    };
    to_server(&mut f, tcp4(cl, sv, c1 - 1, 0, SYN, &[]), &mut t);
    f.extend(epb(1, t, &raw4(sv, cl, s1 - 1, c1, SYN | ACK, &[])));
    t += 1_000;
    to_server(&mut f, tcp4(cl, sv, c1, s1, ACK, &[]), &mut t);
    to_server(&mut f, tcp4(cl, sv, c1, s1, PSH_ACK, &su), &mut t);
    f.extend(epb(1, t, &raw4(sv, cl, s1, c2, PSH_ACK, &auth_ok)));
    t += 1_000;

    // The query segment in two IPv4 fragments (RFC 791: offsets in 8-byte units),
    // second one first, behind an 802.1Q tag (VLAN 20) and one MPLS label.
    let seg = tcp(cl.1, sv.1, c2, s2, PSH_ACK, &query);
    let (a, b) = seg.split_at(24);
    let wrap = |ip: Vec<u8>| {
        let mut inner = vec![0x00, 0x14, 0x88, 0x47, /* label 42, bottom */ 0x00, 0x02, 0xa1, 0x40];
        inner.extend(ip);
        ethernet(0x8100, &inner)
    };
    to_server(&mut f, wrap(ipv4(cl.0, sv.0, 6, 77, 3, b)), &mut t);
    to_server(&mut f, wrap(ipv4(cl.0, sv.0, 6, 77, 0x2000, a)), &mut t);

    let complete = tagged(b'C', b"SELECT 1\0");
    f.extend(epb(1, t, &raw4(sv, cl, s2, c3, PSH_ACK, &complete)));
    t += 1_000;
    to_server(&mut f, tcp4(cl, sv, c3, s2 + complete.len() as u32, FIN_ACK, &[]), &mut t);
    f.extend(epb(1, t, &raw4(sv, cl, s2 + complete.len() as u32, c3 + 1, FIN_ACK, &[])));

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("two-interfaces.pcapng");
    std::fs::write(&p, &f).unwrap();
    let (rows, out) = common::run_jsonl(&[&p], &[]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows.len(), 1, "one connection: {rows:?}");
    let r = &rows[0];
    assert_eq!(r["client"], "203.0.113.5:51000");
    assert_eq!(r["server"], "203.0.113.9:5432");
    assert_eq!(r["engine"], "postgresql");
    assert_eq!(r["encryption"], "plaintext");
    assert_eq!(r["handshake_seen"], true);
    assert_eq!(r["server_version"], "15.4");
    assert_eq!(r["credentials"]["user"], "app");
    assert_eq!(r["credentials"]["database"], "shop");
    assert_eq!(r["plaintext"]["queries"][0], "SELECT * FROM t WHERE id = ?");
    // 10 frames, two of them fragments of one TCP segment: 9 segments.
    assert_eq!(r["packets"], 9);
    assert_eq!(r["missing_bytes"], serde_json::json!([0, 0]));
    // Nanosecond clock, reported to the microsecond.
    assert_eq!(r["start"], "2023-11-14T22:13:20.123456Z");
}
