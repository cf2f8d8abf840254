#!/usr/bin/env bash
# bench/run.sh - dbwire against the tools people would use instead, on one capture.
#
# Usage:  bench/run.sh [WORKLOAD.pcap]
#
# Without an argument the workload is target/bench/workload-${SIZE_MB}mb.pcap, made on
# first use by ../shared/bench/make-workload.sh (real PostgreSQL 15 + MariaDB traffic on
# loopback; needs root, postgresql, mariadb-server, tcpdump, openssl). When that script
# is absent, pass a capture instead.
#
# On the same file, in one run, each command RUNS times (interleaved, page cache warm):
#   dbwire --threads 1, dbwire --threads $(nproc)      (JSON lines to /dev/null)
#   tcpdump -r F -w /dev/null                           (pcap read + rewrite floor)
#   tshark TLS one-liner (BASELINE.md's query; TSHARK_RUNS times, 0 skips it)
#   cat F > /dev/null                                   (I/O floor)
# and prints a Markdown table: median wall time, MB/s, packets/s, CPU time, peak RSS,
# then the ratios dbwire/tcpdump and dbwire/tshark (speed: their time / our time).
#
# Environment:
#   SIZE_MB=1000      size of the generated workload
#   RUNS=5            repetitions of the fast commands (0: only the SCALE check)
#   TSHARK_RUNS=1     repetitions of tshark (about 70 s per run on 1 GB)
#   SCALE=N           also build an N-times-longer capture (time-shifted copies joined
#                     with editcap/mergecap) and report dbwire's peak RSS on it
#   DBWIRE=path       binary to measure (default: cargo build --release, target/release)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

SIZE_MB=${SIZE_MB:-1000}
RUNS=${RUNS:-5}
TSHARK_RUNS=${TSHARK_RUNS:-1}
SCALE=${SCALE:-}
NPROC=$(nproc)

die() { echo "bench: $*" >&2; exit 2; }
need() { command -v "$1" >/dev/null || die "$1 not found (apt-get install -y $2)"; }
need tcpdump tcpdump
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install -y time)"
((TSHARK_RUNS == 0)) || need tshark tshark

if [[ $# -ge 1 ]]; then
  F=$1
  [[ -f $F ]] || die "$F: no such file"
else
  mkdir -p target/bench
  F=target/bench/workload-${SIZE_MB}mb.pcap
  if [[ ! -f $F ]]; then
    MAKE=${MAKE_WORKLOAD:-$REPO/../shared/bench/make-workload.sh}
    [[ -f $MAKE ]] || die "no workload given and $MAKE is absent.
  Pass a capture: bench/run.sh FILE.pcap, or set MAKE_WORKLOAD=/path/to/make-workload.sh"
    echo "bench: generating a ${SIZE_MB} MB workload with $MAKE (takes about $((SIZE_MB / 7 + 20)) s)" >&2
    SIZE_MB=$SIZE_MB bash "$MAKE" "$F" >&2
  fi
fi

if [[ -z ${DBWIRE:-} ]]; then
  cargo build --release --quiet
  DBWIRE=$REPO/target/release/dbwire
fi

BYTES=$(stat -c %s "$F")
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
cat "$F" > /dev/null # warm the page cache
PACKETS=$("$DBWIRE" --threads 1 -q -f json "$F" | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["packets"])')
CONNS=$("$DBWIRE" --threads 1 -q -f jsonl "$F" | wc -l)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# measure NAME CMD...: one timed run; appends "wall user sys maxrss_kb" to $TMP/NAME.
measure() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S %M' -o "$TMP/time" "$@" > /dev/null 2> /dev/null || true
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 )) $(cat "$TMP/time")" >> "$TMP/$name"
}

TSHARK=(tshark -r "$F" -d tcp.port==55432,pgsql -d tcp.port==53306,mysql
        -Y 'tls.handshake.type==2' -T fields -e tcp.stream -e tls.handshake.ciphersuite)
NAMES=("dbwire-1" "dbwire-$NPROC" "tcpdump" "cat")
echo "bench: $F ($MB MB, $PACKETS packets, $CONNS database connections), $RUNS runs" >&2
for ((r = 1; r <= RUNS; r++)); do
  measure "dbwire-1" "$DBWIRE" --threads 1 -q -f jsonl "$F"
  measure "dbwire-$NPROC" "$DBWIRE" --threads "$NPROC" -q -f jsonl "$F"
  measure tcpdump tcpdump -r "$F" -w /dev/null
  measure cat sh -c 'exec cat "$1"' sh "$F"
done
if ((TSHARK_RUNS > 0)); then
  NAMES+=("tshark")
  for ((r = 1; r <= TSHARK_RUNS; r++)); do measure tshark "${TSHARK[@]}"; done
fi

# median wall (µs), median cpu (s), max rss (KiB)
stats() {
  awk '{ w[NR] = $1; c[NR] = $2 + $3; if ($4 > m) m = $4 }
       END { n = asort(w); asort(c); i = int((n + 1) / 2); printf "%d %.3f %d\n", w[i], c[i], m }' "$TMP/$1"
}

declare -A WALL
if ((RUNS > 0)); then
echo
echo "| command | wall median s | MB/s | packets/s | CPU median s | peak RSS MiB |"
echo "| --- | --- | --- | --- | --- | --- |"
for n in "${NAMES[@]}"; do
  read -r w c m < <(stats "$n")
  WALL[$n]=$w
  case $n in
    dbwire-1) label="dbwire --threads 1" ;;
    dbwire-*) label="dbwire --threads $NPROC" ;;
    tcpdump) label="tcpdump -r F -w /dev/null" ;;
    tshark) label="tshark -Y 'tls.handshake.type==2' -T fields …" ;;
    cat) label="cat F > /dev/null" ;;
  esac
  awk -v l="$label" -v w="$w" -v c="$c" -v m="$m" -v b="$BYTES" -v p="$PACKETS" 'BEGIN {
    s = w / 1e6; printf "| %s | %.3f | %.0f | %.2f M | %s | %.1f |\n", l, s, b / 1e6 / s, p / s / 1e6, c, m / 1024 }'
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for n in "dbwire-1" "dbwire-$NPROC"; do
  line="$n: ×tcpdump $(ratio "${WALL[tcpdump]}" "${WALL[$n]}") (goal ≥ 0.5)"
  [[ -n ${WALL[tshark]:-} ]] && line+=", ×tshark $(ratio "${WALL[tshark]}" "${WALL[$n]}")"
  echo "- $line"
done
echo "- speed-up 1 → $NPROC threads: $(ratio "${WALL[dbwire-1]}" "${WALL[dbwire-$NPROC]}")"
echo "- load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $NPROC cores"
fi

if [[ -n $SCALE ]]; then
  need editcap wireshark-common
  need mergecap wireshark-common
  mkdir -p target/bench
  BIG=target/bench/$(basename "${F%.pcap}")-x$SCALE.pcap
  if [[ ! -f $BIG ]]; then
    # Copy k is shifted by k × (span + 60 s) so copies follow one another in time.
    span=$(tcpdump -tt -r "$F" 2>/dev/null | awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%d", b - a + 60 }')
    parts=()
    for ((k = 0; k < SCALE; k++)); do
      editcap -t $((k * span)) "$F" "$TMP/part$k.pcap"
      parts+=("$TMP/part$k.pcap")
    done
    mergecap -a -F pcap -w "$BIG" "${parts[@]}"
    rm -f "${parts[@]}"
  fi
  for t in 1 "$NPROC"; do
    for f in "$F" "$BIG"; do
      /usr/bin/time -f '%e %M' -o "$TMP/big" "$DBWIRE" --threads "$t" -q -f jsonl "$f" > /dev/null
      read -r e m < "$TMP/big"
      awk -v f="$f" -v t="$t" -v e="$e" -v m="$m" -v b="$(stat -L -c %s "$f")" \
        'BEGIN { printf "- %s (%.0f MB), --threads %s: %.2f s, peak RSS %.1f MiB\n", f, b / 1e6, t, e, m / 1024 }'
    done
  done
fi
