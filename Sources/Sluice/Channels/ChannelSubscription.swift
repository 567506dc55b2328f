import DequeModule
import SluiceCore

/// One reader of a channel: the replayed backlog first, then live events through a bounded queue that
/// the publisher fills without ever waiting (the ``SubscriberPolicy`` decides what a full queue does).
public final class ChannelSubscription: @unchecked Sendable {
    /// The subscriber fell behind under `.disconnect`: its stream ends and it resumes by id.
    public struct Overflow: Error, Sendable {}

    /// Everything the publisher and the reader share, behind one lock and one access: its fields as
    /// separate properties of the class cost a runtime exclusivity check each time they were touched
    /// (a tenth of the server's time fanning out to 1,000 subscribers).
    private struct State {
        var backlog: Deque<ChannelEvent>
        var queue = Deque<ChannelEvent>()
        var waiter: CheckedContinuation<ChannelEvent?, Error>?
        var overflowed = false
        var cancelled = false
        var dropped = 0

        /// The next waiting event: the replayed backlog first.
        mutating func popFirst() -> ChannelEvent? { backlog.popFirst() ?? queue.popFirst() }

        /// Queues `events` under the policy; returns how many were dropped.
        mutating func enqueue(_ events: ArraySlice<ChannelEvent>, limit: Int, policy: SubscriberPolicy) -> Int {
            var droppedNow = 0
            for event in events {
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
            return droppedNow
        }
    }

    private let state: Locked<State>
    private let limit: Int
    private let policy: SubscriberPolicy
    private let onEnd: @Sendable (ChannelSubscription) -> Void

    init(backlog: [ChannelEvent], limit: Int, policy: SubscriberPolicy, onEnd: @escaping @Sendable (ChannelSubscription) -> Void) {
        state = Locked(State(backlog: Deque(backlog)))
        self.limit = max(1, limit)
        self.policy = policy
        self.onEnd = onEnd
    }

    /// Live events waiting for this subscriber (the replayed backlog not counted).
    var queuedCount: Int { state.withLock { $0.queue.count } }

    /// Whether a reader is waiting in ``next()`` (for tests).
    var isWaiting: Bool { state.withLock { $0.waiter != nil } }

    /// Events dropped for this subscriber so far.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Called by the channel with each published batch; never blocks. Returns how many of the events
    /// were dropped, whether this offer cut the subscriber off, and its live queue's length after.
    func offer(_ events: [ChannelEvent]) -> (dropped: Int, disconnected: Bool, queued: Int) {
        let (limit, policy) = (self.limit, self.policy)
        let (handed, result) = state.withLock {
            state -> ((CheckedContinuation<ChannelEvent?, Error>, ChannelEvent)?, (dropped: Int, disconnected: Bool, queued: Int)) in
            if state.cancelled || state.overflowed { return (nil, (0, false, state.queue.count)) }
            var rest = events[...]
            var handed: (CheckedContinuation<ChannelEvent?, Error>, ChannelEvent)?
            if let waiter = state.waiter, state.backlog.isEmpty, state.queue.isEmpty, let head = rest.popFirst() {
                state.waiter = nil
                handed = (waiter, head)
            }
            let droppedNow = state.enqueue(rest, limit: limit, policy: policy)
            return (handed, (droppedNow, state.overflowed, state.queue.count))
        }
        if let (waiting, first) = handed { waiting.resume(returning: first) }
        return result
    }

    /// The next event, waiting for one; throws ``Overflow`` once the subscriber was cut off, and
    /// `CancellationError` when the reading task is cancelled.
    public func next() async throws -> ChannelEvent? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ChannelEvent?, Error>) in
                let ready = state.withLock { state -> Result<ChannelEvent?, Error>? in
                    if state.cancelled || Task.isCancelled { return .failure(CancellationError()) }
                    if let event = state.popFirst() { return .success(event) }
                    if state.overflowed { return .failure(Overflow()) }
                    state.waiter = continuation
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
        return state.withLock { state in
            var batch = [first]
            while batch.count < max, let event = state.popFirst() { batch.append(event) }
            return batch
        }
    }

    /// Every event available right now, without waiting (for long polls).
    func drain() -> [ChannelEvent] {
        state.withLock { state in
            let out = Array(state.backlog) + Array(state.queue)
            state.backlog.removeAll()
            state.queue.removeAll()
            return out
        }
    }

    /// Stops the subscription; a pending `next()` throws `CancellationError`.
    public func cancel() {
        let waiting = state.withLock { state -> CheckedContinuation<ChannelEvent?, Error>? in
            guard !state.cancelled else { return nil }
            state.cancelled = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiting?.resume(throwing: CancellationError())
        onEnd(self)
    }
}
