extension MessageBuffer where Element == TransportEvent {
    /// A transport's consumer buffer, whose backpressure and drain signals join the events out of band
    /// (never lost, never blocking).
    static func forTransport(
        maxSize: Int, strategy: BufferStrategy, highWaterMark: Int?, metrics: TransportMetricsRecorder, handlers: TransportEventHandlers
    ) -> MessageBuffer<TransportEvent> {
        let forward = WeakBuffer<TransportEvent>()
        let observer: @Sendable (TransportEvent) -> Void = { event in
            metrics.record(event)
            handlers.dispatch(event)
        }
        let buffer = MessageBuffer(maxSize: maxSize, strategy: strategy, highWaterMark: highWaterMark, observer: observer) { signal in
            forward.buffer?.insertOutOfBand(signal == .backpressure ? .backpressure : .drain)
        }
        forward.buffer = buffer
        return buffer
    }

    /// The buffer as the sequence a transport's `events` hands out.
    var stream: AsyncStream<TransportEvent> { AsyncStream { await self.take() } }
}

/// A weak reference to a transport's buffer, for the buffer's own signal callback: a strong one
/// would make the buffer keep itself alive.
final class WeakBuffer<Element: Sendable>: @unchecked Sendable {
    weak var buffer: MessageBuffer<Element>?
}
