#!/usr/bin/env bash
# live-servers.sh - throwaway PostgreSQL and MariaDB servers with TLS, for the live-capture
# test (tests/live.rs). Same approach as record-captures.sh: the servers run as the
# non-root users 'postgres' and 'mysql' with their data in a temp dir, listen on 127.0.0.1
# only, and use a throwaway self-signed certificate made with openssl.
#
# Usage (as root):
#   scripts/live-servers.sh start DIR   start both servers under DIR (created); on success
#                                       prints KEY=VALUE lines (client paths, ports, user)
#   scripts/live-servers.sh stop DIR    stop both servers and remove DIR
#
# Ports: PostgreSQL 15432, MariaDB 13306 (127.0.0.1). Database 'shop', user 'app' with the
# fake test password 'app-pw-not-secret' (SCRAM-SHA-256 / mysql_native_password).
# Needs (Debian 12): postgresql-15 mariadb-server mariadb-client openssl util-linux.
# A failed start prints one reason on stderr, stops what it started and exits non-zero.

set -Eeuo pipefail
umask 022

PG_PORT=15432
MY_PORT=13306
APP_PW=app-pw-not-secret

die() { echo "live-servers: $*" >&2; exit 1; }

cmd=${1:-}
DIR=${2:-}
[[ $cmd == start || $cmd == stop ]] && [[ -n $DIR ]] || die "usage: $0 start|stop DIR"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
MARIADBD=$(command -v mariadbd || { [[ -x /usr/sbin/mariadbd ]] && echo /usr/sbin/mariadbd; } || true)
asuser() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }

stop_all() {
  if [[ -n $PGBIN && -f $DIR/pg/data/postmaster.pid ]]; then
    asuser postgres "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
  fi
  if [[ -f $DIR/my/mysqld.pid ]]; then
    local pid i
    pid=$(cat "$DIR/my/mysqld.pid" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
  fi
  # Only ever a directory this script made (it holds the marker file).
  [[ -f $DIR/.live-servers ]] && rm -rf -- "$DIR"
  return 0
}

if [[ $cmd == stop ]]; then
  stop_all
  exit 0
fi

[[ $EUID -eq 0 ]] || die "must run as root (servers are started as the postgres/mysql users)"
[[ -n $PGBIN && -x $PGBIN/initdb && -x $PGBIN/psql ]] || die "PostgreSQL server not installed (postgresql-15)"
[[ -n $MARIADBD ]] || die "MariaDB server not installed (mariadb-server)"
MY_INSTALL=$(command -v mariadb-install-db || true)
MYCLI=$(command -v mariadb || true)
MYADMIN=$(command -v mariadb-admin || true)
[[ -n $MY_INSTALL && -n $MYCLI && -n $MYADMIN ]] || die "MariaDB client tools not installed (mariadb-client)"
for t in openssl setpriv; do command -v $t >/dev/null || die "$t not installed"; done
id postgres >/dev/null 2>&1 || die "no system user 'postgres'"
id mysql >/dev/null 2>&1 || die "no system user 'mysql'"
for port in $PG_PORT $MY_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is already in use"
  fi
done

mkdir -p "$DIR"
: >"$DIR/.live-servers"
chmod 755 "$DIR"
trap 'rc=$?; if ((rc != 0)); then stop_all; fi' EXIT
mkdir -p "$DIR/pki" "$DIR/pg" "$DIR/my/data"

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=db.dbwire.test" \
  -addext "subjectAltName=DNS:db.dbwire.test,IP:127.0.0.1" \
  -keyout "$DIR/pki/server.key" -out "$DIR/pki/server.crt" >"$DIR/openssl.log" 2>&1 \
  || die "openssl could not make a certificate: $(tail -n1 "$DIR/openssl.log")"

# ---------------------------------------------------------------- PostgreSQL
PGD=$DIR/pg
cp "$DIR/pki/server.crt" "$DIR/pki/server.key" "$PGD/"
chmod 600 "$PGD/server.key"
echo "not-used-superuser-pw" >"$PGD/pwfile"
chown -R postgres:postgres "$PGD"
asuser postgres "$PGBIN/initdb" -D "$PGD/data" -U postgres --pwfile="$PGD/pwfile" -E UTF8 --locale=C \
  --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$DIR/initdb.log" 2>&1 \
  || die "initdb failed: $(tail -n1 "$DIR/initdb.log")"
cat >>"$PGD/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGD'
max_connections = 20
shared_buffers = 16MB
fsync = off
synchronous_commit = off
ssl = on
ssl_cert_file = '$PGD/server.crt'
ssl_key_file = '$PGD/server.key'
password_encryption = 'scram-sha-256'
EOF
asuser postgres "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -w -t 30 start >"$DIR/pg_ctl.log" 2>&1 \
  || die "PostgreSQL did not start: $(tail -n1 "$PGD/postgres.log" 2>/dev/null)"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGD" -p $PG_PORT -U postgres -d postgres >/dev/null <<EOF \
  || die "PostgreSQL set-up failed"
CREATE ROLE app LOGIN PASSWORD '$APP_PW';
CREATE DATABASE shop OWNER app;
EOF

# ---------------------------------------------------------------- MariaDB
MYD=$DIR/my
cp "$DIR/pki/server.crt" "$DIR/pki/server.key" "$MYD/"
chmod 600 "$MYD/server.key"
chown -R mysql:mysql "$MYD"
asuser mysql "$MY_INSTALL" --no-defaults --datadir="$MYD/data" --auth-root-authentication-method=socket \
  --skip-test-db --skip-name-resolve >"$DIR/mariadb-install-db.log" 2>&1 \
  || die "mariadb-install-db failed: $(tail -n1 "$DIR/mariadb-install-db.log")"
MYSOCK=$MYD/mysqld.sock
setpriv --reuid=mysql --regid=mysql --init-groups -- "$MARIADBD" --no-defaults --datadir="$MYD/data" \
  --port=$MY_PORT --bind-address=127.0.0.1 --socket="$MYSOCK" --pid-file="$MYD/mysqld.pid" \
  --log-error="$MYD/mariadbd.err" --skip-name-resolve --skip-log-bin --max-connections=20 \
  --innodb-buffer-pool-size=16M --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=0 \
  --ssl-cert="$MYD/server.crt" --ssl-key="$MYD/server.key" </dev/null >"$DIR/mariadbd.out" 2>&1 &
MY_PID=$!
up=0
for ((i = 0; i < 300; i++)); do
  if "$MYADMIN" --no-defaults -uroot -S "$MYSOCK" ping >/dev/null 2>&1; then up=1; break; fi
  kill -0 $MY_PID 2>/dev/null || die "mariadbd exited during start-up: $(tail -n1 "$MYD/mariadbd.err" 2>/dev/null)"
  sleep 0.1
done
((up)) || die "mariadbd did not come up within 30 s"
"$MYCLI" --no-defaults -uroot -S "$MYSOCK" <<EOF || die "MariaDB set-up failed"
CREATE DATABASE shop;
CREATE USER 'app'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$APP_PW');
GRANT SELECT ON shop.* TO 'app'@'127.0.0.1';
EOF

echo "PSQL=$PGBIN/psql"
echo "MARIADB=$MYCLI"
echo "PG_PORT=$PG_PORT"
echo "MY_PORT=$MY_PORT"
echo "USER=app"
echo "PASSWORD=$APP_PW"
echo "DATABASE=shop"
