import DequeModule
import SluiceCore

/// Received messages waiting for the handler: a bounded queue whose `put` suspends when the handler
/// is behind, so the session stops reading and the peer is held back by TCP or HTTP/2 flow control.
public final class WebSocketInbox: AsyncSequence, @unchecked Sendable {
    public typealias Element = WebSocketMessage

    private let depth: Int
    private let lock = Lock()
    private var messages = Deque<WebSocketMessage>()
    private var finished = false
    private var reader: CheckedContinuation<WebSocketMessage?, Never>?
    private var writers = Deque<CheckedContinuation<Void, Never>>()

    init(depth: Int) { self.depth = Swift.max(1, depth) }

    /// Queues a message, waiting while `depth` are already waiting.
    func put(_ message: WebSocketMessage) async {
        while true {
            let outcome = lock.withLock { () -> (done: Bool, reader: CheckedContinuation<WebSocketMessage?, Never>?) in
                if finished { return (true, nil) }
                if let reader = self.reader {
                    self.reader = nil
                    return (true, reader)
                }
                if messages.count < depth {
                    messages.append(message)
                    return (true, nil)
                }
                return (false, nil)
            }
            if let reader = outcome.reader { reader.resume(returning: message) }
            if outcome.done { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = lock.withLock { () -> Bool in
                    if finished || messages.count < depth { return false }
                    writers.append(continuation)
                    return true
                }
                if !wait { continuation.resume() }
            }
        }
    }

    /// No more messages; the handler's loop ends after the queued ones.
    func finish() {
        let (reader, writers) = lock.withLock { () -> (CheckedContinuation<WebSocketMessage?, Never>?, Deque<CheckedContinuation<Void, Never>>) in
            finished = true
            defer { self.reader = nil; self.writers = [] }
            return (messages.isEmpty ? self.reader : nil, self.writers)
        }
        reader?.resume(returning: nil)
        for writer in writers { writer.resume() }
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
                let (outcome, writer) = lock.withLock { () -> (WebSocketMessage??, CheckedContinuation<Void, Never>?) in
                    if let message = messages.popFirst() { return (.some(message), writers.popFirst()) }
                    if finished || Task.isCancelled { return (.some(nil), nil) }
                    reader = continuation
                    return (nil, nil)
                }
                writer?.resume()
                if let outcome { continuation.resume(returning: outcome) }
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
