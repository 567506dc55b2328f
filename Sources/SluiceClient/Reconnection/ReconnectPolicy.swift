import SluiceCore
/// When and how often a transport reconnects: exponential backoff with a bound, jitter, an attempt
/// limit and a veto for errors that retrying cannot fix. Pure: it computes delays, it never sleeps,
/// so it is tested without clocks.
///
/// ```swift
/// var policy = ReconnectPolicy(reconnectDelay: .milliseconds(500), maxReconnectDelay: .seconds(30))
/// policy.jitter = .full
/// if let delay = policy.delay(attempt: 3, error: .status(503, retryAfter: nil)) { ... }
/// ```
public struct ReconnectPolicy: Sendable {
    public enum Jitter: Sendable, Equatable {
        /// Exactly the backoff delay.
        case none
        /// Uniform in 0...delay ("full jitter": spreads a thundering herd best).
        case full
        /// delay/2 plus uniform in 0...delay/2 ("equal jitter": never much shorter than planned).
        case equal
    }

    /// Why a connection attempt or stream ended, as far as retrying is concerned.
    public enum Failure: Sendable, Equatable {
        /// An HTTP status; `retryAfter` from a `Retry-After` header (seconds form).
        case status(Int, retryAfter: Duration?)
        /// The transport broke (refused, reset, timed out, closed mid-stream).
        case transport(String)
        /// The server ended the stream cleanly (SSE: the response ended).
        case ended
        /// SSE's 204 No Content: the server says do not reconnect (WHATWG).
        case noContent
    }

    /// Reconnect at all. Default true.
    public var reconnect = true
    /// Give up after this many consecutive failed attempts; `nil` never gives up. Default 10.
    public var maxReconnectAttempts: Int? = 10
    /// The first delay. Default 1 s.
    public var reconnectDelay: Duration
    /// Each further attempt waits this many times longer. Default 2.
    public var backoffMultiplier: Double = 2
    /// No delay is longer than this, whatever the backoff, the server's `retry` or `Retry-After`
    /// says. Default 30 s.
    public var maxReconnectDelay: Duration
    public var jitter: Jitter = .full
    /// A veto over the default rules (no retry on 401, 403, 404, 204); return nil to keep the default.
    public var shouldRetry: (@Sendable (Failure, Int) -> Bool?)?
    private var random: SplitMix64

    public init(reconnectDelay: Duration = .seconds(1), maxReconnectDelay: Duration = .seconds(30), seed: UInt64? = nil) {
        self.reconnectDelay = reconnectDelay
        self.maxReconnectDelay = maxReconnectDelay
        random = SplitMix64(seed: seed ?? UInt64.random(in: .min ... .max))
    }

    /// Whether to try again after `failure` on attempt `attempt` (1 for the first reconnect).
    public func allows(_ failure: Failure, attempt: Int) -> Bool {
        guard reconnect else { return false }
        if let max = maxReconnectAttempts, attempt > max { return false }
        if let verdict = shouldRetry?(failure, attempt) { return verdict }
        switch failure {
        case .status(let code, _): return ![401, 403, 404].contains(code) && code != 204
        case .noContent: return false
        case .transport, .ended: return true
        }
    }

    /// The wait before attempt `attempt` (1-based), or nil to stop. `serverRetry` is the SSE `retry:`
    /// the server sent last; it replaces the base delay (still bounded by `maxReconnectDelay`).
    public mutating func delay(attempt: Int, failure: Failure, serverRetry: Duration? = nil) -> Duration? {
        guard allows(failure, attempt: attempt) else { return nil }
        if case .status(let code, let retryAfter?) = failure, code == 429 || code == 503 {
            return min(retryAfter, maxReconnectDelay)  // the server said when: no jitter, no backoff
        }
        let base = Double((serverRetry ?? reconnectDelay).microseconds)
        let planned = min(base * pow(backoffMultiplier, Double(max(0, attempt - 1))), Double(maxReconnectDelay.microseconds))
        let micros: Double
        switch jitter {
        case .none: micros = planned
        case .full: micros = planned * random.nextUnit()
        case .equal: micros = planned / 2 + planned / 2 * random.nextUnit()
        }
        return .microseconds(Int64(micros.rounded()))
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    for _ in 0..<Int(exponent) { result *= base }
    return result
}
