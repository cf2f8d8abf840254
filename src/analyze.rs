//! Wires capture → decode → flow → engine → findings for one capture file.

use std::path::Path;
use std::sync::Arc;

use crate::capture::file::{CaptureError, CaptureFile, ReadStats};
use crate::capture::Timestamp;
use crate::decode::{DecodeStats, Decoder};
use crate::engine::dissect::{Dissector, PortHints};
use crate::engine::EngineConfig;
use crate::findings::{self, CheckContext, ConnectionReport};
use crate::flow::{Conn, FlowConfig, FlowStats, FlowTable};

/// Everything that shapes an analysis run.
#[derive(Clone, Default)]
pub struct AnalyzeConfig {
    pub engine: EngineConfig,
    pub flow: FlowConfig,
    pub ports: PortHints,
    /// Policy, CA bundle, expected host and the chain cache, shared by every file of a run.
    pub checks: Arc<CheckContext>,
}

/// Result of analysing one capture file.
#[derive(Debug, Clone, Default)]
pub struct CaptureReport {
    /// The file as the user named it.
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

/// Analyse one capture file. `progress` gets the bytes read so far after each buffer
/// refill. A damaged file yields the report for what was read plus a warning.
pub fn analyze_file(
    path: &Path,
    cfg: &AnalyzeConfig,
    progress: &mut dyn FnMut(u64),
) -> Result<CaptureReport, CaptureError> {
    let mut file = CaptureFile::open(path)?;
    let name = path.display().to_string();
    let engine_cfg = Arc::new(cfg.engine.clone());
    let mut flow_cfg = cfg.flow.clone();
    flow_cfg.server_ports = cfg.ports.ports();
    let mut table: FlowTable<Dissector> = FlowTable::new(flow_cfg);
    let mut decoder = Decoder::new();
    let mut report = CaptureReport { path: name.clone(), ..CaptureReport::default() };
    let mut conns: Vec<ConnectionReport> = Vec::new();

    let ports = &cfg.ports;
    let mut new_handler = |meta: &crate::flow::ConnMeta| {
        Dissector::new(engine_cfg.clone(), ports.get(meta.server.port), !meta.handshake_seen)
    };
    let mut finished = |c: Conn<Dissector>| {
        if findings::is_reportable(&c.handler) {
            conns.push(findings::assess_with(&name, &c.meta, &c.handler, &cfg.checks));
        }
    };

    let read = {
        let (first_ts, last_ts, decode_errors, first_err) =
            (&mut report.first_ts, &mut report.last_ts, &mut report.decode_errors, &mut report.first_decode_error);
        file.for_each(progress, &mut |pkt| {
            if first_ts.is_none() {
                *first_ts = Some(pkt.ts);
            }
            // Captures are not always in time order: keep the latest.
            if last_ts.is_none_or(|t| pkt.ts > t) {
                *last_ts = Some(pkt.ts);
            }
            match decoder.decode(pkt) {
                Ok(Some(seg)) => table.process(&seg, pkt.ts, &mut new_handler, &mut finished),
                Ok(None) => {}
                Err(e) => {
                    *decode_errors += 1;
                    if first_err.is_none() {
                        *first_err = Some(e.to_string());
                    }
                }
            }
        })?
    };
    table.finish_all(&mut finished);
    conns.sort_by_key(|c| c.start_ns);

    if let Some(w) = &read.warning {
        report.warnings.push(w.clone());
    }
    if report.decode_errors > 0 {
        report.warnings.push(format!(
            "{} packet(s) could not be decoded ({})",
            report.decode_errors,
            report.first_decode_error.as_deref().unwrap_or("?")
        ));
    }
    if table.stats.evicted_flows > 0 {
        report
            .warnings
            .push(format!("{} connection(s) evicted early because the flow table was full", table.stats.evicted_flows));
    }
    report.read = read;
    report.decode = decoder.stats.clone();
    report.flows = table.stats.clone();
    report.connections = conns;
    Ok(report)
}
