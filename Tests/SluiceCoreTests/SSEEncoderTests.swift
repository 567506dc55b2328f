import Testing
@testable import SluiceCore

@Suite struct SSEEncoderTests {
    // Expected bytes follow the WHATWG "Server-sent events" interpretation rules: a parser that reads
    // them back dispatches exactly the event that was encoded.
    static let table: [(SSEEvent, String)] = [
        (SSEEvent(data: "hello"), "data: hello\n\n"),
        (SSEEvent(data: ""), "data: \n\n"),
        (SSEEvent(data: "a\nb"), "data: a\ndata: b\n\n"),
        (SSEEvent(data: "a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n"),
        (SSEEvent(data: "trailing\n"), "data: trailing\ndata: \n\n"),
        (SSEEvent(data: " leading space"), "data:  leading space\n\n"),
        (SSEEvent(data: "x", event: "update"), "event: update\ndata: x\n\n"),
        (SSEEvent(data: "x", id: "42"), "id: 42\ndata: x\n\n"),
        (SSEEvent(data: "x", id: ""), "id: \ndata: x\n\n"),
        (SSEEvent(data: "x", retry: 1500), "retry: 1500\ndata: x\n\n"),
        (SSEEvent(id: "7"), "id: 7\n\n"),
        (SSEEvent(retry: 0), "retry: 0\n\n"),
        (SSEEvent(data: "{\"k\":\"v: w\"}", event: "json", id: "1", retry: 10),
         "event: json\nid: 1\nretry: 10\ndata: {\"k\":\"v: w\"}\n\n"),
        (SSEEvent(data: "ünïcödé ✓"), "data: ünïcödé ✓\n\n"),
    ]

    @Test(arguments: 0..<table.count)
    func encodesPerSpec(_ index: Int) throws {
        let (event, expected) = Self.table[index]
        let bytes = try SSEEncoder.encode(event)
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test(arguments: ["a\nb", "a\rb", "a\0b", "\n"])
    func rejectsIDsThatWouldChangeMeaning(_ id: String) {
        #expect(throws: SSEEncodingError.invalidID(id)) { try SSEEncoder.encode(SSEEvent(data: "x", id: id)) }
    }

    @Test func rejectsEventTypeWithLineBreak() {
        #expect(throws: SSEEncodingError.invalidEventType("a\nb")) { try SSEEncoder.encode(SSEEvent(data: "x", event: "a\nb")) }
    }

    @Test func rejectsNegativeRetry() {
        #expect(throws: SSEEncodingError.negativeRetry(-1)) { try SSEEncoder.encode(SSEEvent(retry: -1)) }
    }

    @Test func comments() {
        #expect(String(decoding: SSEEncoder.comment("keep-alive"), as: UTF8.self) == ": keep-alive\n")
        #expect(String(decoding: SSEEncoder.comment(""), as: UTF8.self) == ":\n")
        #expect(String(decoding: SSEEncoder.comment("a\nb"), as: UTF8.self) == ": a\n: b\n")
    }

    @Test func appendsIntoExistingBuffer() throws {
        var out: [UInt8] = Array("x".utf8)
        try SSEEncoder.encode(SSEEvent(data: "y"), into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "xdata: y\n\n")
    }
}
