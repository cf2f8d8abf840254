//! Live capture on the loopback interface (`cargo test --features live`, as root).
//!
//! `scripts/live-servers.sh` starts real PostgreSQL 15 and MariaDB servers with TLS on
//! 127.0.0.1:15432 and 127.0.0.1:13306; dbwire captures on `lo` while the real clients
//! (psql, mariadb) connect with and without TLS, and the verdicts it streams as JSON lines
//! are checked against what each client was told to do. Without root, libpcap or the
//! servers, the tests say why and pass without checking anything.

#![cfg(feature = "live")]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Shown in the test output even when cargo captures it (direct write to stderr).
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "live capture test: {msg}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// The servers of `scripts/live-servers.sh`; stopped (and their folder removed) on drop.
struct Servers {
    dir: PathBuf,
    facts: BTreeMap<String, String>,
}

impl Servers {
    fn start() -> Result<Servers, String> {
        let dir = std::env::temp_dir().join(format!("dbwire-live-{}", std::process::id()));
        let script = common::repo().join("scripts/live-servers.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let facts = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Ok(Servers { dir, facts })
    }

    fn get(&self, key: &str) -> &str {
        self.facts.get(key).map(String::as_str).unwrap_or_else(|| panic!("live-servers.sh did not print {key}"))
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let script = common::repo().join("scripts/live-servers.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(&self.dir).stdin(Stdio::null()).output();
    }
}

/// dbwire capturing live, its stdout and stderr read line by line as they come.
struct Capture {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
}

fn lines_of(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Capture {
    /// Start dbwire with `args` and wait until it says it is capturing.
    fn start(args: &[&str]) -> Capture {
        let mut child = common::bin()
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dbwire");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let mut cap = Capture { child, stdout, stderr, stderr_seen: Vec::new() };
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            match cap.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let ready = line.contains("capturing on");
                    cap.stderr_seen.push(line);
                    if ready {
                        return cap;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = cap.child.kill();
        let _ = cap.child.wait();
        panic!("dbwire {args:?} did not start capturing:\n{}", cap.stderr_seen.join("\n"));
    }

    /// JSON lines that arrived so far.
    fn take_rows(&mut self, rows: &mut Vec<Value>) {
        while let Ok(line) = self.stdout.try_recv() {
            rows.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")));
        }
    }

    /// Wait for dbwire to end by itself (generous bound: a hung capture fails the test
    /// instead of hanging it). Returns the exit code and everything it still printed.
    fn wait(mut self) -> (Option<i32>, String, String) {
        let until = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for dbwire") {
                break s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("dbwire did not stop:\n{}", self.stderr_seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout: Vec<String> = self.stdout.iter().collect();
        self.stderr_seen.extend(self.stderr.iter());
        (status.code(), stdout.join("\n"), self.stderr_seen.join("\n"))
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} failed");
    }
}

fn run_client(cmd: &mut Command, what: &str) {
    let out: Output = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql(s: &Servers, sslmode: &str, query: &str) -> Command {
    let mut c = Command::new(s.get("PSQL"));
    c.arg("-X")
        .arg("-q")
        .arg(format!(
            "host=127.0.0.1 port={} dbname={} user={} sslmode={sslmode}",
            s.get("PG_PORT"),
            s.get("DATABASE"),
            s.get("USER")
        ))
        .arg("-c")
        .arg(query)
        .env("PGPASSWORD", s.get("PASSWORD"))
        .env("PGGSSENCMODE", "disable")
        .env_remove("PGSSLMODE");
    c
}

fn mariadb(s: &Servers, tls: bool, query: &str) -> Command {
    let mut c = Command::new(s.get("MARIADB"));
    c.args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", s.get("MY_PORT"), "-u", s.get("USER")])
        .arg(format!("-p{}", s.get("PASSWORD")))
        .args(["-D", s.get("DATABASE")])
        .arg(if tls { "--ssl" } else { "--skip-ssl" })
        .args(["-e", query]);
    c
}

/// Our servers' connections (the default filter also lets other database traffic on
/// this machine through).
fn ours<'a>(rows: &'a [Value], pg_port: &str, my_port: &str) -> Vec<&'a Value> {
    let ports = [format!(":{pg_port}"), format!(":{my_port}")];
    rows.iter().filter(|r| ports.iter().any(|p| r["server"].as_str().unwrap_or("").ends_with(p.as_str()))).collect()
}

fn one<'a>(rows: &[&'a Value], server_port: &str, encryption: &str) -> &'a Value {
    let found: Vec<&Value> = rows
        .iter()
        .copied()
        .filter(|r| {
            r["server"].as_str().unwrap_or("").ends_with(&format!(":{server_port}")) && r["encryption"] == encryption
        })
        .collect();
    assert_eq!(found.len(), 1, "expected one {encryption} connection to port {server_port}, got {found:#?}");
    found[0]
}

/// The verdicts for the four client runs: TLS 1.3 after the engine's upgrade request for
/// the TLS clients, the query in the clear (literals redacted) for the plaintext ones.
fn check_verdicts(rows: &[&Value], pg_port: &str, my_port: &str) {
    assert_eq!(rows.len(), 4, "expected 4 connections, got {rows:#?}");

    let pg_tls = one(rows, pg_port, "tls");
    assert_eq!(pg_tls["engine"], "postgresql");
    assert_eq!(pg_tls["tls"]["upgrade"], "pg-sslrequest");
    assert_eq!(pg_tls["tls"]["version"], "TLSv1.3");
    assert!(pg_tls["plaintext"].is_null(), "{pg_tls:#}");

    let pg_plain = one(rows, pg_port, "plaintext");
    assert_eq!(pg_plain["engine"], "postgresql");
    assert!(pg_plain["tls"].is_null());
    let q = &pg_plain["plaintext"]["queries"];
    assert_eq!(q[0], "SELECT ? AS probe, ? AS answer", "{pg_plain:#}");
    assert_eq!(pg_plain["credentials"]["user"], "app");

    let my_tls = one(rows, my_port, "tls");
    assert_eq!(my_tls["engine"], "mysql");
    assert_eq!(my_tls["tls"]["upgrade"], "mysql-ssl-request");
    assert!(my_tls["tls"]["version"].as_str().is_some_and(|v| v.starts_with("TLSv1.")), "{my_tls:#}");
    assert!(my_tls["plaintext"].is_null(), "{my_tls:#}");

    let my_plain = one(rows, my_port, "plaintext");
    assert_eq!(my_plain["engine"], "mysql");
    assert_eq!(my_plain["plaintext"]["queries"][0], "SELECT ? AS probe", "{my_plain:#}");
    assert_eq!(my_plain["credentials"]["user"], "app");

    for r in rows {
        assert_eq!(r["capture"], "live:lo");
        assert_eq!(r["handshake_seen"], true, "{r:#}");
    }
}

fn link_type_of_pcap(p: &Path) -> u32 {
    let b = std::fs::read(p).expect("read the --write file");
    assert!(b.len() >= 24, "{} is too short for a pcap header", p.display());
    // Classic pcap header, written in host byte order; the link type is at offset 20.
    let le = b[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let lt = [b[20], b[21], b[22], b[23]];
    if le {
        u32::from_le_bytes(lt)
    } else {
        u32::from_be_bytes(lt)
    }
}

#[test]
fn live_capture_of_real_servers_on_loopback() {
    let started = Instant::now();
    if !is_root() {
        say("skipped: not root (capturing on lo needs root)");
        return;
    }
    let servers = match Servers::start() {
        Ok(s) => s,
        Err(why) => {
            say(&format!("skipped: the test servers could not start: {why}"));
            return;
        }
    };
    say(&format!("servers up after {:.1} s", started.elapsed().as_secs_f64()));
    let (pg_port, my_port) = (servers.get("PG_PORT").to_string(), servers.get("MY_PORT").to_string());
    let tmp = tempfile::tempdir().expect("temp dir");
    let saved = tmp.path().join("live.pcap");

    // 1. Default filter widened by --port, JSON lines streamed, stopped with Ctrl-C.
    let pg_hint = format!("postgresql={pg_port}");
    let my_hint = format!("mysql={my_port}");
    let mut cap = Capture::start(&[
        "--interface",
        "lo",
        "--duration",
        "120s",
        "--format",
        "jsonl",
        "--port",
        &pg_hint,
        "--port",
        &my_hint,
        "--write",
        saved.to_str().expect("UTF-8 temp path"),
    ]);
    let filter_line = cap.stderr_seen.join("\n");
    assert!(filter_line.contains("port 15432") && filter_line.contains("port 5432"), "{filter_line}");
    run_client(&mut psql(&servers, "require", "SELECT 'live-tls' AS probe"), "psql sslmode=require");
    run_client(&mut psql(&servers, "disable", "SELECT 'live-plain' AS probe, 42 AS answer"), "psql sslmode=disable");
    run_client(&mut mariadb(&servers, true, "SELECT 'live-tls' AS probe"), "mariadb --ssl");
    run_client(&mut mariadb(&servers, false, "SELECT 'live-plain' AS probe"), "mariadb --skip-ssl");

    // Each connection is written when it has ended (FIN, then a few seconds' linger),
    // while the capture still runs.
    let mut streamed = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while ours(&streamed, &pg_port, &my_port).len() < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        cap.take_rows(&mut streamed);
    }
    let before_stop = ours(&streamed, &pg_port, &my_port).len();
    cap.signal("INT");
    let (code, rest, stderr) = cap.wait();
    assert_eq!(code, Some(0), "exit code after Ctrl-C; stderr:\n{stderr}");
    assert!(stderr.contains("stopped after"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for line in rest.lines().filter(|l| !l.trim().is_empty()) {
        streamed.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")));
    }
    let rows = ours(&streamed, &pg_port, &my_port);
    check_verdicts(&rows, &pg_port, &my_port);
    assert_eq!(before_stop, 4, "connections must be written as they end, not only at the stop");

    // 2. --write saved what was captured: lo is Ethernet (1), and reading the file back
    //    gives the same verdicts.
    assert_eq!(link_type_of_pcap(&saved), 1);
    let (file_rows, out) = common::run_jsonl(&[&saved], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let file_ours = ours(&file_rows, &pg_port, &my_port);
    assert_eq!(file_ours.len(), 4);
    for r in &file_ours {
        let live = rows.iter().find(|l| l["client"] == r["client"]).expect("same connection live");
        assert_eq!(live["encryption"], r["encryption"]);
        assert_eq!(live["tls"]["version"], r["tls"]["version"]);
        assert_eq!(live["plaintext"]["queries"], r["plaintext"]["queries"]);
    }

    // 3. --count: stops by itself after that many packets, full report as for files.
    let pg_only = format!("tcp port {pg_port}");
    let cap = Capture::start(&["-i", "lo", "--filter", &pg_only, "--count", "5", "--format", "json"]);
    run_client(&mut psql(&servers, "disable", "SELECT 1"), "psql for --count");
    let (code, json, stderr) = cap.wait();
    assert_eq!(code, Some(0), "{stderr}");
    let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON {e}: {json}"));
    assert_eq!(doc["summary"]["packets"], 5, "{json}");
    assert_eq!(doc["captures"][0]["path"], "live:lo");

    // 4. --duration on a quiet filter: the loop notices the end although no packet comes.
    let cap = Capture::start(&["-i", "lo", "--filter", "tcp port 13306 and tcp port 15432", "--duration", "1s"]);
    let (code, table, stderr) = cap.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("duration reached after 0 packet(s)"), "{stderr}");
    assert!(table.contains("0 database connection(s)"), "{table}");

    drop(servers);
    say(&format!(
        "4 live verdicts checked, --write, --count and --duration in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}

/// An unprivileged user is told how to get the right to capture; nothing else is printed.
#[test]
fn unprivileged_capture_says_root_or_setcap() {
    if !is_root() {
        // Already unprivileged: run directly.
        let out = common::run(&["-i", "lo", "--duration", "1s"]);
        check_permission_message(&out);
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        say("skipped permission check: setpriv not installed");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_dbwire"))
        .args(["-i", "lo", "--duration", "1s"])
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && !err.contains("dbwire") {
        say("skipped permission check: user nobody cannot run the test binary here");
        return;
    }
    check_permission_message(&out);
}

fn check_permission_message(out: &Output) {
    common::assert_no_panic(out);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(err.contains("no permission to capture on lo"), "{err}");
    assert!(err.contains("root") && err.contains("setcap cap_net_raw,cap_net_admin=eip"), "{err}");
}

#[test]
fn unknown_interface_and_bad_filter_are_one_line_errors() {
    if !is_root() {
        say("skipped interface/filter checks: not root");
        return;
    }
    let out = common::run(&["-i", "nosuch-if0", "--duration", "1s"]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no interface \"nosuch-if0\"") && err.contains("lo"), "{err}");

    let out = common::run(&["-i", "lo", "--filter", "tcp port", "--duration", "1s"]);
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not valid BPF"), "{err}");
}
