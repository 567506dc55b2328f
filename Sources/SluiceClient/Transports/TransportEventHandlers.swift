import SluiceCore

/// The kinds of ``TransportEvent`` a handler can register for with `on(_:_:)`.
public enum TransportEventKind: Sendable, Hashable, CaseIterable {
    case connecting, connected, reconnecting, event, message, done, error, backpressure, drain, closed, mode
    /// Every event.
    case any

    init(_ event: TransportEvent) {
        self = switch event {
        case .connecting: .connecting
        case .connected: .connected
        case .reconnecting: .reconnecting
        case .event: .event
        case .message: .message
        case .done: .done
        case .error: .error
        case .backpressure: .backpressure
        case .drain: .drain
        case .closed: .closed
        case .mode: .mode
        }
    }
}

/// Handlers registered with a transport's `on(_:_:)`. They are called as events are produced, on the
/// producing thread (often the event loop: keep them short), in order, independently of the `events`
/// sequence and of its buffer (a handler also sees events the buffer strategy drops).
final class TransportEventHandlers: Sendable {
    private let handlers = Locked<[(kind: TransportEventKind, handler: @Sendable (TransportEvent) -> Void)]>([])

    func add(_ kind: TransportEventKind, _ handler: @escaping @Sendable (TransportEvent) -> Void) {
        handlers.withLock { $0.append((kind, handler)) }
    }

    func dispatch(_ event: TransportEvent) {
        let kind = TransportEventKind(event)
        let matching = handlers.withLock { all in all.filter { $0.kind == .any || $0.kind == kind }.map(\.handler) }
        for handler in matching { handler(event) }
    }
}
