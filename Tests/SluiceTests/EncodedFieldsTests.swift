import CNGHTTP2
import Foundation
import HTTPTypes
import Testing
@testable import Sluice

/// Fields laid out once as bytes (`EncodedFields`) give HTTP/2 the same header block as the fields
/// read one by one, and are used only where nothing changes a response's fields on the way out.
@Suite struct EncodedFieldsTests {
    /// The name/value pairs nghttp2 would be given, as text.
    static func pairs(_ nva: UnsafePointer<nghttp2_nv>, _ count: Int) -> [String] {
        (0..<count).map { i in
            let nv = nva[i]
            return String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self) + ": "
                + String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
        }
    }

    @Test func headerBlockIsTheSameAsFieldByField() {
        let fields: HTTPFields = [
            .contentType: "text/plain; charset=utf-8", .contentLength: "12", .connection: "close",
            HTTPField.Name("X-Trace")!: "a b", .transferEncoding: "chunked", .cacheControl: "",
        ]
        let server = [HTTPField(name: .date, value: "Sun, 06 Dec 2026 10:00:00 GMT"), HTTPField(name: .server, value: "Sluice")]
        for code in [200, 404, 101, 999] {
            let head = HTTPResponse(status: .init(code: code), headerFields: fields)
            let fieldByField = HTTP2HeaderBlock.withNameValues(status: head.pseudoHeaderFields.status, fields: fields, appending: server) {
                Self.pairs($0, $1)
            }
            let encoded = HTTP2HeaderBlock.withNameValues(status: code, encoded: EncodedFields(fields), appending: EncodedFields(HTTPFields(server))) {
                Self.pairs($0, $1)
            }
            #expect(encoded == fieldByField)
            #expect(encoded == [
                ":status: \(code)", "content-type: text/plain; charset=utf-8", "content-length: 12", "x-trace: a b", "cache-control: ",
                "date: Sun, 06 Dec 2026 10:00:00 GMT", "server: Sluice",
            ])
        }
    }

    @Test func standAloneOnlyWhenNothingChangesTheFields() {
        #expect(EncodedFields([.contentLength: "3", .contentType: "text/plain"]).standsAlone(decorated: false))
        #expect(!EncodedFields([.contentLength: "3"]).standsAlone(decorated: true))  // a CORS policy adds fields
        #expect(!EncodedFields([.contentType: "text/plain"]).standsAlone(decorated: false))  // the length is added
        #expect(!EncodedFields([.contentLength: "3", .date: "then"]).standsAlone(decorated: false))  // replaced by the server's
        #expect(!EncodedFields([.contentLength: "3", .server: "other"]).standsAlone(decorated: false))

        let fields: HTTPFields = [.contentLength: "3"]
        var response = Response(headers: fields, encoded: EncodedFields(fields), body: [1, 2, 3])
        #expect(response.encodedFields != nil)
        response.head.headerFields[.contentType] = "text/plain"
        #expect(response.encodedFields == nil)  // the bytes no longer say what the head says
    }

    /// A static file's responses carry its fields as bytes, laid out again when its length changes.
    @Test func staticFileResponsesCarryTheirFieldsAsBytes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-encoded-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data(repeating: 65, count: 100).write(to: URL(fileURLWithPath: root + "/a.txt"))
        // Settled at once: its bytes are kept and sent as a body (the other branch sends the region).
        let kept = try #require(StaticFiles(directory: root, openFiles: OpenFileCache(settledAfter: .zero)))
        let files = try #require(StaticFiles(directory: root))
        func request() -> Request { Request(head: HTTPRequest(method: .get, scheme: "http", authority: "t", path: "/a.txt")) }
        func text(_ encoded: EncodedFields?) -> [String] {
            guard let encoded else { return [] }
            return encoded.fields.map {
                String(decoding: encoded.bytes[$0.nameStart..<$0.nameStart + $0.nameCount], as: UTF8.self) + ": "
                    + String(decoding: encoded.bytes[$0.valueStart..<$0.valueStart + $0.valueCount], as: UTF8.self)
            }
        }
        let expected = ["content-type: text/plain; charset=utf-8", "content-length: 100"]
        let fromMemory = try kept.get(request())
        #expect(!fromMemory.body.isEmpty && text(fromMemory.encodedFields) == expected)
        let fromRegion = try files.get(request())
        #expect(fromRegion.file != nil && text(fromRegion.encodedFields) == expected)
        #expect(text(try files.head(request()).encodedFields) == expected)
        try Data(repeating: 66, count: 7).write(to: URL(fileURLWithPath: root + "/a.txt"))
        #expect(text(try files.get(request()).encodedFields) == ["content-type: text/plain; charset=utf-8", "content-length: 7"])
    }

    /// A static file's head over HTTP/2, with and without a CORS policy (which takes the
    /// field-by-field way), and after the file changed length (new fields, laid out again).
    @Test(arguments: [false, true])
    func staticFileHeadsOverHTTP2(cors: Bool) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-encoded-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data(repeating: 65, count: 100).write(to: URL(fileURLWithPath: root + "/a.txt"))
        try await withServer(configure: { $0.cors = cors ? .anyOrigin : nil }, routes: { $0.staticFiles(from: root) }) { server in
            for (length, method) in [(100, "GET"), (100, "HEAD"), (7, "GET")] {
                if length == 7 { try Data(repeating: 66, count: 7).write(to: URL(fileURLWithPath: root + "/a.txt")) }
                let how = method == "HEAD" ? ["-I"] : ["-D", "-", "-o", "/dev/null"]
                let result = try await curl(["--http2-prior-knowledge", "-s"] + how + ["\(server.base)/a.txt"])
                let head = String(decoding: result.stdout, as: UTF8.self).lowercased()
                #expect(head.hasPrefix("http/2 200"), "\(head)")
                #expect(head.contains("content-type: text/plain; charset=utf-8\r\n"), "\(head)")
                #expect(head.contains("content-length: \(length)\r\n"), "\(head)")
                #expect(head.contains("date: "), "\(head)")
                #expect(head.contains("access-control-allow-origin: *\r\n") == cors, "\(head)")
                #expect(head.components(separatedBy: "content-length:").count == 2, "\(head)")
            }
        }
    }
}
