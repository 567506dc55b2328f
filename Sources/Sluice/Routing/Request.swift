import HTTPTypes
import SluiceCore

/// A request as a handler sees it, whatever protocol carried it.
///
/// ```swift
/// router.get("/hello") { request in
///     Response(text: "hello \(request.query["name"] ?? "world")")
/// }
/// ```
public struct Request: Sendable {
    public var head: HTTPRequest
    /// The whole body, at most ``HTTP1Limits/maxBodyBytes`` long, for plain routes (collected before
    /// the handler runs). Empty for SSE and stream routes: they read ``bodyStream`` instead.
    public var body: [UInt8]
    /// The body as it arrives. The peer sends no faster than this is read: HTTP/1.1 stops reading
    /// the socket, HTTP/2 holds the stream's window shut.
    public var bodyStream: InboundBody
    /// The peer's address as `host:port` (IPv6 in brackets).
    public var remoteAddress: String
    /// Path parameters captured by `{name}` segments of the route.
    public var parameters = [String: String]()  // not `[:]`: the literal's init ran per request
    /// When the server had read the request's head: taken after the read, once for all the requests
    /// one read brought. Whatever the client did before sending the request happened before it.
    public var receivedAt: ContinuousClock.Instant {
        get { received.instant }
        set { received = Moment(newValue) }
    }
    /// `receivedAt` as stored: a plain value (see ``Moment``), so a Request copies like any struct.
    var received: Moment

    public init(
        head: HTTPRequest, body: [UInt8] = [], bodyStream: InboundBody = .empty(), remoteAddress: String = "",
        receivedAt: ContinuousClock.Instant = .now
    ) {
        self.init(head: head, body: body, bodyStream: bodyStream, remoteAddress: remoteAddress, received: Moment(receivedAt))
    }

    init(head: HTTPRequest, body: [UInt8] = [], bodyStream: InboundBody = .empty(), remoteAddress: String = "", received: Moment) {
        self.head = head
        self.body = body
        self.bodyStream = bodyStream
        self.remoteAddress = remoteAddress
        self.received = received
    }

    public var method: HTTPRequest.Method { head.method }

    /// The path without the query, still percent-encoded.
    public var path: Substring {
        var full = head.path ?? "/"
        // Searched in the contiguous bytes and cut as bytes: `firstIndex(of: Character)` walks
        // grapheme clusters (~3% of a small request), a search through the UTF-8 view reached each
        // byte through a protocol witness, and cutting the String checked its index's alignment.
        let length = full.withUTF8 { $0.firstIndex(of: UInt8(ascii: "?")) ?? $0.count }
        return Substring(full.utf8.prefix(length))
    }

    /// Query parameters, percent-decoded; the last value wins for a repeated name.
    public var query: [String: String] {
        var out: [String: String] = [:]
        for (name, value) in queryItems { out[name] = value }
        return out
    }

    /// Query parameters in order, percent-decoded.
    public var queryItems: [(name: String, value: String)] {
        guard let full = head.path, let q = full.utf8.firstIndex(of: UInt8(ascii: "?")) else { return [] }
        return full[full.index(after: q)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (PercentDecoding.decode(parts[0], plusAsSpace: true) ?? String(parts[0]),
                    parts.count > 1 ? PercentDecoding.decode(parts[1], plusAsSpace: true) ?? String(parts[1]) : "")
        }
    }

    /// The id an SSE client resumes after (`Last-Event-ID`).
    public var lastEventID: String? { head.headerFields[.lastEventID] }
}

/// Percent-decoding of URL components.
enum PercentDecoding {
    /// `nil` for a malformed escape.
    static func decodeBytes<S: StringProtocol>(_ text: S, plusAsSpace: Bool = false) -> [UInt8]? {
        decodeBytes(utf8: text.utf8, plusAsSpace: plusAsSpace)
    }

    /// The same for text given as its UTF-8 bytes.
    static func decodeBytes(utf8 text: some Collection<UInt8>, plusAsSpace: Bool = false) -> [UInt8]? {
        let utf8 = Array(text)
        // Most paths have nothing to decode: their bytes are the answer.
        if !utf8.contains(UInt8(ascii: "%")) && !(plusAsSpace && utf8.contains(UInt8(ascii: "+"))) { return utf8 }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            let byte = utf8[i]
            if byte == UInt8(ascii: "%") {
                guard i + 2 < utf8.count, let hi = hex(utf8[i + 1]), let lo = hex(utf8[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(plusAsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                i += 1
            }
        }
        return out
    }

    static func decode<S: StringProtocol>(_ text: S, plusAsSpace: Bool = false) -> String? {
        decodeBytes(text, plusAsSpace: plusAsSpace).flatMap { String(validating: $0, as: UTF8.self) }
    }

    static func decode(bytes: some Collection<UInt8>) -> String? {
        decodeBytes(utf8: bytes).flatMap { String(validating: $0, as: UTF8.self) }
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
