import HTTPTypes
import SluiceCore

/// Where a handler's writer puts one response: implemented once per protocol, so writers and
/// handlers never know which protocol carries them.
protocol ResponseSink: AnyObject, Sendable {
    /// True once the head has been queued.
    var headSent: Bool { get }
    /// Queues the head unless one was queued already (then does nothing). Never suspends.
    func sendHead(_ head: HTTPResponse) throws
    /// Queues body bytes, sending a default `200` head first if none was sent; suspends under
    /// backpressure; throws once the peer has gone.
    func write(_ bytes: [UInt8]) async throws
    /// Queues a range of a file as body bytes; the connection moves them as it sends (`sendfile`,
    /// `pread`), so the region holds no memory meanwhile and does not suspend the writer.
    func write(file: FileRegion) async throws
    /// Ends the body, with trailers where the protocol carries them.
    func finish(trailers: HTTPFields?)
    /// Ends the response abnormally after its head went out: the peer must see it incomplete.
    func abort()
    /// Like ``abort()``, but takes the whole connection down (HTTP/2: GOAWAY with INTERNAL_ERROR, so
    /// every stream of the connection ends; HTTP/1.1: the same as abort).
    func abortConnection()
    /// Counters of the outbound queue behind this response.
    var statistics: OutboundQueue.Statistics { get }
    var pendingBytes: Int { get }
    /// Whether writers may join several messages (events, records) into one write. A fault plan counts
    /// writes (`drop_after=N` means N events), so its sink says no.
    var joinsMessages: Bool { get }
}

/// A protocol's own sink, which can take a complete response's body without suspending: the
/// bytes are already in memory, so queueing them all holds nothing more back than the caller does.
/// A fault plan's sink is not one (it must count and delay writes in a task).
protocol ImmediateSink: ResponseSink {
    /// Queues body bytes (framed as the protocol needs) without waiting for the queue to drain.
    func writeAtOnce(_ bytes: [UInt8]) throws
    /// Queues a range of a file; the same as ``ResponseSink/write(file:)``, which never waits either.
    func writeAtOnce(file: FileRegion) throws
    /// Queues a whole response: its head, its body (bytes, then a file range) and its end. A sink may
    /// do it in one step; the default takes the steps one by one.
    func respondAtOnce(_ head: HTTPResponse, body: [UInt8], file: FileRegion?) throws
}

extension ImmediateSink {
    func respondAtOnce(_ head: HTTPResponse, body: [UInt8], file: FileRegion?) throws {
        try respondInSteps(head, body: body, file: file)
    }

    /// ``respondAtOnce(_:body:file:)`` one step at a time (what a sink's one-step version falls back to).
    func respondInSteps(_ head: HTTPResponse, body: [UInt8], file: FileRegion?) throws {
        try sendHead(head)
        if !body.isEmpty { try writeAtOnce(body) }
        if let file { try writeAtOnce(file: file) }
        finish(trailers: nil)
    }
}

extension ResponseSink {
    func abortConnection() { abort() }
    var joinsMessages: Bool { true }

    /// For sinks that must see every byte (a fault plan counts and alters them): the file read in
    /// 64 KiB pieces, each an ordinary write.
    func write(file: FileRegion) async throws {
        var position = 0
        while position < file.count {
            let n = min(64 * 1024, file.count - position)
            let chunk = try [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
                try file.read(at: position, into: UnsafeMutableRawBufferPointer(buffer))
                count = n
            }
            try await write(chunk)
            position += n
        }
    }
}
