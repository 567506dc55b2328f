import COpenSSL
import HTTPTypes

/// The opening handshake (RFC 6455 §4.2), server side: checks a request, computes the accept key,
/// picks a subprotocol and the extensions. Pure.
public enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)), with
    /// OpenSSL's SHA-1 and base64.
    public static func acceptKey(for key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        _ = input.withUnsafeBufferPointer { SHA1($0.baseAddress, $0.count, &digest) }
        var encoded = [UInt8](repeating: 0, count: 32)
        let n = EVP_EncodeBlock(&encoded, digest, 20)
        return String(decoding: encoded[..<Int(n)], as: UTF8.self)
    }

    /// What the server agreed to.
    public struct Agreement: Sendable, Equatable {
        public var accept: String
        public var subprotocol: String?
        public var deflate: PerMessageDeflateParameters?
    }

    /// A refused handshake: the status and headers to answer with.
    public struct Refusal: Error, Sendable, Equatable {
        public var status: HTTPResponse.Status
        public var message: String
        public var headers: HTTPFields
    }

    /// Checks an HTTP/1.1 upgrade request. `subprotocols` are the server's, in preference order.
    public static func accept(
        _ request: HTTPRequest, subprotocols: [String] = [], allowDeflate: Bool = true
    ) -> Result<Agreement, Refusal> {
        func refuse(_ message: String, _ status: HTTPResponse.Status = .badRequest, _ headers: HTTPFields = [:]) -> Result<Agreement, Refusal> {
            .failure(Refusal(status: status, message: message, headers: headers))
        }
        let fields = request.headerFields
        guard request.method == .get else { return refuse("WebSocket handshake needs GET") }
        guard fields[values: .upgrade].contains(where: { $0.lowercased().split(separator: ",").contains { $0.trimmingCharacters() == "websocket" } }) else {
            return refuse("missing Upgrade: websocket", .upgradeRequired, [.upgrade: "websocket", .connection: "Upgrade"])
        }
        guard fields[values: .connection].contains(where: { $0.lowercased().split(separator: ",").contains { $0.trimmingCharacters() == "upgrade" } }) else {
            return refuse("missing Connection: Upgrade")
        }
        return negotiate(fields, subprotocols: subprotocols, allowDeflate: allowDeflate, needsKey: true)
    }

    /// Checks an extended CONNECT (RFC 8441) on HTTP/2: no key, no Upgrade headers.
    public static func acceptExtendedConnect(
        _ request: HTTPRequest, subprotocols: [String] = [], allowDeflate: Bool = true
    ) -> Result<Agreement, Refusal> {
        negotiate(request.headerFields, subprotocols: subprotocols, allowDeflate: allowDeflate, needsKey: false)
    }

    private static func negotiate(
        _ fields: HTTPFields, subprotocols: [String], allowDeflate: Bool, needsKey: Bool
    ) -> Result<Agreement, Refusal> {
        guard fields[.secWebSocketVersion] == "13" else {
            return .failure(Refusal(status: .upgradeRequired, message: "unsupported WebSocket version",
                                    headers: [.secWebSocketVersion: "13"]))
        }
        var accept = ""
        if needsKey {
            guard let key = fields[.secWebSocketKey]?.trimmingCharacters(), decodedLength(key) == 16 else {
                return .failure(Refusal(status: .badRequest, message: "missing or malformed Sec-WebSocket-Key", headers: [:]))
            }
            accept = acceptKey(for: key)
        }
        let offered = fields[values: .secWebSocketProtocol].flatMap { $0.split(separator: ",").map { $0.trimmingCharacters() } }
        let subprotocol = subprotocols.first { offered.contains($0) }
        let extensions = fields[values: .secWebSocketExtensions].joined(separator: ", ")
        let deflate = allowDeflate && !extensions.isEmpty ? PerMessageDeflateParameters.negotiate(offers: extensions) : nil
        return .success(Agreement(accept: accept, subprotocol: subprotocol, deflate: deflate))
    }

    /// Bytes a base64 string decodes to, or -1 if it is not base64.
    static func decodedLength(_ text: String) -> Int {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0, !bytes.isEmpty else { return -1 }
        var out = [UInt8](repeating: 0, count: bytes.count)
        let n = EVP_DecodeBlock(&out, bytes, Int32(bytes.count))
        guard n >= 0 else { return -1 }
        let padding = bytes.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        return Int(n) - padding
    }

    /// The 101 (HTTP/1.1) or 200 (HTTP/2) response head for an agreement.
    public static func responseHead(_ agreement: Agreement, http2: Bool) -> HTTPResponse {
        var fields = HTTPFields()
        if !http2 {
            fields[.upgrade] = "websocket"
            fields[.connection] = "Upgrade"
            fields[.secWebSocketAccept] = agreement.accept
        }
        if let subprotocol = agreement.subprotocol { fields[.secWebSocketProtocol] = subprotocol }
        if let deflate = agreement.deflate { fields[.secWebSocketExtensions] = deflate.headerValue }
        return HTTPResponse(status: http2 ? .ok : .switchingProtocols, headerFields: fields)
    }
}
