import ArgumentParser
import Foundation
import SluiceClient
import SluiceCore

struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Consume a stream with the Sluice client library (like curl -N, but transport-aware).",
        discussion: """
            Reconnects with backoff and resumes after Last-Event-ID. Exits 0 when the stream is done
            (done sentinel, --max-events, 204) and non-zero on a fatal error (e.g. 401, 404, TLS).
            Transports: sse, ws (the default for ws:// URLs), stream (a streamed body, one record per
            line) and poll (a channel's long-poll URL, followed by cursor).
            """)

    @Argument(help: "http(s) URL of an event stream, or ws(s) URL of a WebSocket.")
    var url: String

    @Option(help: "sse, ws, stream or poll (a long-poll URL). Default: ws for ws:// and wss:// URLs; else sse, or stream when the answer is not an event stream.")
    var transport: String?

    @Option(name: .customLong("header"), help: "Extra request header, 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "Resume after this event id.")
    var lastEventId: String?

    @Option(help: "Stop after this many events.")
    var maxEvents: Int?

    @Option(help: "text (the data of each event) or json (one object per event and lifecycle step).")
    var format = "text"

    @Flag(help: "Do not reconnect.")
    var noReconnect = false

    @Option(help: "Give up after this many failed reconnections.")
    var maxReconnectAttempts = 10

    @Option(help: "First reconnection delay in milliseconds (doubles each time, with jitter).")
    var reconnectDelayMs = 1000

    @Option(help: "Longest reconnection delay in milliseconds.")
    var maxReconnectDelayMs = 30_000

    @Option(help: "Events buffered for the output.")
    var bufferSize = 1000

    @Option(help: "block, drop-oldest, drop-newest or unlimited.")
    var strategy = "block"

    @Option(help: "An event whose data is exactly this ends the stream (e.g. [DONE]).")
    var doneSentinel: String?

    @Option(help: "PEM file of certificates to trust for https.")
    var cacert: String?

    @Flag(help: "Skip TLS certificate verification.")
    var insecure = false

    @Option(help: ArgumentHelp(
        "Accumulate an LLM stream: openai, anthropic or auto.",
        discussion: "Shows text (stdout) and thinking (stderr) as they stream, then the final state as one JSON object; with --format json only the object. No reconnection: a completion is not replayed."))
    var accumulate: String?

    @Option(help: "Request body: JSON text, or @FILE to read it from a file (implies POST).")
    var data: String?

    @Option(help: "Request method (default GET, or POST with --data).")
    var method: String?

    @Flag(help: "Speak HTTP/2 (prior knowledge for http, ALPN h2 for https); sse only.")
    var http2 = false

    @Option(help: "Give up a connection attempt after this many milliseconds.")
    var connectTimeoutMs = 10_000

    @Option(help: "Treat a connection silent for this many milliseconds as dead and reconnect (heartbeats count).")
    var stallTimeoutMs: Int?

    func validate() throws {
        guard ["sse", "ws", "stream", "poll"].contains(chosenTransport) else {
            throw ValidationError("--transport is sse, ws, stream or poll")
        }
        guard ["text", "json"].contains(format) else { throw ValidationError("--format is text or json") }
        guard Self.strategies[strategy] != nil else { throw ValidationError("unknown --strategy \(strategy)") }
        guard ClientEndpoint(url: url) != nil else { throw ValidationError("not an http(s) or ws(s) URL: \(url)") }
        for header in headers where !header.contains(":") { throw ValidationError("--header needs 'Name: value'") }
        if let maxEvents, maxEvents < 1 { throw ValidationError("--max-events must be at least 1") }
        guard connectTimeoutMs >= 1, (stallTimeoutMs ?? 1) >= 1 else { throw ValidationError("timeouts must be at least 1 ms") }
        if let accumulate, AccumulatedOutput.dialects(accumulate) == nil {
            throw ValidationError("--accumulate is openai, anthropic or auto")
        }
        if (data != nil || method != nil || accumulate != nil || http2) && chosenTransport != "sse" {
            throw ValidationError("--data, --method, --http2 and --accumulate go with the sse transport")
        }
    }

    /// The request body of `--data`.
    func requestBody() throws -> [UInt8]? {
        guard let data else { return nil }
        guard data.hasPrefix("@") else { return Array(data.utf8) }
        do { return [UInt8](try Data(contentsOf: URL(fileURLWithPath: String(data.dropFirst())))) } catch {
            throw ValidationError("--data \(data): \(error.localizedDescription)")
        }
    }

    var chosenTransport: String {
        transport ?? (url.lowercased().hasPrefix("ws") ? "ws" : "sse")
    }

    static let strategies: [String: BufferStrategy] = [
        "block": .block, "drop-oldest": .dropOldest, "drop-newest": .dropNewest, "unlimited": .unlimited,
    ]

    func run() async throws {
        var policy = ReconnectPolicy(reconnectDelay: .milliseconds(reconnectDelayMs), maxReconnectDelay: .milliseconds(maxReconnectDelayMs))
        policy.reconnect = !noReconnect && accumulate == nil
        policy.maxReconnectAttempts = maxReconnectAttempts
        let extraHeaders = headers.map { header in
            let parts = header.split(separator: ":", maxSplits: 1)
            return (name: String(parts[0]).trimmingCharacters(in: .whitespaces), value: String(parts[1]).trimmingCharacters(in: .whitespaces))
        }
        let tls = cacert != nil || insecure ? try ClientTLS(caFile: cacert, insecure: insecure) : nil
        let timeouts = ConnectionTimeouts(connect: .milliseconds(connectTimeoutMs), stall: stallTimeoutMs.map { .milliseconds($0) })

        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        var kind = chosenTransport
        var opened = try open(kind, policy: policy, extraHeaders: extraHeaders, tls: tls, timeouts: timeouts, loop: loop)
        if let accumulate {
            let ok = await AccumulatingListener(format: format, dialects: AccumulatedOutput.dialects(accumulate)!).run(opened.events, close: { [opened] in opened.close() })
            if !ok { throw ExitCode(1) }
            return
        }
        var received = 0
        var fatal = false
        var switching = false
        // The options as plain values: each read of an argument-parser property goes through a generic
        // property wrapper, which was ~6% of the time per event.
        let (maxEvents, json, chosenByDefault) = (self.maxEvents, format == "json", transport == nil)
        while true {
            var output = StandardOutput()
            defer { output.flush() }
            for await event in opened.events {
                // No --transport and the answer is not an event stream: read it as a stream of records
                // instead (the default follows the response type too, not only the scheme).
                if chosenByDefault, kind == "sse", received == 0, case .error(let error) = event,
                   error.message.hasPrefix("not an event stream") {
                    switching = true
                }
                if switching { continue }
                // Events already buffered when --max-events closed the transport are not printed.
                if let maxEvents, received >= maxEvents, event.isData { continue }
                if let line = Self.line(for: event, json: json) { output.append(line) }
                // Written when nothing more waits (or a batch is large): a quiet stream still shows each
                // event at once, a fast one takes a `write` per batch instead of one per event.
                if output.count >= Self.outputBatch || opened.bufferedCount == 0 { output.flush() }
                switch event {
                case .event, .message:
                    received += 1
                    if let maxEvents, received >= maxEvents { opened.close() }
                case .error(let error) where !error.recoverable:
                    fatal = true
                default:
                    break
                }
            }
            guard switching else { break }
            switching = false
            kind = "stream"
            opened = try open(kind, policy: policy, extraHeaders: extraHeaders, tls: tls, timeouts: timeouts, loop: loop)
        }
        if format == "json" { print(Self.json(opened.metrics)) }
        if fatal { throw ExitCode(1) }
    }

    /// The transport's face for the output loop.
    /// `configuration` with the flags every transport shares set.
    private func common<C: TransportConfiguration>(_ configuration: C, _ extraHeaders: [(name: String, value: String)],
                                                   _ policy: ReconnectPolicy, _ tls: ClientTLS?) -> C {
        var configuration = configuration
        configuration.headers = extraHeaders
        configuration.reconnect = policy
        configuration.maxBufferSize = bufferSize
        configuration.strategy = Self.strategies[strategy]!
        configuration.tls = tls
        return configuration
    }

    /// Creates and connects a transport of `kind`.
    private func open(
        _ kind: String, policy: ReconnectPolicy, extraHeaders: [(name: String, value: String)], tls: ClientTLS?,
        timeouts: ConnectionTimeouts, loop: EventLoop
    ) throws -> any StreamingTransport {
        let transport: any StreamingTransport
        if kind == "ws" {
            var configuration = common(WebSocketTransportConfiguration(), extraHeaders, policy, tls)
            configuration.timeouts = timeouts
            transport = try WebSocketTransport(url: url, configuration: configuration, loop: loop)
        } else if kind == "poll" {
            var configuration = common(LongPollTransportConfiguration(), extraHeaders, policy, tls)
            configuration.cursor = lastEventId
            transport = try LongPollTransport(url: url, configuration: configuration, loop: loop)
        } else if kind == "stream" {
            var configuration = common(HTTPStreamTransportConfiguration(), extraHeaders, policy, tls)
            configuration.timeouts = timeouts
            transport = try HTTPStreamTransport(url: url, configuration: configuration, loop: loop)
        } else {
            var configuration = common(SSETransportConfiguration(), extraHeaders, policy, tls)
            configuration.lastEventID = lastEventId
            configuration.doneSentinel = doneSentinel
            configuration.body = try requestBody()
            configuration.method = method ?? (data == nil ? "GET" : "POST")
            configuration.httpVersion = http2 ? .http2 : .http1
            configuration.timeouts = timeouts
            transport = try SSETransport(url: url, configuration: configuration, loop: loop)
        }
        transport.connect()
        return transport
    }

    /// The transport's metrics as the last JSON line.
    static func json(_ m: TransportMetrics) -> String {
        var object: [String: Any] = [
            "type": "metrics", "id": m.id, "transport": m.type.rawValue, "state": m.state.rawValue,
            "messages_received": m.messagesReceived, "messages_sent": m.messagesSent, "bytes_received": m.bytesReceived,
            "bytes_sent": m.bytesSent, "errors": m.errors, "reconnect_attempts": m.reconnectAttempts, "buffer_size": m.bufferSize,
            "dropped": m.dropped,
        ]
        if let latency = m.averageLatency { object["avg_latency_ms"] = Double(latency.components.attoseconds) / 1e15 + Double(latency.components.seconds) * 1000 }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes `line` and a newline to standard output at once, so each event shows as it comes; one
    /// `write` instead of print's buffered copy and an `fflush(nil)` of every stream per event. Nothing
    /// else writes to standard output while events stream. Not `FileHandle.write(contentsOf:)`, which the
    /// accumulating listener uses for its few lines: per event it made 200,000 events take 1.5 s, not 1.15.
    /// Bytes of lines gathered before they are written even while more events wait.
    private static let outputBatch = 64 * 1024

    private static func line(for event: TransportEvent, json: Bool) -> String? {
        if !json {
            switch event {
            case .event(let e): return e.data
            case .message(.text(let text)): return text
            case .message(.binary(let bytes)): return bytes.map { String(format: "%02x", $0) }.joined()
            case .error(let error): return "! \(error)"
            case .reconnecting(let attempt, let delay): return "! reconnecting (attempt \(attempt), in \(delay))"
            default: return nil
            }
        }
        var object: [String: Any]
        switch event {
        case .event(let e): object = ["type": "event", "id": e.lastEventID, "event": e.type, "data": e.data]
        case .message(.text(let text)): object = ["type": "message", "data": text]
        case .message(.binary(let bytes)): object = ["type": "message", "binary": bytes.map { String(format: "%02x", $0) }.joined()]
        case .connecting: object = ["type": "connecting"]
        case .connected: object = ["type": "connected"]
        case .reconnecting(let attempt, let delay):
            object = ["type": "reconnecting", "attempt": attempt, "delay_ms": Int(delay.components.seconds * 1000) + Int(delay.components.attoseconds / 1_000_000_000_000_000)]
        case .done: object = ["type": "done"]
        case .error(let error):
            object = ["type": "error", "message": error.message, "recoverable": error.recoverable]
            if let status = error.statusCode { object["status"] = status }
        case .backpressure: object = ["type": "backpressure"]
        case .drain: object = ["type": "drain"]
        case .closed: object = ["type": "closed"]
        case .mode(let mode): object = ["type": "mode", "mode": mode.rawValue]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension TransportEvent {
    /// An event or message (not a lifecycle report).
    var isData: Bool {
        switch self {
        case .event, .message: true
        default: false
        }
    }
}

/// Lines for standard output, gathered and written in one `write` per batch.
struct StandardOutput {
    private var pending: [UInt8] = []
    var count: Int { pending.count }

    mutating func append(_ line: String) {
        pending.append(contentsOf: line.utf8)
        pending.append(UInt8(ascii: "\n"))
    }

    mutating func flush() {
        guard !pending.isEmpty else { return }
        pending.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }  // a closed pipe: the events have nowhere to go
                offset += n
            }
        }
        pending.removeAll(keepingCapacity: true)
    }
}
