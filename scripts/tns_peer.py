#!/usr/bin/env python3
"""Minimal Oracle Net (TNS) peers for recording dbwire's test captures.

No Oracle server can run on the recording machine. The real client (python-oracledb in
thin mode, pure Python) talks to a scripted listener that answers as far as the layout
of real servers is known (CONNECT -> ACCEPT or REFUSE, the TTC set-protocol answer with a
server banner); TCPS wraps the socket in Python's ssl so the client's real TLS stack does
the handshake. Two sessions are scripted on both sides because no real client here
produces them: SQL text after authentication, and a Native Network Encryption (ANO)
negotiation. Their byte layouts follow the public captures named in captures/README.md.

Usage:
  tns_peer.py serve {accept,refuse,tcps} PORT [CERT KEY]   one connection, then exit
  tns_peer.py client PORT SERVICE [CAFILE]                   python-oracledb thin client
  tns_peer.py script {sql,nne} PORT                          both sides scripted
"""

import os
import socket
import ssl
import struct
import sys
import threading
import time

TYPE_CONNECT, TYPE_ACCEPT, TYPE_REFUSE, TYPE_DATA = 1, 2, 4, 6
SERVER_BANNER = b"x86_64/Linux 2.4.xx"


def packet(ptype, body, large=False):
    """TNS header: 2-byte length before a version >= 315 is agreed, 4-byte after."""
    n = 8 + len(body)
    if large:
        return struct.pack(">IBBH", n, ptype, 0, 0) + body
    return struct.pack(">HHBBH", n, 0, ptype, 0, 0) + body


def data(payload, large=True):
    """DATA packet: data flags (0) then the payload."""
    return packet(TYPE_DATA, b"\x00\x00" + payload, large)


def accept_body(version=315):
    """ACCEPT as python-oracledb reads it: version, service options, 10 bytes (SDU,
    TDU, byte order, accept data length and offset), NSI flags, 9 bytes, SDU and TDU as
    32-bit values, then (from version 318) 5 bytes and the 32-bit flags2."""
    b = struct.pack(">HH", version, 0x0C41)
    b += struct.pack(">HHHHH", 0x2000, 0xFFFF, 0x0100, 0, 0)
    b += bytes([0x41, 0x41]) + bytes(8)
    b += struct.pack(">II", 0x2000, 0x200000) + bytes(1) + struct.pack(">I", 0)
    return b + bytes(4)


def connect_packet(descriptor, version=315):
    """CONNECT with the connect data inside (short descriptors, < 230 bytes)."""
    d = descriptor.encode()
    fixed = struct.pack(">HHHHHHHHHHI", version, 300, 0x0C41, 0x2000, 0xFFFF, 0x7F08, 0, 1, len(d), 58, 0)
    fixed += bytes([0x41, 0x41])
    # Connect data at offset 58, as in the public captures: zero padding up to there.
    body = fixed + bytes(58 - 8 - len(fixed)) + d
    return packet(TYPE_CONNECT, body)


def set_protocol(banner):
    """TTC set-protocol: function 1, accepted versions (6) ending with 0, banner, NUL."""
    return b"\x01\x06\x00" + banner + b"\x00"


def read_packet(sock, large):
    """Read one TNS packet (header + body)."""
    head = recv_exact(sock, 8)
    if head is None:
        return None
    n = struct.unpack(">I", head[:4])[0] if large or head[:2] == b"\x00\x00" else struct.unpack(">H", head[:2])[0]
    body = recv_exact(sock, n - 8) if n > 8 else b""
    return head + (body or b"")


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        try:
            chunk = sock.recv(n - len(out))
        except (OSError, ssl.SSLError):
            return None
        if not chunk:
            return None
        out += chunk
    return out


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return s


def serve_real_client(conn, mode):
    """Answer a real client: CONNECT (+ separate connect data) -> ACCEPT/REFUSE."""
    conn.settimeout(5)
    pkt = read_packet(conn, False)
    if pkt is None or pkt[4] != TYPE_CONNECT:
        return
    cd_len, cd_off = struct.unpack(">HH", pkt[24:28])
    if cd_off >= len(pkt) and cd_len > 0:
        # Connect data longer than 230 bytes follows in its own DATA packet.
        read_packet(conn, False)
    if mode == "refuse":
        text = b"(DESCRIPTION=(TMP=)(VSNNUM=318767104)(ERR=12514)(ERROR_STACK=(ERROR=(CODE=12514)(EMFI=4))))"
        conn.sendall(packet(TYPE_REFUSE, struct.pack(">BBH", 0x22, 0, len(text)) + text))
        time.sleep(0.3)
        return
    conn.sendall(packet(TYPE_ACCEPT, accept_body(315)))
    # The client's TTC set-protocol request; answer with the server banner.
    req = read_packet(conn, True)
    if req is None:
        return
    conn.sendall(data(set_protocol(SERVER_BANNER)))
    # Whatever the client says next (or its close) ends the session.
    read_packet(conn, True)


def serve(mode, port, cert=None, key=None):
    s = listen(port)
    print("listening", flush=True)
    conn, _ = s.accept()
    if mode == "tcps":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        conn = ctx.wrap_socket(conn, server_side=True)
    try:
        serve_real_client(conn, mode)
    finally:
        conn.close()
        s.close()


def client(port, service, cafile=None):
    import oracledb

    kw = {}
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
        kw["ssl_context"] = ctx
        dsn = f"tcps://127.0.0.1:{port}/{service}?ssl_server_dn_match=false"
    else:
        dsn = f"127.0.0.1:{port}/{service}"
    try:
        oracledb.connect(user="app", password="app-pw-not-secret", dsn=dsn, tcp_connect_timeout=5, **kw)
    except Exception as e:  # the scripted listener cannot complete a login
        print("client stopped:", str(e).splitlines()[0])


# --- scripted sessions --------------------------------------------------------------

DESCRIPTOR = (
    "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=127.0.0.1)(PORT={port}))"
    "(CONNECT_DATA=(SERVICE_NAME=SHOP)(CID=(PROGRAM=tns-script)(HOST=recorder)(USER=app))))"
)
SQL = "SELECT * FROM accounts WHERE email = 'alice@example.com' AND card = '4111-1111-1111-1111'"


def ttc_string(s):
    """A TTC string: one length byte, or 0xFE then chunks of at most 64 bytes and 0."""
    b = s.encode()
    if len(b) < 64:
        return bytes([len(b)]) + b
    out = b"\xfe"
    for i in range(0, len(b), 64):
        chunk = b[i : i + 64]
        out += bytes([len(chunk)]) + chunk
    return out + b"\x00"


def oall8(seq, sql):
    """TTC function call (3) OALL8 (0x5e) with zeroed options and the statement text,
    laid out like the calls in the public TRex Oracle capture."""
    return b"\x03\x5e" + bytes([seq]) + b"\x02\x00\x00\x00\x01" + bytes(16) + ttc_string(sql)


def ano_subpacket(kind, value):
    return struct.pack(">HH", len(value), kind) + value


VERSION_SUB = ano_subpacket(5, bytes([0x13, 0x00, 0x00, 0x00]))


def ano_service(service, subs, error=0):
    return struct.pack(">HHI", service, len(subs), error) + b"".join(subs)


def ano_packet(services):
    """ANO: 0xDEADBEEF, length, version, service count, flags, then the services."""
    body = b"".join(services)
    total = 4 + 2 + 4 + 2 + 1 + len(body)
    return b"\xde\xad\xbe\xef" + struct.pack(">HIHB", total, 0x13000000, len(services), 0) + body


def supervisor(cid):
    array = b"\xde\xad\xbe\xef" + struct.pack(">HI", 3, 4) + struct.pack(">HHHH", 4, 1, 2, 3)
    return ano_service(4, [VERSION_SUB, ano_subpacket(1, cid), ano_subpacket(1, array)])


def nne_client_offer():
    return ano_packet(
        [
            supervisor(os.urandom(8)),
            ano_service(1, [VERSION_SUB, ano_subpacket(3, b"\xe0\xe1"), ano_subpacket(6, b"\xfc\xff")]),
            # Encryption: AES256, AES192, AES128 (no "none": encryption required).
            ano_service(2, [VERSION_SUB, ano_subpacket(1, bytes([17, 16, 15])), ano_subpacket(2, b"\x01")]),
            # Integrity: SHA256, SHA384, SHA512, SHA1.
            ano_service(3, [VERSION_SUB, ano_subpacket(1, bytes([5, 6, 4, 3]))]),
        ]
    )


def nne_server_answer():
    gen, prime = os.urandom(32), os.urandom(32)
    return ano_packet(
        [
            ano_service(4, [VERSION_SUB, ano_subpacket(6, b"\x00\x1f"), ano_subpacket(1, b"\xde\xad\xbe\xef" + struct.pack(">HI", 3, 2) + b"\x00\x04\x00\x01")]),
            ano_service(1, [VERSION_SUB, ano_subpacket(6, b"\xfb\xff")]),
            ano_service(2, [VERSION_SUB, ano_subpacket(2, bytes([17]))]),
            # Integrity chosen (SHA256) with the Diffie-Hellman parameters for the key.
            ano_service(
                3,
                [
                    VERSION_SUB,
                    ano_subpacket(2, bytes([5])),
                    ano_subpacket(3, struct.pack(">H", len(gen))),
                    ano_subpacket(3, struct.pack(">H", len(prime))),
                    ano_subpacket(1, gen),
                    ano_subpacket(1, prime),
                    ano_subpacket(1, os.urandom(32)),
                    ano_subpacket(1, os.urandom(16)),
                ],
            ),
        ]
    )


def scripted(mode, port):
    s = listen(port)
    done = threading.Event()

    def server():
        conn, _ = s.accept()
        conn.settimeout(5)
        read_packet(conn, False)
        conn.sendall(packet(TYPE_ACCEPT, accept_body(315)))
        if mode == "nne":
            read_packet(conn, True)
            conn.sendall(data(nne_server_answer()))
            # From here on every DATA payload is ciphertext (AES256) plus a SHA256 MAC.
            read_packet(conn, True)
            conn.sendall(data(os.urandom(80)))
            read_packet(conn, True)
        else:
            read_packet(conn, True)
            conn.sendall(data(set_protocol(SERVER_BANNER)))
            read_packet(conn, True)
            # Describe + row data are not modelled; a short OK-like answer.
            conn.sendall(data(b"\x04" + bytes(20)))
            read_packet(conn, True)
        conn.close()
        done.set()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(5)
    c.sendall(connect_packet(DESCRIPTOR.format(port=port)))
    read_packet(c, False)
    if mode == "nne":
        c.sendall(data(nne_client_offer()))
        read_packet(c, True)
        c.sendall(data(os.urandom(96)))
        read_packet(c, True)
        c.sendall(data(os.urandom(48)))
    else:
        c.sendall(data(set_protocol(b"tns-script")))
        read_packet(c, True)
        c.sendall(data(oall8(1, SQL)))
        read_packet(c, True)
        c.sendall(data(b"\x03\x09\x02"))  # TTC logoff
    done.wait(5)
    c.close()
    s.close()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2], int(sys.argv[3]), *sys.argv[4:6])
    elif cmd == "client":
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif cmd == "script":
        scripted(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
