import Foundation
@testable import SluiceClient
import SluiceCore
import Testing
@testable import Sluice

/// The transport manager: pool limit, error and health events, idle cleanup, totals.
@Suite struct TransportManagerTests {
    @Test func poolLimitErrorsHealthCleanupAndSummary() async throws {
        try await withServer(configure: { $0.faultInjection = true }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = TransportManagerConfiguration()
            configuration.maxPoolSize = 3
            configuration.healthCheckInterval = nil  // checks are run by hand, with a moved clock
            configuration.maxSilence = .milliseconds(200)
            configuration.maxReconnectingTime = .seconds(1)
            configuration.maxIdleTime = .seconds(60)
            let manager = TransportManager(configuration: configuration, loop: loop)
            var managerEvents = manager.events.makeAsyncIterator()

            // 1: streams five events, then stalls while staying connected.
            let stalling = try manager.createTransport(.sse(url: "\(server.base)/sse?count=10&interval_ms=0&stall_after=5&stall_ms=60000"))
            // 2: answered 404, not retried: an error event.
            var once = SSETransportConfiguration()
            once.reconnect.reconnect = false
            let missing = try manager.createTransport(.sse(url: "\(server.base)/nope", once))
            // 3: never connected (idle).
            let idle = try manager.createTransport(.webSocket(url: "ws://127.0.0.1:\(server.port)/ws/echo"))
            #expect(throws: TransportManager.PoolFull(maxPoolSize: 3)) {
                try manager.createTransport(.sse(url: "\(server.base)/sse"))
            }
            #expect(Set(manager.transports.map(\.id)) == [stalling.id, missing.id, idle.id])

            stalling.connect()
            missing.connect()
            var received = 0
            var stallingEvents = stalling.events.makeAsyncIterator()
            while received < 5, let event = await stallingEvents.next() { if case .event = event { received += 1 } }
            // Whatever its kind, a managed transport is one `StreamingTransport`: the same object, the same state.
            guard case .sse(let sse) = stalling else { Issue.record("not an SSE transport"); return }
            #expect(stalling.transport === sse)
            #expect(stalling.transport.isConnected && sse.isConnected)
            guard case .webSocket(let ws) = idle else { Issue.record("not a WebSocket transport"); return }
            #expect(idle.transport === ws && !idle.transport.isConnected && idle.transport.state == .idle)
            #expect(await managerEvents.next() == .transportError(id: missing.id, TransportError(
                message: "server answered 404", statusCode: 404, recoverable: false, attempt: 0)))
            #expect(await eventually { missing.metrics.state == .closed })

            let summary = manager.summary()
            #expect(summary.poolSize == 3 && summary.utilisation == 1.0)
            #expect(summary.messagesReceived >= 5 && summary.errors == 1)
            #expect(summary.byState[.connected] == 1 && summary.byState[.closed] == 1)

            // A check a little later: the stalled one is unhealthy, the closed one is cleaned up.
            manager.checkHealth(now: .now + .milliseconds(500))
            var reported: [TransportManagerEvent] = []
            for _ in 0..<2 { if let event = await managerEvents.next() { reported.append(event) } }
            #expect(reported.contains(.removed(id: missing.id, reason: "closed")))
            #expect(reported.contains { if case .unhealthy(let id, let reason) = $0 { id == stalling.id && reason.hasPrefix("stalled") } else { false } })
            #expect(manager.transport(missing.id) == nil)

            // Much later: the never-used one is idle and removed.
            manager.checkHealth(now: .now + .seconds(120))
            var removedIdle = false
            while let event = await managerEvents.next() {
                if event == .removed(id: idle.id, reason: "idle for more than 60.0 seconds") { removedIdle = true; break }
            }
            #expect(removedIdle)
            manager.closeAll()
            #expect(manager.transports.isEmpty)
            #expect(await eventually { stalling.metrics.state == .closed })
        }
    }

    @Test func reconnectingTooLongIsUnhealthy() async throws {
        let silent = try #require(try ListeningSocket.bind(host: "127.0.0.1", port: 0, backlog: 1).first)
        let port = silent.port
        close(silent.fd)  // nothing listens there now: every connection is refused
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        var configuration = TransportManagerConfiguration()
        configuration.healthCheckInterval = nil
        configuration.maxReconnectingTime = .seconds(1)
        let manager = TransportManager(configuration: configuration, loop: loop)
        var sse = SSETransportConfiguration()
        sse.reconnect = ReconnectPolicy(reconnectDelay: .seconds(30), maxReconnectDelay: .seconds(30), seed: 1)
        // A refused connect is not always reported by libevent 2.1 (see SocketConnect); the connect
        // timeout ends such an attempt either way.
        sse.timeouts.connect = .milliseconds(300)
        let refused = try manager.createTransport(.sse(url: "http://127.0.0.1:\(port)/sse", sse))
        refused.connect()
        try #require(await eventually(timeout: .seconds(20)) { refused.metrics.state == .reconnecting })
        let seen = Locked<[TransportManagerEvent]>([])
        let collector = Task { for await event in manager.events { seen.withLock { $0.append(event) } } }
        defer { collector.cancel() }
        manager.checkHealth(now: .now + .seconds(5))
        #expect(await eventually {
            seen.withLock { $0.contains { if case .unhealthy(let id, let reason) = $0 { id == refused.id && reason.hasPrefix("reconnecting") } else { false } } }
        })
        manager.closeAll()
    }
}
