import HTTPTypes
import SluiceCore

/// One HTTP/1.1 response: frames the body (Content-Length, chunked, or close-delimited for
/// HTTP/1.0 peers) on the producer's thread and queues the bytes for the connection's loop.
final class HTTP1ResponseSink: ImmediateSink, @unchecked Sendable {
    enum Framing { case unsent, fixed, chunked, closeDelimited, none }

    let queue: OutboundQueue
    private let isHeadRequest: Bool
    private let http10: Bool
    private let serverFields: ServerFields
    private let decorate: (@Sendable (inout HTTPFields) -> Void)?
    private let lock = Lock()
    // Guarded by `lock`.
    private var framing = Framing.unsent
    private var keepAlive: Bool
    private var finished = false

    /// - Parameters:
    ///   - keepAlive: whether the connection may stay open after this response.
    ///   - serverFields: Date and Server, appended to the head.
    ///   - decorate: adds the CORS headers, when the server has a policy.
    init(queue: OutboundQueue, isHeadRequest: Bool, http10: Bool, keepAlive: Bool,
         serverFields: ServerFields, decorate: (@Sendable (inout HTTPFields) -> Void)?) {
        self.queue = queue
        self.isHeadRequest = isHeadRequest
        self.http10 = http10
        self.keepAlive = keepAlive
        self.serverFields = serverFields
        self.decorate = decorate
    }

    /// Whether the connection must close once this response is out.
    var closesConnection: Bool { lock.withLock { !keepAlive } }

    var headSent: Bool { lock.withLock { framing != .unsent } }
    var statistics: OutboundQueue.Statistics { queue.statistics }
    var pendingBytes: Int { queue.pendingBytes }

    func sendHead(_ head: HTTPResponse) throws {
        try lock.withLock {
            guard framing == .unsent else { return }
            try queue.push(encodeHead(head))
        }
    }

    /// A response with a Content-Length (an immediate answer always has one) goes as one queue entry
    /// of head, body and end; anything else takes the steps one by one.
    func respondAtOnce(_ head: HTTPResponse, body: [UInt8], file: FileRegion?) throws {
        let done = try lock.withLock { () throws -> Bool in
            guard framing == .unsent, head.status.code != 101, head.headerFields.contains(.contentLength) else { return false }
            let encoded = encodeHead(head)  // fixed framing, or none for HEAD
            finished = true
            let withBody = framing == .fixed
            try queue.pushWhole(head: encoded, bytes: withBody ? body : [], file: withBody ? file : nil)
            return true
        }
        if !done { try respondInSteps(head, body: body, file: file) }
    }

    /// Under the lock: decides the body's framing (and whether the connection stays open) and encodes
    /// the head with it.
    private func encodeHead(_ head: HTTPResponse) -> [UInt8] {
        // The head is changed only where it must be: a change copies its field storage.
        var head = head
        decorate?(&head.headerFields)
        let status = head.status.code
        let bodyless = isHeadRequest || status == 204 || status == 304 || (100..<200).contains(status)
        if status == 101 {
            // Switching protocols: what follows is the new protocol's bytes, as they are, and the
            // connection ends with them.
            framing = .closeDelimited
            keepAlive = false
            return HTTP1ResponseEncoder.head(head, version: (1, 1), appending: serverFields.current)
        } else if head.headerFields.contains(.contentLength) {
            framing = isHeadRequest ? .none : .fixed
            if head.headerFields.contains(.transferEncoding) { head.headerFields[.transferEncoding] = nil }
        } else if status == 204 || status == 304 {
            framing = .none
        } else if http10 {
            framing = isHeadRequest ? .none : .closeDelimited
            keepAlive = false
        } else {
            head.headerFields[.transferEncoding] = "chunked"
            framing = bodyless ? .none : .chunked
        }
        let connection: String? = keepAlive ? (http10 ? "keep-alive" : nil) : "close"
        if connection != nil || head.headerFields.contains(.connection) { head.headerFields[.connection] = connection }
        return HTTP1ResponseEncoder.head(head, version: http10 ? (1, 0) : (1, 1), appending: serverFields.current)
    }

    func write(_ bytes: [UInt8]) async throws {
        if let framed = try framedBody(bytes) { try await queue.write(framed) }
    }

    func writeAtOnce(_ bytes: [UInt8]) throws {
        if let framed = try framedBody(bytes) { try queue.push(framed) }
    }

    /// The bytes as the body's framing carries them, after the default head if none went yet; nil
    /// when the response has no body (HEAD, 204, 304). Throws once the connection is gone.
    private func framedBody(_ bytes: [UInt8]) throws -> [UInt8]? {
        if !headSent { try sendHead(HTTPResponse(status: .ok)) }
        let framed: [UInt8]? = lock.withLock {
            switch framing {
            case .chunked: HTTP1ResponseEncoder.chunk(bytes)
            case .fixed, .closeDelimited: bytes
            case .none, .unsent: nil
            }
        }
        if framed == nil, queue.isClosed { throw OutboundClosedError(reason: "connection closed") }
        return framed
    }

    func write(file: FileRegion) async throws { try writeAtOnce(file: file) }

    func writeAtOnce(file: FileRegion) throws {
        if !headSent { try sendHead(HTTPResponse(status: .ok)) }
        guard file.count > 0 else { return }
        // The framing and the region go in under the lock, so no other write lands between them. A
        // region holds no memory, so nothing here waits for the queue to drain.
        try lock.withLock {
            switch framing {
            case .chunked:
                try queue.push(HTTP1ResponseEncoder.chunkSize(file.count))
                try queue.write(file: file)
                try queue.push(HTTP1ResponseEncoder.chunkEnd)
            case .fixed, .closeDelimited:
                try queue.write(file: file)
            case .none, .unsent:
                if queue.isClosed { throw OutboundClosedError(reason: "connection closed") }
            }
        }
    }

    func finish(trailers: HTTPFields?) {
        if !headSent { try? sendHead(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"])) }
        let last: [UInt8]? = lock.withLock {
            guard !finished else { return nil }
            finished = true
            return framing == .chunked ? HTTP1ResponseEncoder.lastChunk(trailers: trailers) : []
        }
        guard let last else { return }
        _ = try? queue.push(last)
        queue.finish()
    }

    func abort() {
        let first = lock.withLock { () -> Bool in
            defer { finished = true; keepAlive = false }
            return !finished
        }
        // Ending without the last chunk, then closing, is how HTTP/1.1 says "incomplete".
        if first { queue.finish() }
    }
}
