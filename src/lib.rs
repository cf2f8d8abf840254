//! dbwire: is the traffic to my databases encrypted on the wire, and how well?
//!
//! Data flows one way through the modules:
//! `capture` → `decode` → `flow` → `engine` → `tls`/`x509` → `findings` → `report`.
//! [`analyze`] wires them together for one capture.

#![forbid(unsafe_code)]

pub mod analyze;
pub mod capture;
pub mod decode;
pub mod diff;
pub mod engine;
pub mod findings;
pub mod flow;
pub mod pipeline;
pub mod reader;
mod recent;
pub mod report;
pub mod tls;
pub mod units;
pub mod x509;
