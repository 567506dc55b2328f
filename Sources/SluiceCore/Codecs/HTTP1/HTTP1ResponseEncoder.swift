import HTTPTypes

/// Serialises HTTP/1.1 response heads and chunked-body framing (RFC 9112). Pure.
///
/// ```swift
/// var out = HTTP1ResponseEncoder.head(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain"]))
/// out += HTTP1ResponseEncoder.chunk(Array("hello".utf8))
/// out += HTTP1ResponseEncoder.lastChunk(trailers: nil)
/// ```
public enum HTTP1ResponseEncoder {
    /// The status line and fields of `response`, then the `appending` fields (server-wide ones such
    /// as Date), which replace any of the response's own fields with the same names.
    public static func head(
        _ response: HTTPResponse, version: (major: Int, minor: Int) = (1, 1), appending extra: [HTTPField] = []
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        // Appended as bytes: temporary arrays and interpolated strings were ~3% of a small response.
        out.append(contentsOf: "HTTP/".utf8)
        appendDecimal(version.major, to: &out)
        out.append(UInt8(ascii: "."))
        appendDecimal(version.minor, to: &out)
        out.append(UInt8(ascii: " "))
        appendDecimal(response.status.code, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: reasonPhrase(response.status).utf8)
        out.append(contentsOf: crlf)
        for field in response.headerFields where extra.isEmpty || !field.name.occurs(in: extra) {
            appendField(field, to: &out)
        }
        for field in extra { appendField(field, to: &out) }
        out.append(contentsOf: crlf)
        return out
    }

    /// One chunk of a chunked body; empty input gives no bytes (an empty chunk would end the body).
    public static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.isEmpty { return [] }
        // One allocation: an SSE stream frames every event, and the size line as a string, an array
        // and a joined copy was three more per event.
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 20)
        appendSizeLine(bytes.count, to: &out)
        out.append(contentsOf: bytes)
        out.append(contentsOf: crlf)
        return out
    }

    /// The size line that opens a chunk of `count` bytes (its data and a CRLF follow), for a chunk
    /// whose bytes are not at hand (a file region).
    public static func chunkSize(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(18)
        appendSizeLine(count, to: &out)
        return out
    }

    private static func appendSizeLine(_ count: Int, to out: inout [UInt8]) {
        // At most 16 hex digits: a small string, kept inline, so no allocation.
        out.append(contentsOf: String(count, radix: 16).utf8)
        out.append(contentsOf: crlf)
    }

    /// The CRLF that closes a chunk's data, after ``chunkSize(_:)`` and the bytes.
    public static var chunkEnd: [UInt8] { crlf }

    /// The zero-length chunk that ends a chunked body, with optional trailer fields.
    public static func lastChunk(trailers: HTTPFields?) -> [UInt8] {
        var out: [UInt8] = Array("0\r\n".utf8)
        if let trailers { appendFields(trailers, to: &out) }
        out += crlf
        return out
    }

    private static let crlf: [UInt8] = [13, 10]

    private static func appendFields(_ fields: HTTPFields, to out: inout [UInt8]) {
        for field in fields { appendField(field, to: &out) }
    }

    private static func appendField(_ field: HTTPField, to out: inout [UInt8]) {
        out.append(contentsOf: field.name.rawName.utf8)
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: field.value.utf8)
        out.append(contentsOf: crlf)
    }

    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        precondition(value >= 0, "status codes and versions are not negative")
        if value >= 10 { appendDecimal(value / 10, to: &out) }
        out.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    static func reasonPhrase(_ status: HTTPResponse.Status) -> String {
        if !status.reasonPhrase.isEmpty { return status.reasonPhrase }
        return switch status.code {
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        default: "Status \(status.code)"
        }
    }
}
