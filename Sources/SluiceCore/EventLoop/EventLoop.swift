import CLibevent
import DequeModule
#if canImport(Glibc)
import Glibc
#endif

/// A connection whose queued output an ``EventLoop`` writes at the end of its turn.
public protocol DeferredWriter: AnyObject {
    func writeQueuedOutput()
}

/// One libevent `event_base` running on its own thread.
///
/// Everything a connection owns lives on exactly one loop; other threads reach it only through
/// ``execute(_:)``, which appends to a locked queue and wakes the loop only when that queue goes
/// from empty to non-empty, so a burst of jobs costs one wake-up. Jobs run in slices, with socket and
/// timer events polled between them, so a flood of jobs cannot starve I/O.
///
/// ```swift
/// let loop = EventLoop(index: 0)
/// loop.start()
/// loop.execute { print("on the loop thread") }
/// loop.shutdown()
/// ```
public final class EventLoop: @unchecked Sendable {
    public typealias Job = @Sendable () -> Void

    /// The `event_base`; touch it only from the loop thread.
    public let base: OpaquePointer
    public let index: Int

    private let pending = Locked<Deque<Job>>([])
    /// Jobs one wake-up runs before the loop polls again (the rest wait one poll).
    private static let jobsPerWake = 512
    /// Jobs after which the output they queued is written, within a wake-up: a fan-out's first
    /// subscribers get their event while the loop still serves the rest, instead of all waiting for
    /// the last (SSE to 1,000 subscribers at 100 events/s: publish-to-receive p50 18–23 ms → 14–15 ms;
    /// to 100 at 1,000/s: 2.4–2.7 → 1.8–2.4 ms). A connection whose jobs straddle the boundary writes
    /// twice in that turn.
    static let jobsPerWrite = 16
    /// Wake-ups that may run without a poll between them (see `runPendingJobs`); loop thread only.
    private static let wakesWithoutPoll = 16
    private var wakesSincePoll = 0
    /// Runs queued jobs: activated by `execute` for this turn, or a timer due at once for the next
    /// (see `nextTurn`).
    private var wakeEvent: OpaquePointer!
    /// Writes the output of `writers`; activated for the end of the current turn.
    private var writeEvent: OpaquePointer!
    /// What runs now, for `writeSoon`; loop thread only.
    private var phase = Phase.idle
    private enum Phase { case idle, runningJobs, writing }
    private var thread: pthread_t?
    private let threadID = Locked<pthread_t?>(nil)
    private var commonTimeouts: [Int64: timeval] = [:]
    private var writers: [any DeferredWriter] = []
    private let state = Locked<State>(.idle)

    private enum State { case idle, running, stopping, stopped }

    public init(index: Int = 0) {
        _ = LibeventRuntime.initialized
        // No dispatch limit (`event_config_set_max_dispatch_interval`): it bounded a wake-up event
        // re-activated as fast as it ran, but it made libevent poll again every N callbacks, and a
        // level-triggered poll re-checks every socket still ready — with 4,000 busy sockets and N = 16
        // the fan-out loader spent 70% of its time in epoll. The wake-up instead counts its own runs
        // between polls (see `runPendingJobs`), and a writer asking again waits for the next turn.
        guard let base = event_base_new() else { fatalError("event_base_new failed") }
        self.base = base
        self.index = index
        let context = Unmanaged.passUnretained(self).toOpaque()
        wakeEvent = event_new(base, -1, 0, { _, what, context in
            // Fired as a timer (EV_TIMEOUT), it runs after a poll; activated, maybe not (see `execute`).
            Unmanaged<EventLoop>.fromOpaque(context!).takeUnretainedValue().runPendingJobs(afterPoll: what & Int16(EV_TIMEOUT) != 0)
        }, context)
        writeEvent = event_new(base, -1, 0, { _, _, context in
            Unmanaged<EventLoop>.fromOpaque(context!).takeUnretainedValue().writeQueuedOutput()
        }, context)
    }

    deinit {
        if let dns { evdns_base_free(dns, 0) }
        event_free(wakeEvent)
        event_free(writeEvent)
        event_base_free(base)
    }

    private var dns: OpaquePointer?

    /// This loop's evdns resolver (from /etc/resolv.conf), made on first use; the loop owns and frees
    /// it. Loop thread only.
    public var dnsBase: OpaquePointer? {
        if dns == nil { dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS) }
        return dns
    }

    /// Starts the loop's thread. The loop keeps running with no events until ``shutdown()``.
    public func start() {
        let go = state.withLock { state -> Bool in
            guard state == .idle else { return false }
            state = .running
            return true
        }
        guard go else { return }
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let loop = Unmanaged<EventLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.threadID.withLock { $0 = pthread_self() }
            _ = event_base_loop(loop.base, EVLOOP_NO_EXIT_ON_EMPTY)
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = tid
    }

    /// True on this loop's own thread.
    public var inLoop: Bool {
        guard let id = threadID.withLock({ $0 }) else { return false }
        return pthread_equal(id, pthread_self()) != 0
    }

    /// Runs `job` on the loop thread, soon. Safe from any thread.
    public func execute(_ job: @escaping Job) {
        let wasEmpty = pending.withLock { jobs -> Bool in
            jobs.append(job)
            return jobs.count == 1
        }
        // Activated, the jobs run in this turn (a task resumed from a socket callback answers before
        // the next poll); `runPendingJobs` counts such wake-ups and sends the rest to the next turn.
        if wasEmpty { event_active(wakeEvent, 0, 0) }
    }

    /// Schedules `event` as a timer due at once: libevent fires expired timers after it polls, so it
    /// runs after the sockets and timers ready now, however often this is called (`event_active`
    /// would run it before the next poll). Safe from any thread.
    private func nextTurn(_ event: OpaquePointer) {
        withUnsafePointer(to: Self.now) { _ = event_add(event, $0) }
    }

    private static let now = timeval(tv_sec: 0, tv_usec: 0)

    /// Runs up to ``jobsPerWake`` queued jobs, then the output they queued; if more jobs wait, wakes
    /// itself for the next turn, so libevent polls sockets and timers in between however fast other
    /// threads queue work. A wake-up activated more than ``wakesWithoutPoll`` times since the last
    /// one that followed a poll (jobs queued again and again, by other threads or by jobs) waits for
    /// the next turn instead: no libevent dispatch limit bounds a turn, so this does. Returns true
    /// when the queue is empty.
    @discardableResult
    private func runPendingJobs(afterPoll: Bool = true) -> Bool {
        if afterPoll {
            wakesSincePoll = 0
        } else {
            wakesSincePoll += 1
            if wakesSincePoll > Self.wakesWithoutPoll {
                nextTurn(wakeEvent)
                return false
            }
        }
        phase = .runningJobs
        let (batch, more) = pending.withLock { jobs -> ([Job], Bool) in
            let n = min(jobs.count, Self.jobsPerWake)
            let batch = Array(jobs.prefix(n))
            jobs.removeFirst(n)
            return (batch, !jobs.isEmpty)
        }
        for (index, job) in batch.enumerated() {
            job()
            if index % Self.jobsPerWrite == Self.jobsPerWrite - 1, !writers.isEmpty {
                writeQueuedOutput()
                phase = .runningJobs
            }
        }
        // The rest of the output the jobs queued leaves now, one write per connection.
        writeQueuedOutput()
        if more { nextTurn(wakeEvent) }
        return !more
    }

    /// Writes what the writers queued. Writers asking again from here wait for the next turn, so one
    /// fast stream cannot hold the loop.
    private func writeQueuedOutput() {
        phase = .writing
        defer { phase = .idle }
        var due: [any DeferredWriter] = []
        swap(&due, &writers)
        for writer in due { writer.writeQueuedOutput() }
    }

    /// Calls `writer.writeQueuedOutput()` once the jobs and callbacks running now are done, so output
    /// that many of them queue leaves in one write (see ``WriteThrough``). Loop thread only; the
    /// writer asks once per turn (it keeps its own flag).
    public func writeSoon(_ writer: any DeferredWriter) {
        writers.append(writer)
        guard writers.count == 1 else { return }
        switch phase {
        // After the callbacks of this turn, before the next poll.
        case .idle: event_active(writeEvent, 0, 0)
        // Jobs running now: their output goes when they are done, in the same wake-up.
        case .runningJobs: break
        case .writing: nextTurn(writeEvent)
        }
    }

    /// A timeval for `event_add` that shares one libevent queue with every other timer of the same
    /// duration on this loop: O(1) insertion, which keeps per-connection timeouts cheap. Loop thread only.
    public func commonTimeout(_ duration: Duration) -> timeval {
        let micros = duration.microseconds
        if let cached = commonTimeouts[micros] { return cached }
        var tv = timeval(microseconds: micros)
        // libevent allows at most 256 common timeouts per base; past that, plain timers.
        if commonTimeouts.count < 200, let common = event_base_init_common_timeout(base, &tv) {
            tv = common.pointee
        }
        commonTimeouts[micros] = tv
        return tv
    }

    /// Stops the loop after the jobs already queued, and joins its thread. Not from the loop thread.
    public func shutdown() {
        precondition(!inLoop, "EventLoop.shutdown() from its own thread would deadlock")
        let wasRunning = state.withLock { state -> Bool in
            defer { state = .stopped }
            return state == .running
        }
        guard wasRunning, let thread else { return }
        let base = UnsafeSendable(self.base)
        execute { _ = event_base_loopbreak(base.value) }
        pthread_join(thread, nil)
        self.thread = nil
        // Jobs queued after the break run nowhere; run them here so nothing waits forever.
        while !runPendingJobs() {}
        // A writer that still asks has nothing left to write with. Writers hold their loop (and own
        // libevent objects of its base): dropped now, they go while the base exists, and the cycle
        // loop → writer → loop cannot keep both alive.
        writers.removeAll()
    }
}

/// Wraps a value that the code guarantees is only used on the right thread.
public struct UnsafeSendable<Value>: @unchecked Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

extension Duration {
    /// Whole microseconds, rounded down.
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

extension timeval {
    init(microseconds: Int64) {
        self.init(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
    }
}
