import SluiceCore

/// Settings of an ``SSETransport``, with documented defaults.
public struct SSETransportConfiguration: Sendable {
    /// Extra request headers.
    public var headers: [(name: String, value: String)] = []
    public var reconnect = ReconnectPolicy()
    /// Connect timeout (default 10 s) and stall timeout (default none).
    public var timeouts = ConnectionTimeouts()
    /// Events buffered for a slow consumer. Default 1,000.
    public var maxBufferSize = 1000
    /// What happens when the buffer is full. Default `.block`: the socket is not read meanwhile.
    public var strategy: BufferStrategy = .block
    /// Backlog that raises `backpressure` (and half of it `drain`); default the buffer size.
    public var highWaterMark: Int?
    /// An event whose data equals this ends the stream as `done` (e.g. `[DONE]`).
    public var doneSentinel: String?
    /// The id to resume after on the first connection.
    public var lastEventID: String?
    /// TLS settings for `https` URLs; default: verify against the system trust store.
    public var tls: ClientTLS?
    /// The request method; `POST` with a ``body`` for streams such as LLM completions.
    public var method = "GET"
    /// A request body, sent with every (re)connection; `Content-Type` defaults to JSON.
    public var body: [UInt8]?
    /// HTTP/1.1 (default) or HTTP/2: prior knowledge for `http` URLs, ALPN `h2` for `https`.
    public var httpVersion: HTTPVersion = .http1
    /// With HTTP/2: share connections with the other transports of this pool (one stream each);
    /// nil gives every connection attempt a connection of its own.
    public var http2Pool: HTTP2ConnectionPool?

    public init() {}
}

/// A Server-Sent Events client: WHATWG parsing, reconnection with backoff and `Last-Event-ID`
/// resume, the server's `retry` honoured within the policy's bound, 204 stops, non-2xx and wrong
/// content types are errors; events reach the consumer through a bounded buffer whose `.block`
/// strategy stops reading the socket, so the server's producer is held back. Lifecycle reports
/// (connecting, errors, closed…) are never dropped or blocked; the strategy applies to events.
///
/// ```swift
/// let sse = try SSETransport(url: "http://127.0.0.1:8080/sse?count=3", loop: loop)
/// sse.connect()
/// for await event in sse.events {
///     if case .event(let e) = event { print(e.data) }
/// }
/// ```
public final class SSETransport: Sendable {
    public let endpoint: ClientEndpoint
    public let configuration: SSETransportConfiguration
    private let loop: EventLoop
    private let buffer: MessageBuffer<TransportEvent>
    let recorder = TransportMetricsRecorder(kind: .sse)
    let handlers = TransportEventHandlers()
    private let locked = Locked(State())

    struct State {
        var lastEventID = ""
        var serverRetry: Duration?
        var closed = false
        var task: Task<Void, Never>?
        var connection: UnsafeSendable<any ClientStreamConnection>?
        /// Ends the current attempt from outside (close()).
        var abort: (@Sendable () -> Void)?
        var paused = false
        var deliveredSinceConnect = 0
    }

    public enum SetupError: Error { case badURL(String) }

    public init(url: String, configuration: SSETransportConfiguration = SSETransportConfiguration(), loop: EventLoop) throws {
        guard let endpoint = ClientEndpoint(url: url) else { throw SetupError.badURL(url) }
        self.endpoint = endpoint
        self.configuration = configuration
        self.loop = loop
        buffer = .forTransport(maxSize: configuration.maxBufferSize, strategy: configuration.strategy,
                               highWaterMark: configuration.highWaterMark, metrics: recorder, handlers: handlers)
        locked.withLock { $0.lastEventID = configuration.lastEventID ?? "" }
    }

    /// Everything the transport reports; ends after `.closed`.
    public var events: AsyncStream<TransportEvent> { buffer.stream }

    /// Calls `handler` for every event of `kind` as it is produced (see ``TransportEventKind``); the
    /// `events` sequence is unaffected. Register before `connect()` to see every event.
    ///
    /// ```swift
    /// transport.on(.error) { event in print("error:", event) }
    /// ```
    public func on(_ kind: TransportEventKind, _ handler: @escaping @Sendable (TransportEvent) -> Void) {
        handlers.add(kind, handler)
    }

    /// Where the transport is in its life (`.connected` while a connection is open).
    public var state: TransportMetrics.State { recorder.currentState }

    /// Counters and state right now (``TransportMetrics``).
    public var metrics: TransportMetrics { recorder.snapshot(bufferSize: buffer.count, dropped: buffer.droppedCount) }

    /// The id a reconnection resumes after.
    public var lastEventID: String { locked.withLock { $0.lastEventID } }

    /// Events dropped by `.dropOldest`/`.dropNewest`.
    public var droppedCount: Int { buffer.droppedCount }

    /// Events waiting in the buffer for the consumer.
    public var bufferedCount: Int { buffer.count }

    /// Starts connecting (and reconnecting) in the background.
    public func connect() {
        locked.withLock { s in
            guard s.task == nil, !s.closed else { return }
            s.task = Task { await self.run() }
        }
    }

    /// Stops for good: closes the connection, reports `.closed`.
    public func close() {
        let (task, connection, abort) = locked.withLock { s in
            s.closed = true
            return (s.task, s.connection, s.abort)
        }
        loop.execute {
            connection?.value.close()
            abort?()  // the attempt in progress returns; the run loop sees `closed` and stops
        }
        task?.cancel()
    }

    /// Stops reading the socket (TCP flow control then holds the server back) until `resume()`.
    public func pause() {
        let connection = locked.withLock { s -> UnsafeSendable<any ClientStreamConnection>? in
            s.paused = true
            return s.connection
        }
        if let connection { loop.execute { connection.value.pauseReading() } }
    }

    public func resume() {
        let connection = locked.withLock { s -> UnsafeSendable<any ClientStreamConnection>? in
            s.paused = false
            return s.connection
        }
        if let connection { loop.execute { connection.value.resumeReading() } }
    }

    // MARK: The connection loop

    private typealias Outcome = AttemptOutcome

    private func run() async {
        await ReconnectLoop.run(
            policy: configuration.reconnect, buffer: buffer,
            isClosed: { self.locked.withLock { $0.closed } },
            deliveredLastAttempt: { self.locked.withLock { $0.deliveredSinceConnect } },
            serverRetry: { self.locked.withLock { $0.serverRetry } },
            state: { self.state },
            attempt: { _ in await self.connectOnce() })
    }

    private func connectOnce() async -> Outcome {
        let request = makeRequest()
        let loop = self.loop
        let endpoint = self.endpoint
        let tls = configuration.tls ?? (endpoint.secure ? try? ClientTLS() : nil)
        let gate = AttemptGate()
        let finish: @Sendable (Outcome) -> Void = { gate.finish($0) }
        locked.withLock { $0.abort = { finish(.failure(.transport("closed"), nil)) } }
        if locked.withLock({ $0.closed }) { return .failure(.transport("closed"), nil) }
        loop.execute {
            let session = SSESession(transport: self, finish: finish)
            let connection: any ClientStreamConnection = switch self.configuration.httpVersion {
            case .http1:
                HTTP1ClientConnection(loop: loop, endpoint: endpoint, request: request, tls: tls) { event in session.handle(event) }
            case .http2:
                HTTP2ClientStream(
                    session: self.configuration.http2Pool?.session(for: endpoint, tls: tls) ?? HTTP2ClientSession(loop: loop, endpoint: endpoint, tls: tls),
                    ownsSession: self.configuration.http2Pool == nil, method: self.configuration.method, path: endpoint.target,
                    headers: self.requestHeaders(), body: self.configuration.body ?? []) { event in session.handle(event) }
            }
            session.connection = connection
            let paused = self.locked.withLock { s -> Bool in
                s.connection = UnsafeSendable(connection)
                s.deliveredSinceConnect = 0
                return s.paused
            }
            connection.start()
            session.arm(self.configuration.timeouts)
            if paused { connection.pauseReading() }
        }
        return await gate.wait()
    }

    /// The request's own headers (HTTP/2 adds the pseudo-headers itself).
    private func requestHeaders() -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = [("accept", "text/event-stream"), ("cache-control", "no-cache")]
        let id = locked.withLock { $0.lastEventID }
        if !id.isEmpty { out.append(("last-event-id", id)) }
        out += configuration.headers
        if configuration.body != nil && !configuration.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            out.append(("content-type", "application/json"))
        }
        return out
    }

    private func makeRequest() -> [UInt8] {
        var head = "\(configuration.method) \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
        let id = locked.withLock { $0.lastEventID }
        if !id.isEmpty { head += "Last-Event-ID: \(id)\r\n" }
        for (name, value) in configuration.headers { head += "\(name): \(value)\r\n" }
        if let body = configuration.body {
            if !configuration.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                head += "Content-Type: application/json\r\n"
            }
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (configuration.body ?? [])
    }

    /// One connection's parsing, on the loop thread.
    private final class SSESession: ClientAttempt, @unchecked Sendable {
        let transport: SSETransport
        var parser: SSEParser

        init(transport: SSETransport, finish: @escaping @Sendable (Outcome) -> Void) {
            self.transport = transport
            parser = SSEParser(lastEventID: transport.locked.withLock { $0.lastEventID })
            // Delivered counts are kept by `handle` (it knows which outputs are events).
            super.init(loop: transport.loop, delivery: BufferedDelivery(
                buffer: transport.buffer, loop: transport.loop,
                userPaused: { transport.locked.withLock { $0.paused } }, counted: { _ in }), finish: finish)
        recorder = transport.recorder
        }

        override func willEnd() {
            transport.locked.withLock {
                $0.connection = nil
                $0.abort = nil
            }
        }

        func handle(_ event: HTTP1ClientConnection.Event) {
            if ended { return }
            observe(event)
            switch event {
            case .connected:
                break
            case .head(let status, let headers):
                let header = { (name: String) in headers.first { $0.name.lowercased() == name }?.value }
                if status == 204 {
                    end(.failure(.noContent, nil))
                } else if !(200..<300).contains(status) {
                    endWithStatus(status, headers: headers)
                } else if !(header("content-type") ?? "").lowercased().hasPrefix("text/event-stream") {
                    // WHATWG: a wrong content type fails the connection for good.
                    end(.failure(.status(415, retryAfter: nil),
                                 TransportError(message: "not an event stream: \(header("content-type") ?? "no content type")", statusCode: status, recoverable: false, attempt: 0)))
                } else {
                    transport.buffer.insertOutOfBand(.connected)
                }
            case .body(let bytes):
                var out: [TransportEvent] = []
                for output in parser.feed(bytes) {
                    switch output {
                    case .event(let e):
                        if let sentinel = transport.configuration.doneSentinel, e.data == sentinel {
                            transport.locked.withLock { $0.lastEventID = parser.lastEventID }
                            deliver(out)
                            return end(.done)
                        }
                        out.append(.event(e))
                    case .retry(let ms):
                        transport.locked.withLock { $0.serverRetry = .milliseconds(ms) }
                    case .comment:
                        break
                    }
                }
                transport.locked.withLock {
                    $0.lastEventID = parser.lastEventID
                    $0.deliveredSinceConnect += out.count
                }
                deliver(out)
            case .end:
                end(.failure(.ended, nil))
            case .failed(let reason):
                endWithTransportFailure(reason)
            }
        }
    }
}
