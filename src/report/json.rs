//! JSON lines (one object per connection) and a single JSON document.

use std::io::{self, Write};

use serde::Serialize;

use super::RunSummary;
use crate::analyze::CaptureReport;

/// Write one JSON object per connection, one per line.
pub fn write_jsonl(out: &mut dyn Write, captures: &[CaptureReport]) -> io::Result<()> {
    for cap in captures {
        cap.connections.write_jsonl(out)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct CaptureDoc<'a> {
    path: &'a str,
    packets: u64,
    bytes_read: u64,
    snaplen_truncated: u64,
    first_packet: Option<String>,
    last_packet: Option<String>,
    connections: usize,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct SummaryDoc {
    captures: usize,
    packets: u64,
    connections: u64,
    tls: u64,
    plaintext: u64,
    gssapi: u64,
    nne: u64,
    unknown: u64,
    findings: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct Doc<'a> {
    tool: &'static str,
    version: &'static str,
    summary: SummaryDoc,
    captures: Vec<CaptureDoc<'a>>,
    connections: AllConnections<'a>,
}

/// Every connection of a run, decoded one at a time while the document is written.
struct AllConnections<'a>(&'a [CaptureReport]);

impl Serialize for AllConnections<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = ser.serialize_seq(Some(self.0.iter().map(|c| c.connections.len()).sum()))?;
        for c in self.0.iter().flat_map(|c| c.connections.iter()) {
            seq.serialize_element(&c.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

/// Write one JSON document: summary, captures, connections.
pub fn write_json(out: &mut dyn Write, captures: &[CaptureReport], s: &RunSummary) -> io::Result<()> {
    use crate::findings::Encryption as E;
    let n = |e| s.by_encryption.get(&e).copied().unwrap_or(0);
    let doc = Doc {
        tool: "dbwire",
        version: env!("CARGO_PKG_VERSION"),
        summary: SummaryDoc {
            captures: s.captures,
            packets: s.packets,
            connections: s.connections,
            tls: n(E::Tls),
            plaintext: n(E::Plaintext),
            gssapi: n(E::Gssapi),
            nne: n(E::Nne),
            unknown: n(E::Unknown),
            findings: s.findings_by_severity.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
        },
        captures: captures
            .iter()
            .map(|c| CaptureDoc {
                path: &c.path,
                packets: c.read.packets,
                bytes_read: c.read.bytes_read,
                snaplen_truncated: c.read.snaplen_truncated,
                first_packet: c.first_ts.map(|t| t.to_rfc3339()),
                last_packet: c.last_ts.map(|t| t.to_rfc3339()),
                connections: c.connections.len(),
                warnings: &c.warnings,
            })
            .collect(),
        connections: AllConnections(captures),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}
