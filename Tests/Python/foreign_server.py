#!/usr/bin/env python3
"""Servers that are not Sluice, for testing the client against someone else's quirks.

    foreign_server.py sse    an SSE server (Python http.server): CRLF line ends, comments, retry, ids;
                             resumes after Last-Event-ID; 6 events in all, 2 per connection, then [DONE]
    foreign_server.py ws     a Python `websockets` echo server

Prints "listening PORT" once ready, serves until killed.
"""
import asyncio
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SSEHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        last = int(self.headers.get("Last-Event-ID") or 0)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        out = ": hello from python\r\nretry: 20\r\n\r\n"
        if last >= 6:
            out += "data: [DONE]\r\n\r\n"
        else:
            for n in (last + 1, last + 2):
                out += f"id: {n}\r\nevent: py\r\ndata: line one of {n}\r\ndata: line two\r\n\r\n"
        self.wfile.write(out.encode())
        self.wfile.flush()
        # The connection closes: the client must reconnect and resume after the last id.


async def ws_main():
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    if sys.argv[1] == "sse":
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), SSEHandler)
        print(f"listening {httpd.server_address[1]}", flush=True)
        httpd.serve_forever()
    else:
        asyncio.run(ws_main())
