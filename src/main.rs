//! dbwire command line: a thin shell over the library.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

use dbwire::analyze::{analyze_file, analyze_files_as_one, AnalyzeConfig, CaptureReport};
use dbwire::engine::EngineKind;
use dbwire::findings::policy::Policy;
use dbwire::findings::{CheckContext, Severity};
use dbwire::report::{self, table::TableStyle};
use dbwire::units;
use dbwire::x509::validate::TrustStore;

mod cli_live;

/// Is the traffic to my databases encrypted on the wire, and how well?
///
/// Reads pcap/pcapng captures and reports, per database connection (PostgreSQL,
/// MySQL/MariaDB, SQL Server TDS, Oracle TNS), whether it used TLS (version, cipher, certificate) or plaintext
/// (with redacted evidence).
#[derive(Parser, Debug)]
#[command(
    name = "dbwire",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true
)]
struct Args {
    /// `dbwire diff BEFORE AFTER`; without a command, analyse the captures given.
    #[command(subcommand)]
    command: Option<Command>,

    /// Capture files (pcap, pcapng) or folders to search for them.
    #[arg(required_unless_present = "interface", value_name = "CAPTURE")]
    inputs: Vec<PathBuf>,

    /// Capture live on this interface (e.g. eth0, lo, any) instead of reading files,
    /// until Ctrl-C, --duration or --count; then report. Needs root or the capture
    /// capabilities, and a build with the `live` feature.
    #[arg(short, long, value_name = "IFACE", conflicts_with = "inputs")]
    interface: Option<String>,

    /// BPF filter for --interface (libpcap syntax). Replaces the default, which keeps TCP
    /// on the database ports (5432, 3306, 1433, 1521, 2484 and every --port); `tcp`
    /// captures all TCP.
    #[arg(long, value_name = "BPF", requires = "interface")]
    filter: Option<String>,

    /// Stop a live capture after this long (e.g. 60s, 5m, 1h).
    #[arg(long, value_name = "DURATION", requires = "interface")]
    duration: Option<String>,

    /// Stop a live capture after this many packets.
    #[arg(long, value_name = "N", requires = "interface")]
    count: Option<u64>,

    /// Also save the packets of a live capture to this pcap file.
    #[arg(long, value_name = "FILE.pcap", requires = "interface")]
    write: Option<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Also treat PORT as ENGINE's port (e.g. `postgresql=6543`, `mysql=3307`, `tds=14330`,
    /// `oracle=1522`); content probing finds the engines on any port, this only sharpens
    /// the hint (and labels TLS-from-the-first-byte traffic, e.g. Oracle TCPS).
    #[arg(long = "port", value_name = "ENGINE=PORT")]
    ports: Vec<String>,

    /// Show SQL literals instead of `?`. Passwords are never shown.
    #[arg(long)]
    show_literals: bool,

    /// Exit with code 1 when a finding at or above this severity exists
    /// (info, low, medium, high, critical).
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<String>,

    /// Policy file (TOML): required encryption, minimum TLS version, cipher rules,
    /// certificate rules, severity overrides. See policy.example.toml.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Trusted CAs (PEM bundle, e.g. Amazon RDS global-bundle.pem): validate each server
    /// chain against it at the time of the capture.
    #[arg(long, value_name = "FILE.pem")]
    ca_bundle: Option<PathBuf>,

    /// Host name the server certificates must be valid for (default: the client's SNI).
    #[arg(long, value_name = "HOST")]
    expect_host: Option<String>,

    /// Warn when a server certificate expires within this time of today (e.g. 30d, 90d).
    #[arg(long, value_name = "DAYS")]
    expiry_warning: Option<String>,

    /// Colour in the terminal summary (auto respects NO_COLOR and pipes).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// No progress bar, no live status line.
    #[arg(short, long)]
    quiet: bool,

    /// Threads in all (default: the number of CPU cores). With N > 1 connections are
    /// spread over N shards: one analysed on the thread that reads the capture, the
    /// others on N − 1 more threads; the report is the same for any N.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Analyse all inputs as ONE capture (e.g. files rotated by `tcpdump -C`/`-G`):
    /// files are read in the order of their first packet, and a connection that spans
    /// files is one connection. Default: one report per file.
    #[arg(long, visible_alias = "as-one")]
    merge: bool,

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

    /// Finished connection reports kept in memory (e.g. 8M, the default); past it they
    /// go to an anonymous temporary file in TMPDIR, so memory stays flat on any capture.
    #[arg(long, value_name = "SIZE")]
    max_report_memory: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Jsonl,
    Json,
    /// Self-contained audit report (use with -o report.html).
    Html,
    /// One row per connection for spreadsheets.
    Csv,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Compare two runs: clients that moved from plaintext to TLS, clients still in
    /// plaintext, certificate/issuer changes, new and resolved findings.
    Diff(DiffArgs),
}

#[derive(clap::Args, Debug)]
struct DiffArgs {
    /// Before: a capture file, a folder of captures, or a JSON report (--format json or jsonl).
    #[arg(value_name = "BEFORE")]
    before: PathBuf,

    /// After: same kinds as BEFORE.
    #[arg(value_name = "AFTER")]
    after: PathBuf,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Table)]
    format: DiffFormat,

    /// Write the comparison to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Port hints for captures, as for the main command.
    #[arg(long = "port", value_name = "ENGINE=PORT")]
    ports: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Table,
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
        "tds" | "mssql" | "sqlserver" => EngineKind::Tds,
        "oracle" | "tns" => EngineKind::Tns,
        _ => return None,
    })
}

/// `30d`, `30` → 30 days; `2w` → 14.
fn parse_days(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix('w') { (n, 7) } else { (t.strip_suffix('d').unwrap_or(&t), 1) };
    num.trim().parse::<u32>().ok()?.checked_mul(mult)
}

/// Policy file, CA bundle and certificate flags; the flags win over the policy.
fn check_context(args: &Args) -> Result<CheckContext> {
    let (policy, policy_dir) = match &args.policy {
        None => (Policy::default(), PathBuf::from(".")),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("--policy {}", p.display()))?;
            let policy = Policy::from_toml(&text).with_context(|| format!("--policy {}", p.display()))?;
            (policy, p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")))
        }
    };
    let trust = match &args.ca_bundle {
        Some(p) => Some(TrustStore::load(p).map_err(|e| anyhow::anyhow!("--ca-bundle: {e}"))?),
        None => CheckContext::bundle_from_policy(&policy, &policy_dir)
            .map_err(|e| anyhow::anyhow!("policy certificates.ca_bundle: {e}"))?,
    };
    let mut ctx = CheckContext::new(policy, trust, args.expect_host.clone());
    if let Some(w) = &args.expiry_warning {
        ctx.expiry_warning_days =
            parse_days(w).with_context(|| format!("--expiry-warning {w:?}: expected days, e.g. 30d"))?;
    }
    Ok(ctx)
}

/// Raw flags validated into the analysis configuration.
fn config(args: &Args) -> Result<AnalyzeConfig> {
    let mut cfg = config_from(&args.ports, args.show_literals)?;
    cfg.checks = std::sync::Arc::new(check_context(args)?);
    cfg.threads = match args.threads {
        Some(0) => bail!("--threads 0: expected at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    limits(args, &mut cfg)?;
    Ok(cfg)
}

fn config_from(ports: &[String], show_literals: bool) -> Result<AnalyzeConfig> {
    let mut cfg = AnalyzeConfig::default();
    cfg.engine.show_literals = show_literals;
    for p in ports {
        let Some((engine, port)) = p.split_once('=') else {
            bail!("--port {p:?}: expected ENGINE=PORT, e.g. postgresql=6543");
        };
        let Some(kind) = parse_engine(engine.trim()) else {
            bail!("--port {p:?}: unknown engine {engine:?} (postgresql, mysql, tds, oracle)");
        };
        let port: u16 = port
            .trim()
            .parse()
            .ok()
            .filter(|&n| n != 0)
            .with_context(|| format!("--port {p:?}: {port:?} is not a TCP port (1-65535)"))?;
        cfg.ports.set(port, kind);
    }
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
    if let Some(v) = &args.max_report_memory {
        cfg.report_memory = Some(size("--max-report-memory", v)?);
    }
    Ok(())
}

fn is_capture_name(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    // `tcpdump -C` appends a counter to rotated files: `dump.pcap`, `dump.pcap1`, ...
    let name = name.trim_end_matches(|c: char| c.is_ascii_digit());
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
                bail!("{}: no capture files (*.pcap, *.pcapng, *.cap, optionally .gz) in this folder", input.display());
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
    if let Some(Command::Diff(d)) = &args.command {
        return run_diff(d);
    }
    let fail_on = match &args.fail_on {
        None => None,
        Some(s) => Some(
            Severity::parse(s)
                .with_context(|| format!("--fail-on {s:?}: expected info, low, medium, high or critical"))?,
        ),
    };
    let cfg = config(&args)?;
    if let Some(interface) = &args.interface {
        return cli_live::run(&args, interface, &cfg, fail_on);
    }
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
    if args.merge {
        let name = args.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        let mut progress = |n: u64| {
            if let Some(b) = &bar {
                b.set_position(n);
            }
        };
        match analyze_files_as_one(&files, &name, &cfg, &mut progress) {
            Ok(r) => reports.push(r),
            Err(e) => errors.push(e.to_string()),
        }
    }
    for f in files.iter().filter(|_| !args.merge) {
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
    print_warnings(&reports);
    let mut out = open_output(&args)?;
    write_report(&args, &mut out, &reports)?;
    out.flush()?;
    Ok(exit_code(&reports, fail_on, !errors.is_empty()))
}

fn print_warnings(reports: &[CaptureReport]) {
    for r in reports {
        for w in &r.warnings {
            eprintln!("dbwire: warning: {}: {w}", r.path);
        }
    }
}

/// Standard output, or the `-o` file.
fn open_output(args: &Args) -> Result<Box<dyn Write>> {
    Ok(match &args.output {
        Some(p) => {
            Box::new(BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// The whole report in the chosen format.
fn write_report(args: &Args, out: &mut dyn Write, reports: &[CaptureReport]) -> Result<()> {
    // JSON lines and CSV need no summary: the reports are copied or converted one by one.
    let summary = || report::summarize(reports).context("cannot read back the connection reports");
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    match args.format {
        Format::Jsonl => report::json::write_jsonl(out, reports)?,
        Format::Json => report::json::write_json(out, reports, &summary()?)?,
        Format::Table => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => to_terminal && !no_color,
            };
            let style = TableStyle { color, width: None };
            report::table::write_table(out, reports, &summary()?, style)?;
        }
        Format::Html => {
            let prov = provenance(args, reports)?;
            report::html::write_html(out, reports, &summary()?, &prov)?;
        }
        Format::Csv => report::csv::write_csv(out, reports)?,
    }
    Ok(())
}

fn exit_code(reports: &[CaptureReport], fail_on: Option<Severity>, input_errors: bool) -> ExitCode {
    let worst = reports.iter().filter_map(|r| r.connections.max_severity()).max();
    if let (Some(limit), Some(w)) = (fail_on, worst) {
        if w >= limit {
            return ExitCode::from(code::FINDINGS);
        }
    }
    if input_errors {
        return ExitCode::from(code::BAD_INPUT);
    }
    if reports.iter().any(|r| !r.warnings.is_empty() && r.read.warning.is_some()) {
        return ExitCode::from(code::PARTIAL);
    }
    ExitCode::from(code::OK)
}

/// What the HTML report records about how it was made: the inputs with their SHA-256
/// and the options in force.
fn provenance(args: &Args, reports: &[CaptureReport]) -> Result<report::html::Provenance> {
    let mut inputs = Vec::new();
    for r in reports {
        let f = report::html::hash_file(Path::new(&r.path)).with_context(|| format!("cannot hash {}", r.path))?;
        inputs.push(report::html::InputFile { path: r.path.clone(), ..f });
    }
    let mut options = vec![
        ("command line".to_string(), std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
        (
            "SQL literals".to_string(),
            if args.show_literals { "shown (--show-literals)" } else { "redacted" }.to_string(),
        ),
    ];
    if !args.ports.is_empty() {
        options.push(("port hints".to_string(), args.ports.join(", ")));
    }
    if let Some(f) = &args.fail_on {
        options.push(("fail on".to_string(), f.clone()));
    }
    // The policy in force: an auditor must be able to tell which rules produced the findings.
    let file_with_hash = |p: &Path| -> String {
        match std::fs::read(p) {
            Ok(bytes) => {
                use sha2::Digest;
                let hash = sha2::Sha256::digest(&bytes);
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                format!("{} (SHA-256 {hex})", p.display())
            }
            Err(_) => p.display().to_string(),
        }
    };
    options.push((
        "policy".to_string(),
        match &args.policy {
            Some(p) => file_with_hash(p),
            None => "built-in defaults (encryption required, TLS 1.2 or later)".to_string(),
        },
    ));
    if let Some(p) = &args.ca_bundle {
        options.push(("CA bundle".to_string(), file_with_hash(p)));
    }
    if let Some(h) = &args.expect_host {
        options.push(("expected host".to_string(), h.clone()));
    }
    if let Some(w) = &args.expiry_warning {
        options.push(("expiry warning".to_string(), w.clone()));
    }
    // SOURCE_DATE_EPOCH makes the report byte-for-byte reproducible.
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    let generated = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    Ok(report::html::Provenance { generated, inputs, options })
}

/// One side of `dbwire diff`: a JSON report written earlier, or captures analysed now.
fn diff_side(path: &Path, cfg: &AnalyzeConfig) -> Result<Vec<dbwire::diff::DiffConn>> {
    use std::io::Read as _;
    if path.is_file() {
        let mut head = [0u8; 64];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .with_context(|| format!("{}", path.display()))?;
        // No capture format starts with '{'; a dbwire JSON report always does.
        if head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            return dbwire::diff::conns_from_json_text(&text).with_context(|| format!("{}", path.display()));
        }
    }
    let files = collect_inputs(&[path.to_path_buf()])?;
    let mut reports = Vec::new();
    for f in &files {
        let r = analyze_file(f, cfg, &mut |_| {}).with_context(|| format!("{}", f.display()))?;
        for w in &r.warnings {
            eprintln!("dbwire: warning: {}: {w}", r.path);
        }
        reports.push(r);
    }
    dbwire::diff::conns_from_reports(&reports).context("cannot read back the connection reports")
}

fn run_diff(d: &DiffArgs) -> Result<ExitCode> {
    let cfg = config_from(&d.ports, false)?;
    let before = diff_side(&d.before, &cfg)?;
    let after = diff_side(&d.after, &cfg)?;
    let result = dbwire::diff::diff(&before, &after);
    let mut out: Box<dyn Write> = match &d.output {
        Some(p) => {
            Box::new(BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    match d.format {
        DiffFormat::Table => dbwire::diff::write_table(&mut out, &result)?,
        DiffFormat::Json => dbwire::diff::write_json(&mut out, &result)?,
    }
    out.flush()?;
    Ok(ExitCode::from(code::OK))
}
