#!/usr/bin/env python3
"""HTTP/2 probes against a Sluice server, with raw frames (hyperframe + hpack) where a well-behaved
client library would refuse to misbehave. Prints one JSON object; the Swift tests assert on it.

    h2_probe.py conformance PORT          RFC 9113 table: each case and whether it passed
    h2_probe.py refused PORT PATH N       open N streams at once: which got REFUSED_STREAM
    h2_probe.py rapid-reset PORT COUNT    HEADERS+RST_STREAM pairs until GOAWAY
    h2_probe.py reset PORT PATH           RST_STREAM(CANCEL) after the first DATA
    h2_probe.py flow PORT SLOW FAST BYTES [MS]  a tiny-window slow stream beside a fast one
    h2_probe.py bodies PORT PATH...       all PATHs at once on one connection: each body's length,
                                          SHA-256 and how its stream ended
    h2_probe.py uploads PORT PATH SIZE    two POSTs of SIZE different bytes to PATH (an echo) on one
                                          connection, their DATA frames alternating: whether each came back
    h2_probe.py idle PORT PATH HOLD_MS    PATH requested; a response still streaming after HOLD_MS is
                                          cancelled: when GOAWAY came, counted from the stream's end
    h2_probe.py fields PORT PATH COUNT    COUNT requests in turn on one connection, their fields
                                          repeating and churning HPACK's table: which answers did
                                          not echo the fields sent
    h2_probe.py heads PORT PATH           request heads that repeat, shorten, lengthen, change, reorder
                                          and hide the previous one's fields, on one connection; PATH
                                          echoes the head: which answers were not the head sent
"""
import hashlib
import json
import socket
import sys
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, ExtensionFrame, Frame, GoAwayFrame,
                              HeadersFrame, PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT",
         5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
         10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}


class Peer:
    """A raw HTTP/2 client connection."""

    def __init__(self, port, preface=PREFACE, settings=None, timeout=3.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # Without this, Nagle holds back small WINDOW_UPDATEs for the server's delayed ACK (40 ms).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.closed = False
        self.sock.sendall(preface)
        self.send(SettingsFrame(0, settings=settings or {}))

    def send(self, *frames):
        self.send_raw(b"".join(f.serialize() for f in frames))

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def block(self, headers):
        return self.encoder.encode(headers)

    def request(self, stream_id, path="/health", method="GET", end_stream=True, extra=()):
        headers = [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)] + list(extra)
        frame = HeadersFrame(stream_id, self.block(headers))
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame

    def read_frame(self, deadline):
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9:9 + length]))
                    self.buffer = self.buffer[9 + length:]
                    if isinstance(frame, HeadersFrame):
                        frame.decoded = self.decoder.decode(frame.data)
                    return frame
            if self.closed or time.time() > deadline:
                return None
            try:
                self.sock.settimeout(max(0.01, deadline - time.time()))
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.buffer += chunk

    def wait_for(self, predicate, seconds=2.0):
        """The first frame matching `predicate`, or None (timeout or closed)."""
        deadline = time.time() + seconds
        while True:
            frame = self.read_frame(deadline)
            if frame is None:
                return None
            if predicate(frame):
                return frame

    def goaway(self, seconds=2.0):
        return self.wait_for(lambda f: isinstance(f, GoAwayFrame), seconds)

    def rst(self, stream_id, seconds=2.0):
        return self.wait_for(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == stream_id, seconds)

    def close(self):
        self.sock.close()


def expect_goaway(code):
    def check(peer):
        frame = peer.goaway()
        got = CODES.get(frame.error_code, frame.error_code) if frame else ("closed" if peer.closed else "nothing")
        return got == code, f"GOAWAY {got}"
    return check


def expect_rst(stream_id, *codes):
    def check(peer):
        frame = peer.wait_for(lambda f: (isinstance(f, RstStreamFrame) and f.stream_id == stream_id) or isinstance(f, GoAwayFrame))
        if frame is None:
            return False, "nothing"
        kind = "RST_STREAM" if isinstance(frame, RstStreamFrame) else "GOAWAY"
        got = CODES.get(frame.error_code, frame.error_code)
        return (kind == "RST_STREAM" and got in codes), f"{kind} {got}"
    return check


def expect_stream_or_connection_error(stream_id, code):
    def check(peer):
        frame = peer.wait_for(lambda f: (isinstance(f, RstStreamFrame) and f.stream_id == stream_id) or isinstance(f, GoAwayFrame))
        if frame is None:
            return False, "nothing"
        got = CODES.get(frame.error_code, frame.error_code)
        return got == code, f"{type(frame).__name__} {got}"
    return check


def headers_frame(peer, stream_id, headers, end_stream=True, end_headers=True):
    frame = HeadersFrame(stream_id, peer.block(headers))
    if end_headers:
        frame.flags.add("END_HEADERS")
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame


BASE = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/health")]


def settings_raw(payload, flags=0):
    return len(payload).to_bytes(3, "big") + bytes([4, flags]) + (0).to_bytes(4, "big") + payload


def frame_raw(kind, flags, stream_id, payload):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream_id.to_bytes(4, "big") + payload


def case_settings_ack(peer):
    frame = peer.wait_for(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)
    return frame is not None, "SETTINGS ACK" if frame else "no ACK"


def case_ping(peer):
    peer.send(PingFrame(0, opaque_data=b"sluice!!"))
    frame = peer.wait_for(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags)
    ok = frame is not None and frame.opaque_data == b"sluice!!"
    return ok, "PING ACK same payload" if ok else "no PING ACK"


def case_unknown_frame_ignored(peer):
    peer.send_raw(frame_raw(0xEE, 0, 0, b"whatever"))
    return case_ping(peer)


def case_request_works(peer):
    peer.send(peer.request(1))
    frame = peer.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
    status = dict(frame.decoded).get(":status") if frame else None
    return status == "200", f":status {status}"


def case_client_goaway(peer):
    peer.send(GoAwayFrame(0, last_stream_id=0, error_code=0))
    frame = peer.goaway(3.0)
    return frame is not None or peer.closed, "server closed after GOAWAY" if (frame or peer.closed) else "still open"


def run_case(port, name, setup, check):
    peer = Peer(port)
    try:
        setup(peer)
        ok, detail = check(peer)
    except Exception as error:  # a probe that crashes is a failed case, not a crashed suite
        ok, detail = False, f"probe error: {error!r}"
    finally:
        peer.close()
    return {"case": name, "ok": ok, "detail": detail}


def conformance(port):
    big = b"x" * 20000
    cases = [
        ("3.4 SETTINGS is acknowledged", lambda p: None, case_settings_ack),
        ("4.1 unknown frame type is ignored", lambda p: None, case_unknown_frame_ignored),
        ("4.2 DATA larger than SETTINGS_MAX_FRAME_SIZE", lambda p: (p.send(p.request(1, end_stream=False)), p.send_raw(frame_raw(0, 1, 1, big))), expect_goaway("FRAME_SIZE_ERROR")),
        ("5.1 DATA on an idle stream", lambda p: p.send(DataFrame(1, b"x")), expect_goaway("PROTOCOL_ERROR")),
        ("5.1 RST_STREAM on an idle stream", lambda p: p.send(RstStreamFrame(1, error_code=8)), expect_goaway("PROTOCOL_ERROR")),
        ("5.1 DATA after the client's END_STREAM", lambda p: (p.send(p.request(1, path="/sse?interval_ms=1000")), p.send(DataFrame(1, b"x"))), expect_stream_or_connection_error(1, "STREAM_CLOSED")),
        ("5.1.1 even stream id from a client", lambda p: p.send(headers_frame(p, 2, BASE)), expect_goaway("PROTOCOL_ERROR")),
        ("5.1.1 stream ids going backwards", lambda p: p.send(headers_frame(p, 5, BASE), headers_frame(p, 3, BASE)), expect_goaway("PROTOCOL_ERROR")),
        # A stream error may be raised to a connection error (RFC 9113 §5.4.1); nghttp2 does so here.
        ("5.3.1 stream depending on itself", lambda p: p.send(PriorityFrame(1, depends_on=1, stream_weight=16)), expect_stream_or_connection_error(1, "PROTOCOL_ERROR")),
        ("6.1 DATA on stream 0", lambda p: p.send_raw(frame_raw(0, 0, 0, b"x")), expect_goaway("PROTOCOL_ERROR")),
        ("6.2 HEADERS on stream 0", lambda p: p.send_raw(frame_raw(1, 5, 0, p.block(BASE))), expect_goaway("PROTOCOL_ERROR")),
        ("6.2 a different frame inside a header block", lambda p: (p.send(headers_frame(p, 1, BASE, end_headers=False)), p.send(PingFrame(0, opaque_data=b"12345678"))), expect_goaway("PROTOCOL_ERROR")),
        ("6.4 RST_STREAM with a wrong length", lambda p: (p.send(p.request(1, path="/sse?interval_ms=1000")), p.send_raw(frame_raw(3, 0, 1, b"\0\0\0"))), expect_goaway("FRAME_SIZE_ERROR")),
        ("6.5 SETTINGS ACK with a payload", lambda p: p.send_raw(settings_raw(b"\0\0\0\0\0\0", flags=1)), expect_goaway("FRAME_SIZE_ERROR")),
        ("6.5 SETTINGS length not a multiple of 6", lambda p: p.send_raw(settings_raw(b"\0\0\0")), expect_goaway("FRAME_SIZE_ERROR")),
        ("6.5 SETTINGS on a stream", lambda p: p.send_raw(frame_raw(4, 0, 1, b"")), expect_goaway("PROTOCOL_ERROR")),
        ("6.5.2 ENABLE_PUSH other than 0 or 1", lambda p: p.send_raw(settings_raw(b"\0\x02\0\0\0\x02")), expect_goaway("PROTOCOL_ERROR")),
        ("6.5.2 INITIAL_WINDOW_SIZE over 2^31-1", lambda p: p.send_raw(settings_raw(b"\0\x04\x80\0\0\0")), expect_goaway("FLOW_CONTROL_ERROR")),
        ("6.5.2 MAX_FRAME_SIZE under 16384", lambda p: p.send_raw(settings_raw(b"\0\x05\0\0\x10\0")), expect_goaway("PROTOCOL_ERROR")),
        ("6.7 PING is answered with the same payload", lambda p: None, case_ping),
        ("6.7 PING with a wrong length", lambda p: p.send_raw(frame_raw(6, 0, 0, b"1234567")), expect_goaway("FRAME_SIZE_ERROR")),
        ("6.7 PING on a stream", lambda p: p.send_raw(frame_raw(6, 0, 1, b"12345678")), expect_goaway("PROTOCOL_ERROR")),
        ("6.8 GOAWAY from the client ends the connection", lambda p: None, case_client_goaway),
        ("6.9 WINDOW_UPDATE of 0 on the connection", lambda p: p.send_raw(frame_raw(8, 0, 0, b"\0\0\0\0")), expect_goaway("PROTOCOL_ERROR")),
        ("6.9 WINDOW_UPDATE of 0 on a stream", lambda p: (p.send(p.request(1, path="/sse?interval_ms=1000")), p.send_raw(frame_raw(8, 0, 1, b"\0\0\0\0"))), expect_stream_or_connection_error(1, "PROTOCOL_ERROR")),
        ("6.9.1 connection window over 2^31-1", lambda p: p.send(WindowUpdateFrame(0, window_increment=2**31 - 1)), expect_goaway("FLOW_CONTROL_ERROR")),
        ("6.9.1 stream window over 2^31-1", lambda p: (p.send(p.request(1, path="/sse?interval_ms=1000")), p.send(WindowUpdateFrame(1, window_increment=2**31 - 1))), expect_rst(1, "FLOW_CONTROL_ERROR")),
        ("6.10 CONTINUATION without HEADERS", lambda p: p.send_raw(frame_raw(9, 4, 1, p.block(BASE))), expect_goaway("PROTOCOL_ERROR")),
        ("6.10 CONTINUATION flood (CVE-2024-28182)", lambda p: p.send_raw(frame_raw(1, 0, 1, p.block(BASE)) + b"".join(frame_raw(9, 0, 1, p.block([("x-pad", "y" * 10)])) for _ in range(50))), lambda p: (lambda f: (f is not None or p.closed, f"GOAWAY {CODES.get(f.error_code) if f else 'closed'}"))(p.goaway())),
        ("8.1 request with a request line pseudo-header missing", lambda p: p.send(headers_frame(p, 1, BASE[:3])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.1.1 content-length disagreeing with DATA", lambda p: (p.send(headers_frame(p, 1, [(":method", "POST"), (":scheme", "http"), (":authority", "l"), (":path", "/health"), ("content-length", "5")], end_stream=False)), p.send_raw(frame_raw(0, 1, 1, b"abc"))), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.2 uppercase header name", lambda p: p.send(headers_frame(p, 1, BASE + [("X-Upper", "1")])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.2.2 connection-specific header", lambda p: p.send(headers_frame(p, 1, BASE + [("connection", "keep-alive")])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.2.2 TE other than trailers", lambda p: p.send(headers_frame(p, 1, BASE + [("te", "gzip")])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.3 unknown pseudo-header", lambda p: p.send(headers_frame(p, 1, BASE + [(":foo", "bar")])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.3 pseudo-header after a regular header", lambda p: p.send(headers_frame(p, 1, BASE[:3] + [("accept", "*/*"), (":path", "/health")])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8.3.1 empty :path", lambda p: p.send(headers_frame(p, 1, BASE[:3] + [(":path", "")])), expect_rst(1, "PROTOCOL_ERROR")),
        ("8 a well-formed request is answered", lambda p: None, case_request_works),
    ]
    results = [run_case(port, name, setup, check) for name, setup, check in cases]
    # A connection that opens with a broken preface gets no HTTP/2 session at all.
    peer = Peer(port, preface=b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    deadline = time.time() + 2
    while not peer.closed and time.time() < deadline:
        peer.read_frame(deadline)
    ok = peer.closed and not peer.buffer.startswith(b"\0")
    results.append({"case": "3.4 bad connection preface", "ok": ok, "detail": f"closed={peer.closed} answer={peer.buffer[:12]!r}"})
    peer.close()
    return {"passed": sum(r["ok"] for r in results), "total": len(results), "cases": results}


def refused(port, path, count):
    peer = Peer(port)
    frames = [peer.request(2 * i + 1, path=path) for i in range(count)]
    peer.send(*frames)
    refused_ids, answered = [], []
    deadline = time.time() + 3
    while time.time() < deadline and len(refused_ids) + len(answered) < count:
        frame = peer.read_frame(deadline)
        if frame is None:
            break
        if isinstance(frame, RstStreamFrame) and frame.error_code == 7:
            refused_ids.append(frame.stream_id)
        elif isinstance(frame, HeadersFrame):
            answered.append(frame.stream_id)
    peer.close()
    return {"refused": sorted(refused_ids), "answered": sorted(answered)}


def rapid_reset(port, count):
    peer = Peer(port)
    sent = 0
    stream_id = 1
    goaway = None
    started = time.time()
    while sent < count and not peer.closed:
        batch = []
        for _ in range(100):
            batch += [peer.request(stream_id, path="/sse?interval_ms=1000"), RstStreamFrame(stream_id, error_code=8)]
            stream_id += 2
            sent += 1
        peer.send(*batch)
        peer.sock.setblocking(False)
        try:
            peer.buffer += peer.sock.recv(1 << 20)
        except (BlockingIOError, OSError):
            pass
        peer.sock.setblocking(True)
        if len(peer.buffer) > 0:
            # Scan what arrived for a GOAWAY without blocking.
            while True:
                frame = peer.read_frame(time.time())
                if frame is None:
                    break
                if isinstance(frame, GoAwayFrame):
                    goaway = frame
                    break
        if goaway:
            break
    if goaway is None:
        goaway = peer.goaway(3.0)
    peer.close()
    return {"sent": sent, "goaway": CODES.get(goaway.error_code) if goaway else None,
            "last_stream_id": goaway.last_stream_id if goaway else None,
            "seconds": round(time.time() - started, 3)}


def reset(port, path):
    """Opens a stream, waits for its first DATA, then cancels it with RST_STREAM."""
    peer = Peer(port)
    peer.send(peer.request(1, path=path))
    first = peer.wait_for(lambda f: isinstance(f, DataFrame) and f.stream_id == 1, 3.0)
    peer.send(RstStreamFrame(1, error_code=8))
    ping = None
    if first is not None:
        peer.send(PingFrame(0, opaque_data=b"stillok!"))
        ping = peer.wait_for(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags, 2.0)
    peer.close()
    return {"got_data": first is not None, "connection_alive": ping is not None}


def uploads(port, path, size):
    """Two request bodies at once, their DATA frames alternating (1,000 bytes each): the server must
    keep each frame with its own stream. Windows are left at the defaults (64 KiB), so SIZE above that
    also needs the server's WINDOW_UPDATEs, which come as its handlers read."""
    peer = Peer(port)
    bodies = {1: bytes((i * 7 + 1) % 251 for i in range(size)), 3: bytes((i * 13 + 5) % 241 for i in range(size))}
    for stream_id in bodies:
        peer.send(peer.request(stream_id, path=path, method="POST", end_stream=False))
    sent = {1: 0, 3: 0}
    windows = {0: 65535, 1: 65535, 3: 65535}
    received = {1: bytearray(), 3: bytearray()}
    ended = set()
    deadline = time.time() + 20
    while len(ended) < 2 and time.time() < deadline:
        progressed = False
        for stream_id, body in bodies.items():
            chunk = min(1000, len(body) - sent[stream_id], windows[0], windows[stream_id])
            if sent[stream_id] < len(body) and chunk > 0:
                frame = DataFrame(stream_id, body[sent[stream_id]:sent[stream_id] + chunk])
                sent[stream_id] += chunk
                windows[0] -= chunk
                windows[stream_id] -= chunk
                if sent[stream_id] == len(body):
                    frame.flags.add("END_STREAM")
                peer.send(frame)
                progressed = True
        # Read what is there (window updates, answers); wait a little only when blocked.
        frame = peer.read_frame(time.time() + (0.001 if progressed else 0.2))
        while frame is not None:
            if isinstance(frame, WindowUpdateFrame):
                windows[frame.stream_id] = windows.get(frame.stream_id, 0) + frame.window_increment
            if isinstance(frame, DataFrame) and frame.stream_id in received:
                received[frame.stream_id] += frame.data
                if frame.data:  # the answers' windows, reopened as they arrive
                    peer.send(WindowUpdateFrame(0, window_increment=len(frame.data)),
                              WindowUpdateFrame(frame.stream_id, window_increment=len(frame.data)))
            if frame.stream_id in received and "END_STREAM" in getattr(frame, "flags", ()):
                ended.add(frame.stream_id)
            if isinstance(frame, (RstStreamFrame, GoAwayFrame)):
                ended.add(frame.stream_id)
            frame = peer.read_frame(time.time() + 0.001)
    peer.close()
    return {"streams": [{"sent": sent[i], "received": len(received[i]), "echoed": bytes(received[i]) == bodies[i],
                         "ended": i in ended} for i in (1, 3)]}


def idle(port, path, hold):
    """The idle timeout: GOAWAY only once no stream has been open for the timeout. PATH is requested;
    if its response has not ended after HOLD seconds it is cancelled (RST_STREAM). Reports whether a
    GOAWAY came while the stream was open, and how long after the stream's end it came."""
    peer = Peer(port)
    peer.send(peer.request(1, path=path))
    deadline = time.time() + hold
    goaway_while_open = False
    ended = None
    while ended is None:
        frame = peer.read_frame(deadline)
        if frame is None:
            break
        if isinstance(frame, GoAwayFrame):
            goaway_while_open = True
        if frame.stream_id == 1 and "END_STREAM" in getattr(frame, "flags", ()):
            ended = time.time()
    if ended is None:
        peer.send(RstStreamFrame(1, error_code=8))
        ended = time.time()
    frame = peer.goaway(10.0) if not goaway_while_open else None
    after = time.time() - ended
    peer.close()
    return {"goaway_while_open": goaway_while_open, "goaway": frame is not None,
            "code": CODES.get(frame.error_code, frame.error_code) if frame else None,
            "seconds_after_end": round(after, 3)}


def websocket(port, path):
    """RFC 8441: a WebSocket over an extended CONNECT stream; one text message and the close."""
    import os
    import struct
    peer = Peer(port)
    settings = peer.wait_for(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)
    enabled = settings is not None and settings.settings.get(8) == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL
    peer.send(SettingsFrame(0, flags=["ACK"]))
    frame = HeadersFrame(1, peer.block([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                                        (":path", path), (":authority", "localhost"), ("sec-websocket-version", "13")]))
    frame.flags.add("END_HEADERS")
    peer.send(frame)
    response = peer.wait_for(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
    status = dict(response.decoded).get(":status") if response else None

    def ws_frame(opcode, payload):
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + masked

    peer.send(DataFrame(1, ws_frame(1, "hello over h2".encode())))
    data = b""
    echo = None
    close_code = None
    deadline = time.time() + 5
    while time.time() < deadline and close_code is None:
        f = peer.read_frame(deadline)
        if f is None:
            break
        if isinstance(f, DataFrame) and f.stream_id == 1:
            peer.send(WindowUpdateFrame(0, window_increment=max(1, len(f.data))), WindowUpdateFrame(1, window_increment=max(1, len(f.data))))
            data += f.data
            while len(data) >= 2 and len(data) >= 2 + (data[1] & 0x7F):
                length = data[1] & 0x7F
                opcode, payload, data = data[0] & 0x0F, data[2:2 + length], data[2 + length:]
                if opcode == 1:
                    echo = payload.decode()
                    peer.send(DataFrame(1, ws_frame(8, struct.pack("!H", 1000))))
                elif opcode == 8:
                    close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    peer.close()
    return {"enable_connect_protocol": enabled, "status": status, "echo": echo, "close_code": close_code}


def flow(port, slow_path, fast_path, expected_bytes, interval=0.02):
    """Stream 1 (slow): a 4 KiB stream window, reopened by what arrived every `interval` seconds.
    Stream 3 (fast): every byte acknowledged at once. The connection window is always reopened."""
    window = 4096
    peer = Peer(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: window})
    peer.send(WindowUpdateFrame(0, window_increment=2**30))
    peer.send(peer.request(1, path=slow_path), peer.request(3, path=fast_path))
    received = {1: bytearray(), 3: bytearray()}
    ended = {}
    credit = {1: 0}
    started = time.time()
    last_slow_update = started
    deadline = started + 60
    while len(ended) < 2 and time.time() < deadline:
        frame = peer.read_frame(time.time() + 0.02)
        now = time.time()
        if frame is not None and isinstance(frame, DataFrame):
            received[frame.stream_id] += frame.data
            if frame.data:
                if frame.stream_id == 3:
                    peer.send(WindowUpdateFrame(0, window_increment=len(frame.data)),
                              WindowUpdateFrame(3, window_increment=len(frame.data)))
                else:
                    peer.send(WindowUpdateFrame(0, window_increment=len(frame.data)))
                    credit[1] += len(frame.data)
            if "END_STREAM" in frame.flags:
                ended[frame.stream_id] = now - started
        if frame is not None and isinstance(frame, (RstStreamFrame, GoAwayFrame)):
            break
        if credit[1] and now - last_slow_update >= interval and 1 not in ended:
            peer.send(WindowUpdateFrame(1, window_increment=credit[1]))
            credit[1] = 0
            last_slow_update = now
    peer.close()

    def in_order(data):
        return all(b == 97 + (i % 26) for i, b in enumerate(data))

    return {"slow_bytes": len(received[1]), "fast_bytes": len(received[3]),
            "slow_in_order": in_order(received[1]), "fast_in_order": in_order(received[3]),
            "slow_seconds": ended.get(1), "fast_seconds": ended.get(3), "expected": expected_bytes}


def bodies(port, paths):
    """One stream per path, all requested at once; windows reopened as data arrives."""
    peer = Peer(port)
    peer.send(WindowUpdateFrame(0, window_increment=2**30))
    ids = [1 + 2 * i for i in range(len(paths))]
    peer.send(*[peer.request(i, path=p) for i, p in zip(ids, paths)])
    received = {i: bytearray() for i in ids}
    status = {}
    ended = {}
    deadline = time.time() + 30
    while len(ended) < len(ids) and time.time() < deadline:
        frame = peer.read_frame(deadline)
        if frame is None:
            break
        if isinstance(frame, HeadersFrame) and frame.stream_id in received:
            status[frame.stream_id] = dict(frame.decoded).get(":status")
        if isinstance(frame, DataFrame) and frame.stream_id in received:
            received[frame.stream_id] += frame.data
            if frame.data:
                peer.send(WindowUpdateFrame(frame.stream_id, window_increment=len(frame.data)))
        if isinstance(frame, (HeadersFrame, DataFrame)) and "END_STREAM" in frame.flags and frame.stream_id in received:
            ended[frame.stream_id] = "END_STREAM"
        if isinstance(frame, RstStreamFrame) and frame.stream_id in received:
            ended[frame.stream_id] = "RST_STREAM " + CODES.get(frame.error_code, str(frame.error_code))
        if isinstance(frame, GoAwayFrame):
            break
    peer.close()
    return {"streams": [{"path": p, "status": status.get(i), "bytes": len(received[i]),
                         "sha256": hashlib.sha256(received[i]).hexdigest(), "end": ended.get(i)}
                        for i, p in zip(ids, paths)]}


def fields(port, path, count):
    """Requests whose fields repeat (indexed: the server gets the same HPACK table entries again)
    among fields that are new each time (the table fills, evicts and reuses its memory); the route
    echoes what it was given, which must be what this request sent."""
    peer = Peer(port)
    wrong = []
    for n in range(count):
        stream_id = 1 + 2 * n
        sent = {":method": "GET", ":authority": f"host-{n % 3}.test", ":path": f"{path}?n={n}",
                "x-probe": f"probe-{n % 5}", "x-unique": f"unique-{n}-" + "u" * 40, "user-agent": "probe/1"}
        headers = [(":method", "GET"), (":scheme", "http"), (":authority", sent[":authority"]), (":path", sent[":path"]),
                   ("x-probe", sent["x-probe"]), ("x-unique", sent["x-unique"]), ("user-agent", "probe/1")]
        peer.send(headers_frame(peer, stream_id, headers))
        body = bytearray()
        deadline = time.time() + 10
        while True:
            frame = peer.read_frame(deadline)
            if frame is None:
                wrong.append({"n": n, "error": "no answer"})
                break
            if isinstance(frame, DataFrame) and frame.stream_id == stream_id:
                body += frame.data
            if frame.stream_id == stream_id and "END_STREAM" in getattr(frame, "flags", ()):
                break
        expected = " ".join(sent[k] for k in (":method", ":authority", ":path", "x-probe", "x-unique", "user-agent"))
        if body.decode() != expected:
            wrong.append({"n": n, "expected": expected, "got": body.decode(errors="replace")})
    peer.close()
    return {"requests": count, "wrong": wrong}


def heads(port, path):
    """The server recognises a request head that repeats the previous one's fields (the same HPACK
    buffers) and decodes the rest: every way a head can depart from the one before must still arrive
    as sent. PATH answers "method scheme authority path" and then each field as "name: value"."""
    peer = Peer(port)
    base = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", path),
            ("user-agent", "probe/2"), ("accept", "*/*"), ("x-one", "1")]

    def with_field(name, value, headers=None):
        return [(n, value if n == name else v) for n, v in (headers or base)]

    secret = [hpack.NeverIndexedHeaderTuple("x-secret", "s1")]
    many = [(f"x-many-{i}", str(i)) for i in range(40)]
    cases = [
        ("first", base, {}),
        ("repeated", base, {}),
        ("repeated again", base, {}),
        ("another path", with_field(":path", path + "?q=1"), {}),
        ("the path again", base, {}),
        ("one field fewer", base[:-1], {}),
        ("as before", base, {}),
        ("one field more", base + [("x-two", "2")], {}),
        ("last value changed", with_field("x-one", "changed"), {}),
        ("middle value changed", with_field("accept", "text/plain"), {}),
        ("another method", with_field(":method", "DELETE"), {}),
        ("another authority", with_field(":authority", "other.test"), {}),
        ("never indexed", base + secret, {}),
        ("never indexed again", base + secret, {}),
        ("reordered", base[:4] + [base[5], base[4], base[6]], {}),
        ("cookie crumbs", base + [("cookie", "a=1"), ("cookie", "b=2")], {}),
        ("cookie crumbs again", base + [("cookie", "a=1"), ("cookie", "b=2")], {}),
        ("a large value", base + [("x-large", "v" * 5000)], {}),
        ("a large value again", base + [("x-large", "v" * 5000)], {}),
        ("after the large value", base, {}),
        ("many fields", base + many, {}),
        ("many fields again", base + many, {}),
        ("after many", base, {}),
        ("with a body", with_field(":method", "POST"), {"body": b"hello"}),
        ("after a body", base, {}),
        ("split into CONTINUATION", base + [("x-split", "yes")], {"split": True}),
        ("split again", base + [("x-split", "yes")], {"split": True}),
        ("table emptied", base, {"table_size": 0}),
        ("after the table emptied", base, {"table_size": 4096}),
        ("once more", base, {}),
    ]
    wrong = []
    stream_id = 1
    for name, headers, options in cases:
        if "table_size" in options:
            # A dynamic table size update in the next block: the server's decoder evicts every entry.
            peer.encoder.header_table_size = options["table_size"]
        block = peer.block(headers)
        body = options.get("body")
        if options.get("split"):
            first = HeadersFrame(stream_id, block[:len(block) // 2])
            rest = ContinuationFrame(stream_id, block[len(block) // 2:])
            rest.flags.add("END_HEADERS")
            first.flags.add("END_STREAM")
            peer.send(first, rest)
        else:
            frame = HeadersFrame(stream_id, block)
            frame.flags.add("END_HEADERS")
            if body is None:
                frame.flags.add("END_STREAM")
            peer.send(frame)
        if body is not None:
            data = DataFrame(stream_id, body)
            data.flags.add("END_STREAM")
            peer.send(data)
        received = bytearray()
        status = None
        deadline = time.time() + 10
        while True:
            frame = peer.read_frame(deadline)
            if frame is None:
                status = "no answer"
                break
            if isinstance(frame, HeadersFrame) and frame.stream_id == stream_id:
                status = dict(frame.decoded).get(":status")
            if isinstance(frame, DataFrame) and frame.stream_id == stream_id:
                received += frame.data
            if isinstance(frame, (RstStreamFrame, GoAwayFrame)):
                status = f"{type(frame).__name__} {CODES.get(frame.error_code, frame.error_code)}"
                break
            if frame.stream_id == stream_id and "END_STREAM" in getattr(frame, "flags", ()):
                break
        pseudo = dict((n, v) for n, v in headers if n.startswith(":"))
        expected = "\n".join([" ".join(pseudo[k] for k in (":method", ":scheme", ":authority", ":path"))] +
                             [f"{n}: {v}" for n, v in headers if not n.startswith(":")])
        if status != "200" or received.decode(errors="replace") != expected:
            wrong.append({"case": name, "status": status, "expected": expected[:300],
                          "got": received.decode(errors="replace")[:300]})
        stream_id += 2
    peer.close()
    return {"requests": len(cases), "wrong": wrong}


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "conformance":
        out = conformance(port)
    elif mode == "refused":
        out = refused(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "rapid-reset":
        out = rapid_reset(port, int(sys.argv[3]))
    elif mode == "websocket":
        out = websocket(port, sys.argv[3])
    elif mode == "reset":
        out = reset(port, sys.argv[3])
    elif mode == "flow":
        out = flow(port, sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]) / 1000 if len(sys.argv) > 6 else 0.02)
    elif mode == "bodies":
        out = bodies(port, sys.argv[3:])
    elif mode == "uploads":
        out = uploads(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "idle":
        out = idle(port, sys.argv[3], float(sys.argv[4]) / 1000)
    elif mode == "fields":
        out = fields(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "heads":
        out = heads(port, sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))
