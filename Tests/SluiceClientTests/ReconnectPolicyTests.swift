import Testing
@testable import SluiceClient

@Suite struct ReconnectPolicyTests {
    @Test func exponentialBackoffBoundedByTheMaximum() {
        var policy = ReconnectPolicy(reconnectDelay: .milliseconds(100), maxReconnectDelay: .seconds(1), seed: 1)
        policy.jitter = .none
        policy.maxReconnectAttempts = nil
        let delays = (1...6).map { policy.delay(attempt: $0, failure: .transport("reset"))! }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test func fullAndEqualJitterStayInTheirRangesAndAreSeedable() {
        for jitter in [ReconnectPolicy.Jitter.full, .equal] {
            var a = ReconnectPolicy(reconnectDelay: .milliseconds(1000), seed: 42)
            var b = ReconnectPolicy(reconnectDelay: .milliseconds(1000), seed: 42)
            a.jitter = jitter
            b.jitter = jitter
            let first = (1...50).map { _ in a.delay(attempt: 1, failure: .ended)! }
            let second = (1...50).map { _ in b.delay(attempt: 1, failure: .ended)! }
            #expect(first == second)  // same seed, same delays
            let low: Duration = jitter == .full ? .zero : .milliseconds(500)
            #expect(first.allSatisfy { $0 >= low && $0 <= .milliseconds(1000) })
            #expect(Set(first).count > 10)  // and they do vary
        }
    }

    @Test func noRetryOnAuthNotFoundOrNoContent() {
        var policy = ReconnectPolicy(seed: 1)
        for code in [401, 403, 404] { #expect(policy.delay(attempt: 1, failure: .status(code, retryAfter: nil)) == nil) }
        #expect(policy.delay(attempt: 1, failure: .noContent) == nil)
        #expect(policy.delay(attempt: 1, failure: .status(500, retryAfter: nil)) != nil)
    }

    @Test func retryAfterIsHonouredOn429And503() {
        var policy = ReconnectPolicy(reconnectDelay: .milliseconds(10), maxReconnectDelay: .seconds(30), seed: 1)
        #expect(policy.delay(attempt: 1, failure: .status(503, retryAfter: .seconds(7))) == .seconds(7))
        #expect(policy.delay(attempt: 4, failure: .status(429, retryAfter: .seconds(2))) == .seconds(2))
        #expect(policy.delay(attempt: 1, failure: .status(503, retryAfter: .seconds(600))) == .seconds(30))  // bounded
    }

    @Test func serverRetryReplacesTheBaseWithinTheBound() {
        var policy = ReconnectPolicy(reconnectDelay: .milliseconds(100), maxReconnectDelay: .seconds(5), seed: 1)
        policy.jitter = .none
        #expect(policy.delay(attempt: 1, failure: .ended, serverRetry: .milliseconds(2500)) == .milliseconds(2500))
        #expect(policy.delay(attempt: 1, failure: .ended, serverRetry: .seconds(60)) == .seconds(5))
    }

    @Test func attemptLimitAndVeto() {
        var policy = ReconnectPolicy(seed: 1)
        policy.maxReconnectAttempts = 3
        #expect(policy.delay(attempt: 3, failure: .ended) != nil)
        #expect(policy.delay(attempt: 4, failure: .ended) == nil)
        policy.shouldRetry = { failure, _ in failure == .status(404, retryAfter: nil) ? true : nil }
        #expect(policy.delay(attempt: 1, failure: .status(404, retryAfter: nil)) != nil)
        policy.reconnect = false
        #expect(policy.delay(attempt: 1, failure: .ended) == nil)
    }
}
