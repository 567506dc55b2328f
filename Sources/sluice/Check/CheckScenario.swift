/// One cell of the `sluice check` matrix: a transport against a channel whose stream misbehaves.
struct CheckScenario: Sendable {
    enum Transport: String, CaseIterable, Sendable {
        case sse, sseH2 = "sse-h2", sseTLS = "sse-tls", sseH2TLS = "sse-h2-tls", webSocket = "ws", ndjson = "stream", poll

        var isSSE: Bool { [.sse, .sseH2, .sseTLS, .sseH2TLS].contains(self) }
    }

    /// What passing means.
    enum Expectation: Sendable {
        /// Every event once, in order, whatever reconnections it took.
        case everyEvent
        /// The server refuses with this status and `Retry-After: 1`: the client retries after exactly 1 s.
        case retriedAfter(status: Int)
        /// The server refuses with this status: the client reports it and does not retry.
        case notRetried(status: Int)
    }

    var transport: Transport
    var fault: String
    /// Query parameters of the fault.
    var query: String
    var expectation: Expectation

    var name: String { "\(transport.rawValue) × \(fault)" }

    /// The matrix: each transport with every fault that applies to it.
    static func matrix(transports: [Transport]) -> [CheckScenario] {
        var out: [CheckScenario] = []
        for transport in transports {
            var faults: [(String, String, Expectation)] = [
                ("none", "", .everyEvent),
                ("drop", transport == .poll ? "drop_rate=0.3" : "drop_after=37", .everyEvent),
                ("delay-first", "delay_first_ms=300", .everyEvent),
                ("503+retry-after", "status=503&retry_after=1", .retriedAfter(status: 503)),
                ("401", "auth=check-token", .notRetried(status: 401)),
            ]
            if transport != .webSocket {
                faults += [("latency", "latency_ms=2&jitter_ms=2", .everyEvent)]
            }
            if transport != .webSocket && transport != .poll {
                faults += [
                    ("stall", "stall_after=50&stall_ms=300", .everyEvent),
                    ("drip", "drip_bytes=7", .everyEvent),
                    ("bandwidth", "bandwidth=200000", .everyEvent),
                    ("chaos", "chaos=0.03&stall_ms=50", .everyEvent),
                ]
            }
            if transport == .ndjson {
                // A buffering proxy: the stream transport must fall back to long polling.
                faults += [("buffer→long-poll", "buffer=1", .everyEvent)]
            }
            if transport.isSSE {
                faults += [
                    ("crlf", "line_ending=crlf", .everyEvent),
                    ("cr", "line_ending=cr", .everyEvent),
                    ("bom", "bom=1", .everyEvent),
                    ("corrupt", "corrupt=0.3", .everyEvent),
                    ("drip-1", "drip_bytes=1&line_ending=crlf", .everyEvent),
                ]
            }
            out += faults.map { CheckScenario(transport: transport, fault: $0.0, query: $0.1, expectation: $0.2) }
        }
        return out
    }
}

/// What one scenario gave.
struct CheckResult: Sendable {
    var scenario: CheckScenario
    var expected: Int
    var received = 0
    var lost = 0
    var duplicated = 0
    var outOfOrder = 0
    var reconnects = 0
    var seconds = 0.0
    var passed = false
    var detail = ""
}
