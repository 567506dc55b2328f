/// Options of a WebSocket route, with documented defaults.
public struct WebSocketOptions: Sendable {
    /// Subprotocols the server speaks, most preferred first; the first one the client offers wins.
    public var subprotocols: [String] = []
    /// Largest message accepted, after reassembly and decompression; more closes with 1009. 1 MiB.
    public var maxMessageSize: Int = 1 << 20
    /// Offer permessage-deflate when the client asks for it. Default true.
    public var compression: Bool = true
    /// Messages smaller than this go uncompressed even with permessage-deflate. Default 64 bytes.
    public var compressionThreshold: Int = 64
    /// Ping this often when the peer is quiet; `nil` sends none. Default 30 s.
    public var pingInterval: Duration? = .seconds(30)
    /// Close a connection whose pong has not come back this long after a ping (half-open sockets).
    /// Default 10 s.
    public var pongTimeout: Duration = .seconds(10)
    /// How long to wait for the peer's close frame after sending ours. Default 5 s.
    public var closeTimeout: Duration = .seconds(5)
    /// Received messages the handler may fall behind by before the server stops reading. Default 16.
    public var inboundQueueDepth: Int = 16
    /// Decides from the `Origin` header (nil when absent) whether to accept; refused gets 403.
    public var allowOrigin: (@Sendable (String?) -> Bool)?

    public init() {}
}
