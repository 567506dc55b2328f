import SluiceCore

/// One connection attempt of a transport, on the loop thread: owns the connection and the ordered
/// hand-off of events, and reports how the attempt ended exactly once, after the events it carried.
/// Each transport's session (SSE, WebSocket, HTTP stream) subclasses it with its own parsing.
class ClientAttempt {
    let loop: EventLoop
    let delivery: BufferedDelivery
    private let finish: @Sendable (AttemptOutcome) -> Void
    var connection: (any ClientStreamConnection)? {
        didSet { if let connection { delivery.attach(connection) } }
    }
    /// The transport's counters (bytes received); set by the session.
    var recorder: TransportMetricsRecorder?
    /// Set by the first `end`: later events of the same read (e.g. the response's end right after a
    /// done sentinel) must not replace the outcome.
    private(set) var ended = false

    init(loop: EventLoop, delivery: BufferedDelivery, finish: @escaping @Sendable (AttemptOutcome) -> Void) {
        self.loop = loop
        self.delivery = delivery
        self.finish = finish
    }

    func deliver(_ events: [TransportEvent]) { delivery.deliver(events) }

    // MARK: Connect and stall timeouts

    private var connectTimer: LoopTimer?
    private var stallTimer: LoopTimer?
    private var stallAfter: Duration?

    /// Starts the connect timeout (and, once connected, the stall timeout). Loop thread, after the
    /// connection has started.
    func arm(_ timeouts: ConnectionTimeouts) {
        stallAfter = timeouts.stall
        let timer = LoopTimer(loop: loop)
        connectTimer = timer
        timer.schedule(after: timeouts.connect) { [weak self] in
            self?.endWithTransportFailure("no connection within \(timeouts.connect)")
        }
    }

    /// Every connection event passes here before the session reads it: connecting ends the connect
    /// timeout, and any bytes (heartbeats and pings too) restart the stall timeout.
    func observe(_ event: HTTP1ClientConnection.Event) {
        switch event {
        case .connected:
            connectTimer?.cancel()
            restartStallTimer()
        case .body(let bytes):
            recorder?.received(bytes: bytes.count)
            restartStallTimer()
        case .head:
            restartStallTimer()
        case .end, .failed:
            break
        }
    }

    private func restartStallTimer() {
        guard let stallAfter, !ended else { return }
        if stallTimer == nil { stallTimer = LoopTimer(loop: loop) }
        stallTimer?.schedule(after: stallAfter) { [weak self] in
            guard let self, !self.ended else { return }
            // Not reading on purpose (paused, or a full `.block` buffer) is not a stall.
            if self.delivery.isHoldingReads { return self.restartStallTimer() }
            self.endWithTransportFailure("no bytes for \(stallAfter): the connection is stalled")
        }
    }

    /// Stops reading now; reports `outcome` once every event already parsed is in the buffer.
    func end(_ outcome: AttemptOutcome) {
        guard !ended else { return }
        ended = true
        connectTimer?.cancel()
        stallTimer?.cancel()
        willEnd()
        connection?.pauseReading()
        delivery.afterDelivery { self.finishEnd(outcome) }
    }

    /// A subclass's last word before the connection goes (e.g. stop its timers).
    func willEnd() {}

    private func finishEnd(_ outcome: AttemptOutcome) {
        connection?.close()
        // The connection's callback holds this attempt: break the cycle, but release the connection
        // on the next turn, since this may run inside its own callback.
        let doomed = connection.map(UnsafeSendable.init)
        connection = nil
        loop.execute { _ = doomed }
        finish(outcome)
    }

    /// The usual failure for a non-2xx answer, with `Retry-After` when present.
    func endWithStatus(_ status: Int, headers: [HTTP1Header]) {
        let retryAfter = headers.first { $0.name.lowercased() == "retry-after" }.flatMap { Int($0.value) }.map { Duration.seconds($0) }
        end(.failure(.status(status, retryAfter: retryAfter),
                     TransportError(message: "server answered \(status)", statusCode: status, recoverable: false, attempt: 0)))
    }

    /// The usual failure for a broken transport.
    func endWithTransportFailure(_ reason: String) {
        end(.failure(.transport(reason), TransportError(message: reason, statusCode: nil, recoverable: false, attempt: 0)))
    }
}

/// How long a connection may take to open, and how long it may stay silent once open.
public struct ConnectionTimeouts: Sendable, Equatable {
    /// From the start of an attempt (name resolution, TCP, TLS) to the connection being open.
    /// Default 10 s.
    public var connect: Duration = .seconds(10)
    /// No bytes at all (events, comments, heartbeats, pings) for this long means the connection is
    /// dead, and the transport reconnects. Default nil: a quiet stream is trusted. Set it a little
    /// above the server's heartbeat interval.
    public var stall: Duration?

    public init(connect: Duration = .seconds(10), stall: Duration? = nil) {
        self.connect = connect
        self.stall = stall
    }
}
