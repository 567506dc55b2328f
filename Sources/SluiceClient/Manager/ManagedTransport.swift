import SluiceCore

/// What to create in a ``TransportManager``.
public enum TransportSpec: Sendable {
    case sse(url: String, SSETransportConfiguration = SSETransportConfiguration())
    case webSocket(url: String, WebSocketTransportConfiguration = WebSocketTransportConfiguration())
    case httpStream(url: String, HTTPStreamTransportConfiguration = HTTPStreamTransportConfiguration())
    case longPoll(url: String, LongPollTransportConfiguration = LongPollTransportConfiguration())
}

/// A transport a manager holds: one of the four, behind the operations they share.
public enum ManagedTransport: Sendable {
    case sse(SSETransport)
    case webSocket(WebSocketTransport)
    case httpStream(HTTPStreamTransport)
    case longPoll(LongPollTransport)

    public var id: String { recorder.id }
    public var metrics: TransportMetrics {
        switch self {
        case .sse(let t): t.metrics
        case .webSocket(let t): t.metrics
        case .httpStream(let t): t.metrics
        case .longPoll(let t): t.metrics
        }
    }
    public var events: AsyncStream<TransportEvent> {
        switch self {
        case .sse(let t): t.events
        case .webSocket(let t): t.events
        case .httpStream(let t): t.events
        case .longPoll(let t): t.events
        }
    }
    public func on(_ kind: TransportEventKind, _ handler: @escaping @Sendable (TransportEvent) -> Void) {
        switch self {
        case .sse(let t): t.on(kind, handler)
        case .webSocket(let t): t.on(kind, handler)
        case .httpStream(let t): t.on(kind, handler)
        case .longPoll(let t): t.on(kind, handler)
        }
    }

    public func connect() {
        switch self {
        case .sse(let t): t.connect()
        case .webSocket(let t): t.connect()
        case .httpStream(let t): t.connect()
        case .longPoll(let t): t.connect()
        }
    }
    public func close() {
        switch self {
        case .sse(let t): t.close()
        case .webSocket(let t): t.close()
        case .httpStream(let t): t.close()
        case .longPoll(let t): t.close()
        }
    }

    var recorder: TransportMetricsRecorder {
        switch self {
        case .sse(let t): t.recorder
        case .webSocket(let t): t.recorder
        case .httpStream(let t): t.recorder
        case .longPoll(let t): t.recorder
        }
    }

    init(_ spec: TransportSpec, loop: EventLoop) throws {
        switch spec {
        case .sse(let url, let c): self = .sse(try SSETransport(url: url, configuration: c, loop: loop))
        case .webSocket(let url, let c): self = .webSocket(try WebSocketTransport(url: url, configuration: c, loop: loop))
        case .httpStream(let url, let c): self = .httpStream(try HTTPStreamTransport(url: url, configuration: c, loop: loop))
        case .longPoll(let url, let c): self = .longPoll(try LongPollTransport(url: url, configuration: c, loop: loop))
        }
    }
}
