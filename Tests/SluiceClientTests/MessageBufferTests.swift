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

    @Test func unlimitedNeverDrops() async {
        let buffer = MessageBuffer<Int>(maxSize: 1, strategy: .unlimited)
        for i in 1...50 { await buffer.put(i) }
        #expect(buffer.count == 50)
        #expect(buffer.droppedCount == 0)
    }
}
