import Foundation
import SluiceClient
import SluiceCore

/// Runs one scenario with the client library: publishes the events, reads them through the transport
/// with the fault in the URL, and judges the outcome.
struct CheckRunner: Sendable {
    /// `http://host:port` of the server (its https twin for `sse-tls`).
    var base: String
    var tlsBase: String?
    var events: Int
    var timeout: Duration
    var publish: @Sendable (_ channel: String, _ count: Int) async throws -> Void

    func run(_ scenario: CheckScenario, number: Int, loop: EventLoop) async -> CheckResult {
        var result = CheckResult(scenario: scenario, expected: events)
        let channel = "check-\(ProcessInfo.processInfo.processIdentifier)-\(number)"
        do { try await publish(channel, events) } catch {
            result.detail = "publishing failed: \(error)"
            return result
        }
        let started = ContinuousClock.now
        let query = scenario.query.isEmpty ? "" : "?" + scenario.query
        var policy = ReconnectPolicy(reconnectDelay: .milliseconds(10), maxReconnectDelay: .milliseconds(200))
        policy.maxReconnectAttempts = 200
        policy.maxReconnectDelay = .seconds(2)  // bounds a server's Retry-After too
        let source: TransportSource
        do {
            source = try makeSource(scenario.transport, channel: channel, query: query, policy: policy, loop: loop)
        } catch {
            result.detail = "\(error)"
            return result
        }
        var ids: [Int] = []
        var delays: [Duration] = []
        var statuses: [Int] = []
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            source.close()
        }
        source.connect()
        for await event in source.events {
            switch event {
            case .event(let e):
                if let id = Int(e.lastEventID) { ids.append(id) }
            case .message(let m):
                if let id = WebSocketTransportConfiguration.jsonIDField(m).flatMap(Int.init) { ids.append(id) }
            case .reconnecting(_, let delay):
                delays.append(delay)
            case .error(let error):
                if let status = error.statusCode { statuses.append(status) }
            default:
                break
            }
            if ids.count >= events { source.close() }
            if case .retriedAfter = scenario.expectation, !delays.isEmpty { source.close() }
        }
        watchdog.cancel()
        result.seconds = (ContinuousClock.now - started).seconds
        result.received = ids.count
        result.reconnects = delays.count
        let unique = Set(ids)
        result.duplicated = ids.count - unique.count
        result.lost = (1...events).filter { !unique.contains($0) }.count
        result.outOfOrder = zip(ids, ids.dropFirst()).filter { $0 >= $1 }.count
        switch scenario.expectation {
        case .everyEvent:
            result.passed = result.lost == 0 && result.duplicated == 0 && result.outOfOrder == 0
            if !result.passed { result.detail = "lost \(result.lost), duplicated \(result.duplicated), out of order \(result.outOfOrder)" }
        case .retriedAfter(let status):
            result.expected = 0
            result.lost = 0
            result.passed = statuses.first == status && delays.first == .seconds(1)
            result.detail = "status \(statuses.first.map(String.init) ?? "none"), retried after \(delays.first.map { "\($0)" } ?? "never")"
        case .notRetried(let status):
            result.expected = 0
            result.lost = 0
            result.passed = statuses == [status] && delays.isEmpty
            result.detail = "status \(statuses.map(String.init).joined(separator: ",")), \(delays.count) retries"
        }
        return result
    }

    /// The transport of a scenario, behind one face.
    struct TransportSource: Sendable {
        var events: AsyncStream<TransportEvent>
        var connect: @Sendable () -> Void
        var close: @Sendable () -> Void
    }

    private func makeSource(_ transport: CheckScenario.Transport, channel: String, query: String, policy: ReconnectPolicy, loop: EventLoop) throws -> TransportSource {
        let path = "/channels/\(channel)"
        switch transport {
        case .sse, .sseH2, .sseTLS, .sseH2TLS:
            var configuration = SSETransportConfiguration()
            configuration.reconnect = policy
            configuration.lastEventID = "0"
            configuration.httpVersion = transport == .sseH2 || transport == .sseH2TLS ? .http2 : .http1
            var url = base + path + "/sse" + query
            if transport == .sseTLS || transport == .sseH2TLS {
                guard let tlsBase else { throw CheckError("no TLS server to test against") }
                url = tlsBase + path + "/sse" + query
                configuration.tls = try ClientTLS(caFile: nil, insecure: true)
            }
            let sse = try SSETransport(url: url, configuration: configuration, loop: loop)
            return TransportSource(events: sse.events, connect: { sse.connect() }, close: { sse.close() })
        case .webSocket:
            var configuration = WebSocketTransportConfiguration()
            configuration.reconnect = policy
            configuration.resumeID = WebSocketTransportConfiguration.jsonIDField
            configuration.lastEventID = "0"
            let ws = try WebSocketTransport(url: "ws" + base.dropFirst(4) + path + "/ws" + query, configuration: configuration, loop: loop)
            return TransportSource(events: ws.events, connect: { ws.connect() }, close: { ws.close() })
        case .ndjson:
            var configuration = HTTPStreamTransportConfiguration()
            configuration.reconnect = policy
            configuration.resumeID = WebSocketTransportConfiguration.jsonIDField
            configuration.lastEventID = "0"
            configuration.longPolling = LongPollFallback(url: base + path + "/poll?limit=50", firstByteTimeout: .milliseconds(500))
            configuration.longPolling?.pollTimeout = .milliseconds(500)
            let stream = try HTTPStreamTransport(url: base + path + "/stream" + query, configuration: configuration, loop: loop)
            return TransportSource(events: stream.events, connect: { stream.connect() }, close: { stream.close() })
        case .poll:
            var configuration = LongPollTransportConfiguration()
            configuration.reconnect = policy
            configuration.pollTimeout = .milliseconds(500)
            configuration.cursor = "0"
            let separator = query.isEmpty ? "?" : "&"
            let poll = try LongPollTransport(url: base + path + "/poll" + query + separator + "limit=10", configuration: configuration, loop: loop)
            return TransportSource(events: poll.events, connect: { poll.connect() }, close: { poll.close() })
        }
    }
}

struct CheckError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
