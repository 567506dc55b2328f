import Foundation
import SluiceCore

/// What a transport reports, in order, through its `events` sequence.
public enum TransportEvent: Sendable, Equatable {
    case connecting
    case connected
    case reconnecting(attempt: Int, delay: Duration)
    /// One Server-Sent Event.
    case event(SSEParsedEvent)
    /// One WebSocket message.
    case message(WebSocketMessage)
    /// The stream reached its done sentinel (e.g. `[DONE]`); no reconnection follows.
    case done
    case error(TransportError)
    /// The consumer's buffer reached its high-water mark.
    case backpressure
    /// The buffer fell back to half the high-water mark.
    case drain
    /// The transport will report nothing more.
    case closed
    /// The transport changed how it receives (an HTTP stream falling back to long polling).
    case mode(TransportMode)
}

/// How a transport receives: one streamed response, or repeated long polls.
public enum TransportMode: String, Sendable, Equatable {
    case streaming
    case longPolling = "long-polling"
}

/// A failure, with whether the transport will try again.
public struct TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// The HTTP status, when the server answered with one.
    public var statusCode: Int?
    /// True when a reconnection follows.
    public var recoverable: Bool
    /// The reconnection attempt this happened on (0 for the first connection).
    public var attempt: Int
    /// When it happened (not part of equality).
    public var timestamp = Date()
    /// Where the transport was when it happened (connecting, connected…; not part of equality).
    public var state: TransportMetrics.State?

    init(message: String, statusCode: Int?, recoverable: Bool, attempt: Int) {
        self.message = message
        self.statusCode = statusCode
        self.recoverable = recoverable
        self.attempt = attempt
    }

    public static func == (a: TransportError, b: TransportError) -> Bool {
        a.message == b.message && a.statusCode == b.statusCode && a.recoverable == b.recoverable && a.attempt == b.attempt
    }

    public var description: String {
        "\(message)\(statusCode.map { " (status \($0))" } ?? "")\(recoverable ? ", retrying" : "")"
    }
}
