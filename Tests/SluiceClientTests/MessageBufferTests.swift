import SluiceCore
import Testing
@testable import SluiceClient

@Suite struct MessageBufferTests {
    @Test func dropOldestKeepsTheLatestAndCounts() async {
        let signals = Locked<[MessageBuffer<Int>.Signal]>([])
        let buffer = MessageBuffer<Int>(maxSize: 3, strategy: .dropOldest, highWaterMark: 2) { s in signals.withLock { $0.append(s) } }
        for i in 1...5 { await buffer.put(i) }
        #expect(buffer.droppedCount == 2)
        #expect(await buffer.take() == 3)
        #expect(await buffer.take() == 4)
        #expect(await buffer.take() == 5)
        #expect(signals.withLock { $0 } == [.backpressure, .drain])
    }

    @Test func dropNewestKeepsWhatIsBuffered() async {
        let buffer = MessageBuffer<Int>(maxSize: 2, strategy: .dropNewest)
        for i in 1...4 { await buffer.put(i) }
        #expect(buffer.droppedCount == 2)
        buffer.finish()
        #expect(await buffer.take() == 1)
        #expect(await buffer.take() == 2)
        #expect(await buffer.take() == nil)
    }

    @Test func blockWaitsForRoomAndLosesNothing() async throws {
        let buffer = MessageBuffer<Int>(maxSize: 2, strategy: .block)
        let producer = Task { for i in 1...100 { await buffer.put(i) }; buffer.finish() }
        try await Task.sleep(for: .milliseconds(20))
        #expect(buffer.count == 2)  // the producer is parked, not dropping
        var got: [Int] = []
        while let next = await buffer.take() { got.append(next) }
        await producer.value
        #expect(got == Array(1...100))
        #expect(buffer.droppedCount == 0)
    }

    /// A producer blocked on a full buffer is told of room once half of it is free, not per slot: a
    /// loop-side producer then refills a batch per wake-up.
    @Test func aBlockedOfferHearsOfRoomOnceHalfTheBufferIsFree() async {
        let buffer = MessageBuffer<Int>(maxSize: 4, strategy: .block)
        for i in 1...4 { #expect(buffer.offer(i)) }
        let told = Locked(0)
        #expect(!buffer.offer(5) { told.withLock { $0 += 1 } })
        #expect(await buffer.take() == 1)
        #expect(told.withLock { $0 } == 0)  // three still buffered
        #expect(await buffer.take() == 2)
        #expect(told.withLock { $0 } == 1)  // two of four: half free
        #expect(buffer.offer(5) && buffer.offer(6) && !buffer.offer(7))
    }

    /// A batch goes in under one offer: a reader already waiting gets the first, the rest are
    /// buffered; a full `.block` buffer takes what fits and promises room for the rest.
    @Test func aBatchOfferWakesAWaitingReaderOnceAndStopsWhereABlockBufferIsFull() async throws {
        let buffer = MessageBuffer<Int>(maxSize: 3, strategy: .block)
        let reader = Task { await buffer.take() }
        while !buffer.hasWaitingReader { try await Task.sleep(for: .milliseconds(1)) }
        let told = Locked(0)
        #expect(buffer.offer(contentsOf: [1, 2, 3, 4, 5]) { told.withLock { $0 += 1 } } == 4)  // 1 handed over, 2...4 stored
        #expect(await reader.value == 1 && buffer.count == 3 && told.withLock { $0 } == 0)
        #expect(await buffer.take() == 2)
        #expect(await buffer.take() == 3)
        #expect(told.withLock { $0 } == 1)
        #expect(buffer.offer(contentsOf: [5]) == 1)
        buffer.finish()
        #expect(await buffer.take() == 4)
        #expect(await buffer.take() == 5)
        #expect(await buffer.take() == nil)
    }

    @Test func unlimitedNeverDrops() async {
        let buffer = MessageBuffer<Int>(maxSize: 1, strategy: .unlimited)
        for i in 1...50 { await buffer.put(i) }
        #expect(buffer.count == 50)
        #expect(buffer.droppedCount == 0)
    }
}
