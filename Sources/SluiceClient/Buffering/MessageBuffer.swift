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
    /// Queued elements; `counted` is false for out-of-band ones, which the bound and drops ignore.
    private var items = Deque<(value: Element, counted: Bool)>()
    private var inBand = 0
    private var dropped = 0
    private var above = false
    private var finished = false
    private var reader: CheckedContinuation<Element?, Never>?
    private var spaceCallbacks: [@Sendable () -> Void] = []

    /// Sees every element taken in (stored, or dropped by the strategy) and every out-of-band one:
    /// how a transport's metrics count what it parsed.
    private let observer: (@Sendable (Element) -> Void)?

    public convenience init(maxSize: Int, strategy: BufferStrategy, highWaterMark: Int? = nil, onSignal: @escaping @Sendable (Signal) -> Void = { _ in }) {
        self.init(maxSize: maxSize, strategy: strategy, highWaterMark: highWaterMark, observer: nil, onSignal: onSignal)
    }

    init(maxSize: Int, strategy: BufferStrategy, highWaterMark: Int?, observer: (@Sendable (Element) -> Void)?,
         onSignal: @escaping @Sendable (Signal) -> Void) {
        self.observer = observer
        precondition(maxSize > 0, "maxSize must be positive")
        self.maxSize = maxSize
        self.strategy = strategy
        self.highWaterMark = min(highWaterMark ?? maxSize, maxSize)
        self.onSignal = onSignal
    }

    /// Buffered messages (out-of-band control messages not counted).
    public var count: Int { lock.withLock { inBand } }
    /// Whether a take is waiting for the next message (for tests).
    var hasWaitingReader: Bool { lock.withLock { reader != nil } }
    /// Messages dropped so far (dropOldest and dropNewest only).
    public var droppedCount: Int { lock.withLock { dropped } }

    /// Adds a message; with `.block` waits while the buffer is full (until half of it is free).
    public func put(_ element: Element) async {
        // `offer`, and when it finds no room, wait for the room it promises to announce.
        while true {
            let stored = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                if offer(element, whenSpace: { continuation.resume(returning: false) }) {
                    continuation.resume(returning: true)
                }
            }
            if stored { return }
        }
    }

    /// A put for producers that cannot wait (an event loop thread). Stores nothing and returns false
    /// only with `.block` on a full buffer; `whenSpace` then runs once, after takes have freed half
    /// the buffer (or it finishes).
    @discardableResult
    public func offer(_ element: Element, whenSpace: @escaping @Sendable () -> Void = {}) -> Bool {
        offer(contentsOf: CollectionOfOne(element), whenSpace: whenSpace) == 1
    }

    /// Offers `elements` in order, as ``offer(_:whenSpace:)`` would one by one, under one lock, and
    /// wakes a waiting reader once (with the first): a reader woken per element took a thread switch per
    /// element when the consumer kept up. Returns how many were taken in (stored, or dropped by the
    /// strategy): fewer than all only with `.block` on a full buffer, and `whenSpace` then runs once, as
    /// for `offer`.
    public func offer(contentsOf elements: some Collection<Element>, whenSpace: @escaping @Sendable () -> Void = {}) -> Int {
        var signal: Signal?
        var handOff: (reader: CheckedContinuation<Element?, Never>, element: Element)?
        let accepted = lock.withLock { () -> Int in
            var accepted = 0
            for element in elements {
                defer { accepted += 1 }
                if finished { continue }
                if handOff == nil, let waiting = self.reader {
                    self.reader = nil
                    handOff = (waiting, element)
                    continue
                }
                if inBand >= maxSize {
                    switch strategy {
                    case .dropOldest:
                        dropOldestCounted()
                    case .dropNewest:
                        dropped += 1
                        continue
                    case .block:
                        spaceCallbacks.append(whenSpace)
                        return accepted
                    case .unlimited:
                        break
                    }
                }
                append(element)
                if !above && inBand >= highWaterMark {
                    above = true
                    signal = .backpressure
                }
            }
            return accepted
        }
        if let observer { for element in elements.prefix(accepted) { observer(element) } }
        if let handOff { handOff.reader.resume(returning: handOff.element) }
        if let signal { onSignal(signal) }
        return accepted
    }

    /// Appends ignoring the bound and the strategy, for the few control messages a producer must
    /// never lose (a transport's lifecycle signals). Never waits.
    public func insertOutOfBand(_ element: Element) {
        observer?(element)
        let reader = lock.withLock { () -> CheckedContinuation<Element?, Never>? in
            if finished { return nil }
            if let waiting = self.reader {
                self.reader = nil
                return waiting
            }
            items.append((element, false))
            return nil
        }
        reader?.resume(returning: element)
    }

    // Guarded by `lock`.
    private func append(_ element: Element) {
        items.append((element, true))
        inBand += 1
    }

    private func dropOldestCounted() {
        guard let index = items.firstIndex(where: { $0.counted }) else { return }
        items.remove(at: index)
        inBand -= 1
        dropped += 1
    }

    /// The next message, or nil once finished and empty.
    public func take() async -> Element? {
        // Without a continuation while one is ready: one per message cost a task-allocator allocation
        // and a lock round more (~3% of `sluice listen` at full speed).
        if let ready = pop(orWait: nil) { return ready }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            if let outcome = pop(orWait: continuation) { continuation.resume(returning: outcome) }
        }
    }

    /// The next message (nil inside once finished and empty); or, when none is there yet, nil, with
    /// `waiter` (if any) left as the reader the next offer resumes.
    private func pop(orWait waiter: CheckedContinuation<Element?, Never>?) -> Element?? {
        var signal: Signal?
        var space: [@Sendable () -> Void] = []
        let outcome = lock.withLock { () -> Element?? in
            if let entry = items.popFirst() {
                let element = entry.value
                if entry.counted { inBand -= 1 }
                if above && inBand <= highWaterMark / 2 {
                    above = false
                    signal = .drain
                }
                // A blocked producer resumes once half the buffer is free, not at the first free
                // slot: woken per slot, it refilled one element a wake-up (a loop job and, with the
                // reader on another thread, a context switch per event).
                if inBand <= maxSize / 2 { swap(&space, &spaceCallbacks) }
                return .some(element)
            }
            if finished { return .some(nil) }
            if let waiter { reader = waiter }
            return nil
        }
        for callback in space { callback() }
        if let signal { onSignal(signal) }
        return outcome
    }

    /// No more messages will be put; takers get the rest, then nil.
    public func finish() {
        let (reader, waiting) = lock.withLock { () -> (CheckedContinuation<Element?, Never>?, [@Sendable () -> Void]) in
            finished = true
            defer { self.reader = nil; spaceCallbacks = [] }
            return (items.isEmpty ? self.reader : nil, spaceCallbacks)
        }
        reader?.resume(returning: nil)
        for callback in waiting { callback() }  // blocked producers return: nothing more is taken
    }
}
