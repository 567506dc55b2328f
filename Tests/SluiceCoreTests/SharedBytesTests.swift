import CLibevent
import Foundation
import Testing
@testable import SluiceCore

/// File regions whose bytes are kept in memory: read from there, appended to an output by reference
/// (held until written), and taken from a queue frame by frame without a copy.
@Suite struct SharedBytesTests {
    static func shared(_ bytes: [UInt8]) -> SharedBytes {
        SharedBytes(count: bytes.count) { $0.copyBytes(from: bytes) }
    }

    /// A region of a file whose bytes are `memory` (the file itself holds `onDisk`, so a read that
    /// went to the file would show it).
    static func region(onDisk: [UInt8], memory: [UInt8], offset: Int = 0, count: Int) throws -> FileRegion {
        let fd = try OutboundQueueTests.openTemporaryFile(onDisk)
        return FileRegion(takingOwnershipOf: fd, offset: offset, count: count).keeping(shared(memory))
    }

    static func bytes(of output: OpaquePointer) -> [UInt8] {
        let count = evbuffer_get_length(output)
        var bytes = [UInt8](repeating: 0, count: count)
        _ = bytes.withUnsafeMutableBytes { evbuffer_copyout(output, $0.baseAddress, count) }
        return bytes
    }

    @Test func aRegionKeptInMemoryIsReadFromThereAndItsSlicesToo() throws {
        let memory = (0..<64).map { UInt8($0) }
        let region = try Self.region(onDisk: [UInt8](repeating: 0xEE, count: 64), memory: memory, offset: 8, count: 40)
        var got = [UInt8](repeating: 0, count: 10)
        try got.withUnsafeMutableBytes { try region.read(at: 2, into: $0) }
        #expect(got == Array(10..<20))
        let slice = region.dropFirst(30).prefix(5)
        #expect(slice.inMemory != nil)
        var five = [UInt8](repeating: 0, count: 5)
        try five.withUnsafeMutableBytes { try slice.read(at: 0, into: $0) }
        #expect(five == Array(38..<43))
        // Resized (a file changed in place) or from disk: the file's own bytes again.
        for onDisk in [region.resized(to: 40), region.fromDisk] {
            #expect(onDisk.inMemory == nil)
            try five.withUnsafeMutableBytes { try onDisk.read(at: 0, into: $0) }
            #expect(five == [UInt8](repeating: 0xEE, count: 5))
        }
    }

    /// A large region goes into an output by reference: the bytes stay alive while libevent holds
    /// them, even with every region gone, and are let go once drained.
    @Test func anOutputHoldsReferencedBytesUntilItHasLetThemGo() throws {
        let memory = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let output = try #require(evbuffer_new())
        defer { evbuffer_free(output) }
        weak var kept: SharedBytes?
        do {
            let region = try Self.region(onDisk: [UInt8](repeating: 0, count: 20_000), memory: memory, offset: 100, count: 19_000)
            kept = region.inMemory
            try region.append(to: output, sendfile: true)
            // A small one is copied: the output holds no reference for it.
            try region.prefix(FileRegion.referenceMinimum - 1).append(to: output, sendfile: true)
        }
        #expect(kept != nil)
        #expect(Self.bytes(of: output) == Array(memory[100..<19_100]) + Array(memory[100..<100 + FileRegion.referenceMinimum - 1]))
        evbuffer_drain(output, 10_000)
        #expect(kept != nil)
        evbuffer_drain(output, evbuffer_get_length(output))
        #expect(kept == nil)
    }

    /// A frame's bytes lying in one region kept in memory are taken without a copy (acknowledged
    /// at once, the end with the last of them); bytes anywhere else are left to `read(into:)`.
    @Test func aQueueHandsOutBytesKeptInMemoryFrameByFrame() async throws {
        let memory = (0..<100).map { UInt8($0) }
        let queue = OutboundQueue(watermarks: Watermarks(high: 64, low: 8)) {}
        try await queue.write([1, 2, 3])
        try queue.write(file: try Self.region(onDisk: [UInt8](repeating: 0, count: 100), memory: memory, offset: 10, count: 50))
        queue.finish()
        #expect(queue.takeInMemory(2) == nil)  // the array's bytes come first
        var three = [UInt8](repeating: 0, count: 3)
        _ = try three.withUnsafeMutableBytes { try queue.read(into: $0, takingEnd: false, acknowledging: true) }
        #expect(three == [1, 2, 3] && queue.pendingBytes == 50)
        #expect(queue.takeInMemory(51) == nil)  // more than the region holds
        var taken: [UInt8] = []
        var sizes: [Int] = []
        while true {
            let sized = queue.peek(upTo: 16)
            let frame = try #require(queue.takeInMemory(sized.count, takingEnd: sized.ended))
            taken += UnsafeRawBufferPointer(start: frame.bytes.base + frame.offset, count: sized.count)
            sizes.append(sized.count)
            if frame.ended { break }
        }
        #expect(sizes == [16, 16, 16, 2])
        #expect(taken == Array(10..<60) && queue.pendingBytes == 0 && queue.isEmpty)
    }

    /// Without `takingEnd` the end marker stays queued, for a frame sized before it arrived.
    @Test func theEndStaysQueuedUnlessTaken() throws {
        let queue = OutboundQueue {}
        try queue.write(file: try Self.region(onDisk: [0, 0, 0, 0], memory: [5, 6, 7, 8], count: 4))
        queue.finish()
        let frame = try #require(queue.takeInMemory(4, takingEnd: false))
        #expect(!frame.ended && !queue.isEmpty)
        let end = try queue.read(into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        #expect(end.ended && queue.isEmpty)
    }
}
