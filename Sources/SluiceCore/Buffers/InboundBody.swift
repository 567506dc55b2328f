import DequeModule

/// A request body arriving from the loop, read by the handler at its own pace.
///
/// The loop appends chunks as they arrive and stops feeding (stops reading the socket, or holds the
/// HTTP/2 window shut) while ``bufferedBytes`` is at or above ``softLimit``. Each chunk the handler
/// takes is reported through `consumed`, which the connection turns into more reading or a
/// WINDOW_UPDATE: the peer can never send more than the handler is ready for.
///
/// ```swift
/// router.stream("/upload", methods: [.post]) { request, response in
///     var total = 0
///     for try await chunk in request.bodyStream { total += chunk.count }
///     try await response.write("\(total) bytes\n")
/// }
/// ```
///
/// A reader that decodes as bytes arrive (a WebSocket's frames) can take them synchronously instead,
/// with ``deliver(to:)``: no task switch per chunk.
public final class InboundBody: AsyncSequence, @unchecked Sendable {
    public typealias Element = [UInt8]

    /// What ``deliver(to:)`` hands its consumer, in order; the consumer answers whether it takes more.
    public enum Delivery {
        case bytes([UInt8])
        /// The consumer asked, through ``resumeDelivery()``, to be called again (it held back before).
        case resumed
        /// The body is complete; nothing follows.
        case end
        /// The body cannot complete; nothing follows.
        case failed(Error)
    }

    /// The loop stops feeding at this many buffered bytes.
    public let softLimit: Int
    private let consumed: @Sendable (Int) -> Void
    private let roomRegained: (@Sendable () -> Void)?
    private let lock = Lock()
    // Guarded by `lock`.
    private var chunks = Deque<[UInt8]>()
    private var buffered = 0
    private var finished = false
    private var failure: Error?
    private var waiter: CheckedContinuation<[UInt8]?, Error>?
    /// The feeder was told there was no room; `roomRegained` is owed once there is.
    private var feederStopped = false
    private var consumer: ((Delivery) -> Bool)?
    /// One caller at a time runs the consumer (see `deliverPending`).
    private var delivering = false
    private var consumerHolds = false
    private var resumeAsked = false
    private var endDelivered = false

    /// - Parameters:
    ///   - consumed: every chunk the reader takes, by size (HTTP/2 turns it into WINDOW_UPDATE).
    ///   - roomRegained: once after the feeder was refused room (``append(_:)`` returned false) and
    ///     the reader has taken enough to make room again.
    public init(softLimit: Int = 64 * 1024, consumed: @escaping @Sendable (Int) -> Void = { _ in },
                roomRegained: (@Sendable () -> Void)? = nil) {
        self.softLimit = softLimit
        self.consumed = consumed
        self.roomRegained = roomRegained
    }

    /// An empty, finished body (a request without one). One instance serves every such request: a
    /// finished body with nothing buffered ignores `append`, `finish` and `fail`, and `next` gives nil.
    public static func empty() -> InboundBody { finishedEmpty }

    private static let finishedEmpty: InboundBody = {
        let body = InboundBody()
        body.finish()
        return body
    }()

    public var bufferedBytes: Int { lock.withLock { buffered } }

    /// True while the loop may feed more. Loop side: a feeder told false stops, and is owed
    /// `roomRegained`.
    public var hasRoom: Bool {
        lock.withLock {
            if buffered < softLimit { return true }
            feederStopped = true
            return false
        }
    }

    // MARK: Loop side

    /// Adds a chunk; returns whether there is room for more.
    @discardableResult
    public func append(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return hasRoom }
        let (waiter, deliver) = lock.withLock { () -> (CheckedContinuation<[UInt8]?, Error>?, Bool) in
            guard !finished, failure == nil else { return (nil, false) }
            if let waiter = self.waiter {
                self.waiter = nil
                return (waiter, false)
            }
            chunks.append(bytes)
            buffered += bytes.count
            return (nil, consumer != nil)
        }
        if let waiter {
            waiter.resume(returning: bytes)
            consumed(bytes.count)
            return true
        }
        if deliver { deliverPending() }
        return lock.withLock {
            let room = buffered < softLimit || finished || failure != nil
            if !room { feederStopped = true }
            return room
        }
    }

    /// The body is complete.
    public func finish() {
        let (waiter, deliver) = lock.withLock { () -> (CheckedContinuation<[UInt8]?, Error>?, Bool) in
            guard failure == nil else { return (nil, false) }
            finished = true
            defer { self.waiter = nil }
            return (chunks.isEmpty ? self.waiter : nil, consumer != nil)
        }
        waiter?.resume(returning: nil)
        if deliver { deliverPending() }
    }

    /// The body cannot complete (peer gone, stream reset, over a limit): the reader gets `error`.
    public func fail(_ error: Error) {
        let (waiter, deliver) = lock.withLock { () -> (CheckedContinuation<[UInt8]?, Error>?, Bool) in
            guard !finished || !chunks.isEmpty, failure == nil else { return (nil, false) }
            failure = error
            chunks.removeAll()
            buffered = 0
            defer { self.waiter = nil }
            return (self.waiter, consumer != nil)
        }
        waiter?.resume(throwing: error)
        if deliver { deliverPending() }
    }

    // MARK: Synchronous reader

    /// Hands every chunk (those buffered first), then the end or the failure, to `consumer` as it
    /// arrives, in the feeder's call — or in ``resumeDelivery()``'s. Calls never overlap, whichever
    /// threads make them. When `consumer` answers false it holds back: nothing more is handed to it,
    /// chunks buffer (and the feeder is stopped at ``softLimit``), until it calls
    /// ``resumeDelivery()``. Replaces `next()`: one way of reading per body.
    ///
    /// ```swift
    /// body.deliver { delivery in
    ///     if case .bytes(let chunk) = delivery { parser.append(chunk) }
    ///     return true
    /// }
    /// ```
    public func deliver(to consumer: @escaping (Delivery) -> Bool) {
        let over = lock.withLock { () -> Delivery? in
            // Already over (the shared empty body among them): nothing is kept, the end is all.
            if chunks.isEmpty, let failure { return .failed(failure) }
            if chunks.isEmpty, finished { return .end }
            precondition(self.consumer == nil && waiter == nil, "InboundBody has one reader")
            self.consumer = consumer
            return nil
        }
        if let over { _ = consumer(over) } else { deliverPending() }
    }

    /// A consumer that held back can take more: it is called with ``Delivery/resumed``, then with
    /// whatever buffered meanwhile.
    public func resumeDelivery() {
        lock.withLock { resumeAsked = true }
        deliverPending()
    }

    private func deliverPending() {
        guard let consumer = lock.withLock({ () -> ((Delivery) -> Bool)? in
            guard let consumer, !delivering else { return nil }
            delivering = true
            return consumer
        }) else { return }
        while true {
            var regained = false
            let next = lock.withLock { () -> Delivery? in
                if resumeAsked {
                    resumeAsked = false
                    return .resumed
                }
                if consumerHolds {
                    delivering = false
                    return nil
                }
                if let (chunk, room) = popChunk() {
                    regained = room
                    return .bytes(chunk)
                }
                if !endDelivered, let failure {
                    endDelivered = true
                    return .failed(failure)
                }
                if !endDelivered, finished {
                    endDelivered = true
                    return .end
                }
                delivering = false
                return nil
            }
            guard let next else { return }
            if case .bytes(let chunk) = next { consumed(chunk.count) }
            if regained { roomRegained?() }
            let takesMore = consumer(next)
            lock.withLock {
                consumerHolds = !takesMore
                // Nothing follows the end: let the consumer (and what it holds) go.
                if endDelivered { self.consumer = nil }
            }
        }
    }

    /// Takes the first buffered chunk; `regained` when that makes room for a feeder that was refused
    /// it. Under `lock`.
    private func popChunk() -> (chunk: [UInt8], regained: Bool)? {
        guard let chunk = chunks.popFirst() else { return nil }
        buffered -= chunk.count
        let regained = feederStopped && buffered < softLimit
        if regained { feederStopped = false }
        return (chunk, regained)
    }

    // MARK: Handler side

    /// The next chunk, or `nil` at the end. One reader at a time.
    public func next() async throws -> [UInt8]? {
        // What is here already (a chunk, the end, a failure) is taken without suspending: a
        // continuation resumed at once still sends the task through its executor's queue, and a
        // cancellation handler takes the task's status lock twice. A plain route collects its (mostly
        // empty) body first: this and its one-step response took ~14% off a small HTTP/2 request.
        if let ready = try take(orWait: nil) { return ready }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, Error>) in
                do {
                    if let ready = try take(orWait: continuation) { continuation.resume(returning: ready) }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter = lock.withLock { () -> CheckedContinuation<[UInt8]?, Error>? in
                defer { self.waiter = nil }
                return self.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// The next chunk, or `.some(nil)` at the end, if either is here now (throwing a failure that is).
    /// Otherwise nil, and `continuation`, if given, waits for what comes (unless the task is
    /// cancelled: that throws).
    private func take(orWait continuation: CheckedContinuation<[UInt8]?, Error>?) throws -> [UInt8]?? {
        var regained = false
        let outcome: Result<[UInt8]?, Error>? = lock.withLock {
            if let failure { return .failure(failure) }
            if let (chunk, room) = popChunk() {
                regained = room
                return .success(chunk)
            }
            if finished { return .success(nil) }
            guard let continuation else { return nil }
            if Task.isCancelled { return .failure(CancellationError()) }
            precondition(waiter == nil && consumer == nil, "InboundBody has one reader")
            waiter = continuation
            return nil
        }
        guard let outcome else { return nil }
        if case .success(let chunk?) = outcome { consumed(chunk.count) }
        if regained { roomRegained?() }
        return .some(try outcome.get())
    }

    /// Reads the whole body, throwing `tooLarge` past `limit` bytes.
    public func collect(upTo limit: Int, tooLarge: @autoclosure () -> Error) async throws -> [UInt8] {
        var out: [UInt8] = []
        while let chunk = try await next() {
            if out.count + chunk.count > limit { throw tooLarge() }
            out += chunk
        }
        return out
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: InboundBody
        public mutating func next() async throws -> [UInt8]? { try await body.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}
