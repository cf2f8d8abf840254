//! Live capture from a network interface through libpcap (cargo feature `live`).
//!
//! The parts that need no libpcap (the default filter, link-type mapping, `--duration`
//! parsing, counters) are always compiled, so that a build without the feature can still
//! validate the flags and say how to get live capture. [`LiveCapture`] itself needs the
//! feature.
//!
//! The read loop uses a short libpcap read timeout so that a stop request (Ctrl-C, end of
//! the duration) is noticed within [`READ_TIMEOUT_MS`] even when no packet arrives, and
//! it calls back at least every [`TICK`] with the wall-clock time so that connections
//! whose close linger or idle timeout ran out are reported without waiting for the next
//! packet.

use std::time::Duration;

use super::{LinkType, Packet, Timestamp};

/// Server ports of the databases dbwire knows: PostgreSQL 5432, MySQL/MariaDB 3306,
/// SQL Server 1433, Oracle 1521 (and 2484, Oracle's TCPS port).
pub const DEFAULT_PORTS: [u16; 5] = [5432, 3306, 1433, 1521, 2484];

/// The longest the read loop waits for a packet before it looks at the stop flag again.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// How often the loop reports time passing (statistics, expiry of quiet connections).
pub const TICK: Duration = Duration::from_millis(250);

/// The BPF filter used when the user gives none: TCP to or from the known database ports
/// and the `extra` ones (from `--port`). Content probing recognises databases on any
/// port in files, but live the kernel only hands over what this filter lets through; the
/// user's `--filter` (e.g. `tcp`) replaces it.
pub fn default_filter(extra: &[u16]) -> String {
    let mut ports: Vec<u16> = DEFAULT_PORTS.iter().chain(extra).copied().filter(|&p| p != 0).collect();
    ports.sort_unstable();
    ports.dedup();
    let alternatives: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    format!("tcp and ({})", alternatives.join(" or "))
}

/// Parse `--duration`: a whole number with an optional unit, `ms`, `s` (the default),
/// `m` or `h`: `60s`, `90`, `5m`, `1h`, `500ms`. Zero is refused (it would stop at once).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration (e.g. 60s, 5m, 1h)"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" | "sec" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    if d.is_zero() {
        return Err(format!("{text:?}: the duration must be longer than zero"));
    }
    Ok(d)
}

/// Map the data-link type that libpcap reports for a live handle (a DLT_* value) to
/// the LINKTYPE_* numbering the decoder uses. For the link types the decoder handles the
/// numbers agree on Linux (EN10MB 1, LINUX_SLL 113, LINUX_SLL2 276, NULL 0, LOOP 108),
/// except DLT_RAW, which is 12 or 14 depending on the platform (LINKTYPE_RAW is 101); the
/// decoder accepts all three, so the value passes through unchanged. Unknown values pass
/// through too and end up in the decoder's "unsupported link type" warning.
pub fn link_type_from_dlt(dlt: i32) -> LinkType {
    LinkType(u32::try_from(dlt).unwrap_or(u32::MAX))
}

/// Why a live capture ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C, SIGTERM or SIGHUP (or the caller's stop flag for another reason).
    Stopped,
    /// `--duration` ran out.
    Duration,
    /// `--count` packets were read.
    Count,
    /// Reading from the interface failed.
    Failed,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Stopped => "stopped",
            StopReason::Duration => "duration reached",
            StopReason::Count => "packet count reached",
            StopReason::Failed => "capture failed",
        }
    }
}

/// Counters of a live capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets handed to the analysis.
    pub packets: u64,
    /// Captured bytes handed to the analysis.
    pub bytes: u64,
    /// Packets cut by the snap length.
    pub snaplen_truncated: u64,
    /// Packets the filter passed, as libpcap counts them (`ps_recv`).
    pub received: u64,
    /// Packets dropped because the capture buffer was full (`ps_drop`).
    pub dropped: u64,
    /// Packets dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u64,
}

/// What the read loop hands out.
#[derive(Debug)]
pub enum LiveEvent<'a> {
    Packet(&'a Packet<'a>),
    /// Time passes (wall clock, the clock of packet timestamps); counters so far.
    Tick {
        now: Timestamp,
        stats: &'a LiveStats,
    },
}

/// How a capture ended.
#[derive(Debug)]
pub struct LiveOutcome {
    pub reason: StopReason,
    pub stats: LiveStats,
    /// Set when reading failed ([`StopReason::Failed`]).
    pub error: Option<LiveError>,
}

/// When a capture stops by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub duration: Option<Duration>,
    pub count: Option<u64>,
}

/// Errors of live capture, each one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no interface {interface:?}; interfaces: {available}")]
    NoSuchInterface { interface: String, available: String },
    #[error("no permission to capture on {interface} ({detail})")]
    Permission { interface: String, detail: String },
    #[error("filter {filter:?} is not valid BPF: {detail}")]
    Filter { filter: String, detail: String },
    #[error("cannot capture on {interface}: {detail}")]
    Open { interface: String, detail: String },
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("capture on {interface} failed: {detail}")]
    Read { interface: String, detail: String },
}

/// Does a libpcap error text say that the process lacks the right to capture?
/// libpcap words it differently per platform and version ("You don't have permission to
/// capture on that device", "socket: Operation not permitted", "CAP_NET_RAW may be
/// required"); only the text reaches us through the `pcap` crate.
pub fn is_permission_error(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    ["permission", "not permitted", "cap_net_raw", "eperm", "access denied"].iter().any(|w| d.contains(w))
}

#[cfg(feature = "live")]
pub use source::{LiveCapture, LiveOptions};

#[cfg(feature = "live")]
mod source {
    use std::os::fd::AsFd;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    use super::*;

    /// What to capture and where to save it.
    #[derive(Debug, Clone)]
    pub struct LiveOptions {
        pub interface: String,
        /// A BPF expression (libpcap syntax), e.g. from [`default_filter`].
        pub filter: String,
        /// Bytes kept of each packet.
        pub snaplen: i32,
        /// Also write every packet read to this pcap file.
        pub write: Option<PathBuf>,
    }

    impl LiveOptions {
        pub fn new(interface: &str, filter: String) -> LiveOptions {
            LiveOptions { interface: interface.to_string(), filter, snaplen: 262_144, write: None }
        }
    }

    /// An open libpcap handle on one interface, filter applied.
    pub struct LiveCapture {
        cap: pcap::Capture<pcap::Active>,
        save: Option<pcap::Savefile>,
        link: LinkType,
        interface: String,
        filter: String,
    }

    fn now_ts() -> Timestamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
    }

    fn header_ts(h: &pcap::PacketHeader) -> Timestamp {
        // Microsecond precision (libpcap's default for live handles).
        let secs = u64::try_from(h.ts.tv_sec).unwrap_or(0);
        let micros = u32::try_from(h.ts.tv_usec).unwrap_or(0).min(999_999);
        Timestamp::from_secs_nanos(secs, micros * 1000)
    }

    impl LiveCapture {
        /// Open `opts.interface`, apply the filter and, with `opts.write`, open the file.
        pub fn open(opts: &LiveOptions) -> Result<LiveCapture, LiveError> {
            let iface = opts.interface.clone();
            let open_err = |e: pcap::Error| classify_open_error(&iface, e.to_string());
            let cap = pcap::Capture::from_device(iface.as_str())
                .map_err(open_err)?
                .snaplen(opts.snaplen)
                .promisc(false)
                // Deliver packets as they come (no kernel batching), so that connections are
                // reported when they end.
                .immediate_mode(true)
                .buffer_size(16 << 20)
                .open()
                .map_err(open_err)?;
            // Non-blocking reads plus our own poll(2) with a timeout: libpcap's read
            // timeout alone does not return on Linux while no packet arrives (it polls
            // again internally), and the stop flag must be seen on a quiet interface.
            let mut cap = cap.setnonblock().map_err(open_err)?;
            cap.filter(&opts.filter, true)
                .map_err(|e| LiveError::Filter { filter: opts.filter.clone(), detail: e.to_string() })?;
            let save = match &opts.write {
                None => None,
                Some(path) => {
                    let shown = path.display().to_string();
                    // `Capture::savefile` cannot take a path that is not UTF-8.
                    if path.to_str().is_none() {
                        return Err(LiveError::Write { path: shown, detail: "the path is not UTF-8".into() });
                    }
                    Some(cap.savefile(path).map_err(|e| LiveError::Write { path: shown, detail: e.to_string() })?)
                }
            };
            let link = link_type_from_dlt(cap.get_datalink().0);
            Ok(LiveCapture { cap, save, link, interface: opts.interface.clone(), filter: opts.filter.clone() })
        }

        pub fn link_type(&self) -> LinkType {
            self.link
        }

        pub fn filter(&self) -> &str {
            &self.filter
        }

        pub fn interface(&self) -> &str {
            &self.interface
        }

        /// Read packets until `stop` is set, the duration runs out or `count` packets were
        /// read. Each packet goes to `on_event`, and so, at least every [`TICK`] (also
        /// when no packet arrives), do the wall-clock time and the counters. A read error
        /// (the interface went away) ends the capture like a stop, with the error in the
        /// outcome: what was read so far is still worth a report.
        pub fn run(
            &mut self,
            limits: Limits,
            stop: &AtomicBool,
            on_event: &mut dyn FnMut(LiveEvent<'_>),
        ) -> Result<LiveOutcome, LiveError> {
            let started = Instant::now();
            let deadline = limits.duration.map(|d| started + d);
            let mut stats = LiveStats::default();
            let mut next_tick = started + TICK;
            let mut error = None;
            let reason = loop {
                if stop.load(Ordering::Relaxed) {
                    break StopReason::Stopped;
                }
                if limits.count.is_some_and(|n| stats.packets >= n) {
                    break StopReason::Count;
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    break StopReason::Duration;
                }
                if now >= next_tick {
                    next_tick = now + TICK;
                    self.update_stats(&mut stats);
                    if let Some(s) = &mut self.save {
                        // Keep the file usable should the process be killed later.
                        let _ = s.flush();
                    }
                    on_event(LiveEvent::Tick { now: now_ts(), stats: &stats });
                }
                match self.cap.next_packet() {
                    Ok(p) => {
                        if let Some(s) = &mut self.save {
                            s.write(&p);
                        }
                        let pkt =
                            Packet { ts: header_ts(p.header), link: self.link, data: p.data, orig_len: p.header.len };
                        stats.packets += 1;
                        stats.bytes += p.data.len() as u64;
                        if pkt.truncated() {
                            stats.snaplen_truncated += 1;
                        }
                        on_event(LiveEvent::Packet(&pkt));
                    }
                    Err(pcap::Error::TimeoutExpired) => {
                        // Nothing buffered: wait until a packet is ready, or a little
                        // while. EINTR (a signal) just means: look at the flags again.
                        let wait = next_tick.saturating_duration_since(Instant::now()).min(READ_TIMEOUT);
                        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX).max(1);
                        let mut fds = [PollFd::new(self.cap.as_fd(), PollFlags::POLLIN)];
                        let _ = poll(&mut fds, PollTimeout::from(ms));
                    }
                    Err(e) => {
                        error = Some(LiveError::Read { interface: self.interface.clone(), detail: e.to_string() });
                        break StopReason::Failed;
                    }
                }
            };
            self.update_stats(&mut stats);
            if let Some(s) = &mut self.save {
                s.flush().map_err(|e| LiveError::Write { path: "the --write file".into(), detail: e.to_string() })?;
            }
            Ok(LiveOutcome { reason, stats, error })
        }

        fn update_stats(&mut self, stats: &mut LiveStats) {
            // libpcap's counters are cumulative since the handle was opened.
            if let Ok(s) = self.cap.stats() {
                stats.received = u64::from(s.received);
                stats.dropped = u64::from(s.dropped);
                stats.if_dropped = u64::from(s.if_dropped);
            }
        }
    }

    /// Turn libpcap's open error into one that says what to do.
    fn classify_open_error(interface: &str, detail: String) -> LiveError {
        if is_permission_error(&detail) {
            return LiveError::Permission { interface: interface.to_string(), detail };
        }
        if let Ok(devices) = pcap::Device::list() {
            if !devices.iter().any(|d| d.name == interface) {
                let names: Vec<String> = devices.into_iter().map(|d| d.name).collect();
                let available = if names.is_empty() { "none found".to_string() } else { names.join(", ") };
                return LiveError::NoSuchInterface { interface: interface.to_string(), available };
            }
        }
        LiveError::Open { interface: interface.to_string(), detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_covers_known_ports_and_extra_ones_once() {
        assert_eq!(default_filter(&[]), "tcp and (port 1433 or port 1521 or port 2484 or port 3306 or port 5432)");
        // 5432 again, 0 (never a port) and two new ones.
        assert_eq!(
            default_filter(&[15432, 5432, 0, 13306]),
            "tcp and (port 1433 or port 1521 or port 2484 or port 3306 or port 5432 or port 13306 or port 15432)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "0", "0s", "-5s", "1.5s", "10 parsecs", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn live_link_types_map_to_decoder_link_types() {
        // DLT_EN10MB (lo and Ethernet on Linux), DLT_LINUX_SLL / SLL2 (`-i any`).
        assert_eq!(link_type_from_dlt(1), LinkType::ETHERNET);
        assert_eq!(link_type_from_dlt(113), LinkType::LINUX_SLL);
        assert_eq!(link_type_from_dlt(276), LinkType::LINUX_SLL2);
        // DLT_RAW is 12 on Linux, 14 on OpenBSD; the decoder knows both.
        assert_eq!(link_type_from_dlt(12), LinkType::RAW_ALT12);
        assert_eq!(link_type_from_dlt(14), LinkType::RAW_ALT14);
        assert_eq!(link_type_from_dlt(-1).name(), "unknown");
    }

    #[test]
    fn permission_errors_are_recognised() {
        // What libpcap 1.10.3 (Debian 12) says to an unprivileged process on Linux.
        assert!(is_permission_error("libpcap error: socket: Operation not permitted"));
        // Later libpcap releases, as tcpdump prints them.
        assert!(is_permission_error(
            "any: You don't have permission to perform this capture on that device \
             (Attempt to create packet socket failed - CAP_NET_RAW may be required)"
        ));
        assert!(!is_permission_error("nosuch0: No such device exists (SIOCGIFHWADDR: No such device)"));
    }
}
