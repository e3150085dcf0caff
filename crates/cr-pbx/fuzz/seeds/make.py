#!/usr/bin/env python3
"""Writes starting inputs for the cr-pbx fuzz targets from the sipp scenarios of
scripts/sipp (the messages our SIPREC tests send), one directory per target:
sip/ (whole messages), sdp/ and metadata/ (the body parts), multipart/ (Content-Type line,
newline, body: the multipart target's input format) and srs/ (a scenario's messages joined
by 0xff, the srs target's separator). Run from anywhere: python3 make.py"""
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
SIPP = HERE.parents[3] / "scripts" / "sipp"
VALUES = {
    "remote_ip": "127.0.0.1", "remote_port": "5060", "transport": "UDP", "local_ip": "127.0.0.1",
    "local_port": "5070", "branch": "z9hG4bK-fuzz-1", "pid": "42", "call_number": "1",
    "call_id": "1-42@127.0.0.1", "local_ip_type": "4", "media_ip_type": "4", "media_ip": "127.0.0.1",
    "media_port": "6000", "media_port+2": "6002", "next_url": "sip:srs@127.0.0.1:5060",
    "peer_tag_param": ";tag=fuzz",
}


def message(cdata: str) -> bytes:
    lines = cdata.strip("\n").strip().split("\n")
    text = "\r\n".join(line.rstrip() for line in lines)
    text = re.sub(r"\[([a-z_+0-9]+)\]", lambda m: VALUES.get(m.group(1), m.group(0)), text)
    head, sep, body = text.partition("\r\n\r\n")
    if sep and body:
        body += "\r\n"
    head = head.replace("[len]", str(len(body.encode())))
    return (head + "\r\n\r\n" + body).encode()


def main() -> None:
    out = {name: HERE / name for name in ("sip", "sdp", "metadata", "multipart", "srs")}
    for d in out.values():
        d.mkdir(exist_ok=True)
    for scenario in sorted(SIPP.glob("*.xml")):
        msgs = [message(c) for c in re.findall(r"<!\[CDATA\[(.*?)\]\]>", scenario.read_text("latin-1"), re.S)]
        (out["srs"] / scenario.stem).write_bytes(b"\xff".join(msgs))
        for i, m in enumerate(msgs):
            (out["sip"] / f"{scenario.stem}-{i}").write_bytes(m)
            head, _, body = m.partition(b"\r\n\r\n")
            ct = re.search(rb"(?im)^content-type:\s*(.*)$", head)
            if not ct or not body:
                continue
            (out["multipart"] / f"{scenario.stem}-{i}").write_bytes(ct.group(1).strip() + b"\n" + body)
            for part in re.split(rb"\r\n--[^\r\n]*", b"\r\n" + body):
                p_head, _, p_body = part.partition(b"\r\n\r\n")
                if b"application/sdp" in p_head.lower() or body.startswith(b"v=0"):
                    (out["sdp"] / f"{scenario.stem}-{i}").write_bytes(p_body if p_body else body)
                if b"rs-metadata" in p_head.lower():
                    (out["metadata"] / f"{scenario.stem}-{i}").write_bytes(p_body)


if __name__ == "__main__":
    main()
