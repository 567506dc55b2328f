import DequeModule
import SluiceCore

/// What to do when a consumer falls behind and the buffer is full.
public enum BufferStrategy: Sendable, Equatable {
    /// Drop the oldest buffered message to make room (latest data wins).
    case dropOldest
    /// Drop the incoming message (what is buffered wins).
    case dropNewest
    /// Stop taking messages until there is room: the transport stops reading its socket, so TCP or
    /// HTTP/2 flow control holds the server back. Nothing is lost.
    case block
    /// Never drop, never block (memory grows with the backlog; for tests and trusted peers).
    case unlimited
}

/// A consumer-facing message buffer with a bound, a strategy for when it is full, and high-water
/// signals: `backpressure` when the backlog reaches `highWaterMark`, `drain` when it falls back to
/// half of it.
///
/// ```swift
/// let buffer = MessageBuffer<String>(maxSize: 100, strategy: .dropOldest, highWaterMark: 80)
/// await buffer.put("event")          // suspends only with .block and a full buffer
/// let next = await buffer.take()
/// ```
public final class MessageBuffer<Element: Sendable>: @unchecked Sendable {
    public enum Signal: Sendable, Equatable { case backpressure, drain }

    public let maxSize: Int
    public let strategy: BufferStrategy
    public let highWaterMark: Int
    private let onSignal: @Sendable (Signal) -> Void
    private let lock = Lock()
    // Guarded by `lock`.
    private var items = Deque<Element>()
    private var dropped = 0
    private var above = false
    private var finished = false
    private var reader: CheckedContinuation<Element?, Never>?
    private var writers = Deque<CheckedContinuation<Void, Never>>()

    public init(maxSize: Int, strategy: BufferStrategy, highWaterMark: Int? = nil, onSignal: @escaping @Sendable (Signal) -> Void = { _ in }) {
        precondition(maxSize > 0, "maxSize must be positive")
        self.maxSize = maxSize
        self.strategy = strategy
        self.highWaterMark = min(highWaterMark ?? maxSize, maxSize)
        self.onSignal = onSignal
    }

    public var count: Int { lock.withLock { items.count } }
    /// Messages dropped so far (dropOldest and dropNewest only).
    public var droppedCount: Int { lock.withLock { dropped } }

    /// Adds a message; with `.block` waits while the buffer is full.
    public func put(_ element: Element) async {
        while true {
            var signal: Signal?
            var reader: CheckedContinuation<Element?, Never>?
            let stored = lock.withLock { () -> Bool in
                if finished { return true }
                if let waiting = self.reader {
                    self.reader = nil
                    reader = waiting
                    return true
                }
                if items.count >= maxSize && strategy != .unlimited {
                    switch strategy {
                    case .dropOldest:
                        items.removeFirst()
                        dropped += 1
                    case .dropNewest:
                        dropped += 1
                        return true
                    case .block:
                        return false
                    case .unlimited:
                        break
                    }
                }
                items.append(element)
                if !above && items.count >= highWaterMark {
                    above = true
                    signal = .backpressure
                }
                return true
            }
            if let reader { reader.resume(returning: element) }
            if let signal { onSignal(signal) }
            if stored { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = lock.withLock { () -> Bool in
                    if finished || items.count < maxSize { return false }
                    writers.append(continuation)
                    return true
                }
                if !wait { continuation.resume() }
            }
        }
    }

    /// The next message, or nil once finished and empty.
    public func take() async -> Element? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            var signal: Signal?
            let (outcome, writer) = lock.withLock { () -> (Element??, CheckedContinuation<Void, Never>?) in
                if let element = items.popFirst() {
                    if above && items.count <= highWaterMark / 2 {
                        above = false
                        signal = .drain
                    }
                    return (.some(element), writers.popFirst())
                }
                if finished { return (.some(nil), nil) }
                reader = continuation
                return (nil, nil)
            }
            writer?.resume()
            if let signal { onSignal(signal) }
            if let outcome { continuation.resume(returning: outcome) }
        }
    }

    /// No more messages will be put; takers get the rest, then nil.
    public func finish() {
        let (reader, writers) = lock.withLock { () -> (CheckedContinuation<Element?, Never>?, Deque<CheckedContinuation<Void, Never>>) in
            finished = true
            defer { self.reader = nil; self.writers = [] }
            return (items.isEmpty ? self.reader : nil, self.writers)
        }
        reader?.resume(returning: nil)
        for writer in writers { writer.resume() }
    }
}
