import Sluice
#if canImport(Glibc)
import Glibc
#endif

/// Publishes a steady stream of 100-byte events to one channel, for fan-out benchmarks: every 10 ms,
/// `rate / 100` events whose data starts with the publish time in µs since the epoch, so a subscriber
/// can measure publish-to-receive latency (`sluice load fanout`). The peers in scripts/peers publish
/// the same events.
struct Ticker: Sendable {
    let channel: Channel
    let rate: Int

    func run() async {
        let perTick = max(1, rate / 100)
        let clock = ContinuousClock()
        var next = clock.now
        let padding = String(repeating: "x", count: 100)
        while !Task.isCancelled {
            next += .milliseconds(10)
            try? await Task.sleep(until: next, clock: clock)
            // One batch a tick: each subscriber is woken once for all of it, as the peers write once.
            var batch: [(data: String, event: String?)] = []
            var id = channel.metrics.lastID
            for _ in 0..<perTick {
                id += 1
                // The SSE frame "id: N\ndata: T xxx…\n\n" is 100 bytes, as the peers send.
                let stamp = "\(Self.epochMicros()) "
                let frameSoFar = "id: \(id)\ndata: ".utf8.count + stamp.utf8.count
                batch.append((stamp + padding.prefix(max(0, 98 - frameSoFar)), nil))
            }
            _ = try? channel.publish(contentsOf: batch)
        }
    }

    static func epochMicros() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
    }
}
