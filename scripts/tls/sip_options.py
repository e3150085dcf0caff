#!/usr/bin/env python3
"""A SIP-over-TLS client for the tests: connects to --port on 127.0.0.1, checks the server's
certificate against --ca (name --name), presents --cert/--key when given, sends one
OPTIONS and prints the first line of the answer; with --sdp FILE it sends an INVITE with
that SDP instead and prints the whole final answer.

Exit status: 0 answered, 2 the TLS handshake (or the server's check of our certificate,
which TLS 1.3 reports at the first read) refused us, 1 anything else. The reason goes to
standard error.
"""
import argparse
import socket
import ssl
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--name", default="localhost")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--sdp")
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(a.ca)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname=a.name)
        local = "%s:%d" % s.getsockname()[:2]
        msg = (
            "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {local};branch=z9hG4bKtls1\r\n"
            "From: <sip:sbc@127.0.0.1>;tag=t1\r\nTo: <sip:srs@127.0.0.1>\r\n"
            "Call-ID: tls-options-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        if a.sdp:
            sdp = open(a.sdp, "rb").read().decode()
            msg = (
                "INVITE sip:srs@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS {local};branch=z9hG4bKtls2\r\n"
                "From: <sip:+4930111@sbc>;tag=t2\r\nTo: <sip:300@127.0.0.1>\r\n"
                f"Call-ID: tls-invite-1\r\nCSeq: 1 INVITE\r\nContact: <sip:sbc@{local};transport=tls>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
            )
        s.sendall(msg.encode())
        data = b""
        while True:
            # a whole response: head, then Content-Length bytes of body
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if len(rest) >= length:
                    if a.sdp and head.startswith(b"SIP/2.0 1"):
                        data = rest[length:]
                        continue
                    break
            chunk = s.recv(4096)
            if not chunk:
                print("connection closed without an answer", file=sys.stderr)
                return 2
            data += chunk
    except ssl.SSLError as e:
        print(f"TLS refused: {e}", file=sys.stderr)
        return 2
    except (ConnectionResetError, BrokenPipeError) as e:
        print(f"TLS refused: {e}", file=sys.stderr)
        return 2
    if a.sdp:
        print(data.decode(errors="replace"))
    else:
        print(data.split(b"\r\n")[0].decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
