#!/usr/bin/env bash
# Runs dbwire's whole test suite. Installs what the tests need first (Debian 12, as root;
# as another user it only checks and says what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: a C toolchain for crates that build C; libpcap-dev for
# the `live` feature (live capture); real PostgreSQL 15 and MariaDB servers and clients,
# and openssl for their throwaway certificate, for the live-capture test (tests/live.rs,
# which starts the servers itself through scripts/live-servers.sh); chromium opens the
# HTML report as an auditor would (scripts/check-html-report.sh); GNU time, which
# tests/hostile.rs uses to read dbwire's peak memory.
packages=(build-essential pkg-config libpcap-dev postgresql-15 postgresql-client-15 mariadb-server
  mariadb-client openssl chromium time)
# tshark: tests/ja3_tshark.rs compares every JA3 with tshark's (skipped without it).
packages+=(tshark)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi

if dpkg-query -W -f='${Status}' libpcap-dev 2>/dev/null | grep -q "install ok installed"; then
  # Everything, live capture included (the live test skips itself unless root).
  cargo test --features live
  # The build without libpcap still works and says how to get live capture.
  cargo test --test cli
else
  echo "libpcap-dev is missing: testing without live capture" >&2
  cargo test
fi

# The HTML report in a real browser (skipped when chromium is not installed).
if command -v chromium >/dev/null 2>&1; then
  bash scripts/check-html-report.sh
else
  echo "chromium not installed: HTML report browser check skipped" >&2
fi
