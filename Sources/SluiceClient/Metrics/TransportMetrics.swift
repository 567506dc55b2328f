import SluiceCore

/// What a transport is doing, and has done, at one moment.
///
/// ```swift
/// let m = sse.metrics
/// print(m.state, m.messagesReceived, m.reconnectAttempts, m.dropped)
/// ```
public struct TransportMetrics: Sendable, Equatable {
    public enum Kind: String, Sendable { case sse, webSocket = "websocket", httpStream = "http-stream", longPoll = "long-poll" }
    public enum State: String, Sendable { case idle, connecting, connected, reconnecting, closed }

    /// Unique within the process.
    public var id: String
    public var type: Kind
    public var state: State
    /// How long the current connection has been open (zero when none is).
    public var connectionDuration: Duration
    /// Events or messages parsed from the wire (dropped ones included).
    public var messagesReceived: Int
    public var messagesSent: Int
    public var bytesReceived: Int
    public var bytesSent: Int
    /// Errors reported (each failed attempt, status errors included).
    public var errors: Int
    /// Reconnections scheduled so far.
    public var reconnectAttempts: Int
    /// Events waiting in the consumer buffer.
    public var bufferSize: Int
    /// Events the buffer strategy dropped.
    public var dropped: Int
    /// Mean round trip of WebSocket pings (nil until one came back; other transports carry none).
    public var averageLatency: Duration?
}

/// Collects one transport's counters; fed by the transport's buffer (every event passes it) and by
/// its connections (bytes, pings).
final class TransportMetricsRecorder: Sendable {
    private static let nextID = Locked(0)

    let id: String
    let kind: TransportMetrics.Kind
    private let state = Locked(Counters())
    /// Told of every error as it is reported (a ``TransportManager`` listening).
    private let errorListener = Locked<(@Sendable (TransportError) -> Void)?>(nil)

    func onError(_ listener: @escaping @Sendable (TransportError) -> Void) { errorListener.withLock { $0 = listener } }

    private struct Counters {
        var state: TransportMetrics.State = .idle
        var connectedAt: ContinuousClock.Instant?
        var messagesReceived = 0
        var messagesSent = 0
        var bytesReceived = 0
        var bytesSent = 0
        var errors = 0
        var reconnectAttempts = 0
        var latencyTotal: Duration = .zero
        var latencySamples = 0
        var lastActivity = ContinuousClock.now
        var stateSince = ContinuousClock.now
    }

    init(kind: TransportMetrics.Kind) {
        self.kind = kind
        id = "\(kind.rawValue)-\(Self.nextID.withLock { n in n += 1; return n })"
    }

    /// Every event the transport reports, as it enters the buffer.
    func record(_ event: TransportEvent) {
        if case .error(let error) = event, let listener = errorListener.withLock({ $0 }) { listener(error) }
        state.withLock { c in
            let before = c.state
            defer { if c.state != before { c.stateSince = .now } }
            switch event {
            case .connecting:
                c.state = .connecting
                c.connectedAt = nil
            case .connected:
                c.state = .connected
                c.connectedAt = .now
            case .reconnecting:
                c.state = .reconnecting
                c.connectedAt = nil
                c.reconnectAttempts += 1
            case .error:
                c.errors += 1
            case .closed:
                c.state = .closed
                c.connectedAt = nil
            case .event, .message:
                c.messagesReceived += 1
                c.lastActivity = .now
            case .done, .backpressure, .drain, .mode:
                break
            }
        }
    }

    func received(bytes: Int) {
        state.withLock { c in
            c.bytesReceived += bytes
            c.lastActivity = .now
        }
    }

    func sent(bytes: Int) {
        state.withLock { c in
            c.messagesSent += 1
            c.bytesSent += bytes
            c.lastActivity = .now
        }
    }

    var currentState: TransportMetrics.State { state.withLock { $0.state } }

    /// Since when nothing was received or sent, and since when the state is what it is.
    var timing: (lastActivity: ContinuousClock.Instant, stateSince: ContinuousClock.Instant) {
        state.withLock { ($0.lastActivity, $0.stateSince) }
    }

    func roundTrip(_ duration: Duration) {
        state.withLock { c in
            c.latencyTotal += duration
            c.latencySamples += 1
        }
    }

    func snapshot(bufferSize: Int, dropped: Int) -> TransportMetrics {
        state.withLock { c in
            TransportMetrics(
                id: id, type: kind, state: c.state, connectionDuration: c.connectedAt.map { .now - $0 } ?? .zero,
                messagesReceived: c.messagesReceived, messagesSent: c.messagesSent, bytesReceived: c.bytesReceived,
                bytesSent: c.bytesSent, errors: c.errors, reconnectAttempts: c.reconnectAttempts, bufferSize: bufferSize,
                dropped: dropped, averageLatency: c.latencySamples > 0 ? c.latencyTotal / c.latencySamples : nil)
        }
    }
}
