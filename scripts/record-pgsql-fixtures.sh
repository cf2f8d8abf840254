#!/usr/bin/env bash
# Record real PostgreSQL exchanges on 127.0.0.1 and store their TCP payloads as small
# text fixtures for the pgsql engine tests (tests/fixtures/pgsql/*.txt).
#
# Fixture format: one TCP segment per line, "> HEX" client→server, "< HEX" server→client.
# Lines starting with '#' are comments.
#
# Needs: initdb/pg_ctl (PostgreSQL 15+), psql, tcpdump, tshark, openssl; run as root
# (the server runs as the unprivileged "postgres" user).
set -euo pipefail

PORT=${PORT:-55433}
OUT=$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/pgsql
WORK=$(mktemp -d /tmp/pgfix.XXXXXX)
chown postgres "$WORK"
PGDATA=$WORK/data
as_pg() { runuser -u postgres -- "$@"; }

cleanup() {
    as_pg pg_ctl -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

as_pg initdb -D "$PGDATA" -U postgres --auth=trust >/dev/null
openssl req -new -x509 -days 2 -nodes -subj "/CN=dbwire-fixture" \
    -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
chown postgres "$PGDATA/server.key" "$PGDATA/server.crt"
chmod 600 "$PGDATA/server.key"

cat >"$PGDATA/pg_hba.conf" <<HBA
local all all trust
host all trustuser 127.0.0.1/32 trust
host all md5user   127.0.0.1/32 md5
host all pwuser    127.0.0.1/32 password
host all scramuser 127.0.0.1/32 scram-sha-256
host all all       127.0.0.1/32 scram-sha-256
HBA

start() { # $1 = on|off (ssl)
    as_pg pg_ctl -D "$PGDATA" -l "$WORK/log" -w \
        -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c ssl=$1" start >/dev/null
}
stop() { as_pg pg_ctl -D "$PGDATA" -w stop >/dev/null; }

start off
as_pg psql -h "$WORK" -p "$PORT" -d postgres -q <<SQL
SET password_encryption = 'md5';
CREATE ROLE md5user LOGIN PASSWORD 'md5-Secret-1';
SET password_encryption = 'scram-sha-256';
CREATE ROLE pwuser LOGIN PASSWORD 'Hunter2-cleartext';
CREATE ROLE scramuser LOGIN PASSWORD 'scram-Secret-3';
CREATE ROLE trustuser LOGIN;
CREATE DATABASE shop OWNER trustuser;
SQL

# record NAME SSLMODE USER PASSWORD SQL
record() {
    local name=$1 sslmode=$2 user=$3 pass=$4 sql=$5
    local pcap=$WORK/$name.pcap
    tcpdump -i lo -U -s 0 -w "$pcap" "tcp port $PORT" 2>/dev/null &
    local tpid=$!
    sleep 1
    PGPASSWORD=$pass PGAPPNAME=dbwire-fixture PGSSLMODE=$sslmode PGGSSENCMODE=disable \
        psql -h 127.0.0.1 -p "$PORT" -U "$user" -d shop -X -q -c "$sql" >/dev/null 2>&1 || true
    sleep 1
    kill "$tpid"
    wait "$tpid" 2>/dev/null || true
    {
        echo "# $name: psql sslmode=$sslmode user=$user, PostgreSQL $(postgres -V | awk '{print $3}')"
        echo "# query: $sql"
        tshark -r "$pcap" -Y "tcp.len > 0" -T fields -e tcp.dstport -e tcp.payload |
            awk -v port="$PORT" '{ print ($1 == port ? ">" : "<"), $2 }'
    } >"$OUT/$name.txt"
    echo "recorded $OUT/$name.txt"
}

Q="SELECT relname, 42 FROM pg_class WHERE relname = 'alice@example.com' LIMIT 1"
# ssl=off: libpcq's default sslmode=prefer sends SSLRequest and gets 'N'.
record trust-ssl-refused prefer trustuser "" "$Q"
record md5 disable md5user md5-Secret-1 "SELECT 'card=4111-1111-1111-1111' AS x"
record cleartext disable pwuser Hunter2-cleartext "SELECT 1"
record scram disable scramuser scram-Secret-3 "SELECT now()"
record badpass disable scramuser wrong-password "SELECT 1"
stop

start on
record ssl-require require trustuser "" "SELECT 1"
stop
