import HTTPTypes
import Testing
@testable import SluiceCore

@Suite struct HTTP1ResponseEncoderTests {
    @Test func head() {
        let head = HTTP1ResponseEncoder.head(HTTPResponse(status: .ok, headerFields: [.contentType: "text/plain", .contentLength: "2"]))
        #expect(String(decoding: head, as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n")
    }

    @Test func statusesWithoutReasonInTheTypesPackage() {
        let head = HTTP1ResponseEncoder.head(HTTPResponse(status: .init(code: 431)), version: (1, 0))
        #expect(String(decoding: head, as: UTF8.self) == "HTTP/1.0 431 Request Header Fields Too Large\r\n\r\n")
    }

    /// Server-wide fields go last and replace the response's own fields of the same name.
    @Test func appendedFieldsReplaceTheResponsesOwn() {
        let response = HTTPResponse(status: .notFound, headerFields: [.date: "yesterday", .contentLength: "0", .server: "mine"])
        let head = HTTP1ResponseEncoder.head(response, appending: [
            HTTPField(name: .date, value: "Sun, 22 Nov 2026 21:00:00 GMT"), HTTPField(name: .server, value: "Sluice"),
        ])
        #expect(String(decoding: head, as: UTF8.self) ==
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nDate: Sun, 22 Nov 2026 21:00:00 GMT\r\nServer: Sluice\r\n\r\n")
        let plain = HTTP1ResponseEncoder.head(HTTPResponse(status: .init(code: 599, reasonPhrase: "X")), version: (1, 0), appending: [])
        #expect(String(decoding: plain, as: UTF8.self) == "HTTP/1.0 599 X\r\n\r\n")
    }

    @Test func chunks() {
        #expect(String(decoding: HTTP1ResponseEncoder.chunk(Array(repeating: 0x61, count: 26)), as: UTF8.self) == "1a\r\n" + String(repeating: "a", count: 26) + "\r\n")
        #expect(HTTP1ResponseEncoder.chunk([]).isEmpty)
        // The size line is lowercase hex without leading zeros (RFC 9112 §7.1), at every digit count.
        for count in [0, 1, 9, 10, 15, 16, 255, 256, 4095, 4096, 65_536, 1 << 40, Int.max] {
            #expect(String(decoding: HTTP1ResponseEncoder.chunkSize(count), as: UTF8.self) == String(count, radix: 16) + "\r\n")
        }
        #expect(String(decoding: HTTP1ResponseEncoder.chunk([7]), as: UTF8.self) == "1\r\n\u{7}\r\n")
        #expect(String(decoding: HTTP1ResponseEncoder.lastChunk(trailers: nil), as: UTF8.self) == "0\r\n\r\n")
        let trailers: HTTPFields = [HTTPField.Name("X-Checksum")!: "abc"]
        #expect(String(decoding: HTTP1ResponseEncoder.lastChunk(trailers: trailers), as: UTF8.self) == "0\r\nX-Checksum: abc\r\n\r\n")
    }
}
