/// WebSocket opcodes (RFC 6455 §5.2).
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// One frame, unmasked.
public struct WebSocketFrame: Sendable, Equatable {
    public var fin: Bool
    /// RSV1: set on the first frame of a compressed message (permessage-deflate, RFC 7692).
    public var rsv1: Bool
    public var opcode: WebSocketOpcode
    public var payload: [UInt8]

    public init(fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode, payload: [UInt8] = []) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }
}

/// Close status codes (RFC 6455 §7.4).
public struct WebSocketCloseCode: RawRepresentable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let normal = Self(1000)
    public static let goingAway = Self(1001)
    public static let protocolError = Self(1002)
    public static let unsupportedData = Self(1003)
    /// Never sent: "no status code was present".
    public static let noStatus = Self(1005)
    /// Never sent: "closed without a close frame".
    public static let abnormal = Self(1006)
    public static let invalidPayload = Self(1007)
    public static let policyViolation = Self(1008)
    public static let messageTooBig = Self(1009)
    public static let mandatoryExtension = Self(1010)
    public static let internalError = Self(1011)

    /// Codes a peer may put in a close frame.
    public var isValidOnTheWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011: true
        case 3000...4999: true
        default: false
        }
    }

    public var description: String { String(rawValue) }
}

/// Why a connection must be closed, with the code to close it with.
public struct WebSocketProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: WebSocketCloseCode
    public var reason: String
    public init(_ code: WebSocketCloseCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { "\(code): \(reason)" }
}

/// A whole WebSocket message, as both the server's and the client's API hand it over.
public enum WebSocketMessage: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
}
