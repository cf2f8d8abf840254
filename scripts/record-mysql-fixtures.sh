#!/usr/bin/env bash
# Record the MySQL/MariaDB wire fixtures used by the tests in src/engine/mysql.rs.
#
# Starts a throw-away MariaDB server on 127.0.0.1:$PORT (data dir in a temp dir),
# captures one TCP connection per scenario on loopback, and writes each direction's
# payload bytes, in capture order, as one hex line per TCP segment:
#   tests/fixtures/mysql/<name>.hex   lines "C <hex>" (client→server) / "S <hex>"
# Needs: mariadbd, mariadb-install-db, mariadb client, tcpdump, tshark, openssl; root.
set -euo pipefail

PORT=${PORT:-53307}
OUT=$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/mysql
TMP=$(mktemp -d)
mkdir -p "$OUT"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    -days 2 -subj "/CN=localhost" 2>/dev/null
mariadb-install-db --user=root --datadir="$TMP/data" --auth-root-authentication-method=normal >/dev/null
mariadbd --no-defaults --user=root --datadir="$TMP/data" --port="$PORT" --bind-address=127.0.0.1 \
    --socket="$TMP/sock" --pid-file="$TMP/pid" --ssl-cert="$TMP/cert.pem" --ssl-key="$TMP/key.pem" \
    --plugin-load-add=auth_pam --skip-log-bin >"$TMP/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 50); do [ -S "$TMP/sock" ] && break; sleep 0.2; done

mariadb -S "$TMP/sock" -uroot <<'SQL'
CREATE DATABASE shop;
CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40));
INSERT INTO shop.items VALUES (1,'apple'),(2,'pear');
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 's3cretPw';
GRANT ALL ON shop.* TO 'app'@'127.0.0.1';
CREATE USER 'pamuser'@'127.0.0.1' IDENTIFIED VIA pam USING 'mariadb';
SQL

M=(mariadb -h127.0.0.1 -P"$PORT")
record() { # name, then the client command
    local name=$1; shift
    tcpdump -i lo -U -w "$TMP/$name.pcap" "tcp port $PORT" 2>/dev/null &
    local dump=$!
    sleep 1
    "$@" >/dev/null 2>&1 || true
    sleep 1
    kill "$dump"; wait "$dump" 2>/dev/null || true
    tshark -r "$TMP/$name.pcap" -Y "tcp.len > 0" -T fields -e tcp.srcport -e tcp.payload \
        | awk -v p="$PORT" '{ print ($1 == p ? "S" : "C"), $2 }' >"$OUT/$name.hex"
    echo "$name: $(wc -l <"$OUT/$name.hex") segments"
}

record plain "${M[@]}" -uapp -ps3cretPw --skip-ssl shop \
    -e "SELECT name FROM items WHERE id = 1; SELECT COUNT(*) FROM items"
record tls "${M[@]}" -uapp -ps3cretPw --ssl shop -e "SELECT 1"
record clear-password "${M[@]}" -uapp -ps3cretPw --skip-ssl --default-auth=mysql_clear_password \
    --enable-cleartext-plugin -e "SELECT 2"
record failed-login "${M[@]}" -uapp -pwrongPw --skip-ssl shop -e "SELECT 3"
record compressed "${M[@]}" -uapp -ps3cretPw --skip-ssl --compress shop \
    -e "SELECT name FROM items WHERE name = 'apple'; SELECT REPEAT('ab', 300)"
record pam-dialog "${M[@]}" -upamuser -pPamSecret9 --skip-ssl -e "SELECT 4"
