//! The threaded analysis on N threads in all: the calling thread reads the capture and
//! analyses shard 0 itself; shards 1..N go to N − 1 worker threads, each with its own
//! decoder, flow table and engines. (A separate reader thread would leave one of two
//! cores' worth of analysis waiting on a thread that does little.)
//!
//! - **Sharding.** A packet goes to the shard chosen by a seeded hash of its
//!   connection's endpoints, the same for both directions, so a connection lives
//!   entirely in one shard. For a plain TCP packet the reader reads the endpoints from a few
//!   header bytes and leaves the decoding to the shard. IP fragments (and anything
//!   unusual) are decoded by the reader, whose defragmenter sees every fragment, and
//!   sharded as reassembled segments, so a fragmented segment reaches the same shard as
//!   the rest of its connection.
//! - **Hand-off.** Packets (as captured) and reader-decoded segments (header fields and
//!   payload) are copied into a per-worker [`Batch`]; a full batch crosses a bounded
//!   channel, and the worker sends the emptied batch back for reuse. A fixed number of
//!   batches exists per worker, so memory is bounded and nothing is allocated per batch
//!   in steady state.
//! - **Merging.** Each shard returns its verdicts, flow and decode counters and its first
//!   decode error with the packet's position in the capture (the earliest is reported).
//!   The verdicts are sorted as in the single-threaded [`Analyzer`], so the report does
//!   not depend on the thread count.
//!
//! The flow-table limits ([`FlowConfig::max_flows`], out-of-order byte budget) are split
//! between the shards, so the total stays what the configuration says.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use crate::analyze::{AnalyzeConfig, Analyzer, CaptureParts, CaptureReport};
use crate::capture::file::ReadStats;
use crate::capture::{LinkType, Packet, Timestamp};
use crate::decode::{plain_tcp_endpoints, DecodeStats, Decoder, TcpFlags, TcpSegment};
use crate::findings::log::{ConnectionList, ConnectionLog};
use crate::flow::FlowStats;

/// Segments per batch before it is handed off.
const BATCH_SEGMENTS: usize = 1024;
/// Payload bytes per batch before it is handed off (the arena is sized for this plus
/// one maximal segment, so it does not grow in steady state).
const BATCH_BYTES: usize = 256 << 10;
/// Full batches queued per worker; the reader blocks when a worker falls behind. Deep
/// enough to carry the worker through stretches where the reading thread is busy with
/// its own shard, shallow enough that every large capture reaches the same peak memory
/// (batches are created only when needed). On the 1 GB benchmark with 2 threads: depth
/// 4 gave 1.09-1.16 s; 8 gave 1.08-1.32 s, 21.3 MiB; 16 gives 1.06-1.08 s and 24.2 MiB
/// (24.6 MiB on 4 GB); 32 gave 1.05-1.07 s and 25-29 MiB (30.4 MiB on 4 GB).
const QUEUE_DEPTH: usize = 16;
/// Batches in circulation per worker: queued, being filled, being worked on.
const BATCHES_PER_WORKER: usize = QUEUE_DEPTH + 2;

/// The fields of a [`TcpSegment`] with the payload as a range of the batch's arena.
#[derive(Debug, Clone, Copy)]
struct SegmentRecord {
    ts: Timestamp,
    src_ip: IpAddr,
    dst_ip: IpAddr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    payload_wire_len: u32,
    payload_start: usize,
    payload_end: usize,
}

/// A captured packet the worker decodes itself, with its bytes as a range of the arena.
#[derive(Debug, Clone, Copy)]
struct RawRecord {
    ts: Timestamp,
    /// Position in the capture, so the first decode error is the same for any thread count.
    index: u64,
    link: LinkType,
    orig_len: u32,
    data_start: usize,
    data_end: usize,
}

#[derive(Debug, Clone, Copy)]
enum Record {
    /// A plain TCP packet, decoded by the worker.
    Raw(RawRecord),
    /// A segment the reader decoded (IP fragments, unusual headers).
    Segment(SegmentRecord),
}

/// What a worker gets from a batch, in the order pushed.
pub(crate) enum Item<'a> {
    Packet(Packet<'a>, u64),
    Segment(TcpSegment<'a>, Timestamp),
}

/// Packets and segments bound for one worker: records plus one arena for their bytes.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    records: Vec<Record>,
    payload: Vec<u8>,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch { records: Vec::with_capacity(BATCH_SEGMENTS), payload: Vec::with_capacity(BATCH_BYTES + (64 << 10)) }
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Full enough to hand off.
    pub(crate) fn is_full(&self) -> bool {
        self.records.len() >= BATCH_SEGMENTS || self.payload.len() >= BATCH_BYTES
    }

    /// Copy the captured packet `pkt`, number `index` in the capture, into the batch.
    pub(crate) fn push_packet(&mut self, pkt: &Packet<'_>, index: u64) {
        let data_start = self.payload.len();
        self.payload.extend_from_slice(pkt.data);
        self.records.push(Record::Raw(RawRecord {
            ts: pkt.ts,
            index,
            link: pkt.link,
            orig_len: pkt.orig_len,
            data_start,
            data_end: self.payload.len(),
        }));
    }

    /// Copy `seg` (captured at `ts`) into the batch.
    pub(crate) fn push(&mut self, seg: &TcpSegment<'_>, ts: Timestamp) {
        let payload_start = self.payload.len();
        self.payload.extend_from_slice(seg.payload);
        self.records.push(Record::Segment(SegmentRecord {
            ts,
            src_ip: seg.src_ip,
            dst_ip: seg.dst_ip,
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            payload_wire_len: seg.payload_wire_len,
            payload_start,
            payload_end: self.payload.len(),
        }));
    }

    /// Every packet and segment in the order pushed.
    pub(crate) fn for_each(&self, mut f: impl FnMut(Item<'_>)) {
        for rec in &self.records {
            match rec {
                Record::Raw(r) => f(Item::Packet(
                    Packet {
                        ts: r.ts,
                        link: r.link,
                        data: self.payload.get(r.data_start..r.data_end).unwrap_or(&[]),
                        orig_len: r.orig_len,
                    },
                    r.index,
                )),
                Record::Segment(r) => f(Item::Segment(
                    TcpSegment {
                        src_ip: r.src_ip,
                        dst_ip: r.dst_ip,
                        src_port: r.src_port,
                        dst_port: r.dst_port,
                        seq: r.seq,
                        ack: r.ack,
                        flags: r.flags,
                        window: r.window,
                        payload: self.payload.get(r.payload_start..r.payload_end).unwrap_or(&[]),
                        payload_wire_len: r.payload_wire_len,
                    },
                    r.ts,
                )),
            }
        }
    }

    /// Empty the batch, keeping its capacity.
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.payload.clear();
    }
}

/// Picks the worker of a segment from its connection's direction-independent key.
#[derive(Clone)]
pub(crate) struct Sharder {
    workers: usize,
    hasher: foldhash::fast::RandomState,
}

impl Sharder {
    pub(crate) fn new(workers: usize) -> Sharder {
        // Seeded per run: a capture cannot be crafted to pile every flow on one worker.
        Sharder { workers: workers.max(1), hasher: foldhash::fast::RandomState::default() }
    }

    /// Worker index in `0..workers`; the same for both directions of a connection.
    pub(crate) fn shard(&self, seg: &TcpSegment<'_>) -> usize {
        self.shard_endpoints(seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
    }

    /// [`Sharder::shard`] from the endpoints alone (a packet not yet decoded). Runs on
    /// the reading thread for every packet, so it hashes two words rather than a
    /// [`crate::flow::FlowKey`]: each endpoint folded into 64 bits, the smaller one first, so both
    /// directions agree.
    pub(crate) fn shard_endpoints(&self, src_ip: IpAddr, src_port: u16, dst_ip: IpAddr, dst_port: u16) -> usize {
        fn word(ip: IpAddr, port: u16) -> u64 {
            let a = match ip {
                IpAddr::V4(a) => u64::from(u32::from(a)),
                IpAddr::V6(a) => {
                    let x = u128::from(a);
                    (x as u64) ^ ((x >> 64) as u64).rotate_left(29)
                }
            };
            a.rotate_left(16) ^ u64::from(port)
        }
        let (x, y) = (word(src_ip, src_port), word(dst_ip, dst_port));
        let key = if x <= y { (x, y) } else { (y, x) };
        let h = u128::from(self.hasher.hash_one(key));
        let n = self.workers as u128;
        // Shard 0 runs on the thread that also reads, routes and copies every packet and
        // writes the report (about a third of one thread's work on the benchmark), so it
        // takes half an equal share of the hash space: 1 / (2N − 1). Multiply-shift maps
        // the 64-bit hash onto the shards without a division.
        let scaled = (h * (2 * n - 1)) >> 64; // 0 ..= 2N − 2: 0 → shard 0, 2k−1 and 2k → k
        scaled.div_ceil(2) as usize
    }
}

/// The reader's end of one worker.
struct WorkerLink {
    /// The batch being filled.
    filling: Batch,
    /// Full batches to the worker.
    to_worker: SyncSender<Batch>,
    /// Emptied batches back from the worker.
    recycled: Receiver<Batch>,
    /// Batches created for this worker so far (at most [`BATCHES_PER_WORKER`]).
    created: usize,
    handle: JoinHandle<WorkerResult>,
}

impl WorkerLink {
    /// Hand the filled batch to the worker and take an empty one. Returns false when
    /// the worker is gone (it panicked): its segments are dropped from then on.
    fn hand_off(&mut self) -> bool {
        let next = match self.recycled.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty) if self.created < BATCHES_PER_WORKER => {
                self.created += 1;
                Batch::new()
            }
            Err(TryRecvError::Empty) => match self.recycled.recv() {
                Ok(b) => b,
                Err(_) => return false,
            },
            Err(TryRecvError::Disconnected) => return false,
        };
        let full = std::mem::replace(&mut self.filling, next);
        self.to_worker.send(full).is_ok()
    }
}

/// Packets in on the calling thread, analysis there and on `threads - 1` workers. Same interface as
/// [`Analyzer`] for packets and the final report.
pub struct ShardedAnalyzer {
    name: String,
    decoder: Decoder,
    sharder: Sharder,
    /// Shard 0, analysed on the calling thread: `--threads N` runs N threads in all,
    /// and this shard's packets are never copied.
    inline: Box<Analyzer>,
    /// Shards 1..N, one worker thread each.
    workers: Vec<WorkerLink>,
    decode_errors: u64,
    /// The reader's first decode error and the packet's position in the capture.
    first_decode_error: Option<(u64, String)>,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    /// Packets read so far (the next packet's position).
    packets: u64,
    /// Segments dropped because their worker failed.
    lost_segments: u64,
}

/// What a worker hands back at the end.
pub(crate) struct WorkerResult {
    pub log: ConnectionLog,
    pub flows: FlowStats,
    pub decode: DecodeStats,
    pub decode_errors: u64,
    /// First decode error on this worker, with the packet's position in the capture.
    pub first_decode_error: Option<(u64, String)>,
}

impl ShardedAnalyzer {
    /// Start `threads - 1` workers (`threads` at least 1). `name` labels the capture in every report.
    pub fn new(name: &str, cfg: &AnalyzeConfig, threads: usize) -> ShardedAnalyzer {
        let threads = threads.max(1);
        let mut worker_cfg = cfg.clone();
        // The table limits hold for the whole run: each worker gets its share.
        worker_cfg.flow.max_flows = (cfg.flow.max_flows / threads).max(1);
        worker_cfg.flow.max_ooo_total = (cfg.flow.max_ooo_total / threads).max(1);
        worker_cfg.report_memory = Some(cfg.report_memory_per_thread(threads));
        let workers = (1..threads)
            .map(|_| {
                let (to_worker, from_reader) = sync_channel::<Batch>(QUEUE_DEPTH);
                let (to_reader, recycled) = sync_channel::<Batch>(BATCHES_PER_WORKER);
                let wcfg = worker_cfg.clone();
                let wname = name.to_string();
                let handle = std::thread::spawn(move || worker(&wname, &wcfg, from_reader, to_reader));
                WorkerLink { filling: Batch::new(), to_worker, recycled, created: 1, handle }
            })
            .collect();
        ShardedAnalyzer {
            name: name.to_string(),
            decoder: Decoder::with_defrag_limits(cfg.defrag),
            sharder: Sharder::new(threads),
            inline: Box::new(Analyzer::new(name, &worker_cfg)),
            workers,
            decode_errors: 0,
            first_decode_error: None,
            first_ts: None,
            last_ts: None,
            packets: 0,
            lost_segments: 0,
        }
    }

    /// Feed one packet.
    pub fn packet(&mut self, pkt: &Packet<'_>) {
        crate::analyze::widen_span(&mut self.first_ts, &mut self.last_ts, pkt.ts);
        let index = self.packets;
        self.packets += 1;
        // The common case costs the reader a few header reads and one copy: plain TCP
        // packets are decoded by their worker.
        if let Some((src, sp, dst, dp)) = plain_tcp_endpoints(pkt) {
            let w = self.sharder.shard_endpoints(src, sp, dst, dp);
            if w == 0 {
                self.inline.decoded_packet(pkt, index);
            } else if let Some(link) = self.workers.get_mut(w - 1) {
                link.filling.push_packet(pkt, index);
                Self::hand_off_if_full(link, &mut self.lost_segments);
            }
            return;
        }
        // Fragments (the reader's defragmenter sees them all) and anything unusual.
        match self.decoder.decode(pkt) {
            Ok(Some(seg)) => {
                let w = self.sharder.shard(&seg);
                if w == 0 {
                    self.inline.segment(&seg, pkt.ts);
                    return;
                }
                let Some(link) = self.workers.get_mut(w - 1) else { return };
                link.filling.push(&seg, pkt.ts);
                Self::hand_off_if_full(link, &mut self.lost_segments);
            }
            Ok(None) => {}
            Err(e) => {
                self.decode_errors += 1;
                if self.first_decode_error.is_none() {
                    self.first_decode_error = Some((index, e.to_string()));
                }
            }
        }
    }

    fn hand_off_if_full(link: &mut WorkerLink, lost: &mut u64) {
        if link.filling.is_full() && !link.hand_off() {
            *lost += link.filling.len() as u64;
            link.filling.clear();
        }
    }

    /// End of input: drain the workers, merge their verdicts, build the report.
    pub fn finish(mut self, read: ReadStats) -> CaptureReport {
        let mut parts = Vec::new();
        let mut flows = FlowStats::default();
        let mut decode = self.decoder.stats.clone();
        let mut decode_errors = self.decode_errors;
        let mut first_error = self.first_decode_error.take();
        let mut failed = 0usize;
        let mut results = vec![self.inline.finish_flows()];
        for mut link in std::mem::take(&mut self.workers) {
            if !link.filling.is_empty() && !link.hand_off() {
                self.lost_segments += link.filling.len() as u64;
            }
            let WorkerLink { to_worker, recycled, handle, .. } = link;
            // Closing the channel ends the worker's loop.
            drop(to_worker);
            drop(recycled);
            match handle.join() {
                Ok(r) => results.push(r),
                Err(_) => failed += 1,
            }
        }
        for WorkerResult { log, flows: s, decode: d, decode_errors: e, first_decode_error } in results {
            parts.push(log);
            decode.add(&d);
            decode_errors += e;
            if let Some(w) = first_decode_error {
                if first_error.as_ref().map_or(true, |f| w.0 < f.0) {
                    first_error = Some(w);
                }
            }
            flows.add(&s);
        }
        let conns = ConnectionList::merge(parts);
        let parts = CaptureParts {
            name: self.name,
            decode,
            decode_errors,
            first_decode_error: first_error.map(|(_, e)| e),
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        };
        let mut report = parts.into_report(read, flows, conns);
        if failed > 0 {
            report.warnings.push(format!(
                "{failed} analysis thread(s) failed; their connections are missing ({} segment(s) not analysed)",
                self.lost_segments
            ));
        }
        report
    }
}

/// One worker: analyse batches until the reader hangs up, returning each emptied batch.
fn worker(name: &str, cfg: &AnalyzeConfig, from_reader: Receiver<Batch>, to_reader: SyncSender<Batch>) -> WorkerResult {
    let mut analyzer = Analyzer::new(name, cfg);
    for mut batch in from_reader {
        batch.for_each(|item| match item {
            Item::Packet(pkt, index) => analyzer.decoded_packet(&pkt, index),
            Item::Segment(seg, ts) => analyzer.segment(&seg, ts),
        });
        batch.clear();
        // The reader may already be gone (end of input): then the batch is dropped.
        let _ = to_reader.try_send(batch);
    }
    analyzer.finish_flows()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn seg<'a>(src: IpAddr, sp: u16, dst: IpAddr, dp: u16, payload: &'a [u8]) -> TcpSegment<'a> {
        TcpSegment {
            src_ip: src,
            dst_ip: dst,
            src_port: sp,
            dst_port: dp,
            seq: 7,
            ack: 9,
            flags: TcpFlags { syn: false, ack: true, fin: false, rst: false },
            window: 512,
            payload,
            payload_wire_len: payload.len() as u32,
        }
    }

    #[test]
    fn shard_is_symmetric_and_in_range() {
        for workers in [1, 2, 3, 8] {
            let s = Sharder::new(workers);
            let a = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
            let b6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
            for port in 40000..40200u16 {
                let fwd = s.shard(&seg(a, port, a, 55432, b""));
                let rev = s.shard(&seg(a, 55432, a, port, b""));
                assert_eq!(fwd, rev, "both directions of one connection go to one worker");
                assert!(fwd < workers);
                let fwd6 = s.shard(&seg(b6, port, b6, 53306, b""));
                assert_eq!(fwd6, s.shard(&seg(b6, 53306, b6, port, b"")));
            }
        }
    }

    #[test]
    fn shard_spreads_connections_between_two_hosts() {
        // Loopback workloads have one address pair: the ports must spread the load.
        let s = Sharder::new(2);
        let a = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
        let mut per = [0usize; 2];
        for port in 30000..31000u16 {
            per[s.shard(&seg(a, port, a, 5432, b""))] += 1;
        }
        // Shard 0 (the reading thread's) takes a third, the worker two thirds.
        assert!((250..420).contains(&per[0]) && per[1] > 580, "uneven split {per:?}");
    }

    #[test]
    fn batch_round_trips_segments_in_order() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let mut batch = Batch::new();
        let first = seg(a, 40000, a, 5432, b"\x00\x00\x00\x08\x04\xd2\x16\x2f");
        let mut second = seg(b, 5432, b, 40001, b"S");
        second.flags = TcpFlags { syn: true, ack: true, fin: false, rst: false };
        second.payload_wire_len = 1400; // cut by the snap length
        batch.push(&first, Timestamp(1));
        batch.push(&second, Timestamp(2));
        batch.push(&seg(a, 1, a, 2, b""), Timestamp(3));
        let mut seen = Vec::new();
        batch.for_each(|item| {
            if let Item::Segment(s, ts) = item {
                seen.push((ts, s.src_ip, s.src_port, s.dst_port, s.flags, s.payload.to_vec(), s.payload_wire_len))
            }
        });
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (Timestamp(1), a, 40000, 5432, first.flags, first.payload.to_vec(), 8));
        assert_eq!(seen[1], (Timestamp(2), b, 5432, 40001, second.flags, b"S".to_vec(), 1400));
        assert_eq!(seen[2].5, b"");
        let cap = (batch.records.capacity(), batch.payload.capacity());
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!((batch.records.capacity(), batch.payload.capacity()), cap, "clear keeps the buffers");
    }

    #[test]
    fn batch_is_full_by_count_or_bytes() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut batch = Batch::new();
        for _ in 0..BATCH_SEGMENTS - 1 {
            batch.push(&seg(a, 1, a, 2, b""), Timestamp(0));
        }
        assert!(!batch.is_full());
        batch.push(&seg(a, 1, a, 2, b""), Timestamp(0));
        assert!(batch.is_full());
        let mut big = Batch::new();
        let payload = vec![0u8; 65535];
        // 4 × 65535 is just under BATCH_BYTES.
        for _ in 0..4 {
            big.push(&seg(a, 1, a, 2, &payload), Timestamp(0));
        }
        assert!(!big.is_full());
        big.push(&seg(a, 1, a, 2, &payload), Timestamp(0));
        assert!(big.is_full());
    }

    #[test]
    fn hand_off_recycles_a_bounded_set_of_batches() {
        // A worker stand-in that empties batches and sends them back, counting segments.
        let (to_worker, from_reader) = sync_channel::<Batch>(QUEUE_DEPTH);
        let (to_reader, recycled) = sync_channel::<Batch>(BATCHES_PER_WORKER);
        let handle = std::thread::spawn(move || {
            let mut n = 0u64;
            let mut addrs = std::collections::HashSet::new();
            for mut b in from_reader {
                n += b.len() as u64;
                addrs.insert(b.payload.as_ptr() as usize);
                b.clear();
                let _ = to_reader.try_send(b);
            }
            WorkerResult {
                log: ConnectionLog::default(),
                flows: FlowStats { flows: n, gaps: addrs.len() as u64, ..FlowStats::default() },
                decode: DecodeStats::default(),
                decode_errors: 0,
                first_decode_error: None,
            }
        });
        let mut link = WorkerLink { filling: Batch::new(), to_worker, recycled, created: 1, handle };
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let payload = [0x17u8; 100];
        let mut pushed = 0u64;
        for _ in 0..50 {
            for _ in 0..BATCH_SEGMENTS {
                link.filling.push(&seg(a, 1, a, 2, &payload), Timestamp(0));
                pushed += 1;
            }
            assert!(link.hand_off());
        }
        assert!(link.created <= BATCHES_PER_WORKER);
        let WorkerLink { to_worker, recycled, handle, .. } = link;
        drop(to_worker);
        drop(recycled);
        let stats = handle.join().expect("worker").flows;
        assert_eq!(stats.flows, pushed, "every segment reached the worker exactly once");
        assert!(stats.gaps as usize <= BATCHES_PER_WORKER, "{} distinct buffers used", stats.gaps);
    }

    /// An IPv4 packet (raw IP link) from 10.0.0.1:40000 to 10.0.0.2:5432 or back.
    fn ipv4(to_server: bool, id: u16, frag_off: usize, more: bool, l4: &[u8]) -> Vec<u8> {
        let (src, dst) = if to_server { ([10, 0, 0, 1], [10, 0, 0, 2]) } else { ([10, 0, 0, 2], [10, 0, 0, 1]) };
        let mut p = vec![
            /* version, IHL */ 0x45, /* DSCP */ 0x00, /* total length */ 0x00, 0x00,
            /* identification */ 0x00, 0x00, /* flags, fragment offset */ 0x00, 0x00, /* TTL */ 64,
            /* protocol TCP */ 6, /* checksum (not checked) */ 0x00, 0x00,
        ];
        p.extend(src);
        p.extend(dst);
        p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.to_be_bytes());
        let fo = (frag_off / 8) as u16 | if more { 0x2000 } else { 0 };
        p[6..8].copy_from_slice(&fo.to_be_bytes());
        p.extend(l4);
        p
    }

    fn tcp(to_server: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (sp, dp): (u16, u16) = if to_server { (40000, 5432) } else { (5432, 40000) };
        let mut t = Vec::new();
        t.extend(sp.to_be_bytes());
        t.extend(dp.to_be_bytes());
        t.extend(seq.to_be_bytes());
        t.extend([/* ack */ 0, 0, 0, 0, /* data offset 5 */ 0x50, flags, /* window */ 0xff, 0xff]);
        t.extend([/* checksum, urgent */ 0, 0, 0, 0]);
        t.extend(payload);
        t
    }

    #[test]
    fn reader_routes_only_plain_tcp_by_its_header_bytes() {
        let raw = |data: &[u8]| {
            plain_tcp_endpoints(&Packet {
                ts: Timestamp(0),
                link: crate::capture::LinkType::RAW,
                data,
                orig_len: data.len() as u32,
            })
        };
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let whole = ipv4(true, 1, 0, false, &tcp(true, 0, 0x02, b""));
        assert_eq!(raw(&whole), Some((a, 40000, b, 5432)));
        assert_eq!(raw(&ipv4(false, 1, 0, false, &tcp(false, 0, 0x10, b"x"))), Some((b, 5432, a, 40000)));
        // First fragment (more-fragments set) and a later one: the reader's decoder's.
        assert_eq!(raw(&ipv4(true, 4, 0, true, &tcp(true, 1, 0x10, b"12345678"))), None);
        assert_eq!(raw(&ipv4(true, 4, 16, false, b"tail")), None);
        // Ports cut by the snap length, not TCP, not IP.
        assert_eq!(raw(&whole[..22]), None);
        let mut udp = whole.clone();
        udp[9] = 17;
        assert_eq!(raw(&udp), None);
        assert_eq!(raw(&[0x00, 0x01]), None);
    }

    #[test]
    fn fragmented_segment_joins_its_connection_on_any_worker_count() {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        // PostgreSQL SSLRequest (length 8, code 80877103) sent as two IPv4 fragments,
        // after a handshake sent whole.
        let ssl_request = [/* length */ 0x00, 0x00, 0x00, 0x08, /* code */ 0x04, 0xd2, 0x16, 0x2f];
        let segment = tcp(true, 1, ACK, &ssl_request);
        let packets = [
            ipv4(true, 1, 0, false, &tcp(true, 0, SYN, b"")),
            ipv4(false, 2, 0, false, &tcp(false, 100, SYN | ACK, b"")),
            ipv4(true, 3, 0, false, &tcp(true, 1, ACK, b"")),
            ipv4(true, 4, 0, true, &segment[..16]),
            ipv4(true, 4, 16, false, &segment[16..]),
            ipv4(false, 5, 0, false, &tcp(false, 101, ACK, b"N")),
        ];
        let cfg = AnalyzeConfig::default();
        for threads in 1..=4 {
            let mut sharded = ShardedAnalyzer::new("frag", &cfg, threads);
            for (i, data) in packets.iter().enumerate() {
                let pkt = Packet {
                    ts: Timestamp(1_000 + i as u64),
                    link: crate::capture::LinkType::RAW,
                    data,
                    orig_len: data.len() as u32,
                };
                sharded.packet(&pkt);
            }
            let report = sharded.finish(ReadStats::default());
            assert_eq!(report.decode.reassembled_datagrams, 1);
            assert_eq!(report.flows.flows, 1, "--threads {threads}: one connection, fragments included");
            assert_eq!(report.connections.len(), 1);
            assert_eq!(report.connections.get(0).expect("read back").expect("one").engine, "postgresql");
        }
    }
}
