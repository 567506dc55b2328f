import DequeModule
import SluiceCore

/// A named sequence of events with increasing ids and a bounded replay ring. Readers subscribe after
/// an id (SSE, WebSocket, NDJSON or long poll) and get the retained events after it, then live ones;
/// the publisher never waits for a reader.
///
/// ```swift
/// let channel = registry.channel("prices")!
/// try channel.publish(data: "{\"usd\":1.08}", event: "tick")
/// ```
public final class Channel: @unchecked Sendable {
    public let name: String
    let configuration: ChannelConfiguration
    private let lock = Lock()
    private var ring = Deque<ChannelEvent>()
    private var lastID = 0
    /// The newest id that left the ring: a reader resuming before it has lost events.
    private var lastEvicted: Int?
    private var subscribers: [ObjectIdentifier: ChannelSubscription] = [:]
    private var counters = Metrics()

    /// Counters of a channel, for tests and `GET /channels/{name}`.
    public struct Metrics: Sendable, Equatable {
        public var published = 0
        /// Events dropped for slow subscribers (drop-oldest / drop-newest).
        public var dropped = 0
        /// Subscribers cut off under the `.disconnect` policy.
        public var disconnected = 0
        public var subscribers = 0
        /// The longest any subscriber's live queue has been (bounded by its `queue`).
        public var peakQueued = 0
        public var retained = 0
        public var lastID = 0
        public var oldestID: Int?
    }

    public enum PublishError: Error, Equatable {
        /// An explicit id must be greater than every earlier one.
        case idNotIncreasing(last: Int)
        /// An event type must be one line (SSE cannot carry CR or LF in it).
        case invalidEventType
    }

    init(name: String, configuration: ChannelConfiguration) {
        self.name = name
        self.configuration = configuration
    }

    /// Publishes one event to every subscriber and the replay ring; returns it with its id.
    @discardableResult
    public func publish(data: String, event: String? = nil, id: Int? = nil) throws(PublishError) -> ChannelEvent {
        try publish(contentsOf: [(data, event)], firstID: id)[0]
    }

    /// Publishes several events at once, in order, with the next ids: each subscriber is offered the
    /// whole batch under one lock and woken once, which is what a producer with bursts (a ticker, a
    /// batch from upstream) should use. An invalid event type refuses the whole batch.
    ///
    /// ```swift
    /// try channel.publish(contentsOf: [("a", nil), ("b", "update")])
    /// ```
    @discardableResult
    public func publish(contentsOf items: [(data: String, event: String?)]) throws(PublishError) -> [ChannelEvent] {
        try publish(contentsOf: items, firstID: nil)
    }

    private func publish(contentsOf items: [(data: String, event: String?)], firstID: Int?) throws(PublishError) -> [ChannelEvent] {
        guard !items.isEmpty else { return [] }
        let outcome = lock.withLock { () -> Result<([ChannelEvent], [ChannelSubscription]), PublishError> in
            if let firstID, firstID <= lastID { return .failure(.idNotIncreasing(last: lastID)) }
            var id = firstID ?? lastID + 1
            var events: [ChannelEvent] = []
            events.reserveCapacity(items.count)
            let now = ContinuousClock.now
            for item in items {
                guard let made = try? ChannelEvent(id: id, event: item.event, data: item.data, published: now) else {
                    return .failure(.invalidEventType)
                }
                events.append(made)
                id += 1
            }
            lastID = events[events.count - 1].id
            ring.append(contentsOf: events)
            trim()
            counters.published += events.count
            return .success((events, Array(subscribers.values)))
        }
        let (events, targets) = try outcome.get()
        // Offers outside the channel's lock: a subscriber's lock is never taken inside it.
        var dropped = 0
        var disconnected = 0
        var peak = 0
        for subscriber in targets {
            let result = subscriber.offer(events)
            dropped += result.dropped
            if result.disconnected { disconnected += 1 }
            peak = max(peak, result.queued)
        }
        lock.withLock {
            counters.dropped += dropped
            counters.disconnected += disconnected
            counters.peakQueued = max(counters.peakQueued, peak)
        }
        return events
    }

    /// What a reader resuming after `id` gets from the ring.
    public struct Replay: Sendable {
        public var events: [ChannelEvent]
        /// Events after `id` had already left the ring: `oldest` is the first one still held.
        public var gap: Bool
        public var oldest: Int?
    }

    /// Subscribes after `id` (nil: from the oldest retained; `fromNow`: live events only): the
    /// subscription yields the replayed events, then live ones, with nothing lost or repeated between
    /// them (both are taken under one lock). The returned replay says whether there was a gap; its
    /// `events` is empty.
    public func subscribe(after id: Int?, fromNow: Bool = false, queue: Int? = nil, policy: SubscriberPolicy? = nil) -> (ChannelSubscription, Replay) {
        lock.withLock {
            let replay = fromNow ? Replay(events: [], gap: false, oldest: ring.first?.id) : replayLocked(after: id)
            let subscription = ChannelSubscription(
                backlog: replay.events, limit: queue ?? configuration.subscriberQueue, policy: policy ?? configuration.subscriberPolicy,
                onEnd: { [weak self] ended in self?.remove(ended) })
            subscribers[ObjectIdentifier(subscription)] = subscription
            return (subscription, Replay(events: [], gap: replay.gap, oldest: replay.oldest))
        }
    }

    /// The retained events after `id`, without subscribing.
    public func replay(after id: Int?) -> Replay {
        lock.withLock { replayLocked(after: id) }
    }

    public var metrics: Metrics {
        lock.withLock {
            var m = counters
            m.subscribers = subscribers.count
            m.retained = ring.count
            m.lastID = lastID
            m.oldestID = ring.first?.id
            return m
        }
    }

    private func remove(_ subscription: ChannelSubscription) {
        lock.withLock { _ = subscribers.removeValue(forKey: ObjectIdentifier(subscription)) }
    }

    private func replayLocked(after id: Int?) -> Replay {
        trim()
        let oldest = ring.first?.id
        guard let id else { return Replay(events: Array(ring), gap: false, oldest: oldest) }
        // Ids increase but may skip (explicit ids): a gap is an evicted event newer than `id`.
        let gap = lastEvicted.map { $0 > id } ?? false
        // From the newest back: a resuming reader is usually near the end.
        var start = ring.endIndex
        while start > ring.startIndex, ring[start - 1].id > id { start -= 1 }
        return Replay(events: Array(ring[start...]), gap: gap, oldest: oldest)
    }

    private func trim() {
        while ring.count > configuration.replayCount { lastEvicted = ring.removeFirst().id }
        let cutoff = ContinuousClock.now - configuration.replayAge
        while let first = ring.first, first.published < cutoff { lastEvicted = ring.removeFirst().id }
    }
}
