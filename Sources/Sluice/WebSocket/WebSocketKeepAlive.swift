import SluiceCore

/// Pings a WebSocket peer after ``WebSocketOptions/pingInterval`` of silence, and ends the
/// connection when the pong does not come within ``WebSocketOptions/pongTimeout`` (the socket may
/// be half-open).
///
/// A timer on the connection's loop, not a task: a task asleep between pings was ~3.4 KB of every idle
/// connection's memory. The timer checks every quarter interval (so a ping follows 1 to 1.25 intervals
/// of silence) with fixed delays, which share the loop's common-timeout queues.
///
/// ```swift
/// let keepAlive = WebSocketKeepAlive(ws, reader: reader, interval: .seconds(30), loop: loop)
/// keepAlive.start()
/// defer { keepAlive.stop() }
/// ```
final class WebSocketKeepAlive: @unchecked Sendable {
    private let ws: WebSocket
    private let reader: WebSocketReader
    private let interval: Duration
    private let loop: EventLoop
    // Loop thread only.
    private var timer: LoopTimer?

    init(_ ws: WebSocket, reader: WebSocketReader, interval: Duration, loop: EventLoop) {
        self.ws = ws
        self.reader = reader
        self.interval = interval
        self.loop = loop
    }

    /// From any thread.
    func start() {
        loop.execute { [self] in
            timer = LoopTimer(loop: loop)
            arm(interval / 4)
        }
    }

    /// From any thread. The timer goes on the loop, where it was made.
    func stop() {
        loop.execute { [self] in
            timer?.cancel()
            timer = nil
        }
    }

    private func arm(_ delay: Duration) {
        // The action holds this object until it fires or `stop` cancels it.
        timer?.schedule(after: delay) { [self] in check() }
    }

    private func check() {
        let now = ContinuousClock.now
        let (heard, outstanding) = ws.state.withLock { ($0.lastHeard, $0.pingOutstanding) }
        let pongTimeout = ws.options.pongTimeout
        if let outstanding {
            if now - outstanding >= pongTimeout { return reader.end() }
            arm(pongTimeout / 4)
        } else if now - heard >= interval {
            ws.state.withLock { $0.pingOutstanding = now }
            reader.requestPing()
            arm(pongTimeout)
        } else {
            arm(interval / 4)
        }
    }
}
