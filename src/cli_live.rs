//! `dbwire --interface IFACE`: live capture, part of the command line (not the library).
//! Packets go through the same [`Analyzer`] as files; the report at the end is the same.
//! With `--format jsonl` each connection is written (and flushed) as it ends.

use std::process::ExitCode;

#[cfg(not(feature = "live"))]
pub fn run(
    _args: &crate::Args,
    interface: &str,
    _cfg: &dbwire::analyze::AnalyzeConfig,
    _fail_on: Option<dbwire::findings::Severity>,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "--interface {interface}: this dbwire was built without live capture; rebuild it with the `live` \
         feature (needs libpcap-dev): cargo install --path . --features live"
    )
}

#[cfg(feature = "live")]
pub use with_pcap::run;

#[cfg(feature = "live")]
mod with_pcap {
    use std::io::{self, IsTerminal, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use anyhow::{anyhow, bail, Context, Result};

    use dbwire::analyze::{AnalyzeConfig, Analyzer};
    use dbwire::capture::file::ReadStats;
    use dbwire::capture::live::{
        default_filter, parse_duration, Limits, LiveCapture, LiveError, LiveEvent, LiveOptions, LiveStats,
    };
    use dbwire::findings::{ConnectionReport, Encryption, Severity};

    use super::ExitCode;
    use crate::{exit_code, open_output, print_warnings, write_report, Args, Format};

    /// Where finished connections go: counted for the status line and, for JSON lines,
    /// written at once.
    struct Sink {
        out: Box<dyn Write>,
        stream: bool,
        error: Option<io::Error>,
        finished: u64,
        tls: u64,
        plaintext: u64,
    }

    impl Sink {
        fn closed(&mut self, c: &ConnectionReport) {
            self.finished += 1;
            match c.encryption {
                Encryption::Tls => self.tls += 1,
                Encryption::Plaintext => self.plaintext += 1,
                Encryption::Gssapi | Encryption::Nne | Encryption::Unknown => {}
            }
            if self.stream && self.error.is_none() {
                // The same line as `report::json::write_jsonl`, flushed so that a reader
                // of the pipe sees each connection when it ends.
                let line = serde_json::to_writer(&mut self.out, c)
                    .map_err(io::Error::from)
                    .and_then(|()| self.out.write_all(b"\n"))
                    .and_then(|()| self.out.flush());
                if let Err(e) = line {
                    self.error = Some(e);
                }
            }
        }
    }

    /// One line on stderr, rewritten about once a second (only on a terminal).
    struct StatusLine {
        started: Instant,
        last: Option<Instant>,
    }

    impl StatusLine {
        fn update(&mut self, sink: &Sink, open: usize, stats: &LiveStats) {
            let now = Instant::now();
            if self.last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
                return;
            }
            self.last = Some(now);
            let secs = now.duration_since(self.started).as_secs();
            let mut err = io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[K{:02}:{:02}:{:02}  connections {} ({} open)  tls {}  plaintext {}  packets {}  dropped {}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60,
                sink.finished + open as u64,
                open,
                sink.tls,
                sink.plaintext,
                stats.packets,
                stats.dropped + stats.if_dropped,
            );
            let _ = err.flush();
        }

        fn clear(&self) {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }

    /// Say what to do about a capture that cannot start.
    fn explain(e: LiveError) -> anyhow::Error {
        match e {
            LiveError::Permission { .. } => {
                let exe = std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "$(command -v dbwire)".to_string());
                anyhow!("{e}: run dbwire as root, or allow it to capture with: sudo setcap cap_net_raw,cap_net_admin=eip {exe}")
            }
            other => anyhow!(other),
        }
    }

    pub fn run(args: &Args, interface: &str, cfg: &AnalyzeConfig, fail_on: Option<Severity>) -> Result<ExitCode> {
        let duration = match &args.duration {
            None => None,
            Some(d) => Some(parse_duration(d).map_err(|e| anyhow!("--duration {e}"))?),
        };
        if args.count == Some(0) {
            bail!("--count 0: give at least 1 packet");
        }
        let limits = Limits { duration, count: args.count };
        let filter = match &args.filter {
            Some(f) if f.trim().is_empty() => bail!("--filter is empty (use `tcp` to capture all TCP)"),
            Some(f) => f.clone(),
            None => default_filter(&cfg.ports.ports()),
        };
        let out = open_output(args)?;
        let mut opts = LiveOptions::new(interface, filter);
        opts.write = args.write.clone();
        let mut capture = LiveCapture::open(&opts).map_err(explain)?;

        // First Ctrl-C (or SIGTERM/SIGHUP): stop and report. A second one: leave now.
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = Arc::clone(&stop);
            ctrlc::set_handler(move || {
                if stop.swap(true, Ordering::SeqCst) {
                    std::process::exit(130);
                }
            })
            .context("cannot install the Ctrl-C handler")?;
        }

        if !args.quiet {
            eprintln!(
                "dbwire: capturing on {} ({}), filter: {}; Ctrl-C stops and reports",
                capture.interface(),
                capture.link_type().name(),
                capture.filter()
            );
        }
        let name = format!("live:{interface}");
        let mut analyzer = Analyzer::new(&name, cfg);
        let mut sink =
            Sink { out, stream: args.format == Format::Jsonl, error: None, finished: 0, tls: 0, plaintext: 0 };
        let mut status =
            (!args.quiet && io::stderr().is_terminal()).then(|| StatusLine { started: Instant::now(), last: None });

        let outcome = capture.run(limits, &stop, &mut |event| {
            match event {
                LiveEvent::Packet(pkt) => analyzer.packet_with(pkt, &mut |c| sink.closed(c)),
                LiveEvent::Tick { now, stats } => {
                    analyzer.advance(now, &mut |c| sink.closed(c));
                    if let Some(s) = &mut status {
                        s.update(&sink, analyzer.open_connections(), stats);
                    }
                }
            }
            if sink.error.is_some() {
                // The reader of the JSON lines went away: nothing more to say.
                stop.store(true, Ordering::SeqCst);
            }
        });
        if let Some(s) = &status {
            s.clear();
        }
        let outcome = outcome.map_err(explain)?;
        let stats = outcome.stats;

        let mut warnings = Vec::new();
        if let Some(e) = &outcome.error {
            warnings.push(e.to_string());
        }
        if stats.dropped + stats.if_dropped > 0 {
            warnings.push(format!(
                "libpcap dropped {} packet(s) ({} for lack of buffer space, {} by the interface): some \
                 connections may be incomplete",
                stats.dropped + stats.if_dropped,
                stats.dropped,
                stats.if_dropped
            ));
        }
        let read = ReadStats {
            packets: stats.packets,
            bytes_read: stats.bytes,
            snaplen_truncated: stats.snaplen_truncated,
            warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
            ..ReadStats::default()
        };
        let report = analyzer.finish_with(read, &mut |c| sink.closed(c));
        if let Some(e) = sink.error.take() {
            return Err(e).context("cannot write the report");
        }
        if !args.quiet {
            eprintln!(
                "dbwire: {} after {} packet(s), {} dropped, {} connection(s)",
                outcome.reason.as_str(),
                stats.packets,
                stats.dropped + stats.if_dropped,
                report.connections.len()
            );
        }
        let reports = [report];
        print_warnings(&reports);
        let mut out = sink.out;
        if !sink.stream {
            write_report(args, &mut out, &reports)?;
        }
        out.flush()?;
        Ok(exit_code(&reports, fail_on, false))
    }
}
