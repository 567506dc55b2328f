import SluiceCore

/// Arbitrary bytes as client-to-server WebSocket frames, with permessage-deflate on (so RSV1 and the
/// inflater are exercised too): fed whole and split at an offset taken from the input, both must
/// give the same messages and the same verdict.
func fuzzWebSocket(_ bytes: [UInt8]) {
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let whole = WebSocketFuzzFeeder.run([bytes])
    let pieces = WebSocketFuzzFeeder.run([Array(bytes[..<split]), Array(bytes[split...])])
    if whole != pieces {
        fatalError("WebSocket result depends on chunking at \(split): \(whole) vs \(pieces)")
    }
}

enum WebSocketFuzzFeeder {
    struct Outcome: Equatable {
        var events: [WebSocketEvent] = []
        var error: WebSocketProtocolError?
    }

    static func run(_ pieces: [[UInt8]]) -> Outcome {
        var parser = WebSocketFrameParser(role: .server, allowsRSV1: true, maxFramePayload: 64 * 1024)
        var assembler = WebSocketMessageAssembler(maxMessageSize: 64 * 1024, inflater: MessageInflater())
        var outcome = Outcome()
        do {
            for piece in pieces {
                parser.append(piece)
                while let frame = try parser.next() {
                    if let event = try assembler.push(frame) { outcome.events.append(event) }
                }
            }
        } catch {
            outcome.error = error
        }
        return outcome
    }
}
