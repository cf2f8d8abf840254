#!/usr/bin/env bash
# record-captures.sh - record the small, real PostgreSQL / MariaDB test captures in captures/
#
# Usage:   sudo scripts/record-captures.sh [OUTDIR]        (default: captures/ of this repo)
#
# Every capture is recorded on the loopback interface only, against private throwaway
# servers that this script starts (as the non-root users 'postgres' and 'mysql', data
# directories in a temp dir, listening on 127.0.0.1 / ::1 only) and stops again, also on
# failure. A throwaway CA (CN=dbwire Test Root CA) and server certificate
# (CN=db.dbwire.test, SAN DNS:db.dbwire.test, IP:127.0.0.1, IP:::1, valid 2025-01-01 ->
# 2035-01-01) are made with openssl in the temp dir; no key material is kept.
#
# Each recording is checked with tshark (scripts/capture-facts.py); the facts it confirmed
# are written to OUTDIR/expected.jsonl (one JSON object per database connection). OUTDIR
# is only updated when every case recorded and verified; re-running replaces the files.
#
# Requirements (Debian 12), as root:
#   apt-get install -y postgresql-15 postgresql-client-15 mariadb-server mariadb-client \
#                      tcpdump tshark openssl python3 util-linux
#   (the postgresql / mariadb-server packages create the 'postgres' and 'mysql' users;
#    their packaged services may stay stopped - this script uses its own servers, but
#    ports 5432, 6543, 3306 and 3307 on loopback must be free)
# Runtime: about 30-60 s.
#
# Environment (optional): KEEP_TMP=1 keeps the temp dir (server logs, certificates, raw
# captures) for inspection; PGBIN overrides the PostgreSQL bin dir.

set -Eeuo pipefail
umask 022

die() { echo "record-captures: ERROR: $*" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

SCRIPT_DIR=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=${1:-$REPO_DIR/captures}
FACTS=$SCRIPT_DIR/capture-facts.py

PG_PORT=5432        # main PostgreSQL server (127.0.0.1 + ::1)
PG_ALT_PORT=6543    # the same cluster restarted on a non-standard port
MY_PORT=3306        # main MariaDB server (127.0.0.1 + ::1)
MY_ALT_PORT=3307    # the same MariaDB data dir restarted on ::1 only
APP_PW=app-pw-not-secret          # fake test password of user 'app' (scram / mysql_native_password)
LEGACY_PW=hunter2-not-secret      # fake test password of user 'legacy' (sent in the clear on purpose)
Q_SELECT="SELECT * FROM accounts WHERE email = 'alice@example.com' AND card = '4111-1111-1111-1111'"
Q_UPDATE="UPDATE accounts SET balance = balance + 10 WHERE email = 'bob@example.com'"
Q_SUBSTR="FROM accounts"
NOTBEFORE=20250101000000Z
NOTAFTER=20350101000000Z

# ---------------------------------------------------------------- prerequisites
# client settings from the caller's environment must not change what is recorded
for v in $(compgen -e); do
  case $v in PGBIN) ;; PG*|MYSQL_*|MARIADB_*) unset "$v" ;; esac
done
[[ $EUID -eq 0 ]] || die "must run as root (tcpdump on lo; servers are started as the postgres/mysql users)"
[[ -n ${PGBIN:-} ]] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
missing=()
for t in openssl tcpdump tshark python3 setpriv; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
for t in initdb pg_ctl postgres psql; do [[ -n $PGBIN && -x $PGBIN/$t ]] || missing+=("$t (postgresql)"); done
MARIADBD=$(command -v mariadbd || { [[ -x /usr/sbin/mariadbd ]] && echo /usr/sbin/mariadbd; } || true)
MY_INSTALL=$(command -v mariadb-install-db || true)
MYCLI=$(command -v mariadb || true)
MYADMIN=$(command -v mariadb-admin || true)
[[ -n $MARIADBD ]]   || missing+=("mariadbd (mariadb-server)")
[[ -n $MY_INSTALL ]] || missing+=("mariadb-install-db (mariadb-server)")
[[ -n $MYCLI ]]      || missing+=("mariadb (mariadb-client)")
[[ -n $MYADMIN ]]    || missing+=("mariadb-admin (mariadb-client)")
[[ -f $FACTS ]]      || missing+=("$FACTS")
id postgres >/dev/null 2>&1 || missing+=("system user 'postgres'")
id mysql    >/dev/null 2>&1 || missing+=("system user 'mysql'")
((${#missing[@]} == 0)) || die "missing prerequisites: ${missing[*]} (see the header of $0)"
grep -q '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 2>/dev/null \
  || die "IPv6 loopback (::1 on lo) is not available"
for port in $PG_PORT $PG_ALT_PORT $MY_PORT $MY_ALT_PORT; do
  for addr in 127.0.0.1 ::1; do
    if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
      die "port $port on $addr is already in use by something this script did not start"
    fi
  done
done

# ---------------------------------------------------------------- bookkeeping / cleanup
WORK=$(mktemp -d /tmp/dbwire-record.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/cap" "$WORK/pki"
PGD=$WORK/pg MYD=$WORK/my
PG_UP=0 MY_PID= TCPDUMP_PID=

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
stop_pid() { # PID SIGNAL - stop a process this script started; KILL after 20 s
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
my_stop() {
  [[ -n $MY_PID ]] || return 0
  stop_pid "$MY_PID" TERM
  MY_PID=
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [[ -n $TCPDUMP_PID ]] && stop_pid "$TCPDUMP_PID" INT
  pg_stop
  my_stop
  if ((rc != 0)); then
    log "FAILED (exit $rc); server logs:"
    tail -n 20 "$WORK"/logs/*.log "$PGD"/postgres.log "$MYD"/mariadbd.err >&2 2>/dev/null
  fi
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept temp dir $WORK"; else rm -rf -- "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

T_START=$SECONDS

# ---------------------------------------------------------------- certificates
log "creating throwaway CA and server certificate"
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
[ v3_leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:db.dbwire.test, IP:127.0.0.1, IP:::1
EOF
  : >index.txt
  echo 1000 >serial
  # 'openssl ca' rather than 'openssl x509 -days': OpenSSL 3.0 has no -not_before/-not_after,
  # and fixed dates keep the certificates' validity the same on every run
  openssl req -new -newkey rsa:2048 -nodes -keyout ca.key -subj "/CN=dbwire Test Root CA" -out ca.csr
  openssl ca -batch -config ca.cnf -selfsign -keyfile ca.key -in ca.csr -extensions v3_ca \
    -startdate $NOTBEFORE -enddate $NOTAFTER -notext -out ca.crt
  openssl req -new -newkey rsa:2048 -nodes -keyout server.key -subj "/CN=db.dbwire.test" -out server.csr
  openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in server.csr -extensions v3_leaf \
    -startdate $NOTBEFORE -enddate $NOTAFTER -notext -out server.crt
  openssl verify -CAfile ca.crt server.crt
) >"$WORK/logs/openssl.log" 2>&1 || { cat "$WORK/logs/openssl.log" >&2; die "certificate creation failed"; }
CA=$WORK/pki/ca.crt

# ---------------------------------------------------------------- PostgreSQL
log "initialising PostgreSQL ($("$PGBIN/postgres" --version))"
mkdir -p "$PGD"
cp "$WORK/pki/server.crt" "$WORK/pki/server.key" "$PGD/"
chmod 600 "$PGD/server.key"
echo "not-used-superuser-pw" >"$PGD/pwfile"
chown -R postgres:postgres "$PGD"
asuser postgres "$PGBIN/initdb" -D "$PGD/data" -U postgres --pwfile="$PGD/pwfile" -E UTF8 --locale=C \
  --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$WORK/logs/initdb.log" 2>&1 \
  || { cat "$WORK/logs/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGD/data/postgresql.conf" <<EOF
# --- record-captures.sh
listen_addresses = '127.0.0.1,::1'
port = $PG_PORT
unix_socket_directories = '$PGD'
max_connections = 20
shared_buffers = 16MB
fsync = off
synchronous_commit = off
ssl = on
ssl_cert_file = '$PGD/server.crt'
ssl_key_file = '$PGD/server.key'
# TLS <= 1.2 cipher (does not affect TLS 1.3 suites)
ssl_ciphers = 'ECDHE-RSA-AES128-GCM-SHA256'
password_encryption = 'scram-sha-256'
log_connections = on
log_disconnections = on
EOF
cat >"$PGD/data/pg_hba.conf" <<EOF
local all all                trust
host  all legacy 127.0.0.1/32 password
host  all legacy ::1/128      password
host  all all    127.0.0.1/32 scram-sha-256
host  all all    ::1/128      scram-sha-256
EOF
chown postgres:postgres "$PGD/data/pg_hba.conf"
pg_start() { # extra postgres options
  asuser postgres "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -w -t 30 -o "$*" start \
    >>"$WORK/logs/pg_ctl.log" 2>&1 || { tail -n 30 "$PGD/postgres.log" >&2 || true; die "postgres did not start"; }
  PG_UP=1
}
pg_start
pgsu() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGD" -p "$1" -U postgres -d "${2:-postgres}"; }
pgsu $PG_PORT >/dev/null <<EOF
CREATE ROLE app LOGIN PASSWORD '$APP_PW';
CREATE ROLE legacy LOGIN PASSWORD '$LEGACY_PW';
CREATE DATABASE shop OWNER app;
EOF
pgsu $PG_PORT shop >/dev/null <<'EOF'
SET ROLE app;
CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL, card text, balance numeric(10,2) NOT NULL DEFAULT 0);
INSERT INTO accounts VALUES (1, 'alice@example.com', '4111-1111-1111-1111', 120.50),
                            (2, 'bob@example.com',   '5500-0000-0000-0004',  42.00);
GRANT SELECT, UPDATE ON accounts TO legacy;
EOF
PGVER=$("$PGBIN/psql" -X -At -h "$PGD" -p $PG_PORT -U postgres -d postgres -c 'SHOW server_version')

# ---------------------------------------------------------------- MariaDB
log "initialising MariaDB ($("$MARIADBD" --version | awk '{print $3}'))"
mkdir -p "$MYD/data" "$MYD/run"
cp "$WORK/pki/server.crt" "$WORK/pki/server.key" "$CA" "$MYD/"
chmod 600 "$MYD/server.key"
chown -R mysql:mysql "$MYD"
asuser mysql "$MY_INSTALL" --no-defaults --datadir="$MYD/data" --auth-root-authentication-method=socket \
  --skip-test-db --skip-name-resolve >"$WORK/logs/mariadb-install-db.log" 2>&1 \
  || { cat "$WORK/logs/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
MYSOCK=$MYD/run/mysqld.sock
my_start() { # PORT BIND-ADDRESSES
  setpriv --reuid=mysql --regid=mysql --init-groups -- "$MARIADBD" --no-defaults --datadir="$MYD/data" \
    --port="$1" --bind-address="$2" --socket="$MYSOCK" --pid-file="$MYD/run/mysqld.pid" \
    --log-error="$MYD/mariadbd.err" --skip-name-resolve --skip-log-bin --max-connections=20 \
    --innodb-buffer-pool-size=16M --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=0 \
    --ssl-cert="$MYD/server.crt" --ssl-key="$MYD/server.key" --ssl-ca="$MYD/ca.crt" \
    >"$WORK/logs/mariadbd.out" 2>&1 &
  MY_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    "$MYADMIN" --no-defaults -uroot -S "$MYSOCK" ping >/dev/null 2>&1 && return 0
    alive "$MY_PID" || { cat "$MYD/mariadbd.err" >&2; die "mariadbd exited during start-up"; }
    sleep 0.1
  done
  die "mariadbd did not come up"
}
my_start $MY_PORT "127.0.0.1,::1"
# root: unix_socket authentication; runs as root over the socket (not captured)
"$MYCLI" --no-defaults -uroot -S "$MYSOCK" <<EOF
CREATE DATABASE shop;
CREATE TABLE shop.accounts (id INT PRIMARY KEY, email VARCHAR(128) NOT NULL, card VARCHAR(32),
  balance DECIMAL(10,2) NOT NULL DEFAULT 0);
INSERT INTO shop.accounts VALUES (1, 'alice@example.com', '4111-1111-1111-1111', 120.50),
                                 (2, 'bob@example.com',   '5500-0000-0000-0004',  42.00);
CREATE USER 'app'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP_PW');
CREATE USER 'app'@'::1'       IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP_PW');
CREATE USER 'legacy'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$LEGACY_PW');
GRANT SELECT, UPDATE ON shop.* TO 'app'@'127.0.0.1';
GRANT SELECT, UPDATE ON shop.* TO 'app'@'::1';
GRANT SELECT, UPDATE ON shop.* TO 'legacy'@'127.0.0.1';
EOF
MYVER=$("$MYCLI" --no-defaults -uroot -S "$MYSOCK" -N -B -e 'SELECT VERSION()')

# ---------------------------------------------------------------- capture helpers
CUR_CAP=
cap_start() { # NAME [tcpdump interface/link-type options...] -- FILTER
  local name=$1; shift
  local opts=() i
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  CUR_CAP=$WORK/cap/$name
  rm -f -- "$CUR_CAP"
  # -Z root: keep root so tcpdump can write into the temp dir; name ends in .pcap (AppArmor)
  tcpdump "${opts[@]}" -s 0 -Z root -U -w "$CUR_CAP" "$*" >"$WORK/logs/tcpdump-$name.log" 2>&1 &
  TCPDUMP_PID=$!
  for ((i = 0; i < 100; i++)); do
    grep -q 'listening on' "$WORK/logs/tcpdump-$name.log" 2>/dev/null && break
    alive "$TCPDUMP_PID" || { cat "$WORK/logs/tcpdump-$name.log" >&2; die "tcpdump failed to start"; }
    sleep 0.1
  done
  grep -q 'listening on' "$WORK/logs/tcpdump-$name.log" || die "tcpdump did not start listening"
  sleep 0.5
}
cap_stop() {
  sleep 0.7
  stop_pid "$TCPDUMP_PID" INT
  TCPDUMP_PID=
  [[ -s $CUR_CAP ]] || die "capture $CUR_CAP is empty"
  { grep -E 'packets (captured|dropped by kernel)' "$WORK/logs/tcpdump-$(basename "$CUR_CAP").log" || true; } \
    | tr '\n' ' ' >&2
  echo >&2
}
# verify NAME [capture-facts.py options] - check with tshark, append the facts to expected.jsonl
verify() {
  local name=$1; shift
  python3 "$FACTS" "$WORK/cap/$name" --name "$name" "$@" >>"$WORK/expected.jsonl" \
    || die "verification of $name failed"
}
pgc() { # CONNINFO - run the two test queries with psql as a TCP client
  PGGSSENCMODE=disable timeout 20 "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$1" -c "$Q_SELECT" -c "$Q_UPDATE" \
    >"$WORK/logs/client.out" 2>&1 || { cat "$WORK/logs/client.out" >&2; die "psql failed: $1"; }
}
myc() { # mariadb client options... - run the two test queries as a TCP client
  timeout 20 "$MYCLI" --no-defaults --protocol=TCP -D shop "$@" -e "$Q_SELECT; $Q_UPDATE" \
    >"$WORK/logs/client.out" 2>&1 || { cat "$WORK/logs/client.out" >&2; die "mariadb failed: $*"; }
}
PG_COMMON=(--engine postgresql --query "$Q_SUBSTR" --server-version-prefix "${PGVER%%.*}.")
# MariaDB announces itself as "5.5.5-<version>" in the handshake (for old MySQL clients)
MY_COMMON=(--engine mysql --query "$Q_SUBSTR" --server-version-prefix "5.5.5-${MYVER%.*}.")
V4=127.0.0.1
V6=::1
: >"$WORK/expected.jsonl"

# ---------------------------------------------------------------- PostgreSQL cases (ssl = on)
log "case pg-plain"
cap_start pg-plain.pcap -i lo -- tcp port $PG_PORT
pgc "host=$V4 port=$PG_PORT dbname=shop user=app password=$APP_PW sslmode=disable"
cap_stop
verify pg-plain.pcap "${PG_COMMON[@]}" --server "$V4:$PG_PORT" --encryption plaintext --user app \
  --auth scram-sha-256 --password "$APP_PW"

log "case pg-tls12"
cap_start pg-tls12.pcap -i lo -- tcp port $PG_PORT
pgc "host=db.dbwire.test hostaddr=$V4 port=$PG_PORT dbname=shop user=app password=$APP_PW sslmode=verify-full sslrootcert=$CA ssl_max_protocol_version=TLSv1.2"
cap_stop
verify pg-tls12.pcap "${PG_COMMON[@]}" --server "$V4:$PG_PORT" --encryption tls --upgrade pg-sslrequest \
  --tls-version TLSv1.2 --cipher-id 0xc02f --sni db.dbwire.test --cert-cn db.dbwire.test \
  --hidden-user app --auth scram-sha-256 --password "$APP_PW"

# TLS 1.3 with PostgreSQL: the server only offers ssl_ecdh_curve (default prime256v1) while the
# OpenSSL client's first key share is X25519, so the server answers with a HelloRetryRequest
log "case pg-tls13"
cap_start pg-tls13.pcap -i lo -- tcp port $PG_PORT
pgc "host=$V4 port=$PG_PORT dbname=shop user=app password=$APP_PW sslmode=require"
cap_stop
verify pg-tls13.pcap "${PG_COMMON[@]}" --server "$V4:$PG_PORT" --encryption tls --upgrade pg-sslrequest \
  --tls-version TLSv1.3 --cipher-id 0x1302 --hrr --hidden-user app --auth scram-sha-256 --password "$APP_PW"

log "case pg-cleartext-password"
cap_start pg-cleartext-password.pcap -i lo -- tcp port $PG_PORT
pgc "host=$V4 port=$PG_PORT dbname=shop user=legacy password=$LEGACY_PW sslmode=disable"
cap_stop
verify pg-cleartext-password.pcap "${PG_COMMON[@]}" --server "$V4:$PG_PORT" --encryption plaintext \
  --user legacy --auth password --password "$LEGACY_PW" --cleartext-password

log "case pg-ipv6-tls"
cap_start pg-ipv6-tls.pcap -i lo -- tcp port $PG_PORT
pgc "host=$V6 port=$PG_PORT dbname=shop user=app password=$APP_PW sslmode=require"
cap_stop
verify pg-ipv6-tls.pcap "${PG_COMMON[@]}" --server "[$V6]:$PG_PORT" --encryption tls --upgrade pg-sslrequest \
  --tls-version TLSv1.3 --cipher-id 0x1302 --hrr --hidden-user app --auth scram-sha-256 --password "$APP_PW"

log "case pg-any-sll2"
cap_start pg-any-sll2.pcap -i any -y LINUX_SLL2 -- tcp port $PG_PORT
pgc "host=$V4 port=$PG_PORT dbname=shop user=app password=$APP_PW sslmode=disable"
cap_stop
verify pg-any-sll2.pcap "${PG_COMMON[@]}" --server "$V4:$PG_PORT" --encryption plaintext --user app \
  --auth scram-sha-256 --password "$APP_PW" --linktype 276

# ---------------------------------------------------------------- PostgreSQL, ssl = off
log "case pg-ssl-refused (reloading PostgreSQL with ssl = off)"
pgsu $PG_PORT >/dev/null <<'EOF'
ALTER SYSTEM SET ssl = off;
SELECT pg_reload_conf();
EOF
for ((i = 0; i < 50; i++)); do
  [[ $("$PGBIN/psql" -X -At -h "$PGD" -p $PG_PORT -U postgres -d postgres -c 'SHOW ssl') == off ]] && break
  sleep 0.1
done
[[ $("$PGBIN/psql" -X -At -h "$PGD" -p $PG_PORT -U postgres -d postgres -c 'SHOW ssl') == off ]] \
  || die "PostgreSQL did not switch to ssl = off"
cap_start pg-ssl-refused.pcap -i lo -- tcp port $PG_PORT
pgc "host=$V4 port=$PG_PORT dbname=shop user=app password=$APP_PW sslmode=prefer"
cap_stop
verify pg-ssl-refused.pcap "${PG_COMMON[@]}" --server "$V4:$PG_PORT" --encryption plaintext \
  --upgrade pg-sslrequest --ssl-answer N --user app --auth scram-sha-256 --password "$APP_PW"

log "case pg-port-6543 (restarting PostgreSQL on port $PG_ALT_PORT)"
pg_stop
pg_start -p $PG_ALT_PORT
cap_start pg-port-6543.pcap -i lo -- tcp port $PG_ALT_PORT
pgc "host=$V4 port=$PG_ALT_PORT dbname=shop user=app password=$APP_PW sslmode=disable"
cap_stop
verify pg-port-6543.pcap "${PG_COMMON[@]}" --server "$V4:$PG_ALT_PORT" --encryption plaintext --user app \
  --auth scram-sha-256 --password "$APP_PW"
pg_stop

# ---------------------------------------------------------------- MariaDB cases
log "case mysql-plain"
cap_start mysql-plain.pcap -i lo -- tcp port $MY_PORT
myc -h $V4 -P $MY_PORT -u app -p"$APP_PW" --skip-ssl
cap_stop
verify mysql-plain.pcap "${MY_COMMON[@]}" --server "$V4:$MY_PORT" --encryption plaintext --user app \
  --auth mysql_native_password --password "$APP_PW"

log "case mysql-tls12"
cap_start mysql-tls12.pcap -i lo -- tcp port $MY_PORT
myc -h $V4 -P $MY_PORT -u app -p"$APP_PW" --ssl --ssl-ca="$CA" --ssl-verify-server-cert \
  --tls-version=TLSv1.2 --ssl-cipher=ECDHE-RSA-AES256-GCM-SHA384
cap_stop
verify mysql-tls12.pcap "${MY_COMMON[@]}" --server "$V4:$MY_PORT" --encryption tls --upgrade mysql-ssl-request \
  --tls-version TLSv1.2 --cipher-id 0xc030 --cert-cn db.dbwire.test --hidden-user app \
  --auth mysql_native_password --password "$APP_PW"

log "case mysql-tls13"
cap_start mysql-tls13.pcap -i lo -- tcp port $MY_PORT
myc -h $V4 -P $MY_PORT -u app -p"$APP_PW" --ssl --ssl-ca="$CA" --ssl-verify-server-cert --tls-version=TLSv1.3
cap_stop
verify mysql-tls13.pcap "${MY_COMMON[@]}" --server "$V4:$MY_PORT" --encryption tls --upgrade mysql-ssl-request \
  --tls-version TLSv1.3 --cipher-id 0x1302 --hidden-user app --auth mysql_native_password --password "$APP_PW"

log "case mysql-cleartext-password"
cap_start mysql-cleartext-password.pcap -i lo -- tcp port $MY_PORT
myc -h $V4 -P $MY_PORT -u legacy -p"$LEGACY_PW" --skip-ssl --default-auth=mysql_clear_password
cap_stop
verify mysql-cleartext-password.pcap "${MY_COMMON[@]}" --server "$V4:$MY_PORT" --encryption plaintext \
  --user legacy --auth mysql_clear_password --password "$LEGACY_PW" --cleartext-password

log "case mysql-port-3307-ipv6 (restarting MariaDB on [::1]:$MY_ALT_PORT)"
my_stop
my_start $MY_ALT_PORT "::1"
cap_start mysql-port-3307-ipv6.pcap -i lo -- tcp port $MY_ALT_PORT
myc -h $V6 -P $MY_ALT_PORT -u app -p"$APP_PW" --skip-ssl
cap_stop
verify mysql-port-3307-ipv6.pcap "${MY_COMMON[@]}" --server "[$V6]:$MY_ALT_PORT" --encryption plaintext \
  --user app --auth mysql_native_password --password "$APP_PW"
my_stop

# ---------------------------------------------------------------- README
write_readme() {
  local sizes
  sizes=$(cd "$WORK/cap" && for f in *.pcap; do printf '| `%s` | %s | %s |\n' "$f" "$(stat -c %s "$f")" \
    "$(tshark -r "$f" 2>/dev/null | wc -l)"; done)
  cat <<EOF
# Test captures

Small, real captures of PostgreSQL and MariaDB (MySQL protocol) client/server traffic, made by
\`sudo scripts/record-captures.sh\` on the loopback interface against private throwaway servers.
Do not edit them by hand: re-run the script (under a minute), which re-records and re-verifies
every file and rewrites this README and \`expected.jsonl\`. Timestamps, client ports, TLS keys and
the certificates' keys and signatures change on every run.

Recorded $(date -u +%Y-%m-%d) on Debian 12 with:
- PostgreSQL $PGVER (server, psql and libpq)
- MariaDB $MYVER (server and \`mariadb\` client)
- $(openssl version | awk '{print $1, $2}') (TLS library of both servers and both clients)
- tcpdump $(tcpdump --version 2>&1 | awk 'NR == 1 {print $3}'), libpcap $(tcpdump --version 2>&1 | awk '/^libpcap/ {print $3}')
- verified with tshark $(tshark --version 2>/dev/null | awk 'NR == 1 {print $3}')

## Common set-up

- Certificates: throwaway CA \`CN=dbwire Test Root CA\` (RSA 2048, self-signed, serial 0x1000) and
  server certificate \`CN=db.dbwire.test\` (RSA 2048, SAN \`DNS:db.dbwire.test, IP:127.0.0.1, IP:::1\`,
  serial 0x1001), both valid 2025-01-01 00:00:00 UTC to 2035-01-01 00:00:00 UTC. The servers send
  the leaf certificate only. The keys were thrown away.
- Both servers have a database \`shop\` with a two-row table \`accounts(id, email, card, balance)\`;
  every connection runs (PostgreSQL simple query protocol / MySQL COM_QUERY)
  - \`$Q_SELECT\`
  - \`$Q_UPDATE\`

  and disconnects. One TCP connection per file, complete (SYN to FIN).
- Users (fake test passwords): \`app\` / \`$APP_PW\` (PostgreSQL: SCRAM-SHA-256; MariaDB:
  mysql_native_password) and \`legacy\` / \`$LEGACY_PW\` (the one sent in clear on purpose).
- All files are classic pcap (microsecond timestamps, snaplen 262144), link type EN10MB (1)
  except \`pg-any-sll2.pcap\` (LINUX_SLL2, 276).
- MariaDB announces its version as \`5.5.5-$MYVER\` in the handshake (the \`5.5.5-\` prefix is
  MariaDB's compatibility hack for old MySQL clients).

## Files

| file | bytes | packets |
|---|---|---|
$sizes

- \`pg-plain.pcap\` - psql to 127.0.0.1:5432 with \`sslmode=disable\`: no SSLRequest; the
  StartupMessage (user \`app\`, database \`shop\`), the SCRAM-SHA-256 exchange (password not in
  clear), ParameterStatus \`server_version=$PGVER\` and both queries in clear. Proves plaintext
  PostgreSQL detection and query evidence.
- \`pg-tls12.pcap\` - psql with \`sslmode=verify-full host=db.dbwire.test hostaddr=127.0.0.1
  sslrootcert=<CA> ssl_max_protocol_version=TLSv1.2\`, server \`ssl_ciphers='ECDHE-RSA-AES128-GCM-SHA256'\`:
  SSLRequest answered \`S\`, ClientHello with SNI \`db.dbwire.test\`, TLS 1.2 ServerHello with
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xc02f) and the server Certificate in clear (subject CN
  db.dbwire.test, issuer CN dbwire Test Root CA). Startup, authentication and queries are
  encrypted. No ALPN (libpq 15 sends none).
- \`pg-tls13.pcap\` - psql \`sslmode=require\` to 127.0.0.1:5432 (TLS 1.3, the default):
  SSLRequest/\`S\`, no SNI (libpq sends none for an IP address), then a HelloRetryRequest (the
  server only accepts its \`ssl_ecdh_curve\`, prime256v1, while the client's first key share is
  X25519), a second ClientHello and the real ServerHello: TLS 1.3, TLS_AES_256_GCM_SHA384 (0x1302).
  The certificate is encrypted (TLS 1.3), so no certificate facts.
- \`pg-ssl-refused.pcap\` - server reloaded with \`ssl = off\`, psql \`sslmode=prefer\`: SSLRequest
  answered \`N\`, then on the same connection the StartupMessage, SCRAM authentication and the
  queries in clear. Proves that an SSLRequest alone does not mean TLS.
- \`pg-cleartext-password.pcap\` - user \`legacy\` with pg_hba method \`password\`,
  \`sslmode=disable\`: AuthenticationCleartextPassword (type 3) and a PasswordMessage carrying
  \`$LEGACY_PW\` in clear, then the queries. Proves cleartext-login detection.
- \`pg-port-6543.pcap\` - the same cluster restarted on port 6543 (ssl still off), psql
  \`sslmode=disable\`: like pg-plain but on a port nothing maps to PostgreSQL, so the protocol must
  be recognised from the content (tshark needs \`-d tcp.port==6543,pgsql\`).
- \`pg-ipv6-tls.pcap\` - psql \`sslmode=require\` to [::1]:5432: as pg-tls13 (HelloRetryRequest,
  TLS 1.3, 0x1302, no SNI) but over IPv6.
- \`pg-any-sll2.pcap\` - recorded with \`tcpdump -i any -y LINUX_SLL2\` (link type 276, checked in
  the pcap header); one plaintext psql connection like pg-plain (SCRAM, queries in clear). Loopback
  packets appear once each (libpcap drops the outgoing copy on \`any\`).
- \`mysql-plain.pcap\` - \`mariadb --skip-ssl\` to 127.0.0.1:3306 as \`app\`: server greeting
  (version, mysql_native_password), login request (user \`app\`, scrambled password), both queries
  (COM_QUERY) in clear, COM_QUIT.
- \`mysql-tls12.pcap\` - \`mariadb --ssl --ssl-ca=<CA> --ssl-verify-server-cert --tls-version=TLSv1.2
  --ssl-cipher=ECDHE-RSA-AES256-GCM-SHA384\` to 127.0.0.1:3306: greeting in clear, 32-byte
  SSLRequest (CLIENT_SSL), TLS 1.2 with TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (0xc030), server
  Certificate in clear (CN db.dbwire.test). No SNI (the client connects to an IP address), no ALPN.
  Login and queries encrypted.
- \`mysql-tls13.pcap\` - the same with \`--tls-version=TLSv1.3\` and no cipher option: greeting,
  SSLRequest, TLS 1.3 with TLS_AES_256_GCM_SHA384 (0x1302), no HelloRetryRequest, certificate
  encrypted, no SNI.
- \`mysql-cleartext-password.pcap\` - \`mariadb --skip-ssl --default-auth=mysql_clear_password\`
  as \`legacy\`: the login request names the client plugin mysql_clear_password and carries
  \`$LEGACY_PW\` in clear; the server (the user is mysql_native_password) then sends an Auth Switch
  Request, the client answers with the native scramble, the login succeeds and the queries follow.
  Proves cleartext-login detection for MySQL.
- \`mysql-port-3307-ipv6.pcap\` - MariaDB restarted on [::1]:3307 only, \`mariadb --skip-ssl\` to
  [::1]:3307 as \`app\`: like mysql-plain on a non-standard port over IPv6 (tshark needs
  \`-d tcp.port==3307,mysql\`).

## SQL Server (TDS) captures

The \`tds-*.pcap\` / \`tds8-*.pcap\` files are recorded by \`sudo scripts/record-tds-captures.sh\`
(real FreeTDS \`tsql\` and pymssql clients against the scripted peer \`scripts/tds-peer.py\`;
see that script's header and \`scripts/tds-capture-facts.py\` for what each one shows). That
script replaces only their files and rows.

## expected.jsonl

One JSON object per database connection, written by \`scripts/capture-facts.py\` only after tshark
(and the raw TCP payload bytes) confirmed every fact the recording set up. The fields describe
what a passive observer can see: \`capture\`, \`connection\` (index in the file), \`server\` /
\`client\` (\`addr:port\` or \`[v6addr]:port\`), \`ip_version\`, \`engine\` (postgresql / mysql),
\`encryption\` (tls / plaintext), \`upgrade\` (pg-sslrequest / mysql-ssl-request / null),
\`ssl_request_answer\` (PostgreSQL S / N), \`tls_version\`, \`cipher\`, \`cipher_id\` (of the final
ServerHello), \`tls_hello_retry_request\`, \`sni\`, \`alpn\` (server-selected),
\`certificate_subject_cn\` / \`certificate_issuer_cn\` / \`certificate_not_before\` /
\`certificate_not_after\` (TLS <= 1.2 only), \`user\`, \`auth_method\` (PostgreSQL: from the
Authentication request; MySQL: the client plugin in the login request), \`cleartext_password_seen\`,
\`server_version\` / \`server_version_prefix\`, \`query_substring\` (a substring of a query visible in
clear) and \`linktype\`. Unknown or not visible means null. For TLS connections the user, auth
method and query used inside the tunnel are listed under \`inside_tls\` (and were checked not to
appear in clear).
EOF
}

# ---------------------------------------------------------------- publish
log "all cases recorded and verified; updating $OUTDIR"
mkdir -p "$OUTDIR"
for f in "$WORK"/cap/*.pcap; do
  install -m 0644 "$f" "$OUTDIR/$(basename "$f")"
done
# Rows of the TDS captures (scripts/record-tds-captures.sh) are kept.
grep -E '"capture": "tds8?-' "$OUTDIR/expected.jsonl" >>"$WORK/expected.jsonl" 2>/dev/null || true
# Rows and README section of the Oracle captures (scripts/record-tns-captures.sh) stay.
grep -h '"capture": "tns-' "$OUTDIR/expected.jsonl" >>"$WORK/expected.jsonl" 2>/dev/null || true
install -m 0644 "$WORK/expected.jsonl" "$OUTDIR/expected.jsonl"
rm -f "$OUTDIR/recorded-with.txt"
tns_section=$(sed -n '/^## Oracle (TNS) captures/,$p' "$OUTDIR/README.md" 2>/dev/null || true)
{ write_readme; [[ -z $tns_section ]] || printf '\n%s\n' "$tns_section"; } >"$OUTDIR/README.md"
log "done in $((SECONDS - T_START)) s:"
ls -l "$OUTDIR" >&2
