import Foundation
import Testing
@testable import SluiceCore

@Suite struct InboundBodyTests {
    @Test func chunksArriveInOrderAndConsumptionIsReported() async throws {
        let consumed = Locked(0)
        let body = InboundBody(softLimit: 10) { n in consumed.withLock { $0 += n } }
        #expect(body.append([1, 2, 3]))
        #expect(body.append([4, 5, 6, 7, 8, 9, 10]) == false)  // at the soft limit: stop feeding
        #expect(body.bufferedBytes == 10)
        let reader = Task { () -> [[UInt8]] in
            var chunks: [[UInt8]] = []
            for try await chunk in body { chunks.append(chunk) }
            return chunks
        }
        try await Task.sleep(for: .milliseconds(20))
        #expect(body.hasRoom)
        body.append([11])
        body.finish()
        #expect(try await reader.value == [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11]])
        #expect(consumed.withLock { $0 } == 11)
    }

    @Test func failureReachesAWaitingReader() async throws {
        struct Gone: Error {}
        let body = InboundBody()
        let reader = Task { try await body.next() }
        try await Task.sleep(for: .milliseconds(20))
        body.fail(Gone())
        await #expect(throws: Gone.self) { try await reader.value }
        #expect(body.append([1]))  // ignored after failure
    }

    @Test func collectEnforcesTheLimit() async throws {
        struct TooLarge: Error {}
        let body = InboundBody()
        body.append(Array(repeating: 0, count: 6))
        body.append(Array(repeating: 0, count: 6))
        body.finish()
        await #expect(throws: TooLarge.self) { try await body.collect(upTo: 10, tooLarge: TooLarge()) }
        let small = InboundBody()
        small.append([1, 2])
        small.finish()
        #expect(try await small.collect(upTo: 10, tooLarge: TooLarge()) == [1, 2])
        #expect(try await InboundBody.empty().collect(upTo: 0, tooLarge: TooLarge()) == [])
    }

    /// Every bodyless request shares one empty body: nothing the loop or a handler does changes it.
    @Test func theSharedEmptyBodyStaysEmpty() async throws {
        struct TooLarge: Error {}
        let shared = InboundBody.empty()
        #expect(shared === InboundBody.empty())
        shared.append([1, 2, 3])
        shared.fail(TooLarge())
        shared.finish()
        #expect(shared.bufferedBytes == 0)
        #expect(try await shared.next() == nil)
        #expect(try await InboundBody.empty().collect(upTo: 0, tooLarge: TooLarge()) == [])
    }

    @Test func cancellationWakesAWaitingReader() async throws {
        let body = InboundBody()
        let reader = Task { try await body.next() }
        try await Task.sleep(for: .milliseconds(20))
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
    }

    // MARK: Synchronous delivery

    /// What a consumer was handed, as text: "b1,2" for bytes, "r" resumed, "e" end, "f" failed.
    final class Record: @unchecked Sendable {
        let log = Locked<[String]>([])
        var entries: [String] { log.withLock { $0 } }
        func add(_ delivery: InboundBody.Delivery) {
            let text: String
            switch delivery {
            case .bytes(let chunk): text = "b" + chunk.map(String.init).joined(separator: ",")
            case .resumed: text = "r"
            case .end: text = "e"
            case .failed: text = "f"
            }
            log.withLock { $0.append(text) }
        }
    }

    @Test func deliveryHandsTheBufferedChunksThenTheArrivingOnesThenTheEnd() {
        let consumed = Locked(0)
        let body = InboundBody(softLimit: 100) { n in consumed.withLock { $0 += n } }
        body.append([1])
        body.append([2, 3])
        let record = Record()
        body.deliver { record.add($0); return true }
        #expect(record.entries == ["b1", "b2,3"])
        #expect(body.append([4]))
        body.finish()
        body.append([5])  // after the end: ignored
        #expect(record.entries == ["b1", "b2,3", "b4", "e"])
        #expect(consumed.withLock { $0 } == 4)
        #expect(body.bufferedBytes == 0)
    }

    /// A consumer that answers false gets nothing more until it asks; meanwhile chunks buffer and the
    /// feeder is stopped at the soft limit, and told once when there is room again.
    @Test func aConsumerThatHoldsBackStopsTheFeederUntilItResumes() {
        let regained = Locked(0)
        let body = InboundBody(softLimit: 4, roomRegained: { regained.withLock { $0 += 1 } })
        let record = Record()
        let holds = Locked(true)
        body.deliver { delivery in
            record.add(delivery)
            return !holds.withLock { $0 }
        }
        #expect(body.append([1]))  // handed over; the consumer holds back
        #expect(body.append([2, 3]))
        #expect(body.append([4, 5]) == false)  // 4 buffered: the feeder stops
        #expect(record.entries == ["b1"])
        #expect(regained.withLock { $0 } == 0)
        holds.withLock { $0 = false }
        body.resumeDelivery()
        #expect(record.entries == ["b1", "r", "b2,3", "b4,5"])
        #expect(regained.withLock { $0 } == 1)
        #expect(body.hasRoom)
        body.resumeDelivery()  // taking more already: just a resumed call
        #expect(record.entries == ["b1", "r", "b2,3", "b4,5", "r"])
    }

    /// The end and a failure wait behind a holding consumer like bytes; after the end the consumer
    /// is let go (a late resume finds nobody).
    @Test func theEndWaitsForAHoldingConsumerAndReleasesIt() {
        struct Gone: Error {}
        final class Owner: @unchecked Sendable { let record = Record() }
        weak var weakOwner: Owner?
        let body = InboundBody()
        do {
            let owner = Owner()
            weakOwner = owner
            body.deliver { delivery in
                owner.record.add(delivery)
                if case .resumed = delivery { return true }
                return false
            }
        }
        body.append([7])
        body.fail(Gone())  // drops the buffered bytes, not the hold
        #expect(weakOwner?.record.entries == ["b7"])
        body.resumeDelivery()
        #expect(weakOwner == nil)  // handed "r", then "f", then let go
        body.resumeDelivery()
    }

    /// A body that is already over hands its end at once, and keeps no consumer: the shared empty
    /// body serves every bodyless request.
    @Test func deliveryFromABodyAlreadyOverHandsOnlyTheEnd() {
        let record = Record()
        InboundBody.empty().deliver { record.add($0); return true }
        InboundBody.empty().deliver { record.add($0); return true }
        #expect(record.entries == ["e", "e"])
    }

    /// Chunks appended on one thread while two others resume a consumer that often holds back: every
    /// chunk arrives once, in order, and no two calls of the consumer overlap. Plain threads, not
    /// tasks: spinning loops must not take the test run's cooperative threads.
    @Test func deliveriesNeverOverlapAcrossThreads() {
        let body = InboundBody(softLimit: .max)
        let inside = Locked(0)
        let overlaps = Locked(0)
        let received = Locked<[UInt8]>([])
        let calls = Locked(0)
        body.deliver { delivery in
            if inside.withLock({ $0 += 1; return $0 }) > 1 { overlaps.withLock { $0 += 1 } }
            defer { inside.withLock { $0 -= 1 } }
            if case .bytes(let chunk) = delivery { received.withLock { $0 += chunk } }
            return calls.withLock { $0 += 1; return $0 } % 3 != 0  // hold back every third call
        }
        let total = 3_000
        let jobs: [@Sendable () -> Void] = [
            { for i in 0..<total { body.append([UInt8(truncatingIfNeeded: i)]) } },
            { for _ in 0..<total { body.resumeDelivery() } },
            { for _ in 0..<total { body.resumeDelivery() } },
        ]
        let done = DispatchGroup()
        for job in jobs {
            done.enter()
            Thread { job(); done.leave() }.start()
        }
        done.wait()
        while received.withLock({ $0.count }) < total { body.resumeDelivery() }
        #expect(overlaps.withLock { $0 } == 0)
        #expect(received.withLock { $0 } == (0..<total).map { UInt8(truncatingIfNeeded: $0) })
    }

    /// The waiting reader's path owes the stopped feeder the same single word.
    @Test func roomRegainedAfterAnAsyncReaderTakes() async throws {
        let regained = Locked(0)
        let body = InboundBody(softLimit: 2, roomRegained: { regained.withLock { $0 += 1 } })
        #expect(body.append([1, 2]) == false)
        #expect(body.hasRoom == false)
        #expect(regained.withLock { $0 } == 0)
        #expect(try await body.next() == [1, 2])
        #expect(regained.withLock { $0 } == 1)
        body.append([3])
        #expect(try await body.next() == [3])
        #expect(regained.withLock { $0 } == 1)  // the feeder was never refused again
    }
}
