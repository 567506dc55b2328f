#!/usr/bin/env python3
"""WebSocket probes with Python `websockets` (a real, independent client). Prints one JSON object.

    ws_probe.py echo URL none|deflate        text, binary, fragmented, 3 MB, ping, close
    ws_probe.py too-big URL BYTES            one binary message of BYTES: the close code
    ws_probe.py receive URL N                the first N messages
    ws_probe.py broadcast URL                two clients, one message each: what each received
    ws_probe.py subprotocol URL P1,P2        offer subprotocols: which was chosen, first message
    ws_probe.py origin URL ORIGIN            the handshake status for that Origin
    ws_probe.py hold URL SECONDS             stay connected (answering pings): still open?
    ws_probe.py flood URL COUNT SIZE         send COUNT messages of SIZE; did sending ever block?
"""
import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def echo(url, compression):
    out = {}
    async with connect(url, compression=None if compression == "none" else "deflate", max_size=None) as ws:
        out["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await ws.send("hello ✓ κόσμε")
        out["text"] = await ws.recv() == "hello ✓ κόσμε"
        payload = bytes(range(256)) * 40
        await ws.send(payload)
        out["binary"] = await ws.recv() == payload
        await ws.send(["frag", "mented ", "text"])
        out["fragmented"] = await ws.recv() == "fragmented text"
        big = "x" * 3_000_000
        await ws.send(big)
        out["large"] = await ws.recv() == big
        pong = await ws.ping(b"probe")
        await asyncio.wait_for(pong, 5)
        out["pong"] = True
    out["close_code"] = ws.close_code
    return out


async def too_big(url, size):
    async with connect(url, max_size=None) as ws:
        await ws.send(b"\0" * size)
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except ConnectionClosed:
            pass
    return {"close_code": ws.close_code}


async def receive(url, n):
    async with connect(url) as ws:
        messages = [await asyncio.wait_for(ws.recv(), 30) for _ in range(n)]
    return {"messages": messages}


async def broadcast(url):
    async with connect(url) as one, connect(url) as two:
        await asyncio.sleep(0.1)  # both registered
        await one.send("from one")
        first = [await asyncio.wait_for(one.recv(), 5)]
        second = [await asyncio.wait_for(two.recv(), 5)]
        await two.send("from two")
        first.append(await asyncio.wait_for(one.recv(), 5))
        second.append(await asyncio.wait_for(two.recv(), 5))
    return {"first_got": first, "second_got": second}


async def subprotocol(url, offered):
    async with connect(url, subprotocols=offered.split(",")) as ws:
        message = await asyncio.wait_for(ws.recv(), 30)
        return {"subprotocol": ws.subprotocol, "message": message}


async def origin(url, value):
    try:
        async with connect(url, origin=value):
            return {"status": 101}
    except InvalidStatus as error:
        return {"status": error.response.status_code}


async def hold(url, seconds):
    async with connect(url) as ws:
        await asyncio.sleep(seconds)
        await ws.ping()
        return {"open": ws.state.name == "OPEN"}


async def flood(url, count, size):
    blocked = False
    async with connect(url, compression=None, write_limit=size) as ws:
        payload = b"\1" * size
        for _ in range(count):
            started = time.monotonic()
            await ws.send(payload)
            if time.monotonic() - started > 0.1:
                blocked = True
    return {"blocked": blocked}


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    if mode == "echo":
        result = echo(url, args[0])
    elif mode == "too-big":
        result = too_big(url, int(args[0]))
    elif mode == "receive":
        result = receive(url, int(args[0]))
    elif mode == "broadcast":
        result = broadcast(url)
    elif mode == "subprotocol":
        result = subprotocol(url, args[0])
    elif mode == "origin":
        result = origin(url, args[0])
    elif mode == "hold":
        result = hold(url, float(args[0]))
    elif mode == "flood":
        result = flood(url, int(args[0]), int(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(asyncio.run(result)))
