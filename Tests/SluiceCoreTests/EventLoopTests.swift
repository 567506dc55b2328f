import CLibevent
import Foundation
import Testing
@testable import SluiceCore

@Suite struct EventLoopTests {
    @Test func executeRunsOnTheLoopThreadInOrder() async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let seen = Locked<[Int]>([])
        let onLoop = Locked(true)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            for i in 0..<1000 {
                loop.execute {
                    if !loop.inLoop { onLoop.withLock { $0 = false } }
                    seen.withLock { $0.append(i) }
                    if i == 999 { done.resume() }
                }
            }
        }
        #expect(seen.withLock { $0 } == Array(0..<1000))
        #expect(onLoop.withLock { $0 })
        #expect(!loop.inLoop)
    }

    @Test func jobsFromManyThreadsAllRun() async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let count = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        for i in 0..<500 {
                            loop.execute {
                                count.withLock { $0 += 1 }
                                if i == 499 { done.resume() }
                            }
                        }
                    }
                }
            }
        }
        #expect(count.withLock { $0 } == 4000)
    }

    @Test func timerFiresOnceAndCanBeCancelled() async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let fired = Locked(0)
        let timers = UnsafeSendable(Locked<[LoopTimer]>([]))
        loop.execute {
            let a = LoopTimer(loop: loop)
            a.schedule(after: .milliseconds(20)) { fired.withLock { $0 += 1 } }
            let b = LoopTimer(loop: loop)
            b.schedule(after: .milliseconds(20)) { fired.withLock { $0 += 100 } }
            b.cancel()
            timers.value.withLock { $0 = [a, b] }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(fired.withLock { $0 } == 1)
        let done = Locked(false)
        loop.execute { timers.value.withLock { $0 = [] }; done.withLock { $0 = true } }
        while !done.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
    }

    /// Another thread re-arming the wake-up faster than the jobs run (a publisher resuming many
    /// readers) must not keep the loop from polling: a timer still fires.
    @Test func aStreamOfJobsFromAnotherThreadDoesNotStarveTimers() async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let stop = Locked(false)
        let outstanding = Locked(0)
        // Keeps about 2,000 small jobs queued at all times, refilling as fast as the loop runs them.
        let feeder = Thread {
            while !stop.withLock({ $0 }) {
                if outstanding.withLock({ $0 }) > 2000 { continue }
                outstanding.withLock { $0 += 1 }
                loop.execute { for _ in 0..<50 { _ = stop.withLock { $0 } }; outstanding.withLock { $0 -= 1 } }
            }
        }
        feeder.start()
        defer { stop.withLock { $0 = true } }
        let fired = Locked(false)
        let timer = UnsafeSendable(Locked<LoopTimer?>(nil))
        loop.execute {
            let t = LoopTimer(loop: loop)
            t.schedule(after: .milliseconds(10)) { fired.withLock { $0 = true } }
            timer.value.withLock { $0 = t }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while !fired.withLock({ $0 }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(fired.withLock { $0 }, "the timer never fired while jobs kept coming")
        stop.withLock { $0 = true }
        loop.execute { timer.value.withLock { $0 = nil } }
    }

    /// A writer with output left asks again from its own write-out (a fast stream): it waits for the
    /// next turn, so a socket that became readable is still served.
    @Test func aWriterAskingAgainDoesNotStarveSockets() async throws {
        final class Writer: DeferredWriter, @unchecked Sendable {
            let loop: EventLoop
            let stop: Locked<Bool>
            let turns = Locked(0)
            init(loop: EventLoop, stop: Locked<Bool>) { self.loop = loop; self.stop = stop }
            func writeQueuedOutput() {
                turns.withLock { $0 += 1 }
                if !stop.withLock({ $0 }) { loop.writeSoon(self) }
            }
        }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let stop = Locked(false)
        let writer = Writer(loop: loop, stop: stop)
        let socket = loop.runAndWait { () -> WatchedSocket in
            defer { loop.writeSoon(writer) }
            return WatchedSocket(loop: loop)
        }
        defer { socket.close() }
        while writer.turns.withLock({ $0 }) < 100 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(socket.poke())
        #expect(try await socket.waitUntilServed(), "the socket was never read while a writer kept asking")
        stop.withLock { $0 = true }
    }

    /// A job that queues itself again from the loop (tasks handing work to each other without end)
    /// still lets the loop poll: a socket that became readable is served.
    @Test func aJobQueueingItselfAgainDoesNotStarveSockets() async throws {
        final class Requeue: @unchecked Sendable {
            let loop: EventLoop
            let stop = Locked(false)
            let runs = Locked(0)
            init(loop: EventLoop) { self.loop = loop }
            func run() {
                runs.withLock { $0 += 1 }
                if !stop.withLock({ $0 }) { loop.execute { self.run() } }
            }
        }
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let requeue = Requeue(loop: loop)
        let socket = loop.runAndWait { () -> WatchedSocket in
            defer { requeue.run() }
            return WatchedSocket(loop: loop)
        }
        defer { socket.close() }
        while requeue.runs.withLock({ $0 }) < 100 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(socket.poke())
        #expect(try await socket.waitUntilServed(), "the socket was never read while a job kept queueing itself")
        requeue.stop.withLock { $0 = true }
    }

    /// A job queued from the loop runs in the same turn, before the loop polls again: a socket made
    /// readable meanwhile is served after it (a task resumed from a socket callback answers before
    /// the next poll; as a timer due at once, the job ran only after that poll).
    @Test func aJobQueuedFromTheLoopRunsBeforeTheNextPoll() async throws {
        let loop = EventLoop(index: 0)
        loop.start()
        defer { loop.shutdown() }
        let sawSocketFirst = Locked<Bool?>(nil)
        let socket = loop.runAndWait { () -> WatchedSocket in
            let socket = WatchedSocket(loop: loop)
            _ = socket.poke()
            loop.execute { sawSocketFirst.withLock { $0 = socket.seen.withLock { $0 } } }
            return socket
        }
        defer { socket.close() }
        #expect(try await socket.waitUntilServed())
        #expect(sawSocketFirst.withLock { $0 } == false)
    }

    @Test func groupSpreadsRoundRobin() {
        let group = EventLoopGroup(count: 3)
        defer { group.shutdown() }
        #expect((0..<6).map { _ in group.next().index } == [0, 1, 2, 0, 1, 2])
    }

    /// A writer still waiting when its loop stops holds the loop and owns libevent objects of it (here
    /// a timer, as a connection does): shutdown must let it go, or the two keep each other alive.
    @Test func writersStillWaitingAtShutdownGoBeforeTheirLoop() async throws {
        final class Writer: DeferredWriter, @unchecked Sendable {
            let loop: EventLoop
            let timer: LoopTimer
            let released: Locked<Bool>
            init(loop: EventLoop, released: Locked<Bool>) {
                self.loop = loop
                timer = LoopTimer(loop: loop)
                self.released = released
            }
            // Always has more to write: asks again each turn, so one is waiting when the loop stops.
            func writeQueuedOutput() { loop.writeSoon(self) }
            deinit { released.withLock { $0 = true } }
        }
        let released = Locked(false)
        do {
            let loop = EventLoop(index: 0)
            loop.start()
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                loop.execute {
                    let writer = Writer(loop: loop, released: released)
                    writer.timer.schedule(after: .seconds(60)) {}
                    loop.writeSoon(writer)
                    done.resume()
                }
            }
            loop.shutdown()
        }
        #expect(released.withLock { $0 })
    }
}

/// A socket with a read event on `loop` that records whether the loop served it; ``poke()`` makes it
/// readable. Made on and freed from the loop.
final class WatchedSocket: @unchecked Sendable {
    let loop: EventLoop
    let seen = Locked(false)
    private var event: OpaquePointer?
    private let mine: Int32
    private let peer: Int32

    /// Call from the loop thread.
    init(loop: EventLoop) {
        self.loop = loop
        (mine, peer) = makeSocketPair()
        let context = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(loop.base, mine, Int16(EV_READ), { _, _, context in
            Unmanaged<WatchedSocket>.fromOpaque(context!).takeUnretainedValue().seen.withLock { $0 = true }
        }, context)
        event_add(event, nil)
    }

    func poke() -> Bool { write(peer, "x", 1) == 1 }

    /// Waits up to 5 s for the loop to serve the socket.
    func waitUntilServed() async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while !seen.withLock({ $0 }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        return seen.withLock { $0 }
    }

    /// Not from the loop thread.
    func close() {
        _ = loop.runAndWait { event_free(self.event); self.event = nil; return true }
        Glibc.close(mine)
        Glibc.close(peer)
    }
}
