//! Reassembly of one direction of a TCP connection.
//!
//! Sequence numbers live in a 2^32 circular space (RFC 9293 §3.4): every comparison is
//! done on `a.wrapping_sub(b) as i32`, never on raw values, so streams crossing 2^32
//! work. In-order segments are passed to the sink straight from the captured packet;
//! only segments that arrive ahead of the next expected sequence number are copied,
//! into a sorted list of non-overlapping pieces. Overlaps keep the bytes that arrived
//! first ("first wins"), whatever the later copy says; where both copies were captured
//! and differ, the differing bytes are reported to the sink (the receiving host may
//! have kept the other copy, so what is reported can differ from what it saw). Bytes
//! already delivered are not kept, so a retransmission that rewrites them goes unseen.

use std::collections::VecDeque;

use super::Interest;

/// How far ahead of the next expected sequence number a segment may start and still be
/// buffered. Beyond this it is taken for garbage (or a different sequence space) and
/// dropped. Far below 2^31, so relative offsets never become ambiguous.
pub(crate) const MAX_AHEAD: u32 = 1 << 30;

/// Largest segment length believed from the IP header. Real segments (even TSO/GRO
/// super-packets) are far smaller; a hostile header must not move the stream by GiBs.
pub(crate) const MAX_SEG_LEN: u32 = 1 << 24;

/// Bytes charged per buffered piece on top of its data, so that floods of tiny
/// out-of-order segments are bounded by the same caps as large ones.
pub(crate) const PIECE_OVERHEAD: usize = 64;

/// Most buffered pieces per direction. A window after one loss arrives in order and is
/// appended at the back; only crafted patterns insert in the middle, and this keeps each
/// such insertion cheap. 1 MiB of full-size segments is ~730 pieces.
pub(crate) const MAX_PIECES: usize = 4096;

/// Where reassembled bytes go.
pub(crate) trait Sink {
    /// In-order bytes.
    fn data(&mut self, data: &[u8]) -> Interest;
    /// `len` bytes (> 0) are missing before the next `data`.
    fn gap(&mut self, len: u64);
    /// Bytes thrown away without being delivered or reported as a gap.
    fn dropped(&mut self, len: u64);
    /// A buffer cap bit: the stream skipped `len` missing bytes (already reported as a
    /// gap) rather than buffer more.
    fn capped(&mut self, len: u64);
    /// Two copies of the same stream range held `len` different bytes; the first copy
    /// was kept.
    fn conflict(&mut self, len: u64);
}

/// Out-of-order bytes buffered across all flows of a table.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub used: usize,
    pub cap: usize,
}

/// A buffered, not yet deliverable range of the stream.
#[derive(Debug)]
struct Piece {
    seq: u32,
    len: u32,
    /// The bytes, or empty when they are known to be missing (cut by the snap length):
    /// such a range is delivered as a gap.
    data: Box<[u8]>,
}

impl Piece {
    fn cost(&self) -> usize {
        self.data.len() + PIECE_OVERHEAD
    }
    fn view(&self) -> Seg<'_> {
        Seg { seq: self.seq, len: self.len, data: &self.data }
    }
}

/// A range of the stream: `len` sequence numbers from `seq`, of which the first
/// `data.len()` bytes were captured.
#[derive(Debug, Clone, Copy)]
struct Seg<'a> {
    seq: u32,
    len: u32,
    data: &'a [u8],
}

/// Deliver the part `[from, to)` (offsets into `seg`): captured bytes as data, the rest
/// as a gap.
fn emit(seg: Seg<'_>, from: u32, to: u32, sink: &mut dyn Sink) -> Interest {
    let captured = seg.data.len() as u32;
    if from < captured {
        let end = to.min(captured);
        if let Some(bytes) = seg.data.get(from as usize..end as usize) {
            if sink.data(bytes) == Interest::Done {
                return Interest::Done;
            }
        }
    }
    let missing_from = from.max(captured);
    if to > missing_from {
        sink.gap(u64::from(to - missing_from));
    }
    Interest::More
}

/// Bytes that differ where the captured data of two ranges (`a` from `a_seq`, `b` from
/// `b_seq`) overlap.
fn differing(a_seq: u32, a: &[u8], b_seq: u32, b: &[u8]) -> u64 {
    let d = i64::from(diff(b_seq, a_seq));
    let (a_from, b_from) = if d >= 0 { (d as usize, 0) } else { (0, d.unsigned_abs() as usize) };
    let (Some(a), Some(b)) = (a.get(a_from..), b.get(b_from..)) else {
        return 0;
    };
    a.iter().zip(b).filter(|(x, y)| x != y).count() as u64
}

/// Signed distance from `b` to `a` in sequence space.
#[inline]
fn diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    /// Next sequence number to deliver (RCV.NXT as the receiver would see it).
    next: u32,
    /// `next` is known: from the SYN, or from the first segment with payload.
    synced: bool,
    /// Sequence number of the FIN, once seen (RFC 9293 §3.10.7.4: FIN occupies one).
    fin_at: Option<u32>,
    fin_consumed: bool,
    /// Sorted by sequence number, non-overlapping, all starting after `next`.
    ooo: VecDeque<Piece>,
    /// Bytes charged for `ooo`.
    ooo_cost: usize,
}

impl Reassembler {
    /// Next expected sequence number, when known.
    pub fn next_seq(&self) -> Option<u32> {
        self.synced.then_some(self.next)
    }

    /// Bytes charged for out-of-order data of this direction.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.ooo_cost
    }

    /// A SYN with initial sequence number `isn`: data starts at `isn + 1` (RFC 9293
    /// §3.4). Ignored once synchronised.
    pub fn on_syn(&mut self, isn: u32) {
        if !self.synced {
            self.next = isn.wrapping_add(1);
            self.synced = true;
        }
    }

    /// A segment whose payload starts at `seq` (after the SYN's sequence number, for a
    /// SYN carrying data). `wire_len` is the payload length the IP header announces;
    /// when the capture holds less, the rest is reported as a gap.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        fin: bool,
        per_dir_cap: usize,
        budget: &mut Budget,
        sink: &mut dyn Sink,
    ) -> Interest {
        let captured = payload.len().min(MAX_SEG_LEN as usize);
        let payload = &payload[..captured];
        let len = wire_len.min(MAX_SEG_LEN).max(captured as u32);
        if !self.synced {
            if len == 0 {
                // Mid-stream, a bare ACK/FIN tells nothing reliable about where data starts.
                return Interest::More;
            }
            self.next = seq;
            self.synced = true;
        }
        if fin && self.fin_at.is_none() {
            self.fin_at = Some(seq.wrapping_add(len));
        }
        if len == 0 {
            self.consume_fin();
            return Interest::More;
        }
        let seg = Seg { seq, len, data: payload };
        loop {
            let off = diff(seq, self.next);
            if off <= 0 {
                if off.unsigned_abs() >= len {
                    // Entirely delivered already: a retransmission.
                    return Interest::More;
                }
                return self.advance(Some(seg), budget, sink);
            }
            if off as u32 >= MAX_AHEAD {
                sink.dropped(u64::from(len));
                return Interest::More;
            }
            if self.try_buffer(seg, per_dir_cap, budget, sink) {
                return Interest::More;
            }
            // A cap bites: give up on the oldest hole. Skip to the first buffered piece,
            // or to this segment when it comes first or nothing is buffered, and go
            // round again: the segment may now be in order, or fit.
            let target = match self.ooo.front() {
                Some(p) if diff(p.seq, seq) < 0 => p.seq,
                _ => seq,
            };
            sink.capped(u64::from(diff(target, self.next).max(0).unsigned_abs()));
            self.skip_to(target, sink);
            if self.advance(None, budget, sink) == Interest::Done {
                return Interest::Done;
            }
        }
    }

    /// The peer acknowledged up to `ack` (RFC 9293 §3.4: everything before it was
    /// received). If that passes a hole while later data waits in the buffer, the
    /// receiver got bytes the capture lost: report them as a gap and move on.
    pub fn on_peer_ack(&mut self, ack: u32, budget: &mut Budget, sink: &mut dyn Sink) -> Interest {
        if !self.synced {
            return Interest::More;
        }
        while let Some(first) = self.ooo.front() {
            let acked = diff(ack, self.next);
            if acked <= 0 || acked as u32 >= MAX_AHEAD {
                break;
            }
            let hole = (acked as u32).min(first.seq.wrapping_sub(self.next));
            self.skip_to(self.next.wrapping_add(hole), sink);
            if self.advance(None, budget, sink) == Interest::Done {
                return Interest::Done;
            }
        }
        Interest::More
    }

    /// End of the connection: deliver what is buffered, with gaps for the holes (and for
    /// missing bytes before a FIN), then release the buffer.
    pub fn flush(&mut self, budget: &mut Budget, sink: &mut dyn Sink) {
        if self.synced {
            while let Some(first) = self.ooo.front() {
                let target = first.seq;
                self.skip_to(target, sink);
                if self.advance(None, budget, sink) == Interest::Done {
                    break;
                }
            }
            if let (Some(fin), false) = (self.fin_at, self.fin_consumed) {
                let missing = diff(fin, self.next);
                if missing > 0 && (missing as u32) < MAX_AHEAD {
                    self.skip_to(fin, sink);
                    self.consume_fin();
                }
            }
        }
        self.clear(budget);
    }

    /// Drop buffered data without delivering it (the handler lost interest).
    pub fn clear(&mut self, budget: &mut Budget) {
        budget.used = budget.used.saturating_sub(self.ooo_cost);
        self.ooo_cost = 0;
        self.ooo = VecDeque::new();
    }

    /// Report `[next, target)` as missing and continue from `target`.
    fn skip_to(&mut self, target: u32, sink: &mut dyn Sink) {
        let hole = diff(target, self.next);
        if hole > 0 {
            sink.gap(hole as u64);
            self.next = target;
        }
    }

    /// Deliver everything contiguous from `next`: buffered pieces and, interleaved with
    /// them, the parts of `cur` that they do not cover (buffered bytes came first, so
    /// they win). `cur` is delivered without copying.
    fn advance(&mut self, cur: Option<Seg<'_>>, budget: &mut Budget, sink: &mut dyn Sink) -> Interest {
        loop {
            if let Some(first) = self.ooo.front() {
                let off = diff(first.seq, self.next);
                if off <= 0 {
                    let Some(piece) = self.ooo.pop_front() else {
                        break;
                    };
                    self.ooo_cost = self.ooo_cost.saturating_sub(piece.cost());
                    budget.used = budget.used.saturating_sub(piece.cost());
                    if let Some(seg) = cur {
                        let n = differing(piece.seq, &piece.data, seg.seq, seg.data);
                        if n > 0 {
                            sink.conflict(n);
                        }
                    }
                    let behind = off.unsigned_abs();
                    if behind < piece.len {
                        if emit(piece.view(), behind, piece.len, sink) == Interest::Done {
                            return Interest::Done;
                        }
                        self.next = piece.seq.wrapping_add(piece.len);
                    }
                    continue;
                }
            }
            if let Some(seg) = cur {
                let at = diff(self.next, seg.seq);
                if at >= 0 && (at as u32) < seg.len {
                    let from = at as u32;
                    let mut to = seg.len;
                    if let Some(first) = self.ooo.front() {
                        // `first` starts after `next`, hence after `from`.
                        to = to.min(first.seq.wrapping_sub(seg.seq));
                    }
                    if emit(seg, from, to, sink) == Interest::Done {
                        return Interest::Done;
                    }
                    self.next = seg.seq.wrapping_add(to);
                    continue;
                }
            }
            break;
        }
        if self.ooo.is_empty() && self.ooo.capacity() > 16 {
            self.ooo = VecDeque::new();
        }
        self.consume_fin();
        Interest::More
    }

    fn consume_fin(&mut self) {
        if !self.fin_consumed && self.fin_at == Some(self.next) {
            self.next = self.next.wrapping_add(1);
            self.fin_consumed = true;
        }
    }

    /// Copy the parts of `seg` (which starts after `next`) not yet buffered into the
    /// buffer. False, and nothing changed, when that would exceed a cap. Overlaps with
    /// differing bytes are reported to `sink` when the segment is taken.
    fn try_buffer(&mut self, seg: Seg<'_>, per_dir_cap: usize, budget: &mut Budget, sink: &mut dyn Sink) -> bool {
        let base = self.next;
        // Offsets relative to `next`: all buffered pieces and `seg` start within
        // MAX_AHEAD of it, so these are ordered like the stream.
        let rel = |s: u32| u64::from(s.wrapping_sub(base));
        let start = rel(seg.seq);
        let end = start + u64::from(seg.len);
        let captured_end = start + seg.data.len() as u64;

        // The uncovered ranges of [start, end).
        let first = self.ooo.partition_point(|p| rel(p.seq) + u64::from(p.len) <= start);
        let mut holes: Vec<(u64, u64)> = Vec::new();
        let mut cursor = start;
        let mut conflicts = 0u64;
        for p in self.ooo.range(first..) {
            let ps = rel(p.seq);
            if ps >= end {
                break;
            }
            conflicts += differing(p.seq, &p.data, seg.seq, seg.data);
            if ps > cursor {
                holes.push((cursor, ps));
            }
            cursor = cursor.max(ps + u64::from(p.len));
        }
        if cursor < end {
            holes.push((cursor, end));
        }

        // Split at the snap length cut: captured bytes, then known-missing bytes.
        let mut pieces: Vec<Piece> = Vec::with_capacity(holes.len() + 1);
        for (a, b) in holes {
            if a < captured_end {
                let e = b.min(captured_end);
                let data: Box<[u8]> = seg.data[(a - start) as usize..(e - start) as usize].into();
                pieces.push(Piece { seq: base.wrapping_add(a as u32), len: (e - a) as u32, data });
            }
            let m = a.max(captured_end);
            if b > m {
                pieces.push(Piece { seq: base.wrapping_add(m as u32), len: (b - m) as u32, data: Box::default() });
            }
        }
        let cost: usize = pieces.iter().map(Piece::cost).sum();
        if cost > 0
            && (self.ooo_cost + cost > per_dir_cap
                || budget.used + cost > budget.cap
                || self.ooo.len() + pieces.len() > MAX_PIECES)
        {
            return false;
        }
        if conflicts > 0 {
            sink.conflict(conflicts);
        }
        self.ooo_cost += cost;
        budget.used += cost;
        for piece in pieces {
            let at = self.ooo.partition_point(|p| rel(p.seq) < rel(piece.seq));
            self.ooo.insert(at, piece);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Rec {
        out: Vec<u8>,
        gaps: Vec<u64>,
        dropped: u64,
        capped: Vec<u64>,
        conflicts: u64,
        done_after: Option<usize>,
    }

    impl Sink for Rec {
        fn data(&mut self, data: &[u8]) -> Interest {
            self.out.extend_from_slice(data);
            match self.done_after {
                Some(n) if self.out.len() >= n => Interest::Done,
                _ => Interest::More,
            }
        }
        fn gap(&mut self, len: u64) {
            assert!(len > 0);
            self.gaps.push(len);
        }
        fn dropped(&mut self, len: u64) {
            self.dropped += len;
        }
        fn capped(&mut self, len: u64) {
            self.capped.push(len);
        }
        fn conflict(&mut self, len: u64) {
            self.conflicts += len;
        }
    }

    fn budget() -> Budget {
        Budget { used: 0, cap: 1 << 20 }
    }

    fn feed(r: &mut Reassembler, b: &mut Budget, s: &mut Rec, seq: u32, data: &[u8]) -> Interest {
        r.on_segment(seq, data, data.len() as u32, false, 1 << 16, b, s)
    }

    #[test]
    fn in_order_and_retransmit() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(99);
        feed(&mut r, &mut b, &mut s, 100, b"hello ");
        feed(&mut r, &mut b, &mut s, 100, b"hello ");
        feed(&mut r, &mut b, &mut s, 106, b"world");
        feed(&mut r, &mut b, &mut s, 103, b"lo wor");
        assert_eq!(s.out, b"hello world");
        assert!(s.gaps.is_empty());
        assert_eq!(r.next_seq(), Some(111));
    }

    #[test]
    fn out_of_order_then_fill() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        feed(&mut r, &mut b, &mut s, 7, b"world");
        feed(&mut r, &mut b, &mut s, 4, b"lo ");
        assert!(s.out.is_empty());
        assert!(b.used > 0);
        feed(&mut r, &mut b, &mut s, 1, b"hel");
        assert_eq!(s.out, b"hello world");
        assert_eq!(b.used, 0);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn first_wins_in_buffer_and_against_new_segment() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        feed(&mut r, &mut b, &mut s, 5, b"AAAA"); // 5..9
        feed(&mut r, &mut b, &mut s, 3, b"bbbbbbbbbb"); // 3..13: only 3..5 and 9..13 new
        feed(&mut r, &mut b, &mut s, 1, b"cccccccccccccc"); // 1..15: in order, loses to buffer
        assert_eq!(s.out, b"ccbbAAAAbbbbcc");
        // b vs A over 5..9 when b was buffered (4); then c against every buffered byte
        // 3..13 (10).
        assert_eq!(s.conflicts, 14);
    }

    #[test]
    fn identical_overlaps_are_not_conflicts() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        let stream = b"0123456789abcdef";
        feed(&mut r, &mut b, &mut s, 9, &stream[8..12]);
        feed(&mut r, &mut b, &mut s, 7, &stream[6..14]);
        feed(&mut r, &mut b, &mut s, 1, &stream[..10]);
        feed(&mut r, &mut b, &mut s, 5, &stream[4..]);
        assert_eq!(s.out, stream);
        assert_eq!(s.conflicts, 0);
    }

    #[test]
    fn conflict_counts_only_captured_differing_bytes() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        // 11..21 announced, only 11..14 captured (snap length).
        r.on_segment(11, b"XYZ", 10, false, 1 << 16, &mut b, &mut s);
        // 9..19 with "XY" matching at 11..13, 'q' differing at 13, the rest over bytes
        // never captured.
        r.on_segment(9, b"ab" as &[u8], 2, false, 1 << 16, &mut b, &mut s);
        r.on_segment(11, b"XYqrstuv", 8, false, 1 << 16, &mut b, &mut s);
        assert_eq!(s.conflicts, 1);
        r.on_segment(1, b"01234567", 8, false, 1 << 16, &mut b, &mut s);
        assert_eq!(s.out, b"01234567abXYZ");
        assert_eq!(s.conflicts, 1);
    }

    #[test]
    fn cap_skips_to_first_buffered() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        let cap = 2 * (10 + PIECE_OVERHEAD);
        r.on_segment(21, &[b'x'; 10], 10, false, cap, &mut b, &mut s);
        r.on_segment(41, &[b'y'; 10], 10, false, cap, &mut b, &mut s);
        assert!(s.out.is_empty());
        r.on_segment(61, &[b'z'; 10], 10, false, cap, &mut b, &mut s);
        // The hole 1..21 is given up and x delivered; then z fits next to y.
        assert_eq!(s.gaps, vec![20]);
        assert_eq!(s.capped, vec![20]);
        assert_eq!(s.out, vec![b'x'; 10]);
        assert_eq!(r.next_seq(), Some(31));
        r.flush(&mut b, &mut s);
        assert_eq!(s.gaps, vec![20, 10, 10]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn cap_skips_to_new_segment_when_it_comes_first() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        let cap = 10 + PIECE_OVERHEAD;
        r.on_segment(41, &[b'y'; 10], 10, false, cap, &mut b, &mut s);
        r.on_segment(21, &[b'x'; 10], 10, false, cap, &mut b, &mut s);
        // x is delivered after a 20-byte gap; y is still waiting for 31..41.
        assert_eq!(s.gaps, vec![20]);
        assert_eq!(s.out, vec![b'x'; 10]);
        r.on_segment(31, &[b'z'; 10], 10, false, cap, &mut b, &mut s);
        assert_eq!(s.out, [[b'x'; 10], [b'z'; 10], [b'y'; 10]].concat());
    }

    #[test]
    fn oversized_segment_with_empty_buffer_skips_to_it() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        r.on_segment(11, &[7; 100], 100, false, 50, &mut b, &mut s);
        assert_eq!(s.gaps, vec![10]);
        assert_eq!(s.out.len(), 100);
    }

    #[test]
    fn peer_ack_past_hole() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        feed(&mut r, &mut b, &mut s, 1, b"ab");
        feed(&mut r, &mut b, &mut s, 6, b"fg");
        // An ACK not past the hole does nothing.
        r.on_peer_ack(3, &mut b, &mut s);
        assert!(s.gaps.is_empty());
        r.on_peer_ack(8, &mut b, &mut s);
        assert_eq!(s.gaps, vec![3]);
        assert_eq!(s.out, b"abfg");
    }

    #[test]
    fn snaplen_cut_in_order_and_buffered() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        r.on_segment(1, b"abc", 10, false, 1 << 16, &mut b, &mut s);
        assert_eq!(s.out, b"abc");
        assert_eq!(s.gaps, vec![7]);
        r.on_segment(21, b"uv", 5, false, 1 << 16, &mut b, &mut s);
        r.on_segment(11, b"0123456789", 10, false, 1 << 16, &mut b, &mut s);
        assert_eq!(s.out, b"abc0123456789uv");
        assert_eq!(s.gaps, vec![7, 3]);
        assert_eq!(r.next_seq(), Some(26));
    }

    #[test]
    fn wraps_around_2_pow_32() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        let isn = u32::MAX - 5;
        r.on_syn(isn);
        let base = isn.wrapping_add(1);
        feed(&mut r, &mut b, &mut s, base.wrapping_add(8), b"IJKL"); // past 2^32
        feed(&mut r, &mut b, &mut s, base, b"ABCD"); // before
        feed(&mut r, &mut b, &mut s, base.wrapping_add(2), b"CDEFGH"); // straddles
        assert_eq!(s.out, b"ABCDEFGHIJKL");
        assert!(s.gaps.is_empty());
    }

    #[test]
    fn fin_consumes_a_sequence_number_and_flush_reports_tail() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        r.on_segment(1, b"abc", 3, true, 1 << 16, &mut b, &mut s);
        assert_eq!(r.next_seq(), Some(5));
        let (mut r, mut s) = (Reassembler::default(), Rec::default());
        r.on_syn(0);
        r.on_segment(5, b"", 0, true, 1 << 16, &mut b, &mut s);
        r.flush(&mut b, &mut s);
        assert_eq!(s.gaps, vec![4]);
        assert_eq!(r.next_seq(), Some(6));
    }

    #[test]
    fn piece_count_is_bounded() {
        let (mut r, mut b, mut s) = (Reassembler::default(), Budget { used: 0, cap: usize::MAX }, Rec::default());
        r.on_syn(0);
        // Single bytes with holes between them, in descending order.
        for k in (1..=(MAX_PIECES as u32 + 10)).rev() {
            r.on_segment(2 * k + 1, b"x", 1, false, usize::MAX, &mut b, &mut s);
            assert!(r.ooo.len() <= MAX_PIECES);
        }
        r.flush(&mut b, &mut s);
        // When the limit bit, the stream skipped to the (lowest) new byte; the bytes
        // below it that arrived later were then behind the stream and ignored.
        assert_eq!(s.out.len(), MAX_PIECES + 1);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn far_ahead_is_dropped() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        feed(&mut r, &mut b, &mut s, 1 + MAX_AHEAD, b"zz");
        assert_eq!(s.dropped, 2);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn done_stops() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        s.done_after = Some(2);
        r.on_syn(0);
        feed(&mut r, &mut b, &mut s, 3, b"cd");
        assert_eq!(feed(&mut r, &mut b, &mut s, 1, b"ab"), Interest::Done);
        assert_eq!(s.out, b"ab");
    }

    #[test]
    fn hostile_wire_len_is_bounded() {
        let (mut r, mut b, mut s) = (Reassembler::default(), budget(), Rec::default());
        r.on_syn(0);
        r.on_segment(1, b"a", u32::MAX, false, 1 << 16, &mut b, &mut s);
        assert_eq!(s.gaps, vec![u64::from(MAX_SEG_LEN) - 1]);
    }
}
