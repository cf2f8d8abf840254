//! Pgsql wire protocol.

use super::{ConnCx, Feed};
use crate::flow::Direction;
use crate::reader::Probe;

/// Can these first bytes of `dir` be Pgsql? `midstream`: the connection start was not
/// captured, so any message may come first.
pub fn probe(dir: Direction, data: &[u8], midstream: bool) -> Probe {
    let _ = (dir, data, midstream);
    Probe::NoMatch
}

/// Per-connection Pgsql state machine.
#[derive(Debug, Default)]
pub struct PgsqlState {}

impl PgsqlState {
    pub fn new(midstream: bool) -> Self {
        let _ = midstream;
        PgsqlState {}
    }
    pub fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut ConnCx<'_>) -> Feed {
        let _ = (dir, data, cx);
        Feed::Continue
    }
    pub fn gap(&mut self, dir: Direction, len: u64, cx: &mut ConnCx<'_>) {
        let _ = (dir, len, cx);
    }
}
