import Foundation
import HTTPTypes
import Testing
@testable import SluiceCore

@Suite struct OutboundQueueTests {
    /// Counts wake-ups; the "loop" here is the test itself.
    final class WakeCounter: Sendable {
        let count = Locked(0)
        func wake() { count.withLock { $0 += 1 } }
    }

    @Test func wakesOnlyWhenGoingFromEmptyToNonEmpty() async throws {
        let counter = WakeCounter()
        let queue = OutboundQueue(watermarks: Watermarks(high: 1000, low: 100)) { counter.wake() }
        try await queue.write([1, 2, 3])
        try await queue.write([4])
        try await queue.write([5])
        #expect(counter.count.withLock { $0 } == 1)
        let items = queue.drain()
        #expect(items.count == 3)
        try await queue.write([6])
        #expect(counter.count.withLock { $0 } == 2)
        #expect(queue.pendingBytes == 6)  // drained bytes stay pending until acknowledged
        queue.acknowledge(6)
        #expect(queue.pendingBytes == 0)
    }

    @Test func writeSuspendsAboveHighWaterAndResumesAtLowWater() async throws {
        let queue = OutboundQueue(watermarks: Watermarks(high: 10, low: 4)) {}
        try await queue.write(Array(repeating: 0, count: 8))  // 8 <= 10: no wait
        let resumed = Locked(false)
        let writer = Task {
            try await queue.write(Array(repeating: 0, count: 8))  // 16 > 10: waits
            resumed.withLock { $0 = true }
        }
        // Wait (bounded) until the writer has queued and suspended; a busy machine may take a while.
        let deadline = ContinuousClock.now + .seconds(10)
        while queue.statistics.suspensions == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(resumed.withLock { $0 } == false)
        #expect(queue.statistics.suspensions == 1)
        #expect(queue.statistics.maxPendingBytes == 16)
        _ = queue.drain()
        queue.acknowledge(8)  // 8 pending: still above low water
        try await Task.sleep(for: .milliseconds(50))
        #expect(resumed.withLock { $0 } == false)
        queue.acknowledge(4)  // 4 pending: at low water
        try await writer.value
        #expect(resumed.withLock { $0 })
    }

    /// A frame copied with `acknowledging` leaves pending at once, and a writer waiting on it resumes.
    @Test func anAcknowledgingReadResumesAWaitingWriter() async throws {
        let queue = OutboundQueue(watermarks: Watermarks(high: 10, low: 4)) {}
        try await queue.write(Array(repeating: 1, count: 8))
        let writer = Task { try await queue.write(Array(repeating: 2, count: 8)) }  // 16 > 10: waits
        let deadline = ContinuousClock.now + .seconds(10)
        while queue.statistics.suspensions == 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        var frame = [UInt8](repeating: 0, count: 6)
        let (n, _, _) = try frame.withUnsafeMutableBytes { try queue.read(into: $0, acknowledging: true) }
        #expect(n == 6 && frame == Array(repeating: 1, count: 6) && queue.pendingBytes == 10)
        let (m, _, _) = try frame.withUnsafeMutableBytes { try queue.read(into: $0, acknowledging: true) }
        #expect(m == 6 && frame == [1, 1, 2, 2, 2, 2] && queue.pendingBytes == 4)  // at low water
        try await writer.value
        let (k, _, _) = try frame.withUnsafeMutableBytes { try queue.read(into: $0) }  // not acknowledged
        #expect(k == 4 && queue.pendingBytes == 4)
    }

    /// A whole response in one step: its parts in order, then the end; one wake-up; nothing more after.
    @Test func aWholeBodyIsQueuedInOneStep() throws {
        let counter = WakeCounter()
        let queue = OutboundQueue(watermarks: Watermarks(high: 4, low: 0)) { counter.wake() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-whole-\(UInt32.random(in: 0...UInt32.max))").path
        try "file!".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try queue.pushWhole(head: Array("head ".utf8), bytes: Array("body ".utf8), file: FileRegion(takingOwnershipOf: fd, count: 5))
        #expect(counter.count.withLock { $0 } == 1)
        #expect(queue.pendingBytes == 15 && queue.isFinished)  // above high water, yet nothing waited
        var frame = [UInt8](repeating: 0, count: 32)
        let (n, ended, _) = try frame.withUnsafeMutableBytes { try queue.read(into: $0) }
        #expect(n == 15 && ended && String(decoding: frame.prefix(n), as: UTF8.self) == "head body file!")
        #expect(throws: OutboundClosedError.self) { try queue.pushWhole(bytes: [1], file: nil) }
        let closed = OutboundQueue {}
        closed.close(reason: "gone")
        #expect(throws: OutboundClosedError.self) { try closed.pushWhole(bytes: [1], file: nil) }
        #expect(closed.isEmpty)
    }

    @Test func closeFailsWaitersAndLaterWrites() async throws {
        let queue = OutboundQueue(watermarks: Watermarks(high: 1, low: 0)) {}
        let writer = Task { try await queue.write([1, 2, 3]) }
        try await Task.sleep(for: .milliseconds(20))
        queue.close(reason: "peer closed")
        await #expect(throws: OutboundClosedError.self) { try await writer.value }
        await #expect(throws: OutboundClosedError.self) { try await queue.write([1]) }
        #expect(queue.drain().isEmpty)
    }

    @Test func cancellationWakesASuspendedWriter() async throws {
        let queue = OutboundQueue(watermarks: Watermarks(high: 1, low: 0)) {}
        let writer = Task { try await queue.write([1, 2, 3]) }
        try await Task.sleep(for: .milliseconds(20))
        writer.cancel()
        await #expect(throws: CancellationError.self) { try await writer.value }
    }

    @Test func finishQueuesEndAfterBytes() async throws {
        let queue = OutboundQueue {}
        try await queue.write([1])
        queue.finish()
        let items = queue.drain()
        #expect(items.count == 2)
        if case .end = items[1] {} else { Issue.record("expected end last") }
    }

    @Test func readFillsFramesAcrossChunksInOrder() async throws {
        let queue = OutboundQueue {}
        try await queue.write([1, 2, 3, 4, 5])
        try await queue.write([6, 7])
        queue.finish(trailers: [.contentType: "x"])
        var body: [UInt8] = []
        var frame = [UInt8](repeating: 0, count: 3)
        var frames: [Int] = []
        var trailers: HTTPFields?
        while true {
            let (n, ended, t) = try frame.withUnsafeMutableBytes { try queue.read(into: $0) }
            body += frame[..<n]
            frames.append(n)
            if ended { trailers = t; break }
        }
        // Frames are filled across chunk boundaries (3, 3, then the last 1 with the end).
        #expect(frames == [3, 3, 1])
        #expect(body == [1, 2, 3, 4, 5, 6, 7])
        #expect(trailers?[.contentType] == "x")
        #expect(queue.pendingBytes == 7)  // until acknowledged
        // A partly read chunk drains from where reading stopped.
        let second = OutboundQueue {}
        try await second.write([8, 9, 10])
        var two = [UInt8](repeating: 0, count: 2)
        _ = try two.withUnsafeMutableBytes { try second.read(into: $0) }
        guard case .bytes(let rest) = try #require(second.drain().first) else { Issue.record("expected bytes"); return }
        #expect(two == [8, 9] && rest == [10])
    }

    @Test func peekSizesFramesAsReadWouldWithoutTakingAnything() async throws {
        let queue = OutboundQueue {}
        try await queue.write([1, 2, 3, 4, 5])
        try await queue.write([6, 7])
        // Sized, then read, frame by frame (nghttp2's NO_COPY order); peeking twice changes nothing.
        var frame = [UInt8](repeating: 0, count: 3)
        let first = queue.peek(upTo: 3)
        #expect(first.count == 3 && !first.ended)
        #expect(queue.peek(upTo: 3).count == 3)
        _ = try frame.withUnsafeMutableBytes { try queue.read(into: $0, takingEnd: first.ended) }
        #expect(frame == [1, 2, 3])
        // Across the chunk boundary: 4, 5 | 6.
        #expect(queue.peek(upTo: 3).count == 3)
        _ = try frame.withUnsafeMutableBytes { try queue.read(into: $0, takingEnd: false) }
        #expect(frame == [4, 5, 6])
        // Sized before the end arrives: the end that arrives between sizing and reading stays queued
        // for the next frame instead of being swallowed by this one.
        let last = queue.peek(upTo: 3)
        #expect(last.count == 1 && !last.ended)
        queue.finish(trailers: [.contentType: "x"])
        var one = [UInt8](repeating: 0, count: 1)
        let read = try one.withUnsafeMutableBytes { try queue.read(into: $0, takingEnd: last.ended) }
        #expect(read.count == 1 && !read.ended && one == [7])
        let end = queue.peek(upTo: 3)
        #expect(end.count == 0 && end.ended && end.trailers?[.contentType] == "x")
        let taken = try queue.read(into: UnsafeMutableRawBufferPointer(start: nil, count: 0), takingEnd: true)
        #expect(taken.ended && queue.isEmpty)
    }

    /// A file of `bytes` in the temporary folder, opened for reading (the caller's region owns it).
    static func openTemporaryFile(_ bytes: [UInt8]) throws -> Int32 {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-region-\(UInt32.random(in: 0...UInt32.max))").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        return fd
    }

    @Test func fileRegionsAreReadInOrderWithBytesAndCountAsPending() async throws {
        let counter = WakeCounter()
        let queue = OutboundQueue(watermarks: Watermarks(high: 4, low: 2)) { counter.wake() }
        let fd = try Self.openTemporaryFile(Array(0..<100))
        try await queue.write([200, 201])
        // Bytes 10..<17 of the file: a region far above the high-water mark does not make its writer wait.
        try queue.write(file: FileRegion(takingOwnershipOf: fd, offset: 10, count: 7))
        #expect(queue.pendingBytes == 9 && queue.statistics.suspensions == 0)
        // The region's bytes count as pending: a write after it would wait for them to go out.
        #expect(try queue.push([202]))
        queue.finish()
        #expect(counter.count.withLock { $0 } == 1)
        // Frames of 4 cross from bytes into the file and out again, as read and as peeked.
        var frame = [UInt8](repeating: 0, count: 4)
        var body: [UInt8] = []
        var sizes: [Int] = []
        while true {
            let sized = queue.peek(upTo: 4)
            let (n, ended, _) = try frame.withUnsafeMutableBytes { try queue.read(into: $0, takingEnd: sized.ended) }
            #expect(n == sized.count)
            body += frame[..<n]
            sizes.append(n)
            if ended { break }
        }
        #expect(sizes == [4, 4, 2])
        #expect(body == [200, 201, 10, 11, 12, 13, 14, 15, 16, 202])
        // A region partly read drains as what is left of it, sharing the descriptor.
        let second = OutboundQueue {}
        try second.write(file: FileRegion(takingOwnershipOf: try Self.openTemporaryFile(Array(0..<10)), count: 10))
        var three = [UInt8](repeating: 0, count: 3)
        _ = try three.withUnsafeMutableBytes { try second.read(into: $0) }
        guard case .file(let rest) = try #require(second.drain().first) else { Issue.record("expected a file"); return }
        #expect(three == [0, 1, 2] && rest.offset == 3 && rest.count == 7)
        var tail = [UInt8](repeating: 0, count: 7)
        try tail.withUnsafeMutableBytes { try rest.read(at: 0, into: $0) }
        #expect(tail == Array(3..<10))
    }

    @Test func drainingWithAFileLimitTakesALongRegionAPieceAtATime() async throws {
        let queue = OutboundQueue {}
        try await queue.write([1])
        try queue.write(file: FileRegion(takingOwnershipOf: try Self.openTemporaryFile(Array(0..<10)), count: 10))
        try await queue.write([2])
        queue.finish()
        var pieces: [[UInt8]] = []
        var ended = false
        while !ended {
            // Each batch ends with a piece of at most 4 bytes of the file, or runs to the end.
            for item in queue.drain(fileLimit: 4) {
                switch item {
                case .bytes(let bytes): pieces.append(bytes)
                case .file(let region):
                    #expect(region.count <= 4)
                    var bytes = [UInt8](repeating: 0, count: region.count)
                    try bytes.withUnsafeMutableBytes { try region.read(at: 0, into: $0) }
                    pieces.append(bytes)
                case .end: ended = true
                }
            }
        }
        #expect(pieces == [[1], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [2]])
        #expect(queue.isEmpty)
    }

    @Test func aFileShorterThanItsRegionFailsTheReadAndTheDescriptorClosesWithTheLastRegion() async throws {
        let fd = try Self.openTemporaryFile(Array(0..<5))
        // Tests run in parallel and may reuse the number at once, and a freed inode number too (the
        // file is unlinked, and the next temporary file can get it): the link /proc keeps for the
        // descriptor names the file (its random name) and says whether it still refers to it.
        func inode() -> String? {
            var target = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
            return n > 0 ? String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        }
        let original = inode()
        do {
            let queue = OutboundQueue {}
            try queue.write(file: FileRegion(takingOwnershipOf: fd, count: 8))  // 3 bytes more than the file has
            var frame = [UInt8](repeating: 0, count: 8)
            #expect(throws: FileRegionError.self) { try frame.withUnsafeMutableBytes { try queue.read(into: $0) } }
            #expect(inode() == original)  // still held by the queue
            queue.close(reason: "test")
        }
        #expect(original != nil && inode() != original)
        // An empty region is nothing to send.
        let empty = OutboundQueue {}
        try empty.write(file: FileRegion(takingOwnershipOf: try Self.openTemporaryFile([]), count: 0))
        #expect(empty.isEmpty && empty.pendingBytes == 0)
    }
}
