//! Finished connection reports, kept in report order with bounded memory.
//!
//! A busy capture holds tens of thousands of connections per gigabyte, and their
//! reports would be most of a run's memory if kept as structs until the end. Each
//! report is instead encoded once, when its connection ends, as the JSON line that
//! `--format jsonl` prints. Up to a budget the lines stay in memory; past it they go to
//! an anonymous temporary file, and only a small index entry per connection stays in
//! memory. Renderers read the reports back one at a time, in report order; JSON lines
//! are copied out without decoding them again.

use std::collections::BTreeSet;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer};

use super::{ConnectionReport, Encryption, Severity};

/// A `&'static str` in a report. The alias keeps serde's derive from borrowing the
/// field from the input (it would then need `'de: 'static`); [`de_static`] reads it.
pub type StaticName = &'static str;

/// Report bytes a run keeps in memory before it writes them to a temporary file.
pub const DEFAULT_REPORT_MEMORY: usize = 8 << 20;

/// Largest write to the temporary file: the in-memory tail is flushed at this size.
const FLUSH_BYTES: usize = 1 << 20;

const FLAG_PLAINTEXT: u8 = 1;
const FLAG_FINDINGS: u8 = 2;

/// Where one encoded report is, and what orders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    start_ns: u64,
    end_ns: u64,
    /// Hash of the endpoints: orders connections with the same first and last packet
    /// time the same way however they were spread over threads.
    tie: u64,
    offset: u64,
    len: u32,
    /// Which log of a merged list holds the bytes.
    part: u16,
    flags: u8,
}

/// Bytes of one entry in an index run.
const ENTRY_BYTES: usize = 40;

type Key = (u64, u64, u64);

impl Entry {
    fn key(&self) -> Key {
        (self.start_ns, self.end_ns, self.tie)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.start_ns, self.end_ns, self.tie, self.offset, u64::from(self.len) | u64::from(self.flags) << 32]
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn decode(b: &[u8], part: u16) -> Entry {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            if let Some(src) = b.get(i * 8..i * 8 + 8) {
                w.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        let last = word(4);
        Entry {
            start_ns: word(0),
            end_ns: word(1),
            tie: word(2),
            offset: word(3),
            len: last as u32,
            part,
            flags: (last >> 32) as u8,
        }
    }
}

/// The bytes of one log: a prefix in the temporary file, the rest in memory.
#[derive(Debug, Default)]
struct Store {
    file: Option<File>,
    /// Bytes already in `file`; `mem` holds the bytes after them.
    flushed: u64,
    mem: Vec<u8>,
}

impl Store {
    fn end(&self) -> u64 {
        self.flushed + self.mem.len() as u64
    }

    fn read(&self, e: &Entry, buf: &mut Vec<u8>) -> io::Result<()> {
        let len = e.len as usize;
        if e.offset >= self.flushed {
            let at = (e.offset - self.flushed) as usize;
            let bytes = self.mem.get(at..at + len).ok_or_else(|| corrupt("entry outside the report buffer"))?;
            buf.clear();
            buf.extend_from_slice(bytes);
            return Ok(());
        }
        let file = self.file.as_ref().ok_or_else(|| corrupt("entry in a temporary file that does not exist"))?;
        buf.resize(len, 0);
        read_at(file, buf, e.offset)
    }
}

/// Index entries written out in sorted runs once the reports themselves are on disk, so
/// that memory does not grow with the number of connections either.
#[derive(Debug, Default)]
struct Index {
    file: Option<File>,
    runs: Vec<Run>,
    written: u64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    offset: u64,
    count: u64,
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("connection report store: {what}"))
}

/// Entries per sorted index run (320 KiB).
const RUN_ENTRIES: usize = 8192;

/// Entries read at once from one run while merging runs.
const MERGE_READ_ENTRIES: usize = 256;

/// Reports of connections as they end, on one thread.
#[derive(Debug)]
pub struct ConnectionLog {
    budget: usize,
    /// Entries not yet written to an index run, in the order connections ended.
    entries: Vec<Entry>,
    count: usize,
    store: Store,
    index: Index,
    max_severity: Option<Severity>,
    warning: Option<String>,
    /// A temporary file could not be written: no more attempts.
    disk_failed: bool,
    /// Entries per index run ([`RUN_ENTRIES`]; smaller in tests).
    run_entries: usize,
}

impl Default for ConnectionLog {
    fn default() -> Self {
        ConnectionLog::new(DEFAULT_REPORT_MEMORY)
    }
}

impl ConnectionLog {
    /// A log that keeps up to `budget` bytes of reports in memory.
    pub fn new(budget: usize) -> ConnectionLog {
        ConnectionLog {
            budget,
            entries: Vec::new(),
            count: 0,
            store: Store::default(),
            index: Index::default(),
            max_severity: None,
            warning: None,
            disk_failed: false,
            run_entries: RUN_ENTRIES,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Keep one finished connection's report.
    pub fn push(&mut self, r: &ConnectionReport) {
        let offset = self.store.end();
        let before = self.store.mem.len();
        if serde_json::to_writer(&mut self.store.mem, r).is_err() {
            // Serialising plain data into a Vec does not fail; never keep half a report.
            self.store.mem.truncate(before);
            return;
        }
        let len = (self.store.mem.len() - before) as u32;
        let mut flags = 0;
        if r.encryption == Encryption::Plaintext {
            flags |= FLAG_PLAINTEXT;
        }
        if !r.findings.is_empty() {
            flags |= FLAG_FINDINGS;
        }
        self.entries.push(Entry {
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            tie: endpoint_hash(&r.client, &r.server),
            offset,
            len,
            part: 0,
            flags,
        });
        self.count += 1;
        self.max_severity = self.max_severity.max(r.max_severity());
        if self.disk_failed {
            return;
        }
        if self.store.mem.len() >= FLUSH_BYTES.min(self.budget.max(1))
            && (self.store.file.is_some() || self.store.mem.len() > self.budget)
        {
            self.spill();
        }
        // The index goes to disk too once the reports do.
        if self.entries.len() >= self.run_entries && self.store.file.is_some() && !self.disk_failed {
            self.write_run();
        }
    }

    /// Move the in-memory bytes to the temporary file. When no file can be written the
    /// reports stay in memory, with a warning.
    fn spill(&mut self) {
        if self.store.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.store.file = Some(f),
                Err(e) => return self.keep_in_memory(e),
            }
        }
        let Some(file) = self.store.file.as_mut() else { return };
        match file.write_all(&self.store.mem) {
            Ok(()) => {
                self.store.flushed += self.store.mem.len() as u64;
                self.store.mem.clear();
            }
            // A short write leaves the file longer than `flushed`; nothing reads past it.
            Err(e) => self.keep_in_memory(e),
        }
    }

    /// Sort the pending entries and write them to the index file as one run.
    fn write_run(&mut self) {
        if self.index.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.index.file = Some(f),
                Err(e) => return self.keep_in_memory(e),
            }
        }
        self.entries.sort_unstable_by_key(Entry::key);
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for e in &self.entries {
            e.encode(&mut bytes);
        }
        let Some(file) = self.index.file.as_mut() else { return };
        match file.write_all(&bytes) {
            Ok(()) => {
                self.index.runs.push(Run { offset: self.index.written, count: self.entries.len() as u64 });
                self.index.written += bytes.len() as u64;
                self.entries.clear();
            }
            Err(e) => self.keep_in_memory(e),
        }
    }

    /// Writing failed: what is on disk stays readable, the rest stays in memory.
    fn keep_in_memory(&mut self, e: io::Error) {
        self.warning = Some(format!(
            "cannot write connection reports to a temporary file ({e}); keeping them in memory (set TMPDIR)"
        ));
        self.disk_failed = true;
    }
}

/// One thread's reports and index, as a [`ConnectionList`] holds them.
#[derive(Debug, Default)]
struct Part {
    store: Store,
    index: Index,
}

#[derive(Debug, Default)]
struct ListInner {
    parts: Vec<Part>,
    /// Entries never written to a run, sorted, with their part set.
    tail: Vec<Entry>,
    len: usize,
}

/// Finished connections of one capture in report order: by first packet, then last
/// packet, then endpoints, whatever thread analysed them.
#[derive(Debug, Clone, Default)]
pub struct ConnectionList {
    inner: Arc<ListInner>,
    max_severity: Option<Severity>,
    warnings: Vec<String>,
}

impl ConnectionList {
    /// Merge the logs of every thread of one capture.
    pub fn merge(logs: Vec<ConnectionLog>) -> ConnectionList {
        let mut tail = Vec::with_capacity(logs.iter().map(|l| l.entries.len()).sum());
        let mut parts = Vec::with_capacity(logs.len());
        let mut max_severity = None;
        let mut warnings = Vec::new();
        let mut len = 0;
        for (i, log) in logs.into_iter().enumerate() {
            let part = u16::try_from(i).unwrap_or(u16::MAX);
            tail.extend(log.entries.into_iter().map(|e| Entry { part, ..e }));
            parts.push(Part { store: log.store, index: log.index });
            max_severity = max_severity.max(log.max_severity);
            warnings.extend(log.warning);
            len += log.count;
        }
        tail.sort_unstable_by_key(Entry::key);
        ConnectionList { inner: Arc::new(ListInner { parts, tail, len }), max_severity, warnings }
    }

    /// A list of reports built in memory (tests, `diff`).
    pub fn from_reports(reports: &[ConnectionReport]) -> ConnectionList {
        let mut log = ConnectionLog::new(usize::MAX);
        for r in reports {
            log.push(r);
        }
        ConnectionList::merge(vec![log])
    }

    pub fn len(&self) -> usize {
        self.inner.len
    }

    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Worst finding over every connection.
    pub fn max_severity(&self) -> Option<Severity> {
        self.max_severity
    }

    /// Problems keeping the reports (e.g. no temporary file could be written).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every report, decoded one at a time.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_with(0)
    }

    /// Plaintext connections only; the others are not decoded.
    pub fn plaintext(&self) -> Iter<'_> {
        self.iter_with(FLAG_PLAINTEXT)
    }

    /// Connections with at least one finding; the others are not decoded.
    pub fn with_findings(&self) -> Iter<'_> {
        self.iter_with(FLAG_FINDINGS)
    }

    fn iter_with(&self, want: u8) -> Iter<'_> {
        Iter { list: self, entries: Entries::new(&self.inner), want, buf: Vec::new() }
    }

    /// Report number `i` (the ones before it are skipped, not decoded).
    pub fn get(&self, i: usize) -> io::Result<Option<ConnectionReport>> {
        let mut entries = Entries::new(&self.inner);
        for _ in 0..i {
            if entries.next_entry()?.is_none() {
                return Ok(None);
            }
        }
        let mut buf = Vec::new();
        entries.next_entry()?.map(|e| decode(&self.inner, &e, &mut buf)).transpose()
    }

    /// Every report decoded into memory (small captures, tests).
    pub fn to_vec(&self) -> io::Result<Vec<ConnectionReport>> {
        self.iter().collect()
    }

    /// JSON lines, one per connection, copied as they were encoded.
    pub fn write_jsonl(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut entries = Entries::new(&self.inner);
        while let Some(e) = entries.next_entry()? {
            self.inner.store(&e)?.read(&e, &mut buf)?;
            buf.push(b'\n');
            out.write_all(&buf)?;
        }
        Ok(())
    }
}

impl ListInner {
    fn store(&self, e: &Entry) -> io::Result<&Store> {
        self.parts
            .get(usize::from(e.part))
            .map(|p| &p.store)
            .ok_or_else(|| corrupt("entry of a log that does not exist"))
    }
}

/// One index run being merged: the next entries, read a few at a time.
struct RunCursor {
    part: u16,
    next_offset: u64,
    left: u64,
    buf: std::collections::VecDeque<Entry>,
}

/// Entries of a list in report order: a k-way merge of the index runs and the sorted
/// in-memory tail.
struct Entries<'a> {
    inner: &'a ListInner,
    tail_pos: usize,
    runs: Vec<RunCursor>,
    /// Smallest unread key of each source (runs, then the tail as the last source).
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(Key, usize)>>,
    started: bool,
}

impl<'a> Entries<'a> {
    fn new(inner: &'a ListInner) -> Entries<'a> {
        let mut runs = Vec::new();
        for (p, part) in inner.parts.iter().enumerate() {
            for r in &part.index.runs {
                runs.push(RunCursor {
                    part: u16::try_from(p).unwrap_or(u16::MAX),
                    next_offset: r.offset,
                    left: r.count,
                    buf: Default::default(),
                });
            }
        }
        Entries { inner, tail_pos: 0, runs, heap: Default::default(), started: false }
    }

    /// Head of source `s` without consuming it.
    fn peek(&mut self, s: usize) -> io::Result<Option<Entry>> {
        if s == self.runs.len() {
            return Ok(self.inner.tail.get(self.tail_pos).copied());
        }
        let run = &mut self.runs[s];
        if run.buf.is_empty() && run.left > 0 {
            let n = run.left.min(MERGE_READ_ENTRIES as u64) as usize;
            let file = self.inner.parts[usize::from(run.part)]
                .index
                .file
                .as_ref()
                .ok_or_else(|| corrupt("index run without its file"))?;
            let mut bytes = vec![0u8; n * ENTRY_BYTES];
            read_at(file, &mut bytes, run.next_offset)?;
            run.next_offset += bytes.len() as u64;
            run.left -= n as u64;
            run.buf.extend(bytes.chunks_exact(ENTRY_BYTES).map(|b| Entry::decode(b, run.part)));
        }
        Ok(run.buf.front().copied())
    }

    fn advance(&mut self, s: usize) {
        if s == self.runs.len() {
            self.tail_pos += 1;
        } else {
            self.runs[s].buf.pop_front();
        }
    }

    fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.runs.is_empty() {
            let e = self.inner.tail.get(self.tail_pos).copied();
            self.tail_pos += 1;
            return Ok(e);
        }
        if !self.started {
            self.started = true;
            for s in 0..=self.runs.len() {
                if let Some(e) = self.peek(s)? {
                    self.heap.push(std::cmp::Reverse((e.key(), s)));
                }
            }
        }
        let Some(std::cmp::Reverse((_, s))) = self.heap.pop() else { return Ok(None) };
        let e = self.peek(s)?.ok_or_else(|| corrupt("index run ended early"))?;
        self.advance(s);
        if let Some(next) = self.peek(s)? {
            self.heap.push(std::cmp::Reverse((next.key(), s)));
        }
        Ok(Some(e))
    }
}

/// Reports of a [`ConnectionList`] in order, each decoded when reached.
pub struct Iter<'a> {
    list: &'a ConnectionList,
    entries: Entries<'a>,
    /// Flags an entry must have to be decoded.
    want: u8,
    buf: Vec<u8>,
}

impl Iterator for Iter<'_> {
    type Item = io::Result<ConnectionReport>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let e = match self.entries.next_entry() {
                Ok(Some(e)) => e,
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            };
            if e.flags & self.want == self.want {
                return Some(decode(&self.list.inner, &e, &mut self.buf));
            }
        }
    }
}

fn decode(inner: &ListInner, e: &Entry, buf: &mut Vec<u8>) -> io::Result<ConnectionReport> {
    inner.store(e)?.read(e, buf)?;
    let mut r: ConnectionReport = serde_json::from_slice(buf).map_err(|err| corrupt(&err.to_string()))?;
    // What the JSON line leaves out: the exact times and the certificates' Unix times.
    r.start_ns = e.start_ns;
    r.end_ns = e.end_ns;
    if let Some(t) = r.tls.as_mut() {
        for c in t.certificate.iter_mut().chain(t.chain.iter_mut()) {
            c.restore_unix_times();
        }
    }
    Ok(r)
}

fn endpoint_hash(client: &str, server: &str) -> u64 {
    // SipHash with fixed keys: the same order on every run and every thread.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    client.hash(&mut h);
    server.hash(&mut h);
    h.finish()
}

/// The one `&'static str` for a name read back from a report. Names in reports are
/// compile-time constants (engines, finding ids, upgrade kinds), so the set stays as
/// small as the program's own vocabulary; each is allocated once.
fn intern(s: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&known) = names.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// `deserialize_with` for a `&'static str` field.
pub(crate) fn de_static<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    Ok(intern(&s))
}

/// `deserialize_with` for a `Vec<&'static str>` field.
pub(crate) fn de_static_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    let v = Vec::<std::borrow::Cow<'de, str>>::deserialize(d)?;
    Ok(v.iter().map(|s| intern(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze_file, AnalyzeConfig};

    /// Reports of shipped captures: TLS 1.2 with a certificate chain, plaintext with
    /// findings, TDS, TNS (static names in nested lists).
    fn reports() -> Vec<ConnectionReport> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut out = Vec::new();
        for name in ["pg-tls12.pcap", "pg-plain.pcap", "mysql-tls12.pcap", "tds-login-only.pcap", "tns-nne-aes256.pcap"]
        {
            let r = analyze_file(&dir.join(name), &AnalyzeConfig::default(), &mut |_| {}).expect("shipped capture");
            out.extend(r.connections.to_vec().expect("read back"));
        }
        assert!(out.len() >= 5);
        out
    }

    /// What survives a trip through the log: everything but the two certificate flags
    /// that only the checks before the report use.
    fn comparable(r: &ConnectionReport) -> String {
        let mut r = r.clone();
        if let Some(t) = r.tls.as_mut() {
            for c in t.certificate.iter_mut().chain(t.chain.iter_mut()) {
                c.self_signed = false;
                c.is_ca = false;
            }
        }
        format!("{r:?}")
    }

    #[test]
    fn reports_come_back_whole_from_memory_and_from_the_file() {
        let want = reports();
        assert!(want.iter().any(|r| r.tls.as_ref().is_some_and(|t| t.certificate.is_some())));
        assert!(want.iter().any(|r| r.tns.is_some()));
        for budget in [usize::MAX, 0, 700] {
            let mut log = ConnectionLog::new(budget);
            for r in &want {
                log.push(r);
            }
            let spilled = log.store.file.is_some();
            assert_eq!(spilled, budget != usize::MAX, "budget {budget}: temporary file used");
            let list = ConnectionList::merge(vec![log]);
            let got = list.to_vec().expect("read back");
            assert_eq!(got.len(), want.len());
            let mut want_sorted: Vec<_> = want.iter().collect();
            want_sorted.sort_by_key(|r| (r.start_ns, r.end_ns));
            for (g, w) in got.iter().zip(want_sorted) {
                assert_eq!(comparable(g), comparable(w), "budget {budget}");
                assert!(g.start_ns > 0 && g.end_ns >= g.start_ns);
            }
            let cert = got.iter().find_map(|r| r.tls.as_ref().and_then(|t| t.certificate.as_ref())).expect("cert");
            // captures/expected.jsonl: the pg-tls12 leaf is valid 2025-01-01 → 2035.
            assert!(cert.not_before_unix >= 1_735_689_600 && cert.not_after_unix > cert.not_before_unix);
        }
    }

    /// Past the budget the index goes to disk in sorted runs; reading merges the runs
    /// of every thread with what stayed in memory.
    #[test]
    fn index_runs_on_disk_merge_into_report_order() {
        let base = reports();
        let mut want = Vec::new();
        // 3 × 23 reports with start times in a scrambled order.
        for i in 0..69u64 {
            let mut r = base[(i % base.len() as u64) as usize].clone();
            r.start_ns = 1_000 + (i * 37) % 69;
            r.end_ns = r.start_ns + 5;
            r.client = format!("10.0.0.{i}:4000");
            want.push(r);
        }
        let mut logs: Vec<ConnectionLog> =
            (0..3).map(|_| ConnectionLog { run_entries: 4, ..ConnectionLog::new(0) }).collect();
        for (i, r) in want.iter().enumerate() {
            logs[i % 3].push(r);
        }
        assert!(logs.iter().all(|l| l.index.runs.len() == 5 && l.entries.len() == 3), "runs of 4 and a tail of 3");
        let list = ConnectionList::merge(logs);
        assert_eq!(list.len(), 69);
        let got = list.to_vec().expect("read back");
        want.sort_by_key(|r| r.start_ns);
        let clients = |v: &[ConnectionReport]| v.iter().map(|r| (r.start_ns, r.client.clone())).collect::<Vec<_>>();
        assert_eq!(clients(&got), clients(&want));
        let mut out = Vec::new();
        list.write_jsonl(&mut out).expect("write");
        let expect: String = want.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect();
        assert_eq!(String::from_utf8(out).expect("utf-8"), expect);
        assert_eq!(list.plaintext().count(), want.iter().filter(|r| r.encryption == Encryption::Plaintext).count());
    }

    #[test]
    fn json_lines_are_copied_in_report_order() {
        let want = reports();
        let mut a = ConnectionLog::new(0);
        let mut b = ConnectionLog::new(usize::MAX);
        // Two threads, each seeing connections end in reverse order.
        for (i, r) in want.iter().enumerate().rev() {
            if i % 2 == 0 {
                a.push(r)
            } else {
                b.push(r)
            }
        }
        let list = ConnectionList::merge(vec![a, b]);
        let mut out = Vec::new();
        list.write_jsonl(&mut out).expect("write");
        let mut sorted: Vec<_> = want.iter().collect();
        sorted.sort_by_key(|r| (r.start_ns, r.end_ns));
        let expect: String = sorted.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect();
        assert_eq!(String::from_utf8(out).expect("utf-8"), expect);
    }

    #[test]
    fn filters_decode_only_matching_reports() {
        let want = reports();
        let list = ConnectionList::from_reports(&want);
        let plain: Vec<_> = list.plaintext().collect::<io::Result<_>>().expect("read");
        assert_eq!(plain.len(), want.iter().filter(|r| r.encryption == Encryption::Plaintext).count());
        assert!(!plain.is_empty() && plain.iter().all(|r| r.encryption == Encryption::Plaintext));
        let with: Vec<_> = list.with_findings().collect::<io::Result<_>>().expect("read");
        assert_eq!(with.len(), want.iter().filter(|r| !r.findings.is_empty()).count());
        assert_eq!(list.max_severity(), want.iter().filter_map(|r| r.max_severity()).max());
        assert!(list.get(want.len()).expect("in range").is_none());
    }

    /// Equal first and last packet times: the endpoints decide, whatever the push order.
    #[test]
    fn ties_are_ordered_by_endpoints_not_by_arrival() {
        let base = reports().remove(0);
        let mut x = base.clone();
        x.client = "10.0.0.1:1000".into();
        let mut y = base;
        y.client = "10.0.0.2:2000".into();
        let order = |first: &ConnectionReport, second: &ConnectionReport| {
            let list = ConnectionList::from_reports(&[first.clone(), second.clone()]);
            list.iter().map(|r| r.expect("read").client).collect::<Vec<_>>()
        };
        assert_eq!(order(&x, &y), order(&y, &x));
    }
}
