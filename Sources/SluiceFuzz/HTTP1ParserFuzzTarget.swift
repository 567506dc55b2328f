import SluiceCore

#if canImport(Glibc)
import Glibc
#endif

/// Which parser to fuzz: `SLUICE_FUZZ_TARGET=http1` (the default), `websocket`, `sse` or `ai`.
let fuzzTarget = getenv("SLUICE_FUZZ_TARGET").map { String(cString: $0) } ?? "http1"

/// libFuzzer entry.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch fuzzTarget {
    case "websocket": fuzzWebSocket(bytes)
    case "sse": fuzzSSE(bytes)
    case "ai": fuzzAIStream(bytes)
    default: fuzzHTTP1Parser(bytes)
    }
    return 0
}

/// Arbitrary bytes into the HTTP/1.1 request parser, fed whole and in two pieces split at an offset
/// taken from the input. Both feedings must agree (the parser may not depend on chunking),
/// `consumed` may never exceed what was fed, and nothing may crash.
func fuzzHTTP1Parser(_ bytes: [UInt8]) {
    let size = bytes.count
    let limits = HTTP1Limits(maxHeaderBytes: 4096, maxBodyBytes: 4096)
    let whole = FuzzFeeder.run([bytes], limits: limits)
    let split = size == 0 ? 0 : Int(bytes[0]) % (size + 1)
    let pieces = FuzzFeeder.run([Array(bytes[..<split]), Array(bytes[split...])], limits: limits)
    if whole != pieces {
        fatalError("parser result depends on chunking at \(split): \(whole) vs \(pieces)")
    }
}

/// Feeds a parser the way a connection does and summarises what came out.
enum FuzzFeeder {
    struct Outcome: Equatable {
        var events: [HTTP1ParserEvent] = []
        var error: HTTP1ParseError?
    }

    static func run(_ pieces: [[UInt8]], limits: HTTP1Limits) -> Outcome {
        let parser = HTTP1RequestParser(limits: limits)
        var outcome = Outcome()
        var buffer: [UInt8] = []
        for piece in pieces {
            buffer += piece
            while !buffer.isEmpty && outcome.error == nil {
                let result = buffer.withUnsafeBytes { parser.feed($0) }
                precondition(result.consumed <= buffer.count, "consumed more than fed")
                buffer.removeFirst(result.consumed)
                for event in result.events {
                    // Body chunk boundaries legitimately follow the feeding; compare bodies joined.
                    if case .body(let b) = event, case .body(let a)? = outcome.events.last {
                        outcome.events[outcome.events.count - 1] = .body(a + b)
                    } else {
                        outcome.events.append(event)
                    }
                    if event == .end { parser.resume() }
                }
                outcome.error = result.error
                if result.consumed == 0 { break }
            }
        }
        return outcome
    }
}
