#!/usr/bin/env python3
"""Measures what `hybi serve` holds in memory, from outside the process
(VmRSS in /proc/<pid>/status): the figures BENCHMARKS.md quotes.

    cargo build --release -p hybi --features cli
    python3 tests/abuse/memory.py [--binary target/release/hybi] [--connections 1000]

Four measurements, each against a fresh server on 127.0.0.1 (port 0):

  idle-plain     N RFC 6455 connections, one small echo each, then idle
  idle-deflate   the same with permessage-deflate agreed
  after-bombs    20 deflate connections each echo one 16 KiB message that
                 inflates to 16 MiB, then stay open and idle for 2 s
  unfinished     40 connections each send 15 MiB of a 16 MiB message and
                 stop, under the default memory budget and under 64 MiB

Not a test: it asserts nothing beyond the protocol answers it reads. The
abuse suite (run.py) holds the bounds; this prints the numbers.
"""

import argparse
import re
import socket
import subprocess
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
REQUEST = (
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


class Server:
    """`hybi serve` on a free port; its RSS on demand."""

    def __init__(self, binary: str, flags: list[str]):
        args = [binary, "serve", "--port", "0", "--max-connections", "4000", "--max-per-ip", "4000"]
        args += ["--backlog", "1024"] + flags
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        first = self.proc.stderr.readline()
        match = re.search(r"listening on [\d.]+:(\d+)", first)
        if not match:
            raise SystemExit(f"server did not start: {first!r}")
        self.port = int(match.group(1))
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def rss_kib(self) -> int:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def header(opcode: int, length: int, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked client frame header with an all-zero mask (payload as is)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if length < 126:
        return bytes([b0, 0x80 | length]) + bytes(4)
    if length < 65536:
        return bytes([b0, 0xFE]) + length.to_bytes(2, "big") + bytes(4)
    return bytes([b0, 0xFF]) + length.to_bytes(8, "big") + bytes(4)


def connect(port: int, deflate: bool) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    s.sendall((REQUEST + extra + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(f"refused: {head[:80]!r}")
    if deflate and b"permessage-deflate" not in head:
        raise RuntimeError("deflate not agreed")
    return s


def read_message_length(s: socket.socket) -> int:
    """Reads one server frame whole; returns its payload length."""

    def exactly(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = s.recv(min(n - len(out), MiB))
            if not chunk:
                raise RuntimeError("closed mid-frame")
            out += chunk
        return out

    b = exactly(2)
    length = b[1] & 0x7F
    if length >= 126:
        length = int.from_bytes(exactly(2 if length == 126 else 8), "big")
    remaining = length
    while remaining:
        remaining -= len(exactly(min(remaining, MiB)))
    return length


def compressed(payload: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def idle(binary: str, n: int, deflate: bool) -> str:
    server = Server(binary, ["--deflate"] if deflate else [])
    hello = compressed(b"hello hello hello") if deflate else b"hello"
    warm = connect(server.port, deflate)
    warm.sendall(header(1, len(hello), rsv1=deflate) + hello)
    read_message_length(warm)
    time.sleep(0.3)
    before = server.rss_kib()
    socks = []
    for _ in range(n):
        s = connect(server.port, deflate)
        s.sendall(header(1, len(hello), rsv1=deflate) + hello)
        read_message_length(s)
        socks.append(s)
    time.sleep(1.0)
    after = server.rss_kib()
    server.stop()
    kind = "deflate" if deflate else "plain"
    per = (after - before) / n
    return f"idle-{kind}: {n} connections, RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB, {per:.1f} KiB each"


def after_bombs(binary: str) -> str:
    server = Server(binary, ["--deflate"])
    bomb = compressed(bytes(16 * MiB))
    before = server.rss_kib()
    socks, peak = [], 0
    for _ in range(20):
        s = connect(server.port, True)
        s.settimeout(30)
        s.sendall(header(2, len(bomb), rsv1=True) + bomb)
        read_message_length(s)
        socks.append(s)
        peak = max(peak, server.rss_kib())
    time.sleep(2.0)
    idle_rss = server.rss_kib()
    server.stop()
    return (
        f"after-bombs: 20 x ({len(bomb) // 1024} KiB -> 16 MiB) echoed, RSS {before / 1024:.1f} MiB, "
        f"peak {peak / 1024:.1f} MiB, idle 2 s later {idle_rss / 1024:.1f} MiB "
        f"({(idle_rss - before) / 20:.0f} KiB per idle connection)"
    )


def unfinished(binary: str, flags: list[str]) -> str:
    server = Server(binary, flags)
    before = server.rss_kib()
    socks, peak = [], 0
    for _ in range(40):
        s = connect(server.port, False)
        s.settimeout(2)
        try:
            s.sendall(header(2, 16 * MiB, fin=False) + bytes(15 * MiB))
        except OSError:
            pass  # failed (1009) while still sending: counted below
        socks.append(s)
        peak = max(peak, server.rss_kib())
    time.sleep(1.0)
    peak = max(peak, server.rss_kib())
    failed = 0
    for s in socks:
        s.settimeout(0.2)
        try:
            if s.recv(4)[:4] == b"\x88\x02\x03\xf1":
                failed += 1
        except OSError:
            pass
    server.stop()
    budget = " ".join(flags) or "default budget"
    return (
        f"unfinished ({budget}): 40 x 15 MiB, RSS {before / 1024:.1f} MiB -> peak {peak / 1024:.1f} MiB; "
        f"{failed} got close 1009"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "hybi"))
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    print(idle(args.binary, args.connections, False), flush=True)
    print(idle(args.binary, args.connections, True), flush=True)
    print(after_bombs(args.binary), flush=True)
    print(unfinished(args.binary, []), flush=True)
    print(unfinished(args.binary, ["--memory-budget", "64"]), flush=True)


if __name__ == "__main__":
    main()
