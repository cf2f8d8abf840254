//! TCP flows: flow key, flow table, and per-direction reassembly that passes in-order
//! bytes through without copying and buffers only out-of-order data, under caps.

mod key;
mod reassembly;
mod table;

pub use key::{FlowKey, PortSet};
pub use table::FlowTable;

use std::fmt;
use std::net::IpAddr;

/// Direction of bytes within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server.
    ToServer,
    /// Server → client.
    ToClient,
}

impl Direction {
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    /// `10.0.0.5:50152`, or `[::1]:5432` for IPv6.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{}:{}", ip, self.port),
            IpAddr::V6(ip) => write!(f, "[{}]:{}", ip, self.port),
        }
    }
}

/// What a stream handler still wants from the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Keep delivering payload.
    More,
    /// Nothing more to learn from payload: stop reassembling (packets are still counted).
    Done,
}

/// Receives the reassembled byte streams of one connection.
pub trait StreamHandler {
    /// In-order bytes of one direction. Called with slices of the captured packets when
    /// they arrive in order (no copy).
    fn on_data(&mut self, dir: Direction, data: &[u8]) -> Interest;
    /// `len` bytes of `dir` are missing (capture loss, snap length, or a reassembly cap)
    /// before the next `on_data` for that direction.
    fn on_gap(&mut self, dir: Direction, len: u64);
}

use crate::capture::Timestamp;

/// Limits of the flow table. When one bites, the oldest state is evicted and counted.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Most connections tracked at once.
    pub max_flows: usize,
    /// Out-of-order bytes buffered per direction.
    pub max_ooo_per_direction: usize,
    /// Out-of-order bytes buffered across all flows.
    pub max_ooo_total: usize,
    /// A connection with no packet for this long is finished (nanoseconds).
    pub idle_timeout_ns: u64,
    /// A closed connection (FIN both ways, or RST) stays this long after its last packet
    /// so that late retransmits are absorbed, then is finished (nanoseconds). Short, so
    /// that millions of short connections do not pile up.
    pub close_linger_ns: u64,
    /// Ports that are known database server ports (used to pick the server side of a
    /// connection whose SYN was not captured).
    pub server_ports: Vec<u16>,
}

/// The defaults keep peak memory flat (about 64 MiB at most in total, whatever the
/// capture): 16,384 connections at once (a typical tracked connection holds 1-2 KiB;
/// the least recently active is evicted, with a warning, when the table is full),
/// 256 KiB of out-of-order data per direction and 16 MiB across all connections.
/// Real database hosts rarely have more concurrent connections (PostgreSQL's default
/// `max_connections` is 100, MariaDB's 151).
impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 16_384,
            max_ooo_per_direction: 256 << 10,
            max_ooo_total: 16 << 20,
            idle_timeout_ns: 600 * 1_000_000_000,
            close_linger_ns: 5 * 1_000_000_000,
            server_ports: vec![5432, 3306],
        }
    }
}

/// Facts about one TCP connection kept by the flow table.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The SYN or SYN-ACK was captured, so roles are certain.
    pub handshake_seen: bool,
    /// Client and server were inferred (ports), not read from the handshake.
    pub direction_inferred: bool,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Packets per direction [to server, to client].
    pub packets: [u64; 2],
    /// Payload bytes per direction as seen on the wire.
    pub bytes: [u64; 2],
    /// Bytes reported missing to the handler per direction.
    pub gap_bytes: [u64; 2],
    /// Bytes per direction that arrived twice with different content (overlapping
    /// segments); the first copy was used.
    pub overlap_conflict_bytes: [u64; 2],
    pub fin_seen: bool,
    pub rst_seen: bool,
}

/// A connection handed back when it ends (FIN/RST, idle, port reuse, eviction or the end
/// of the capture).
pub struct Conn<H> {
    pub meta: ConnMeta,
    pub handler: H,
}

/// Counters of the flow table.
#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    pub flows: u64,
    pub evicted_flows: u64,
    /// Out-of-order bytes thrown away: segments too far ahead of the stream to be
    /// believed.
    pub ooo_bytes_dropped: u64,
    /// `on_gap` calls.
    pub gaps: u64,
    /// Times an out-of-order buffer cap (per direction or total) made a stream skip a
    /// hole instead of buffering, and the bytes skipped.
    pub ooo_cap_hits: u64,
    pub ooo_cap_skipped_bytes: u64,
    /// Overlapping segments whose bytes differed from the copy already held.
    pub overlap_conflicts: u64,
    /// Segments of unknown connections that did not start one (bare ACK/FIN/RST).
    pub untracked_segments: u64,
}

impl FlowStats {
    /// Sum of two tables' counters (the workers of a sharded run).
    pub fn add(&mut self, other: &FlowStats) {
        // Destructured so that a new counter cannot be forgotten here.
        let FlowStats {
            flows,
            evicted_flows,
            ooo_bytes_dropped,
            gaps,
            ooo_cap_hits,
            ooo_cap_skipped_bytes,
            overlap_conflicts,
            untracked_segments,
        } = other;
        self.flows += flows;
        self.evicted_flows += evicted_flows;
        self.ooo_bytes_dropped += ooo_bytes_dropped;
        self.gaps += gaps;
        self.ooo_cap_hits += ooo_cap_hits;
        self.ooo_cap_skipped_bytes += ooo_cap_skipped_bytes;
        self.overlap_conflicts += overlap_conflicts;
        self.untracked_segments += untracked_segments;
    }
}
