import Foundation
import SluiceClient
import SluiceCore
import Testing
@testable import Sluice

/// The faults of `FaultPlan` against real clients (curl, nghttp via curl --http2, our SSE client).
@Suite struct FaultInjectionTests {
    static func withFaultyServer<T>(_ body: (TestServer) async throws -> T) async throws -> T {
        try await withServer(configure: { $0.faultInjection = true }, body)
    }

    @Test func offByDefault() async throws {
        try await withServer { server in
            let result = try await curl(["-N", "\(server.base)/sse?count=3&interval_ms=0&drop_after=1"])
            #expect(String(decoding: result.stdout, as: UTF8.self).components(separatedBy: "data:").count == 4)
            #expect(result.status == 0)
        }
    }

    @Test func dropAfterCutsHTTP1AndResetsHTTP2AfterTheEventsBefore() async throws {
        try await Self.withFaultyServer { server in
            let h1 = try await curl(["-N", "\(server.base)/sse?count=5&interval_ms=0&drop_after=2"])
            #expect(String(decoding: h1.stdout, as: UTF8.self) == "id: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n")
            #expect(h1.status == 18)  // transfer closed with outstanding read data
            let h2 = try await curl(["-N", "--http2-prior-knowledge", "-H", "X-Sluice-Fault-Drop-After: 1", "\(server.base)/ndjson?count=5&interval_ms=0"])
            #expect(h2.status == 92)  // HTTP/2 stream error (RST_STREAM)
            // The record before the drop is sent before the reset; curl 7.88 drops DATA that arrives in the
            // same read as the RST_STREAM, so on a loaded machine it may print nothing, never more.
            #expect(["{\"seq\":1}\n", ""].contains(String(decoding: h2.stdout, as: UTF8.self)))
        }
    }

    /// `drop=goaway` takes the whole HTTP/2 connection down instead of one stream (nghttp shows the frames).
    @Test func dropAsGoawayOnHTTP2() async throws {
        try await Self.withFaultyServer { server in
            let goaway = try await run("/usr/bin/nghttp", ["-v", "\(server.base)/sse?count=5&interval_ms=0&drop_after=2&drop=goaway"])
            #expect(goaway.stdout.contains("recv GOAWAY frame"))
            #expect(goaway.stdout.contains("error_code=INTERNAL_ERROR"))
            #expect(goaway.stdout.contains("data: event 2") && !goaway.stdout.contains("data: event 3"))
            let reset = try await run("/usr/bin/nghttp", ["-v", "\(server.base)/sse?count=5&interval_ms=0&drop_after=2"])
            #expect(reset.stdout.contains("recv RST_STREAM frame"))
            #expect(!reset.stdout.contains("recv GOAWAY frame"))
        }
    }

    @Test func statusAuthAndBadValues() async throws {
        try await Self.withFaultyServer { server in
            let refused = try await curl(["-D", "-", "-o", "/dev/null", "\(server.base)/sse?count=1&status=503&retry_after=2"])
            let head = String(decoding: refused.stdout, as: UTF8.self).lowercased()
            #expect(head.hasPrefix("http/1.1 503"))
            #expect(head.contains("retry-after: 2"))
            let denied = try await curl(["-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/health?auth=t0k"])
            #expect(String(decoding: denied.stdout, as: UTF8.self) == "401")
            let allowed = try await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer t0k", "\(server.base)/health?auth=t0k"])
            #expect(String(decoding: allowed.stdout, as: UTF8.self) == "200")
            let bad = try await curl(["-w", "%{http_code}", "\(server.base)/sse?count=1&corrupt=2"])
            #expect(String(decoding: bad.stdout, as: UTF8.self).hasSuffix("400"))
        }
    }

    @Test func bufferHoldsTheWholeResponseLikeAProxy() async throws {
        try await Self.withFaultyServer { server in
            // Three events 300 ms apart: with buffer=1 nothing arrives before the last one is written.
            let result = try await curl(["-N", "-w", "\n%{time_starttransfer}", "\(server.base)/sse?count=3&interval_ms=300&buffer=1"])
            let text = String(decoding: result.stdout, as: UTF8.self)
            let firstByte = try #require(Double(text.split(separator: "\n").last ?? ""))
            #expect(firstByte >= 0.55, "first byte after \(firstByte) s")
            #expect(text.hasPrefix("id: 1\ndata: event 1\n\nid: 2"))
        }
    }

    @Test func stallAndDelayHoldTheStreamBack() async throws {
        try await Self.withFaultyServer { server in
            let started = ContinuousClock.now
            let result = try await curl(["-N", "\(server.base)/sse?count=2&interval_ms=0&stall_after=1&stall_ms=300&delay_first_ms=200"])
            #expect(ContinuousClock.now - started >= .milliseconds(500))
            #expect(String(decoding: result.stdout, as: UTF8.self).components(separatedBy: "data:").count == 3)
        }
    }

    /// Line endings, a BOM, misspelt lines, one-byte pieces and chaos: the WHATWG client still gets
    /// every event once.
    @Test(arguments: ["line_ending=crlf&bom=1", "line_ending=cr&corrupt=0.5", "drip_bytes=1&line_ending=crlf", "corrupt=1&bom=1&drip_bytes=3",
                      "latency_ms=1&jitter_ms=1&bandwidth=200000"])
    func sseClientSurvivesByteFaults(_ faults: String) async throws {
        try await Self.withFaultyServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect.reconnect = false
            let sse = try SSETransport(url: "\(server.base)/sse?count=20&interval_ms=0&\(faults)", configuration: configuration, loop: loop)
            sse.connect()
            var data: [String] = []
            for await event in sse.events { if case .event(let e) = event { data.append(e.data) } }
            #expect(data == (1...20).map { "event \($0)" })
        }
    }

    @Test func chaosIsSeededAndStillResumable() async throws {
        try await Self.withFaultyServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect = ReconnectPolicy(reconnectDelay: .milliseconds(1), maxReconnectDelay: .milliseconds(5), seed: 1)
            configuration.reconnect.maxReconnectAttempts = 500
            let sse = try SSETransport(url: "\(server.base)/sse?count=300&interval_ms=0&chaos=0.05&stall_ms=20", configuration: configuration, loop: loop)
            sse.connect()
            var ids: [Int] = []
            var reconnects = 0
            for await event in sse.events {
                if case .event(let e) = event, let id = Int(e.lastEventID) { ids.append(id) }
                if case .reconnecting = event { reconnects += 1 }
            }
            #expect(ids == Array(1...300))
            #expect(reconnects > 0)
        }
    }

    @Test func retryAfterIsHonouredAnd401IsNotRetried() async throws {
        try await Self.withFaultyServer { server in
            let loop = EventLoop(index: 0)
            loop.start()
            defer { loop.shutdown() }
            var configuration = SSETransportConfiguration()
            configuration.reconnect = ReconnectPolicy(reconnectDelay: .milliseconds(10), maxReconnectDelay: .seconds(5), seed: 1)
            configuration.reconnect.maxReconnectAttempts = 1
            let limited = try SSETransport(url: "\(server.base)/sse?count=1&status=503&retry_after=1", configuration: configuration, loop: loop)
            limited.connect()
            var delays: [Duration] = []
            for await event in limited.events { if case .reconnecting(_, let delay) = event { delays.append(delay) } }
            #expect(delays == [.seconds(1)])

            let denied = try SSETransport(url: "\(server.base)/sse?count=1&auth=secret", configuration: configuration, loop: loop)
            denied.connect()
            var errors: [TransportError] = []
            var reconnecting = false
            for await event in denied.events {
                if case .error(let e) = event { errors.append(e) }
                if case .reconnecting = event { reconnecting = true }
            }
            #expect(errors.map(\.statusCode) == [401])
            #expect(!reconnecting)
        }
    }
}
