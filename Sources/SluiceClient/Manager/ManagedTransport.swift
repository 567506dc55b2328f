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

    public var id: String { base.recorder.id }
    public var metrics: TransportMetrics { base.metrics }
    public var events: AsyncStream<TransportEvent> { base.events }
    public func on(_ kind: TransportEventKind, _ handler: @escaping @Sendable (TransportEvent) -> Void) { base.on(kind, handler) }
    public func connect() { base.connect() }
    public func close() { base.close() }
    /// The transport itself, whichever kind it is.
    public var transport: any StreamingTransport { base }

    var recorder: TransportMetricsRecorder { base.recorder }

    private var base: any RecordedTransport {
        switch self {
        case .sse(let t): t
        case .webSocket(let t): t
        case .httpStream(let t): t
        case .longPoll(let t): t
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
