"""What every Python peer of the interop suite shares: the script's payload
generators (the same formulas as agent/src/main.rs and peers/common.mjs),
command-line options and the report format (see ../README.md)."""

import argparse
import json
import os
import socket
import sys
import threading

CLIENT_CLOSE_CODE = 4000
SERVER_CLOSE_CODE = 4001
CLOSE_REASON = "bye ✓"  # multi-byte UTF-8 on purpose


def generate(gen, length):
    if gen == "ascii":
        return bytes(0x20 + ((i * 7 + length) % 95) for i in range(length))
    if gen == "utf8":
        unit = "aé€𝄞".encode()
        out = unit * (length // len(unit))
        return out + b"a" * (length - len(out))
    if gen == "bytes":
        return bytes((i * 31 + length * 7 + 11) & 0xFF for i in range(length))
    raise ValueError(f"unknown generator {gen!r}")


class Step:
    def __init__(self, m):
        self.binary = m["type"] == "binary"
        self.payload = generate(m["gen"], m["len"])
        self.label = f'{m["type"]}/{m["gen"]}/{m["len"]}'

    def message(self):
        """The message as a Python WebSocket library takes it."""
        return self.payload if self.binary else self.payload.decode()


def load_script(path):
    with open(path) as f:
        script = json.load(f)
    return [Step(m) for m in script["messages"]], script.get("ping_every", 0)


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--script", required=True)
    p.add_argument("--url")
    p.add_argument("--protocol", default="rfc6455")
    p.add_argument("--framing", default="old", choices=["old", "new"])
    p.add_argument("--deflate", action="store_true")
    p.add_argument("--deflate-tuned", action="store_true")
    p.add_argument("--closer", default="client", choices=["client", "server"])
    p.add_argument("--close-after", type=int)
    p.add_argument("--origin", default="http://127.0.0.1")
    p.add_argument("--allow-origin")
    p.add_argument("--expect-status", type=int)
    return p.parse_args(argv)


class Report:
    def __init__(self, impl, role, steps):
        self.impl, self.role, self.steps = impl, role, steps
        self.protocol = None
        self.deflate = None
        self.received = []
        self.pings_sent = 0
        self.pongs_received = None
        self.pings_received = None
        self.close = None
        self.errors = []
        self.extra = {}

    def got(self, data):
        """Records the next message (str for text, bytes for binary) against
        the script; returns whether it is the expected one."""
        i = len(self.received)
        kind = "text" if isinstance(data, str) else "binary"
        raw = data.encode() if isinstance(data, str) else bytes(data)
        want = self.steps[i] if i < len(self.steps) else None
        ok = want is not None and want.binary == (kind == "binary") and want.payload == raw
        if not ok:
            where = ""
            if want is not None:
                diff = next((j for j, (a, b) in enumerate(zip(want.payload, raw)) if a != b), None)
                where = f" (first difference at byte {diff})" if diff is not None else ""
            self.errors.append(
                f"message {i}: got {kind} of {len(raw)} bytes, expected "
                f"{want.label if want else 'nothing'}{where}"
            )
        self.received.append({"type": kind, "len": len(raw), "ok": ok})
        return ok

    def to_json(self):
        return {
            "impl": self.impl,
            "role": self.role,
            "protocol": self.protocol,
            "deflate": self.deflate,
            "received": self.received,
            "pings_sent": self.pings_sent,
            "pongs_received": self.pongs_received,
            "pings_received": self.pings_received,
            "close": self.close,
            "errors": self.errors,
            **self.extra,
        }


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def accept_one():
    """Listens on 127.0.0.1 (a port the OS picks), reports the port, and
    returns the first connection. Stdin ending stops the process, as it does
    every server of the suite."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    emit({"listening": listener.getsockname()[1]})
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    conn, _ = listener.accept()
    return conn
