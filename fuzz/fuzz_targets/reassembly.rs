//! TCP reassembly and the flow table under tight caps, fed arbitrary segments on a few
//! 4-tuples: no panic, caps hold, everything is released at the end.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use dbwire::capture::Timestamp;
use dbwire::decode::{TcpFlags, TcpSegment};
use dbwire::flow::{Conn, Direction, FlowConfig, FlowTable, Interest, StreamHandler};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Count {
    bytes: [u64; 2],
    gaps: [u64; 2],
}

impl StreamHandler for Count {
    fn on_data(&mut self, dir: Direction, data: &[u8]) -> Interest {
        self.bytes[dir.index()] += data.len() as u64;
        if self.bytes[0] > 50_000 {
            Interest::Done
        } else {
            Interest::More
        }
    }
    fn on_gap(&mut self, dir: Direction, len: u64) {
        assert!(len > 0);
        self.gaps[dir.index()] += len;
    }
}

const MAX_FLOWS: usize = 3;
const PER_DIR: usize = 700;
const TOTAL: usize = 1000;

fuzz_target!(|data: &[u8]| {
    let cfg = FlowConfig {
        max_flows: MAX_FLOWS,
        max_ooo_per_direction: PER_DIR,
        max_ooo_total: TOTAL,
        idle_timeout_ns: 5_000,
        close_linger_ns: 1_000,
        server_ports: vec![5432],
    };
    let mut table: FlowTable<Count> = FlowTable::new(cfg);
    let mut finished: Vec<Conn<Count>> = Vec::new();
    let mut t = 0u64;
    let mut rest = data;
    // Segment: tuple (1), flags (1), seq (4), ack (4), length (1), announced extra (1),
    // time step (1), then the payload.
    while rest.len() >= 13 {
        let h = &rest[..13];
        rest = &rest[13..];
        let n = usize::from(h[10]).min(rest.len());
        let (payload, tail) = rest.split_at(n);
        rest = tail;
        let a = u16::from(h[0] & 3);
        let b = u16::from(h[0] >> 2 & 3);
        let fwd = h[0] & 16 == 0;
        let (cl, sv) = ((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000 + a), (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5430 + b));
        let (src, dst) = if fwd { (cl, sv) } else { (sv, cl) };
        let f = h[1];
        let seg = TcpSegment {
            src_ip: src.0,
            dst_ip: dst.0,
            src_port: src.1,
            dst_port: dst.1,
            seq: u32::from_be_bytes([h[2], h[3], h[4], h[5]]),
            ack: u32::from_be_bytes([h[6], h[7], h[8], h[9]]),
            flags: TcpFlags { syn: f & 1 != 0, ack: f & 2 != 0, fin: f & 4 != 0, rst: f & 8 != 0 },
            window: 65535,
            payload,
            payload_wire_len: n as u32 + u32::from(h[11]) * if f & 16 != 0 { 1 << 16 } else { 1 },
        };
        t += u64::from(h[12]) * 50;
        table.process(&seg, Timestamp(t), &mut |_| Count::default(), &mut |c| finished.push(c));
        assert!(table.len() <= MAX_FLOWS);
        assert!(table.buffered_bytes() <= TOTAL);
    }
    table.finish_all(&mut |c| finished.push(c));
    assert!(table.is_empty());
    assert_eq!(table.buffered_bytes(), 0);
    assert_eq!(finished.len() as u64, table.stats.flows);
    for c in &finished {
        assert_eq!(c.handler.gaps, c.meta.gap_bytes);
    }
});
