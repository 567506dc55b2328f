import HTTPTypes
import SluiceCore

/// Writes a streamed response body.
///
/// `write` suspends while the client is behind by more than the high-water mark and throws once it
/// has gone. Without ``writeHead(_:)`` the head is `200` with no content type. Returning from the
/// handler finishes the body; ``finish(trailers:)`` does so explicitly, with trailers.
///
/// ```swift
/// router.stream("/numbers") { request, body in
///     try body.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"]))
///     for n in 1...3 { try await body.write(Array("\(n)\n".utf8)) }
///     body.finish(trailers: [HTTPField.Name("X-Count")!: "3"])
/// }
/// ```
public final class BodyWriter: Sendable {
    let sink: ResponseSink

    init(sink: ResponseSink) { self.sink = sink }

    /// Sets the status and headers; call before the first write. A second call is ignored.
    public func writeHead(_ head: HTTPResponse) throws { try sink.sendHead(head) }

    public func write(_ bytes: [UInt8]) async throws { try await sink.write(bytes) }

    public func write(_ text: String) async throws { try await sink.write(Array(text.utf8)) }

    /// Sends a range of a file as body bytes without reading it into memory here: over plain
    /// HTTP/1.1 the kernel copies it to the socket (`sendfile`), over HTTP/2 each DATA frame is read
    /// straight into the socket's output. Does not wait for the bytes to go out. Under a fault plan
    /// the file is read and written like any other bytes, so the faults still apply.
    ///
    /// ```swift
    /// let fd = open("/srv/video.mp4", O_RDONLY | O_CLOEXEC)
    /// try await body.write(file: FileRegion(takingOwnershipOf: fd, count: size))
    /// ```
    public func write(file: FileRegion) async throws { try await sink.write(file: file) }

    public func finish(trailers: HTTPFields? = nil) { sink.finish(trailers: trailers) }

    public var pendingBytes: Int { sink.pendingBytes }
    public var statistics: OutboundQueue.Statistics { sink.statistics }
}
