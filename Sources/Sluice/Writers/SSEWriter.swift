import HTTPTypes
import SluiceCore

/// Sends Server-Sent Events to one client.
///
/// `send` returns without suspending while the connection keeps up, and suspends while more than
/// the high-water mark of bytes is waiting for the client; it throws once the client has gone.
///
/// ```swift
/// router.sse("/ticks") { request, events in
///     var n = Int(request.lastEventID ?? "") ?? 0
///     while true {
///         n += 1
///         try await events.send(SSEEvent(data: "tick \(n)", id: String(n)))
///         try await Task.sleep(for: .seconds(1))
///     }
/// }
/// ```
public final class SSEWriter: Sendable {
    let sink: ResponseSink
    private let lastWrite = Locked(ContinuousClock.now)

    init(sink: ResponseSink) { self.sink = sink }

    /// The head an SSE response carries.
    static let head = HTTPResponse(status: .ok, headerFields: [
        .contentType: "text/event-stream",
        .cacheControl: "no-cache",
        HTTPField.Name("X-Accel-Buffering")!: "no",
    ])

    /// Sends the response head now, so the client's `open` fires before the first event. Sending an
    /// event or comment does this too.
    public func open() throws { try sink.sendHead(Self.head) }

    public func send(_ event: SSEEvent) async throws {
        try await write(SSEEncoder.encode(event))
    }

    /// Sends `data` as one event.
    public func send(data: String, event: String? = nil, id: String? = nil) async throws {
        try await send(SSEEvent(data: data, event: event, id: id))
    }

    /// Sends a comment, which clients ignore; useful as a heartbeat.
    public func comment(_ text: String) async throws {
        try await write(SSEEncoder.comment(text))
    }

    /// Bytes waiting to reach this client (for tests and metrics).
    public var pendingBytes: Int { sink.pendingBytes }
    public var statistics: OutboundQueue.Statistics { sink.statistics }

    /// Runs `body` while sending a comment whenever the stream has been quiet for `interval`, so
    /// proxies and idle timers keep it open. A busy stream carries no heartbeat at all.
    public func withHeartbeat(every interval: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    let due = self.lastWrite.withLock { $0 } + interval
                    if ContinuousClock.now >= due {
                        try await self.comment("heartbeat")
                    } else {
                        try await Task.sleep(until: due, clock: .continuous)
                    }
                }
            }
            // The body ended or a send failed: stop the heartbeat either way.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Writes bytes already in SSE form (events encoded once for many readers).
    func write(encoded bytes: [UInt8]) async throws {
        try await write(bytes)
    }

    private func write(_ bytes: [UInt8]) async throws {
        if !sink.headSent { try open() }
        lastWrite.withLock { $0 = .now }
        try await sink.write(bytes)
    }
}
