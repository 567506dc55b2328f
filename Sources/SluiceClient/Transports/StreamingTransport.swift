/// What every transport offers — SSE, WebSocket, HTTP stream and long poll — so code that only
/// connects, reads events, watches metrics and closes can take any of them.
///
/// ```swift
/// func follow(_ transport: any StreamingTransport) async {
///     transport.connect()
///     for await event in transport.events { print(event) }
///     print(transport.metrics.messagesReceived)
/// }
/// ```
public protocol StreamingTransport: AnyObject, Sendable {
    /// Lifecycle and data events, in order; finishes after `.closed`.
    var events: AsyncStream<TransportEvent> { get }
    /// Calls `handler` for every event of `kind` as it is produced (see ``TransportEventKind``); the
    /// `events` sequence is unaffected. Register before `connect()` to see every event.
    func on(_ kind: TransportEventKind, _ handler: @escaping @Sendable (TransportEvent) -> Void)
    /// Where the transport is in its life (`.connected` while a connection is open).
    var state: TransportMetrics.State { get }
    /// Counters and state right now (``TransportMetrics``).
    var metrics: TransportMetrics { get }
    /// Events the buffer strategy has discarded so far.
    var droppedCount: Int { get }
    /// Events waiting in the buffer for the consumer (a consumer that batches its own output can
    /// flush when none is left).
    var bufferedCount: Int { get }
    /// Starts connecting (and reconnecting, as the policy allows); a second call does nothing.
    func connect()
    /// Stops for good; `.closed` follows.
    func close()
}

extension StreamingTransport {
    public var isConnected: Bool { state == .connected }
}

/// A transport whose metrics recorder the manager reads directly (its id, its health).
protocol RecordedTransport: StreamingTransport {
    var recorder: TransportMetricsRecorder { get }
}

extension SSETransport: RecordedTransport {}
extension WebSocketTransport: RecordedTransport {
    /// Closes with a normal close frame (1000); ``close(code:reason:)`` picks the code and reason.
    public func close() { close(code: .normal, reason: "") }
}
extension HTTPStreamTransport: RecordedTransport {}
extension LongPollTransport: RecordedTransport {}

/// The settings every transport's configuration has, for code that sets them the same way whatever
/// the transport (headers, reconnection, buffering, TLS).
public protocol TransportConfiguration: Sendable {
    var headers: [(name: String, value: String)] { get set }
    var reconnect: ReconnectPolicy { get set }
    var maxBufferSize: Int { get set }
    var strategy: BufferStrategy { get set }
    var highWaterMark: Int? { get set }
    var tls: ClientTLS? { get set }
}

extension SSETransportConfiguration: TransportConfiguration {}
extension WebSocketTransportConfiguration: TransportConfiguration {}
extension HTTPStreamTransportConfiguration: TransportConfiguration {}
extension LongPollTransportConfiguration: TransportConfiguration {}
