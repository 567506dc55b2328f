import DequeModule

/// A FIFO mutual-exclusion lock for async code: a holder may suspend while holding it.
/// Used where order on the wire must match order of a stateful encoder (permessage-deflate).
public final class AsyncLock: @unchecked Sendable {
    private let lock = Lock()
    private var held = false
    private var waiters = Deque<CheckedContinuation<Void, Never>>()

    public init() {}

    public func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        // Free (nearly always: one WebSocket message at a time): take it without a continuation,
        // whose checked box is an allocation per acquire.
        let free = lock.withLock { () -> Bool in
            if held { return false }
            held = true
            return true
        }
        if free { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = lock.withLock { () -> Bool in
                if !held {
                    held = true
                    return true
                }
                waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            if let next = waiters.popFirst() { return next }  // ownership passes straight on
            held = false
            return nil
        }
        next?.resume()
    }
}
