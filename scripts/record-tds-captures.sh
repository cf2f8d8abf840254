#!/usr/bin/env bash
# record-tds-captures.sh - record the small SQL Server (TDS) test captures in captures/
#
# Usage:   sudo scripts/record-tds-captures.sh [OUTDIR]     (default: captures/ of this repo)
#
# No SQL Server runs on Linux here, so real client libraries talk to a minimal scripted
# peer (scripts/tds-peer.py) that answers PRELOGIN, runs a real TLS handshake with
# Python's ssl (wrapped in TDS PRELOGIN packets, or TLS first for TDS 8.0 strict), and
# answers LOGIN7 with LOGINACK + DONE and every batch with DONE. What the clients send is
# what they really send:
#   - FreeTDS tsql (Debian freetds-bin, GnuTLS): `encryption = off` (PRELOGIN
#     ENCRYPT_NOT_SUP, LOGIN7 in clear), default `request` (ENCRYPT_OFF: login-only TLS
#     when the server also says OFF), `require` (ENCRYPT_ON: full TLS);
#   - pymssql (bundles FreeTDS 1.5 with OpenSSL): `encryption = strict` (TDS 8.0).
# A throwaway self-signed certificate (CN=sql.dbwire.test) is made with openssl in a temp
# dir; no key material is kept. Captures are taken with tcpdump on lo, ports 1433 and
# 14330-14339 only, and each one is checked with tshark before anything is written.
#
# The facts each recording set up are written as rows of OUTDIR/expected.jsonl (rows of
# other captures are kept; earlier tds-* rows are replaced).
#
# Requirements (Debian 12), as root:
#   apt-get install -y freetds-bin tcpdump tshark openssl python3
#   pip install pymssql
# Runtime: about 20 s.
set -Eeuo pipefail
umask 022

die() { echo "record-tds-captures: ERROR: $*" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

SCRIPT_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=${1:-$REPO_DIR/captures}
PEER=$SCRIPT_DIR/tds-peer.py
APP_PW=app-pw-not-secret
LEGACY_PW=hunter2-not-secret
Q_SELECT="SELECT * FROM accounts WHERE email = 'alice@example.com' AND card = '4111-1111-1111-1111'"
Q_UPDATE="UPDATE accounts SET balance = balance + 10 WHERE email = 'bob@example.com'"

[[ $EUID -eq 0 ]] || die "must run as root (tcpdump on lo)"
for t in openssl tcpdump tshark python3 tsql; do command -v "$t" >/dev/null || die "missing $t (see the header)"; done
python3 -c 'import pymssql' 2>/dev/null || die "missing the pymssql Python package (see the header)"

for port in 1433 14331 14332 14333 14334; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is already in use by something this script did not start"
  fi
done

WORK=$(mktemp -d /tmp/record-tds.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n ${KEEP_TMP:-} ]] && { echo "kept $WORK" >&2; return; }
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/cap" "$WORK/logs"
cd "$WORK"

openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 3650 \
  -subj "/CN=sql.dbwire.test" -addext "subjectAltName=DNS:sql.dbwire.test,IP:127.0.0.1" 2>/dev/null
cat >freetds.conf <<EOF
[global]
	tds version = auto
[notsup]
	host = 127.0.0.1
	port = 14332
	encryption = off
[require]
	host = 127.0.0.1
	port = 14333
	encryption = require
[strict]
	host = 127.0.0.1
	port = 1433
	encryption = strict
	tds version = 8.0
	ca file = $WORK/cert.pem
EOF
export FREETDSCONF=$WORK/freetds.conf
unset TDSVER TDSPORT TDSHOST TDSDUMP

# record NAME PORT MODE CLIENT... - record_once, again (at most 3 tries) when the capture
# misses the connection's SYN (tcpdump on a busy machine may attach late)
record() {
  local try
  for try in 1 2 3; do
    record_once "$@"
    [[ -n $(tcpdump -nr "cap/$1" 'tcp[tcpflags] == tcp-syn' 2>/dev/null) ]] && return 0
    log "$1: SYN not captured (try $try), recording again"
  done
  die "$1: could not capture the whole connection"
}
record_once() {
  local name=$1 port=$2 mode=$3; shift 3
  log "case $name (peer $mode on $port)"
  tcpdump -i lo -U -w "cap/$name" -s 262144 "tcp port $port" >"logs/tcpdump-$name.log" 2>&1 &
  local tpid=$!
  PIDS+=("$tpid")
  for _ in $(seq 50); do grep -q 'listening on' "logs/tcpdump-$name.log" && break; sleep 0.1; done
  sleep 0.5
  : >"logs/peer-$name.out"
  python3 "$PEER" --port "$port" --mode "$mode" --cert cert.pem --key key.pem >"logs/peer-$name.out" \
    2>"logs/peer-$name.err" &
  local ppid=$!
  PIDS+=("$ppid")
  for _ in $(seq 50); do grep -q listening "logs/peer-$name.out" && break; sleep 0.1; done
  "$@" >"logs/client-$name.log" 2>&1 || { cat "logs/client-$name.log" >&2; die "client failed in $name"; }
  wait "$ppid" || true
  sleep 0.5
  kill -INT "$tpid"; wait "$tpid" || true
  cat "logs/peer-$name.err" >&2
  grep -q error "logs/peer-$name.err" && die "peer error in $name"
  return 0
}
tsql_run() { # tsql ARGS... - the two test batches, then exit
  printf '%s\ngo\n%s\ngo\nexit\n' "$Q_SELECT" "$Q_UPDATE" | timeout 20 tsql "$@"
}
pymssql_run() { # SERVER - the two test statements through pymssql
  timeout 20 python3 - "$1" "$Q_SELECT" "$Q_UPDATE" <<'EOF'
import sys, pymssql
c = pymssql.connect(server=sys.argv[1], user="app", password="app-pw-not-secret", database="shop")
cur = c.cursor()
for q in sys.argv[2:]:
    cur.execute(q)
c.close()
EOF
}

record tds-login-only.pcap 14331 off tsql_run -H 127.0.0.1 -p 14331 -U app -P "$APP_PW"
record tds-cleartext-login.pcap 14332 off tsql_run -S notsup -U legacy -P "$LEGACY_PW"
record tds-tls12.pcap 14333 on tsql_run -S require -U app -P "$APP_PW"
record tds-server-not-sup.pcap 14334 not-sup tsql_run -H 127.0.0.1 -p 14334 -U app -P "$APP_PW"
record tds8-strict-1433.pcap 1433 strict pymssql_run strict

log "checking with tshark"
python3 "$SCRIPT_DIR/tds-capture-facts.py" "$WORK/cap" >"$WORK/tds-expected.jsonl" || die "verification failed"

mkdir -p "$OUTDIR"
for f in cap/*.pcap; do install -m 0644 "$f" "$OUTDIR/$(basename "$f")"; done
touch "$OUTDIR/expected.jsonl"
grep -v -E '"capture": "tds8?-' "$OUTDIR/expected.jsonl" >"$WORK/other.jsonl" || true
cat "$WORK/other.jsonl" "$WORK/tds-expected.jsonl" >"$OUTDIR/expected.jsonl"
log "done:"
ls -l "$OUTDIR"/tds*.pcap >&2
