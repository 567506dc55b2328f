import HTTPTypes

/// The knobs and provider-specific faults of a mock provider request (the generic faults —
/// `drop_after`, `auth`, `stall_after`, … — apply as on every route, see ``FaultPlan``), from query parameters or, for clients that cannot
/// change the URL (an SDK with a fixed base path), from `X-Sluice-<Name>` or `X-Sluice-Fault-<Name>`
/// headers (`ttft_ms` → `X-Sluice-Ttft-Ms`). Every value is range-checked; a bad one is a 400.
struct MockProviderKnobs {
    /// Seeds the generated answer and the ids.
    var seed: UInt64 = 1
    /// Words in the generated answer.
    var words = 24
    /// Milliseconds before the first frame (time to first token).
    var timeToFirstTokenMs = 0
    /// Pace in tokens (words) per second; 0 sends as fast as the client reads.
    var tokensPerSecond = 0
    /// Words per frame.
    var wordsPerFrame = 1
    /// An error response instead of an answer: `rate_limit`, `overloaded`, `auth`, `server`.
    var error: MockProviderError.Kind?
    /// Seconds in `Retry-After` on `rate_limit` and `overloaded`.
    var retryAfter = 1
    /// After this many frames: end the body cleanly, without the end marker.
    var truncateAfter: Int?
    /// After this many frames: a provider-shaped error frame, then the end of the body.
    var errorAfter: Int?
    /// Send every Nth frame twice.
    var duplicateEvery: Int?
    /// Frame N (from 0) has its JSON cut in half.
    var corruptAt: Int?

    init(_ request: Request) throws {
        let read = RequestKnobs(request, headerPrefixes: ["X-Sluice-Fault-", "X-Sluice-"], what: "knob")
        seed = UInt64(try read.int("seed", 0...Int(Int32.max)) ?? 1)
        words = try read.int("words", 0...100_000) ?? words
        timeToFirstTokenMs = try read.int("ttft_ms", 0...600_000) ?? 0
        tokensPerSecond = try read.int("tps", 0...10_000_000) ?? 0
        wordsPerFrame = try read.int("chunk_words", 1...10_000) ?? 1
        if let name = read.text("error") {
            guard let kind = MockProviderError.Kind(rawValue: name) else {
                throw HTTPError(.badRequest, "error must be one of \(MockProviderError.Kind.allCases.map(\.rawValue)), got '\(name)'")
            }
            error = kind
        }
        retryAfter = try read.int("retry_after", 0...86_400) ?? 1
        truncateAfter = try read.int("truncate_after", 0...10_000_000)
        errorAfter = try read.int("error_after", 0...10_000_000)
        duplicateEvery = try read.int("duplicate_every", 1...10_000_000)
        corruptAt = try read.int("corrupt_at", 0...10_000_000)
    }

    /// Milliseconds between frames at the requested pace.
    var frameIntervalMs: Double {
        tokensPerSecond > 0 ? Double(wordsPerFrame) * 1000 / Double(tokensPerSecond) : 0
    }
}
