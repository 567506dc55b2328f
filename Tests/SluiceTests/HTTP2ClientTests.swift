import Foundation
import SluiceClient
import SluiceCore
import Testing
@testable import Sluice

/// The client's HTTP/2: several transports as streams of one connection, each with its own flow
/// control.
@Suite struct HTTP2ClientTests {
    @Test func transportsShareOneConnectionAndAPausedStreamHoldsOnlyItself() async throws {
        try await withServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            let pool = HTTP2ConnectionPool(loop: loop)
            var configuration = SSETransportConfiguration()
            configuration.httpVersion = .http2
            configuration.http2Pool = pool
            configuration.reconnect.reconnect = false
            // Four quick streams, and one large one whose reader is paused.
            let quick = try (0..<4).map { _ in try SSETransport(url: "\(server.base)/sse?count=200&interval_ms=0&size=200", configuration: configuration, loop: loop) }
            let held = try SSETransport(url: "\(server.base)/sse?count=5000&interval_ms=0&size=1000", configuration: configuration, loop: loop)
            held.pause()
            held.connect()
            quick.forEach { $0.connect() }
            // (#require: without the connection, the reads below would wait forever.)
            try #require(await eventually(timeout: .seconds(20)) { server.server.connectionCount == 1 && pool.connectionCount == 1 })
            for transport in quick {
                var ids: [String] = []
                for await event in transport.events { if case .event(let e) = event { ids.append(e.lastEventID) } }
                #expect(ids == (1...200).map(String.init))
            }
            // The paused stream got no further than its window (64 KiB) while the others finished.
            #expect(held.metrics.bytesReceived < 128 * 1024, "\(held.metrics.bytesReceived) bytes")
            held.resume()
            var count = 0
            for await event in held.events { if case .event = event { count += 1 } }
            #expect(count == 5000)
            #expect(server.server.connectionCount <= 1)
        }
    }
}
