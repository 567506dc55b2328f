#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of event loops, one thread each; new connections are spread round-robin.
///
/// ```swift
/// let group = EventLoopGroup(count: 2)
/// let loop = group.next()
/// group.shutdown()
/// ```
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let cursor = Locked(0)

    /// `count` defaults to the number of online cores.
    public init(count: Int? = nil) {
        let n = max(1, count ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        loops = (0..<n).map { EventLoop(index: $0) }
        for loop in loops { loop.start() }
    }

    /// The loop for the next connection.
    public func next() -> EventLoop {
        let i = cursor.withLock { c -> Int in
            defer { c = (c + 1) % loops.count }
            return c
        }
        return loops[i]
    }

    public func shutdown() {
        for loop in loops { loop.shutdown() }
    }

    /// Shuts down from async code: joining the loop threads blocks, so it runs on a thread of its
    /// own rather than on the cooperative pool or Dispatch's small global pool.
    public func shutdown() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let job = Unmanaged.passRetained(Box { self.shutdown(); done.resume() }).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, job)
            if rc == 0 {
                pthread_detach(thread)
            } else {
                Unmanaged<Box>.fromOpaque(job).release()
                shutdown()
                done.resume()
            }
        }
    }

    private final class Box: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
