#!/usr/bin/env bash
# record-cert-captures.sh - record the certificate / TLS-quality captures captures/cert-*.pcap
#
# Usage:   sudo scripts/record-cert-captures.sh [OUTDIR]        (default: captures/ of this repo)
#
# Modelled on record-captures.sh: private throwaway PostgreSQL 15 and MariaDB servers (run as the
# 'postgres' / 'mysql' users, data in a temp dir, loopback only, ports 25432 and 23306), real
# clients (psql/libpq, mariadb), tcpdump on lo. Certificates are made here with openssl:
#
#   root CA  CN=dbwire Cert Test Root CA          RSA 2048, self-signed, 2025-01-01 -> 2045-01-01
#   inter    CN=dbwire Cert Test Intermediate CA  RSA 2048, signed by the root, same dates
#   leaves (CN=db.dbwire.test unless said otherwise), signed by the intermediate; the server
#   sends leaf + intermediate:
#     good        SAN DNS:db.dbwire.test, sha256, 2025-01-01 -> 2045-01-01
#     expired     as good, valid 2020-01-01 -> 2021-01-01
#     future      as good, valid 2040-01-01 -> 2045-01-01
#     selfsigned  self-signed leaf (not from the CA), SAN DNS:db.dbwire.test; the server sends it alone
#     sha1        as good, signed with sha1WithRSAEncryption
#     rsa1024     as good, RSA 1024 key
#     nosan       as good without subjectAltName
#
# The root certificate alone is written to OUTDIR/cert-ca-bundle.pem (for --ca-bundle tests:
# the chain only validates with the intermediate the server sends). The keys are thrown away.
# SHA-1 signatures, RSA 1024, TLS 1.0 and NULL encryption need OpenSSL security level 0: the
# servers always get an OPENSSL_CONF with `@SECLEVEL=0` and `MinProtocol = TLSv1`, the clients
# only in the cases that need it (the others show the default client offer).
#
# Facts of each recording (what was set up, cross-checked with tshark: TLS version, cipher,
# SNI, the SHA-256 of every certificate on the wire compared with the files made here, and
# tshark's JA3) go to OUTDIR/cert-expected.jsonl.
#
# Requirements: as for record-captures.sh (postgresql-15, mariadb-server, mariadb-client,
# tcpdump, tshark, openssl, python3, util-linux). Runtime: about 30 s.

set -Eeuo pipefail
umask 022

die() { echo "record-cert-captures: ERROR: $*" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

SCRIPT_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=${1:-$REPO_DIR/captures}

PG_PORT=25432
MY_PORT=23306
APP_PW=app-pw-not-secret
Q="SELECT 1"

for v in $(compgen -e); do
  case $v in PGBIN) ;; PG*|MYSQL_*|MARIADB_*|OPENSSL_*) unset "$v" ;; esac
done
[[ $EUID -eq 0 ]] || die "must run as root"
[[ -n ${PGBIN:-} ]] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
MARIADBD=$(command -v mariadbd || { [[ -x /usr/sbin/mariadbd ]] && echo /usr/sbin/mariadbd; } || true)
MY_INSTALL=$(command -v mariadb-install-db || true)
MYCLI=$(command -v mariadb || true)
MYADMIN=$(command -v mariadb-admin || true)
missing=()
for t in openssl tcpdump tshark python3 setpriv; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
for t in initdb pg_ctl postgres psql; do [[ -n $PGBIN && -x $PGBIN/$t ]] || missing+=("$t (postgresql)"); done
[[ -n $MARIADBD && -n $MY_INSTALL && -n $MYCLI && -n $MYADMIN ]] || missing+=("mariadb-server/mariadb-client")
((${#missing[@]} == 0)) || die "missing prerequisites: ${missing[*]}"
for port in $PG_PORT $MY_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi
done

WORK=$(mktemp -d /tmp/dbwire-certrec.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/cap" "$WORK/pki"
PGD=$WORK/pg MYD=$WORK/my
PG_UP=0 MY_PID= TCPDUMP_PID=

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
stop_pid() {
  local pid=$1 sig=$2 i
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
asuser() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
pg_stop() {
  ((PG_UP)) || return 0
  asuser postgres "$PGBIN/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop >>"$WORK/logs/pg_ctl.log" 2>&1 || true
  PG_UP=0
}
my_stop() { [[ -n $MY_PID ]] || return 0; stop_pid "$MY_PID" TERM; MY_PID=; }
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [[ -n $TCPDUMP_PID ]] && stop_pid "$TCPDUMP_PID" INT
  pg_stop
  my_stop
  if ((rc != 0)); then
    log "FAILED (exit $rc); logs:"
    tail -n 20 "$WORK"/logs/*.log "$PGD"/postgres.log "$MYD"/mariadbd.err >&2 2>/dev/null
  fi
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept temp dir $WORK"; else rm -rf -- "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

# Security level 0 (SHA-1, RSA 1024, TLS 1.0, NULL cipher) for the servers always, and for the
# client only in the cases that need it, so that the other recordings show a default client offer.
seclevel0_conf() { # FILE CIPHERSTRING
  cat >"$1" <<EOF
openssl_conf = dbwire_init
[dbwire_init]
ssl_conf = dbwire_ssl
[dbwire_ssl]
system_default = dbwire_sysdef
[dbwire_sysdef]
CipherString = $2
MinProtocol = TLSv1
EOF
  chmod 644 "$1"
}
SERVER_CONF=$WORK/openssl-server.cnf
WEAK_CLIENT_CONF=$WORK/openssl-client-seclevel0.cnf
NULL_CLIENT_CONF=$WORK/openssl-client-null.cnf
seclevel0_conf "$SERVER_CONF" 'ALL:eNULL:@SECLEVEL=0'
seclevel0_conf "$WEAK_CLIENT_CONF" 'DEFAULT:@SECLEVEL=0'
# an explicit list: DEFAULT and ALL delete the NULL suites for good ('!eNULL')
seclevel0_conf "$NULL_CLIENT_CONF" 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:NULL-SHA256:@SECLEVEL=0'
CLIENT_CONF=

# ---------------------------------------------------------------- certificates
log "creating certificates"
(
  cd "$WORK/pki"
  cat >ca.cnf <<'EOF'
[ ca ]
default_ca = dbwire_ca
[ dbwire_ca ]
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:db.dbwire.test
[ v3_leaf_nosan ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  : >index.txt
  echo 2000 >serial
  openssl req -new -newkey rsa:2048 -nodes -keyout root.key -subj "/CN=dbwire Cert Test Root CA" -out root.csr
  openssl ca -batch -config ca.cnf -selfsign -keyfile root.key -in root.csr -extensions v3_ca \
    -startdate 20250101000000Z -enddate 20450101000000Z -notext -out root.crt
  openssl req -new -newkey rsa:2048 -nodes -keyout inter.key -subj "/CN=dbwire Cert Test Intermediate CA" -out inter.csr
  openssl ca -batch -config ca.cnf -cert root.crt -keyfile root.key -in inter.csr -extensions v3_ca \
    -startdate 20250101000000Z -enddate 20450101000000Z -notext -out inter.crt
  leaf() { # NAME BITS MD START END EXTENSIONS
    openssl req -new -newkey "rsa:$2" -nodes -keyout "$1.key" -subj "/CN=db.dbwire.test" -out "$1.csr"
    openssl ca -batch -config ca.cnf -cert inter.crt -keyfile inter.key -in "$1.csr" -md "$3" \
      -extensions "$6" -startdate "$4" -enddate "$5" -notext -out "$1.crt"
    cat "$1.crt" inter.crt >"$1.chain"
  }
  leaf good 2048 sha256 20250101000000Z 20450101000000Z v3_leaf
  leaf expired 2048 sha256 20200101000000Z 20210101000000Z v3_leaf
  leaf future 2048 sha256 20400101000000Z 20450101000000Z v3_leaf
  leaf sha1 2048 sha1 20250101000000Z 20450101000000Z v3_leaf
  leaf rsa1024 1024 sha256 20250101000000Z 20450101000000Z v3_leaf
  leaf nosan 2048 sha256 20250101000000Z 20450101000000Z v3_leaf_nosan
  # self-signed leaf: its own issuer, not in the bundle
  openssl req -new -newkey rsa:2048 -nodes -keyout selfsigned.key -subj "/CN=db.dbwire.test" -out selfsigned.csr
  openssl ca -batch -config ca.cnf -selfsign -keyfile selfsigned.key -in selfsigned.csr -extensions v3_leaf \
    -startdate 20250101000000Z -enddate 20450101000000Z -notext -out selfsigned.crt
  cp selfsigned.crt selfsigned.chain
  openssl verify -CAfile root.crt -untrusted inter.crt good.crt
) >"$WORK/logs/openssl.log" 2>&1 || { cat "$WORK/logs/openssl.log" >&2; die "certificate creation failed"; }
PKI=$WORK/pki
chmod 644 "$PKI"/*.crt "$PKI"/*.chain
chmod 640 "$PKI"/*.key

# ---------------------------------------------------------------- PostgreSQL
log "initialising PostgreSQL on port $PG_PORT"
mkdir -p "$PGD"
echo "not-used-superuser-pw" >"$PGD/pwfile"
chown -R postgres:postgres "$PGD"
chgrp postgres "$PKI"/*.key
asuser postgres "$PGBIN/initdb" -D "$PGD/data" -U postgres --pwfile="$PGD/pwfile" -E UTF8 --locale=C \
  --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$WORK/logs/initdb.log" 2>&1 \
  || { cat "$WORK/logs/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGD/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGD'
max_connections = 10
shared_buffers = 16MB
fsync = off
ssl = on
ssl_cert_file = '$PGD/server.chain'
ssl_key_file = '$PGD/server.key'
ssl_ciphers = 'ALL:@SECLEVEL=0'
ssl_min_protocol_version = 'TLSv1'
password_encryption = 'scram-sha-256'
EOF
pg_use_cert() { # NAME - install leaf chain and key, reload
  install -o postgres -g postgres -m 644 "$PKI/$1.chain" "$PGD/server.chain"
  install -o postgres -g postgres -m 600 "$PKI/$1.key" "$PGD/server.key"
  if ((PG_UP)); then
    "$PGBIN/psql" -X -q -h "$PGD" -p $PG_PORT -U postgres -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
    sleep 0.5
  fi
}
pg_use_cert good
asuser postgres env OPENSSL_CONF="$SERVER_CONF" "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -w -t 30 start \
  >>"$WORK/logs/pg_ctl.log" 2>&1 || { tail -n 30 "$PGD/postgres.log" >&2 || true; die "postgres did not start"; }
PG_UP=1
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGD" -p $PG_PORT -U postgres -d postgres \
  -c "CREATE ROLE app LOGIN PASSWORD '$APP_PW'" >/dev/null
PGVER=$("$PGBIN/psql" -X -At -h "$PGD" -p $PG_PORT -U postgres -d postgres -c 'SHOW server_version')

# ---------------------------------------------------------------- MariaDB
log "initialising MariaDB on port $MY_PORT"
mkdir -p "$MYD/data" "$MYD/run"
install -m 644 "$PKI/good.chain" "$MYD/server.chain"
install -m 600 "$PKI/good.key" "$MYD/server.key"
chown -R mysql:mysql "$MYD"
asuser mysql "$MY_INSTALL" --no-defaults --datadir="$MYD/data" --auth-root-authentication-method=socket \
  --skip-test-db --skip-name-resolve >"$WORK/logs/mariadb-install-db.log" 2>&1 \
  || { cat "$WORK/logs/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
MYSOCK=$MYD/run/mysqld.sock
setpriv --reuid=mysql --regid=mysql --init-groups -- env OPENSSL_CONF="$SERVER_CONF" "$MARIADBD" --no-defaults \
  --datadir="$MYD/data" --port=$MY_PORT --bind-address=127.0.0.1 --socket="$MYSOCK" \
  --pid-file="$MYD/run/mysqld.pid" --log-error="$MYD/mariadbd.err" --skip-name-resolve --skip-log-bin \
  --max-connections=10 --innodb-buffer-pool-size=16M --innodb-log-file-size=8M \
  --ssl-cert="$MYD/server.chain" --ssl-key="$MYD/server.key" --tls-version=TLSv1.0,TLSv1.1,TLSv1.2,TLSv1.3 \
  >"$WORK/logs/mariadbd.out" 2>&1 &
MY_PID=$!
for ((i = 0; i < 300; i++)); do
  "$MYADMIN" --no-defaults -uroot -S "$MYSOCK" ping >/dev/null 2>&1 && break
  alive "$MY_PID" || { cat "$MYD/mariadbd.err" >&2; die "mariadbd exited during start-up"; }
  sleep 0.1
done
"$MYCLI" --no-defaults -uroot -S "$MYSOCK" -e \
  "CREATE USER 'app'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP_PW')"
MYVER=$("$MYCLI" --no-defaults -uroot -S "$MYSOCK" -N -B -e 'SELECT VERSION()')

# ---------------------------------------------------------------- capture helpers
CUR_CAP=
cap_start() { # NAME PORT
  CUR_CAP=$WORK/cap/$1
  tcpdump -i lo --immediate-mode -s 0 -Z root -U -w "$CUR_CAP" "tcp port $2" >"$WORK/logs/tcpdump-$1.log" 2>&1 &
  TCPDUMP_PID=$!
  for ((i = 0; i < 100; i++)); do
    grep -q 'listening on' "$WORK/logs/tcpdump-$1.log" 2>/dev/null && break
    alive "$TCPDUMP_PID" || die "tcpdump failed to start"
    sleep 0.1
  done
  sleep 0.5
}
cap_stop() { sleep 0.7; stop_pid "$TCPDUMP_PID" INT; TCPDUMP_PID=; (($(stat -c %s "$CUR_CAP") > 24)) || die "no packets in $CUR_CAP"; }
pgc() { # CONNINFO
  PGGSSENCMODE=disable OPENSSL_CONF=${CLIENT_CONF:-/etc/ssl/openssl.cnf} timeout 20 "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$1" -c "$Q" \
    >"$WORK/logs/client.out" 2>&1 || { cat "$WORK/logs/client.out" >&2; die "psql failed: $1"; }
}
myc() {
  OPENSSL_CONF=${CLIENT_CONF:-/etc/ssl/openssl.cnf} timeout 20 "$MYCLI" --no-defaults --protocol=TCP -h 127.0.0.1 -P $MY_PORT -u app -p"$APP_PW" "$@" -e "$Q" \
    >"$WORK/logs/client.out" 2>&1 || { cat "$WORK/logs/client.out" >&2; die "mariadb failed: $*"; }
}
# facts NAME CERTNAME ENGINE SERVER SNI TLSVERSION CIPHERID - check with tshark, write one JSON line
facts() {
  python3 - "$WORK/cap/$1" "$1" "$PKI/$2.chain" "$3" "$4" "$5" "$6" "$7" >>"$WORK/cert-expected.jsonl" <<'PY' \
    || die "verification of $1 failed"
import hashlib, json, re, ssl, subprocess, sys
cap, name, chain_file, engine, server, sni, version, cipher_id = sys.argv[1:]
port = server.rsplit(':', 1)[1]
decode = ['-d', f'tcp.port=={port},pgsql'] if engine == 'postgresql' else ['-d', f'tcp.port=={port},mysql']
def fields(*f, flt):
    out = subprocess.run(['tshark', '-r', cap, *decode, '-Y', flt, '-T', 'fields', '-E', 'separator=|',
                          '-E', 'aggregator=,', *sum((['-e', x] for x in f), [])],
                         check=True, capture_output=True, text=True).stdout
    return [l.split('|') for l in out.splitlines() if l.strip()]
ch = fields('tls.handshake.extensions_server_name', 'tls.handshake.ja3', 'tls.handshake.ja3_full',
            flt='tls.handshake.type == 1')
sh = fields('tls.handshake.version', 'tls.handshake.ciphersuite', 'tls.handshake.extensions.supported_version',
            flt='tls.handshake.type == 2')
ce = fields('tls.handshake.certificate', flt='tls.handshake.type == 11')
assert len(ch) == 1 and len(sh) == 1 and len(ce) == 1, (ch, sh, ce)
got_sni = ch[0][0] or None
assert got_sni == (sni or None), (got_sni, sni)
names = {'0x0301': 'TLSv1.0', '0x0302': 'TLSv1.1', '0x0303': 'TLSv1.2', '0x0304': 'TLSv1.3'}
v = sh[0][2] or sh[0][0]
assert names.get(v) == version, (v, version)
assert int(sh[0][1], 16) == int(cipher_id, 16), (sh[0][1], cipher_id)
wire = [bytes.fromhex(h.replace(':', '')) for h in ce[0][0].split(',') if h]
pem = open(chain_file).read()
files = [ssl.PEM_cert_to_DER_cert(m) for m in re.findall(
    r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----', pem, re.S)]
assert [hashlib.sha256(c).hexdigest() for c in wire] == [hashlib.sha256(c).hexdigest() for c in files], \
    'certificates on the wire differ from the ones installed'
def x509(args, der):
    return subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout', *args], input=der,
                          check=True, capture_output=True).stdout.decode()
leaf = files[0]
text = x509(['-text'], leaf)
dates = x509(['-dates'], leaf)
nb = re.search(r'notBefore=(.*)', dates).group(1).strip()
na = re.search(r'notAfter=(.*)', dates).group(1).strip()
bits = int(re.search(r'Public-Key: \((\d+) bit\)', text).group(1))
sig = re.search(r'Signature Algorithm: (\S+)', text).group(1)
print(json.dumps({
    'capture': name, 'engine': engine, 'server': server, 'sni': got_sni, 'tls_version': version,
    'cipher_id': '0x%04x' % int(cipher_id, 16), 'chain_length': len(wire),
    'leaf_sha256': hashlib.sha256(leaf).hexdigest(), 'leaf_subject': x509(['-subject', '-nameopt', 'RFC2253'], leaf)
        .strip().removeprefix('subject='),
    'leaf_issuer': x509(['-issuer', '-nameopt', 'RFC2253'], leaf).strip().removeprefix('issuer='),
    'not_before': nb, 'not_after': na, 'key_bits': bits, 'signature': sig,
    'san': 'Subject Alternative Name' in text, 'ja3': ch[0][1], 'ja3_full': ch[0][2],
}))
PY
}
: >"$WORK/cert-expected.jsonl"
PGHOST_SNI="host=db.dbwire.test hostaddr=127.0.0.1 port=$PG_PORT dbname=postgres user=app password=$APP_PW"
TLS12="sslmode=require ssl_max_protocol_version=TLSv1.2"

# ---------------------------------------------------------------- certificate cases (PostgreSQL)
for c in good expired future selfsigned sha1 rsa1024 nosan; do
  log "case cert-$c"
  pg_use_cert $c
  case $c in sha1 | rsa1024) CLIENT_CONF=$WEAK_CLIENT_CONF ;; *) CLIENT_CONF= ;; esac
  cap_start cert-$c.pcap $PG_PORT
  pgc "$PGHOST_SNI $TLS12"
  cap_stop
  CLIENT_CONF=
  facts cert-$c.pcap $c postgresql 127.0.0.1:$PG_PORT db.dbwire.test TLSv1.2 0xc030
done
log "case cert-name-mismatch"
pg_use_cert good
cap_start cert-name-mismatch.pcap $PG_PORT
pgc "host=other.dbwire.test hostaddr=127.0.0.1 port=$PG_PORT dbname=postgres user=app password=$APP_PW $TLS12"
cap_stop
facts cert-name-mismatch.pcap good postgresql 127.0.0.1:$PG_PORT other.dbwire.test TLSv1.2 0xc030

log "case cert-verified (verify-full against the bundle: the good case as a client that checks)"
cap_start cert-verified.pcap $PG_PORT
pgc "$PGHOST_SNI sslmode=verify-full sslrootcert=$PKI/root.crt ssl_max_protocol_version=TLSv1.2"
cap_stop
facts cert-verified.pcap good postgresql 127.0.0.1:$PG_PORT db.dbwire.test TLSv1.2 0xc030

# ---------------------------------------------------------------- weak TLS cases
pg_ciphers() {
  "$PGBIN/psql" -X -q -h "$PGD" -p $PG_PORT -U postgres -d postgres \
    -c "ALTER SYSTEM SET ssl_ciphers = '$1'" -c 'SELECT pg_reload_conf()' >/dev/null
  sleep 0.5
  grep -q 'SSL configuration was not reloaded' "$PGD/postgres.log" && die "PostgreSQL rejected ssl_ciphers '$1'"
  return 0
}
# Debian's OpenSSL 3 has no 3DES, DES, RC4 or EXPORT suites at all ('openssl ciphers ALL:@SECLEVEL=0'
# lists none), so the weak-cipher case uses a NULL-encryption suite, which it still has.
log "case cert-pg-null-cipher (TLS 1.2, TLS_RSA_WITH_NULL_SHA256: no encryption, no forward secrecy)"
pg_ciphers 'NULL-SHA256:@SECLEVEL=0'
CLIENT_CONF=$NULL_CLIENT_CONF
cap_start cert-pg-null-cipher.pcap $PG_PORT
pgc "$PGHOST_SNI $TLS12"
cap_stop
CLIENT_CONF=
facts cert-pg-null-cipher.pcap good postgresql 127.0.0.1:$PG_PORT db.dbwire.test TLSv1.2 0x003b

log "case cert-pg-rsa-kx (TLS 1.2, TLS_RSA_WITH_AES_128_CBC_SHA: RSA key exchange, no forward secrecy)"
pg_ciphers 'AES128-SHA:@SECLEVEL=0'
cap_start cert-pg-rsa-kx.pcap $PG_PORT
pgc "$PGHOST_SNI $TLS12"
cap_stop
facts cert-pg-rsa-kx.pcap good postgresql 127.0.0.1:$PG_PORT db.dbwire.test TLSv1.2 0x002f

log "case cert-mysql-tls10 (MariaDB, TLS 1.0, ECDHE-RSA-AES256-SHA: CBC with TLS 1.0)"
CLIENT_CONF=$WEAK_CLIENT_CONF
cap_start cert-mysql-tls10.pcap $MY_PORT
myc --ssl --tls-version=TLSv1.0 --ssl-cipher=ECDHE-RSA-AES256-SHA
cap_stop
CLIENT_CONF=
facts cert-mysql-tls10.pcap good mysql 127.0.0.1:$MY_PORT "" TLSv1.0 0xc014

pg_stop
my_stop

# ---------------------------------------------------------------- README
write_cert_readme() { # VERSIONS-LINE
  local sizes
  sizes=$(cd "$OUTDIR" && for f in cert-*.pcap; do printf '| `%s` | %s | %s |\n' "$f" "$(stat -c %s "$f")" \
    "$(tshark -r "$f" 2>/dev/null | wc -l)"; done)
  cat <<README
# Certificate and TLS-quality captures

Made by \`sudo scripts/record-cert-captures.sh\` (re-run it to re-record; it rewrites the
\`cert-*\` files and this README). $1.

Real PostgreSQL and MariaDB servers on loopback (ports 25432 and 23306), real clients (psql /
libpq, \`mariadb\`), certificates generated with openssl for each recording and thrown away
afterwards (only the root CA certificate is kept, as \`cert-ca-bundle.pem\`). One TCP connection
per file: TLS handshake (TLS 1.2 or 1.0, so the certificate is visible), login and \`SELECT 1\`
encrypted.

- Root CA \`CN=dbwire Cert Test Root CA\` and intermediate \`CN=dbwire Cert Test Intermediate CA\`
  (RSA 2048, sha256, 2025-01-01 to 2045-01-01). \`cert-ca-bundle.pem\` holds the root only, so a
  chain validates only with the intermediate the server sends.
- Server leaves are \`CN=db.dbwire.test\`, SAN \`DNS:db.dbwire.test\`, RSA 2048, sha256, valid
  2025-01-01 to 2045-01-01, issued by the intermediate and sent with it, unless the file says
  otherwise. The client sends SNI \`db.dbwire.test\` (PostgreSQL cases; \`host=... hostaddr=127.0.0.1\`).
- OpenSSL security level 0 is needed for SHA-1, RSA 1024, TLS 1.0 and NULL encryption: the servers
  always run with it, the clients only in those cases.

| file | bytes | packets |
|---|---|---|
$sizes

- \`cert-good.pcap\` - the good chain; \`sslmode=require\`. No certificate findings.
- \`cert-verified.pcap\` - the same with \`sslmode=verify-full sslrootcert=<root>\`: libpq itself
  accepted chain and name.
- \`cert-expired.pcap\` - leaf valid 2020-01-01 to 2021-01-01 (expired at capture time).
- \`cert-future.pcap\` - leaf valid 2040-01-01 to 2045-01-01 (not yet valid at capture time).
- \`cert-selfsigned.pcap\` - a self-signed leaf (its own issuer, not in the bundle), sent alone.
- \`cert-sha1.pcap\` - leaf signed with sha1WithRSAEncryption.
- \`cert-rsa1024.pcap\` - leaf with an RSA 1024 key.
- \`cert-nosan.pcap\` - leaf without subjectAltName (CN only).
- \`cert-name-mismatch.pcap\` - the good chain, but the client asks for \`other.dbwire.test\` (SNI).
- \`cert-pg-null-cipher.pcap\` - server \`ssl_ciphers = 'NULL-SHA256'\`, client offering it:
  TLS 1.2 with TLS_RSA_WITH_NULL_SHA256 (0x003b): authenticated but not encrypted, no forward
  secrecy. (Debian's OpenSSL 3 has no 3DES, DES, RC4 or EXPORT suites left to record.)
- \`cert-pg-rsa-kx.pcap\` - server \`ssl_ciphers = 'AES128-SHA'\`: TLS 1.2 with
  TLS_RSA_WITH_AES_128_CBC_SHA (0x002f), RSA key exchange (no forward secrecy).
- \`cert-mysql-tls10.pcap\` - MariaDB, \`mariadb --ssl --tls-version=TLSv1.0
  --ssl-cipher=ECDHE-RSA-AES256-SHA\`: TLS 1.0 with TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA (0xc014), a
  CBC suite under TLS 1.0. No SNI (IP address).

## cert-expected.jsonl

One line per file, written only after tshark confirmed it: \`capture\`, \`engine\`, \`server\`,
\`sni\`, \`tls_version\`, \`cipher_id\` (ServerHello), \`chain_length\` (certificates on the wire,
each compared by SHA-256 with the file installed on the server), \`leaf_sha256\`, \`leaf_subject\`,
\`leaf_issuer\` (RFC 2253), \`not_before\` / \`not_after\` (openssl's format), \`key_bits\`,
\`signature\`, \`san\` (present), and tshark's \`ja3\` / \`ja3_full\` of the ClientHello.
README
}

# ---------------------------------------------------------------- publish
log "all cases recorded and verified; updating $OUTDIR"
mkdir -p "$OUTDIR"
for f in "$WORK"/cap/*.pcap; do install -m 0644 "$f" "$OUTDIR/$(basename "$f")"; done
install -m 0644 "$WORK/cert-expected.jsonl" "$OUTDIR/cert-expected.jsonl"
install -m 0644 "$PKI/root.crt" "$OUTDIR/cert-ca-bundle.pem"
rm -f "$OUTDIR/cert-recorded-with.txt"
write_cert_readme "Recorded $(date -u +%F) on Debian 12 with PostgreSQL $PGVER, MariaDB $MYVER, \
$(openssl version | awk '{print $1, $2}'), tcpdump $(tcpdump --version 2>&1 | awk 'NR == 1 {print $3}'), \
checked with tshark $(tshark --version 2>/dev/null | awk 'NR == 1 {print $3}')" >"$OUTDIR/cert-README.md"
ls -l "$OUTDIR"/cert-* >&2
