//! Helpers shared by the fuzz targets: cutting one fuzzer input into the pieces a target
//! feeds (stream chunks with a direction, gaps, packets).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use dbwire::capture::Timestamp;
use dbwire::engine::dissect::Dissector;
use dbwire::engine::{EngineConfig, EngineKind};
use dbwire::findings;
use dbwire::flow::{ConnMeta, Direction, Endpoint, StreamHandler};

/// One step of a byte stream conversation.
pub enum Step<'a> {
    Data(Direction, &'a [u8]),
    Gap(Direction, u64),
}

/// Cut `input` into steps: a control byte (bit 0 direction, bit 1 gap, bit 2 first
/// byte of the length is a high byte) and a length, then that many bytes.
pub fn steps(mut input: &[u8]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    while input.len() >= 2 {
        let ctl = input[0];
        let mut len = usize::from(input[1]);
        input = &input[2..];
        if ctl & 4 != 0 {
            if let Some((&lo, rest)) = input.split_first() {
                len = len << 8 | usize::from(lo);
                input = rest;
            }
        }
        let dir = if ctl & 1 == 0 { Direction::ToServer } else { Direction::ToClient };
        if ctl & 2 != 0 {
            out.push(Step::Gap(dir, len as u64 + 1));
            continue;
        }
        let n = len.min(input.len());
        out.push(Step::Data(dir, &input[..n]));
        input = &input[n..];
    }
    if !input.is_empty() {
        out.push(Step::Data(Direction::ToServer, input));
    }
    out
}

/// Feed a conversation to the dissector with `hint` as the port's engine, then build its
/// report (exercising the verdict code on whatever state the bytes left behind).
pub fn dissect(input: &[u8], hint: EngineKind) {
    let Some((&flags, rest)) = input.split_first() else { return };
    let cfg = Arc::new(EngineConfig { show_literals: flags & 2 != 0, ..EngineConfig::default() });
    let midstream = flags & 1 != 0;
    let mut d = Dissector::new(cfg, hint, midstream);
    for step in steps(rest) {
        match step {
            Step::Data(dir, data) => {
                d.on_data(dir, data);
            }
            Step::Gap(dir, len) => d.on_gap(dir, len),
        }
    }
    let ep = |port| Endpoint { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port };
    let meta = ConnMeta {
        client: ep(50000),
        server: ep(5432),
        handshake_seen: !midstream,
        direction_inferred: midstream,
        start: Timestamp(0),
        end: Timestamp(1),
        packets: [1, 1],
        bytes: [rest.len() as u64, 0],
        gap_bytes: [0, 0],
        overlap_conflict_bytes: [0, 0],
        fin_seen: false,
        rst_seen: false,
    };
    if findings::is_reportable(&d) {
        let r = findings::assess("fuzz", &meta, &d);
        let _ = serde_json::to_string(&r);
    }
}
