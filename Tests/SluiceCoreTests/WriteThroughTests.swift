import CLibevent
import Foundation
import Testing
@testable import SluiceCore

@Suite struct WriteThroughTests {
    /// A bufferevent on one end of a socket pair, made and used on `loop`; the other end is the peer.
    final class Pair: @unchecked Sendable {
        let loop: EventLoop
        var bev: OpaquePointer!
        let peer: Int32
        let writes: WriteThrough
        let drained = Locked(0)

        init(loop: EventLoop, sendBuffer: Int32? = nil, writeThrough: Bool = true) {
            self.loop = loop
            writes = WriteThrough(enabled: writeThrough)
            let (mine, peer) = makeSocketPair()
            self.peer = peer
            if var size = sendBuffer {
                setsockopt(mine, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            onLoop {
                let me = Unmanaged.passUnretained(self).toOpaque()
                self.bev = bufferevent_socket_new(loop.base, mine, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
                bufferevent_setcb(self.bev, nil, { bev, ctx in
                    let pair = Unmanaged<Pair>.fromOpaque(ctx!).takeUnretainedValue()
                    pair.writes.written(bev!)
                    pair.drained.withLock { $0 += 1 }
                }, nil, me)
                self.writes.start(self.bev)
            }
        }

        func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T { loop.runAndWait(body) }

        var writingEnabled: Bool { onLoop { bufferevent_get_enabled(self.bev) & Int16(EV_WRITE) != 0 } }

        func close() {
            onLoop { bufferevent_free(self.bev) }
            Glibc.close(peer)
        }
    }

    @Test func flushWritesAtOnceWithoutArmingTheWriteEvent() throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let pair = Pair(loop: loop)
        defer { pair.close() }
        #expect(!pair.writingEnabled)
        let emptied = pair.onLoop {
            let bytes = Array("hello".utf8)
            evbuffer_add(bufferevent_get_output(pair.bev), bytes, bytes.count)
            return pair.writes.flush(pair.bev)
        }
        #expect(emptied)
        #expect(!pair.writingEnabled)
        // Already in the peer's socket: no loop turn was needed.
        var received = [UInt8](repeating: 0, count: 16)
        let n = recv(pair.peer, &received, received.count, Int32(MSG_DONTWAIT))
        #expect(Array(received.prefix(max(n, 0))) == Array("hello".utf8))
    }

    @Test func whatTheSocketDoesNotTakeLibeventWritesThenWritingStopsAgain() throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let pair = Pair(loop: loop, sendBuffer: 16 * 1024)
        defer { pair.close() }
        let total = 4 << 20
        let payload = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 13) }
        let emptied = pair.onLoop {
            evbuffer_add(bufferevent_get_output(pair.bev), payload, payload.count)
            return pair.writes.flush(pair.bev)
        }
        #expect(!emptied)
        #expect(pair.writingEnabled)
        // The peer reads everything, in order, while the loop writes the rest.
        var received: [UInt8] = []
        received.reserveCapacity(total)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while received.count < total {
            let n = recv(pair.peer, &chunk, chunk.count, 0)
            try #require(n > 0)
            received.append(contentsOf: chunk[..<n])
        }
        #expect(received == payload)
        for _ in 0..<200 where pair.writingEnabled { usleep(5000) }
        #expect(!pair.writingEnabled)
        #expect(pair.drained.withLock { $0 } >= 1)
    }

    @Test func tlsBuffereventsAreLeftToLibevent() throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let pair = Pair(loop: loop, writeThrough: false)
        defer { pair.close() }
        #expect(pair.writingEnabled)
        let emptied = pair.onLoop {
            let bytes = Array("x".utf8)
            evbuffer_add(bufferevent_get_output(pair.bev), bytes, bytes.count)
            return pair.writes.flush(pair.bev)
        }
        #expect(!emptied)  // not written here: libevent's write event does it
        var byte: UInt8 = 0
        #expect(recv(pair.peer, &byte, 1, 0) == 1)
        #expect(pair.writingEnabled)  // and libevent keeps writing
    }

    @Test func deferredWritersRunOnceAfterTheJobsOfTheirTurn() async throws {
        final class Recorder: DeferredWriter, @unchecked Sendable {
            let log = Locked<[String]>([])
            var requested = false
            func writeQueuedOutput() {
                requested = false
                log.withLock { $0.append("write") }
            }
        }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let recorder = Recorder()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                // Three jobs queued together ask for one write; it comes after all three.
                for name in ["a", "b", "c"] {
                    loop.execute {
                        recorder.log.withLock { $0.append(name) }
                        if !recorder.requested {
                            recorder.requested = true
                            loop.writeSoon(recorder)
                        }
                    }
                }
                loop.execute { loop.execute { done.resume() } }
            }
        }
        #expect(recorder.log.withLock { $0 } == ["a", "b", "c", "write"])
    }
    /// A long batch of jobs writes as it goes, every ``EventLoop/jobsPerWrite`` jobs: the first
    /// subscribers of a fan-out get their event while the loop still serves the others.
    @Test func aLongBatchWritesEveryFewJobs() async throws {
        final class Recorder: DeferredWriter, @unchecked Sendable {
            let name: Int
            let log: Locked<[String]>
            init(_ name: Int, _ log: Locked<[String]>) { (self.name, self.log) = (name, log) }
            func writeQueuedOutput() { log.withLock { $0.append("write \(name)") } }
        }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let log = Locked<[String]>([])
        let per = EventLoop.jobsPerWrite
        let count = per * 2 + 3
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                for n in 0..<count {
                    let recorder = Recorder(n, log)
                    loop.execute {
                        log.withLock { $0.append("job \(n)") }
                        loop.writeSoon(recorder)
                    }
                }
                loop.execute { loop.execute { done.resume() } }
            }
        }
        var expected: [String] = []
        for start in stride(from: 0, to: count, by: per) {
            let slice = start..<min(start + per, count)
            expected += slice.map { "job \($0)" } + slice.map { "write \($0)" }
        }
        #expect(log.withLock { $0 } == expected)
    }
}
