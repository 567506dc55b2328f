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
            for _ in 0..<perTick {
                // The SSE frame "id: N\ndata: T xxx…\n\n" is 100 bytes, as the peers send.
                let stamp = "\(Self.epochMicros()) "
                let frameSoFar = "id: \(channel.metrics.lastID + 1)\ndata: ".utf8.count + stamp.utf8.count
                _ = try? channel.publish(data: stamp + padding.prefix(max(0, 98 - frameSoFar)))
            }
        }
    }

    static func epochMicros() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
    }
}
