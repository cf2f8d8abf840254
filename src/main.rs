//! dbwire command line: a thin shell over the library.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

use dbwire::analyze::{analyze_file, AnalyzeConfig, CaptureReport};
use dbwire::engine::EngineKind;
use dbwire::findings::Severity;
use dbwire::report::{self, table::TableStyle};
use dbwire::units;

/// Is the traffic to my databases encrypted on the wire, and how well?
///
/// Reads pcap/pcapng captures and reports, per database connection (PostgreSQL,
/// MySQL/MariaDB), whether it used TLS (version, cipher, certificate) or plaintext
/// (with redacted evidence).
#[derive(Parser, Debug)]
#[command(name = "dbwire", version, about, long_about = None)]
struct Args {
    /// Capture files (pcap, pcapng) or folders to search for them.
    #[arg(required = true, value_name = "CAPTURE")]
    inputs: Vec<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Also treat PORT as ENGINE's port (e.g. `postgresql=6543`, `mysql=3307`); content
    /// probing finds both engines on any port, this only sharpens the hint.
    #[arg(long = "port", value_name = "ENGINE=PORT")]
    ports: Vec<String>,

    /// Show SQL literals instead of `?`. Passwords are never shown.
    #[arg(long)]
    show_literals: bool,

    /// Exit with code 1 when a finding at or above this severity exists
    /// (info, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<String>,

    /// Colour in the terminal summary (auto respects NO_COLOR and pipes).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,

    /// Most TCP connections tracked at once; when full, the least recently active one is
    /// finished early (counted and reported as a warning).
    #[arg(long, value_name = "N")]
    max_flows: Option<String>,

    /// Out-of-order bytes buffered per connection direction (e.g. 256K, 1M). When it is
    /// reached the stream skips the hole and reports a gap.
    #[arg(long, value_name = "SIZE")]
    max_buffer: Option<String>,

    /// Out-of-order bytes buffered across all connections (e.g. 64M).
    #[arg(long, value_name = "SIZE")]
    max_buffer_total: Option<String>,

    /// A connection without packets for this long (capture time) is finished
    /// (e.g. 600, 90s, 10m).
    #[arg(long, value_name = "DURATION")]
    idle_timeout: Option<String>,

    /// IP datagrams reassembled from fragments at once; when full, the oldest is dropped.
    #[arg(long, value_name = "N")]
    max_fragments: Option<String>,

    /// Bytes held for IP fragments across all datagrams in progress (e.g. 4M).
    #[arg(long, value_name = "SIZE")]
    max_fragment_buffer: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Jsonl,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Exit codes (documented in README).
mod code {
    pub const OK: u8 = 0;
    pub const FINDINGS: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const PARTIAL: u8 = 3;
}

fn main() -> ExitCode {
    match run() {
        Ok(c) => c,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(code::OK);
            }
            eprintln!("dbwire: error: {e:#}");
            ExitCode::from(code::BAD_INPUT)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

fn parse_engine(s: &str) -> Option<EngineKind> {
    Some(match s.to_ascii_lowercase().as_str() {
        "postgresql" | "postgres" | "pgsql" | "pg" => EngineKind::Postgres,
        "mysql" | "mariadb" => EngineKind::Mysql,
        _ => return None,
    })
}

/// Raw flags validated into the analysis configuration.
fn config(args: &Args) -> Result<AnalyzeConfig> {
    let mut cfg = AnalyzeConfig::default();
    cfg.engine.show_literals = args.show_literals;
    for p in &args.ports {
        let Some((engine, port)) = p.split_once('=') else {
            bail!("--port {p:?}: expected ENGINE=PORT, e.g. postgresql=6543");
        };
        let Some(kind) = parse_engine(engine.trim()) else {
            bail!("--port {p:?}: unknown engine {engine:?} (postgresql, mysql)");
        };
        let port: u16 = port
            .trim()
            .parse()
            .ok()
            .filter(|&n| n != 0)
            .with_context(|| format!("--port {p:?}: {port:?} is not a TCP port (1-65535)"))?;
        cfg.ports.set(port, kind);
    }
    limits(args, &mut cfg)?;
    Ok(cfg)
}

/// The memory and time limits (`--max-flows` …): sizes take K/M/G suffixes, durations
/// s/m/h; counts and timeouts must be positive.
fn limits(args: &Args, cfg: &mut AnalyzeConfig) -> Result<()> {
    let count = |flag: &str, v: &str| -> Result<usize> {
        v.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("{flag} {v:?}: expected a positive whole number"))
    };
    let size = |flag: &str, v: &str| units::parse_size(v).with_context(|| flag.to_string());
    if let Some(v) = &args.max_flows {
        cfg.flow.max_flows = count("--max-flows", v)?;
    }
    if let Some(v) = &args.max_buffer {
        cfg.flow.max_ooo_per_direction = size("--max-buffer", v)?;
    }
    if let Some(v) = &args.max_buffer_total {
        cfg.flow.max_ooo_total = size("--max-buffer-total", v)?;
    }
    if let Some(v) = &args.idle_timeout {
        let ns = units::parse_duration_ns(v).with_context(|| "--idle-timeout".to_string())?;
        if ns == 0 {
            bail!("--idle-timeout {v:?}: must be longer than zero");
        }
        cfg.flow.idle_timeout_ns = ns;
    }
    if let Some(v) = &args.max_fragments {
        cfg.defrag.max_datagrams = count("--max-fragments", v)?;
    }
    if let Some(v) = &args.max_fragment_buffer {
        cfg.defrag.max_total_bytes = size("--max-fragment-buffer", v)?;
    }
    Ok(())
}

fn is_capture_name(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    [".pcap", ".pcapng", ".cap"].iter().any(|ext| name.ends_with(ext))
}

/// Expand folders into the capture files below them (sorted); keep files as given.
fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).with_context(|| format!("{}", input.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found, 0).with_context(|| format!("{}", input.display()))?;
            found.sort();
            if found.is_empty() {
                bail!("{}: no capture files (*.pcap, *.pcapng, *.cap) in this folder", input.display());
            }
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> io::Result<()> {
    if depth > 16 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&path, out, depth + 1)?;
        } else if is_capture_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn run() -> Result<ExitCode> {
    let args = Args::parse();
    let fail_on = match &args.fail_on {
        None => None,
        Some(s) => Some(
            Severity::parse(s)
                .with_context(|| format!("--fail-on {s:?}: expected info, low, medium, high or critical"))?,
        ),
    };
    let cfg = config(&args)?;
    let files = collect_inputs(&args.inputs)?;

    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = (!args.quiet && io::stderr().is_terminal() && total > 32 << 20).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });

    let mut reports: Vec<CaptureReport> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut done_before = 0u64;
    for f in &files {
        let mut progress = |n: u64| {
            if let Some(b) = &bar {
                b.set_position(done_before + n);
            }
        };
        match analyze_file(f, &cfg, &mut progress) {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e.to_string()),
        }
        done_before += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if reports.is_empty() && errors.len() == 1 {
        bail!("{}", errors[0]);
    }
    for e in &errors {
        eprintln!("dbwire: error: {e}");
    }
    if reports.is_empty() {
        bail!("no usable capture among {} input file(s)", files.len());
    }
    for r in &reports {
        for w in &r.warnings {
            eprintln!("dbwire: warning: {}: {w}", r.path);
        }
    }

    let summary = report::summarize(&reports);
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        Format::Jsonl => report::json::write_jsonl(&mut out, &reports)?,
        Format::Json => report::json::write_json(&mut out, &reports, &summary)?,
        Format::Table => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => to_terminal && !no_color,
            };
            let style = TableStyle { color, width: None };
            report::table::write_table(&mut out, &reports, &summary, style)?;
        }
    }
    out.flush()?;

    let worst = reports.iter().flat_map(|r| r.connections.iter()).filter_map(|c| c.max_severity()).max();
    if let (Some(limit), Some(w)) = (fail_on, worst) {
        if w >= limit {
            return Ok(ExitCode::from(code::FINDINGS));
        }
    }
    if !errors.is_empty() {
        return Ok(ExitCode::from(code::BAD_INPUT));
    }
    if reports.iter().any(|r| !r.warnings.is_empty() && r.read.warning.is_some()) {
        return Ok(ExitCode::from(code::PARTIAL));
    }
    Ok(ExitCode::from(code::OK))
}
