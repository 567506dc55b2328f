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
public final class InboundBody: AsyncSequence, @unchecked Sendable {
    public typealias Element = [UInt8]

    /// The loop stops feeding at this many buffered bytes.
    public let softLimit: Int
    private let consumed: @Sendable (Int) -> Void
    private let lock = Lock()
    // Guarded by `lock`.
    private var chunks = Deque<[UInt8]>()
    private var buffered = 0
    private var finished = false
    private var failure: Error?
    private var waiter: CheckedContinuation<[UInt8]?, Error>?

    public init(softLimit: Int = 64 * 1024, consumed: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.softLimit = softLimit
        self.consumed = consumed
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

    /// True while the loop may feed more. Loop side.
    public var hasRoom: Bool { lock.withLock { buffered < softLimit } }

    // MARK: Loop side

    /// Adds a chunk; returns whether there is room for more.
    @discardableResult
    public func append(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return hasRoom }
        let (waiter, room) = lock.withLock { () -> (CheckedContinuation<[UInt8]?, Error>?, Bool) in
            guard !finished, failure == nil else { return (nil, true) }
            if let waiter = self.waiter {
                self.waiter = nil
                return (waiter, true)
            }
            chunks.append(bytes)
            buffered += bytes.count
            return (nil, buffered < softLimit)
        }
        if let waiter {
            waiter.resume(returning: bytes)
            consumed(bytes.count)
        }
        return room
    }

    /// The body is complete.
    public func finish() {
        let waiter = lock.withLock { () -> CheckedContinuation<[UInt8]?, Error>? in
            guard failure == nil else { return nil }
            finished = true
            defer { self.waiter = nil }
            return chunks.isEmpty ? self.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    /// The body cannot complete (peer gone, stream reset, over a limit): the reader gets `error`.
    public func fail(_ error: Error) {
        let waiter = lock.withLock { () -> CheckedContinuation<[UInt8]?, Error>? in
            guard !finished || !chunks.isEmpty, failure == nil else { return nil }
            failure = error
            chunks.removeAll()
            buffered = 0
            defer { self.waiter = nil }
            return self.waiter
        }
        waiter?.resume(throwing: error)
    }

    // MARK: Handler side

    /// The next chunk, or `nil` at the end. One reader at a time.
    public func next() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, Error>) in
                let outcome: Result<[UInt8]?, Error>? = lock.withLock {
                    if let failure { return .failure(failure) }
                    if let chunk = chunks.popFirst() {
                        buffered -= chunk.count
                        return .success(chunk)
                    }
                    if finished { return .success(nil) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    precondition(waiter == nil, "InboundBody has one reader")
                    waiter = continuation
                    return nil
                }
                if let outcome {
                    if case .success(let chunk?) = outcome { consumed(chunk.count) }
                    continuation.resume(with: outcome)
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
