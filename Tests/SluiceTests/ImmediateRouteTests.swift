import Foundation
import HTTPTypes
import Testing
@testable import Sluice

/// Immediate routes answer inside the callback that read the request, without a task, unless the
/// request has a body to collect, the server places handlers on the concurrent pool or injects
/// faults; then they run in a task like plain routes. Either way the response is the same.
@Suite struct ImmediateRouteTests {
    static func routes(file: String) -> (inout Router) -> Void {
        { router in
            router.immediate([.get, .post], "/now") { request in
                let inTask = withUnsafeCurrentTask { $0 != nil }
                return Response(text: "\(inTask ? "task" : "at once") \(request.body.count)")
            }
            router.immediate([.get], "/missing") { _ in throw HTTPError(.notFound, "gone") }
            router.immediate([.get], "/broken") { _ in
                struct Broken: Error {}
                throw Broken()
            }
            router.immediate([.get], "/file") { _ in try Self.fileResponse(file) }
            router.get("/async-file") { _ in try Self.fileResponse(file) }
        }
    }

    static func fileResponse(_ path: String) throws -> Response {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError(.notFound) }
        var info = stat()
        fstat(fd, &info)
        return Response(headers: [.contentType: "application/octet-stream"],
                        file: FileRegion(takingOwnershipOf: fd, count: Int(info.st_size)))
    }

    @Test(arguments: [(HandlerPlacement.eventLoop, false), (.concurrentPool, false), (.eventLoop, true)])
    func answersWithOrWithoutATask(_ placement: HandlerPlacement, _ faults: Bool) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-immediate-\(UInt32.random(in: 0...UInt32.max))").path
        let bytes = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let atOnce = placement == .eventLoop && !faults
        try await withServer(configure: { $0.handlerPlacement = placement; $0.faultInjection = faults }, routes: Self.routes(file: path)) { server in
            for version in ["--http1.1", "--http2-prior-knowledge"] {
                func get(_ arguments: [String]) async throws -> String {
                    let result = try await curl([version, "-w", " %{http_code}"] + arguments)
                    return String(decoding: result.stdout, as: UTF8.self)
                }
                #expect(try await get(["\(server.base)/now"]) == "\(atOnce ? "at once" : "task") 0 200", "\(version)")
                // A body is collected first, in a task.
                #expect(try await get(["--data-binary", "abc", "\(server.base)/now"]) == "task 3 200", "\(version)")
                #expect(try await get(["\(server.base)/missing"]) == "gone\n 404", "\(version)")
                #expect(try await get(["\(server.base)/broken"]).hasSuffix(" 500"), "\(version)")
                #expect(try await get(["-o", "/dev/null", "\(server.base)/nope"]) == " 404", "\(version)")
                for route in ["/file", "/async-file"] {
                    let file = try await curl([version, "\(server.base)\(route)"])
                    #expect(file.stdout.elementsEqual(bytes), "\(version) \(route): \(file.stdout.count) bytes \(file.stderr)")
                    let head = String(decoding: try await curl([version, "-I", "\(server.base)\(route)"]).stdout, as: UTF8.self)
                    #expect(head.lowercased().contains("content-length: 200003\r\n"), "\(version) \(route): \(head)")
                }
            }
        }
    }
}

/// On HTTP/2 an immediate route's whole response is submitted from the callback that completed the
/// request, its body pulled by nghttp2 straight from the stream (no sink or queue): frames and
/// flow control, bodyless answers and an aborted answer are what a queued response would give.
@Suite struct WholeHTTP2ResponseTests {
    static let bytes = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    static func routes(_ router: inout Router) {
        router.immediate([.get], "/bytes") { _ in Response(headers: [.contentType: "application/octet-stream"], body: Self.bytes) }
        router.immediate([.get], "/empty") { _ in Response(status: .noContent) }
        router.immediate([.get], "/zero") { _ in Response() }
        router.immediate([.get], "/cancelled") { _ in throw CancellationError() }
        // A head of several KiB: its fields laid out for nghttp2 in one scratch buffer all the same.
        router.immediate([.get], "/large-head") { _ in
            Response(headers: [HTTPField.Name("x-large")!: String(repeating: "v", count: 3000), .contentType: "text/plain"], body: Array("ok".utf8))
        }
        router.immediate([.get], "/fields") { request in
            let fields = request.head.headerFields
            let echo = [request.method.rawValue, request.head.authority ?? "-", request.head.path ?? "-",
                        fields[HTTPField.Name("x-probe")!] ?? "-", fields[HTTPField.Name("x-unique")!] ?? "-", fields[.userAgent] ?? "-"]
            return Response(text: echo.joined(separator: " "))
        }
        router.immediate([.get, .post, .delete], "/head-echo") { request in
            let head = request.head
            let first = [head.method.rawValue, head.scheme ?? "-", head.authority ?? "-", head.path ?? "-"].joined(separator: " ")
            return Response(text: ([first] + head.headerFields.map { "\($0.name.canonicalName): \($0.value)" }).joined(separator: "\n"))
        }
    }

    /// Request fields are decoded once per connection and found again by nghttp2's buffers: fields
    /// that repeat (indexed by the client's HPACK encoder) among new ones that fill and churn the
    /// table (so its memory is freed and reused) must still arrive as each request sent them.
    @Test func fieldsFoundAgainAreTheOnesEachRequestSent() async throws {
        try await withServer(loops: 1, routes: Self.routes) { server in
            let probe = try await h2Probe(["fields", String(server.port), "/fields", "400"])
            #expect(probe["requests"] as? Int == 400)
            #expect((probe["wrong"] as? [Any])?.isEmpty == true, "\(probe["wrong"] ?? "")")
        }
    }

    /// A head that repeats the previous request's fields is the previous head again, with its own
    /// path (`HTTP2HeadMemo`): heads that repeat, shorten, lengthen, change in any pseudo-header or
    /// field, reorder, hide a field from HPACK's table, outgrow the memo's bounds, come in
    /// CONTINUATION frames or after the table was emptied must each arrive as sent.
    @Test func headsThatRepeatThePreviousOneAndThoseThatDoNot() async throws {
        try await withServer(loops: 1, routes: Self.routes) { server in
            let probe = try await h2Probe(["heads", String(server.port), "/head-echo"])
            #expect(probe["requests"] as? Int == 30)
            #expect((probe["wrong"] as? [Any])?.isEmpty == true, "\(probe["wrong"] ?? "")")
        }
    }

    @Test func bodiesFramesAndEnds() async throws {
        try await withServer(configure: { $0.cors = .anyOrigin }, routes: Self.routes) { server in
            let h2 = "--http2-prior-knowledge"
            let whole = try await curl([h2, "-D", "-", "-H", "Origin: http://example.test", "\(server.base)/bytes"])
            let headEnd = try #require(whole.stdout.firstRange(of: Array("\r\n\r\n".utf8)))
            let head = String(decoding: whole.stdout[..<headEnd.lowerBound], as: UTF8.self).lowercased()
            #expect(head.contains("content-length: 200003"), "\(head)")
            #expect(head.contains("access-control-allow-origin: *"), "the server's decoration applies: \(head)")
            #expect(whole.stdout[headEnd.upperBound...].elementsEqual(Self.bytes))

            // A 1 KiB stream window (-w 10): the body goes out in window-sized pieces, all of it.
            let windowed = try await runBytes("/usr/bin/nghttp", ["-w", "10", "\(server.base)/bytes"])
            #expect(windowed.status == 0 && windowed.stdout.elementsEqual(Self.bytes), "\(windowed.stdout.count) bytes")

            // Twenty streams at once on one connection, each ended by its last DATA frame.
            let many = try await run("/usr/bin/nghttp", ["-nv", "-m", "20", "-w", "14", "\(server.base)/bytes"])
            #expect(many.status == 0)
            let lines = many.stdout.split(separator: "\n")
            let ends = zip(lines, lines.dropFirst()).filter { $0.0.contains("recv DATA frame") && $0.1.contains("END_STREAM") }
            #expect(ends.count == 20, "\(many.stdout.suffix(1500))")

            // HEAD keeps the length and sends no body; 204 and an empty 200 end the stream with their HEADERS.
            let head2 = String(decoding: try await curl([h2, "-I", "\(server.base)/bytes"]).stdout, as: UTF8.self).lowercased()
            #expect(head2.contains("content-length: 200003"), "\(head2)")
            for (path, status) in [("/empty", "204"), ("/zero", "200")] {
                let frames = try await run("/usr/bin/nghttp", ["-v", "\(server.base)\(path)"])
                #expect(frames.stdout.contains(":status: \(status)"), "\(frames.stdout)")
                let received = frames.stdout.split(separator: "\n").filter { $0.contains("recv HEADERS frame") }
                #expect(received.count == 1 && received[0].contains("flags=0x05"), "\(path): \(frames.stdout)")
                #expect(!frames.stdout.contains("recv DATA frame"), "\(path): \(frames.stdout)")
            }
            #expect(try await run("/usr/bin/nghttp", ["-v", "\(server.base)/zero"]).stdout.contains("content-length: 0"))

            let large = String(decoding: try await curl([h2, "-D", "-", "\(server.base)/large-head"]).stdout, as: UTF8.self)
            #expect(large.contains("x-large: " + String(repeating: "v", count: 3000) + "\r\n") && large.hasSuffix("\r\n\r\nok"),
                    "\(large.prefix(300))")

            // A handler that throws a cancellation answers nothing: the stream is reset, the connection goes on.
            let cancelled = try await run("/usr/bin/nghttp", ["-v", "\(server.base)/cancelled", "\(server.base)/bytes"])
            #expect(cancelled.stdout.contains("recv RST_STREAM frame") && cancelled.stdout.contains("error_code=INTERNAL_ERROR"),
                    "\(cancelled.stdout.suffix(1500))")
            #expect(cancelled.stdout.contains("content-length: 200003"))
        }
    }
}
