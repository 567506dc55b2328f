import Testing
@testable import SluiceCore

@Suite struct AsyncLockTests {
    /// Holders that suspend inside the lock still never overlap, and every caller gets its turn —
    /// whether it found the lock free (no continuation) or waited for it.
    @Test func holdersNeverOverlapAcrossSuspensions() async {
        let lock = AsyncLock()
        let inside = Locked(0)
        let overlaps = Locked(0)
        let turns = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<200 {
                        await lock.withLock {
                            if inside.withLock({ $0 += 1; return $0 }) > 1 { overlaps.withLock { $0 += 1 } }
                            await Task.yield()
                            inside.withLock { $0 -= 1 }
                            turns.withLock { $0 += 1 }
                        }
                    }
                }
            }
        }
        #expect(overlaps.withLock { $0 } == 0)
        #expect(turns.withLock { $0 } == 1_600)
    }

    /// Waiters are served in the order they came, after the holder.
    @Test func waitersAreServedInArrivalOrder() async throws {
        let lock = AsyncLock()
        let order = Locked<[Int]>([])
        let release = AsyncStream<Void>.makeStream()
        let holder = Task {
            await lock.withLock {
                for await _ in release.stream { break }
                order.withLock { $0.append(0) }
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        var waiters: [Task<Void, Never>] = []
        for n in 1...4 {
            waiters.append(Task { await lock.withLock { order.withLock { $0.append(n) } } })
            try await Task.sleep(for: .milliseconds(20))  // each is queued before the next comes
        }
        release.continuation.yield()
        await holder.value
        for waiter in waiters { await waiter.value }
        #expect(order.withLock { $0 } == [0, 1, 2, 3, 4])
    }
}
