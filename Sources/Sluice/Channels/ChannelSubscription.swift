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

    /// Called by the channel for each published event; never blocks. Returns what happened and the
    /// live queue's length after it.
    func offer(_ event: ChannelEvent) -> (Offer, queued: Int) {
        let (waiting, result) = lock.withLock { () -> (CheckedContinuation<ChannelEvent?, Error>?, (Offer, queued: Int)) in
            if cancelled || overflowed { return (nil, (.ignored, queue.count)) }
            if let waiter, backlog.isEmpty, queue.isEmpty {
                self.waiter = nil
                return (waiter, (.queued, 0))
            }
            if queue.count < limit {
                queue.append(event)
                return (nil, (.queued, queue.count))
            }
            switch policy {
            case .dropOldest:
                queue.removeFirst()
                queue.append(event)
                dropped += 1
                return (nil, (.dropped, queue.count))
            case .dropNewest:
                dropped += 1
                return (nil, (.dropped, queue.count))
            case .disconnect:
                overflowed = true
                return (nil, (.disconnected, queue.count))
            }
        }
        waiting?.resume(returning: event)
        return result
    }

    enum Offer { case queued, dropped, disconnected, ignored }

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
