"""Peer: websocat 1.x (pinned by scripts/test-interop), RFC 6455 without
compression (websocat 1.x has no permessage-deflate), as a client or a
server.

websocat does the WebSocket work; this wrapper only feeds its stdio and
reads what it prints. It runs websocat in line mode with every message on
one line: text as `T<base64>`, binary as `B<base64>` (`--text-prefix`,
`--binary-prefix`, `--base64`, `--base64-text`), so any payload, empty or
1 MiB, crosses stdio intact. Its `-vv` log says which pings and which close
(code and reason) it received; the wrapper counts them from there.

As a server, the wrapper binds 127.0.0.1 port 0 and accepts one TCP
connection, then hands the socket to websocat (`ws-u:open-fd:N`), which
runs the whole WebSocket server side on it: the port is picked by the OS,
as for every server of the suite. Usage and reports: ../README.md.
"""

import base64
import os
import queue
import re
import shutil
import subprocess
import sys
import threading

from common import (CLIENT_CLOSE_CODE, CLOSE_REASON, SERVER_CLOSE_CODE, Report, accept_one, emit, load_script,
                    parse_args)

WEBSOCAT = os.environ.get("WEBSOCAT", shutil.which("websocat") or "websocat")
CLOSE_RE = re.compile(r'The close message is Some\(CloseData \{ status_code: (\d+), reason: "(.*)" \}\)')
TIMEOUT = 30


def version():
    out = subprocess.run([WEBSOCAT, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip().replace("websocat ", "")  # "websocat 1.14.1" -> "1.14.1"


class Websocat:
    def __init__(self, spec_args, close_code, pass_fds=()):
        cmd = [WEBSOCAT, "-vv", "--text", "--text-prefix", "T", "--binary-prefix", "B", "--base64",
               "--base64-text", "--linemode-strip-newlines", "-B", "4000000", "--close-status-code",
               str(close_code), "--close-reason", CLOSE_REASON] + spec_args
        sys.stderr.write(f"websocat command: {cmd}\n")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  pass_fds=pass_fds)
        self.lines = queue.Queue()
        self.pings = 0
        self.close = None
        self.log_done = threading.Event()
        self.stdin_lock = threading.Lock()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip(b"\r\n"))
        self.lines.put(None)

    def _err(self):
        for raw in self.p.stderr:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write("websocat: " + line)
            if "Received WebSocket ping" in line:
                self.pings += 1
            m = CLOSE_RE.search(line)
            if m:
                self.close = {"code": int(m.group(1)), "reason": m.group(2)}
                # websocat answers a close only once its input ends: end it
                # now, as an application that saw the close would.
                self.end_input()
        self.log_done.set()

    def end_input(self):
        with self.stdin_lock:
            if not self.p.stdin.closed:
                try:
                    self.p.stdin.close()
                except OSError:
                    pass

    def send(self, step):
        prefix = b"B" if step.binary else b"T"
        with self.stdin_lock:
            self.p.stdin.write(prefix + base64.b64encode(step.payload) + b"\n")
            self.p.stdin.flush()

    def recv(self):
        """The next message (str or bytes), or None at the end."""
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise TimeoutError("websocat printed nothing for 30 s") from None
        if line is None:
            return None
        data = base64.b64decode(line[1:])
        if line[:1] == b"T":
            return data.decode("utf-8")
        if line[:1] == b"B":
            return data
        raise ValueError(f"unexpected websocat output {line[:40]!r}")

    def finish(self, report):
        """Stdin closed or not: waits for websocat to end and reads its log."""
        try:
            self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            report.errors.append("websocat did not exit")
        self.log_done.wait(5)
        report.pings_received = self.pings
        report.close = self.close
        report.extra["websocat_exit"] = self.p.returncode


def exchange(ws, report, steps, serve, close_after):
    """Client: send each step, await its echo. Server: echo each message."""
    if serve:
        while True:
            data = ws.recv()
            if data is None:
                return
            i = len(report.received)
            report.got(data)
            ws.send(_as_step(data))
            if close_after == i + 1:
                ws.end_input()  # websocat closes with --close-status-code
                while ws.recv() is not None:
                    pass
                return
    for i, step in enumerate(steps):
        ws.send(step)
        data = ws.recv()
        if data is None:
            report.errors.append(f"no echo for message {i}")
            return
        report.got(data)


class _as_step:
    """A received message in the shape `Websocat.send` takes, to echo it."""

    def __init__(self, data):
        self.binary = isinstance(data, bytes)
        self.payload = data if self.binary else data.encode()


def run_client(args):
    steps, _ = load_script(args.script)
    report = Report(f"websocat-{version()}", "client", steps)
    report.protocol = "rfc6455"
    report.deflate = False
    if args.expect_status is not None:
        p = subprocess.run([WEBSOCAT, "-vv", "--origin", args.origin, "-1", "-u", args.url], input=b"",
                           capture_output=True, timeout=TIMEOUT)
        err = p.stderr.decode("utf-8", "replace")
        sys.stderr.write(err)
        m = re.search(r"unexpected status code \((\d{3})", err)
        status = int(m.group(1)) if m else None
        report.extra["refused"] = {"status": status}
        if p.returncode == 0:
            report.errors.append("websocat connected, but the server was expected to refuse")
        emit(report.to_json())
        return
    ws = Websocat(["--origin", args.origin, args.url], CLIENT_CLOSE_CODE)
    try:
        exchange(ws, report, steps, serve=False, close_after=None)
        if args.closer == "client":
            ws.end_input()  # websocat sends its close (4000 "bye") at the end of stdin
        data = ws.recv()
        if data == "" and args.closer == "client":
            # websocat's quirk (README): an empty text message before its
            # close at the end of input; the server echoed it.
            report.extra["websocat_stray_empty_message"] = True
            data = ws.recv()
        if data is not None:
            report.errors.append("a message after the script")
    except Exception as e:  # noqa: BLE001 -- reported, the cell fails
        report.errors.append(f"client: {type(e).__name__}: {e}")
    ws.finish(report)
    emit(report.to_json())


def run_server(args):
    steps, _ = load_script(args.script)
    report = Report(f"websocat-{version()}", "server", steps)
    report.protocol = "rfc6455"
    report.deflate = False
    conn = accept_one()
    fd = conn.fileno()
    ws = Websocat([f"ws-u:open-fd:{fd}", "-"], SERVER_CLOSE_CODE, pass_fds=(fd,))
    conn.close()  # websocat holds its own copy
    try:
        exchange(ws, report, steps, serve=True, close_after=args.close_after)
    except Exception as e:  # noqa: BLE001 -- reported, the cell fails
        report.errors.append(f"server: {type(e).__name__}: {e}")
    ws.end_input()
    ws.finish(report)
    emit(report.to_json())


def main():
    args = parse_args()
    (run_server if args.mode == "server" else run_client)(args)


if __name__ == "__main__":
    main()
