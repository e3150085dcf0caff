#!/usr/bin/env python3
"""Sends G.711 audio as SRTP protected by libsrtp2 (through pylibsrtp): the independent
implementation the recorder's SRTP decryption is judged against.

The payload file holds raw G.711 bytes; every 160 bytes become one packet (20 ms). The
packets leave from --bind (the port the SDP offer announced) every --interval seconds.
--tamper N flips one payload byte of packet N after protection (it must fail
authentication); --replay N sends packet N a second time right after it (a replay).
Prints one line: "sent N".
"""
import argparse
import base64
import socket
import struct
import sys
import time

try:
    import pylibsrtp
except ImportError:
    print("pylibsrtp is not installed (pip install pylibsrtp)", file=sys.stderr)
    sys.exit(3)

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", required=True, choices=sorted(PROFILES))
    ap.add_argument("--key", required=True, help="base64 of master key || master salt")
    ap.add_argument("--bind", required=True, type=addr)
    ap.add_argument("--dest", required=True, type=addr)
    ap.add_argument("--payload", required=True, help="raw G.711 file")
    ap.add_argument("--pt", type=int, default=0)
    ap.add_argument("--ssrc", type=int, default=0x1234ABCD)
    ap.add_argument("--seq", type=int, default=65500, help="first sequence number (near the wrap on purpose)")
    ap.add_argument("--ts", type=int, default=123456)
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--tamper", type=int, action="append", default=[])
    ap.add_argument("--replay", type=int, action="append", default=[])
    a = ap.parse_args()

    policy = pylibsrtp.Policy(
        key=base64.b64decode(a.key),
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=PROFILES[a.suite],
    )
    session = pylibsrtp.Session(policy=policy)
    audio = open(a.payload, "rb").read()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(a.bind)
    sent = 0
    start = time.monotonic()
    for i in range(len(audio) // 160):
        payload = audio[i * 160:(i + 1) * 160]
        header = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if i == 0 else 0) | (a.pt & 0x7F),
            (a.seq + i) & 0xFFFF,
            (a.ts + 160 * i) & 0xFFFFFFFF,
            a.ssrc,
        )
        packet = bytearray(session.protect(header + payload))
        if i in a.tamper:
            packet[12 + 40] ^= 0x01
        due = start + i * a.interval
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        sock.sendto(bytes(packet), a.dest)
        sent += 1
        if i in a.replay:
            sock.sendto(bytes(packet), a.dest)
            sent += 1
    print(f"sent {sent}")


if __name__ == "__main__":
    main()
