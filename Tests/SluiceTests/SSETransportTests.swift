import Foundation
import Testing
@testable import Sluice
@testable import SluiceClient

/// The client's SSE transport against the server, end to end on loopback.
@Suite struct SSETransportTests {
    /// Collects transport events until `stop` says so (or 20 s pass).
    static func collect(_ transport: SSETransport, until stop: @escaping ([TransportEvent]) -> Bool) async -> [TransportEvent] {
        var seen: [TransportEvent] = []
        // Only a failing test waits this out; the parallel run can slow a passing one past 20 s.
        let deadline = ContinuousClock.now + .seconds(60)
        for await event in transport.events {
            seen.append(event)
            if stop(seen) || ContinuousClock.now > deadline { break }
        }
        return seen
    }

    static func data(_ events: [TransportEvent]) -> [String] {
        events.compactMap { if case .event(let e) = $0 { e.data } else { nil } }
    }

    static func ids(_ events: [TransportEvent]) -> [String] {
        events.compactMap { if case .event(let e) = $0 { e.lastEventID } else { nil } }
    }

    static func fastPolicy() -> ReconnectPolicy {
        var policy = ReconnectPolicy(reconnectDelay: .milliseconds(10), maxReconnectDelay: .milliseconds(50), seed: 7)
        policy.maxReconnectAttempts = 5
        return policy
    }

    @Test func receivesEventsWithTypesAndIDs() async throws {
        try await withServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            let sse = try SSETransport(url: "\(server.base)/sse?count=3&interval_ms=0&event=tick", loop: loop)
            sse.connect()
            let events = await Self.collect(sse) { Self.data($0).count == 3 }
            sse.close()
            #expect(events.first == .connecting)
            #expect(events.contains(.connected))
            #expect(Self.data(events) == ["event 1", "event 2", "event 3"])
            #expect(events.contains { if case .event(let e) = $0 { e.type == "tick" } else { false } })
            #expect(sse.lastEventID == "3")
        }
    }

    /// The server ends the stream after every three events; each reconnection sends Last-Event-ID and
    /// the stream goes on after it: nothing lost, nothing repeated, then `[DONE]` ends it.
    @Test func reconnectsAndResumesFromLastEventID() async throws {
        let requests = Locked(0)
        try await withServer(routes: { router in
            router.sse("/chunks") { request, events in
                requests.withLock { $0 += 1 }
                let after = Int(request.lastEventID ?? "") ?? 0
                if after >= 9 { return try await events.send(SSEEvent(data: "[DONE]")) }
                for id in (after + 1)...(after + 3) { try await events.send(SSEEvent(data: "n\(id)", id: String(id))) }
            }
        }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect = Self.fastPolicy()
            configuration.doneSentinel = "[DONE]"
            let sse = try SSETransport(url: "\(server.base)/chunks", configuration: configuration, loop: loop)
            sse.connect()
            let events = await Self.collect(sse) { $0.last == .closed }
            #expect(Self.data(events) == (1...9).map { "n\($0)" })
            #expect(events.filter { if case .reconnecting = $0 { true } else { false } }.count == 3)
            #expect(events.suffix(2) == [.done, .closed])
            #expect(requests.withLock { $0 } == 4)
        }
    }

    @Test func unauthorizedIsNotRetriedAndNoContentStops() async throws {
        let hits = Locked(0)
        try await withServer(routes: { router in
            router.get("/private") { _ in hits.withLock { $0 += 1 }; throw HTTPError(.unauthorized, "no token") }
            router.get("/gone") { _ in Response(status: .noContent) }
            router.get("/html") { _ in Response(text: "<p>not a stream</p>", contentType: "text/html") }
        }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect = Self.fastPolicy()
            let denied = try SSETransport(url: "\(server.base)/private", configuration: configuration, loop: loop)
            denied.connect()
            let deniedEvents = await Self.collect(denied) { $0.last == .closed }
            #expect(deniedEvents.contains(.error(TransportError(message: "server answered 401", statusCode: 401, recoverable: false, attempt: 0))))
            #expect(hits.withLock { $0 } == 1)
            let gone = try SSETransport(url: "\(server.base)/gone", configuration: configuration, loop: loop)
            gone.connect()
            #expect(await Self.collect(gone) { $0.last == .closed } == [.connecting, .closed])
            let html = try SSETransport(url: "\(server.base)/html", configuration: configuration, loop: loop)
            html.connect()
            let htmlEvents = await Self.collect(html) { $0.last == .closed }
            #expect(htmlEvents.contains { if case .error(let e) = $0 { !e.recoverable && e.message.hasPrefix("not an event stream") } else { false } })
        }
    }

    @Test func retryAfterOn503IsHonoured() async throws {
        let hits = Locked(0)
        try await withServer(routes: { router in
            router.sse("/busy") { _, events in
                let n = hits.withLock { h -> Int in h += 1; return h }
                if n == 1 { throw HTTPError(.serviceUnavailable, "busy", headers: [.retryAfter: "1"]) }
                try await events.send(SSEEvent(data: "[DONE]"))
            }
        }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect = Self.fastPolicy()
            configuration.reconnect.maxReconnectDelay = .seconds(5)
            configuration.doneSentinel = "[DONE]"
            let sse = try SSETransport(url: "\(server.base)/busy", configuration: configuration, loop: loop)
            sse.connect()
            let events = await Self.collect(sse) { $0.last == .closed }
            #expect(events.contains(.reconnecting(attempt: 1, delay: .seconds(1))))
            #expect(events.suffix(2) == [.done, .closed])
        }
    }

    /// `.block` with a tiny buffer and a consumer that stops: the transport stops reading, the
    /// server's `send` suspends; when the consumer goes on, every event arrives in order.
    @Test func blockStrategyHoldsTheServerBack() async throws {
        let probe = HandlerProbe()
        try await withServer(configure: { $0.watermarks = Watermarks(high: 8 * 1024, low: 2 * 1024) }, routes: { router in
            router.sse("/flood") { _, events in
                probe.set { $0.writer = events }
                for i in 1...3000 { try await events.send(SSEEvent(data: String(repeating: "x", count: 1000), id: String(i))) }
                try await events.send(SSEEvent(data: "[DONE]"))
            }
        }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.maxBufferSize = 8
            configuration.strategy = .block
            configuration.doneSentinel = "[DONE]"
            let sse = try SSETransport(url: "\(server.base)/flood", configuration: configuration, loop: loop)
            sse.connect()
            // Nobody takes events: the buffer fills, reading stops, the server's producer must wait.
            #expect(await eventually(timeout: .seconds(20)) { (probe.get { $0.writer?.statistics.suspensions } ?? 0) > 0 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(sse.droppedCount == 0)
            let events = await Self.collect(sse) { $0.last == .closed }
            let ids = Self.ids(events)
            let lifecycle = events.filter { if case .event = $0 { false } else { true } }
            #expect(ids.count == 3000 && ids == (1...3000).map(String.init), "got \(ids.count) ids; lifecycle \(lifecycle)")
            #expect(events.contains(.backpressure))
            #expect(events.contains(.drain))
        }
    }

    @Test func closeEndsALiveStream() async throws {
        try await withServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            let sse = try SSETransport(url: "\(server.base)/sse?interval_ms=20", loop: loop)
            sse.connect()
            var seen: [TransportEvent] = []
            for await event in sse.events {
                seen.append(event)
                if Self.data(seen).count == 2 { sse.close() }
            }
            #expect(seen.last == .closed)
            #expect(!seen.contains { if case .reconnecting = $0 { true } else { false } })
            #expect(await eventually { server.server.connectionCount == 0 })
        }
    }

    @Test func dropOldestCountsWhatItDrops() async throws {
        try await withServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.maxBufferSize = 10
            configuration.strategy = .dropOldest
            configuration.reconnect.reconnect = false
            let sse = try SSETransport(url: "\(server.base)/sse?count=500&interval_ms=0", configuration: configuration, loop: loop)
            sse.connect()
            try await Task.sleep(for: .milliseconds(500))  // let it all arrive unread
            let events = await Self.collect(sse) { $0.last == .closed }
            let received = Self.data(events).count
            #expect(received < 500)
            #expect(received + sse.droppedCount == 500)
            #expect(Self.ids(events).last == "500")  // the latest survived
        }
    }

    @Test func tlsWithACustomCA() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-client-tls-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try await run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert,
        ])
        #expect(made.status == 0)
        let tls = try TLSContext(certificateChainFile: cert, privateKeyFile: key)
        try await withServer(configure: { $0.tls = tls }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.tls = try ClientTLS(caFile: cert)
            let sse = try SSETransport(url: "https://127.0.0.1:\(server.port)/sse?count=2&interval_ms=0", configuration: configuration, loop: loop)
            sse.connect()
            let events = await Self.collect(sse) { Self.data($0).count == 2 }
            sse.close()
            #expect(Self.data(events) == ["event 1", "event 2"])
            // Without the CA the certificate is refused, and that is not worth retrying forever.
            var strict = SSETransportConfiguration()
            strict.reconnect.maxReconnectAttempts = 1
            strict.reconnect.reconnectDelay = .milliseconds(10)
            let refused = try SSETransport(url: "https://127.0.0.1:\(server.port)/sse?count=2", configuration: strict, loop: loop)
            refused.connect()
            let refusedEvents = await Self.collect(refused) { $0.last == .closed }
            #expect(refusedEvents.contains { if case .error(let e) = $0 { e.message.hasPrefix("TLS") || e.message.contains("connect") } else { false } })
            #expect(Self.data(refusedEvents).isEmpty)
        }
    }
}
