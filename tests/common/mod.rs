//! Helpers shared by the integration tests: run the real binary, read its JSON lines.

#![allow(dead_code)]

pub mod hostile;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dbwire"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/captures` beside the repository, when present (CI has it).
pub fn shared_captures() -> Option<PathBuf> {
    let p = repo().join("../shared/captures");
    if p.join("truth.jsonl").is_file() {
        return Some(p);
    }
    // A git worktree elsewhere on the same machine.
    let alt = PathBuf::from("/work/shared/captures");
    alt.join("truth.jsonl").is_file().then_some(alt)
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).env("NO_COLOR", "1").output().expect("run dbwire")
}

/// Run the binary with extra environment variables.
#[allow(dead_code)]
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = bin();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run dbwire")
}

pub fn run_jsonl(paths: &[&Path], extra: &[&str]) -> (Vec<serde_json::Value>, Output) {
    let mut cmd = bin();
    cmd.env("NO_COLOR", "1").arg("--format").arg("jsonl").arg("--quiet");
    cmd.args(extra);
    for p in paths {
        cmd.arg(p);
    }
    let out = cmd.output().expect("run dbwire");
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    (rows, out)
}

pub fn file_name(v: &serde_json::Value) -> String {
    let p = v["capture"].as_str().unwrap_or_default();
    Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn assert_no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "dbwire panicked:\n{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "dbwire printed a backtrace hint:\n{err}");
}
