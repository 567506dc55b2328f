import Testing
@testable import SluiceCore

func sseParse(_ pieces: [[UInt8]], lastEventID: String = "") -> [SSEParserOutput] {
    var parser = SSEParser(lastEventID: lastEventID)
    return pieces.flatMap { parser.feed($0) }
}

func sseEvents(_ text: String) -> [SSEParsedEvent] {
    sseParse([Array(text.utf8)]).compactMap { if case .event(let e) = $0 { e } else { nil } }
}

@Suite struct SSEParserTests {
    // The examples of the WHATWG HTML standard, "Server-sent events", §9.2.5–9.2.6.
    @Test func specExamples() {
        #expect(sseEvents("data: YHOO\ndata: +2\ndata: 10\n\n") == [SSEParsedEvent(data: "YHOO\n+2\n10")])
        #expect(sseEvents(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n") == [
            SSEParsedEvent(data: "first event", lastEventID: "1"),
            SSEParsedEvent(data: "second event", lastEventID: ""),
            SSEParsedEvent(data: " third event", lastEventID: ""),
        ])
        #expect(sseEvents("data\n\ndata\ndata\n\ndata:") == [SSEParsedEvent(data: ""), SSEParsedEvent(data: "\n")])
        #expect(sseEvents("data:test\n\ndata: test\n\n") == [SSEParsedEvent(data: "test"), SSEParsedEvent(data: "test")])
    }

    static let table: [(String, String, [SSEParserOutput])] = [
        ("event type, reset after dispatch", "event: add\ndata: 1\n\ndata: 2\n\n",
         [.event(.init(type: "add", data: "1")), .event(.init(data: "2"))]),
        ("id persists across events", "id: 7\ndata: a\n\ndata: b\n\n",
         [.event(.init(data: "a", lastEventID: "7")), .event(.init(data: "b", lastEventID: "7"))]),
        ("id-only event records the id, dispatches nothing", "id: 9\n\ndata: x\n\n", [.event(.init(data: "x", lastEventID: "9"))]),
        ("id with NUL is ignored", "id: 1\ndata: a\n\nid: 2\u{0}3\ndata: b\n\n",
         [.event(.init(data: "a", lastEventID: "1")), .event(.init(data: "b", lastEventID: "1"))]),
        ("retry digits only", "retry: 1500\nretry: 15x\nretry: -1\nretry:\ndata: x\n\n", [.retry(1500), .event(.init(data: "x"))]),
        ("comments", ":\n: keep-alive\ndata: x\n\n", [.comment(""), .comment("keep-alive"), .event(.init(data: "x"))]),
        ("CRLF line ends", "data: a\r\ndata: b\r\n\r\n", [.event(.init(data: "a\nb"))]),
        ("CR line ends", "data: a\rdata: b\r\r", [.event(.init(data: "a\nb"))]),
        ("mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", [.event(.init(data: "a\nb\nc"))]),
        ("BOM is skipped once", "\u{FEFF}data: a\n\n", [.event(.init(data: "a"))]),
        ("unknown fields are ignored", "foo: bar\ndata: x\n\n", [.event(.init(data: "x"))]),
        ("field without colon", "data\nevent\n\n", [.event(.init(data: ""))]),
        ("colon in the value", "data: a: b\n\n", [.event(.init(data: "a: b"))]),
        ("only one space is stripped", "data:   x\n\n", [.event(.init(data: "  x"))]),
        ("event type with no data dispatches nothing and resets", "event: a\n\ndata: x\n\n", [.event(.init(data: "x"))]),
        ("incomplete event at the end is not dispatched", "data: x\n", []),
        ("unicode data", "data: κόσμε ✓\n\n", [.event(.init(data: "κόσμε ✓"))]),
    ]

    @Test(arguments: 0..<table.count)
    func tableCase(_ index: Int) {
        let (name, text, expected) = Self.table[index]
        #expect(sseParse([Array(text.utf8)]) == expected, "\(name)")
    }

    /// Every split of every table entry (and byte-by-byte) gives the same outputs, including CR and
    /// LF of a CRLF arriving in different chunks and a BOM cut in pieces.
    @Test(arguments: 0..<table.count)
    func splitAtEveryOffset(_ index: Int) {
        let (name, text, expected) = Self.table[index]
        let bytes = Array(text.utf8)
        for i in 0...bytes.count {
            #expect(sseParse([Array(bytes[..<i]), Array(bytes[i...])]) == expected, "\(name) split at \(i)")
        }
        #expect(sseParse(bytes.map { [$0] }) == expected, "\(name) byte by byte")
    }

    @Test func bomOnlyAtTheStart() {
        #expect(sseParse([Array("data: a\n\n\u{FEFF}data: b\n\n".utf8)]).count == 1)  // a second BOM is part of a field name
        #expect(sseParse([[0xEF, 0xBB], [0xBF] + Array("data: a\n\n".utf8)]) == [.event(.init(data: "a"))])
    }

    @Test func encoderOutputRoundTrips() throws {
        let events = [SSEEvent(data: "a\nb", event: "x", id: "1"), SSEEvent(data: "", id: "2"), SSEEvent(data: " lead", event: nil)]
        var bytes: [UInt8] = []
        for e in events { try SSEEncoder.encode(e, into: &bytes) }
        let parsed = sseParse([bytes]).compactMap { if case .event(let e) = $0 { e } else { nil } }
        #expect(parsed == [SSEParsedEvent(type: "x", data: "a\nb", lastEventID: "1"), SSEParsedEvent(data: "", lastEventID: "2"),
                           SSEParsedEvent(data: " lead", lastEventID: "2")])
    }
}
