import CLibevent
import Foundation
import Testing
@testable import SluiceCore

@Suite struct ReadThroughTests {
    /// A bufferevent read by a ReadThrough on one end of a socket pair; the test writes the other end.
    /// The read callback drains what arrived unless `holding` (then the input fills up).
    final class Reader: @unchecked Sendable {
        let loop: EventLoop
        var bev: OpaquePointer!
        var reads: ReadThrough!
        let peer: Int32
        let received = Locked<[UInt8]>([])
        let callbacks = Locked(0)
        let events = Locked<[Int16]>([])
        let holding = Locked(false)
        let largestInput = Locked(0)

        init(loop: EventLoop, highWatermark: Int = 0) {
            self.loop = loop
            let (mine, peer) = makeSocketPair()
            self.peer = peer
            onLoop {
                let me = Unmanaged.passUnretained(self).toOpaque()
                self.bev = bufferevent_socket_new(loop.base, mine, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
                bufferevent_setcb(self.bev, { bev, ctx in
                    Unmanaged<Reader>.fromOpaque(ctx!).takeUnretainedValue().readable(bev!)
                }, nil, { _, what, ctx in
                    Unmanaged<Reader>.fromOpaque(ctx!).takeUnretainedValue().events.withLock { $0.append(what) }
                }, me)
                if highWatermark > 0 { bufferevent_setwatermark(self.bev, Int16(EV_READ), 0, highWatermark) }
                WriteThrough(enabled: true).start(self.bev)
                self.reads = ReadThrough(self.bev)
                self.reads.start()
            }
        }

        private func readable(_ bev: OpaquePointer) {
            callbacks.withLock { $0 += 1 }
            let input = bufferevent_get_input(bev)
            let length = evbuffer_get_length(input)
            largestInput.withLock { $0 = max($0, length) }
            if holding.withLock({ $0 }) { return }
            drain(input!, length)
        }

        private func drain(_ input: OpaquePointer, _ length: Int) {
            var bytes = [UInt8](repeating: 0, count: length)
            _ = bytes.withUnsafeMutableBytes { evbuffer_remove(input, $0.baseAddress, length) }
            received.withLock { $0 += bytes }
        }

        /// Stops holding and drains what waits, as a connection does once its handler catches up.
        func release() {
            holding.withLock { $0 = false }
            onLoop {
                let input = bufferevent_get_input(self.bev)
                self.drain(input!, evbuffer_get_length(input))
            }
        }

        func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T { loop.runAndWait(body) }

        func waitFor(_ condition: @escaping @Sendable () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        }

        func close() {
            onLoop {
                self.reads.close()
                bufferevent_free(self.bev)
            }
            Glibc.close(peer)
        }
    }

    /// Bytes written from another thread, to a peer that may not take them all at once.
    static func send(_ bytes: [UInt8], to fd: Int32) -> Thread {
        let thread = Thread {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n > 0 { offset += n } else if errno != EINTR && errno != EAGAIN { return }
            }
        }
        thread.start()
        return thread
    }

    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) } }

    /// Runs `body` with a reader on a running loop; closes both after.
    static func withReader(highWatermark: Int = 0, _ body: (Reader) async throws -> Void) async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let reader = Reader(loop: loop, highWatermark: highWatermark)
        defer { reader.close() }
        try await body(reader)
    }

    @Test func everyByteArrivesInOrderThroughTheReadCallback() async throws {
        try await Self.withReader { reader in
            let bytes = Self.pattern(4 << 20)
            _ = Self.send(bytes, to: reader.peer)
            try await reader.waitFor { reader.received.withLock { $0.count } >= bytes.count }
            #expect(reader.received.withLock { $0 } == bytes)
            // libevent's own read takes 4 KiB at a time (1,024 callbacks for 4 MiB); these take far more.
            #expect(reader.callbacks.withLock { $0 } < 512)
            #expect(reader.events.withLock { $0 }.isEmpty)
        }
    }

    @Test func theEndIsReportedAfterTheLastBytes() async throws {
        try await Self.withReader { reader in
            #expect(write(reader.peer, "last words", 10) == 10)
            shutdown(reader.peer, Int32(SHUT_WR))
            try await reader.waitFor { !reader.events.withLock { $0 }.isEmpty }
            #expect(String(decoding: reader.received.withLock { $0 }, as: UTF8.self) == "last words")
            #expect(reader.events.withLock { $0 } == [Int16(BEV_EVENT_EOF | BEV_EVENT_READING)])
        }
    }

    /// A reader that stops draining (a handler behind) leaves at most the high watermark in the input,
    /// and reading resumes when it drains.
    @Test func readingStopsAtTheHighWatermarkAndResumesOnceDrained() async throws {
        let high = 100_000
        try await Self.withReader(highWatermark: high) { reader in
            reader.holding.withLock { $0 = true }
            let bytes = Self.pattern(2 << 20)
            _ = Self.send(bytes, to: reader.peer)
            try await reader.waitFor { reader.largestInput.withLock { $0 } >= high }
            // Settled: the reader stopped at the mark, the rest waits in the socket and the writer.
            try await Task.sleep(for: .milliseconds(200))
            #expect(reader.largestInput.withLock { $0 } == high)
            #expect(reader.onLoop { evbuffer_get_length(bufferevent_get_input(reader.bev)) } == high)
            reader.release()
            try await reader.waitFor { reader.received.withLock { $0.count } >= bytes.count }
            #expect(reader.received.withLock { $0 } == bytes)
        }
    }

    @Test func aStoppedReaderReadsNothingUntilStarted() async throws {
        try await Self.withReader { reader in
            reader.onLoop { reader.reads.stop() }
            #expect(write(reader.peer, "held", 4) == 4)
            try await Task.sleep(for: .milliseconds(100))
            #expect(reader.received.withLock { $0 }.isEmpty)
            reader.onLoop { reader.reads.start() }
            try await reader.waitFor { reader.received.withLock { $0.count } == 4 }
            #expect(String(decoding: reader.received.withLock { $0 }, as: UTF8.self) == "held")
        }
    }
}
