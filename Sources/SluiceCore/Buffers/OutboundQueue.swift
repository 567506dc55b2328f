import DequeModule
import HTTPTypes

/// What a producer hands to its connection: body bytes, then one end marker.
public enum OutboundItem: Sendable {
    case bytes([UInt8])
    /// A range of a file, moved by the connection as it sends (see ``FileRegion``).
    case file(FileRegion)
    /// The response is complete; trailers go out where the protocol can carry them.
    case end(trailers: HTTPFields?)
}

extension OutboundItem {
    /// Body bytes the item carries (none for the end marker).
    fileprivate var bodyCount: Int {
        switch self {
        case .bytes(let bytes): bytes.count
        case .file(let region): region.count
        case .end: 0
        }
    }

    /// Copies `target.count` of the item's bytes from `offset` (a file region reads them with `pread`).
    fileprivate func copy(from offset: Int, into target: UnsafeMutableRawBufferPointer) throws {
        switch self {
        case .bytes(let bytes):
            bytes.withUnsafeBytes { target.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: target.count) }
        case .file(let region):
            try region.read(at: offset, into: target)
        case .end:
            break
        }
    }
}

/// High and low water marks, in bytes, for one outbound queue.
public struct Watermarks: Sendable, Equatable {
    /// A producer's write suspends while more than this many bytes are pending.
    public var high: Int
    /// A suspended producer resumes once pending bytes fall to this or below.
    public var low: Int

    public init(high: Int, low: Int) {
        precondition(low >= 0 && low <= high, "watermarks need 0 <= low <= high")
        self.high = high
        self.low = low
    }

    /// 64 KiB high, 16 KiB low: a few TCP windows' worth; enough to keep a fast socket busy.
    public static let `default` = Watermarks(high: 64 * 1024, low: 16 * 1024)
}

/// The error a producer sees once its connection or stream has gone.
public struct OutboundClosedError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "outbound closed: \(reason)" }
}

/// A bounded hand-off of outbound bytes from a producer Task to the loop that owns the socket.
///
/// Bytes are *pending* from the moment they are written until the loop reports that they left the
/// process (``acknowledge(_:)``): both what waits here and what the loop already moved into the
/// socket's output buffer. A write that takes pending bytes above the high-water mark suspends until
/// they fall to the low-water mark, so memory per stream stays under `high` plus one write.
///
/// The loop is woken (``init(watermarks:wake:)``'s `wake`) only when the queue goes from empty to
/// non-empty; it then takes everything with ``drain()`` in one pass.
///
/// ```swift
/// let queue = OutboundQueue(watermarks: .default) { loop.execute { connection.flush() } }
/// try await queue.write(Array("data: hi\n\n".utf8))   // suspends only under backpressure
/// queue.finish()
/// ```
public final class OutboundQueue: @unchecked Sendable {
    public let watermarks: Watermarks
    private let wake: @Sendable () -> Void
    /// Everything that changes, in one guarded value: one lock and no exclusivity check per critical
    /// section, where separate stored properties cost a runtime check at each touch.
    private let state = Locked(State())

    private struct State {
        /// Room for two from the start: a whole small response is one body item and the end marker,
        /// and growing an empty deque to that took two allocations.
        var items = Deque<OutboundItem>(minimumCapacity: 2)
        /// Bytes of the first item already copied out by ``read(into:)``: a pull-based sender takes a
        /// frame at a time, and re-slicing a 64 KiB chunk for every 16 KiB frame copied it over and over.
        var headOffset = 0
        var pending = 0
        var finished = false
        var closedReason: String?
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
        var nextWaiterID: UInt64 = 0
        var stats = Statistics()

        /// Throws once nothing more may be queued.
        func checkOpen() throws {
            if let closedReason { throw OutboundClosedError(reason: closedReason) }
            if finished { throw OutboundClosedError(reason: "write after the body was finished") }
        }

        /// Queues `item`, `count` body bytes that are pending from now on.
        mutating func append(_ item: OutboundItem, count: Int) {
            items.append(item)
            pending += count
            stats.bytesWritten += count
            stats.maxPendingBytes = max(stats.maxPendingBytes, pending)
        }

        /// ``read(into:takingEnd:acknowledging:)``'s copy.
        mutating func take(into buffer: UnsafeMutableRawBufferPointer, takingEnd: Bool) throws -> (count: Int, ended: Bool, trailers: HTTPFields?) {
            // The read of a file region happens under the lock: a producer's write waits that long,
            // and the queue's order cannot change underneath.
            var count = 0
            while let first = items.first {
                if case .end(let trailers) = first {
                    if !takingEnd { return (count, false, nil) }
                    items.removeFirst()
                    return (count, true, trailers)
                }
                let n = min(first.bodyCount - headOffset, buffer.count - count)
                if n <= 0 { return (count, false, nil) }
                try first.copy(from: headOffset, into: UnsafeMutableRawBufferPointer(start: buffer.baseAddress! + count, count: n))
                count += n
                headOffset += n
                if headOffset == first.bodyCount {
                    items.removeFirst()
                    headOffset = 0
                }
            }
            return (count, false, nil)
        }

        /// `count` bytes are no longer pending; the writers to resume now.
        mutating func release(_ count: Int, low: Int) -> [CheckedContinuation<Void, Error>] {
            guard count > 0 else { return [] }
            pending = max(0, pending - count)
            guard pending <= low, !waiters.isEmpty else { return [] }
            defer { waiters.removeAll() }
            return waiters.map(\.continuation)
        }
    }

    /// Counters for tests and metrics.
    public struct Statistics: Sendable {
        /// The most bytes ever pending at once.
        public var maxPendingBytes = 0
        /// How many writes had to wait for the queue to drain.
        public var suspensions = 0
        public var bytesWritten = 0
    }

    public init(watermarks: Watermarks = .default, wake: @escaping @Sendable () -> Void) {
        self.watermarks = watermarks
        self.wake = wake
    }

    public var pendingBytes: Int { state.withLock { $0.pending } }
    public var statistics: Statistics { state.withLock { $0.stats } }
    public var isClosed: Bool { state.withLock { $0.closedReason != nil } }

    /// Queues `bytes` and, if that takes the queue above its high-water mark, suspends until the loop
    /// drains it to the low-water mark. Throws once the queue is closed (peer gone) or the Task is
    /// cancelled.
    public func write(_ bytes: [UInt8]) async throws {
        if bytes.isEmpty { return }
        try Task.checkCancellation()
        if try push(bytes) { try await waitForDrain() }
    }

    /// Queues `bytes` without waiting, for small framing (a response head, a last chunk) that must not
    /// suspend. Returns true when pending bytes are now above the high-water mark.
    @discardableResult
    public func push(_ bytes: [UInt8]) throws -> Bool {
        if bytes.isEmpty { return false }
        return try enqueue(.bytes(bytes), count: bytes.count, holdsMemory: true)
    }

    /// Queues a range of a file. Never suspends: the file's bytes are read only as the connection
    /// sends them, so they take no memory here. They do count as pending (the connection acknowledges
    /// them like any others), so a later ``write(_:)`` waits until most of the file is out.
    public func write(file: FileRegion) throws {
        if file.count == 0 { return }
        try Task.checkCancellation()
        try enqueue(.file(file), count: file.count, holdsMemory: false)
    }

    /// Appends `item` (`count` pending bytes), waking the loop if the queue was empty. Returns whether
    /// a writer of memory-holding bytes must now wait for the queue to drain.
    @discardableResult
    private func enqueue(_ item: OutboundItem, count: Int, holdsMemory: Bool) throws -> Bool {
        let high = watermarks.high
        let (needsWake, mustWait) = try state.withLock { s throws -> (Bool, Bool) in
            try s.checkOpen()
            let wasEmpty = s.items.isEmpty
            s.append(item, count: count)
            let mustWait = holdsMemory && s.pending > high
            if mustWait { s.stats.suspensions += 1 }
            return (wasEmpty, mustWait)
        }
        if needsWake { wake() }
        return mustWait
    }

    /// Queues a whole body at once — `head` bytes (an HTTP/1.1 response head), `bytes`, a `file` range —
    /// and its end, under one lock and with one wake-up. Never suspends: the bytes are in memory
    /// already (or in a file). Throws, queueing nothing, once the queue is closed or finished.
    public func pushWhole(head: [UInt8] = [], bytes: [UInt8], file: FileRegion?) throws {
        let needsWake = try state.withLock { s throws -> Bool in
            try s.checkOpen()
            let wasEmpty = s.items.isEmpty
            if !head.isEmpty { s.append(.bytes(head), count: head.count) }
            if !bytes.isEmpty { s.append(.bytes(bytes), count: bytes.count) }
            if let file, file.count > 0 { s.append(.file(file), count: file.count) }
            s.append(.end(trailers: nil), count: 0)
            s.finished = true
            return wasEmpty
        }
        if needsWake { wake() }
    }

    /// Queues the end of the body. Never suspends; later writes are a programming error.
    public func finish(trailers: HTTPFields? = nil) {
        let needsWake = state.withLock { s -> Bool in
            guard s.closedReason == nil, !s.finished else { return false }
            s.finished = true
            s.items.append(.end(trailers: trailers))
            return s.items.count == 1
        }
        if needsWake { wake() }
    }

    public var isFinished: Bool { state.withLock { $0.finished } }

    private func waitForDrain() async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        let low = watermarks.low
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let outcome: Result<Void, Error>? = state.withLock { s in
                    if let reason = s.closedReason { return .failure(OutboundClosedError(reason: reason)) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if s.pending <= low { return .success(()) }
                    s.waiters.append((id, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    // MARK: Loop side

    /// Takes everything queued. The bytes stay pending until acknowledged. A file region longer than
    /// `fileLimit` comes as its first `fileLimit` bytes and ends the batch, the rest staying first in the
    /// queue: a sender that must read files into memory takes them a piece at a time as its output drains.
    public func drain(fileLimit: Int = .max) -> [OutboundItem] {
        state.withLock { s in
            var out: [OutboundItem] = []
            out.reserveCapacity(s.items.count)
            while let first = s.items.first {
                switch first {
                case .bytes(let bytes):
                    out.append(s.headOffset > 0 ? .bytes(Array(bytes[s.headOffset...])) : first)
                case .file(let region):
                    let rest = region.dropFirst(s.headOffset)
                    if rest.count > fileLimit {
                        s.headOffset += fileLimit
                        out.append(.file(rest.prefix(fileLimit)))
                        return out
                    }
                    out.append(.file(rest))
                case .end:
                    out.append(first)
                }
                s.items.removeFirst()
                s.headOffset = 0
            }
            return out
        }
    }

    /// Copies queued body bytes, in order, into `buffer` (a pull-based sender's frame, such as an HTTP/2
    /// data source's) until it is full or the end marker is reached; `ended` and `trailers` say
    /// whether it was. One copy, straight from the writers' arrays (or, for a file region, one `pread`).
    /// The bytes stay pending until acknowledged, or with `acknowledging`, are acknowledged at once (a
    /// sender that copies them straight into the socket's output, in the same critical section). With
    /// `takingEnd` false the end marker stays queued (a frame already sized without it must not swallow
    /// an end that arrived since). Throws ``FileRegionError`` when a queued file cannot be read whole;
    /// the body is then broken.
    public func read(
        into buffer: UnsafeMutableRawBufferPointer, takingEnd: Bool = true, acknowledging: Bool = false
    ) throws -> (count: Int, ended: Bool, trailers: HTTPFields?) {
        let low = watermarks.low
        var ready: [CheckedContinuation<Void, Error>] = []
        defer { for continuation in ready { continuation.resume() } }
        return try state.withLock { s throws -> (count: Int, ended: Bool, trailers: HTTPFields?) in
            let result = try s.take(into: buffer, takingEnd: takingEnd)
            if acknowledging { ready = s.release(result.count, low: low) }
            return result
        }
    }

    /// Takes the next `count` body bytes without copying them, when they all lie in the first item and
    /// that is a file region kept in memory (``FileRegion/inMemory``): the bytes, where the taken ones
    /// start in them, and (with `takingEnd`, when the end marker follows them) the end. Acknowledged at
    /// once, as ``read(into:takingEnd:acknowledging:)`` with `acknowledging` does — the sender hands
    /// them to the socket's output by reference. Nil, taking nothing, when the bytes are elsewhere.
    public func takeInMemory(
        _ count: Int, takingEnd: Bool = true
    ) -> (bytes: SharedBytes, offset: Int, ended: Bool, trailers: HTTPFields?)? {
        let low = watermarks.low
        var ready: [CheckedContinuation<Void, Error>] = []
        defer { for continuation in ready { continuation.resume() } }
        return state.withLock { s -> (bytes: SharedBytes, offset: Int, ended: Bool, trailers: HTTPFields?)? in
            guard count > 0, case .file(let region) = s.items.first, let bytes = region.inMemory,
                  region.count - s.headOffset >= count else { return nil }
            let start = region.offset + s.headOffset
            s.headOffset += count
            var ended = false
            var trailers: HTTPFields?
            if s.headOffset == region.count {
                s.items.removeFirst()
                s.headOffset = 0
                if takingEnd, case .end(let endTrailers) = s.items.first {
                    s.items.removeFirst()
                    (ended, trailers) = (true, endTrailers)
                }
            }
            ready = s.release(count, low: low)
            return (bytes, start, ended, trailers)
        }
    }

    /// What ``read(into:takingEnd:acknowledging:)`` would copy into a buffer of `limit` bytes, without
    /// taking it: for a sender that sizes a frame first and copies its bytes when it writes it
    /// (nghttp2's NO_COPY data).
    public func peek(upTo limit: Int) -> (count: Int, ended: Bool, trailers: HTTPFields?) {
        state.withLock { s in
            var count = 0
            var offset = s.headOffset
            for item in s.items {
                if case .end(let trailers) = item { return (count, true, trailers) }
                let n = min(item.bodyCount - offset, limit - count)
                if n <= 0 { return (count, false, nil) }
                count += n
                if offset + n < item.bodyCount { return (count, false, nil) }
                offset = 0
            }
            return (count, false, nil)
        }
    }

    /// True when nothing waits to be drained.
    public var isEmpty: Bool { state.withLock { $0.items.isEmpty } }

    /// `count` pending bytes have left the process (written to the kernel or framed by the peer
    /// protocol). Resumes suspended writers once pending bytes reach the low-water mark.
    public func acknowledge(_ count: Int) {
        guard count > 0 else { return }
        let low = watermarks.low
        let ready = state.withLock { $0.release(count, low: low) }
        for continuation in ready { continuation.resume() }
    }

    /// Closes the queue: suspended and later writes throw; queued items are dropped.
    public func close(reason: String) {
        let failed = state.withLock { s -> [CheckedContinuation<Void, Error>] in
            guard s.closedReason == nil else { return [] }
            s.closedReason = reason
            s.items.removeAll()
            s.headOffset = 0
            defer { s.waiters.removeAll() }
            return s.waiters.map(\.continuation)
        }
        for continuation in failed { continuation.resume(throwing: OutboundClosedError(reason: reason)) }
    }
}
