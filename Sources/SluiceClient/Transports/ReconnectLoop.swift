import SluiceCore

/// How one connection attempt ended.
enum AttemptOutcome: Sendable {
    case failure(ReconnectPolicy.Failure, TransportError?)
    case done
}

/// Resolves one attempt exactly once, whichever comes first: the connection's own end, or `close()`.
final class AttemptGate: @unchecked Sendable {
    private let lock = Lock()
    private var continuation: CheckedContinuation<AttemptOutcome, Never>?
    private var outcome: AttemptOutcome?

    func wait() async -> AttemptOutcome {
        await withCheckedContinuation { (c: CheckedContinuation<AttemptOutcome, Never>) in
            let ready = lock.withLock { () -> AttemptOutcome? in
                if let outcome { return outcome }
                continuation = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    func finish(_ result: AttemptOutcome) {
        let waiting = lock.withLock { () -> CheckedContinuation<AttemptOutcome, Never>? in
            guard outcome == nil else { return nil }
            outcome = result
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume(returning: result)
    }
}

/// The reconnection loop every transport shares: attempt, report, back off, try again, until the
/// policy, a done signal or `close()` ends it; then `.closed` and the end of the event sequence.
enum ReconnectLoop {
    static func run(
        policy: ReconnectPolicy, buffer: MessageBuffer<TransportEvent>,
        isClosed: @Sendable () -> Bool,
        deliveredLastAttempt: @Sendable () -> Int,
        serverRetry: @Sendable () -> Duration?,
        state: @Sendable () -> TransportMetrics.State = { .connecting },
        attempt connect: @Sendable (Int) async -> AttemptOutcome
    ) async {
        var policy = policy
        var attempt = 0
        while !isClosed() {
            buffer.insertOutOfBand(.connecting)
            let outcome = await connect(attempt)
            if isClosed() { break }
            guard case .failure(let failure, let error) = outcome else {
                buffer.insertOutOfBand(.done)
                break
            }
            // A connection that delivered something starts the backoff afresh.
            if deliveredLastAttempt() > 0 { attempt = 0 }
            attempt += 1
            let delay = policy.delay(attempt: attempt, failure: failure, serverRetry: serverRetry())
            if var error {
                error.recoverable = delay != nil
                error.attempt = attempt - 1
                error.state = state()
                buffer.insertOutOfBand(.error(error))
            }
            guard let delay else { break }
            buffer.insertOutOfBand(.reconnecting(attempt: attempt, delay: delay))
            do { try await Task.sleep(for: delay) } catch { break }
        }
        buffer.insertOutOfBand(.closed)
        buffer.finish()
    }
}
