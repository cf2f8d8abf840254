#!/usr/bin/env bash
# Record real TLS handshakes between `openssl s_server` and `openssl s_client` as raw
# per-direction byte streams for the tracker tests (src/tls/tests.rs).
#
# For each case a tiny Python relay sits between client and server and writes what
# each side sent to tests/fixtures/tls/<case>.c2s and <case>.s2c. Certificates are made
# fresh by a throwaway CA with fixed names and validity; their PEMs are written next to
# the streams so the tests can compare fingerprints. Re-running changes keys, random
# values and fingerprints, never the facts the tests assert.
#
# Needs: bash, openssl (1.1.1 or 3.x), python3.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/tests/fixtures/tls"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- throwaway CA and server certificates -------------------------------------------
mkdir -p ca/newcerts
: > ca/index.txt
echo 1000 > ca/serial
cat > ca.cnf <<CNF
[ ca ]
default_ca = CA_test
[ CA_test ]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
organizationName = optional
commonName = supplied
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:db.test.local,DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

sign() { # sign <csr> <out> <extensions> [extra ca args...]
    local csr=$1 crt=$2 ext=$3
    shift 3
    openssl ca -batch -config ca.cnf -notext -in "$csr" -out "$crt" -extensions "$ext" \
        -startdate 20250101000000Z -enddate 20350101000000Z "$@" 2>/dev/null
}

openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -new -key ca.key -subj "/O=dbwire tests/CN=dbwire Test CA" -out ca.csr
sign ca.csr ca.pem v3_ca -selfsign -keyfile ca.key

openssl genrsa -out rsa.key 2048 2>/dev/null
openssl req -new -key rsa.key -subj "/O=dbwire tests/CN=db.test.local" -out rsa.csr
sign rsa.csr server-rsa.pem v3_server -cert ca.pem -keyfile ca.key

openssl ecparam -name prime256v1 -genkey -noout -out ec.key
openssl req -new -key ec.key -subj "/O=dbwire tests/CN=db.test.local" -out ec.csr
sign ec.csr server-ec.pem v3_server -cert ca.pem -keyfile ca.key

cp ca.pem server-rsa.pem server-ec.pem "$out/"

# --- relay: forwards one connection and records each direction ----------------------
cat > relay.py <<'PY'
import socket, sys, threading
listen_port, server_port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port)); ls.listen(1)
print("ready", flush=True)
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", server_port))
def pump(src, dst, path):
    with open(path, "wb") as f:
        while True:
            try:
                b = src.recv(65536)
            except OSError:
                b = b""
            if not b:
                break
            f.write(b)
            try:
                dst.sendall(b)
            except OSError:
                break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
t = [threading.Thread(target=pump, args=(c, s, prefix + ".c2s")),
     threading.Thread(target=pump, args=(s, c, prefix + ".s2c"))]
for x in t: x.start()
for x in t: x.join()
PY

port=$((20000 + RANDOM % 20000))
record() { # record <case> "<server args>" "<client args>"
    local name=$1 sargs=$2 cargs=$3
    local sport=$port rport=$((port + 1))
    port=$((port + 2))
    # shellcheck disable=SC2086
    openssl s_server -accept "127.0.0.1:$sport" -naccept 1 -rev -quiet $sargs \
        >"$name.server.log" 2>&1 &
    local spid=$!
    python3 relay.py "$rport" "$sport" "$out/$name" >"$name.relay.log" 2>&1 &
    local rpid=$!
    sleep 0.5
    # shellcheck disable=SC2086
    (printf 'SELECT 1;\n'; sleep 0.7) |
        openssl s_client -connect "127.0.0.1:$rport" $cargs >"$name.client.log" 2>&1 || true
    wait "$rpid" || true
    wait "$spid" 2>/dev/null || true
    printf '%-16s c2s %6d  s2c %6d bytes\n' "$name" \
        "$(wc -c <"$out/$name.c2s")" "$(wc -c <"$out/$name.s2c")"
}

rsa="-cert server-rsa.pem -key rsa.key"
ec="-cert server-ec.pem -key ec.key"

# TLS 1.2, forced cipher (0xc02f), SNI and ALPN.
record tls12_rsa "$rsa -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -alpn postgresql" \
    "-tls1_2 -servername db.test.local -alpn postgresql,http/1.1"
# TLS 1.2 with the chain and every record cut to 512 bytes: Certificate spans records.
record tls12_frag "$rsa -cert_chain ca.pem -tls1_2 -max_send_frag 512 -cipher ECDHE-RSA-AES256-GCM-SHA384" \
    "-tls1_2 -servername db.test.local"
# TLS 1.2 with an EC P-256 certificate (0xc02c).
record tls12_ec "$ec -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384" \
    "-tls1_2 -servername db.test.local -alpn tds/8.0"
# TLS 1.3, one cipher suite (0x1301).
record tls13 "$rsa -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 -alpn postgresql" \
    "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 -servername db.test.local -alpn postgresql"
# TLS 1.3 HelloRetryRequest: the client's X25519 key share is refused.
record tls13_hrr "$rsa -tls1_3 -groups P-256" \
    "-tls1_3 -groups X25519:P-256 -servername db.test.local"
