import Foundation
import Testing
@testable import Sluice

/// Runs `Tests/Python/ws_probe.py` (Python `websockets`) in the test venv and decodes its JSON.
func wsProbe(_ arguments: [String]) async throws -> [String: Any] {
    let python = packageRoot.appendingPathComponent(".venv/bin/python").path
    let script = packageRoot.appendingPathComponent("Tests/Python/ws_probe.py").path
    let result = try await run(python, [script] + arguments)
    guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
        throw TestFailure("ws_probe \(arguments) failed (\(result.status)): \(result.stderr)")
    }
    return object
}

@Suite struct WebSocketTests {
    @Test(arguments: [false, true])
    func pythonWebsocketsEchoesTextBinaryFragmentedAndLarge(_ compressed: Bool) async throws {
        try await withServer { server in
            let result = try await wsProbe(["echo", "ws://127.0.0.1:\(server.port)/ws/echo", compressed ? "deflate" : "none"])
            #expect(result["extensions"] as? String == (compressed ? "permessage-deflate" : ""))
            #expect(result["text"] as? Bool == true)
            #expect(result["binary"] as? Bool == true)
            #expect(result["fragmented"] as? Bool == true)
            #expect(result["large"] as? Bool == true)
            #expect(result["pong"] as? Bool == true)
            #expect(result["close_code"] as? Int == 1000)
        }
    }

    @Test func messageOverTheLimitClosesWith1009() async throws {
        try await withServer { server in
            let result = try await wsProbe(["too-big", "ws://127.0.0.1:\(server.port)/ws/echo?max_message_size=1000", "5000"])
            #expect(result["close_code"] as? Int == 1009)
        }
    }

    @Test func tickerAndBroadcast() async throws {
        try await withServer { server in
            let ticks = try await wsProbe(["receive", "ws://127.0.0.1:\(server.port)/ws/ticker?interval_ms=5&count=3", "3"])
            #expect(ticks["messages"] as? [String] == ["{\"tick\":1}", "{\"tick\":2}", "{\"tick\":3}"])
            let broadcast = try await wsProbe(["broadcast", "ws://127.0.0.1:\(server.port)/ws/broadcast"])
            #expect(broadcast["first_got"] as? [String] == ["from one", "from two"])
            #expect(broadcast["second_got"] as? [String] == ["from one", "from two"])
        }
    }

    @Test func subprotocolAndOriginChecks() async throws {
        var options = WebSocketOptions()
        options.subprotocols = ["v2.sluice", "v1.sluice"]
        options.allowOrigin = { origin in origin == nil || origin == "http://good.example" }
        try await withServer(routes: { router in
            router.webSocket("/ws", options: options) { _, ws in try await ws.send(text: ws.subprotocol ?? "none") }
        }) { server in
            let chosen = try await wsProbe(["subprotocol", "ws://127.0.0.1:\(server.port)/ws", "v1.sluice,v2.sluice"])
            #expect(chosen["subprotocol"] as? String == "v2.sluice")
            #expect(chosen["message"] as? String == "v2.sluice")
            let refused = try await wsProbe(["origin", "ws://127.0.0.1:\(server.port)/ws", "http://evil.example"])
            #expect(refused["status"] as? Int == 403)
        }
    }

    @Test func badHandshakesGet400Or426() async throws {
        try await withServer { server in
            try await blocking {
                let wrongVersion = try RawClient(port: server.port)
                try wrongVersion.send("GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
                let response = try wrongVersion.readResponse()
                #expect(response.status == 426)
                #expect(response.header("sec-websocket-version") == "13")
                let noKey = try RawClient(port: server.port)
                try noKey.send("GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
                #expect(try noKey.readResponse().status == 400)
                let plain = try RawClient(port: server.port)
                try plain.send("GET /ws/echo HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try plain.readResponse().status == 426)
            }
        }
    }

    @Test func exactUpgradeBytesAndServerFrames() async throws {
        try await withServer { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                let head = try client.readResponse(headRequest: true)
                #expect(head.status == 101)
                #expect(head.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                #expect(head.header("upgrade") == "websocket")
                // RFC 6455 §5.7's masked "Hello" comes back unmasked.
                try client.send([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
                #expect(try client.read() == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
                // An unmasked frame is a protocol error: close 1002, then the server ends the TCP connection.
                try client.send([0x81, 0x01, 0x61])
                let close = try client.read()
                #expect(Array(close.prefix(4)) == [0x88, UInt8(close.count - 2), 0x03, 0xEA])
                #expect(try client.read().isEmpty)
            }
        }
    }

    @Test func unansweredPingsCloseAHalfOpenConnection() async throws {
        var options = WebSocketOptions()
        options.pingInterval = .milliseconds(100)
        options.pongTimeout = .milliseconds(200)
        try await withServer(routes: { router in
            router.webSocket("/quiet", options: options) { _, ws in for await _ in ws.messages {} }
        }) { server in
            try await blocking {
                let client = try RawClient(port: server.port, timeout: 30)
                try client.openWebSocket("/quiet")
                // A ping arrives after the quiet interval; this client never answers it.
                #expect(try client.read() == [0x89, 0x00])
                let started = ContinuousClock.now
                let rest = try client.readToEnd()
                #expect(ContinuousClock.now - started < .seconds(20))  // pong timeout 200 ms; generous for sanitizer builds
                #expect(!rest.contains(0x8A))  // nothing but the end
            }
            #expect(await eventually { server.server.connectionCount == 0 })
        }
    }

    /// The handler's end ends the connection even when the peer never answers the close frame (and
    /// no pings would find it out): reading stops after the close timeout.
    @Test func aHandlerThatEndsClosesAPeerThatNeverAnswers() async throws {
        var options = WebSocketOptions()
        options.pingInterval = nil
        options.closeTimeout = .milliseconds(200)
        try await withServer(routes: { router in
            router.webSocket("/bye", options: options) { _, _ in }
        }) { server in
            try await blocking {
                let client = try RawClient(port: server.port, timeout: 30)
                try client.openWebSocket("/bye")
                let received = try client.readToEnd()
                #expect(Array(received.prefix(4)) == [0x88, 0x02, 0x03, 0xE8])  // close 1000, never answered
            }
            #expect(await eventually { server.server.connectionCount == 0 })
        }
    }

    /// The keep-alive counts silence from the peer's last message, not from the connection's start;
    /// also with handlers on the concurrent pool (the timer lives on the connection's loop either way).
    /// Only a late ping can happen under load, which the assertion allows.
    @Test(arguments: [HandlerPlacement.eventLoop, .concurrentPool])
    func aMessageFromThePeerPostponesThePing(_ placement: HandlerPlacement) async throws {
        var options = WebSocketOptions()
        options.pingInterval = .seconds(2)
        options.pongTimeout = .seconds(30)
        try await withServer(configure: { $0.handlerPlacement = placement }, routes: { router in
            router.webSocket("/quiet", options: options) { _, ws in for await _ in ws.messages {} }
        }) { server in
            try await blocking {
                // On the concurrent pool the ping waits for a pool thread, which a parallel test run
                // can keep busy for seconds: a generous read timeout.
                let client = try RawClient(port: server.port, timeout: 30)
                try client.openWebSocket("/quiet")
                usleep(500_000)
                try client.send([0x81, 0x81, 0, 0, 0, 0, 0x6D])  // "m", masked with a zero key
                let sent = ContinuousClock.now
                #expect(try client.read() == [0x89, 0x00])
                // Counted from the connection's start, the ping would come ~1.5 s after the message.
                #expect(ContinuousClock.now - sent >= .milliseconds(1_900))
            }
        }
    }

    /// A handler that ends while reading holds a message for its full inbox still ends the
    /// connection: the held message is dropped and reading runs on to the end.
    @Test func aHandlerThatEndsWhileReadingHoldsAMessageClosesTheConnection() async throws {
        var options = WebSocketOptions()
        options.pingInterval = nil
        options.closeTimeout = .milliseconds(200)
        options.inboundQueueDepth = 1
        try await withServer(routes: { router in
            router.webSocket("/full", options: options) { _, _ in
                try await Task.sleep(for: .milliseconds(300))  // never reads a message
            }
        }) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.openWebSocket("/full")
                // Five masked (zero key) text frames "m": one fills the inbox, the next is held.
                try client.send(Array(repeating: [0x81, 0x81, 0, 0, 0, 0, 0x6D] as [UInt8], count: 5).flatMap { $0 })
                let received = try client.readToEnd()
                #expect(Array(received.prefix(4)) == [0x88, 0x02, 0x03, 0xE8])  // close 1000, then the end
            }
            #expect(await eventually { server.server.connectionCount == 0 })
        }
    }

    @Test func answeredPingsKeepTheConnection() async throws {
        var options = WebSocketOptions()
        options.pingInterval = .milliseconds(50)
        options.pongTimeout = .milliseconds(150)
        try await withServer(routes: { router in
            router.webSocket("/quiet", options: options) { _, ws in for await _ in ws.messages {} }
        }) { server in
            // Python websockets answers pings itself; after many ping intervals the connection lives.
            let result = try await wsProbe(["hold", "ws://127.0.0.1:\(server.port)/quiet", "1.0"])
            #expect(result["open"] as? Bool == true)
        }
    }

    @Test func slowHandlerStopsTheServerReading() async throws {
        let depth = Locked(0)
        var options = WebSocketOptions()
        options.inboundQueueDepth = 4
        options.pingInterval = nil
        try await withServer(configure: { $0.limits.streamedBodyBuffer = 16 * 1024 }, routes: { router in
            router.webSocket("/slow", options: options) { _, ws in
                try await Task.sleep(for: .milliseconds(500))  // fall behind on purpose
                var n = 0
                for await _ in ws.messages {
                    n += 1
                    depth.withLock { $0 = n }
                }
            }
        }) { server in
            let result = try await wsProbe(["flood", "ws://127.0.0.1:\(server.port)/slow", "2000", "4096"])
            // 2,000 × 4 KiB cannot all be in flight: the client's sends blocked while the handler slept.
            #expect(result["blocked"] as? Bool == true, "\(result)")
            #expect(await eventually { depth.withLock { $0 } == 2000 })
        }
    }

    @Test func webSocketOverHTTP2ExtendedConnect() async throws {
        try await withServer { server in
            let result = try await h2Probe(["websocket", String(server.port), "/ws/echo"])
            #expect(result["status"] as? String == "200")
            #expect(result["echo"] as? String == "hello over h2")
            #expect(result["close_code"] as? Int == 1000)
        }
    }
}

extension RawClient {
    /// Upgrades to a WebSocket at `path` (RFC 6455's sample key) and expects the 101.
    func openWebSocket(_ path: String) throws {
        try send("GET \(path) HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(try readResponse(headRequest: true).status == 101)
    }
}
