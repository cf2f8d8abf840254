#!/usr/bin/env bash
# Runs dbwire's whole test suite. Installs what the tests need first (Debian 12, as root;
# as another user it only checks and says what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: a C toolchain for crates that build C, and GNU time,
# which tests/hostile.rs uses to read dbwire's peak memory.
packages=(build-essential pkg-config time)
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

cargo test
