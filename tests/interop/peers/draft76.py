"""Peer: an independent draft-76 (hixie-76 / hybi-00) client and server,
written from the protocol notes alone (docs/PROTOCOLS.md, sections 1-4)
and sharing no code with hybi-core, speaking both of Racket's framings
('old' and 'new') and behaving on the wire as Racket's net/websocket does:

- keys are generated as the draft says (1-12 spaces, 1-12 random
  characters from U+0021-U+002F and U+003A-U+007E), except that spaces may
  fall at the very end of the value, as Racket's client makes them: Key1
  always ends with at least one space, Key2 half of the time;
- `Host:` without the port, exactly one space after each header colon;
- the client checks the 16-byte answer; the server reads lines ending in
  CR, LF or CRLF, strips leading whitespace from header values and keeps
  trailing whitespace, and answers with the seed's conn-headers example
  (Sec-WebSocket-Origin, Sec-WebSocket-Location);
- closing (ws-close!) writes the close frame and closes the TCP connection
  at once, without waiting; receiving a close sends nothing back and hangs
  up.

In 'old' framing it also sends, before the third message (or echo), the two
kinds of frame the draft tells a receiver to discard: a length-prefixed
one (type 0x80) and a sentinel one of type 0x05. They must change nothing.

There are no pings or close codes in draft-76, and no binary messages.
Usage and report format: ../README.md.
"""

import hashlib
import os
import random
import socket
import struct
import sys

from common import Report, accept_one, emit, load_script, parse_args

IMPL = "draft76-py"
SYMBOLS = [chr(c) for c in list(range(0x21, 0x30)) + list(range(0x3A, 0x7F))]
TIMEOUT = 30


def make_key(rng, trailing):
    """A Sec-WebSocket-Key value and its part (number / spaces)."""
    spaces = rng.randint(1, 12)
    part = rng.randint(0, 0xFFFFFFFF // spaces)
    chars = list(str(part * spaces))
    for _ in range(rng.randint(1, 12)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(SYMBOLS))
    at_end = rng.randint(1, spaces) if trailing else 0
    for _ in range(spaces - at_end):
        # Never first (the value must not start with a space: Racket's
        # server strips leading whitespace); the end is allowed.
        chars.insert(rng.randint(1, len(chars)), " ")
    chars.extend(" " * at_end)
    return "".join(chars), part


def key_part(value):
    """The draft's reading of a key: digits / spaces, or None if invalid."""
    digits = "".join(c for c in value if c.isdigit() and c.isascii())
    spaces = value.count(" ")
    if not digits or spaces == 0:
        return None
    number = int(digits)
    if number > 0xFFFFFFFF or number % spaces:
        return None
    return number // spaces


def answer(part1, part2, key3):
    return hashlib.md5(struct.pack(">II", part1, part2) + key3).digest()


class Stream:
    """Buffered reads over a socket; EOFError at the end of the stream."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def until(self, byte):
        start = 0
        while True:
            i = self.buf.find(byte, start)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return out
            start = len(self.buf)
            self._fill()

    def head(self):
        """An HTTP head: lines ending in CR, LF or CRLF, up to an empty one."""
        lines = []
        while True:
            line = bytearray()
            while True:
                c = self.exact(1)
                if c == b"\n":
                    break
                if c == b"\r":
                    if not self.buf:
                        try:
                            self._fill()
                        except EOFError:
                            break
                    if self.buf[:1] == b"\n":
                        del self.buf[:1]
                    break
                line += c
            if not line:
                return lines
            lines.append(line.decode("latin-1"))


class Framing:
    CLOSE = object()

    def __init__(self, mode):
        self.mode = mode

    def text(self, payload):
        if self.mode == "old":
            return b"\x00" + payload + b"\xff"
        return b"\xff" + struct.pack(">Q", len(payload)) + payload

    def discardable(self):
        """Frames a draft-76 'old' receiver must skip; none in 'new'."""
        return b"\x80\x02ab" + b"\x05junk\xff" if self.mode == "old" else b""

    def close(self):
        return b"\xff\x00" if self.mode == "old" else b"\x00" + struct.pack(">Q", 0)

    def read(self, stream):
        """The next text payload (bytes), or Framing.CLOSE."""
        while True:
            kind = stream.exact(1)[0]
            if self.mode == "new":
                length = struct.unpack(">Q", stream.exact(8))[0]
                payload = stream.exact(length)
                # Racket's 'new' reader: type 0x00 is close, anything else text.
                return Framing.CLOSE if kind == 0x00 else payload
            if kind & 0x80 == 0:
                payload = stream.until(0xFF)
                if kind == 0x00:
                    return payload
                continue  # other sentinel-delimited types are discarded
            length = 0
            while True:
                b = stream.exact(1)[0]
                length = length * 128 + (b & 0x7F)
                if b & 0x80 == 0:
                    break
            if kind == 0xFF and length == 0:
                return Framing.CLOSE
            stream.exact(length)  # length-prefixed frames are discarded


def exchange_client(sock, stream, framing, steps, report, closer):
    for i, step in enumerate(steps):
        sock.sendall((framing.discardable() if i == 2 else b"") + framing.text(step.payload))
        got = framing.read(stream)
        if got is Framing.CLOSE:
            report.errors.append(f"close instead of echo {i}")
            return
        try:
            report.got(got.decode("utf-8"))
        except UnicodeDecodeError:
            report.errors.append(f"echo {i} is not UTF-8")
            return
    if closer == "client":
        # Racket's ws-close!: the close frame, then hang up at once.
        sock.sendall(framing.close())
        report.close = {"code": None, "reason": ""}
    else:
        try:
            got = framing.read(stream)
        except EOFError:
            # Racket's peers may just hang up: a clean end between frames.
            report.close = {"code": None, "reason": "", "eof": True}
            return
        if got is Framing.CLOSE:
            report.close = {"code": None, "reason": ""}
        else:
            report.errors.append("a message instead of the server's close")


def run_client(args):
    steps, _ = load_script(args.script)
    report = Report(IMPL, "client", steps)
    url = args.url
    assert url.startswith("ws://")
    hostport, _, path = url[5:].partition("/")
    host, _, port = hostport.partition(":")
    path = "/" + path.split("?")[0]  # Racket sends the path without the query
    rng = random.Random(os.urandom(8))
    key1, part1 = make_key(rng, trailing=True)
    key2, part2 = make_key(rng, trailing=rng.random() < 0.5)
    key3 = bytes(rng.getrandbits(8) for _ in range(8))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
        f"Sec-WebSocket-Key1: {key1}\r\nSec-WebSocket-Key2: {key2}\r\nOrigin: {args.origin}\r\n\r\n"
    ).encode("latin-1") + key3
    sys.stderr.write(f"draft76-py request: {request!r}\n")
    sock = socket.create_connection((host, int(port or 80)), timeout=TIMEOUT)
    stream = Stream(sock)
    try:
        sock.sendall(request)
        head = stream.head()
        status_line = head[0] if head else ""
        parts = status_line.split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if status != 101:
            report.extra["refused"] = {"status": status}
            if args.expect_status is None:
                report.errors.append(f"handshake answered {status_line!r}")
            emit(report.to_json())
            return
        if args.expect_status is not None:
            report.errors.append("connected, but the server was expected to refuse")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.lstrip()
        got_answer = stream.exact(16)
        want = answer(part1, part2, key3)
        if got_answer != want:
            report.errors.append(f"answer {got_answer.hex()} != expected {want.hex()}")
            emit(report.to_json())
            return
        if headers.get("sec-websocket-origin") != args.origin:
            report.errors.append(f"Sec-WebSocket-Origin {headers.get('sec-websocket-origin')!r} != {args.origin!r}")
        if "sec-websocket-location" not in headers:
            report.errors.append("no Sec-WebSocket-Location")
        report.protocol = f"draft76-{args.framing}"
        report.deflate = False
        exchange_client(sock, stream, Framing(args.framing), steps, report, args.closer)
    except (EOFError, OSError) as e:
        report.errors.append(f"client: {type(e).__name__}: {e} after {len(report.received)} echoes")
    finally:
        sock.close()
    emit(report.to_json())


def serve_one(conn, args, steps):
    report = Report(IMPL, "server", steps)
    conn.settimeout(TIMEOUT)
    stream = Stream(conn)
    framing = Framing(args.framing)
    try:
        head = stream.head()
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.lstrip()  # keep trailing spaces
        key3 = stream.exact(8)
        p1, p2 = key_part(headers.get("sec-websocket-key1", "")), key_part(headers.get("sec-websocket-key2", ""))
        if p1 is None or p2 is None:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            report.errors.append(f"bad keys {headers.get('sec-websocket-key1')!r} {headers.get('sec-websocket-key2')!r}")
            return report
        path = head[0].split(" ")[1]
        origin = headers.get("origin", "")
        conn.sendall(
            (f"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Origin: {origin}\r\nSec-WebSocket-Location: ws://{headers.get('host', '')}{path}\r\n\r\n"
             ).encode("latin-1") + answer(p1, p2, key3))
        report.protocol = f"draft76-{args.framing}"
        report.deflate = False
        while True:
            try:
                got = framing.read(stream)
            except EOFError:
                report.close = {"code": None, "reason": "", "eof": True}
                break
            if got is Framing.CLOSE:
                # Racket: eof to the handler, nothing sent back; hang up.
                report.close = {"code": None, "reason": ""}
                break
            i = len(report.received)
            try:
                report.got(got.decode("utf-8"))
            except UnicodeDecodeError:
                report.errors.append(f"message {i} is not UTF-8")
                break
            conn.sendall((framing.discardable() if i == 2 else b"") + framing.text(got))
            if args.close_after == i + 1:
                conn.sendall(framing.close())
                report.close = {"code": None, "reason": ""}
                break
    except (EOFError, OSError) as e:
        report.errors.append(f"server: {type(e).__name__}: {e} after {len(report.received)} messages")
    finally:
        conn.close()
    return report


def run_server(args):
    steps, _ = load_script(args.script)
    conn = accept_one()
    emit(serve_one(conn, args, steps).to_json())


def main():
    args = parse_args()
    if args.mode == "client" and args.protocol != "draft76":
        raise SystemExit(f"{IMPL} speaks draft-76 only, not {args.protocol}")
    (run_server if args.mode == "server" else run_client)(args)


if __name__ == "__main__":
    main()
