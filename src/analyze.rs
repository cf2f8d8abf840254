//! Wires capture → decode → flow → engine → findings.
//!
//! [`Analyzer`] takes packets from any source (one file, several files read as one
//! capture, a live interface) and hands out connection verdicts as connections end;
//! [`analyze_file`] is the one-file convenience over it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::capture::file::{CaptureError, CaptureFile, ReadStats};
use crate::capture::{Packet, Timestamp};
use crate::decode::{DecodeStats, Decoder, DefragLimits, TcpSegment};
use crate::engine::dissect::{Dissector, PortHints};
use crate::engine::EngineConfig;
use crate::findings::log::{ConnectionList, ConnectionLog, DEFAULT_REPORT_MEMORY};
use crate::findings::{self, CheckContext, ConnectionReport};
use crate::flow::{Conn, FlowConfig, FlowStats, FlowTable};
use crate::pipeline::ShardedAnalyzer;

/// Everything that shapes an analysis run.
#[derive(Clone, Default)]
pub struct AnalyzeConfig {
    pub engine: EngineConfig,
    pub flow: FlowConfig,
    pub ports: PortHints,
    /// Policy, CA bundle, expected host and the chain cache, shared by every file of a run.
    pub checks: Arc<CheckContext>,
    /// Worker threads for [`analyze_file`] and [`analyze_files_as_one`]: 0 or 1 analyses
    /// on the calling thread; N > 1 shards connections over the calling thread and N − 1
    /// workers ([`crate::pipeline`]). The report is the same either way.
    pub threads: usize,
    /// Limits of IP defragmentation.
    pub defrag: DefragLimits,
    /// Bytes of finished connection reports kept in memory per capture before they go
    /// to a temporary file (`None`: [`DEFAULT_REPORT_MEMORY`]).
    pub report_memory: Option<usize>,
}

impl AnalyzeConfig {
    /// Report memory of one analysis thread when `threads` share the budget.
    pub(crate) fn report_memory_per_thread(&self, threads: usize) -> usize {
        self.report_memory.unwrap_or(DEFAULT_REPORT_MEMORY) / threads.max(1)
    }
}

/// Result of analysing one capture (one file, or several read as one).
#[derive(Debug, Clone, Default)]
pub struct CaptureReport {
    /// The capture as the user named it.
    pub path: String,
    pub read: ReadStats,
    pub decode: DecodeStats,
    pub flows: FlowStats,
    /// Packets the decoder could not use (unsupported link type, malformed).
    pub decode_errors: u64,
    /// First decode error, for the warning line.
    pub first_decode_error: Option<String>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Database connections, in order of their first packet.
    pub connections: ConnectionList,
    pub warnings: Vec<String>,
}

/// Packets in, connection verdicts out. One per capture; not shared between threads.
pub struct Analyzer {
    flows: Connections,
    decoder: Decoder,
    decode_errors: u64,
    first_decode_error: Option<String>,
    /// Position in the capture of the packet behind `first_decode_error` (threaded
    /// pipeline: the earliest over all workers is reported).
    first_decode_error_index: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
}

impl Analyzer {
    /// `name` labels the capture in every connection report.
    pub fn new(name: &str, cfg: &AnalyzeConfig) -> Analyzer {
        let mut flow_cfg = cfg.flow.clone();
        flow_cfg.server_ports = cfg.ports.ports();
        Analyzer {
            flows: Connections {
                name: name.to_string(),
                engine_cfg: Arc::new(cfg.engine.clone()),
                checks: cfg.checks.clone(),
                ports: cfg.ports.clone(),
                table: FlowTable::new(flow_cfg),
                log: ConnectionLog::new(cfg.report_memory_per_thread(1)),
            },
            decoder: Decoder::with_defrag_limits(cfg.defrag),
            decode_errors: 0,
            first_decode_error: None,
            first_decode_error_index: 0,
            first_ts: None,
            last_ts: None,
        }
    }

    /// Feed one packet; verdicts of connections that end are kept for [`Analyzer::finish`].
    pub fn packet(&mut self, pkt: &Packet<'_>) {
        self.packet_with(pkt, &mut |_| {});
    }

    /// Feed one packet; `on_close` also sees each verdict as its connection ends (FIN/RST
    /// after a linger, idle timeout, eviction), for streaming output.
    pub fn packet_with(&mut self, pkt: &Packet<'_>, on_close: &mut dyn FnMut(&ConnectionReport)) {
        widen_span(&mut self.first_ts, &mut self.last_ts, pkt.ts);
        self.decode_and_feed(pkt, 0, on_close);
    }

    /// Capture time has reached `now` with no packet (a quiet live interface): finish the
    /// connections whose close linger or idle timeout ran out, handing each to `on_close`.
    pub fn advance(&mut self, now: Timestamp, on_close: &mut dyn FnMut(&ConnectionReport)) {
        self.flows.expire(now, on_close);
    }

    /// Feed one already decoded TCP segment (the sharded pipeline decodes on its reader
    /// thread). Does not touch the capture-level counters (first/last timestamp, decode
    /// statistics): those belong to whoever decoded the packet.
    pub(crate) fn segment(&mut self, seg: &TcpSegment<'_>, ts: Timestamp) {
        self.flows.segment(seg, ts, &mut |_| {});
    }

    /// Decode and feed one packet, number `index` in the capture, for a worker of the
    /// sharded pipeline: the capture-level timestamps belong to the reader, the decode
    /// counters are summed over the workers.
    pub(crate) fn decoded_packet(&mut self, pkt: &Packet<'_>, index: u64) {
        self.decode_and_feed(pkt, index, &mut |_| {});
    }

    /// Decode one packet (number `index` in the capture) and feed its segment, or count
    /// the decode error.
    fn decode_and_feed(&mut self, pkt: &Packet<'_>, index: u64, on_close: &mut dyn FnMut(&ConnectionReport)) {
        match self.decoder.decode(pkt) {
            Ok(Some(seg)) => self.flows.segment(&seg, pkt.ts, on_close),
            Ok(None) => {}
            Err(e) => {
                self.decode_errors += 1;
                if self.first_decode_error.is_none() {
                    self.first_decode_error = Some(e.to_string());
                    self.first_decode_error_index = index;
                }
            }
        }
    }

    /// End of input for a worker of the sharded pipeline: every connection finished, the
    /// verdicts (unsorted), the flow and decode counters.
    pub(crate) fn finish_flows(mut self) -> crate::pipeline::WorkerResult {
        self.flows.finish_all(&mut |_| {});
        let index = self.first_decode_error_index;
        crate::pipeline::WorkerResult {
            log: std::mem::take(&mut self.flows.log),
            flows: self.flows.table.stats.clone(),
            decode: self.decoder.stats.clone(),
            decode_errors: self.decode_errors,
            first_decode_error: self.first_decode_error.take().map(|e| (index, e)),
        }
    }

    /// Connections currently tracked.
    pub fn open_connections(&self) -> usize {
        self.flows.table.len()
    }

    /// Connections that already ended.
    pub fn finished_connections(&self) -> usize {
        self.flows.log.len()
    }

    /// End of input: finish every connection and build the report. `read` describes how
    /// the packets were read (file statistics, warnings); its warning becomes the
    /// report's first warning.
    pub fn finish(self, read: ReadStats) -> CaptureReport {
        self.finish_with(read, &mut |_| {})
    }

    pub fn finish_with(mut self, read: ReadStats, on_close: &mut dyn FnMut(&ConnectionReport)) -> CaptureReport {
        self.flows.finish_all(on_close);
        let conns = ConnectionList::merge(vec![std::mem::take(&mut self.flows.log)]);
        let parts = CaptureParts {
            name: self.flows.name,
            decode: self.decoder.stats.clone(),
            decode_errors: self.decode_errors,
            first_decode_error: self.first_decode_error,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        };
        parts.into_report(read, self.flows.table.stats.clone(), conns)
    }
}

/// Capture-level facts gathered where packets are decoded; with the flow counters and
/// the verdicts they make a [`CaptureReport`].
pub(crate) struct CaptureParts {
    pub name: String,
    pub decode: DecodeStats,
    pub decode_errors: u64,
    pub first_decode_error: Option<String>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

impl CaptureParts {
    pub(crate) fn into_report(self, read: ReadStats, flows: FlowStats, conns: ConnectionList) -> CaptureReport {
        let mut warnings = Vec::new();
        if let Some(w) = &read.warning {
            warnings.push(w.clone());
        }
        warnings.extend(conns.warnings().iter().cloned());
        if self.decode_errors > 0 {
            warnings.push(format!(
                "{} packet(s) could not be decoded ({})",
                self.decode_errors,
                self.first_decode_error.as_deref().unwrap_or("?")
            ));
        }
        if flows.evicted_flows > 0 {
            warnings
                .push(format!("{} connection(s) evicted early because the flow table was full", flows.evicted_flows));
        }
        if flows.ooo_cap_hits > 0 {
            warnings.push(format!(
                "out-of-order buffer limit reached {} time(s), {} byte(s) skipped as gaps (--max-buffer, --max-buffer-total)",
                flows.ooo_cap_hits, flows.ooo_cap_skipped_bytes
            ));
        }
        if self.decode.fragments_dropped > 0 {
            warnings.push(format!(
                "{} IP fragment(s) dropped (defragmentation limits, timeouts, or inconsistent or cut fragments)",
                self.decode.fragments_dropped
            ));
        }
        CaptureReport {
            path: self.name,
            read,
            decode: self.decode,
            flows,
            decode_errors: self.decode_errors,
            first_decode_error: self.first_decode_error,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            connections: conns,
            warnings,
        }
    }
}

/// The flow table with what turns its finished connections into verdicts.
struct Connections {
    name: String,
    engine_cfg: Arc<EngineConfig>,
    checks: Arc<CheckContext>,
    ports: PortHints,
    table: FlowTable<Dissector>,
    log: ConnectionLog,
}

impl Connections {
    fn segment(&mut self, seg: &TcpSegment<'_>, ts: Timestamp, on_close: &mut dyn FnMut(&ConnectionReport)) {
        let Connections { name, engine_cfg, checks, ports, table, log } = self;
        let mut new_handler = |meta: &crate::flow::ConnMeta| {
            Dissector::new(engine_cfg.clone(), ports.get(meta.server.port), !meta.handshake_seen)
        };
        let mut finished = |c: Conn<Dissector>| keep(name, checks, log, c, on_close);
        table.process(seg, ts, &mut new_handler, &mut finished);
    }

    fn expire(&mut self, now: Timestamp, on_close: &mut dyn FnMut(&ConnectionReport)) {
        let Connections { name, checks, table, log, .. } = self;
        table.expire(now, &mut |c| keep(name, checks, log, c, on_close));
    }

    fn finish_all(&mut self, on_close: &mut dyn FnMut(&ConnectionReport)) {
        let Connections { name, checks, table, log, .. } = self;
        table.finish_all(&mut |c| keep(name, checks, log, c, on_close));
    }
}

fn keep(
    name: &str,
    checks: &CheckContext,
    log: &mut ConnectionLog,
    c: Conn<Dissector>,
    on_close: &mut dyn FnMut(&ConnectionReport),
) {
    if findings::is_reportable(&c.handler) {
        let r = findings::assess_with(name, &c.meta, &c.handler, checks);
        on_close(&r);
        log.push(&r);
    }
}

/// Widen a capture's time span by one packet. Captures are not always in time order:
/// the first packet's time is kept as the start, the latest time as the end.
pub(crate) fn widen_span(first: &mut Option<Timestamp>, last: &mut Option<Timestamp>, ts: Timestamp) {
    if first.is_none() {
        *first = Some(ts);
    }
    if last.map_or(true, |t| ts > t) {
        *last = Some(ts);
    }
}

/// Analyse one capture file (pcap, pcapng, or either compressed with gzip) on
/// `cfg.threads` threads. `progress` gets the bytes read so far after each buffer
/// refill. A damaged file yields the report for what was read plus a warning.
pub fn analyze_file(
    path: &Path,
    cfg: &AnalyzeConfig,
    progress: &mut dyn FnMut(u64),
) -> Result<CaptureReport, CaptureError> {
    let mut file = CaptureFile::open(path)?;
    let mut sink = PacketSink::new(&path.display().to_string(), cfg);
    let read = file.for_each(progress, &mut |pkt| sink.packet(pkt))?;
    Ok(sink.finish(read))
}

/// Analyse several capture files as ONE capture (e.g. files rotated by `tcpdump -C` or
/// `-G`): files are read in the order of their first packet's timestamp (file name
/// breaks ties), into one analysis, so a connection that spans files stays one
/// connection. `name` labels the capture in the report. Files that cannot be read are
/// skipped with a warning; an error only when none can be read.
pub fn analyze_files_as_one(
    paths: &[PathBuf],
    name: &str,
    cfg: &AnalyzeConfig,
    progress: &mut dyn FnMut(u64),
) -> Result<CaptureReport, CaptureError> {
    let mut warnings = Vec::new();
    let mut first_error = None;
    let mut files = Vec::new();
    for p in paths {
        match CaptureFile::open(p).and_then(|mut f| Ok((f.first_timestamp()?, f))) {
            Ok((ts, f)) => files.push((ts, p.clone(), f)),
            Err(e) => {
                warnings.push(format!("skipped: {e}"));
                first_error.get_or_insert(e);
            }
        }
    }
    if files.is_empty() {
        return Err(first_error
            .unwrap_or_else(|| CaptureError::Corrupt { path: PathBuf::from(name), msg: "no capture files".into() }));
    }
    // Files without packets sort last; they add nothing but their counters.
    files.sort_by(|a, b| (a.0.is_none(), a.0, &a.1).cmp(&(b.0.is_none(), b.0, &b.1)));
    let mut sink = PacketSink::new(name, cfg);
    let mut read = ReadStats::default();
    let mut done_before = 0u64;
    for (_, path, mut file) in files {
        let r = file.for_each(&mut |n| progress(done_before + n), &mut |pkt| sink.packet(pkt))?;
        done_before += r.bytes_read;
        if let Some(w) = &r.warning {
            warnings.push(format!("{}: {w}", path.display()));
        }
        read.add(&r);
    }
    read.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
    Ok(sink.finish(read))
}

/// The single-threaded [`Analyzer`] or the sharded pipeline, by `cfg.threads`.
enum PacketSink {
    One(Box<Analyzer>),
    Sharded(Box<ShardedAnalyzer>),
}

impl PacketSink {
    fn new(name: &str, cfg: &AnalyzeConfig) -> PacketSink {
        if cfg.threads > 1 {
            PacketSink::Sharded(Box::new(ShardedAnalyzer::new(name, cfg, cfg.threads)))
        } else {
            PacketSink::One(Box::new(Analyzer::new(name, cfg)))
        }
    }

    fn packet(&mut self, pkt: &Packet<'_>) {
        match self {
            PacketSink::One(a) => a.packet(pkt),
            PacketSink::Sharded(s) => s.packet(pkt),
        }
    }

    fn finish(self, read: ReadStats) -> CaptureReport {
        match self {
            PacketSink::One(a) => a.finish(read),
            PacketSink::Sharded(s) => s.finish(read),
        }
    }
}
