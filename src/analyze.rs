//! Wires capture → decode → flow → engine → findings.
//!
//! [`Analyzer`] takes packets from any source (one file, several files read as one
//! capture, a live interface) and hands out connection verdicts as connections end;
//! [`analyze_file`] is the one-file convenience over it.

use std::path::Path;
use std::sync::Arc;

use crate::capture::file::{CaptureError, CaptureFile, ReadStats};
use crate::capture::{Packet, Timestamp};
use crate::decode::{DecodeStats, Decoder, DefragLimits};
use crate::engine::dissect::{Dissector, PortHints};
use crate::engine::EngineConfig;
use crate::findings::{self, ConnectionReport};
use crate::flow::{Conn, FlowConfig, FlowStats, FlowTable};

/// Everything that shapes an analysis run.
#[derive(Clone, Default)]
pub struct AnalyzeConfig {
    pub engine: EngineConfig,
    pub flow: FlowConfig,
    pub ports: PortHints,
    /// Limits of IP defragmentation.
    pub defrag: DefragLimits,
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
    pub connections: Vec<ConnectionReport>,
    pub warnings: Vec<String>,
}

/// Packets in, connection verdicts out. One per capture; not shared between threads.
pub struct Analyzer {
    name: String,
    engine_cfg: Arc<EngineConfig>,
    ports: PortHints,
    table: FlowTable<Dissector>,
    decoder: Decoder,
    conns: Vec<ConnectionReport>,
    decode_errors: u64,
    first_decode_error: Option<String>,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
}

impl Analyzer {
    /// `name` labels the capture in every connection report.
    pub fn new(name: &str, cfg: &AnalyzeConfig) -> Analyzer {
        let mut flow_cfg = cfg.flow.clone();
        flow_cfg.server_ports = cfg.ports.ports();
        Analyzer {
            name: name.to_string(),
            engine_cfg: Arc::new(cfg.engine.clone()),
            ports: cfg.ports.clone(),
            table: FlowTable::new(flow_cfg),
            decoder: Decoder::with_defrag_limits(cfg.defrag),
            conns: Vec::new(),
            decode_errors: 0,
            first_decode_error: None,
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
        if self.first_ts.is_none() {
            self.first_ts = Some(pkt.ts);
        }
        // Captures are not always in time order: keep the latest.
        if self.last_ts.is_none_or(|t| pkt.ts > t) {
            self.last_ts = Some(pkt.ts);
        }
        match self.decoder.decode(pkt) {
            Ok(Some(seg)) => {
                let Analyzer { name, engine_cfg, ports, table, conns, .. } = self;
                let mut new_handler = |meta: &crate::flow::ConnMeta| {
                    Dissector::new(engine_cfg.clone(), ports.get(meta.server.port), !meta.handshake_seen)
                };
                let mut finished = |c: Conn<Dissector>| keep(name, conns, c, on_close);
                table.process(&seg, pkt.ts, &mut new_handler, &mut finished);
            }
            Ok(None) => {}
            Err(e) => {
                self.decode_errors += 1;
                if self.first_decode_error.is_none() {
                    self.first_decode_error = Some(e.to_string());
                }
            }
        }
    }

    /// Connections currently tracked.
    pub fn open_connections(&self) -> usize {
        self.table.len()
    }

    /// Verdicts kept so far (connections that already ended).
    pub fn finished_connections(&self) -> &[ConnectionReport] {
        &self.conns
    }

    /// End of input: finish every connection and build the report. `read` describes how
    /// the packets were read (file statistics, warnings); its warning becomes the
    /// report's first warning.
    pub fn finish(self, read: ReadStats) -> CaptureReport {
        self.finish_with(read, &mut |_| {})
    }

    pub fn finish_with(mut self, read: ReadStats, on_close: &mut dyn FnMut(&ConnectionReport)) -> CaptureReport {
        {
            let Analyzer { name, table, conns, .. } = &mut self;
            table.finish_all(&mut |c| keep(name, conns, c, on_close));
        }
        let mut conns = std::mem::take(&mut self.conns);
        conns.sort_by_key(|c| c.start_ns);

        let mut warnings = Vec::new();
        if let Some(w) = &read.warning {
            warnings.push(w.clone());
        }
        if self.decode_errors > 0 {
            warnings.push(format!(
                "{} packet(s) could not be decoded ({})",
                self.decode_errors,
                self.first_decode_error.as_deref().unwrap_or("?")
            ));
        }
        if self.table.stats.evicted_flows > 0 {
            warnings.push(format!(
                "{} connection(s) evicted early because the flow table was full",
                self.table.stats.evicted_flows
            ));
        }
        let flows = &self.table.stats;
        if flows.ooo_cap_hits > 0 {
            warnings.push(format!(
                "out-of-order buffer limit reached {} time(s), {} byte(s) skipped as gaps (--max-buffer, --max-buffer-total)",
                flows.ooo_cap_hits, flows.ooo_cap_skipped_bytes
            ));
        }
        if self.decoder.stats.fragments_dropped > 0 {
            warnings.push(format!(
                "{} IP fragment(s) dropped (defragmentation limits, timeouts, or inconsistent or cut fragments)",
                self.decoder.stats.fragments_dropped
            ));
        }
        CaptureReport {
            path: self.name,
            read,
            decode: self.decoder.stats.clone(),
            flows: self.table.stats.clone(),
            decode_errors: self.decode_errors,
            first_decode_error: self.first_decode_error,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            connections: conns,
            warnings,
        }
    }
}

fn keep(
    name: &str,
    conns: &mut Vec<ConnectionReport>,
    c: Conn<Dissector>,
    on_close: &mut dyn FnMut(&ConnectionReport),
) {
    if findings::is_reportable(&c.handler) {
        let r = findings::assess(name, &c.meta, &c.handler);
        on_close(&r);
        conns.push(r);
    }
}

/// Analyse one capture file. `progress` gets the bytes read so far after each buffer
/// refill. A damaged file yields the report for what was read plus a warning.
pub fn analyze_file(
    path: &Path,
    cfg: &AnalyzeConfig,
    progress: &mut dyn FnMut(u64),
) -> Result<CaptureReport, CaptureError> {
    let mut file = CaptureFile::open(path)?;
    let mut analyzer = Analyzer::new(&path.display().to_string(), cfg);
    let read = file.for_each(progress, &mut |pkt| analyzer.packet(pkt))?;
    Ok(analyzer.finish(read))
}
