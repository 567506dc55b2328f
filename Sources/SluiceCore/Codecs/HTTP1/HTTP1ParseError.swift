import HTTPTypes

/// Why a request cannot be served, with the status the server answers before closing.
public enum HTTP1ParseError: Error, Equatable, Sendable {
    /// Not HTTP/1.x syntax: request line, header or chunk framing.
    case malformed(String)
    /// Request line and headers over ``HTTP1Limits/maxHeaderBytes``.
    case headersTooLarge
    /// Body over ``HTTP1Limits/maxBodyBytes``.
    case bodyTooLarge
    /// A transfer coding other than `chunked`.
    case unsupportedTransferEncoding(String)
    /// Framing that two parsers could read differently (request smuggling): both Content-Length and
    /// Transfer-Encoding, or several Content-Lengths.
    case ambiguousFraming(String)
    /// An HTTP major version other than 1.
    case unsupportedVersion(major: Int, minor: Int)

    public var status: HTTPResponse.Status {
        switch self {
        case .malformed, .ambiguousFraming: .badRequest
        case .headersTooLarge: .requestHeaderFieldsTooLarge
        case .bodyTooLarge: .contentTooLarge
        case .unsupportedTransferEncoding: .notImplemented
        case .unsupportedVersion: .init(code: 505, reasonPhrase: "HTTP Version Not Supported")
        }
    }

    public var message: String {
        switch self {
        case .malformed(let why): "malformed request: \(why)"
        case .headersTooLarge: "request header block too large"
        case .bodyTooLarge: "request body too large"
        case .unsupportedTransferEncoding(let coding): "unsupported transfer-encoding: \(coding)"
        case .ambiguousFraming(let why): "ambiguous message framing: \(why)"
        case .unsupportedVersion(let major, let minor): "HTTP/\(major).\(minor) is not supported"
        }
    }
}
