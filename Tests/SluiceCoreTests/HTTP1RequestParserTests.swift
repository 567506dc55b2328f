import Testing
@testable import SluiceCore

/// What a connection would see: heads, whole bodies, ends, or the first error.
struct ParsedRequest: Equatable {
    var head: HTTP1RequestHead
    var body: [UInt8]
}

/// Feeds `pieces` the way a connection does: unconsumed bytes stay buffered, the parser is resumed
/// after each complete request.
func parse(_ pieces: [[UInt8]], limits: HTTP1Limits = HTTP1Limits()) -> (requests: [ParsedRequest], error: HTTP1ParseError?) {
    let parser = HTTP1RequestParser(limits: limits)
    var buffer: [UInt8] = []
    var requests: [ParsedRequest] = []
    var current: ParsedRequest?
    for piece in pieces {
        buffer += piece
        while !buffer.isEmpty {
            let result = buffer.withUnsafeBytes { parser.feed($0) }
            buffer.removeFirst(result.consumed)
            for event in result.events {
                switch event {
                case .head(let head): current = ParsedRequest(head: head, body: [])
                case .body(let bytes): current?.body += bytes
                case .end:
                    requests.append(current!)
                    current = nil
                    parser.resume()
                }
            }
            if let error = result.error { return (requests, error) }
            if result.consumed == 0 { break }
        }
    }
    return (requests, nil)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct HTTP1RequestParserTests {
    static let get = "GET /sse?count=3 HTTP/1.1\r\nHost: example\r\nLast-Event-ID: 7\r\n\r\n"
    static let chunkedPost = "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    static let lengthPost = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"

    @Test func simpleGet() {
        let (requests, error) = parse([bytes(Self.get)])
        #expect(error == nil)
        #expect(requests.count == 1)
        let head = requests[0].head
        #expect(head.method == "GET")
        #expect(head.target == "/sse?count=3")
        #expect(head.versionMinor == 1)
        #expect(head.keepAlive)
        #expect(head.header("last-event-id") == "7")
        #expect(head.headers.map(\.name) == ["Host", "Last-Event-ID"])
    }

    @Test func bodies() {
        for text in [Self.chunkedPost, Self.lengthPost] {
            let (requests, error) = parse([bytes(text)])
            #expect(error == nil)
            #expect(requests.map { String(decoding: $0.body, as: UTF8.self) } == ["hello world"])
        }
    }

    @Test func keepAliveRules() {
        #expect(parse([bytes("GET / HTTP/1.0\r\n\r\n")]).requests[0].head.keepAlive == false)
        #expect(parse([bytes("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")]).requests[0].head.keepAlive)
        #expect(parse([bytes("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")]).requests[0].head.keepAlive == false)
    }

    @Test func pipelinedRequestsComeOneAtATime() {
        let parser = HTTP1RequestParser()
        let all = bytes(Self.get + Self.lengthPost + Self.get)
        let first = all.withUnsafeBytes { parser.feed($0) }
        #expect(first.events.count == 2)  // head + end, then paused
        #expect(first.consumed == Self.get.utf8.count)
        let paused = all[first.consumed...].withUnsafeBytes { parser.feed($0) }
        #expect(paused.consumed == 0 && paused.events.isEmpty)
        parser.resume()
        #expect(parse([all]).requests.map(\.head.method) == ["GET", "POST", "GET"])
    }

    /// Every split of the same bytes gives the same requests.
    @Test(arguments: [get, chunkedPost, lengthPost, get + chunkedPost + lengthPost])
    func splitAtEveryOffset(_ text: String) {
        let all = bytes(text)
        let expected = parse([all])
        #expect(expected.error == nil)
        for i in 0...all.count {
            let split = parse([Array(all[..<i]), Array(all[i...])])
            #expect(split.requests == expected.requests, "split at \(i)")
            #expect(split.error == nil)
        }
        // And byte by byte.
        let dribbled = parse(all.map { [$0] })
        #expect(dribbled.requests == expected.requests)
    }

    static let bad: [(String, HTTP1ParseError.Kind)] = [
        ("GARBAGE\r\n\r\n", .malformed),
        ("GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n", .malformed),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .unsupportedVersion),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .ambiguousFraming),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", .ambiguousFraming),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", .ambiguousFraming),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\nhello", .malformed),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .malformed),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", .bodyTooLarge),
        ("GET /" + String(repeating: "a", count: 17_000) + " HTTP/1.1\r\n\r\n", .headersTooLarge),
        ("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 17_000) + "\r\n\r\n", .headersTooLarge),
    ]

    @Test(arguments: 0..<bad.count)
    func rejectsBadInput(_ index: Int) {
        let (text, kind) = Self.bad[index]
        let all = bytes(text)
        let whole = parse([all])
        #expect(whole.error?.kind == kind, "\(text.prefix(60))")
        // The verdict does not depend on how the bytes arrive.
        for i in stride(from: 0, through: all.count, by: max(1, all.count / 64)) {
            #expect(parse([Array(all[..<i]), Array(all[i...])]).error?.kind == kind)
        }
    }

    @Test func statuses() {
        #expect(HTTP1ParseError.malformed("x").status.code == 400)
        #expect(HTTP1ParseError.ambiguousFraming("x").status.code == 400)
        #expect(HTTP1ParseError.headersTooLarge.status.code == 431)
        #expect(HTTP1ParseError.bodyTooLarge.status.code == 413)
        #expect(HTTP1ParseError.unsupportedTransferEncoding("gzip").status.code == 501)
        #expect(HTTP1ParseError.unsupportedVersion(major: 2, minor: 0).status.code == 505)
    }

    @Test func chunkedBodyOverLimit() {
        let limits = HTTP1Limits(maxHeaderBytes: 16_384, maxBodyBytes: 8)
        let (_, error) = parse([bytes(Self.chunkedPost)], limits: limits)
        #expect(error == .bodyTooLarge)
    }

    @Test func headerLimitCountsManySmallHeaders() {
        let limits = HTTP1Limits(maxHeaderBytes: 1024, maxBodyBytes: 8)
        let many = (0..<200).map { "X-\($0): v\r\n" }.joined()
        #expect(parse([bytes("GET / HTTP/1.1\r\n" + many + "\r\n")], limits: limits).error == .headersTooLarge)
    }

    @Test func upgradeRequestEndsAndParserCanContinue() {
        let text = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        let (requests, error) = parse([bytes(text + Self.get)])
        #expect(error == nil)
        #expect(requests.count == 2)
        #expect(requests[0].head.isUpgrade)
    }
}

extension HTTP1ParseError {
    enum Kind { case malformed, headersTooLarge, bodyTooLarge, unsupportedTransferEncoding, ambiguousFraming, unsupportedVersion }
    var kind: Kind {
        switch self {
        case .malformed: .malformed
        case .headersTooLarge: .headersTooLarge
        case .bodyTooLarge: .bodyTooLarge
        case .unsupportedTransferEncoding: .unsupportedTransferEncoding
        case .ambiguousFraming: .ambiguousFraming
        case .unsupportedVersion: .unsupportedVersion
        }
    }
}
