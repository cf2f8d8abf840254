//! The capture file reader and everything behind it: bytes → file → packets → analysis.
#![no_main]

use std::io::Write;

use dbwire::analyze::{AnalyzeConfig, Analyzer};
use dbwire::capture::file::CaptureFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader works on files; one scratch file per fuzzing process.
    let path = std::env::temp_dir().join(format!("dbwire-fuzz-{}.pcap", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else { return };
    if f.write_all(data).is_err() {
        return;
    }
    drop(f);
    let Ok(mut file) = CaptureFile::open(&path) else { return };
    let mut cfg = AnalyzeConfig::default();
    cfg.flow.max_flows = 64;
    cfg.flow.max_ooo_per_direction = 4096;
    cfg.flow.max_ooo_total = 16384;
    // Small enough that reports past the first few go through the temporary file.
    cfg.report_memory = Some(4096);
    let mut analyzer = Analyzer::new("fuzz", &cfg);
    if let Ok(read) = file.for_each(&mut |_| {}, &mut |pkt| analyzer.packet(pkt)) {
        let report = analyzer.finish(read);
        // Every report must come back from the store as it was kept.
        for c in report.connections.iter() {
            let c = c.expect("a kept report reads back");
            let _ = serde_json::to_string(&c);
        }
        report.connections.write_jsonl(&mut std::io::sink()).expect("JSON lines");
    }
});
