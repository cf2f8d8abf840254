//! The flow table: connections by 4-tuple, their roles and lifetimes, and the bounds on
//! memory (connection count, out-of-order bytes, idle and closed connections).
//!
//! Connections live in a slab (`Vec`) indexed by the hash map, and on one of two
//! intrusive lists ordered by last activity: open connections and closed ones
//! (FIN both ways, or RST). The lists give idle expiry and least-recently-active
//! eviction in O(1) per connection. To keep the per-packet cost low, a connection is
//! moved to the tail of its list at most once per [`RELINK_NS`] of capture time, so list
//! order (and thus eviction) is exact to that granularity.

use std::collections::HashMap;

use super::key::{FlowKey, PortSet};
use super::reassembly::{Budget, Reassembler, Sink};
use super::{Conn, ConnMeta, Direction, Endpoint, FlowConfig, FlowStats, Interest, StreamHandler};
use crate::capture::Timestamp;
use crate::decode::TcpSegment;

/// Granularity of activity ordering and of idle sweeps (capture time).
pub const RELINK_NS: u64 = 1_000_000_000;

const NIL: u32 = u32::MAX;
const OPEN: usize = 0;
const CLOSED: usize = 1;

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> Self {
        List { head: NIL, tail: NIL }
    }
}

struct Entry<H> {
    key: FlowKey,
    /// The client is the lo side of `key`.
    client_is_lo: bool,
    meta: ConnMeta,
    handler: H,
    /// Per direction, indexed by [`Direction::index`].
    rx: [Reassembler; 2],
    /// Initial sequence numbers from SYN / SYN-ACK, per direction.
    isn: [Option<u32>; 2],
    fin: [bool; 2],
    closed: bool,
    /// The handler returned [`Interest::Done`]: no more reassembly.
    done: bool,
    /// Capture time of the latest packet (ns).
    last_seen: u64,
    /// Which list, the time it was (re)linked there, and its neighbours.
    list: usize,
    listed_at: u64,
    prev: u32,
    next: u32,
}

impl<H> Entry<H> {
    fn dir(&self, src_is_lo: bool) -> Direction {
        if src_is_lo == self.client_is_lo {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }
}

/// Routes one direction's reassembled bytes to the handler and books gaps.
struct DirSink<'a, H> {
    handler: &'a mut H,
    dir: Direction,
    /// The connection's [`ConnMeta::gap_bytes`] and [`ConnMeta::overlap_conflict_bytes`].
    gap_bytes: &'a mut [u64; 2],
    conflict_bytes: &'a mut [u64; 2],
    stats: &'a mut FlowStats,
}

impl<H: StreamHandler> Sink for DirSink<'_, H> {
    fn data(&mut self, data: &[u8]) -> Interest {
        self.handler.on_data(self.dir, data)
    }
    fn gap(&mut self, len: u64) {
        self.gap_bytes[self.dir.index()] += len;
        self.stats.gaps += 1;
        self.handler.on_gap(self.dir, len);
    }
    fn dropped(&mut self, len: u64) {
        self.stats.ooo_bytes_dropped += len;
    }
    fn capped(&mut self, len: u64) {
        self.stats.ooo_cap_hits += 1;
        self.stats.ooo_cap_skipped_bytes += len;
    }
    fn conflict(&mut self, len: u64) {
        self.stats.overlap_conflicts += 1;
        self.conflict_bytes[self.dir.index()] += len;
    }
}

/// All TCP connections of a capture.
///
/// Memory is bounded by `max_flows` connections (each a fixed-size entry plus its
/// handler) and by `max_ooo_total` bytes of buffered out-of-order data; in-order data is
/// never copied.
pub struct FlowTable<H> {
    cfg: FlowConfig,
    pub stats: FlowStats,
    server_ports: PortSet,
    map: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Entry<H>>>,
    free: Vec<u32>,
    lists: [List; 2],
    budget: Budget,
    /// Capture time at which the next idle sweep is due.
    next_sweep: u64,
}

impl<H: StreamHandler> FlowTable<H> {
    pub fn new(cfg: FlowConfig) -> Self {
        let server_ports = PortSet::new(&cfg.server_ports);
        let budget = Budget { used: 0, cap: cfg.max_ooo_total };
        FlowTable {
            cfg,
            stats: FlowStats::default(),
            server_ports,
            // Flow keys come from the wire: a seeded hasher keeps collisions unpredictable.
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slots: Vec::new(),
            free: Vec::new(),
            lists: [List::default(); 2],
            budget,
            next_sweep: 0,
        }
    }

    /// Connections currently tracked (open, or closed and lingering).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Out-of-order bytes buffered across all connections (with per-piece overhead).
    pub fn buffered_bytes(&self) -> usize {
        self.budget.used
    }

    /// Feed one segment. `new_handler` is called once per new connection, with its roles
    /// decided; `finished` receives connections that end.
    pub fn process(
        &mut self,
        seg: &TcpSegment<'_>,
        ts: Timestamp,
        new_handler: &mut dyn FnMut(&ConnMeta) -> H,
        finished: &mut dyn FnMut(Conn<H>),
    ) {
        let now = ts.0;
        if now >= self.next_sweep {
            self.sweep(now, finished);
        }
        let (key, src_is_lo) = FlowKey::from_segment(seg);
        let mut idx = self.map.get(&key).copied();
        if let Some(i) = idx {
            if self.starts_over(i, seg, src_is_lo, now) {
                self.finish(i, finished);
                idx = None;
            }
        }
        let i = match idx {
            Some(i) => i,
            None => {
                // Only a SYN or payload starts tracking: stray ACKs, FINs and RSTs (late
                // retransmits after a connection was finished, scans) would only add
                // empty connections.
                let has_payload = !seg.payload.is_empty() || seg.payload_wire_len > 0;
                if seg.flags.rst || !(seg.flags.syn || has_payload) {
                    self.stats.untracked_segments += 1;
                    return;
                }
                self.create(key, src_is_lo, seg, ts, new_handler, finished)
            }
        };
        self.update(i, seg, src_is_lo, now);
    }

    /// Time passes without packets (live capture): finish connections whose idle timeout
    /// or close linger has run out by `now`, as a packet at `now` would.
    pub fn expire(&mut self, now: Timestamp, finished: &mut dyn FnMut(Conn<H>)) {
        if now.0 >= self.next_sweep {
            self.sweep(now.0, finished);
        }
    }

    /// End of input: flush buffered data (reporting gaps) and finish every connection,
    /// closed ones first, each list from the least recently active.
    pub fn finish_all(&mut self, finished: &mut dyn FnMut(Conn<H>)) {
        for list in [CLOSED, OPEN] {
            while self.lists[list].head != NIL {
                let head = self.lists[list].head;
                self.finish(head, finished);
            }
        }
        // Nothing should remain; be robust anyway.
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                self.finish(i as u32, finished);
            }
        }
    }

    fn entry(&self, i: u32) -> Option<&Entry<H>> {
        self.slots.get(i as usize).and_then(Option::as_ref)
    }

    fn entry_mut(&mut self, i: u32) -> Option<&mut Entry<H>> {
        self.slots.get_mut(i as usize).and_then(Option::as_mut)
    }

    /// Does `seg` end the tracked connection `i` and start a new one on the same
    /// 4-tuple? Idle expiry is checked here too, so that it does not depend on when the
    /// last sweep ran.
    fn starts_over(&self, i: u32, seg: &TcpSegment<'_>, src_is_lo: bool, now: u64) -> bool {
        let Some(e) = self.entry(i) else { return true };
        let timeout = if e.closed { self.cfg.close_linger_ns } else { self.cfg.idle_timeout_ns };
        if now.saturating_sub(e.last_seen) >= timeout {
            return true;
        }
        if !seg.flags.syn || seg.flags.rst {
            return false;
        }
        let d = e.dir(src_is_lo).index();
        if !seg.flags.ack {
            // A SYN (RFC 9293 §3.5): the same ISN is a retransmission; otherwise the
            // 4-tuple was reused (or, mid-stream, a new connection begins).
            match e.isn[d] {
                Some(isn) => isn != seg.seq,
                None => {
                    if e.closed || !e.meta.handshake_seen || e.dir(src_is_lo) != Direction::ToServer {
                        return true;
                    }
                    // Connection learnt from its SYN-ACK; the SYN arrives late. Adopt it
                    // unless this side already sent data past it.
                    e.rx[d].next_seq().is_some_and(|n| n != seg.seq.wrapping_add(1))
                }
            }
        } else {
            // A SYN-ACK: new only if the old connection is over (its SYN was not
            // captured) or was picked up mid-stream.
            if !e.meta.handshake_seen {
                return true;
            }
            match e.isn[d] {
                Some(isn) => e.closed && isn != seg.seq,
                None => e.closed,
            }
        }
    }

    /// Start tracking a connection; evicts the least recently active one when full.
    fn create(
        &mut self,
        key: FlowKey,
        src_is_lo: bool,
        seg: &TcpSegment<'_>,
        ts: Timestamp,
        new_handler: &mut dyn FnMut(&ConnMeta) -> H,
        finished: &mut dyn FnMut(Conn<H>),
    ) -> u32 {
        while self.map.len() >= self.cfg.max_flows.max(1) {
            // Closed connections go first: evicting them loses nothing.
            let victim = if self.lists[CLOSED].head != NIL { self.lists[CLOSED].head } else { self.lists[OPEN].head };
            if victim == NIL {
                break;
            }
            self.stats.evicted_flows += 1;
            self.finish(victim, finished);
        }

        let f = seg.flags;
        let (client_is_lo, handshake_seen) = if f.syn && !f.ack {
            (src_is_lo, true)
        } else if f.syn {
            (!src_is_lo, true)
        } else {
            // Mid-stream: a known database port marks the server, else the lower port
            // (ephemeral client ports are high).
            let (lo_port, hi_port) = key.ports();
            let server_is_lo = match (self.server_ports.contains(lo_port), self.server_ports.contains(hi_port)) {
                (true, false) => true,
                (false, true) => false,
                _ if lo_port != hi_port => lo_port < hi_port,
                _ => !src_is_lo, // same port both sides: take the destination as server
            };
            (!server_is_lo, false)
        };
        let src = Endpoint { ip: seg.src_ip, port: seg.src_port };
        let dst = Endpoint { ip: seg.dst_ip, port: seg.dst_port };
        let (client, server) = if client_is_lo == src_is_lo { (src, dst) } else { (dst, src) };
        let meta = ConnMeta {
            client,
            server,
            handshake_seen,
            direction_inferred: !handshake_seen,
            start: ts,
            end: ts,
            packets: [0; 2],
            bytes: [0; 2],
            gap_bytes: [0; 2],
            overlap_conflict_bytes: [0; 2],
            fin_seen: false,
            rst_seen: false,
        };
        let handler = new_handler(&meta);
        let entry = Entry {
            key,
            client_is_lo,
            meta,
            handler,
            rx: Default::default(),
            isn: [None; 2],
            fin: [false; 2],
            closed: false,
            done: false,
            last_seen: ts.0,
            list: OPEN,
            listed_at: ts.0,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(entry);
                i
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, i);
        self.link_tail(i, OPEN, ts.0);
        self.stats.flows += 1;
        i
    }

    /// Count the segment, follow the connection state, and reassemble its payload.
    fn update(&mut self, i: u32, seg: &TcpSegment<'_>, src_is_lo: bool, now: u64) {
        let per_dir_cap = self.cfg.max_ooo_per_direction;
        let Some(e) = self.slots.get_mut(i as usize).and_then(Option::as_mut) else {
            return;
        };
        let dir = e.dir(src_is_lo);
        let d = dir.index();
        let f = seg.flags;
        let wire = u64::from(seg.payload_wire_len).max(seg.payload.len() as u64);
        e.meta.packets[d] += 1;
        e.meta.bytes[d] += wire;
        e.meta.end = e.meta.end.max(Timestamp(now));
        e.last_seen = e.last_seen.max(now);

        let was_closed = e.closed;
        if f.rst {
            // RFC 9293 §3.10.7.4: a reset aborts the connection. Its payload, if any, is
            // diagnostic text, not stream data.
            e.meta.rst_seen = true;
            e.closed = true;
        }
        if f.fin {
            e.meta.fin_seen = true;
            e.fin[d] = true;
            if e.fin[0] && e.fin[1] {
                e.closed = true;
            }
        }

        if !e.done && !f.rst {
            let mut data_seq = seg.seq;
            if f.syn {
                if e.isn[d].is_none() {
                    e.isn[d] = Some(seg.seq);
                }
                e.rx[d].on_syn(seg.seq);
                // The SYN occupies one sequence number; data on it (TFO) follows.
                data_seq = seg.seq.wrapping_add(1);
            }
            let [to_server, to_client] = &mut e.rx;
            let (rx, peer_rx) = if d == 0 { (to_server, to_client) } else { (to_client, to_server) };
            let mut sink = DirSink {
                handler: &mut e.handler,
                dir,
                gap_bytes: &mut e.meta.gap_bytes,
                conflict_bytes: &mut e.meta.overlap_conflict_bytes,
                stats: &mut self.stats,
            };
            let mut interest = rx.on_segment(
                data_seq,
                seg.payload,
                seg.payload_wire_len,
                f.fin,
                per_dir_cap,
                &mut self.budget,
                &mut sink,
            );
            if interest == Interest::More && f.ack {
                let mut sink = DirSink {
                    handler: &mut e.handler,
                    dir: dir.reverse(),
                    gap_bytes: &mut e.meta.gap_bytes,
                    conflict_bytes: &mut e.meta.overlap_conflict_bytes,
                    stats: &mut self.stats,
                };
                interest = peer_rx.on_peer_ack(seg.ack, &mut self.budget, &mut sink);
            }
            if interest == Interest::Done {
                e.done = true;
                for rx in &mut e.rx {
                    rx.clear(&mut self.budget);
                }
            }
        }

        let (closed, list, listed_at) = (e.closed, e.list, e.listed_at);
        if closed && !was_closed {
            self.unlink(i);
            self.link_tail(i, CLOSED, now);
        } else if now >= listed_at.saturating_add(RELINK_NS) {
            self.unlink(i);
            self.link_tail(i, list, now);
        }
    }

    /// Finish connections idle for longer than their timeout (open: `idle_timeout_ns`,
    /// closed: `close_linger_ns`).
    fn sweep(&mut self, now: u64, finished: &mut dyn FnMut(Conn<H>)) {
        self.next_sweep = now.saturating_add(RELINK_NS);
        for list in [CLOSED, OPEN] {
            let timeout = if list == CLOSED { self.cfg.close_linger_ns } else { self.cfg.idle_timeout_ns };
            loop {
                let head = self.lists[list].head;
                let Some(e) = self.entry(head) else { break };
                // `listed_at <= last_seen`, and the list is ordered by `listed_at`: once
                // the head is recent enough by that, everyone behind it is too.
                if e.listed_at.saturating_add(timeout) > now {
                    break;
                }
                let last_seen = e.last_seen;
                if last_seen.saturating_add(timeout) <= now {
                    self.finish(head, finished);
                } else {
                    // Active since it was linked, without being moved: move it now.
                    self.unlink(head);
                    self.link_tail(head, list, last_seen);
                }
            }
        }
    }

    /// Remove connection `i`, deliver its buffered data (with gaps) and hand it over.
    fn finish(&mut self, i: u32, finished: &mut dyn FnMut(Conn<H>)) {
        self.unlink(i);
        let Some(mut e) = self.slots.get_mut(i as usize).and_then(Option::take) else {
            return;
        };
        self.map.remove(&e.key);
        self.free.push(i);
        let [to_server, to_client] = &mut e.rx;
        for (dir, rx) in [(Direction::ToServer, to_server), (Direction::ToClient, to_client)] {
            if !e.done {
                let mut sink = DirSink {
                    handler: &mut e.handler,
                    dir,
                    gap_bytes: &mut e.meta.gap_bytes,
                    conflict_bytes: &mut e.meta.overlap_conflict_bytes,
                    stats: &mut self.stats,
                };
                rx.flush(&mut self.budget, &mut sink);
            }
            rx.clear(&mut self.budget);
        }
        finished(Conn { meta: e.meta, handler: e.handler });
    }

    fn unlink(&mut self, i: u32) {
        let Some(e) = self.entry(i) else { return };
        let (list, prev, next) = (e.list, e.prev, e.next);
        match self.entry_mut(prev) {
            Some(p) => p.next = next,
            None => self.lists[list].head = next,
        }
        match self.entry_mut(next) {
            Some(n) => n.prev = prev,
            None => self.lists[list].tail = prev,
        }
        if let Some(e) = self.entry_mut(i) {
            e.prev = NIL;
            e.next = NIL;
        }
    }

    fn link_tail(&mut self, i: u32, list: usize, at: u64) {
        let tail = self.lists[list].tail;
        let Some(e) = self.entry_mut(i) else { return };
        e.list = list;
        e.listed_at = at;
        e.prev = tail;
        e.next = NIL;
        match self.entry_mut(tail) {
            Some(t) => t.next = i,
            None => self.lists[list].head = i,
        }
        self.lists[list].tail = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use std::net::{IpAddr, Ipv4Addr};

    /// Records bytes per direction and gap events.
    #[derive(Debug, Default)]
    struct Rec {
        data: [Vec<u8>; 2],
        gaps: Vec<(Direction, u64)>,
        /// To-server events in order, for alignment checks.
        events: Vec<Ev>,
        /// Return `Done` once this many bytes were received in total.
        done_after: Option<usize>,
    }

    impl StreamHandler for Rec {
        fn on_data(&mut self, dir: Direction, data: &[u8]) -> Interest {
            self.data[dir.index()].extend_from_slice(data);
            if dir == Direction::ToServer {
                self.events.push(Ev::Data(data.len()));
            }
            match self.done_after {
                Some(n) if self.data[0].len() + self.data[1].len() >= n => Interest::Done,
                _ => Interest::More,
            }
        }
        fn on_gap(&mut self, dir: Direction, len: u64) {
            self.gaps.push((dir, len));
            if dir == Direction::ToServer {
                self.events.push(Ev::Gap(len));
            }
        }
    }

    #[derive(Debug)]
    enum Ev {
        Data(usize),
        Gap(u64),
    }

    /// Walks the stream along data/gap events and checks each delivered chunk against
    /// the stream at its position.
    struct AlignCheck<'a> {
        stream: &'a [u8],
        /// Position in the stream.
        pos: usize,
        /// Position in the delivered bytes.
        dpos: usize,
        ok: bool,
    }

    impl AlignCheck<'_> {
        fn data(&mut self, n: usize, delivered: &[u8]) {
            let got = delivered.get(self.dpos..self.dpos + n);
            let want = self.stream.get(self.pos..self.pos + n);
            self.ok &= got.is_some() && got == want;
            self.pos += n;
            self.dpos += n;
        }
    }

    const C: [u8; 4] = [10, 0, 0, 1];
    const S: [u8; 4] = [10, 0, 0, 2];
    const SEC: u64 = 1_000_000_000;

    fn ep(ip: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(ip))
    }

    /// A segment from (ip, port) to (ip, port); flags as a string of S A F R.
    fn seg<'a>(
        from: ([u8; 4], u16),
        to: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: &str,
        data: &'a [u8],
    ) -> TcpSegment<'a> {
        TcpSegment {
            src_ip: ep(from.0),
            dst_ip: ep(to.0),
            src_port: from.1,
            dst_port: to.1,
            seq,
            ack,
            flags: TcpFlags {
                syn: flags.contains('S'),
                ack: flags.contains('A'),
                fin: flags.contains('F'),
                rst: flags.contains('R'),
            },
            window: 65535,
            payload: data,
            payload_wire_len: data.len() as u32,
        }
    }

    struct Harness {
        table: FlowTable<Rec>,
        done: Vec<Conn<Rec>>,
        created: usize,
        done_after: Option<usize>,
    }

    impl Harness {
        fn new(cfg: FlowConfig) -> Self {
            Harness { table: FlowTable::new(cfg), done: Vec::new(), created: 0, done_after: None }
        }
        fn feed(&mut self, s: &TcpSegment<'_>, t: u64) {
            let done_after = self.done_after;
            let created = &mut self.created;
            let done = &mut self.done;
            self.table.process(
                s,
                Timestamp(t),
                &mut |_m| {
                    *created += 1;
                    Rec { done_after, ..Rec::default() }
                },
                &mut |c| done.push(c),
            );
        }
        fn finish(&mut self) {
            let done = &mut self.done;
            self.table.finish_all(&mut |c| done.push(c));
        }
    }

    const CL: ([u8; 4], u16) = (C, 40000);
    const SV: ([u8; 4], u16) = (S, 5432);

    /// SYN, SYN-ACK, ACK with client ISN 1000 and server ISN 5000.
    fn handshake(h: &mut Harness) {
        h.feed(&seg(CL, SV, 1000, 0, "S", b""), 0);
        h.feed(&seg(SV, CL, 5000, 1001, "SA", b""), 1);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b""), 2);
    }

    #[test]
    fn in_order_both_directions() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"query"), 3);
        h.feed(&seg(SV, CL, 5001, 1006, "A", b"answer"), 4);
        h.feed(&seg(CL, SV, 1006, 5007, "A", b"!"), 5);
        h.finish();
        assert_eq!(h.done.len(), 1);
        let c = &h.done[0];
        assert_eq!(c.handler.data[0], b"query!");
        assert_eq!(c.handler.data[1], b"answer");
        assert!(c.handler.gaps.is_empty());
        assert_eq!(c.meta.packets, [4, 2]);
        assert_eq!(c.meta.bytes, [6, 6]);
        assert_eq!(c.meta.start, Timestamp(0));
        assert_eq!(c.meta.end, Timestamp(5));
        assert!(c.meta.handshake_seen && !c.meta.direction_inferred);
        assert_eq!(h.table.stats.flows, 1);
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1007, 5001, "A", b"world"), 3);
        h.feed(&seg(CL, SV, 1007, 5001, "A", b"world"), 3);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"hello "), 4);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"hello "), 5);
        h.feed(&seg(CL, SV, 1004, 5001, "A", b"lo wo"), 5);
        assert_eq!(h.table.buffered_bytes(), 0);
        h.finish();
        assert_eq!(h.done[0].handler.data[0], b"hello world");
        assert!(h.done[0].handler.gaps.is_empty());
    }

    #[test]
    fn overlap_with_different_bytes_first_wins() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"abcdef"), 3);
        h.feed(&seg(CL, SV, 1004, 5001, "A", b"XYZghi"), 4);
        h.finish();
        assert_eq!(h.done[0].handler.data[0], b"abcdefghi");
    }

    #[test]
    fn overlap_conflict_is_counted_per_direction() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        // "XYZghi" for 1004..1010 arrives first and is buffered; the in-order copy says
        // "defghi" there: first wins, three bytes differ.
        h.feed(&seg(CL, SV, 1004, 5001, "A", b"XYZghi"), 3);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"abcdefghi"), 4);
        // The server's side agrees with itself: no conflict there.
        h.feed(&seg(SV, CL, 5003, 1010, "A", b"cd"), 4);
        h.feed(&seg(SV, CL, 5001, 1010, "A", b"abcd"), 4);
        h.finish();
        let c = &h.done[0];
        assert_eq!(c.handler.data[0], b"abcXYZghi");
        assert_eq!(c.handler.data[1], b"abcd");
        assert_eq!(c.meta.overlap_conflict_bytes, [3, 0]);
        assert_eq!(h.table.stats.overlap_conflicts, 1);
    }

    #[test]
    fn rst_mid_handshake_then_new_connection() {
        let mut h = Harness::new(FlowConfig::default());
        h.feed(&seg(CL, SV, 1000, 0, "S", b""), 0);
        h.feed(&seg(SV, CL, 5000, 1001, "SA", b""), 1);
        h.feed(&seg(CL, SV, 1001, 0, "R", b""), 2);
        // The client tries again with a new ISN right away (within the close linger).
        h.feed(&seg(CL, SV, 3000, 0, "S", b""), 3);
        h.feed(&seg(SV, CL, 8000, 3001, "SA", b""), 3);
        h.feed(&seg(CL, SV, 3001, 8001, "A", b"hello"), 4);
        h.finish();
        assert_eq!(h.done.len(), 2);
        let (a, b) = (&h.done[0], &h.done[1]);
        assert!(a.meta.rst_seen && a.meta.handshake_seen);
        assert_eq!(a.meta.packets, [2, 1]);
        assert!(a.handler.data[0].is_empty());
        assert!(!b.meta.rst_seen);
        assert_eq!(b.handler.data[0], b"hello");
    }

    #[test]
    fn syn_retransmits_are_one_connection() {
        let mut h = Harness::new(FlowConfig::default());
        for t in 0..4 {
            h.feed(&seg(CL, SV, 1000, 0, "S", b""), t * SEC);
        }
        h.feed(&seg(SV, CL, 5000, 1001, "SA", b""), 4 * SEC);
        h.feed(&seg(SV, CL, 5000, 1001, "SA", b""), 5 * SEC);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"q"), 5 * SEC);
        h.finish();
        assert_eq!(h.done.len(), 1);
        assert_eq!(h.done[0].meta.packets, [5, 2]);
        assert_eq!(h.done[0].handler.data[0], b"q");
    }

    /// Counts bytes and gaps per direction without keeping them.
    #[derive(Default)]
    struct Tally {
        bytes: [u64; 2],
        gaps: [u64; 2],
    }

    impl StreamHandler for Tally {
        fn on_data(&mut self, dir: Direction, data: &[u8]) -> Interest {
            self.bytes[dir.index()] += data.len() as u64;
            Interest::More
        }
        fn on_gap(&mut self, dir: Direction, len: u64) {
            self.gaps[dir.index()] += len;
        }
    }

    #[test]
    fn long_window_scaled_flow_wraps_twice_and_survives_losses() {
        // 9 GiB in 64 KiB segments: sequence numbers wrap twice. A window-scaled sender
        // keeps megabytes in flight, so after each loss far more arrives out of order
        // than the per-direction cap (1 MiB) holds: the cap bites and the hole becomes a
        // gap, and the stream goes on.
        const SEG: usize = 64 << 10;
        let segments = (9u64 << 30) / SEG as u64;
        let data = vec![0x42u8; SEG];
        let cfg = FlowConfig::default();
        let cap = cfg.max_ooo_per_direction;
        let mut table: FlowTable<Tally> = FlowTable::new(cfg);
        let mut done = Vec::new();
        let isn = 0xfff0_0000u32;
        let mut feed = |table: &mut FlowTable<Tally>, s: &TcpSegment<'_>, t: u64| {
            table.process(s, Timestamp(t), &mut |_| Tally::default(), &mut |c| done.push(c));
        };
        feed(&mut table, &seg(CL, SV, isn, 0, "S", b""), 0);
        feed(&mut table, &seg(SV, CL, 77, isn.wrapping_add(1), "SA", b""), 0);
        let mut lost = 0u64;
        for k in 0..segments {
            if k % 20_000 == 19_999 {
                lost += 1;
                continue;
            }
            let seq = isn.wrapping_add(1).wrapping_add((k * SEG as u64) as u32);
            feed(&mut table, &seg(CL, SV, seq, 78, "A", &data), k * 1000);
            assert!(table.buffered_bytes() <= cap);
        }
        let end = isn.wrapping_add(1).wrapping_add((segments * SEG as u64) as u32);
        feed(&mut table, &seg(CL, SV, end, 78, "AF", b""), segments * 1000);
        feed(&mut table, &seg(SV, CL, 78, end.wrapping_add(1), "AF", b""), segments * 1000);
        table.finish_all(&mut |c| done.push(c));
        assert_eq!(done.len(), 1);
        let c = &done[0];
        assert!(lost >= 7);
        assert_eq!(c.handler.gaps[0], lost * SEG as u64);
        assert_eq!(c.handler.bytes[0] + c.handler.gaps[0], segments * SEG as u64);
        assert!(table.stats.ooo_cap_hits >= lost);
    }

    #[test]
    fn wrap_around_2_pow_32() {
        let mut h = Harness::new(FlowConfig::default());
        let isn = u32::MAX - 3;
        h.feed(&seg(CL, SV, isn, 0, "S", b""), 0);
        h.feed(&seg(CL, SV, isn.wrapping_add(5), 0, "A", b"efgh"), 1);
        h.feed(&seg(CL, SV, isn.wrapping_add(1), 0, "A", b"abcd"), 1);
        h.feed(&seg(CL, SV, isn.wrapping_add(9), 0, "A", b"ijkl"), 1);
        h.finish();
        assert_eq!(h.done[0].handler.data[0], b"abcdefghijkl");
        assert!(h.done[0].handler.gaps.is_empty());
    }

    #[test]
    fn gap_when_per_direction_cap_bites() {
        let cfg = FlowConfig { max_ooo_per_direction: 100, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1011, 5001, "A", &[b'a'; 20]), 3); // hole 1001..1011
        h.feed(&seg(CL, SV, 1031, 5001, "A", &[b'b'; 20]), 4); // does not fit
        let (h_done, t) = (&h.done, &h.table);
        assert!(h_done.is_empty());
        assert!(t.buffered_bytes() <= 100);
        h.finish();
        let c = &h.done[0];
        assert_eq!(c.handler.gaps, vec![(Direction::ToServer, 10)]);
        assert_eq!(c.handler.data[0], [[b'a'; 20], [b'b'; 20]].concat());
        assert_eq!(c.meta.gap_bytes, [10, 0]);
        assert_eq!(h.table.stats.gaps, 1);
    }

    #[test]
    fn gap_when_total_cap_bites() {
        let cfg = FlowConfig { max_ooo_total: 100, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        handshake(&mut h);
        let other = (C, 40001);
        h.feed(&seg(other, SV, 11, 0, "A", &[b'o'; 20]), 3); // another flow, mid-stream
        h.feed(&seg(other, SV, 41, 0, "A", &[b'o'; 20]), 3); // buffered there
        h.feed(&seg(CL, SV, 1011, 5001, "A", &[b'a'; 20]), 3); // no room left anywhere
        assert!(h.table.buffered_bytes() <= 100);
        h.finish();
        let c = h.done.iter().find(|c| c.meta.client.port == 40000).unwrap();
        assert_eq!(c.handler.gaps, vec![(Direction::ToServer, 10)]);
        assert_eq!(c.handler.data[0], vec![b'a'; 20]);
    }

    #[test]
    fn gap_when_peer_ack_passes_hole() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"ab"), 3);
        h.feed(&seg(CL, SV, 1006, 5001, "A", b"fg"), 4); // 1003..1006 lost
        h.feed(&seg(SV, CL, 5001, 1008, "A", b""), 5); // server has it all
        let c = h.table.map.get(&FlowKey::from_segment(&seg(CL, SV, 0, 0, "", b"")).0).copied().unwrap();
        let e = h.table.entry(c).unwrap();
        assert_eq!(e.handler.data[0], b"abfg");
        assert_eq!(e.handler.gaps, vec![(Direction::ToServer, 3)]);
        assert_eq!(e.meta.gap_bytes, [3, 0]);
    }

    #[test]
    fn snaplen_cut_segment() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        let mut s = seg(CL, SV, 1001, 5001, "A", b"abc");
        s.payload_wire_len = 10;
        h.feed(&s, 3);
        h.feed(&seg(CL, SV, 1011, 5001, "A", b"next"), 4);
        h.finish();
        let c = &h.done[0];
        assert_eq!(c.handler.data[0], b"abcnext");
        assert_eq!(c.handler.gaps, vec![(Direction::ToServer, 7)]);
        assert_eq!(c.meta.bytes[0], 14);
    }

    #[test]
    fn flush_with_gaps_at_finish() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"a"), 3);
        h.feed(&seg(CL, SV, 1003, 5001, "A", b"c"), 3);
        h.feed(&seg(CL, SV, 1006, 5001, "A", b"f"), 3);
        h.feed(&seg(SV, CL, 5003, 1002, "", b"yz"), 3); // no ACK flag: no ACK-driven gap
        h.finish();
        let c = &h.done[0];
        assert_eq!(c.handler.data[0], b"acf");
        assert_eq!(c.handler.data[1], b"yz");
        assert_eq!(c.handler.gaps, vec![(Direction::ToServer, 1), (Direction::ToServer, 2), (Direction::ToClient, 2)]);
        assert_eq!(c.meta.gap_bytes, [3, 2]);
        assert_eq!(h.table.buffered_bytes(), 0);
    }

    #[test]
    fn roles_from_syn() {
        let mut h = Harness::new(FlowConfig::default());
        // The client uses a low port, the server a high one: the SYN decides.
        h.feed(&seg((C, 80), (S, 60000), 1, 0, "S", b""), 0);
        h.finish();
        let m = &h.done[0].meta;
        assert_eq!(m.client, Endpoint { ip: ep(C), port: 80 });
        assert_eq!(m.server, Endpoint { ip: ep(S), port: 60000 });
        assert!(m.handshake_seen && !m.direction_inferred);
    }

    #[test]
    fn roles_from_syn_ack() {
        let mut h = Harness::new(FlowConfig::default());
        h.feed(&seg((S, 60000), (C, 80), 1, 7, "SA", b""), 0);
        h.feed(&seg((C, 80), (S, 60000), 7, 2, "A", b"hi"), 1);
        h.finish();
        let c = &h.done[0];
        assert_eq!(c.meta.server, Endpoint { ip: ep(S), port: 60000 });
        assert!(c.meta.handshake_seen && !c.meta.direction_inferred);
        assert_eq!(c.handler.data[0], b"hi");
    }

    #[test]
    fn roles_from_server_port_and_lower_port() {
        let mut h = Harness::new(FlowConfig::default());
        // 5432 is a server port even though it is the higher one.
        h.feed(&seg((S, 5432), (C, 22), 1, 1, "A", b"x"), 0);
        // Neither is known: the lower port is the server.
        h.feed(&seg((C, 50000), (S, 7000), 1, 1, "A", b"y"), 0);
        h.finish();
        let a = h.done.iter().find(|c| c.meta.server.port == 5432).unwrap();
        assert_eq!(a.meta.client.port, 22);
        assert!(a.meta.direction_inferred && !a.meta.handshake_seen);
        assert_eq!(a.handler.data[1], b"x");
        let b = h.done.iter().find(|c| c.meta.server.port == 7000).unwrap();
        assert_eq!(b.meta.client.port, 50000);
        assert_eq!(b.handler.data[0], b"y");
    }

    #[test]
    fn port_reuse_after_fin() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1001, 5001, "AF", b"bye"), 3);
        h.feed(&seg(SV, CL, 5001, 1005, "AF", b""), 3);
        h.feed(&seg(CL, SV, 1005, 5002, "A", b""), 3);
        h.feed(&seg(CL, SV, 1001, 5001, "AF", b"bye"), 4); // late retransmit: absorbed
        assert_eq!(h.table.len(), 1);
        assert!(h.done.is_empty());
        h.feed(&seg(CL, SV, 9000, 0, "S", b""), 5);
        h.feed(&seg(CL, SV, 9001, 0, "A", b"again"), 6);
        assert_eq!(h.done.len(), 1);
        assert!(h.done[0].meta.fin_seen);
        assert_eq!(h.done[0].handler.data[0], b"bye");
        h.finish();
        assert_eq!(h.done.len(), 2);
        assert_eq!(h.done[1].handler.data[0], b"again");
        assert_eq!(h.table.stats.flows, 2);
    }

    #[test]
    fn syn_with_new_isn_on_open_connection_starts_over() {
        let mut h = Harness::new(FlowConfig::default());
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1000, 0, "S", b""), 3); // retransmitted SYN: same connection
        assert!(h.done.is_empty());
        h.feed(&seg(CL, SV, 7000, 0, "S", b""), 4);
        assert_eq!(h.done.len(), 1);
        assert_eq!(h.created, 2);
    }

    #[test]
    fn rst_closes_and_lingers_briefly() {
        let cfg = FlowConfig { close_linger_ns: 5 * SEC, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        handshake(&mut h);
        h.feed(&seg(SV, CL, 5001, 1001, "RA", b""), SEC);
        assert_eq!(h.table.len(), 1);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"late"), 2 * SEC); // absorbed
        assert_eq!(h.created, 1);
        h.feed(&seg((C, 1), (S, 2), 1, 1, "A", b"other"), 7 * SEC);
        assert_eq!(h.done.len(), 1);
        assert!(h.done[0].meta.rst_seen);
        assert_eq!(h.done[0].meta.packets, [3, 2]);
    }

    /// A quiet live interface: the clock moves on without packets, and the closed
    /// connection is handed over once its linger has run out, not before.
    #[test]
    fn expire_without_packets_finishes_after_linger() {
        let cfg = FlowConfig { close_linger_ns: 5 * SEC, idle_timeout_ns: 60 * SEC, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        handshake(&mut h);
        h.feed(&seg(SV, CL, 5001, 1001, "RA", b""), SEC);
        let done = &mut h.done;
        h.table.expire(Timestamp(3 * SEC), &mut |c| done.push(c));
        assert!(done.is_empty(), "still lingering at 2 s after the RST");
        h.table.expire(Timestamp(7 * SEC), &mut |c| done.push(c));
        assert_eq!(done.len(), 1);
        assert!(done[0].meta.rst_seen);
        assert!(h.table.is_empty());
    }

    #[test]
    fn idle_timeout_finishes() {
        let cfg = FlowConfig { idle_timeout_ns: 10 * SEC, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"a"), 5 * SEC);
        h.feed(&seg((C, 1), (S, 2), 1, 1, "A", b"x"), 14 * SEC);
        assert!(h.done.is_empty());
        h.feed(&seg((C, 1), (S, 2), 2, 1, "A", b"y"), 16 * SEC);
        assert_eq!(h.done.len(), 1);
        assert_eq!(h.done[0].handler.data[0], b"a");
        // The same 4-tuple after the timeout is a new connection.
        h.feed(&seg(CL, SV, 1002, 5001, "A", b"b"), 30 * SEC);
        assert_eq!(h.created, 3);
    }

    #[test]
    fn max_flows_evicts_least_recently_active() {
        let cfg = FlowConfig { max_flows: 2, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        h.feed(&seg((C, 1001), SV, 1, 1, "A", b"a"), 0);
        h.feed(&seg((C, 1002), SV, 1, 1, "A", b"b"), SEC);
        h.feed(&seg((C, 1001), SV, 2, 1, "A", b"a"), 2 * SEC); // 1001 active again
        h.feed(&seg((C, 1003), SV, 1, 1, "A", b"c"), 3 * SEC);
        assert_eq!(h.table.len(), 2);
        assert_eq!(h.table.stats.evicted_flows, 1);
        assert_eq!(h.done.len(), 1);
        assert_eq!(h.done[0].meta.client.port, 1002);
    }

    #[test]
    fn interest_done_stops_delivery() {
        let mut h = Harness::new(FlowConfig::default());
        h.done_after = Some(3);
        handshake(&mut h);
        h.feed(&seg(CL, SV, 1010, 5001, "A", b"later"), 3); // buffered
        h.feed(&seg(CL, SV, 1001, 5001, "A", b"abc"), 3); // Done here
        assert_eq!(h.table.buffered_bytes(), 0);
        h.feed(&seg(CL, SV, 1004, 5001, "A", b"def"), 4);
        h.feed(&seg(SV, CL, 5001, 1007, "A", b"resp"), 4);
        h.finish();
        let c = &h.done[0];
        assert_eq!(c.handler.data[0], b"abc");
        assert!(c.handler.data[1].is_empty());
        assert!(c.handler.gaps.is_empty());
        assert_eq!(c.meta.packets, [5, 2]);
        assert_eq!(c.meta.bytes, [11, 4]);
    }

    #[test]
    fn data_on_syn_is_payload() {
        let mut h = Harness::new(FlowConfig::default());
        h.feed(&seg(CL, SV, 100, 0, "S", b"tfo"), 0);
        h.feed(&seg(CL, SV, 104, 0, "A", b"more"), 1);
        h.finish();
        assert_eq!(h.done[0].handler.data[0], b"tfomore");
    }

    #[test]
    fn stray_control_segments_are_not_tracked() {
        let mut h = Harness::new(FlowConfig::default());
        h.feed(&seg(CL, SV, 1, 1, "A", b""), 0);
        h.feed(&seg(CL, SV, 1, 1, "R", b""), 0);
        h.feed(&seg(CL, SV, 1, 1, "AF", b""), 0);
        assert!(h.table.is_empty());
        assert_eq!(h.table.stats.untracked_segments, 3);
    }

    #[test]
    fn many_short_connections_stay_bounded() {
        let cfg = FlowConfig { close_linger_ns: 2 * SEC, ..FlowConfig::default() };
        let mut h = Harness::new(cfg);
        for n in 0..20_000u32 {
            let t = u64::from(n) * SEC / 100; // 100 connections per second
            let cl = (C, (n % 60000) as u16 + 1024);
            h.feed(&seg(cl, SV, n, 0, "S", b""), t);
            h.feed(&seg(SV, cl, 7, n + 1, "SA", b""), t);
            h.feed(&seg(cl, SV, n + 1, 8, "AF", b"q"), t);
            h.feed(&seg(SV, cl, 8, n + 3, "AF", b"r"), t);
            assert!(h.table.len() <= 400, "{} at {}", h.table.len(), n);
        }
        h.finish();
        assert_eq!(h.done.len(), 20_000);
        assert!(h.done.iter().all(|c| c.handler.data[0] == b"q" && c.handler.data[1] == b"r"));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// A stream cut into segments (twice, differently), shuffled and duplicated,
            /// comes out byte-identical without gaps.
            #[test]
            fn reordered_duplicated_stream_is_reassembled(
                data in proptest::collection::vec(any::<u8>(), 1..3000),
                cuts_a in proptest::collection::vec(1usize..200, 1..64),
                cuts_b in proptest::collection::vec(1usize..200, 1..64),
                isn in prop_oneof![Just(u32::MAX - 100), any::<u32>()],
                order in proptest::collection::vec(any::<u32>(), 256),
                dup_mask in any::<u64>(),
            ) {
                let split = |cuts: &[usize]| {
                    let mut out = Vec::new();
                    let (mut at, mut i) = (0usize, 0usize);
                    while at < data.len() {
                        let n = cuts[i % cuts.len()].min(data.len() - at);
                        out.push((at, n));
                        at += n;
                        i += 1;
                    }
                    out
                };
                let mut segs = split(&cuts_a);
                // A second, differently cut copy of some of the stream: overlapping
                // retransmissions.
                for (k, s) in split(&cuts_b).into_iter().enumerate() {
                    if dup_mask >> (k % 64) & 1 == 1 {
                        segs.push(s);
                    }
                }
                // Shuffle by sorting on random keys.
                let mut keyed: Vec<(u32, (usize, usize))> =
                    segs.into_iter().enumerate().map(|(k, s)| (order[k % order.len()] ^ k as u32, s)).collect();
                keyed.sort_by_key(|(k, _)| *k);

                let mut h = Harness::new(FlowConfig::default());
                h.feed(&seg(CL, SV, isn, 0, "S", b""), 0);
                for (_, (at, n)) in &keyed {
                    let seq = isn.wrapping_add(1).wrapping_add(*at as u32);
                    h.feed(&seg(CL, SV, seq, 0, "", &data[*at..*at + *n]), 1);
                }
                prop_assert_eq!(h.table.buffered_bytes(), 0);
                h.finish();
                prop_assert_eq!(h.done.len(), 1);
                prop_assert_eq!(&h.done[0].handler.data[0], &data);
                prop_assert!(h.done[0].handler.gaps.is_empty());
            }

            /// With losses, tight caps and peer ACKs, every delivered byte sits at its
            /// place in the stream once gaps are counted, and nothing stays buffered.
            #[test]
            fn lossy_stream_stays_aligned(
                data in proptest::collection::vec(any::<u8>(), 1..4000),
                cuts in proptest::collection::vec(1usize..300, 1..32),
                isn in any::<u32>(),
                order in proptest::collection::vec(any::<u32>(), 64),
                drop_mask in any::<u64>(),
                ack_mask in any::<u64>(),
                snap in prop_oneof![Just(usize::MAX), 1usize..100],
                cap in 0usize..2000,
            ) {
                let mut segs = Vec::new();
                let (mut at, mut i) = (0usize, 0usize);
                while at < data.len() {
                    let n = cuts[i % cuts.len()].min(data.len() - at);
                    if drop_mask >> (i % 64) & 1 == 0 || i % 7 == 0 {
                        segs.push((at, n));
                    }
                    at += n;
                    i += 1;
                }
                let mut keyed: Vec<(u32, (usize, usize))> =
                    segs.into_iter().enumerate().map(|(k, s)| (order[k % order.len()] ^ k as u32, s)).collect();
                keyed.sort_by_key(|(k, _)| *k);

                let cfg = FlowConfig { max_ooo_per_direction: cap, max_ooo_total: cap * 2, ..FlowConfig::default() };
                let mut h = Harness::new(cfg);
                h.feed(&seg(CL, SV, isn, 0, "S", b""), 0);
                let mut sent_hi = 0usize;
                for (k, (_, (at, n))) in keyed.iter().enumerate() {
                    let seq = isn.wrapping_add(1).wrapping_add(*at as u32);
                    let mut s = seg(CL, SV, seq, 0, "", &data[*at..*at + *n]);
                    s.payload = &s.payload[..(*n).min(snap)];
                    h.feed(&s, 1);
                    sent_hi = sent_hi.max(at + n);
                    if ack_mask >> (k % 64) & 1 == 1 {
                        // The server acknowledges something the client did send.
                        let acked = isn.wrapping_add(1).wrapping_add((sent_hi / 2) as u32);
                        h.feed(&seg(SV, CL, 77, acked, "A", b""), 1);
                    }
                    prop_assert!(h.table.buffered_bytes() <= cap * 2);
                }
                h.finish();
                prop_assert_eq!(h.table.buffered_bytes(), 0);
                prop_assert!(h.table.is_empty());
                let c = &h.done[0];
                let gap_total: u64 = c.handler.gaps.iter().map(|g| g.1).sum();
                prop_assert_eq!(gap_total, c.meta.gap_bytes[0]);
                prop_assert!(c.handler.data[0].len() as u64 + gap_total <= data.len() as u64);
                // Replay: data must match the stream at the offsets implied by the gaps.
                let r = &c.handler;
                let mut replay = AlignCheck { stream: &data, pos: 0, dpos: 0, ok: true };
                for e in &r.events {
                    match e {
                        Ev::Data(n) => replay.data(*n, &r.data[0]),
                        Ev::Gap(n) => replay.pos += *n as usize,
                    }
                }
                prop_assert!(replay.ok);
            }

            /// Arbitrary segments on a few 4-tuples under tight limits: no panic, limits
            /// hold, and everything is released at the end.
            #[test]
            fn hostile_segments_keep_limits(
                segs in proptest::collection::vec(
                    (0u16..4, 0u16..4, any::<u32>(), any::<u32>(), 0u8..16, 0usize..40, 0u32..100, 0u64..3_000_000_000),
                    1..200,
                ),
                near in any::<bool>(),
            ) {
                let cfg = FlowConfig {
                    max_flows: 3,
                    max_ooo_per_direction: 300,
                    max_ooo_total: 500,
                    idle_timeout_ns: 2 * SEC,
                    close_linger_ns: SEC / 2,
                    server_ports: vec![5432],
                };
                let mut h = Harness::new(cfg);
                let payload = [0xabu8; 40];
                let mut t = 0u64;
                for (a, b, seq, ack, flags, len, extra, dt) in segs {
                    // Keep sequence numbers close together half of the time, so that
                    // reassembly paths (not just the drop path) get exercised.
                    let (seq, ack) = if near { (seq % 200, ack % 200) } else { (seq, ack) };
                    let f: String = [(1, 'S'), (2, 'A'), (4, 'F'), (8, 'R')]
                        .iter()
                        .filter(|(bit, _)| flags & bit != 0)
                        .map(|(_, c)| *c)
                        .collect();
                    let mut s = seg((C, 5430 + a), (S, 5430 + b), seq, ack, &f, &payload[..len]);
                    s.payload_wire_len = len as u32 + extra;
                    t += dt % 2_000_000_000;
                    h.feed(&s, t);
                    prop_assert!(h.table.len() <= 3);
                    prop_assert!(h.table.buffered_bytes() <= 500);
                }
                h.finish();
                prop_assert!(h.table.is_empty());
                prop_assert_eq!(h.table.buffered_bytes(), 0);
                prop_assert_eq!(h.done.len() as u64, h.table.stats.flows);
                for c in &h.done {
                    let gaps: [u64; 2] = [Direction::ToServer, Direction::ToClient]
                        .map(|d| c.handler.gaps.iter().filter(|g| g.0 == d).map(|g| g.1).sum());
                    prop_assert_eq!(gaps, c.meta.gap_bytes);
                }
            }
        }
    }
}
