/// What a WebSocket peer said, at the message level.
public enum WebSocketEvent: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// The peer's close frame: `code` is nil when it sent none (1005).
    case close(code: WebSocketCloseCode?, reason: String)
}

/// Turns frames into messages (RFC 6455 §5.4–5.5, RFC 7692): reassembles fragments, lets control
/// frames interleave, validates text as UTF-8 as it arrives (failing fast with 1007), inflates
/// compressed messages, and bounds every message (1009; inflated bytes count). Pure.
///
/// ```swift
/// var assembler = WebSocketMessageAssembler(maxMessageSize: 1 << 20)
/// if let event = try assembler.push(frame) { ... }
/// ```
public struct WebSocketMessageAssembler {
    public let maxMessageSize: Int
    private let inflater: MessageInflater?
    private var opcode: WebSocketOpcode?
    private var compressed = false
    private var payload: [UInt8] = []
    private var utf8 = UTF8Validator()

    public init(maxMessageSize: Int, inflater: MessageInflater? = nil) {
        self.maxMessageSize = maxMessageSize
        self.inflater = inflater
    }

    /// True while a fragmented message is incomplete.
    public var inMessage: Bool { opcode != nil }

    public mutating func push(_ frame: WebSocketFrame) throws(WebSocketProtocolError) -> WebSocketEvent? {
        if frame.opcode.isControl {
            if frame.rsv1 { throw WebSocketProtocolError(.protocolError, "RSV1 on a control frame") }
            return try control(frame)
        }
        switch frame.opcode {
        case .continuation:
            guard opcode != nil else { throw WebSocketProtocolError(.protocolError, "continuation without a message") }
            if frame.rsv1 { throw WebSocketProtocolError(.protocolError, "RSV1 on a continuation frame") }
        default:
            guard opcode == nil else { throw WebSocketProtocolError(.protocolError, "new message inside a fragmented one") }
            opcode = frame.opcode
            compressed = frame.rsv1
            if compressed && inflater == nil { throw WebSocketProtocolError(.protocolError, "compressed message without the extension") }
            payload.removeAll(keepingCapacity: true)
            utf8.reset()
        }
        var bytes = frame.payload
        if compressed, let inflater {
            bytes = try inflater.inflate(bytes, final: frame.fin, limit: maxMessageSize - payload.count)
        }
        if payload.count + bytes.count > maxMessageSize {
            throw WebSocketProtocolError(.messageTooBig, "message over \(maxMessageSize) bytes")
        }
        if opcode == .text && !utf8.feed(bytes) {
            throw WebSocketProtocolError(.invalidPayload, "text message is not UTF-8")
        }
        payload += bytes
        guard frame.fin else { return nil }
        defer { opcode = nil; payload = [] }
        if opcode == .text {
            guard utf8.isComplete else { throw WebSocketProtocolError(.invalidPayload, "text message ends inside a UTF-8 sequence") }
            return .text(String(decoding: payload, as: UTF8.self))
        }
        return .binary(payload)
    }

    private func control(_ frame: WebSocketFrame) throws(WebSocketProtocolError) -> WebSocketEvent {
        switch frame.opcode {
        case .ping: return .ping(frame.payload)
        case .pong: return .pong(frame.payload)
        default:
            let p = frame.payload
            if p.isEmpty { return .close(code: nil, reason: "") }
            if p.count == 1 { throw WebSocketProtocolError(.protocolError, "close payload of one byte") }
            let code = WebSocketCloseCode(UInt16(p[0]) << 8 | UInt16(p[1]))
            guard code.isValidOnTheWire else { throw WebSocketProtocolError(.protocolError, "invalid close code \(code)") }
            let reason = p[2...]
            guard UTF8Validator.isValid(reason) else { throw WebSocketProtocolError(.invalidPayload, "close reason is not UTF-8") }
            return .close(code: code, reason: String(decoding: reason, as: UTF8.self))
        }
    }
}
