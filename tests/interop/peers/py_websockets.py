"""Peer: Python `websockets` (pinned in requirements.txt), RFC 6455 with or
without permessage-deflate, as a server (echo) or a client (the script).
Usage and report format: ../README.md."""

import asyncio
import sys

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.extensions.permessage_deflate import (ClientPerMessageDeflateFactory,
                                                      ServerPerMessageDeflateFactory)

from common import (CLIENT_CLOSE_CODE, CLOSE_REASON, SERVER_CLOSE_CODE,
                    Report, emit, load_script, parse_args)

IMPL = f"python-websockets-{websockets.__version__}"
# Messages up to the script's 1 MiB (the library's default max_size is
# exactly 1 MiB, which the test must not sit on the edge of).
MAX_SIZE = 16 * 1024 * 1024


# --deflate-tuned: every parameter asked for, small windows (as our side).
TUNED = dict(server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=10,
             client_max_window_bits=9)


def compression_options(args, factory):
    """`compression` and `extensions` arguments for serve/connect."""
    if args.deflate_tuned:
        return {"compression": None, "extensions": [factory(**TUNED)]}
    return {"compression": "deflate" if args.deflate else None}


def deflate_of(headers):
    return "permessage-deflate" in (headers.get("Sec-WebSocket-Extensions") or "")


async def settle_pongs(report, waiters):
    """Counts pongs for our pings; a missing one is an error."""
    if not waiters:
        return
    done, _ = await asyncio.wait(waiters, timeout=5)
    report.pongs_received = sum(1 for w in done if not w.cancelled() and w.exception() is None)


# Messages of these sizes go out in three fragments with a ping between the
# first two: reassembly and a control frame inside a message. (websockets
# takes text fragments as str, so text splits between characters.)
FRAGMENTED = {65536, 70000}


async def send_message(ws, data, report, waiters, tag):
    size = len(data.encode() if isinstance(data, str) else data)
    if size not in FRAGMENTED:
        await ws.send(data)
        return

    async def fragments():
        yield data[:7]
        waiters.append(asyncio.ensure_future(await ws.ping(tag)))
        report.pings_sent += 1
        yield data[7:33335]
        yield data[33335:]

    await ws.send(fragments())


def closed(report, ws):
    report.close = {"code": ws.close_code, "reason": ws.close_reason}


async def run_server(args):
    steps, ping_every = load_script(args.script)
    finished = asyncio.get_running_loop().create_future()

    async def handler(ws):
        report = Report(IMPL, "server", steps)
        report.protocol = "rfc6455"
        report.deflate = deflate_of(ws.response.headers)
        report.extra["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
        waiters = []
        try:
            while True:
                try:
                    data = await ws.recv()
                except ConnectionClosed:
                    break
                i = len(report.received)
                report.got(data)
                if ping_every and i % ping_every == 2:
                    waiters.append(asyncio.ensure_future(await ws.ping(f"s{i}")))
                    report.pings_sent += 1
                await send_message(ws, data, report, waiters, f"sf{i}")
                if args.close_after == i + 1:
                    await settle_pongs(report, waiters)
                    waiters = []
                    await ws.close(SERVER_CLOSE_CODE, CLOSE_REASON)
                    break
            await ws.wait_closed()
            await settle_pongs(report, waiters)
            closed(report, ws)
        except Exception as e:  # noqa: BLE001 -- reported, the cell fails
            report.errors.append(f"server: {type(e).__name__}: {e}")
        emit(report.to_json())
        if not finished.done():
            finished.set_result(None)

    async with serve(handler, "127.0.0.1", 0, max_size=MAX_SIZE, ping_interval=None,
                     **compression_options(args, ServerPerMessageDeflateFactory)) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"listening": port})
        stdin_closed = asyncio.ensure_future(asyncio.to_thread(sys.stdin.read))
        await asyncio.wait([finished, stdin_closed], return_when=asyncio.FIRST_COMPLETED)


async def run_client(args):
    steps, ping_every = load_script(args.script)
    report = Report(IMPL, "client", steps)
    try:
        ws = await connect(args.url, origin=args.origin, max_size=MAX_SIZE, ping_interval=None, open_timeout=10,
                           **compression_options(args, ClientPerMessageDeflateFactory))
    except InvalidStatus as e:
        status = e.response.status_code
        report.extra["refused"] = {"status": status}
        if args.expect_status is None:
            report.errors.append(f"connect: refused with {status}")
        emit(report.to_json())
        return
    if args.expect_status is not None:
        report.errors.append("connected, but the server was expected to refuse")
    report.protocol = "rfc6455"
    report.deflate = deflate_of(ws.response.headers)
    report.extra["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
    waiters = []
    try:
        for i, step in enumerate(steps):
            if ping_every and i % ping_every == 1:
                # The first ping fills the 125 bytes a control frame may hold.
                waiters.append(asyncio.ensure_future(await ws.ping(f"c{i}".ljust(125 if i == 1 else 0, "."))))
                report.pings_sent += 1
            await send_message(ws, step.message(), report, waiters, f"cf{i}")
            data = await asyncio.wait_for(ws.recv(), 30)
            report.got(data)
        await settle_pongs(report, waiters)
        if args.closer == "client":
            await ws.close(CLIENT_CLOSE_CODE, CLOSE_REASON)
        else:
            try:
                extra = await asyncio.wait_for(ws.recv(), 30)
                report.errors.append(f"unexpected message after the script ({len(extra)} long)")
            except ConnectionClosed:
                pass
        await ws.wait_closed()
        closed(report, ws)
    except Exception as e:  # noqa: BLE001 -- reported, the cell fails
        report.errors.append(f"client: {type(e).__name__}: {e}")
        if ws.close_code is not None:
            closed(report, ws)
    emit(report.to_json())


def main():
    args = parse_args()
    asyncio.run(run_server(args) if args.mode == "server" else run_client(args))


if __name__ == "__main__":
    main()
