import DequeModule
import SluiceCore

/// One reader of a channel: the replayed backlog first, then live events through a bounded queue that
/// the publisher fills without ever waiting (the ``SubscriberPolicy`` decides what a full queue does).
public final class ChannelSubscription: @unchecked Sendable {
    /// The subscriber fell behind under `.disconnect`: its stream ends and it resumes by id.
    public struct Overflow: Error, Sendable {}

    private let lock = Lock()
    private var backlog: Deque<ChannelEvent>
    private var queue = Deque<ChannelEvent>()
    private let limit: Int
    private let policy: SubscriberPolicy
    private var waiter: CheckedContinuation<ChannelEvent?, Error>?
    private var overflowed = false
    private var cancelled = false
    private(set) var dropped = 0
    private let onEnd: @Sendable (ChannelSubscription) -> Void

    init(backlog: [ChannelEvent], limit: Int, policy: SubscriberPolicy, onEnd: @escaping @Sendable (ChannelSubscription) -> Void) {
        self.backlog = Deque(backlog)
        self.limit = max(1, limit)
        self.policy = policy
        self.onEnd = onEnd
    }

    /// Live events waiting for this subscriber (the replayed backlog not counted).
    var queuedCount: Int { lock.withLock { queue.count } }

    /// Events dropped for this subscriber so far.
    public var droppedCount: Int { lock.withLock { dropped } }

    /// Called by the channel with each published batch; never blocks. Returns how many of the events
    /// were dropped, whether this offer cut the subscriber off, and its live queue's length after.
    func offer(_ events: [ChannelEvent]) -> (dropped: Int, disconnected: Bool, queued: Int) {
        let (waiting, first, result) = lock.withLock {
            () -> (CheckedContinuation<ChannelEvent?, Error>?, ChannelEvent?, (dropped: Int, disconnected: Bool, queued: Int)) in
            if cancelled || overflowed { return (nil, nil, (0, false, queue.count)) }
            var rest = events[...]
            var handed: (CheckedContinuation<ChannelEvent?, Error>, ChannelEvent)?
            if let waiter, backlog.isEmpty, queue.isEmpty, let head = rest.popFirst() {
                self.waiter = nil
                handed = (waiter, head)
            }
            var droppedNow = 0
            for event in rest {
                if queue.count < limit {
                    queue.append(event)
                    continue
                }
                switch policy {
                case .dropOldest:
                    queue.removeFirst()
                    queue.append(event)
                    droppedNow += 1
                case .dropNewest:
                    droppedNow += 1
                case .disconnect:
                    overflowed = true
                }
                if overflowed { break }
            }
            dropped += droppedNow
            return (handed?.0, handed?.1, (droppedNow, overflowed, queue.count))
        }
        if let waiting, let first { waiting.resume(returning: first) }
        return result
    }

    /// The next event, waiting for one; throws ``Overflow`` once the subscriber was cut off, and
    /// `CancellationError` when the reading task is cancelled.
    public func next() async throws -> ChannelEvent? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ChannelEvent?, Error>) in
                let ready = lock.withLock { () -> Result<ChannelEvent?, Error>? in
                    if cancelled || Task.isCancelled { return .failure(CancellationError()) }
                    if let event = backlog.popFirst() ?? queue.popFirst() { return .success(event) }
                    if overflowed { return .failure(Overflow()) }
                    waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The next event and up to `max - 1` more that are waiting already; waits as ``next()`` does.
    public func nextBatch(max: Int) async throws -> [ChannelEvent]? {
        guard let first = try await next() else { return nil }
        return lock.withLock {
            var batch = [first]
            while batch.count < max, let event = backlog.popFirst() ?? queue.popFirst() { batch.append(event) }
            return batch
        }
    }

    /// Every event available right now, without waiting (for long polls).
    func drain() -> [ChannelEvent] {
        lock.withLock {
            let out = Array(backlog) + Array(queue)
            backlog.removeAll()
            queue.removeAll()
            return out
        }
    }

    /// Stops the subscription; a pending `next()` throws `CancellationError`.
    public func cancel() {
        let waiting = lock.withLock { () -> CheckedContinuation<ChannelEvent?, Error>? in
            guard !cancelled else { return nil }
            cancelled = true
            defer { waiter = nil }
            return waiter
        }
        waiting?.resume(throwing: CancellationError())
        onEnd(self)
    }
}
