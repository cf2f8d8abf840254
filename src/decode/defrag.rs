//! Capped IP defragmentation: IPv4 (RFC 791 §3.2, "Fragmentation and Reassembly") and
//! the IPv6 Fragment header (RFC 8200 §4.5).
//!
//! A capture may hold any number of fragments, hostile or lost, so everything is
//! bounded: datagrams in progress, bytes held in total and per datagram, and how long
//! a datagram may wait (measured in capture time, not wall time). When a cap bites the
//! oldest datagram is dropped and its fragments counted. Overlapping fragments keep the
//! bytes that arrived first (the data of a retransmitted fragment is the same; a
//! crafted overlap must not rewrite what was already accepted).

use std::net::IpAddr;

/// Limits of the defragmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes held across all datagrams in progress.
    pub max_total_bytes: usize,
    /// Largest reassembled payload (an IPv4 datagram is at most 65,535 bytes; an IPv6
    /// payload without jumbograms the same).
    pub max_datagram_bytes: usize,
    /// A datagram with no new fragment for this long is dropped (nanoseconds of
    /// capture time; RFC 791 suggests a 15 s initial timer, Linux uses 30 s).
    pub timeout_ns: u64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 256,
            max_total_bytes: 4 << 20,
            max_datagram_bytes: 64 << 10,
            timeout_ns: 30 * 1_000_000_000,
        }
    }
}

/// Identifies one datagram: RFC 791 (source, destination, protocol, identification);
/// RFC 8200 (source, destination, identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

/// Result of adding one fragment.
#[derive(Debug)]
pub(crate) enum FragOutcome<'a> {
    /// Kept; the datagram is not complete yet.
    Pending,
    /// Discarded (cap, inconsistency); counted in `dropped`.
    Dropped,
    /// The datagram is complete: its payload (the bytes after the IP header and, for
    /// IPv6, after the Fragment header).
    Complete(&'a [u8]),
}

struct InProgress {
    key: FragKey,
    first_ts: u64,
    last_ts: u64,
    buf: Vec<u8>,
    /// Byte ranges present, sorted and disjoint.
    have: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment (more-fragments clear) arrived.
    total: Option<usize>,
    fragments: u64,
}

/// The defragmenter. Completed datagrams are moved into `out`, which the returned
/// slice borrows until the next call.
#[derive(Default)]
pub(crate) struct Defrag {
    limits: DefragLimits,
    pending: Vec<InProgress>,
    held: usize,
    out: Vec<u8>,
}

impl Defrag {
    pub(crate) fn new(limits: DefragLimits) -> Self {
        Defrag { limits, ..Default::default() }
    }

    /// Datagrams currently waiting for fragments.
    pub(crate) fn in_progress(&self) -> usize {
        self.pending.len()
    }

    /// Bytes currently held by datagrams in progress.
    pub(crate) fn bytes_held(&self) -> usize {
        self.held
    }

    fn remove(&mut self, i: usize, dropped: &mut u64) {
        let d = self.pending.swap_remove(i);
        self.held = self.held.saturating_sub(d.buf.len());
        *dropped += d.fragments;
    }

    fn oldest(&self, except: Option<usize>) -> Option<usize> {
        self.pending
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != except)
            .min_by_key(|(_, d)| d.first_ts)
            .map(|(i, _)| i)
    }

    /// Add one fragment: `offset` in bytes into the payload, `more` the
    /// more-fragments flag, `data` the fragment's payload as captured (complete).
    pub(crate) fn add(
        &mut self,
        key: FragKey,
        ts: u64,
        offset: usize,
        more: bool,
        data: &[u8],
        dropped: &mut u64,
    ) -> FragOutcome<'_> {
        // Expire stale datagrams (capture time may step backwards: saturate).
        let timeout = self.limits.timeout_ns;
        let mut i = 0;
        while i < self.pending.len() {
            if ts.saturating_sub(self.pending[i].last_ts) > timeout {
                self.remove(i, dropped);
            } else {
                i += 1;
            }
        }

        let idx = self.pending.iter().position(|d| d.key == key);
        let end = match offset.checked_add(data.len()) {
            Some(e) if e <= self.limits.max_datagram_bytes => e,
            _ => {
                // Past the largest possible datagram: the whole datagram is bogus.
                if let Some(i) = idx {
                    self.remove(i, dropped);
                }
                *dropped += 1;
                return FragOutcome::Dropped;
            }
        };

        let idx = match idx {
            Some(i) => i,
            None => {
                while self.pending.len() >= self.limits.max_datagrams.max(1) {
                    match self.oldest(None) {
                        Some(o) => self.remove(o, dropped),
                        None => break,
                    }
                }
                self.pending.push(InProgress {
                    key,
                    first_ts: ts,
                    last_ts: ts,
                    buf: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    fragments: 0,
                });
                self.pending.len() - 1
            }
        };

        // Consistency: one last fragment, and nothing beyond it.
        let d = &self.pending[idx];
        let max_have = d.have.last().map_or(0, |r| r.1);
        let inconsistent =
            if more { d.total.is_some_and(|t| end > t) } else { d.total.is_some_and(|t| t != end) || max_have > end };
        if inconsistent {
            self.remove(idx, dropped);
            *dropped += 1;
            return FragOutcome::Dropped;
        }

        // Byte budget: make room by dropping the oldest other datagrams.
        let grow = end.saturating_sub(self.pending[idx].buf.len());
        let mut idx = idx;
        while self.held + grow > self.limits.max_total_bytes {
            let Some(o) = self.oldest(Some(idx)) else {
                // This datagram alone exceeds the budget.
                self.remove(idx, dropped);
                *dropped += 1;
                return FragOutcome::Dropped;
            };
            // swap_remove moves the last element into `o`.
            let last = self.pending.len() - 1;
            self.remove(o, dropped);
            if idx == last {
                idx = o;
            }
        }

        let d = &mut self.pending[idx];
        if grow > 0 {
            d.buf.resize(end, 0);
            self.held += grow;
        }
        d.last_ts = d.last_ts.max(ts);
        d.fragments += 1;
        if !more {
            d.total = Some(end);
        }

        // Copy only the holes in [offset, end): the first bytes to arrive win.
        let mut pos = offset;
        for &(s, e) in &d.have {
            if e <= pos {
                continue;
            }
            if s >= end {
                break;
            }
            if s > pos {
                copy(&mut d.buf, data, offset, pos, s);
            }
            pos = pos.max(e);
            if pos >= end {
                break;
            }
        }
        if pos < end {
            copy(&mut d.buf, data, offset, pos, end);
        }
        insert_range(&mut d.have, offset, end);

        let complete = match d.total {
            Some(0) => true,
            Some(t) => d.have.len() == 1 && d.have[0] == (0, t),
            None => false,
        };
        if !complete {
            return FragOutcome::Pending;
        }
        let d = self.pending.swap_remove(idx);
        self.held = self.held.saturating_sub(d.buf.len());
        let total = d.total.unwrap_or(0);
        self.out = d.buf;
        FragOutcome::Complete(self.out.get(..total).unwrap_or(&[]))
    }
}

/// Copy `data` bytes that land on payload range [from, to) (data starts at `offset`).
fn copy(buf: &mut [u8], data: &[u8], offset: usize, from: usize, to: usize) {
    let (Some(a), Some(b)) = (from.checked_sub(offset), to.checked_sub(offset)) else {
        return;
    };
    if let (Some(dst), Some(src)) = (buf.get_mut(from..to), data.get(a..b)) {
        dst.copy_from_slice(src);
    }
}

/// Add [s, e) to a sorted list of disjoint ranges, merging neighbours.
fn insert_range(have: &mut Vec<(usize, usize)>, s: usize, e: usize) {
    if s >= e {
        return;
    }
    let at = have.partition_point(|r| r.1 < s);
    let mut ns = s;
    let mut ne = e;
    let mut j = at;
    while j < have.len() && have[j].0 <= ne {
        ns = ns.min(have[j].0);
        ne = ne.max(have[j].1);
        j += 1;
    }
    have.splice(at..j, [(ns, ne)]);
}
