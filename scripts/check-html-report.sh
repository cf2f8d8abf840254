#!/usr/bin/env bash
# Opens the HTML audit report of the shipped captures in headless Chromium, as an
# auditor would: the page must load without console messages (errors, warnings, logs),
# contain the report's sections and charts, run no script and fetch nothing. A
# screenshot is written to target/html-report/report.png (outside git) for a person to
# look at.
#
# Usage: scripts/check-html-report.sh [DBWIRE_BINARY]   (default: builds target/debug/dbwire)
set -euo pipefail
cd "$(dirname "$0")/.."

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "check-html-report: chromium not installed, skipping" >&2
  exit 0
fi

bin=${1:-}
if [[ -z $bin ]]; then
  cargo build --quiet
  bin=${CARGO_TARGET_DIR:-target}/debug/dbwire
fi

out=${CARGO_TARGET_DIR:-target}/html-report
mkdir -p "$out"
report=$(realpath "$out")/report.html
"$bin" --quiet --format html -o "$report" captures/

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$profile" --host-resolver-rules="MAP * ~NOTFOUND"
  --enable-logging=stderr --v=0)

fail() { echo "check-html-report: FAIL: $*" >&2; exit 1; }

timeout 60 "$browser" "${flags[@]}" --dump-dom "file://$report" >"$out/dom.html" 2>"$out/browser.log" \
  || fail "chromium did not render the report (see $out/browser.log)"

# Anything the page wrote to the console (errors, uncaught exceptions, CSP or
# mixed-content complaints) is a failure: the report has no script to log anything.
if grep -E ':CONSOLE[:(]' "$out/browser.log"; then
  fail "console messages while loading the report"
fi

dom="$out/dom.html"
[[ -s $dom ]] || fail "empty DOM"
for section in verdict provenance charts servers findings plaintext; do
  grep -q "id=\"$section\"" "$dom" || fail "section #$section missing"
done
# The verdict must match the recorded facts of the shipped captures (captures/expected.jsonl
# and captures/cert-expected.jsonl, one line per connection; every certificate capture is
# TLS); the TLS 1.2 certificates come from the test CA.
facts=captures/expected.jsonl
total=$(cat "$facts" captures/cert-expected.jsonl | grep -c .)
plain=$(grep -c '"encryption": "plaintext"' "$facts")
cleartext=$(grep -c '"cleartext_password_seen": true' "$facts")
verdict="$plain of $total connections in plaintext — $cleartext with cleartext credentials"
grep -qF "$verdict" "$dom" || fail "verdict banner should read: $verdict"
grep -q 'dbwire Test Root CA' "$dom" || fail "certificate issuer"
[[ $(grep -o '<svg' "$dom" | wc -l) -ge 3 ]] || fail "three inline SVG charts expected"
grep -qi '<script' "$dom" && fail "the report must not contain script"
grep -Eqi '(src|href)="?(https?:)?//|url\((https?:)?//|@import' "$dom" && fail "the report references the network"

timeout 60 "$browser" "${flags[@]}" --window-size=1280,2400 --hide-scrollbars \
  --screenshot="$(realpath "$out")/report.png" "file://$report" >/dev/null 2>>"$out/browser.log" \
  || fail "screenshot failed"
[[ -s $out/report.png ]] || fail "no screenshot"
echo "check-html-report: ok ($report, screenshot $out/report.png)"
