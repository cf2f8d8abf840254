#!/usr/bin/env python3
"""tds-peer.py - a minimal scripted SQL Server peer for recording TDS test captures.

It is not a database: it answers just enough of [MS-TDS] for a real client library to log
in and send SQL batches / RPCs, so that what goes over the wire is what that client really
sends. TLS is real (Python's ssl with MemoryBIO / SSLObject); the peer wraps the handshake
records in TDS PRELOGIN packets itself (TDS 7.x) or runs TLS first (TDS 8.0 strict).

Usage: tds-peer.py --port N --mode {off,on,not-sup,strict} --cert C --key K [--connections N]
  off      PRELOGIN response ENCRYPT_OFF (client OFF -> login-only TLS; client NOT_SUP -> none)
  on       PRELOGIN response ENCRYPT_ON  (full TLS; TLS 1.2, ECDHE-RSA-AES256-GCM-SHA384)
  not-sup  PRELOGIN response ENCRYPT_NOT_SUP (no TLS at all)
  strict   TDS 8.0: TLS from the first byte, ALPN tds/8.0, PRELOGIN and login inside TLS
Listens on 127.0.0.1 only, serves --connections connections, then exits.
"""
import argparse
import socket
import ssl
import struct
import sys

SERVER_VERSION = (16, 0, 1000, 0)  # reported in PRELOGIN VERSION and LOGINACK
ENC = {"off": 0x00, "on": 0x01, "not-sup": 0x02, "req": 0x03, "strict": 0x01}


def log(*a):
    print("tds-peer:", *a, file=sys.stderr, flush=True)


def packet(ptype, payload, size=4096):
    """Split a message into TDS packets (8-byte header, EOM on the last)."""
    out = b""
    chunks = [payload[i:i + size - 8] for i in range(0, len(payload), size - 8)] or [b""]
    for n, c in enumerate(chunks):
        status = 0x01 if n == len(chunks) - 1 else 0x00
        out += struct.pack(">BBHHBB", ptype, status, len(c) + 8, 0, (n + 1) & 0xFF, 0) + c
    return out


def prelogin_response(enc):
    opts = [(0x00, struct.pack(">BBHH", *SERVER_VERSION)), (0x01, bytes([enc])), (0x02, b"\x00"),
            (0x03, b""), (0x04, b"\x00")]
    table_len = 5 * len(opts) + 1
    table, data = b"", b""
    for tok, val in opts:
        table += struct.pack(">BHH", tok, table_len + len(data), len(val))
        data += val
    return table + b"\xff" + data


def parse_prelogin(p):
    opts, i = {}, 0
    while i < len(p) and p[i] != 0xFF:
        tok, off, ln = struct.unpack(">BHH", p[i:i + 5])
        opts[tok] = p[off:off + ln]
        i += 5
    return opts


def us(s):
    b = s.encode("utf-16-le")
    return struct.pack("<H", len(s)) + b


def bv(s):
    return bytes([len(s)]) + s.encode("utf-16-le")


def envchange(kind, new, old):
    body = bytes([kind]) + bv(new) + bv(old)
    return b"\xe3" + struct.pack("<H", len(body)) + body


def done(status=0, count=0):
    return b"\xfd" + struct.pack("<HHQ", status, 0xC1 if count else 0, count)


def login_ack(tds_version):
    name = "Microsoft SQL Server"
    body = b"\x01" + tds_version + bv(name) + bytes(SERVER_VERSION[:2]) + struct.pack(">H", SERVER_VERSION[2])
    return b"\xad" + struct.pack("<H", len(body)) + body


def login_response(login7):
    # Echo the client's TDS version (LOGIN7 TDSVersion, little-endian) in LOGINACK
    # (big-endian on the wire).
    ver = struct.unpack("<I", login7[4:8])[0]
    if ver >> 24 not in (0x70, 0x71, 0x72, 0x73, 0x74, 0x08):
        ver = 0x74000004
    return (envchange(1, "shop", "master") + envchange(4, "4096", "4096")
            + login_ack(struct.pack(">I", ver)) + done())


class Conn:
    """One client connection: raw socket bytes, optionally under TLS."""

    def __init__(self, sock, ctx):
        self.sock = sock
        self.ctx = ctx
        self.buf = b""  # raw socket bytes not consumed yet
        self.tls = None
        self.inc = self.out = None
        self.plain = b""  # decrypted bytes not consumed yet

    def recv_raw(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        r, self.buf = self.buf[:n], self.buf[n:]
        return r

    def peek_raw(self):
        if not self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        return self.buf[0]

    def read_raw_tls_record(self):
        hdr = self.recv_raw(5)
        return hdr + self.recv_raw(struct.unpack(">H", hdr[3:5])[0])

    # -- TLS
    def start_tls(self, wrapped):
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = self.ctx.wrap_bio(self.inc, self.out, server_side=True)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush_tls(wrapped)
                self.feed_tls_input(wrapped)
        self.flush_tls(wrapped)
        log("TLS", self.tls.version(), self.tls.cipher()[0], "ALPN", self.tls.selected_alpn_protocol())

    def feed_tls_input(self, wrapped):
        first = self.peek_raw()
        if wrapped and first == 0x12:
            hdr = self.recv_raw(8)
            self.inc.write(self.recv_raw(struct.unpack(">H", hdr[2:4])[0] - 8))
        elif 0x14 <= first <= 0x17:
            # Some clients send their last handshake flight outside PRELOGIN.
            self.inc.write(self.read_raw_tls_record())
        else:
            raise ValueError(f"unexpected byte 0x{first:02x} during TLS")

    def flush_tls(self, wrapped):
        data = self.out.read()
        if data:
            self.sock.sendall(packet(0x12, data) if wrapped else data)

    # -- TDS messages
    def read_message(self):
        """One TDS message (all packets to EOM): (type, payload). Reads through TLS when on."""
        payload, ptype = b"", None
        while True:
            hdr = self.read_bytes(8)
            ptype = hdr[0]
            payload += self.read_bytes(struct.unpack(">H", hdr[2:4])[0] - 8)
            if hdr[1] & 0x01:
                return ptype, payload

    def read_bytes(self, n):
        if self.tls is None:
            return self.recv_raw(n)
        while len(self.plain) < n:
            try:
                self.plain += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.inc.write(self.read_raw_tls_record())
        r, self.plain = self.plain[:n], self.plain[n:]
        return r

    def send(self, ptype, payload):
        data = packet(ptype, payload)
        if self.tls is None:
            self.sock.sendall(data)
        else:
            self.tls.write(data)
            self.flush_tls(False)


def serve(conn, mode):
    if mode == "strict":
        conn.start_tls(wrapped=False)
    ptype, p = conn.read_message()
    if ptype != 0x12:
        raise ValueError(f"expected PRELOGIN, got type 0x{ptype:02x}")
    client_enc = parse_prelogin(p).get(0x01, b"\x02")[0]
    server_enc = ENC[mode]
    if mode == "off" and client_enc & 0x7F in (0x01, 0x02, 0x03):
        # [MS-TDS] 2.2.6.5: a server with encryption available but off answers a client
        # without encryption NOT_SUP and one that asks for it ON.
        server_enc = 0x02 if client_enc & 0x7F == 0x02 else 0x01
    log(f"PRELOGIN client encryption 0x{client_enc:02x}, server 0x{server_enc:02x}")
    conn.send(0x04, prelogin_response(server_enc))
    login_only = False
    if mode != "strict" and client_enc & 0x7F != 0x02 and server_enc != 0x02:
        login_only = client_enc & 0x7F == 0x00 and server_enc == 0x00
        conn.start_tls(wrapped=True)
    ptype, p = conn.read_message()
    if ptype != 0x10:
        raise ValueError(f"expected LOGIN7, got type 0x{ptype:02x}")
    if login_only:
        # [MS-TDS] 2.2.6.5: with ENCRYPT_OFF on both sides only LOGIN7 is encrypted.
        conn.tls = None
        log("login-only encryption: back to plaintext after LOGIN7")
    conn.send(0x04, login_response(p))
    while True:
        try:
            ptype, p = conn.read_message()
        except (EOFError, ConnectionError, ssl.SSLError):
            return
        if ptype in (0x01, 0x03, 0x0E):
            conn.send(0x04, done(0x10, 1) if ptype != 0x0E else done())
        elif ptype == 0x06:
            conn.send(0x04, done(0x20))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=["off", "on", "not-sup", "strict"], required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--connections", type=int, default=1)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.num_tickets = 0
    if a.mode != "strict":
        # Like SQL Server: TLS 1.3 only with TDS 8.0 strict encryption.
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if a.mode == "on":
        ctx.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384")
    if a.mode == "strict":
        ctx.set_alpn_protocols(["tds/8.0"])
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(4)
    print("listening", flush=True)
    for _ in range(a.connections):
        s, _addr = ls.accept()
        try:
            serve(Conn(s, ctx), a.mode)
        except (EOFError, ConnectionError) as e:
            log("client went away:", repr(e))
        except Exception as e:  # keep serving: the recording script checks the result
            log("error:", repr(e))
        finally:
            s.close()


if __name__ == "__main__":
    main()
