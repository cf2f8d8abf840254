//! The TLS tracker: records, handshake reassembly, certificates, on arbitrary streams.
#![no_main]

use dbwire::tls::TlsTracker;
use dbwire_fuzz::{steps, Step};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut t = TlsTracker::new();
    for step in steps(data) {
        match step {
            Step::Data(dir, bytes) => t.feed(dir, bytes),
            Step::Gap(dir, len) => t.gap(dir, len),
        }
    }
    let _ = t.summary();
    let _ = t.handshake_done();
});
