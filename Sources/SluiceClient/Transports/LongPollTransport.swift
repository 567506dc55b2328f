import SluiceCore

/// Settings of a ``LongPollTransport``, with documented defaults.
public struct LongPollTransportConfiguration: Sendable {
    public var headers: [(name: String, value: String)] = []
    public var reconnect = ReconnectPolicy()
    public var maxBufferSize = 1000
    /// Default `.block`: the next poll waits until the consumer has taken the last page's events.
    public var strategy: BufferStrategy = .block
    public var highWaterMark: Int?
    /// How long the server may hold a poll open (`timeout_ms`). Default 25 s.
    public var pollTimeout: Duration = .seconds(25)
    /// Pause between polls (`longPollingInterval`); default none.
    public var interval: Duration = .zero
    /// The cursor to start after (an event id); default: the oldest the server holds.
    public var cursor: String?
    /// Largest poll answer accepted. Default 16 MiB.
    public var maxAnswerBytes = 16 << 20
    public var tls: ClientTLS?

    public init() {}
}

/// A long-polling client for the protocol of ``LongPollPage`` (Sluice channels'
/// `GET …/poll?cursor=ID&timeout_ms=T`): asks again and again with the cursor of the last answer, so
/// events arrive in order with nothing lost or repeated across failures, which are retried with the
/// reconnection policy. Events arrive as `.event` (type, data, id); a gap the server reports (events
/// already gone from its ring) is an `.error` that names the oldest id still held.
///
/// ```swift
/// let poll = try LongPollTransport(url: "http://127.0.0.1:8080/channels/news/poll", loop: loop)
/// poll.connect()
/// for await event in poll.events { if case .event(let e) = event { print(e.lastEventID, e.data) } }
/// ```
public final class LongPollTransport: Sendable {
    public let endpoint: ClientEndpoint
    public let configuration: LongPollTransportConfiguration
    private let loop: EventLoop
    private let buffer: MessageBuffer<TransportEvent>
    let recorder = TransportMetricsRecorder(kind: .longPoll)
    let handlers = TransportEventHandlers()
    private let locked = Locked(State())

    struct State {
        var cursor = ""
        var closed = false
        var task: Task<Void, Never>?
        var deliveredSinceConnect = 0
        var serverRetry: Duration?
    }

    public enum SetupError: Error { case badURL(String) }

    public init(url: String, configuration: LongPollTransportConfiguration = LongPollTransportConfiguration(), loop: EventLoop) throws {
        guard let endpoint = ClientEndpoint(url: url) else { throw SetupError.badURL(url) }
        self.endpoint = endpoint
        self.configuration = configuration
        self.loop = loop
        buffer = .forTransport(maxSize: configuration.maxBufferSize, strategy: configuration.strategy,
                               highWaterMark: configuration.highWaterMark, metrics: recorder, handlers: handlers)
        locked.withLock { $0.cursor = configuration.cursor ?? "" }
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

    /// The id the next poll asks after.
    public var cursor: String { locked.withLock { $0.cursor } }

    public var droppedCount: Int { buffer.droppedCount }

    /// Events waiting in the buffer for the consumer.
    public var bufferedCount: Int { buffer.count }

    public func connect() {
        locked.withLock { s in
            guard s.task == nil, !s.closed else { return }
            s.task = Task { await self.run() }
        }
    }

    /// Stops for good: the poll in flight is abandoned, `.closed` follows.
    public func close() {
        let task = locked.withLock { s -> Task<Void, Never>? in
            s.closed = true
            return s.task
        }
        task?.cancel()
    }

    private func run() async {
        await ReconnectLoop.run(
            policy: configuration.reconnect, buffer: buffer,
            isClosed: { self.locked.withLock { $0.closed } || Task.isCancelled },
            deliveredLastAttempt: { self.locked.withLock { $0.deliveredSinceConnect } },
            serverRetry: { nil },
            state: { self.state },
            attempt: { _ in await self.pollUntilFailure() })
    }

    /// Polls while polls succeed; one "connection" of the reconnection loop.
    private func pollUntilFailure() async -> AttemptOutcome {
        locked.withLock { $0.deliveredSinceConnect = 0 }
        let timeoutMs = Int(configuration.pollTimeout.components.seconds * 1000
                            + configuration.pollTimeout.components.attoseconds / 1_000_000_000_000_000)
        var first = true
        while !Task.isCancelled && !locked.withLock({ $0.closed }) {
            let cursor = locked.withLock { $0.cursor }
            let separator = endpoint.target.contains("?") ? "&" : "?"
            let target = endpoint.target + separator + LongPollPage.query(cursor: cursor, timeoutMs: timeoutMs)
            let tls = configuration.tls ?? (endpoint.secure ? try? ClientTLS() : nil)
            let answer = await HTTP1Fetch.get(loop: loop, endpoint: endpoint, target: target, headers: configuration.headers,
                                              tls: tls, maxBody: configuration.maxAnswerBytes)
            if Task.isCancelled { return .failure(.transport("closed"), nil) }
            let fetched: HTTP1Fetch.Answer
            switch answer {
            case .failure(let error):
                return .failure(.transport(error.message),
                                TransportError(message: "poll failed: \(error.message)", statusCode: nil, recoverable: false, attempt: 0))
            case .success(let a): fetched = a
            }
            recorder.received(bytes: fetched.body.count)
            guard fetched.status == 200 else {
                let retryAfter = fetched.headers.first { $0.name.lowercased() == "retry-after" }.flatMap { Int($0.value) }.map { Duration.seconds($0) }
                return .failure(.status(fetched.status, retryAfter: retryAfter),
                                TransportError(message: "server answered \(fetched.status)", statusCode: fetched.status, recoverable: false, attempt: 0))
            }
            let page: LongPollPage
            do { page = try LongPollPage.decode(fetched.body) } catch {
                return .failure(.transport("bad poll answer"),
                                TransportError(message: "poll answer is not a long-poll page", statusCode: 200, recoverable: false, attempt: 0))
            }
            if first {
                buffer.insertOutOfBand(.connected)
                first = false
            }
            if page.gap {
                buffer.insertOutOfBand(.error(TransportError(
                    message: "events after \(cursor.isEmpty ? "the start" : cursor) were lost; the oldest held is \(page.oldest ?? "none")",
                    statusCode: nil, recoverable: true, attempt: 0)))
            }
            for event in page.events {
                await buffer.put(.event(SSEParsedEvent(type: event.event ?? "message", data: event.data, lastEventID: event.id)))
            }
            locked.withLock { s in
                s.cursor = page.nextCursor
                s.deliveredSinceConnect += page.events.count
            }
            if configuration.interval > .zero {
                do { try await Task.sleep(for: configuration.interval) } catch { return .failure(.transport("closed"), nil) }
            }
        }
        return .failure(.transport("closed"), nil)
    }
}
