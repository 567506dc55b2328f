/// Bounds on what an HTTP/1.1 request may contain.
public struct HTTP1Limits: Sendable, Equatable {
    /// Request line plus header block, in bytes; more gets 431. Default 16 KiB.
    public var maxHeaderBytes: Int
    /// Request body, in bytes (declared or received); more gets 413. Default 1 MiB.
    public var maxBodyBytes: Int

    /// Body bytes buffered for a handler that reads its ``InboundBody`` slowly, before the server
    /// stops reading from the peer. Default 64 KiB.
    public var streamedBodyBuffer: Int

    public init(maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int = 1024 * 1024, streamedBodyBuffer: Int = 64 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.streamedBodyBuffer = streamedBodyBuffer
    }
}
