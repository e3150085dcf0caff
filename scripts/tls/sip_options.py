#!/usr/bin/env python3
"""A SIP-over-TLS client for the tests: connects to --port on 127.0.0.1, checks the server's
certificate against --ca (name --name), presents --cert/--key when given, sends one
OPTIONS and prints the first line of the answer.

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
        s.sendall(msg.encode())
        data = b""
        while b"\r\n" not in data:
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
    print(data.split(b"\r\n")[0].decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
