import HTTPTypes
import SluiceCore

/// One request/response exchange on an HTTP/2 connection. Created at its first HEADERS frame,
/// owned by the connection's stream table, dropped when nghttp2 closes the stream.
final class HTTP2Stream {
    let id: Int32
    // The request as it arrives.
    var method: String?
    var scheme: String?
    var authority: String?
    var path: String?
    var fields = HTTPFields()
    var body: [UInt8] = []
    var headerError: String?
    /// Set once the request is complete and its handler has been started.
    var dispatched = false

    // The response.
    var sink: HTTP2ResponseSink?
    var task: Task<Void, Never>?
    /// nghttp2 asked for data and we had none: a write must resume the stream.
    var deferred = false
    /// Trailers to submit once the body's last DATA frame is out.
    var trailers: HTTPFields?

    init(id: Int32) { self.id = id }
}
