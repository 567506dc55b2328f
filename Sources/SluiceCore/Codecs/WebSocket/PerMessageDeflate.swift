import CZlib

/// permessage-deflate (RFC 7692) as negotiated for one connection: which side keeps its LZ77
/// context between messages and how large its window is.
public struct PerMessageDeflateParameters: Sendable, Equatable {
    public var serverNoContextTakeover = false
    public var clientNoContextTakeover = false
    /// 9...15: the window the server compresses with.
    public var serverMaxWindowBits = 15
    /// 9...15: the window the client compresses with.
    public var clientMaxWindowBits = 15

    public init() {}

    /// The response header value for these parameters.
    public var headerValue: String {
        var parts = ["permessage-deflate"]
        if serverNoContextTakeover { parts.append("server_no_context_takeover") }
        if clientNoContextTakeover { parts.append("client_no_context_takeover") }
        if serverMaxWindowBits < 15 { parts.append("server_max_window_bits=\(serverMaxWindowBits)") }
        if clientMaxWindowBits < 15 { parts.append("client_max_window_bits=\(clientMaxWindowBits)") }
        return parts.joined(separator: "; ")
    }

    /// Accepts the first permessage-deflate offer in a `Sec-WebSocket-Extensions` value that the
    /// server can honour (RFC 7692 §7.1), or `nil` to decline them all.
    public static func negotiate(offers header: String) -> PerMessageDeflateParameters? {
        for offer in header.split(separator: ",") {
            let params = offer.split(separator: ";").map { $0.trimmingCharacters() }
            guard params.first == "permessage-deflate" else { continue }
            var result = PerMessageDeflateParameters()
            var seen = Set<String>()
            var acceptable = true
            for param in params.dropFirst() {
                let pieces = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters() }
                let name = pieces[0]
                let value = pieces.count > 1 ? pieces[1].trimmingCharacters(in: "\"") : nil
                guard seen.insert(name).inserted else { acceptable = false; break }
                switch name {
                case "server_no_context_takeover" where value == nil:
                    result.serverNoContextTakeover = true
                case "client_no_context_takeover" where value == nil:
                    result.clientNoContextTakeover = true
                case "server_max_window_bits":
                    // zlib cannot compress with an 8-bit window (it silently uses 9): decline such an offer.
                    guard let value, let bits = Int(value), (9...15).contains(bits) else { acceptable = false; break }
                    result.serverMaxWindowBits = bits
                case "client_max_window_bits":
                    if let value {
                        guard let bits = Int(value), (8...15).contains(bits) else { acceptable = false; break }
                        result.clientMaxWindowBits = max(bits, 9)
                    }
                default:
                    acceptable = false
                }
                if !acceptable { break }
            }
            if acceptable { return result }
        }
        return nil
    }
}

/// One direction of permessage-deflate: compresses whole messages with a raw deflate stream,
/// flushing to a byte boundary and removing the final `00 00 FF FF` (RFC 7692 §7.2.1).
///
/// Memory: zlib's deflate state is about `2^(windowBits+2) + 2^(memLevel+9)` bytes: 256 KiB at the
/// defaults (window 15, memLevel 8), 80 KiB at window 12 and memLevel 6, of which zlib touches ~70 KiB
/// at once. So it is made on the first message, not with the connection: an idle connection that
/// agreed on compression costs nothing for it (measured with `sluice load`: an idle client
/// WebSocket went from 104 KB to 21 KB). Freed in `deinit`.
public final class MessageDeflater {
    private var stream = z_stream()
    private let resetEachMessage: Bool
    private let windowBits: Int
    private let memLevel: Int
    private var started = false

    public init(windowBits: Int = 15, memLevel: Int = 8, noContextTakeover: Bool = false) {
        resetEachMessage = noContextTakeover
        self.windowBits = windowBits
        self.memLevel = memLevel
    }

    deinit { if started { deflateEnd(&stream) } }

    private func start() {
        let rc = deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -Int32(windowBits), Int32(memLevel),
                               Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
        started = true
    }

    public func compress(_ input: [UInt8]) -> [UInt8] {
        if !started { start() }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 2 + 64)
        var chunk = [UInt8](repeating: 0, count: max(1024, input.count + 64))
        input.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    _ = deflate(&stream, Z_SYNC_FLUSH)
                    out.append(contentsOf: buffer[..<(buffer.count - Int(stream.avail_out))])
                }
            } while stream.avail_out == 0
        }
        stream.next_in = nil
        if out.count >= 4 && out.suffix(4) == [0, 0, 0xFF, 0xFF] { out.removeLast(4) }
        if resetEachMessage { deflateReset(&stream) }
        return out
    }
}

/// The other direction: inflates a message's payload as its fragments arrive, refusing to produce
/// more than a limit (so a small compressed message cannot expand into a memory bomb).
/// Memory: about 2^15 + 7 KiB (39 KiB) of zlib state, made on the first compressed message (an idle
/// connection that negotiated the extension costs nothing) and freed in `deinit`.
public final class MessageInflater {
    private var stream = z_stream()
    private var started = false
    private let resetEachMessage: Bool

    public init(noContextTakeover: Bool = false) {
        resetEachMessage = noContextTakeover
    }

    deinit { if started { inflateEnd(&stream) } }

    private func start() {
        // Always a 15-bit window: it reads whatever smaller window the peer compressed with.
        let rc = inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
        started = true
    }

    /// Inflates one fragment; `final` adds the stripped `00 00 FF FF` tail. Throws 1009 past `limit`
    /// output bytes and 1007 on corrupt data.
    public func inflate(_ input: [UInt8], final: Bool, limit: Int) throws(WebSocketProtocolError) -> [UInt8] {
        if !started { start() }
        let data = final ? input + [0, 0, 0xFF, 0xFF] : input
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var failure: WebSocketProtocolError?
        data.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while failure == nil {
                var produced = 0
                var rc: Int32 = Z_OK
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    rc = CZlib.inflate(&stream, Z_SYNC_FLUSH)
                    produced = buffer.count - Int(stream.avail_out)
                    out.append(contentsOf: buffer[..<produced])
                }
                if rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END {
                    failure = WebSocketProtocolError(.invalidPayload, "corrupt compressed data")
                } else if out.count > limit {
                    failure = WebSocketProtocolError(.messageTooBig, "message inflates past \(limit) bytes")
                } else if stream.avail_in == 0 && produced < chunk.count {
                    break
                } else if produced == 0 {
                    break
                }
            }
        }
        stream.next_in = nil
        if let failure { throw failure }
        if final && resetEachMessage { inflateReset(&stream) }
        return out
    }
}

extension Substring {
    func trimmingCharacters(in quote: Character = " ") -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == quote { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == quote { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    func trimmingCharacters(in quote: Character = " ") -> String { Substring(self).trimmingCharacters(in: quote) }
}
