#!/usr/bin/env bash
# Records the Oracle Net (TNS) test captures: captures/tns-*.pcap, and appends their
# expected verdicts to captures/expected.jsonl (replacing earlier tns-* rows).
#
# No Oracle server can run here: python-oracledb (thin mode, the real client) talks to
# the scripted listener in scripts/tns_peer.py; see captures/README.md for what is real
# and what is scripted in each file. Needs root (tcpdump on lo), python3 with
# `oracledb`, openssl, tshark. Uses only ports 1521, 2484 and 15210-15219.
#
# usage: sudo scripts/record-tns-captures.sh [OUTDIR]   (default: captures/)
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:-captures}
PEER=scripts/tns_peer.py
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$WORK"' EXIT

python3 -c 'import oracledb' 2>/dev/null || { echo "python3 module oracledb missing (pip install oracledb)" >&2; exit 1; }
for t in tcpdump tshark openssl; do command -v $t >/dev/null || { echo "$t missing" >&2; exit 1; }; done

# Throwaway CA and server certificate for TCPS; the keys die with $WORK.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=dbwire Test Root CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=db.dbwire.test" \
  -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:db.dbwire.test,IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 3650 -extfile "$WORK/san.ext" -out "$WORK/server.pem" 2>/dev/null

# record NAME PORT COMMAND... - capture one session on lo, port PORT only
record() {
  local name=$1 port=$2
  shift 2
  tcpdump -i lo -w "$WORK/$name" -U -s 262144 "tcp port $port" 2>/dev/null &
  local dump=$!
  sleep 1
  "$@"
  sleep 1
  kill "$dump"
  wait "$dump" 2>/dev/null || true
}

# real_client MODE PORT SERVICE [CAFILE] - scripted listener + python-oracledb client
real_client() {
  local mode=$1 port=$2 service=$3 ca=${4:-}
  python3 $PEER serve "$mode" "$port" "$WORK/server.pem" "$WORK/server.key" >"$WORK/peer.log" 2>&1 &
  local peer=$!
  sleep 0.5
  python3 $PEER client "$port" "$service" $ca
  wait "$peer" || true
}

record tns-plain-oracledb.pcap 1521 real_client accept 1521 SHOP
record tns-refuse-12514.pcap 15210 real_client refuse 15210 NOSUCH
record tns-tcps-2484.pcap 2484 real_client tcps 2484 SHOP "$WORK/ca.pem"
record tns-plain-sql.pcap 1521 python3 $PEER script sql 1521
record tns-nne-aes256.pcap 1521 python3 $PEER script nne 1521

# Facts, cross-checked with tshark (not with dbwire).
tsv() { tshark -r "$WORK/$1" -o tcp.desegment_tcp_streams:TRUE "${@:2}" -T fields -E separator=/t 2>/dev/null; }
ends() { tsv "$1" -Y "tcp.flags.syn==1 && tcp.flags.ack==0" -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport | head -1; }
row() { # NAME ENGINE ENCRYPTION [extra JSON members]
  local name=$1 engine=$2 enc=$3 extra=${4:-}
  read -r cip cport sip sport <<<"$(ends "$name")"
  printf '{"capture": "%s", "connection": 0, "server": "%s:%s", "client": "%s:%s", "ip_version": 4, "engine": "%s", "encryption": "%s"%s}\n' \
    "$name" "$sip" "$sport" "$cip" "$cport" "$engine" "$enc" "$extra"
}

# Check what tshark sees before writing anything down.
decode="-d tcp.port==15210,tns"
hex() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
# The real client sends its long descriptor in a DATA packet after the CONNECT.
tsv tns-plain-oracledb.pcap -Y tns -e tcp.payload | tr -d '\n' | grep -q "$(hex SERVICE_NAME=SHOP)" || { echo "plain: no descriptor" >&2; exit 1; }
tsv tns-refuse-12514.pcap $decode -Y tns.refuse_data -e tns.refuse_data | grep -q "ERR=12514" || { echo "refuse: no REFUSE" >&2; exit 1; }
tsv tns-plain-sql.pcap -Y tns -e tcp.payload | grep -q "$(hex 'SELECT * FROM')" || { echo "sql: no SQL" >&2; exit 1; }
tsv tns-nne-aes256.pcap -Y tns -e tcp.payload | grep -q deadbeef || { echo "nne: no ANO" >&2; exit 1; }
read -r tlsver cipher <<<"$(tsv tns-tcps-2484.pcap -d tcp.port==2484,tls -Y 'tls.handshake.type==2' \
  -e tls.handshake.extensions.supported_version -e tls.handshake.ciphersuite | head -1)"
[[ -n $cipher ]] || { echo "tcps: no ServerHello" >&2; exit 1; }
case $tlsver in 0x0304) tlsname=TLSv1.3 ;; *) tlsname=TLSv1.2 ;; esac
case $cipher in 0x1302) ciphername=TLS_AES_256_GCM_SHA384 ;; 0x1301) ciphername=TLS_AES_128_GCM_SHA256 ;; *) ciphername= ;; esac

{
  row tns-plain-oracledb.pcap tns plaintext ', "tns_service_name": "SHOP", "tns_connect_data_separate": true, "server_version_prefix": "x86_64/Linux"'
  row tns-refuse-12514.pcap tns plaintext ', "tns_service_name": "NOSUCH", "tns_refuse_error": 12514'
  row tns-tcps-2484.pcap tns tls ", \"upgrade\": \"direct\", \"tls_version\": \"$tlsname\", \"cipher_id\": \"$cipher\"${ciphername:+, \"cipher\": \"$ciphername\"}"
  row tns-plain-sql.pcap tns plaintext ', "tns_service_name": "SHOP", "server_version_prefix": "x86_64/Linux", "query_substring": "FROM accounts"'
  row tns-nne-aes256.pcap tns nne ', "tns_service_name": "SHOP", "nne_encryption": "AES256(17)", "nne_integrity": "SHA256(5)"'
} >"$WORK/tns-expected.jsonl"

for f in tns-plain-oracledb.pcap tns-refuse-12514.pcap tns-tcps-2484.pcap tns-plain-sql.pcap tns-nne-aes256.pcap; do
  install -m 0644 "$WORK/$f" "$OUTDIR/$f"
done
touch "$OUTDIR/expected.jsonl"
grep -v '"capture": "tns-' "$OUTDIR/expected.jsonl" >"$WORK/rest.jsonl" || true
cat "$WORK/rest.jsonl" "$WORK/tns-expected.jsonl" >"$OUTDIR/expected.jsonl"
echo "recorded: $(ls "$OUTDIR"/tns-*.pcap | xargs -n1 basename | tr '\n' ' ')"
