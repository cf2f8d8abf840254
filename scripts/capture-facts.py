#!/usr/bin/env python3
"""capture-facts.py - check one recording made by record-captures.sh with tshark and print
the facts it confirmed as JSON lines (one per database TCP connection) for expected.jsonl.

The expectations come from how the recording was set up (command-line options); every one is
checked against what tshark (and the raw TCP payload bytes) show. Any mismatch: message on
stderr, exit status 1, nothing printed.

Facts only describe what a passive observer can see on the wire: for a TLS connection the user
name, authentication method and queries are inside TLS, so those fields are null and the values
the recording used are listed under "inside_tls" instead (and checked NOT to appear in clear).
"""
import argparse
import json
import struct
import subprocess
import sys

CIPHERS = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
}
VERSIONS = {0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
PG_AUTH = {"10": "scram-sha-256", "3": "password", "5": "md5", "0": "trust"}
FIELDS = [
    "frame.number", "tcp.stream", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport",
    "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.payload",
    "tls.handshake.type", "tls.handshake.version", "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite", "tls.handshake.random", "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str", "tls.handshake.certificate",
    "pgsql.query", "pgsql.parameter_name", "pgsql.parameter_value", "pgsql.authtype",
    "pgsql.auth.sasl.mech", "pgsql.password",
    "mysql.version", "mysql.user", "mysql.query", "mysql.client_auth_plugin", "mysql.caps.sl",
]
PG_SSLREQUEST = bytes.fromhex("0000000804d2162f")
# ServerHello.random of a TLS 1.3 HelloRetryRequest (RFC 8446 4.1.3)
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"


class Mismatch(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: capture shows {got!r}, recording expected {want!r}")


def linktype(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
    magic = hdr[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return struct.unpack("<I", hdr[20:24])[0] & 0x0FFFFFFF
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        return struct.unpack(">I", hdr[20:24])[0] & 0x0FFFFFFF
    raise Mismatch(f"{path}: not a classic pcap file (magic {magic.hex()})")


def tshark(path, decode_as):
    cmd = ["tshark", "-n", "-r", path, "-T", "ek"]
    for d in decode_as:
        cmd += ["-d", d]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    pkts = []
    for line in out.splitlines():
        obj = json.loads(line)
        if "layers" not in obj:
            continue  # index lines
        lay = obj["layers"]
        pkt = {}
        for f in FIELDS:
            v = lay.get(f.replace(".", "_"))
            if v is None:
                v = lay.get(f)
            if v is not None:
                pkt[f] = [str(x) for x in (v if isinstance(v, list) else [v])]
        pkts.append(pkt)
    return pkts


def first(pkt, f):
    v = pkt.get(f)
    return v[0] if v else None


def flag(v):
    return v in ("1", "True", "true")


def cert_facts(der_hex):
    der = bytes.fromhex(der_hex.replace(":", ""))
    out = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-issuer", "-startdate",
         "-enddate", "-nameopt", "RFC2253"],
        input=der, check=True, capture_output=True).stdout.decode()
    facts = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        facts[k] = v
    def cn(dn):
        for rdn in dn.split(","):
            if rdn.startswith("CN="):
                return rdn[3:]
        return None
    return {
        "certificate_subject_cn": cn(facts["subject"]),
        "certificate_issuer_cn": cn(facts["issuer"]),
        "certificate_not_before": facts["notBefore"],
        "certificate_not_after": facts["notAfter"],
    }


def analyse(args):
    decode_as = []
    port = int(args.server.rsplit(":", 1)[1])
    std = {"postgresql": 5432, "mysql": 3306}[args.engine]
    if port != std:
        decode_as.append(f"tcp.port=={port},{'pgsql' if args.engine == 'postgresql' else 'mysql'}")
    pkts = tshark(args.capture, decode_as)
    lt = linktype(args.capture)
    if args.linktype is not None:
        check("pcap link type", lt, args.linktype)
    elif lt != 1 and lt != 0:
        raise Mismatch(f"unexpected link type {lt}")

    streams = {}
    for p in pkts:
        s = first(p, "tcp.stream")
        if s is None:
            continue
        st = streams.setdefault(s, {"pkts": [], "syn": None})
        st["pkts"].append(p)
        if flag(first(p, "tcp.flags.syn")) and not flag(first(p, "tcp.flags.ack")) and st["syn"] is None:
            st["syn"] = p

    conns = [st for st in streams.values() if st["syn"] is not None]
    check("number of database connections", len(conns), args.connections)
    results = []
    for idx, st in enumerate(conns):
        syn = st["syn"]
        v6 = "ipv6.src" in syn
        src = first(syn, "ipv6.src" if v6 else "ip.src")
        dst = first(syn, "ipv6.dst" if v6 else "ip.dst")
        fmt = (lambda a, p: f"[{a}]:{p}") if v6 else (lambda a, p: f"{a}:{p}")
        server = fmt(dst, first(syn, "tcp.dstport"))
        client = fmt(src, first(syn, "tcp.srcport"))
        check("server address", server, args.server)
        sport = first(syn, "tcp.dstport")

        c2s, s2c = bytearray(), bytearray()
        ch = sh = cert = hrr = None
        startup, params, queries, users = {}, {}, [], []
        authtypes, sasl_mechs, client_plugins, versions, ssl_caps = [], [], [], [], []
        pg_passwords = []
        for p in st["pkts"]:
            to_server = first(p, "tcp.dstport") == sport
            payload = bytes.fromhex(first(p, "tcp.payload").replace(":", "")) if "tcp.payload" in p else b""
            (c2s if to_server else s2c).extend(payload)
            types = p.get("tls.handshake.type", [])
            if "1" in types and to_server and ch is None:
                ch = p
            if "2" in types and not to_server:
                if first(p, "tls.handshake.random").replace(":", "") == HRR_RANDOM:
                    hrr = p
                elif sh is None:
                    sh = p
            if "11" in types and not to_server and cert is None:
                cert = p
            if args.engine == "postgresql":
                names, vals = p.get("pgsql.parameter_name", []), p.get("pgsql.parameter_value", [])
                (startup if to_server else params).update(zip(names, vals))
                queries += p.get("pgsql.query", [])
                authtypes += p.get("pgsql.authtype", []) if not to_server else []
                sasl_mechs += p.get("pgsql.auth.sasl.mech", [])
                pg_passwords += p.get("pgsql.password", [])
            else:
                queries += p.get("mysql.query", [])
                users += p.get("mysql.user", [])
                client_plugins += p.get("mysql.client_auth_plugin", [])
                versions += p.get("mysql.version", [])
                if to_server and any(flag(x) for x in p.get("mysql.caps.sl", [])):
                    ssl_caps.append(p)
        c2s, s2c = bytes(c2s), bytes(s2c)

        # upgrade request (raw bytes, independent of the dissectors)
        upgrade = answer = None
        if args.engine == "postgresql":
            if c2s.startswith(PG_SSLREQUEST):
                upgrade = "pg-sslrequest"
                answer = chr(s2c[0]) if s2c else None
        else:
            # MySQL SSLRequest: 32-byte payload, sequence id 1, CLIENT_SSL (0x0800) set
            if len(c2s) >= 36 and c2s[:4] == b"\x20\x00\x00\x01" and \
                    struct.unpack("<I", c2s[4:8])[0] & 0x0800:
                upgrade = "mysql-ssl-request"
                if not ssl_caps:
                    raise Mismatch("raw bytes show a MySQL SSLRequest but tshark does not")
        check("upgrade", upgrade, args.upgrade)
        if args.engine == "postgresql":
            want_answer = args.ssl_answer or ("S" if args.encryption == "tls" else None)
            check("answer to SSLRequest", answer, want_answer)

        tls = sh is not None
        check("encryption", "tls" if tls else "plaintext", args.encryption)
        fact = {
            "capture": args.name, "connection": idx, "server": server, "client": client,
            "ip_version": 6 if v6 else 4, "engine": args.engine,
            "encryption": "tls" if tls else "plaintext", "upgrade": upgrade,
            "ssl_request_answer": answer, "tls_version": None, "cipher": None, "cipher_id": None,
            "sni": None, "alpn": None, "certificate_subject_cn": None,
            "certificate_issuer_cn": None, "certificate_not_before": None,
            "certificate_not_after": None, "user": None, "auth_method": None,
            "cleartext_password_seen": False, "server_version": None, "server_version_prefix": None,
            "query_substring": None, "tls_hello_retry_request": False, "linktype": lt,
            "inside_tls": None,
        }
        if tls:
            if ch is None:
                raise Mismatch("ServerHello without ClientHello")
            sv = sh.get("tls.handshake.extensions.supported_version")
            ver = int(sv[0], 0) if sv else int(first(sh, "tls.handshake.version"), 0)
            cid = int(first(sh, "tls.handshake.ciphersuite"), 0)
            fact["tls_version"] = VERSIONS.get(ver, hex(ver))
            fact["cipher_id"] = f"0x{cid:04x}"
            fact["cipher"] = CIPHERS.get(cid)
            if fact["cipher"] is None:
                raise Mismatch(f"cipher suite 0x{cid:04x} not in the name table")
            fact["sni"] = first(ch, "tls.handshake.extensions_server_name")
            fact["alpn"] = first(sh, "tls.handshake.extensions_alpn_str")
            if hrr is not None:
                fact["tls_hello_retry_request"] = True
                check("HelloRetryRequest cipher suite", int(first(hrr, "tls.handshake.ciphersuite"), 0), cid)
            check("HelloRetryRequest", fact["tls_hello_retry_request"], args.hrr)
            check("TLS version", fact["tls_version"], args.tls_version)
            check("cipher suite", fact["cipher_id"], args.cipher_id)
            check("SNI", fact["sni"], args.sni)
            check("ALPN (server selected)", fact["alpn"], None)
            if cert is not None:
                fact.update(cert_facts(first(cert, "tls.handshake.certificate")))
            check("certificate subject CN", fact["certificate_subject_cn"], args.cert_cn)
            if cert is not None:
                check("certificate issuer CN", fact["certificate_issuer_cn"], "dbwire Test Root CA")
            # nothing of the session may appear in clear
            for what, needle in (("query", args.query), ("user name", args.hidden_user),
                                 ("password", args.password)):
                if needle and (needle.encode() in c2s[8:] or needle.encode() in s2c):
                    raise Mismatch(f"{what} {needle!r} visible in clear in a TLS connection")
            if queries:
                raise Mismatch("tshark decoded queries in a TLS connection")
            fact["inside_tls"] = {"user": args.hidden_user, "auth_method": args.auth,
                                  "query_substring": args.query}
            if args.engine == "mysql":
                # the server greeting precedes the SSLRequest: the version is in clear
                check("server version visible", bool(versions), True)
                if not versions[0].startswith(args.server_version_prefix):
                    raise Mismatch(f"server version {versions[0]!r}")
                fact["server_version_prefix"] = args.server_version_prefix
                fact["server_version"] = versions[0]
        else:
            if args.tls_version or args.cipher_id or args.sni or args.cert_cn:
                raise Mismatch("TLS facts expected for a plaintext connection")
            if any("tls.handshake.type" in p for p in st["pkts"]):
                raise Mismatch("TLS handshake seen in a plaintext connection")
            if args.engine == "postgresql":
                user = startup.get("user")
                ver = params.get("server_version")
                auth = next((PG_AUTH.get(a) for a in authtypes if a != "0"), None)
                if auth == "scram-sha-256":
                    check("SASL mechanism", sasl_mechs[:1], ["SCRAM-SHA-256"])
            else:
                user = users[0] if users else None
                ver = versions[0] if versions else None
                auth = client_plugins[0] if client_plugins else None
            check("user", user, args.user)
            check("authentication method", auth, args.auth)
            if ver is None or not ver.startswith(args.server_version_prefix):
                raise Mismatch(f"server version {ver!r} does not start with {args.server_version_prefix!r}")
            if not any(args.query in q for q in queries) or args.query.encode() not in c2s:
                raise Mismatch(f"query containing {args.query!r} not seen (tshark: {queries!r})")
            fact.update(user=user, auth_method=auth, server_version_prefix=args.server_version_prefix,
                        server_version=ver, query_substring=args.query)
        seen = args.password.encode() in c2s
        check("cleartext password in the client's bytes", seen, args.cleartext_password)
        if args.engine == "postgresql" and args.cleartext_password:
            check("pgsql.password", pg_passwords, [args.password])
        if args.engine == "mysql" and args.cleartext_password:
            check("client auth plugin", client_plugins[:1], ["mysql_clear_password"])
        fact["cleartext_password_seen"] = seen
        results.append(fact)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture")
    ap.add_argument("--name", required=True, help="file name written to the 'capture' field")
    ap.add_argument("--engine", choices=["postgresql", "mysql"], required=True)
    ap.add_argument("--server", required=True, help="ADDR:PORT or [ADDR6]:PORT")
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--encryption", choices=["tls", "plaintext"], required=True)
    ap.add_argument("--upgrade", choices=["pg-sslrequest", "mysql-ssl-request"])
    ap.add_argument("--ssl-answer", choices=["S", "N"])
    ap.add_argument("--tls-version")
    ap.add_argument("--cipher-id")
    ap.add_argument("--hrr", action="store_true", help="expect a TLS 1.3 HelloRetryRequest")
    ap.add_argument("--sni")
    ap.add_argument("--cert-cn")
    ap.add_argument("--user")
    ap.add_argument("--hidden-user", help="user name used inside TLS")
    ap.add_argument("--auth", required=True)
    ap.add_argument("--password", required=True, help="password the client used")
    ap.add_argument("--cleartext-password", action="store_true",
                    help="the password must appear in clear (otherwise it must not)")
    ap.add_argument("--query", required=True, help="substring of a query the client ran")
    ap.add_argument("--server-version-prefix", required=True)
    ap.add_argument("--linktype", type=int)
    args = ap.parse_args()
    try:
        for fact in analyse(args):
            print(json.dumps(fact))
    except Mismatch as e:
        print(f"capture-facts: {args.name}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
