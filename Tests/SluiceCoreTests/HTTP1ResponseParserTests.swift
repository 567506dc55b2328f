import Testing
@testable import SluiceCore

/// Heads, joined body and ends, whatever the chunking.
func parseResponse(_ pieces: [[UInt8]], eof: Bool = true) throws -> (status: [Int], body: String, ends: Int) {
    let parser = HTTP1ResponseParser()
    var status: [Int] = []
    var body: [UInt8] = []
    var ends = 0
    var events: [HTTP1ResponseEvent] = []
    for piece in pieces { events += try parser.feed(piece) }
    if eof { events += try parser.finish() }
    for event in events {
        switch event {
        case .head(let s, _): status.append(s)
        case .body(let b): body += b
        case .end: ends += 1
        case .upgraded: break
        }
    }
    return (status, String(decoding: body, as: UTF8.self), ends)
}

@Suite struct HTTP1ResponseParserTests {
    static let cases: [(String, String, [Int], String)] = [
        ("content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", [200], "hello"),
        ("chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", [200], "hello world"),
        ("close-delimited", "HTTP/1.0 200 OK\r\n\r\nuntil the end", [200], "until the end"),
        ("interim 100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", [100, 200], "ok"),
        ("204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", [204], ""),
        ("SSE stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nd\r\ndata: hello\n\n\r\n0\r\n\r\n", [200], "data: hello\n\n"),
    ]

    @Test(arguments: 0..<cases.count)
    func parsesEveryChunking(_ index: Int) throws {
        let (name, text, status, body) = Self.cases[index]
        let bytes = Array(text.utf8)
        for i in 0...bytes.count {
            let result = try parseResponse([Array(bytes[..<i]), Array(bytes[i...])])
            #expect(result.status == status, "\(name) split at \(i)")
            #expect(result.body == body, "\(name) split at \(i)")
        }
    }

    @Test func headersAreReported() throws {
        let parser = HTTP1ResponseParser()
        let events = try parser.feed(Array("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(events.first == .head(status: 503, headers: [HTTP1Header(name: "Retry-After", value: "7"), HTTP1Header(name: "Content-Length", value: "0")]))
    }

    @Test func malformedAndTruncatedResponsesFail() {
        #expect(throws: HTTP1ResponseParser.Failure.self) { _ = try parseResponse([Array("NOT HTTP\r\n\r\n".utf8)]) }
        #expect(throws: HTTP1ResponseParser.Failure.self) { _ = try parseResponse([Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".utf8)]) }
        #expect(throws: HTTP1ResponseParser.Failure.self) { _ = try parseResponse([Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8)]) }
    }
}
