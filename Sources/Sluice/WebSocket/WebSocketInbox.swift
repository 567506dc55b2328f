import DequeModule
import SluiceCore

/// Received messages waiting for the handler: a bounded queue. When it is full the reader holds the
/// message it has and reads no further (``offer(_:)`` says no; ``whenRoom(_:)`` says when to try
/// again), so the peer is held back by TCP or HTTP/2 flow control.
public final class WebSocketInbox: AsyncSequence, @unchecked Sendable {
    public typealias Element = WebSocketMessage

    private let depth: Int
    private let lock = Lock()
    private var messages = Deque<WebSocketMessage>()
    private var finished = false
    private var reader: CheckedContinuation<WebSocketMessage?, Never>?
    /// An offer was refused: `roomHandler` is owed once there is room (or the inbox finished).
    private var offerRefused = false
    private var roomHandler: (@Sendable () -> Void)?

    init(depth: Int) { self.depth = Swift.max(1, depth) }

    /// Who to tell when a refused ``offer(_:)`` may be made again.
    func whenRoom(_ handler: @escaping @Sendable () -> Void) {
        lock.withLock { roomHandler = handler }
    }

    /// Hands a message to the handler, or queues it: true. Once finished, drops it: true. False while
    /// `depth` are waiting: nothing was taken, and the ``whenRoom(_:)`` handler runs once there is room.
    func offer(_ message: WebSocketMessage) -> Bool {
        let (taken, reader) = lock.withLock { () -> (Bool, CheckedContinuation<WebSocketMessage?, Never>?) in
            if finished { return (true, nil) }
            if let reader = self.reader {
                self.reader = nil
                return (true, reader)
            }
            if messages.count < depth {
                messages.append(message)
                return (true, nil)
            }
            offerRefused = true
            return (false, nil)
        }
        reader?.resume(returning: message)
        return taken
    }

    /// No more messages; the handler's loop ends after the queued ones.
    func finish() {
        let (reader, room) = lock.withLock { () -> (CheckedContinuation<WebSocketMessage?, Never>?, (@Sendable () -> Void)?) in
            finished = true
            defer { self.reader = nil; offerRefused = false }
            return (messages.isEmpty ? self.reader : nil, offerRefused ? roomHandler : nil)
        }
        reader?.resume(returning: nil)
        room?()
    }

    /// Waits until the handler has taken every queued message (or `limit` passes).
    func waitUntilTaken(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while lock.withLock({ !messages.isEmpty }) && ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(1)) } catch { return }
        }
    }

    /// The next message, or nil once the connection is closing.
    public func next() async -> WebSocketMessage? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WebSocketMessage?, Never>) in
                let (outcome, room) = lock.withLock { () -> (WebSocketMessage??, (@Sendable () -> Void)?) in
                    if let message = messages.popFirst() {
                        defer { offerRefused = false }
                        return (.some(message), offerRefused ? roomHandler : nil)
                    }
                    if finished || Task.isCancelled { return (.some(nil), nil) }
                    reader = continuation
                    return (nil, nil)
                }
                if let outcome { continuation.resume(returning: outcome) }
                room?()
            }
        } onCancel: {
            let reader = lock.withLock { () -> CheckedContinuation<WebSocketMessage?, Never>? in
                defer { self.reader = nil }
                return self.reader
            }
            reader?.resume(returning: nil)
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let inbox: WebSocketInbox
        public mutating func next() async -> WebSocketMessage? { await inbox.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inbox: self) }
}
