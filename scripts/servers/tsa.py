"""The HTTP side of tsa.sh: POST a DER TimeStampReq, get `openssl ts -reply`'s answer.
Usage: tsa.py WORKDIR PORT (see tsa.sh for the paths and what they do)."""
import http.server
import os
import subprocess
import sys
import tempfile

WORK, PORT = sys.argv[1], int(sys.argv[2])


def reply(query: bytes, section: str = "tsa_good") -> bytes:
    with tempfile.TemporaryDirectory() as t:
        q, r = os.path.join(t, "q.der"), os.path.join(t, "r.der")
        with open(q, "wb") as f:
            f.write(query)
        subprocess.run(["openssl", "ts", "-reply", "-config", os.path.join(WORK, "ts.cnf"), "-section", section,
                        "-queryfile", q, "-out", r], check=True, capture_output=True)
        with open(r, "rb") as f:
            return f.read()


def other_query() -> bytes:
    with tempfile.TemporaryDirectory() as t:
        d = os.path.join(t, "other")
        with open(d, "wb") as f:
            f.write(b"some other checksum file\n")
        return subprocess.run(["openssl", "ts", "-query", "-data", d, "-sha256", "-cert"],
                              check=True, capture_output=True).stdout


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        query = self.rfile.read(n)
        path = self.path.rstrip("/")
        status, body = 200, b""
        try:
            if path == "/500":
                status, body = 500, b"internal error"
            elif path == "/garbage":
                body = b"<html>this is not a time-stamp reply</html>"
            elif path == "/truncated":
                body = reply(query)
                body = body[: len(body) // 2]
            elif path == "/other-imprint":
                body = reply(other_query())
            elif path == "/wrong-nonce":
                # The query ends with INTEGER nonce, BOOLEAN certReq (01 01 ff): change the
                # nonce's last byte.
                q = bytearray(query)
                q[-4] ^= 0x01
                body = reply(bytes(q))
            elif path == "/untrusted":
                body = reply(query, "tsa_rogue")
            elif path == "/rejection":
                # TimeStampResp { status { rejection(2), ["request refused"] } }
                text = b"request refused"
                info = b"\x02\x01\x02" + b"\x30" + bytes([len(text) + 2]) + b"\x0c" + bytes([len(text)]) + text
                status_info = b"\x30" + bytes([len(info)]) + info
                body = b"\x30" + bytes([len(status_info)]) + status_info
            else:
                body = reply(query)
        except subprocess.CalledProcessError as e:
            status, body = 500, e.stderr
        with open(os.path.join(WORK, "requests.log"), "a") as log:
            log.write(f"{path or '/'} {status}\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
