#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the shipped captures (written to fuzz/corpus/,
which git ignores):

- capture_file: each capture as is;
- decode: link-type selector byte + length-prefixed frames (the target's input format);
- pgsql, mysql, tds, tns, tls: the TCP payloads of each connection as direction-tagged steps.

Usage: python3 fuzz/seeds.py [CAPTURE_DIR]   (default: captures/)
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "captures")
CORPUS = os.path.join(HERE, "corpus")
# Order of the decode target's LINKS table.
LINK_SELECTOR = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 101: 5, 228: 6, 229: 7}


def pcap_frames(data):
    """(linktype, frame) from a legacy pcap file (either byte order)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    link = struct.unpack(e + "I", data[20:24])[0]
    at = 24
    while at + 16 <= len(data):
        incl = struct.unpack(e + "I", data[at + 8:at + 12])[0]
        frame = data[at + 16:at + 16 + incl]
        at += 16 + incl
        yield link, frame


def ip_tcp(link, frame):
    """(src port, dst port, payload) of a TCP segment, or None (Ethernet, SLL, SLL2, raw)."""
    if link == 1:
        ethertype, ip = struct.unpack(">H", frame[12:14])[0], frame[14:]
        if ethertype == 0x8100:
            ethertype, ip = struct.unpack(">H", frame[16:18])[0], frame[18:]
    elif link == 113:
        ip = frame[16:]
    elif link == 276:
        ip = frame[20:]
    else:
        ip = frame
    if not ip:
        return None
    if ip[0] >> 4 == 4:
        if ip[9] != 6:
            return None
        total = struct.unpack(">H", ip[2:4])[0]
        seg = ip[(ip[0] & 15) * 4:total]
    elif ip[0] >> 4 == 6:
        if ip[6] != 6:
            return None
        seg = ip[40:40 + struct.unpack(">H", ip[4:6])[0]]
    else:
        return None
    if len(seg) < 20:
        return None
    sport, dport = struct.unpack(">HH", seg[:4])
    return sport, dport, seg[(seg[12] >> 4) * 4:]


def steps(chunks):
    """The fuzz helper's step format: control (bit 0 direction, bit 2 two-byte length)."""
    out = bytearray([0])  # flags byte of `dissect`: not mid-stream, literals hidden
    for to_client, payload in chunks:
        while payload:
            part, payload = payload[:65535], payload[65535:]
            out += bytes([4 | to_client, len(part) >> 8, len(part) & 255]) + part
    return bytes(out)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for name in sorted(os.listdir(CAPTURES)):
        if not name.endswith((".pcap", ".pcapng")):
            continue
        data = open(os.path.join(CAPTURES, name), "rb").read()
        write("capture_file", name, data)
        frames = list(pcap_frames(data))
        if not frames:
            continue
        link = frames[0][0]
        if link in LINK_SELECTOR:
            blob = bytearray([LINK_SELECTOR[link]])
            for _, fr in frames[:200]:
                blob += struct.pack(">HB", len(fr), 0) + fr
            write("decode", name, bytes(blob))
        chunks = []
        for _, fr in frames:
            t = ip_tcp(link, fr)
            if t and t[2]:
                sport, dport, payload = t
                server = dport in (5432, 3306, 6543, 3307, 1433, 1521, 2484) or (
                    sport > dport and sport not in (1433, 1521, 2484))
                chunks.append((0 if server else 1, payload))
        if not chunks:
            continue
        stream = steps(chunks)
        if name.startswith("mysql"):
            target = "mysql"
        elif name.startswith("tds"):
            target = "tds"
        elif name.startswith("tns"):
            target = "tns"
        else:
            target = "pgsql"
        write(target, name, stream)
        if "tls" in name:
            write("tls", name, stream[1:])


if __name__ == "__main__":
    main()
