import HTTPTypes
import Testing
@testable import SluiceCore

/// Parses `bytes` fed in `pieces` through frames and messages, as a server would.
func webSocketEvents(_ pieces: [[UInt8]], maxMessageSize: Int = 1 << 20, inflater: MessageInflater? = nil,
                     role: WebSocketFrameParser.Role = .server) -> (events: [WebSocketEvent], error: WebSocketProtocolError?) {
    var parser = WebSocketFrameParser(role: role, allowsRSV1: inflater != nil, maxFramePayload: maxMessageSize)
    var assembler = WebSocketMessageAssembler(maxMessageSize: maxMessageSize, inflater: inflater)
    var events: [WebSocketEvent] = []
    do {
        for piece in pieces {
            parser.append(piece)
            while let frame = try parser.next() {
                if let event = try assembler.push(frame) { events.append(event) }
            }
        }
    } catch {
        return (events, error)
    }
    return (events, nil)
}

let maskKey: (UInt8, UInt8, UInt8, UInt8) = (0x37, 0xFA, 0x21, 0x3D)

func masked(_ frame: WebSocketFrame) -> [UInt8] { WebSocketFrameEncoder.encode(frame, maskingKey: maskKey) }

@Suite struct WebSocketCodecTests {
    // RFC 6455 §5.7.
    @Test func rfcExamples() throws {
        let hello: [UInt8] = [0x48, 0x65, 0x6C, 0x6C, 0x6F]
        #expect(WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .text, payload: hello)) == [0x81, 0x05] + hello)
        #expect(masked(WebSocketFrame(opcode: .text, payload: hello)) == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        #expect(webSocketEvents([[0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]]).events == [.text("Hello")])
        let fragmented: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]
        #expect(webSocketEvents([fragmented], role: .client).events == [.text("Hello")])
        #expect(webSocketEvents([[0x89, 0x05] + hello], role: .client).events == [.ping(hello)])
        #expect(webSocketEvents([[0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]]).events == [.pong(hello)])
        let b256 = WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .binary, payload: Array(repeating: 7, count: 256)))
        #expect(Array(b256.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        let b64k = WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .binary, payload: Array(repeating: 7, count: 65536)))
        #expect(Array(b64k.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
        #expect(WebSocketHandshake.acceptKey(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    static let bad: [(String, [UInt8], WebSocketCloseCode)] = [
        ("unmasked client frame", WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .text, payload: [0x61])), .protocolError),
        ("RSV2 set", [0xA1, 0x80, 1, 2, 3, 4], .protocolError),
        ("RSV1 without extension", [0xC1, 0x80, 1, 2, 3, 4], .protocolError),
        ("reserved data opcode 3", [0x83, 0x80, 1, 2, 3, 4], .protocolError),
        ("reserved control opcode 0xB", [0x8B, 0x80, 1, 2, 3, 4], .protocolError),
        ("fragmented ping", masked(WebSocketFrame(fin: false, opcode: .ping, payload: [1])), .protocolError),
        ("ping over 125 bytes", masked(WebSocketFrame(opcode: .ping, payload: Array(repeating: 0, count: 126))), .protocolError),
        ("continuation without a start", masked(WebSocketFrame(opcode: .continuation, payload: [0x61])), .protocolError),
        ("text inside a fragmented message", masked(WebSocketFrame(fin: false, opcode: .text, payload: [0x61])) + masked(WebSocketFrame(opcode: .text, payload: [0x62])), .protocolError),
        ("invalid UTF-8", masked(WebSocketFrame(opcode: .text, payload: [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80])), .invalidPayload),
        ("UTF-8 cut at the end", masked(WebSocketFrame(opcode: .text, payload: [0x61, 0xE2, 0x82])), .invalidPayload),
        ("close with one byte", masked(WebSocketFrame(opcode: .close, payload: [3])), .protocolError),
        ("close code 1005", masked(WebSocketFrame(opcode: .close, payload: [0x03, 0xED])), .protocolError),
        ("close code 999", masked(WebSocketFrame(opcode: .close, payload: [0x03, 0xE7])), .protocolError),
        ("close code 2000", masked(WebSocketFrame(opcode: .close, payload: [0x07, 0xD0])), .protocolError),
        ("close reason not UTF-8", masked(WebSocketFrame(opcode: .close, payload: [0x03, 0xE8, 0xFF])), .invalidPayload),
        ("message over the limit", masked(WebSocketFrame(opcode: .binary, payload: Array(repeating: 0, count: 2000))), .messageTooBig),
        ("fragments over the limit", masked(WebSocketFrame(fin: false, opcode: .binary, payload: Array(repeating: 0, count: 600))) + masked(WebSocketFrame(opcode: .continuation, payload: Array(repeating: 0, count: 600))), .messageTooBig),
        ("64-bit length with top bit", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4], .protocolError),
    ]

    @Test(arguments: 0..<bad.count)
    func badFramesGetTheirCloseCode(_ index: Int) {
        let (name, bytes, code) = Self.bad[index]
        #expect(webSocketEvents([bytes], maxMessageSize: 1000).error?.code == code, "\(name)")
        for i in 0...bytes.count {
            #expect(webSocketEvents([Array(bytes[..<i]), Array(bytes[i...])], maxMessageSize: 1000).error?.code == code, "\(name) split at \(i)")
        }
    }

    @Test func invalidUTF8FailsFastInTheFirstFragment() {
        // The bad byte is in a non-final fragment: no need to wait for the rest.
        let first = masked(WebSocketFrame(fin: false, opcode: .text, payload: [0x61, 0xFF]))
        #expect(webSocketEvents([first]).error?.code == .invalidPayload)
    }

    @Test func splitAtEveryOffsetGivesTheSameEvents() {
        var stream: [UInt8] = []
        stream += masked(WebSocketFrame(fin: false, opcode: .text, payload: Array("κόσμε ".utf8)))
        stream += masked(WebSocketFrame(opcode: .ping, payload: [1, 2]))
        stream += masked(WebSocketFrame(opcode: .continuation, payload: Array("world €".utf8)))
        stream += masked(WebSocketFrame(opcode: .binary, payload: Array(0...255)))
        stream += masked(WebSocketFrame(opcode: .close, payload: [0x03, 0xE8] + Array("bye".utf8)))
        let expected: [WebSocketEvent] = [.ping([1, 2]), .text("κόσμε world €"), .binary(Array(0...255)), .close(code: .normal, reason: "bye")]
        #expect(webSocketEvents([stream]).events == expected)
        for i in 0...stream.count {
            #expect(webSocketEvents([Array(stream[..<i]), Array(stream[i...])]).events == expected, "split at \(i)")
        }
        #expect(webSocketEvents(stream.map { [$0] }).events == expected)
    }

    @Test func utf8ValidatorTable() {
        #expect(UTF8Validator.isValid(Array("héllo wörld ✓ 😀".utf8)))
        #expect(!UTF8Validator.isValid([0xC0, 0x80]))          // overlong NUL
        #expect(!UTF8Validator.isValid([0xED, 0xA0, 0x80]))    // surrogate
        #expect(!UTF8Validator.isValid([0xF4, 0x90, 0x80, 0x80])) // past U+10FFFF
        #expect(!UTF8Validator.isValid([0xE0, 0x80, 0x80]))    // overlong 3-byte
        #expect(UTF8Validator.isValid([0xF4, 0x8F, 0xBF, 0xBF]))  // U+10FFFF
        var v = UTF8Validator()
        #expect(v.feed([0xF0, 0x9F]) && !v.isComplete)
        #expect(v.feed([0x98, 0x80]) && v.isComplete)
    }

    @Test func deflateRoundTripsWholeAndFragmented() throws {
        for noContext in [false, true] {
            let deflater = MessageDeflater(noContextTakeover: noContext)
            let inflater = MessageInflater(noContextTakeover: noContext)
            var wire: [UInt8] = []
            let texts = ["Hello, Hello, Hello, Hello!", String(repeating: "sluice ", count: 500), "third"]
            for text in texts {
                let compressed = deflater.compress(Array(text.utf8))
                let mid = compressed.count / 2
                wire += masked(WebSocketFrame(fin: false, rsv1: true, opcode: .text, payload: Array(compressed[..<mid])))
                wire += masked(WebSocketFrame(opcode: .continuation, payload: Array(compressed[mid...])))
            }
            #expect(webSocketEvents([wire], inflater: inflater).events == texts.map { .text($0) })
        }
    }

    @Test func decompressionBombIsRefused() {
        let deflater = MessageDeflater()
        let bomb = deflater.compress(Array(repeating: 0, count: 1 << 20))
        #expect(bomb.count < 2000)
        let frame = masked(WebSocketFrame(rsv1: true, opcode: .binary, payload: bomb))
        #expect(webSocketEvents([frame], maxMessageSize: 64 * 1024, inflater: MessageInflater()).error?.code == .messageTooBig)
    }

    @Test(arguments: [
        ("permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"),
        ("permessage-deflate; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"),
        ("permessage-deflate; server_max_window_bits=8, permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits=8", "declined"),
        ("permessage-deflate; unknown_param", "declined"),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "declined"),
        ("x-webkit-deflate-frame", "declined"),
    ])
    func deflateNegotiation(_ offer: String, _ answer: String) {
        #expect(PerMessageDeflateParameters.negotiate(offers: offer)?.headerValue ?? "declined" == answer)
    }

    @Test func handshakeChecks() {
        func request(_ fields: HTTPFields, method: HTTPRequest.Method = .get) -> HTTPRequest {
            HTTPRequest(method: method, scheme: "http", authority: "h", path: "/ws", headerFields: fields)
        }
        let good: HTTPFields = [.upgrade: "websocket", .connection: "keep-alive, Upgrade", .secWebSocketVersion: "13",
                                .secWebSocketKey: "dGhlIHNhbXBsZSBub25jZQ==", .secWebSocketProtocol: "chat, superchat"]
        guard case .success(let agreement) = WebSocketHandshake.accept(request(good), subprotocols: ["superchat", "chat"]) else {
            Issue.record("refused a good handshake"); return
        }
        #expect(agreement.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(agreement.subprotocol == "superchat")
        var wrongVersion = good
        wrongVersion[.secWebSocketVersion] = "8"
        if case .failure(let refusal) = WebSocketHandshake.accept(request(wrongVersion)) {
            #expect(refusal.status.code == 426)
            #expect(refusal.headers[.secWebSocketVersion] == "13")
        } else { Issue.record("accepted version 8") }
        var badKey = good
        badKey[.secWebSocketKey] = "short"
        if case .failure(let refusal) = WebSocketHandshake.accept(request(badKey)) { #expect(refusal.status.code == 400) } else { Issue.record("accepted a bad key") }
        if case .failure(let refusal) = WebSocketHandshake.accept(request(good, method: .post)) { #expect(refusal.status.code == 400) } else { Issue.record("accepted POST") }
    }
}
