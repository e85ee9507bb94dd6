"""The interop matrix: every peer, both roles, every protocol, all our drivers.

Run by scripts/test-interop after it installed the peers (see README.md).
Each cell starts a server (ours or the peer's) on 127.0.0.1 port 0, runs the
other side as a client through the exchange script, and checks both sides'
JSON reports. Prints the matrix, writes it to target/interop/INTEROP.md, and
exits non-zero if any cell failed (a peer that cannot start is a failure).
"""

import argparse
import concurrent.futures
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "target", "interop")
LOGS = os.path.join(OUT, "logs")
VENV_PY = os.path.join(OUT, "venv", "bin", "python")
# Where cargo put the agent: CARGO_TARGET_DIR if set (relative to the
# repository root, where scripts/test-interop runs cargo), else target/.
AGENT = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target", "release", "interop-agent")
NODE_AGENT = os.path.join(HERE, "node-agent", "agent.mjs")
PEERS = os.path.join(HERE, "peers")

CLIENT_CLOSE_CODE = 4000
SERVER_CLOSE_CODE = 4001
CLOSE_REASON = "bye ✓"  # multi-byte UTF-8 on purpose
CELL_TIMEOUT = 90  # seconds; a hung peer fails its cell, never the suite
GOOD_ORIGIN = "http://good.interop.test"
EVIL_ORIGIN = "http://evil.interop.test"

# -- the exchange script ----------------------------------------------------
# Boundaries of RFC 6455's 7/16/64-bit lengths (125/126, 65535/65536),
# empty and one-byte messages, multi-byte UTF-8 (1-4 byte characters, one
# message crossing 64 KiB), 1 MiB text and binary. Draft-76 has text only.
TEXT = [("ascii", 0), ("ascii", 1), ("ascii", 125), ("ascii", 126), ("ascii", 65535),
        ("ascii", 65536), ("utf8", 20), ("utf8", 70000), ("utf8", 1 << 20)]
BINARY = [("bytes", 0), ("bytes", 1), ("bytes", 125), ("bytes", 126), ("bytes", 65535),
          ("bytes", 65536), ("bytes", 1 << 20)]
PING_EVERY = 3  # client pings before message i when i % 3 == 1, server before echo i when i % 3 == 2


def script_for(protocol, binary=True):
    messages = [{"type": "text", "gen": g, "len": n} for g, n in TEXT]
    if protocol == "rfc6455" and binary:
        # Interleave so text and binary alternate in the second half.
        for k, (g, n) in enumerate(BINARY):
            messages.insert(2 * k + 3, {"type": "binary", "gen": g, "len": n})
    return {"ping_every": PING_EVERY if protocol == "rfc6455" else 0, "messages": messages}


# -- who takes part ------------------------------------------------------------
def py(name):
    return [VENV_PY, os.path.join(PEERS, name)]


def node(name):
    return ["node", os.path.join(PEERS, name)]


# Peers: command, roles, protocols spoken per role, whether they do
# permessage-deflate, and notes on what they cannot report.
PEER_DEFS = {
    "python-websockets": dict(cmd=py("py_websockets.py"), roles={"client": ["rfc6455"], "server": ["rfc6455"]},
                              deflate=True, tuned=True),
    "node-ws": dict(cmd=node("node_ws.mjs"), roles={"client": ["rfc6455"], "server": ["rfc6455"]}, deflate=True,
                    tuned=True),
    "node-websocket-driver": dict(cmd=node("node_driver.mjs"),
                                  roles={"client": ["rfc6455"], "server": ["draft76-old", "rfc6455"]},
                                  deflate=False),
    "chromium": dict(cmd=node("browser.mjs"), roles={"client": ["rfc6455"]}, deflate=True, tuned=True),
    "websocat": dict(cmd=py("websocat.py"), roles={"client": ["rfc6455"], "server": ["rfc6455"]}, deflate=False),
    "draft76-py": dict(cmd=py("draft76.py"),
                       roles={"client": ["draft76-old", "draft76-new"], "server": ["draft76-old", "draft76-new"]},
                       deflate=False),
}

# Our drivers, the matrix's columns: the blocking `hybi` API and
# `hybi::tokio` (both through the Rust agent), the npm package in www/.
DRIVERS = {
    "native": [AGENT, "--driver", "native"],
    "tokio": [AGENT, "--driver", "tokio"],
    "node": ["node", NODE_AGENT],
}

# Compression: False, True (both sides' defaults) or "tuned": both sides ask
# for every permessage-deflate parameter (no context takeover both ways,
# server window 2^10, client window 2^9); Chromium's offer is its own.
COLUMNS = [("draft76-old", False), ("draft76-new", False), ("rfc6455", False), ("rfc6455", True),
           ("rfc6455", "tuned")]
TUNED_PARAMS = {"server_no_context_takeover": True, "client_no_context_takeover": True,
                "server_max_window_bits": 10, "client_max_window_bits": 9}


def column_name(protocol, deflate):
    return protocol + {False: "", True: "+pmd", "tuned": "+pmd-tuned"}[deflate]


def deflate_args(cell):
    if not cell.deflate:
        return []
    return ["--deflate"] + (["--deflate-tuned"] if cell.deflate == "tuned" else [])


@dataclass
class Cell:
    peer: str
    peer_role: str
    protocol: str
    deflate: object  # False, True or "tuned"
    driver: str
    closer: str  # "client" or "server": who starts the closing handshake
    kind: str = "exchange"  # or "refusal"
    status: str = "pending"
    reasons: list = field(default_factory=list)
    seconds: float = 0.0
    impls: set = field(default_factory=set)

    @property
    def name(self):
        if self.kind == "refusal":
            return f"refusal.{self.peer}.{self.driver}"
        return (f"{self.peer}.{self.peer_role}.{column_name(self.protocol, self.deflate)}."
                f"{self.driver}.{self.closer}-closes")


def protocol_args(protocol):
    if protocol.startswith("draft76"):
        return ["--protocol", "draft76", "--framing", protocol.split("-")[1]]
    return ["--protocol", "rfc6455"]


class Proc:
    """A child process whose stdout lines (JSON) are collected by a thread."""

    def __init__(self, cmd, log, label):
        self.label = label
        self.log = log
        self.lines = queue.Queue()
        try:
            # A session of its own, so that stopping it also ends what it
            # started (Chromium under Playwright, websocat under its wrapper).
            self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                      cwd=ROOT, text=True, bufsize=1, start_new_session=True)
        except OSError as e:
            raise CellError(f"{label}: cannot start {cmd[0]}: {e}") from e
        self.t = threading.Thread(target=self._pump, daemon=True)
        self.t.start()

    def _pump(self):
        for line in self.p.stdout:
            self.log.write(f"[{self.label} stdout] {line}")
            self.log.flush()
            line = line.strip()
            if not line:
                continue
            try:
                self.lines.put(json.loads(line))
            except json.JSONDecodeError:
                self.lines.put({"_garbage": line})
        self.lines.put(None)

    def next(self, timeout, want=None):
        """The next JSON object (with key `want`, if given), or CellError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CellError(f"{self.label}: no {want or 'report'} within {timeout}s")
            try:
                obj = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if obj is None:
                self.p.wait()
                raise CellError(f"{self.label}: exited ({self.p.returncode}) without {want or 'a report'}")
            if want is None and ("listening" in obj or "refused" in obj and "role" not in obj):
                continue
            if want is None or want in obj:
                return obj

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        # Whatever it left behind in its process group goes too.
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class CellError(Exception):
    pass


def run_cell(cell, scripts):
    t0 = time.monotonic()
    log_path = os.path.join(LOGS, cell.name + ".log")
    with open(log_path, "w") as log:
        try:
            reasons = (run_refusal if cell.kind == "refusal" else run_exchange)(cell, scripts, log)
        except CellError as e:
            reasons = [str(e)]
        except Exception as e:  # noqa: BLE001 -- the orchestrator's own bug still fails the cell
            reasons = [f"orchestrator: {type(e).__name__}: {e}"]
        for r in reasons:
            log.write(f"FAIL: {r}\n")
    cell.reasons = reasons
    cell.status = "fail" if reasons else "pass"
    cell.seconds = time.monotonic() - t0
    return cell


def driver_cmd(cell):
    if cell.driver == "node" and not os.path.exists(NODE_AGENT):
        raise CellError("node driver: tests/interop/node-agent/agent.mjs not built (www/ package missing)")
    return DRIVERS[cell.driver]


def run_exchange(cell, scripts, log):
    script_path, script = scripts[cell.protocol]
    n = len(script["messages"])
    peer = PEER_DEFS[cell.peer]
    ours = driver_cmd(cell)
    common = ["--script", script_path]
    server_args = ["server"] + common + deflate_args(cell)
    if cell.protocol.startswith("draft76"):
        # Our servers tell the framing from the client's first bytes, as
        # they do by default (Framing::Auto, docs/PROTOCOLS.md §3.1), and
        # report the one decided; a peer's server is told it.
        framing = cell.protocol.split("-")[1]
        server_args += ["--framing", "auto" if cell.peer_role == "client" else framing]
    if cell.closer == "server":
        server_args += ["--close-after", str(n)]
    if cell.peer_role == "client":
        server_cmd, client_cmd = ours + server_args, peer["cmd"]
        server_label, client_label = f"ours:{cell.driver}", f"peer:{cell.peer}"
    else:
        server_cmd, client_cmd = peer["cmd"] + server_args, ours
        server_label, client_label = f"peer:{cell.peer}", f"ours:{cell.driver}"
    log.write(f"server: {' '.join(server_cmd)}\n")
    server = Proc(server_cmd, log, server_label)
    client = None
    try:
        port = server.next(30, "listening")["listening"]
        path = "/interop?cell=1" if cell.protocol == "rfc6455" else "/interop"
        client_args = (["client"] + common + ["--url", f"ws://127.0.0.1:{port}{path}", "--closer", cell.closer]
                       + protocol_args(cell.protocol) + deflate_args(cell))
        log.write(f"client: {' '.join(client_cmd + client_args)}\n")
        client = Proc(client_cmd + client_args, log, client_label)
        client_report = client.next(CELL_TIMEOUT)
        note_impl(cell, client_report)
        try:
            server_report = server.next(15)
        except CellError as e:
            # Say why the client gave up too: that is usually the cause.
            return [f"{client_label}: {err}" for err in client_report.get("errors", [])] + [str(e)]
        note_impl(cell, server_report)
    finally:
        for p in (client, server):
            if p is not None:
                p.stop()
    return check_exchange(cell, script, client_report, server_report)


def note_impl(cell, report):
    if report.get("impl"):
        cell.impls.add(report["impl"])


def check_exchange(cell, script, client, server):
    reasons = []
    n = len(script["messages"])
    if cell.peer == "websocat" and cell.peer_role == cell.closer:
        # websocat's quirk (README.md): at the end of its input it sends one
        # empty text message before its close. Python websockets sees the
        # same. Tolerated only when websocat closes, only once, only last.
        ours = server if cell.peer_role == "client" else client
        got = ours.get("received", [])
        if len(got) == n + 1 and got[-1]["type"] == "text" and got[-1]["len"] == 0:
            got.pop()
            ours["errors"] = [e for e in ours.get("errors", [])
                              if not e.startswith(f"message {n}: got text of 0 bytes")]
    expected_protocol = cell.protocol
    deflate = bool(cell.deflate)
    for side, rep in (("client", client), ("server", server)):
        who = f"{side} ({rep.get('impl', '?')})"
        for e in rep.get("errors", []):
            reasons.append(f"{who}: {e}")
        got = rep.get("received", [])
        bad = [i for i, m in enumerate(got) if not m.get("ok")]
        if len(got) != n:
            reasons.append(f"{who}: received {len(got)} of {n} messages")
        if bad:
            reasons.append(f"{who}: messages {bad} not intact")
        if rep.get("protocol") not in (None, expected_protocol):
            reasons.append(f"{who}: protocol {rep.get('protocol')}, expected {expected_protocol}")
        if rep.get("deflate") is not None and rep["deflate"] != deflate:
            reasons.append(f"{who}: permessage-deflate negotiated={rep['deflate']}, expected {deflate}")
        if cell.deflate == "tuned" and "deflate_params" in rep and rep["deflate_params"] != TUNED_PARAMS:
            reasons.append(f"{who}: permessage-deflate agreement {rep['deflate_params']}, expected {TUNED_PARAMS}")
        if rep.get("pongs_received") is not None and rep["pongs_received"] != rep.get("pings_sent"):
            reasons.append(f"{who}: {rep['pongs_received']} pongs for {rep.get('pings_sent')} pings")
    for sender, receiver, rname in ((client, server, "server"), (server, client, "client")):
        if receiver.get("pings_received") is not None and receiver["pings_received"] != sender.get("pings_sent"):
            reasons.append(f"{rname} saw {receiver['pings_received']} pings, peer sent {sender.get('pings_sent')}")
    # The close: the side that did not start it must see the closer's code
    # and reason (RFC 6455) or a clean draft-76 close; the closer must see
    # the handshake complete.
    closer, responder = (client, server) if cell.closer == "client" else (server, client)
    want_code = (CLIENT_CLOSE_CODE if cell.closer == "client" else SERVER_CLOSE_CODE)
    rclose = responder.get("close")
    if cell.protocol == "rfc6455":
        if not rclose or rclose.get("code") != want_code or rclose.get("reason") != CLOSE_REASON:
            if responder.get("close_unobservable"):
                pass
            else:
                reasons.append(f"{'server' if cell.closer == 'client' else 'client'} saw close {rclose}, "
                               f"expected code {want_code} reason {CLOSE_REASON!r}")
        # RFC 6455 5.5.1: the reply "typically" echoes the code; websocat
        # answers with its own configured code. Any valid code completes it.
        cclose = closer.get("close")
        if not cclose or not isinstance(cclose.get("code"), int) or not (
                1000 <= cclose["code"] <= 1003 or 1007 <= cclose["code"] <= 1011 or 3000 <= cclose["code"] <= 4999):
            reasons.append(f"the closing {cell.closer} saw no valid close reply ({cclose})")
    else:
        if not rclose or rclose.get("code") is not None:
            reasons.append(f"draft-76 {'server' if cell.closer == 'client' else 'client'} saw close {rclose}, "
                           "expected a clean close without code")
        if not closer.get("close"):
            reasons.append(f"draft-76 closing {cell.closer} saw no clean end ({closer.get('close')})")
    return reasons


def run_refusal(cell, scripts, log):
    """Our server refuses a bad Origin (its conn_headers hook says 403) and
    the peer client sees the 403."""
    script_path, _ = scripts[cell.protocol]
    peer = PEER_DEFS[cell.peer]
    server_cmd = driver_cmd(cell) + ["server", "--script", script_path, "--allow-origin", GOOD_ORIGIN]
    server = Proc(server_cmd, log, f"ours:{cell.driver}")
    client = None
    reasons = []
    try:
        port = server.next(30, "listening")["listening"]
        client_cmd = peer["cmd"] + ["client", "--script", script_path, "--url", f"ws://127.0.0.1:{port}/interop",
                                    "--origin", EVIL_ORIGIN, "--expect-status", "403"] + protocol_args(cell.protocol)
        log.write(f"client: {' '.join(client_cmd)}\n")
        client = Proc(client_cmd, log, f"peer:{cell.peer}")
        rep = client.next(CELL_TIMEOUT)
        note_impl(cell, rep)
        try:
            refused = server.next(15, "refused")["refused"]
        except CellError as e:
            return [f"peer: {err}" for err in rep.get("errors", [])] + [str(e)]
        for e in rep.get("errors", []):
            reasons.append(f"peer: {e}")
        status = (rep.get("refused") or {}).get("status")
        if status != 403:
            reasons.append(f"peer saw status {status!r}, expected 403 ({rep.get('refused')})")
        # The browser's Origin is its page's (http://127.0.0.1:PORT), not ours to choose.
        origin = rep.get("origin", EVIL_ORIGIN)
        if refused.get("origin") != origin:
            reasons.append(f"server refused origin {refused.get('origin')!r}, expected {origin}")
    finally:
        for p in (client, server):
            if p is not None:
                p.stop()
    return reasons


def all_cells(drivers, peers):
    cells = []
    for driver in drivers:
        for peer, d in PEER_DEFS.items():
            if peer not in peers:
                continue
            for role, protocols in d["roles"].items():
                for protocol, deflate in COLUMNS:
                    if protocol not in protocols or (deflate and not d["deflate"]):
                        continue
                    if deflate == "tuned" and not d.get("tuned"):
                        continue
                    for closer in ("client", "server"):
                        cells.append(Cell(peer, role, protocol, deflate, driver, closer))
            if "client" in d["roles"]:
                protocol = "rfc6455" if "rfc6455" in d["roles"]["client"] else d["roles"]["client"][0]
                cells.append(Cell(peer, "client", protocol, False, driver, "-", kind="refusal"))
    return cells


def render(cells, drivers, wall):
    lines = []
    exch = [c for c in cells if c.kind == "exchange"]
    rows = []
    for peer, d in PEER_DEFS.items():
        for role in ("client", "server"):
            if role in d["roles"] and any(c.peer == peer and c.peer_role == role for c in exch):
                rows.append((peer, role))
    cols = [(p, z, drv) for drv in drivers for p, z in COLUMNS]
    header = ["peer (its role)"] + [f"{column_name(p, z)} / {drv}" for p, z, drv in cols]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for peer, role in rows:
        row = [f"{peer} ({role})"]
        for p, z, drv in cols:
            group = [c for c in exch if (c.peer, c.peer_role, c.protocol, c.deflate, c.driver) == (peer, role, p, z, drv)]
            if not group:
                row.append("—")
            elif all(c.status == "pass" for c in group):
                row.append("pass")
            else:
                failed = [c.closer for c in group if c.status != "pass"]
                row.append("**FAIL** (" + ", ".join(f"{f} closes" for f in failed) + ")")
        lines.append("| " + " | ".join(row) + " |")
    refusals = [c for c in cells if c.kind == "refusal"]
    if refusals:
        lines.append("")
        lines.append("Origin refusal (our server's conn_headers refuses a bad Origin with 403; the peer client "
                     "must see 403):")
        lines.append("")
        lines.append("| peer client | " + " | ".join(drivers) + " |")
        lines.append("|---|" + "---|" * len(drivers))
        for peer in PEER_DEFS:
            group = {c.driver: c for c in refusals if c.peer == peer}
            if group:
                lines.append(f"| {peer} | " + " | ".join(
                    ("pass" if group[d].status == "pass" else "**FAIL**") if d in group else "—"
                    for d in drivers) + " |")
    impls = sorted({i for c in cells for i in c.impls})
    lines.append("")
    lines.append("Implementations that reported: " + ", ".join(f"`{i}`" for i in impls) + ".")
    passed = sum(c.status == "pass" for c in cells)
    failed = len(cells) - passed
    lines.append("")
    lines.append(f"Cells run: {len(cells)} (each exchange cell twice: client closes, server closes); "
                 f"wall time {wall:.0f} s.")
    if failed:
        lines.append("")
        lines.append("## Failures")
        for c in cells:
            if c.status != "pass":
                lines.append(f"- `{c.name}` (log: target/interop/logs/{c.name}.log)")
                for r in c.reasons[:6]:
                    lines.append(f"  - {r}")
                if len(c.reasons) > 6:
                    lines.append(f"  - ... {len(c.reasons) - 6} more")
    lines.append("")
    lines.append(f"{passed} passed, {failed} failed")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("INTEROP_JOBS", "2")))
    ap.add_argument("--drivers", default=",".join(DRIVERS))
    ap.add_argument("--peers", default=",".join(PEER_DEFS))
    ap.add_argument("--only", help="run only cells whose name contains this")
    args = ap.parse_args()
    drivers = args.drivers.split(",")
    os.makedirs(LOGS, exist_ok=True)
    scripts = {}
    for protocol in ("rfc6455", "draft76-old", "draft76-new"):
        script = script_for(protocol)
        path = os.path.join(OUT, f"script-{protocol}.json")
        with open(path, "w") as f:
            json.dump(script, f)
        scripts[protocol] = (path, script)
    cells = all_cells(drivers, args.peers.split(","))
    if args.only:
        cells = [c for c in cells if args.only in c.name]
    # Browser cells are the heaviest: start them first so they overlap.
    cells.sort(key=lambda c: c.peer != "chromium")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for cell in pool.map(lambda c: run_cell(c, scripts), cells):
            mark = "ok  " if cell.status == "pass" else "FAIL"
            print(f"{mark} {cell.name} ({cell.seconds:.1f}s)" + (f": {cell.reasons[0]}" if cell.reasons else ""),
                  flush=True)
    wall = time.monotonic() - t0
    table = render(cells, drivers, wall)
    with open(os.path.join(OUT, "INTEROP.md"), "w") as f:
        f.write("# hybi interop matrix\n\n" + table + "\n")
    print("\n" + table)
    sys.exit(0 if all(c.status == "pass" for c in cells) else 1)


if __name__ == "__main__":
    main()
