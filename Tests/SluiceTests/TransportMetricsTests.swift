import Foundation
@testable import SluiceClient
import SluiceCore
import Testing
@testable import Sluice

/// Per-transport metrics against a real server.
@Suite struct TransportMetricsTests {
    @Test func sseCountsEventsBytesReconnectsAndDrops() async throws {
        try await withServer(configure: { $0.faultInjection = true }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect = ReconnectPolicy(reconnectDelay: .milliseconds(5), maxReconnectDelay: .milliseconds(20), seed: 1)
            configuration.maxBufferSize = 5
            configuration.strategy = .dropNewest
            let sse = try SSETransport(url: "\(server.base)/sse?count=40&interval_ms=0&drop_after=15", configuration: configuration, loop: loop)
            #expect(sse.metrics.state == .idle)
            sse.connect()
            var taken = 0
            var sawConnected = false
            var errorStates: [TransportMetrics.State?] = []
            for await event in sse.events {
                if case .error(let e) = event { errorStates.append(e.state) }
                // (The state runs ahead of a slow consumer: the events it reads may be old news.)
                if case .connected = event { sawConnected = true }
                if case .event = event {
                    taken += 1
                    try await Task.sleep(for: .milliseconds(2))  // slow: drops happen
                }
                if case .done = event { break }
                if case .error(let e) = event, !e.recoverable { break }
                if sse.lastEventID == "40" && sse.metrics.bufferSize == 0 { sse.close() }
            }
            let m = sse.metrics
            #expect(sawConnected)
            #expect(m.type == .sse)
            #expect(m.id.hasPrefix("sse-"))
            #expect(m.state == .closed)
            #expect(m.messagesReceived == taken + m.dropped, "\(m)")
            #expect(m.messagesReceived >= 40)
            #expect(m.bytesReceived > 40 * "id: 1\ndata: event 1\n\n".utf8.count)
            #expect(m.reconnectAttempts >= 2)
            #expect(m.errors >= 2)
            #expect(m.connectionDuration == .zero)
            // Each drop happened mid-stream: the error says the transport was connected.
            #expect(!errorStates.isEmpty && errorStates.allSatisfy { $0 == .connected }, "\(errorStates)")
        }
    }

    /// `on(_:_:)` handlers see every event as it is produced, independently of the `events` sequence.
    @Test func handlersSeeEventsBesideTheSequence() async throws {
        try await withServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect.reconnect = false
            let sse = try SSETransport(url: "\(server.base)/sse?count=7&interval_ms=0", configuration: configuration, loop: loop)
            let data = Locked<[String]>([])
            let kinds = Locked<[TransportEventKind]>([])
            sse.on(.event) { event in if case .event(let e) = event { data.withLock { $0.append(e.data) } } }
            sse.on(.any) { event in kinds.withLock { $0.append(TransportEventKind(event)) } }
            sse.connect()
            var consumed = 0
            for await event in sse.events { if case .event = event { consumed += 1 } }
            #expect(consumed == 7)
            #expect(data.withLock { $0 } == (1...7).map { "event \($0)" })
            let seen = kinds.withLock { $0 }
            #expect(seen.first == .connecting && seen.last == .closed)
            #expect(seen.filter { $0 == .event }.count == 7)
        }
    }

    @Test func webSocketCountsSentMessagesAndPingRoundTrips() async throws {
        try await withServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = WebSocketTransportConfiguration()
            configuration.heartbeatInterval = .milliseconds(50)
            let ws = try WebSocketTransport(url: "ws://127.0.0.1:\(server.port)/ws/echo", configuration: configuration, loop: loop)
            ws.connect()
            var iterator = ws.events.makeAsyncIterator()
            while let event = await iterator.next(), event != .connected {}
            for n in 1...3 { try await ws.send(text: "message \(n)") }
            var echoed = 0
            while echoed < 3, let event = await iterator.next() { if case .message = event { echoed += 1 } }
            #expect(await eventually { ws.metrics.averageLatency != nil })
            let m = ws.metrics
            #expect(m.state == .connected)
            #expect(m.messagesSent == 3 && m.bytesSent == 3 * "message 1".utf8.count)
            #expect(m.messagesReceived == 3)
            #expect(m.connectionDuration > .zero)
            #expect(try #require(m.averageLatency) < .seconds(1))
            ws.close()
            while let _ = await iterator.next() {}
            #expect(ws.metrics.state == .closed)
        }
    }
}
