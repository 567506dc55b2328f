/// Latencies in µs, exact to the µs below 100 ms and to the ms above (up to a minute); percentiles
/// without keeping every sample, so a million events a second cost one increment each.
struct LatencyHistogram {
    private var fine = [Int](repeating: 0, count: 100_000)
    private var coarse = [Int](repeating: 0, count: 60_000)
    private(set) var count = 0
    private(set) var maxMicros = 0

    mutating func record(_ micros: Int) {
        let value = max(0, micros)
        count += 1
        maxMicros = max(maxMicros, value)
        if value < fine.count { fine[value] += 1 } else { coarse[min(coarse.count - 1, value / 1000)] += 1 }
    }

    /// The smallest latency at or above which lies the fraction `1 - q` of the samples.
    func percentile(_ q: Double) -> Int {
        guard count > 0 else { return 0 }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (micros, n) in fine.enumerated() where n > 0 {
            seen += n
            if seen >= rank { return micros }
        }
        for (millis, n) in coarse.enumerated() where n > 0 {
            seen += n
            if seen >= rank { return millis * 1000 }
        }
        return maxMicros
    }
}
