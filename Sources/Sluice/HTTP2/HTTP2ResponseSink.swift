import HTTPTypes
import SluiceCore

/// One HTTP/2 response. The head waits here until the connection's loop submits it; body bytes wait
/// in the stream's ``OutboundQueue`` until nghttp2 pulls them (only as far as the peer's stream and
/// connection windows allow).
final class HTTP2ResponseSink: ImmediateSink, @unchecked Sendable {
    let queue: OutboundQueue
    private let isHeadRequest: Bool
    private let decorate: (@Sendable (inout HTTPFields) -> Void)?
    /// Asks the connection's loop to look at this stream (submit the head, resume data, reset).
    private let service: @Sendable () -> Void
    private let lock = Lock()
    // Guarded by `lock`.
    private var sent = false
    private var pendingHead: HTTPResponse?
    private var bodyless = false
    private var finished = false
    private var aborted = false
    private var abortsConnection = false

    /// - Parameter decorate: adds the CORS headers, when the server has a policy. Date and Server,
    ///   and the removal of connection-specific fields, happen when the head is encoded.
    init(queue: OutboundQueue, isHeadRequest: Bool, decorate: (@Sendable (inout HTTPFields) -> Void)?,
         service: @escaping @Sendable () -> Void) {
        self.queue = queue
        self.isHeadRequest = isHeadRequest
        self.decorate = decorate
        self.service = service
    }

    var headSent: Bool { lock.withLock { sent } }
    var statistics: OutboundQueue.Statistics { queue.statistics }
    var pendingBytes: Int { queue.pendingBytes }

    func sendHead(_ head: HTTPResponse) throws {
        if try lock.withLock({ try accept(head) }) != nil { service() }
    }

    /// Under the lock: takes `head` as the response's, unless one was taken already (nil); returns
    /// whether the response goes without a body (HEAD, 204, 304).
    private func accept(_ head: HTTPResponse) throws -> Bool? {
        guard !sent else { return nil }
        if queue.isClosed { throw OutboundClosedError(reason: "stream closed") }
        var head = head
        decorate?(&head.headerFields)
        sent = true
        pendingHead = head
        bodyless = Self.isBodyless(status: head.status.code, isHeadRequest: isHeadRequest)
        return bodyless
    }

    /// Whether a response ends with its head: it answers HEAD, or its status (204, 304) has no body.
    static func isBodyless(status code: Int, isHeadRequest: Bool) -> Bool {
        isHeadRequest || code == 204 || code == 304
    }

    /// The head to submit, once; and whether it ends the stream by itself. Loop side.
    func takeHead() -> (head: HTTPResponse, endsStream: Bool)? {
        lock.withLock {
            guard let head = pendingHead else { return nil }
            pendingHead = nil
            return (head, bodyless)
        }
    }

    var isAborted: Bool { lock.withLock { aborted } }
    /// The abort takes the whole connection (GOAWAY), not just this stream.
    var isConnectionAborted: Bool { lock.withLock { aborted && abortsConnection } }

    func write(_ bytes: [UInt8]) async throws {
        if try takesBody() { try await queue.write(bytes) }
    }

    func writeAtOnce(_ bytes: [UInt8]) throws {
        if try takesBody() { try queue.push(bytes) }
    }

    func write(file: FileRegion) async throws { try writeAtOnce(file: file) }

    func writeAtOnce(file: FileRegion) throws {
        if try takesBody() { try queue.write(file: file) }
    }

    /// Sends the default head if none went yet; false when the response has no body (HEAD, 204,
    /// 304), whose bytes are then dropped. Throws once the stream is gone.
    private func takesBody() throws -> Bool {
        if !headSent { try sendHead(HTTPResponse(status: .ok)) }
        if lock.withLock({ bodyless }) {
            if queue.isClosed { throw OutboundClosedError(reason: "stream closed") }
            return false
        }
        return true
    }

    /// The head, the body and the end in one step: one lock here and one in the queue, where the
    /// steps one by one took eight (a small response's head, body and end each asked twice).
    func respondAtOnce(_ head: HTTPResponse, body: [UInt8], file: FileRegion?) throws {
        let noBody = try lock.withLock { () throws -> Bool? in
            let noBody = try accept(head)
            if noBody != nil { finished = true }
            return noBody
        }
        // A head went already: the steps one by one, as for any other sink.
        guard let noBody else { return try respondInSteps(head, body: body, file: file) }
        if noBody { queue.finish() } else { try queue.pushWhole(bytes: body, file: file) }
        service()
    }

    func finish(trailers: HTTPFields?) {
        if !headSent { try? sendHead(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"])) }
        let first = lock.withLock { () -> Bool in
            defer { finished = true }
            return !finished
        }
        if first { queue.finish(trailers: trailers) }
    }

    func abort() {
        lock.withLock {
            aborted = true
            finished = true
        }
        service()  // the loop resets the stream: an HTTP/2 peer sees RST_STREAM(INTERNAL_ERROR)
    }

    func abortConnection() {
        lock.withLock {
            aborted = true
            abortsConnection = true
            finished = true
        }
        service()  // the loop ends the session: GOAWAY(INTERNAL_ERROR)
    }
}
