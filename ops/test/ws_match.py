#!/usr/bin/env python3
"""Play one quick match over WebSockets (through nginx in ops/test/nginx.sh).

Two guests are created over HTTPS, each opens wss://HOST/ws, authenticates with its first
message, queues for Pong, joins the room it is matched into, receives snapshots and sends
inputs while the match plays; then the first player resigns and both must receive `match_end`.
Uses the protocol in src/protocol/ (docs/protocol.md). Needs python3-websockets.

Usage: ws_match.py https://127.0.0.1:PORT   (certificate checks off: self-signed test cert)
Prints one line per step; exits non-zero on the first failure.
"""

import asyncio
import json
import ssl
import sys
import urllib.request

import websockets

TIMEOUT = 15.0


def ssl_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def guest(base):
    req = urllib.request.Request(
        base + "/api/v1/auth/guest", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, context=ssl_ctx(), timeout=10) as r:
        return json.load(r)["token"]


WAITING = {}


async def recv_until(ws, want, log, seen=None, who=None):
    """Read messages until one of type `want` arrives (answering nothing else); return it."""
    if who:
        WAITING[who] = want
    while True:
        msg = json.loads(await ws.recv())
        if seen is not None:
            seen[msg.get("type")] = seen.get(msg.get("type"), 0) + 1
        if msg.get("type") == "error":
            log(f"error message: {msg}")
        if msg.get("type") == want:
            return msg


async def player(name, base, wss, results, resign_event, log):
    token = await asyncio.get_running_loop().run_in_executor(None, guest, base)
    async with websockets.connect(wss, ssl=ssl_ctx(), open_timeout=10, max_size=2**20) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        welcome = await recv_until(ws, "welcome", log, who=name)
        log(f"{name}: welcome, protocol {welcome.get('protocol')}")
        await ws.send(json.dumps({"type": "queue", "game": "pong"}))
        found = await recv_until(ws, "match_found", log, who=name)
        log(f"{name}: match found")
        await ws.send(json.dumps({"type": "join", "room": found["room"]}))
        joined = await recv_until(ws, "joined", log, who=name)
        log(f"{name}: joined as {joined.get('role')} seat {joined.get('seat')} at {joined.get('tick_hz')} Hz")
        seen = {}
        seq = 0
        snapshots = 0
        while snapshots < 20:
            msg = await recv_until(ws, "snapshot", log, seen, who=name)
            snapshots += 1
            if snapshots % 5 == 0:
                seq += 1
                await ws.send(json.dumps({"type": "input", "seq": seq, "input": "up" if seq % 2 else "down"}))
        log(f"{name}: {snapshots} snapshots received, {seq} inputs sent")
        if name == "A":
            await ws.send(json.dumps({"type": "resign"}))
        resign_event.set()
        end = await recv_until(ws, "match_end", log, who=name)
        log(f"{name}: match_end, outcome {json.dumps(end.get('outcome'))}")
        results[name] = end


async def main(base):
    wss = "wss://" + base.split("://", 1)[1] + "/ws"
    results = {}
    resign = asyncio.Event()

    def log(s):
        print(f"    {s}", flush=True)

    await asyncio.wait_for(
        asyncio.gather(
            player("A", base, wss, results, resign, log),
            player("B", base, wss, results, resign, log),
        ),
        TIMEOUT,
    )
    assert set(results) == {"A", "B"}, results
    assert results["A"].get("match") == results["B"].get("match"), "players saw different matches"
    print("match played through /ws: both players got match_end")


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except asyncio.TimeoutError:
        waits = ", ".join(f"{k} waiting for {v}" for k, v in sorted(WAITING.items()))
        print(f"match failed: no result within {TIMEOUT:.0f} s ({waits})")
        sys.exit(1)
    except Exception as e:  # report, do not trace
        print(f"match failed: {type(e).__name__}: {e}")
        sys.exit(1)
