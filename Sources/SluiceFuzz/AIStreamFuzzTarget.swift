import SluiceAI

/// Arbitrary bytes as an LLM provider stream: the accumulator must not crash, and feeding the bytes
/// whole or split at an offset taken from the input must give the same final state.
func fuzzAIStream(_ bytes: [UInt8]) {
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let whole = AIStreamAccumulator.accumulate(bytes)
    let pieces = AIStreamAccumulator()
    pieces.feed(bytes[..<split])
    pieces.feed(bytes[split...])
    pieces.finish()
    if whole != pieces.state {
        fatalError("accumulated state depends on chunking at \(split)")
    }
}
