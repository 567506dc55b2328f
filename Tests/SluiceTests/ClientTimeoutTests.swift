import Foundation
import SluiceClient
import SluiceCore
import Testing
@testable import Sluice

/// The client's connect and stall timeouts against real sockets.
@Suite struct ClientTimeoutTests {
    /// A TLS handshake that never finishes (a listener that accepts nothing) ends in the connect timeout.
    @Test func connectTimeoutEndsAHandshakeThatNeverCompletes() async throws {
        let silent = try #require(try ListeningSocket.bind(host: "127.0.0.1", port: 0, backlog: 4).first)
        defer { close(silent.fd) }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        var configuration = SSETransportConfiguration()
        configuration.timeouts.connect = .milliseconds(300)
        configuration.reconnect.reconnect = false
        configuration.tls = try ClientTLS(insecure: true)
        let sse = try SSETransport(url: "https://127.0.0.1:\(silent.port)/sse", configuration: configuration, loop: loop)
        let started = ContinuousClock.now
        sse.connect()
        var errors: [TransportError] = []
        for await event in sse.events { if case .error(let e) = event { errors.append(e) } }
        #expect(errors.map(\.message) == ["no connection within 0.3 seconds"])
        // libevent measures from the time it cached at the start of its loop turn: a few ms early is normal.
        #expect(ContinuousClock.now - started >= .milliseconds(250))
    }

    /// A stream that stops sending (stall fault) is declared dead after the stall timeout and resumed
    /// from its last id; heartbeat comments keep a quiet stream alive; a paused reader is not stalled.
    @Test func stallTimeoutReconnectsButHeartbeatsAndPausesDoNot() async throws {
        try await withServer(configure: { $0.faultInjection = true }) { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            func collect(_ url: String, pauseFor: Duration? = nil) async throws -> (ids: [String], errors: [String]) {
                var configuration = SSETransportConfiguration()
                configuration.timeouts.stall = .milliseconds(300)
                configuration.reconnect = ReconnectPolicy(reconnectDelay: .milliseconds(10), maxReconnectDelay: .milliseconds(50), seed: 1)
                let sse = try SSETransport(url: url, configuration: configuration, loop: loop)
                sse.connect()
                var ids: [String] = []
                var errors: [String] = []
                for await event in sse.events {
                    switch event {
                    case .event(let e):
                        ids.append(e.lastEventID)
                        if ids.count == 1, let pauseFor {
                            sse.pause()
                            try await Task.sleep(for: pauseFor)
                            sse.resume()
                        }
                    case .error(let e): errors.append(e.message)
                    case .done: sse.close()
                    default: break
                    }
                    if ids.last == "5" { sse.close() }
                }
                return (ids, errors)
            }
            let stalled = try await collect("\(server.base)/sse?count=5&interval_ms=0&stall_after=2&stall_ms=5000")
            #expect(stalled.ids == ["1", "2", "3", "4", "5"])
            #expect(stalled.errors.filter { $0.contains("stalled") }.count >= 2, "\(stalled.errors)")
            let beating = try await collect("\(server.base)/sse?count=5&interval_ms=500&heartbeat_ms=100")
            #expect(beating.ids == ["1", "2", "3", "4", "5"])
            #expect(beating.errors.isEmpty, "\(beating.errors)")
            let paused = try await collect("\(server.base)/sse?count=5&interval_ms=0", pauseFor: .milliseconds(800))
            #expect(paused.ids == ["1", "2", "3", "4", "5"])
            #expect(paused.errors.isEmpty, "\(paused.errors)")
        }
    }
}
