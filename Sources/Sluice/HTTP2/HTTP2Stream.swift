import HTTPTypes
import SluiceCore

/// One request/response exchange on an HTTP/2 connection. Created at its first HEADERS frame,
/// owned by the connection's stream table, dropped when nghttp2 closes the stream.
final class HTTP2Stream {
    let id: Int32
    // The request as it arrives, as far as it was decoded: a block that repeats the connection's
    // last head leaves these empty but for `path` (see `HTTP2HeadMemo`); the head is made from them
    // at the block's end.
    /// nil until a valid `:method` came.
    var method: HTTPRequest.Method?
    var scheme: String?
    var authority: String?
    var path: String?
    /// `:protocol` of an extended CONNECT (RFC 8441), e.g. `websocket`.
    var connectProtocol: String?
    /// Appended to once per field on the connection's loop: unchecked by the runtime's exclusivity
    /// checks (each append paid for one).
    @exclusivity(unchecked) var fields = HTTPFields()
    /// The request body on its way to the handler; `nil` once complete (or if there is none).
    var inbound: InboundBody?
    /// Body bytes received so far, against the body limit.
    var bodyBytes = 0
    /// The response ended before the request body: the rest is consumed and dropped.
    var discardingBody = false
    /// Set once the request is complete and its handler has been started.
    var dispatched = false

    // The response: either a sink its handler writes to, or a whole body known at once.
    var sink: HTTP2ResponseSink?
    /// An immediate route's body, answered inside the callback that completed the request: the bytes
    /// wait here, on the loop, for nghttp2 to pull them (no sink, queue or lock).
    var wholeBody: [UInt8]?
    /// How much of `wholeBody` has gone into DATA frames.
    var wholeBodySent = 0
    var task: Task<Void, Never>?
    /// nghttp2 asked for data and we had none: a write must resume the stream.
    var deferred = false
    /// The DATA frame nghttp2 has sized (and will ask us to write) carries the body's end.
    var frameEndsBody = false

    /// Where the connection's ``HTTP2StreamTable`` keeps it.
    var tableIndex = 0

    init(id: Int32) { self.id = id }
}
