//! The SQL Server TDS engine (with probing, TLS hand-over and the verdict) on arbitrary
//! conversations.
#![no_main]

use dbwire::engine::EngineKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dbwire_fuzz::dissect(data, EngineKind::Tds));
