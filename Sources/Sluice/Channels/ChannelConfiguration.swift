/// Limits of the channels of one ``ChannelRegistry``, with documented defaults.
public struct ChannelConfiguration: Sendable {
    /// Events a channel keeps for replay (oldest leave first). Default 10,000.
    public var replayCount = 10_000
    /// Events older than this leave the replay ring. Default one hour.
    public var replayAge: Duration = .seconds(3600)
    /// Events one subscriber may be behind before its policy applies. Default 1,000.
    public var subscriberQueue = 1000
    /// What happens to a subscriber that falls that far behind. Default `.disconnect`: it resumes by
    /// id, and loses nothing the ring still holds.
    public var subscriberPolicy: SubscriberPolicy = .disconnect
    /// Channels a registry creates at most (each is created by its first use). Default 1,000.
    public var maxChannels = 1000
    /// Longest long-poll wait a client may ask for. Default 60 s.
    public var maxPollWait: Duration = .seconds(60)

    public init() {}
}

/// How a channel treats a subscriber that is too slow: the publisher never waits for it.
public enum SubscriberPolicy: String, Sendable, CaseIterable {
    /// Forget the subscriber's oldest queued event for each new one.
    case dropOldest = "drop_oldest"
    /// Forget new events while its queue is full.
    case dropNewest = "drop_newest"
    /// End its stream; it reconnects and resumes after its last id from the replay ring.
    case disconnect
}
