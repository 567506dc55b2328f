import SluiceCore

/// Arbitrary bytes as a `text/event-stream`: fed whole and split at an offset taken from the input
/// (CR and LF of a CRLF may land in different chunks), both must give the same outputs.
func fuzzSSE(_ bytes: [UInt8]) {
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var whole = SSEParser()
    var pieces = SSEParser()
    let a = whole.feed(bytes)
    let b = pieces.feed(bytes[..<split]) + pieces.feed(bytes[split...])
    if a != b || whole.lastEventID != pieces.lastEventID {
        fatalError("SSE result depends on chunking at \(split): \(a) vs \(b)")
    }
}
