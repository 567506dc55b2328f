/// Incremental WebSocket frame parser (RFC 6455 §5.2). Pure: feed bytes in any chunking, take whole
/// frames out, unmasked. Frame-level rules are checked here; message-level rules (fragment order,
/// UTF-8, close payloads) in ``WebSocketMessageAssembler``.
///
/// ```swift
/// var parser = WebSocketFrameParser(role: .server)
/// parser.append(bytes)
/// while let frame = try parser.next() { ... }
/// ```
public struct WebSocketFrameParser: Sendable {
    public enum Role: Sendable {
        /// Frames come from a client: they must be masked.
        case server
        /// Frames come from a server: they must not be masked.
        case client
    }

    public let role: Role
    /// RSV1 is allowed (permessage-deflate was negotiated).
    public var allowsRSV1: Bool
    /// Frames with a larger payload are refused with 1009 before they are buffered.
    public var maxFramePayload: Int

    private var buffer: [UInt8] = []
    private var offset = 0

    public init(role: Role, allowsRSV1: Bool = false, maxFramePayload: Int = 16 << 20) {
        self.role = role
        self.allowsRSV1 = allowsRSV1
        self.maxFramePayload = maxFramePayload
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if offset > 0 && offset >= buffer.count / 2 {
            buffer.removeFirst(offset)
            offset = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes held that are not yet part of a returned frame.
    public var bufferedBytes: Int { buffer.count - offset }

    /// The next whole frame, or `nil` if more bytes are needed.
    public mutating func next() throws(WebSocketProtocolError) -> WebSocketFrame? {
        let available = buffer.count - offset
        guard available >= 2 else { return nil }
        let b0 = buffer[offset]
        let b1 = buffer[offset + 1]
        let fin = b0 & 0x80 != 0
        let rsv1 = b0 & 0x40 != 0
        if b0 & 0x30 != 0 { throw WebSocketProtocolError(.protocolError, "reserved bits RSV2/RSV3 set") }
        if rsv1 && !allowsRSV1 { throw WebSocketProtocolError(.protocolError, "RSV1 set without an extension") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else {
            throw WebSocketProtocolError(.protocolError, "reserved opcode \(b0 & 0x0F)")
        }
        let masked = b1 & 0x80 != 0
        switch role {
        case .server where !masked: throw WebSocketProtocolError(.protocolError, "client frame not masked")
        case .client where masked: throw WebSocketProtocolError(.protocolError, "server frame masked")
        default: break
        }
        var length = Int(b1 & 0x7F)
        var header = 2
        if length == 126 {
            guard available >= 4 else { return nil }
            length = Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
            header = 4
        } else if length == 127 {
            guard available >= 10 else { return nil }
            var value: UInt64 = 0
            for i in 2..<10 { value = value << 8 | UInt64(buffer[offset + i]) }
            if value >> 63 != 0 { throw WebSocketProtocolError(.protocolError, "64-bit length with the top bit set") }
            if value > UInt64(maxFramePayload) { throw WebSocketProtocolError(.messageTooBig, "frame of \(value) bytes") }
            length = Int(value)
            header = 10
        }
        if opcode.isControl {
            if !fin { throw WebSocketProtocolError(.protocolError, "fragmented control frame") }
            if length > 125 { throw WebSocketProtocolError(.protocolError, "control frame over 125 bytes") }
        }
        if length > maxFramePayload { throw WebSocketProtocolError(.messageTooBig, "frame of \(length) bytes") }
        let maskBytes = masked ? 4 : 0
        guard available >= header + maskBytes + length else { return nil }
        let start = offset + header + maskBytes
        var payload = Array(buffer[start..<(start + length)])
        if masked {
            let key = (buffer[offset + header], buffer[offset + header + 1], buffer[offset + header + 2], buffer[offset + header + 3])
            WebSocketFrameEncoder.applyMask(key, to: &payload)
        }
        offset = start + length
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, payload: payload)
    }
}

/// Serialises frames (RFC 6455 §5.2). Servers send unmasked frames; clients pass a masking key.
public enum WebSocketFrameEncoder {
    public static func encode(_ frame: WebSocketFrame, maskingKey: (UInt8, UInt8, UInt8, UInt8)? = nil) -> [UInt8] {
        var out: [UInt8] = []
        encode(frame, maskingKey: maskingKey, into: &out)
        return out
    }

    public static func encode(_ frame: WebSocketFrame, maskingKey: (UInt8, UInt8, UInt8, UInt8)? = nil, into out: inout [UInt8]) {
        let count = frame.payload.count
        out.reserveCapacity(out.count + count + 14)
        out.append((frame.fin ? 0x80 : 0) | (frame.rsv1 ? 0x40 : 0) | frame.opcode.rawValue)
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        if count < 126 {
            out.append(maskBit | UInt8(count))
        } else if count <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(count >> 8))
            out.append(UInt8(count & 0xFF))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((UInt64(count) >> UInt64(shift)) & 0xFF)) }
        }
        if let key = maskingKey {
            out += [key.0, key.1, key.2, key.3]
            var payload = frame.payload
            applyMask(key, to: &payload)
            out += payload
        } else {
            out += frame.payload
        }
    }

    /// XOR with the 4-byte key, in place (masking and unmasking are the same operation).
    public static func applyMask(_ key: (UInt8, UInt8, UInt8, UInt8), to bytes: inout [UInt8]) {
        let k = [key.0, key.1, key.2, key.3]
        bytes.withUnsafeMutableBufferPointer { buffer in
            var i = 0
            let n = buffer.count
            // Eight bytes at a time where possible: the key repeats every four, so twice over.
            let wide = UInt64(k[0]) | UInt64(k[1]) << 8 | UInt64(k[2]) << 16 | UInt64(k[3]) << 24
            let key64 = wide | wide << 32
            while i + 8 <= n {
                let raw = UnsafeMutableRawPointer(buffer.baseAddress! + i)
                let v = raw.loadUnaligned(as: UInt64.self)
                raw.storeBytes(of: v ^ key64, as: UInt64.self)
                i += 8
            }
            while i < n {
                buffer[i] ^= k[i & 3]
                i += 1
            }
        }
    }

    /// A close frame's payload: the code and a reason, the reason cut to fit 125 bytes.
    public static func closePayload(_ code: WebSocketCloseCode, reason: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !UTF8Validator.isValid(reasonBytes) { reasonBytes.removeLast() }
        out += reasonBytes
        return out
    }
}
