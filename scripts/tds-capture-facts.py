#!/usr/bin/env python3
"""tds-capture-facts.py - check the TDS recordings of record-tds-captures.sh with tshark and
print one expected.jsonl row per capture.

Each CASE says what the recording set up (client and peer encryption settings, user,
queries, forced TLS version / cipher). Every fact is confirmed with tshark (and the raw TCP
payload bytes) before it is printed; any mismatch: message on stderr, exit status 1.

Usage: tds-capture-facts.py CAPTURE_DIR
"""
import json
import os
import subprocess
import sys

Q_SUBSTR = "FROM accounts"
CASES = {
    "tds-login-only.pcap": dict(
        port=14331, client_enc=0x00, server_enc=0x00, tls="TLSv1.2", user=None, inside_user="app",
        query=True, finding="login-only-encryption", encryption="plaintext"),
    "tds-cleartext-login.pcap": dict(
        port=14332, client_enc=0x02, server_enc=0x02, tls=None, user="legacy", query=True,
        finding="cleartext-credentials", encryption="plaintext", password="hunter2-not-secret"),
    "tds-tls12.pcap": dict(
        port=14333, client_enc=0x01, server_enc=0x01, tls="TLSv1.2", cipher=0xC030, user=None,
        inside_user="app", query=False, encryption="tls", upgrade="tds-prelogin",
        cert_cn="sql.dbwire.test"),
    "tds-server-not-sup.pcap": dict(
        port=14334, client_enc=0x00, server_enc=0x02, tls=None, user="app", query=True,
        finding="tls-not-offered", encryption="plaintext", password="app-pw-not-secret"),
    "tds8-strict-1433.pcap": dict(
        port=1433, strict=True, tls="TLSv1.3", cipher=0x1302, user=None, inside_user="app",
        query=False, encryption="tls", upgrade="tds8-strict", alpn_offered="tds/8.0"),
}
CIPHERS = {0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0x1302: "TLS_AES_256_GCM_SHA384"}
VERSIONS = {0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
FIELDS = ["tcp.srcport", "tcp.dstport", "tcp.payload", "tds.prelogin.option.encryption",
          "tds.prelogin.option.version", "tds.7login.username", "tds.query", "tls.handshake.type",
          "tls.handshake.version", "tls.handshake.extensions.supported_version",
          "tls.handshake.ciphersuite", "tls.handshake.extensions_alpn_str", "tls.handshake.certificate",
          "_ws.col.Info", "tcp.flags.syn", "tcp.flags.ack"]


class Mismatch(Exception):
    pass


def check(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: capture shows {got!r}, recording expected {want!r}")


def tshark(path, decode):
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=|"]
    for d in decode:
        cmd += ["-d", d]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        vals = line.split("\t")
        rows.append({f: (v.split("|") if v else []) for f, v in zip(FIELDS, vals)})
    return rows


def num(v):
    return int(v, 16) if v.startswith("0x") else int(v)


def facts(path, name, case):
    port = case["port"]
    strict = case.get("strict", False)
    # TDS 7 cases on their own ports need a decode-as; the strict case is TLS inside.
    rows = tshark(path, [f"tcp.port=={port},tls" if strict else f"tcp.port=={port},tds"])
    syn = [r for r in rows if r["tcp.flags.syn"] == ["1"] and r["tcp.flags.ack"] == ["0"]]
    check("TCP connections", len(syn), 1)
    client = f"127.0.0.1:{syn[0]['tcp.srcport'][0]}"
    server = f"127.0.0.1:{port}"
    c2s = b"".join(bytes.fromhex(r["tcp.payload"][0].replace(":", "")) for r in rows
                   if r["tcp.payload"] and r["tcp.dstport"] == [str(port)])
    s2c = b"".join(bytes.fromhex(r["tcp.payload"][0].replace(":", "")) for r in rows
                   if r["tcp.payload"] and r["tcp.srcport"] == [str(port)])
    allv = lambda f: [v for r in rows for v in r[f]]
    row = {"capture": name, "connection": 0, "server": server, "client": client, "ip_version": 4,
           "engine": "tds", "encryption": case["encryption"], "upgrade": case.get("upgrade"),
           "tls_version": None, "cipher": None, "cipher_id": None, "sni": None, "alpn": None,
           "certificate_subject_cn": None, "user": case["user"], "cleartext_password_seen": False,
           "server_version_prefix": None, "query_substring": None, "finding": case.get("finding"),
           "linktype": 1, "inside_tls": None}
    if strict:
        check("first client bytes (TLS handshake record)", c2s[:2].hex(), "1603")
        check("ALPN offered", allv("tls.handshake.extensions_alpn_str"), [case["alpn_offered"]])
        # What tshark makes of the same bytes with its default port-1433 decoding.
        default = tshark(path, [])
        labels = sorted({i for r in default for i in r["_ws.col.Info"]
                         if any(k in i for k in ("SQL batch", "Remote Procedure Call", "Unknown Packet"))})
        if not labels:
            raise Mismatch("tshark's default decoding no longer mislabels the strict TLS as TDS")
        row["tshark_default_labels"] = labels
    else:
        enc = [num(v) for v in allv("tds.prelogin.option.encryption")]
        check("PRELOGIN encryption (client, server)", enc, [case["client_enc"], case["server_enc"]])
        versions = allv("tds.prelogin.option.version")
        check("PRELOGIN versions seen", len(versions), 2)
        row["server_version_prefix"] = "16.0."
        check("peer version bytes in the PRELOGIN response", bytes([16, 0, 0x03, 0xE8]) in s2c, True)
    hs_types = allv("tls.handshake.type")
    if case["tls"]:
        check("ClientHello and ServerHello", "1" in hs_types and "2" in hs_types, True)
        sv = allv("tls.handshake.extensions.supported_version")
        hv = [num(v) for r in rows for v in r["tls.handshake.version"] if "2" in r["tls.handshake.type"]]
        neg = 0x0304 if case["tls"] == "TLSv1.3" else (hv[-1] if hv else None)
        if case["tls"] == "TLSv1.3":
            check("TLS 1.3 offered", any(num(v) == 0x0304 for v in sv), True)
        check("negotiated TLS version", VERSIONS.get(neg), case["tls"])
        row["tls_version"] = case["tls"]
        if "cipher" in case:
            server_rows = [r for r in rows if r["tcp.srcport"] == [str(port)] and r["tls.handshake.ciphersuite"]]
            check("cipher suite", num(server_rows[0]["tls.handshake.ciphersuite"][0]), case["cipher"])
            row["cipher"] = CIPHERS[case["cipher"]]
            row["cipher_id"] = f"0x{case['cipher']:04x}"
        if "cert_cn" in case:
            der = bytes.fromhex(allv("tls.handshake.certificate")[0].replace(":", ""))
            subj = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253"],
                                  input=der, check=True, capture_output=True).stdout.decode()
            check("certificate subject", subj.strip(), f"subject=CN={case['cert_cn']}")
            row["certificate_subject_cn"] = case["cert_cn"]
    else:
        check("no TLS handshake", hs_types, [])
    users = allv("tds.7login.username")
    check("LOGIN7 user name in clear", users[0] if users else None, case["user"])
    queries = allv("tds.query")
    visible = any(Q_SUBSTR in q for q in queries) or Q_SUBSTR.encode("utf-16-le") in c2s
    check("query in clear", visible, case["query"])
    if case["query"]:
        row["query_substring"] = Q_SUBSTR
    if case.get("password"):
        # [MS-TDS] 2.2.6.4: each password byte is nibble-swapped and XORed with 0xA5.
        obf = bytes((((b << 4) | (b >> 4)) & 0xFF) ^ 0xA5 for b in case["password"].encode("utf-16-le"))
        check("obfuscated password in the clear LOGIN7", obf in c2s, True)
        row["cleartext_password_seen"] = True
    if case.get("inside_user"):
        # The user name must not appear in clear (UTF-16LE) when it went inside TLS.
        check("user name hidden", case["inside_user"].encode("utf-16-le") in c2s, False)
        row["inside_tls"] = {"user": case["inside_user"]}
    # The card number never crosses in clear where queries are encrypted.
    if not case["query"]:
        check("card number hidden", "4111-1111".encode("utf-16-le") in c2s, False)
    return row


def main():
    d = sys.argv[1]
    ok = True
    for name, case in CASES.items():
        path = os.path.join(d, name)
        try:
            print(json.dumps(facts(path, name, case)))
        except (Mismatch, IndexError, subprocess.CalledProcessError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
