import SluiceCore

/// Settings of an ``HTTPStreamTransport``, with documented defaults.
public struct HTTPStreamTransportConfiguration: Sendable {
    public enum Framing: Sendable, Equatable {
        /// Every chunk as it arrives.
        case chunks
        /// One record per line (NDJSON and the like); a final line without LF is delivered at the end.
        case lines
    }

    public var framing: Framing = .lines
    public var headers: [(name: String, value: String)] = []
    public var reconnect = ReconnectPolicy()
    /// Connect timeout (default 10 s) and stall timeout (default none).
    public var timeouts = ConnectionTimeouts()
    public var maxBufferSize = 1000
    public var strategy: BufferStrategy = .block
    public var highWaterMark: Int?
    /// Longest line accepted with `.lines`; a longer one is an error. Default 1 MiB.
    public var maxLineLength = 1 << 20
    public var tls: ClientTLS?
    /// Reads the id a record carries (`.lines`); the last one is sent as `Last-Event-ID` when
    /// reconnecting, so a server that replays by id (Sluice channels' NDJSON) resumes without loss or
    /// repeats. ``WebSocketTransportConfiguration/jsonIDField`` reads `{"id":"…"}` records.
    public var resumeID: (@Sendable (WebSocketMessage) -> String?)?
    /// The id to resume after on the first connection (sent as `Last-Event-ID`).
    public var lastEventID: String?
    /// Switch to long polling when streaming does not work (`longPolling`); nil never switches.
    public var longPolling: LongPollFallback?

    public init() {}
}

/// When and how an ``HTTPStreamTransport`` falls back to long polling: no first body byte within
/// `firstByteTimeout` (a buffering proxy holds the stream), or the stream failing before its first
/// byte. The transport then reports `.mode(.longPolling)` and polls `url` (the ``LongPollPage``
/// protocol) from the last id it had; records then arrive as `.event` with id, type and data.
public struct LongPollFallback: Sendable {
    /// The poll URL of the same stream, e.g. `http://host/channels/news/poll`.
    public var url: String
    /// Default 5 s.
    public var firstByteTimeout: Duration = .seconds(5)
    /// Pause between polls (`longPollingInterval`). Default none.
    public var interval: Duration = .zero
    /// How long the server may hold a poll. Default 25 s.
    public var pollTimeout: Duration = .seconds(25)

    public init(url: String, firstByteTimeout: Duration = .seconds(5)) {
        self.url = url
        self.firstByteTimeout = firstByteTimeout
    }
}

/// Consumes a streamed HTTP response body (chunked or close-delimited) as raw chunks or as
/// newline-delimited records, with reconnection and the same buffering as the other transports.
/// Records arrive as `.message(.binary(bytes))` for chunks and `.message(.text(line))` for lines.
///
/// ```swift
/// let stream = try HTTPStreamTransport(url: "http://127.0.0.1:8080/ndjson?count=3", loop: loop)
/// stream.connect()
/// for await event in stream.events { if case .message(.text(let line)) = event { print(line) } }
/// ```
public final class HTTPStreamTransport: Sendable {
    public let endpoint: ClientEndpoint
    public let configuration: HTTPStreamTransportConfiguration
    let loop: EventLoop
    let buffer: MessageBuffer<TransportEvent>
    let recorder = TransportMetricsRecorder(kind: .httpStream)
    let handlers = TransportEventHandlers()
    let locked = Locked(State())

    struct State {
        var closed = false
        var task: Task<Void, Never>?
        var connection: UnsafeSendable<any ClientStreamConnection>?
        var abort: (@Sendable () -> Void)?
        var delivered = 0
        var paused = false
        var lastEventID = ""
        var mode: TransportMode = .streaming
        /// The attempt ended in a way that calls for long polling.
        var fallBack = false
        var poller: LongPollTransport?
    }

    public enum SetupError: Error { case badURL(String) }

    public init(url: String, configuration: HTTPStreamTransportConfiguration = HTTPStreamTransportConfiguration(), loop: EventLoop) throws {
        guard let endpoint = ClientEndpoint(url: url) else { throw SetupError.badURL(url) }
        self.endpoint = endpoint
        self.configuration = configuration
        self.loop = loop
        buffer = .forTransport(maxSize: configuration.maxBufferSize, strategy: configuration.strategy,
                               highWaterMark: configuration.highWaterMark, metrics: recorder, handlers: handlers)
        locked.withLock { $0.lastEventID = configuration.lastEventID ?? "" }
    }

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

    public var droppedCount: Int { buffer.droppedCount }

    /// Events waiting in the buffer for the consumer.
    public var bufferedCount: Int { buffer.count }

    public func connect() {
        locked.withLock { s in
            guard s.task == nil, !s.closed else { return }
            s.task = Task {
                await ReconnectLoop.run(
                    policy: self.configuration.reconnect, buffer: self.buffer,
                    isClosed: { self.locked.withLock { $0.closed } },
                    deliveredLastAttempt: { self.locked.withLock { $0.delivered } },
                    serverRetry: { nil },
                    state: { self.state },
            attempt: { _ in await self.connectOnce() })
            }
        }
    }

    /// How the transport receives now.
    public var mode: TransportMode { locked.withLock { $0.mode } }

    public func close() {
        let (connection, abort, poller) = locked.withLock { s in
            s.closed = true
            return (s.connection, s.abort, s.poller)
        }
        poller?.close()
        loop.execute {
            connection?.value.close()
            abort?()
        }
    }

    public func pause() { setPaused(true) }
    public func resume() { setPaused(false) }

    private func setPaused(_ paused: Bool) {
        let connection = locked.withLock { s -> UnsafeSendable<any ClientStreamConnection>? in
            s.paused = paused
            return s.connection
        }
        loop.execute { paused ? connection?.value.pauseReading() : connection?.value.resumeReading() }
    }

    private func connectOnce() async -> AttemptOutcome {
        if let fallback = configuration.longPolling, locked.withLock({ $0.mode == .longPolling }) {
            return await poll(fallback)
        }
        let outcome = await stream()
        guard let fallback = configuration.longPolling, locked.withLock({ s in s.fallBack && !s.closed }) else { return outcome }
        locked.withLock { $0.mode = .longPolling }
        buffer.insertOutOfBand(.mode(.longPolling))
        return await poll(fallback)
    }

    /// Long polls until the poller gives up or the transport is closed; its events become ours.
    private func poll(_ fallback: LongPollFallback) async -> AttemptOutcome {
        var configuration = LongPollTransportConfiguration()
        configuration.headers = self.configuration.headers
        configuration.reconnect = self.configuration.reconnect
        configuration.maxBufferSize = 64
        configuration.pollTimeout = fallback.pollTimeout
        configuration.interval = fallback.interval
        configuration.tls = self.configuration.tls
        let cursor = locked.withLock { $0.lastEventID }
        configuration.cursor = cursor.isEmpty ? nil : cursor
        guard let poller = try? LongPollTransport(url: fallback.url, configuration: configuration, loop: loop) else {
            return .failure(.transport("bad long-poll URL"), TransportError(
                message: "cannot long-poll \(fallback.url)", statusCode: nil, recoverable: false, attempt: 0))
        }
        let closed = locked.withLock { s -> Bool in
            s.poller = poller
            return s.closed
        }
        if closed { return .failure(.transport("closed"), nil) }
        poller.connect()
        for await event in poller.events {
            switch event {
            case .event(let e):
                locked.withLock { s in
                    s.lastEventID = e.lastEventID
                    s.delivered += 1
                }
                await buffer.put(event)
            case .connecting, .closed:
                break  // our own loop reports these
            default:
                buffer.insertOutOfBand(event)
            }
        }
        locked.withLock { $0.poller = nil }
        if locked.withLock({ $0.closed }) { return .failure(.transport("closed"), nil) }
        return .failure(.transport("long polling gave up"), TransportError(
            message: "long polling gave up", statusCode: nil, recoverable: false, attempt: 0))
    }

    private func stream() async -> AttemptOutcome {
        var head = "GET \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\n"
        for (name, value) in configuration.headers { head += "\(name): \(value)\r\n" }
        let lastEventID = locked.withLock { $0.lastEventID }
        if !lastEventID.isEmpty { head += "Last-Event-ID: \(lastEventID)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8)
        let tls = configuration.tls ?? (endpoint.secure ? try? ClientTLS() : nil)
        let gate = AttemptGate()
        let finish: @Sendable (AttemptOutcome) -> Void = { gate.finish($0) }
        locked.withLock { $0.abort = { finish(.failure(.transport("closed"), nil)) } }
        if locked.withLock({ $0.closed }) { return .failure(.transport("closed"), nil) }
        let loop = self.loop
        let endpoint = self.endpoint
        loop.execute {
            let session = StreamSession(transport: self, finish: finish)
            let connection = HTTP1ClientConnection(loop: loop, endpoint: endpoint, request: request, tls: tls) { event in
                session.handle(event)
            }
            session.connection = connection
            let paused = self.locked.withLock { s -> Bool in
                s.connection = UnsafeSendable(connection)
                s.delivered = 0
                s.fallBack = false
                return s.paused
            }
            connection.start()
            session.arm(self.configuration.timeouts)
            if paused { connection.pauseReading() }
            if let fallback = self.configuration.longPolling { session.awaitFirstByte(within: fallback.firstByteTimeout) }
        }
        let outcome = await gate.wait()
        locked.withLock {
            $0.connection = nil
            $0.abort = nil
        }
        return outcome
    }

    /// One response's body, on the loop thread.
    private final class StreamSession: ClientAttempt, @unchecked Sendable {
        let transport: HTTPStreamTransport
        var line: [UInt8] = []

        init(transport: HTTPStreamTransport, finish: @escaping @Sendable (AttemptOutcome) -> Void) {
            self.transport = transport
            super.init(loop: transport.loop, delivery: BufferedDelivery(
                buffer: transport.buffer, loop: transport.loop,
                userPaused: { transport.locked.withLock { $0.paused } },
                counted: { n in transport.locked.withLock { $0.delivered += n } }), finish: finish)
        recorder = transport.recorder
        }

        /// `longPolling`: no body byte in time means a buffering middlebox; give up on streaming.
        private var firstByteTimer: LoopTimer?
        private var sawBody = false

        func awaitFirstByte(within timeout: Duration) {
            let timer = LoopTimer(loop: loop)
            firstByteTimer = timer
            timer.schedule(after: timeout) { [weak self] in
                guard let self, !self.sawBody, !self.ended else { return }
                self.transport.locked.withLock { $0.fallBack = true }
                self.endWithTransportFailure("no first byte within \(timeout)")
            }
        }

        override func willEnd() {
            firstByteTimer?.cancel()
            firstByteTimer = nil
        }

        func handle(_ event: HTTP1ClientConnection.Event) {
            if ended { return }
            observe(event)
            if case .body = event {
                sawBody = true
                firstByteTimer?.cancel()
            }
            if case .failed = event, !sawBody, transport.configuration.longPolling != nil {
                transport.locked.withLock { $0.fallBack = true }  // streaming fails here: try polling
            }
            switch event {
            case .connected:
                break
            case .head(let status, let headers):
                if (200..<300).contains(status) {
                    transport.buffer.insertOutOfBand(.connected)
                } else {
                    endWithStatus(status, headers: headers)
                }
            case .body(let bytes):
                guard transport.configuration.framing == .lines else { return deliver([.message(.binary(bytes))]) }
                var records: [TransportEvent] = []
                for byte in bytes {
                    if byte == 0x0A {
                        if line.last == 0x0D { line.removeLast() }
                        records.append(.message(.text(String(decoding: line, as: UTF8.self))))
                        line.removeAll(keepingCapacity: true)
                    } else {
                        line.append(byte)
                        if line.count > transport.configuration.maxLineLength {
                            deliver(records)
                            return endWithTransportFailure("a line over \(transport.configuration.maxLineLength) bytes")
                        }
                    }
                }
                remember(records)
                deliver(records)
            case .end:
                if !line.isEmpty {
                    let last: [TransportEvent] = [.message(.text(String(decoding: line, as: UTF8.self)))]
                    remember(last)
                    deliver(last)
                }
                end(.failure(.ended, nil))
            case .failed(let reason):
                endWithTransportFailure(reason)
            }
        }

        /// Keeps the last record id for resuming.
        private func remember(_ records: [TransportEvent]) {
            guard let resumeID = transport.configuration.resumeID else { return }
            for case .message(let message) in records.reversed() {
                if let id = resumeID(message) {
                    transport.locked.withLock { $0.lastEventID = id }
                    return
                }
            }
        }
    }
}
