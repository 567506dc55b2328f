/// What the server asks of every connection object it tracks, whatever protocol it speaks.
/// All calls happen on the connection's own loop.
protocol ServerConnection: AnyObject {
    /// Stop taking new requests; close once in-flight responses are done.
    func beginShutdown()
    /// Close at once, cancelling handlers.
    func close(reason: String)
}
