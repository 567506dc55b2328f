import Foundation
import Testing
@testable import Sluice

/// Request bodies stream to handlers at the pace they read them, on both protocols.
@Suite struct RequestBodyTests {
    final class UploadProbe: @unchecked Sendable {
        let lock = Lock()
        var maxBuffered = 0
        var bufferedWhileStalled = 0
        var total = 0
    }

    static func uploadRoute(_ probe: UploadProbe) -> (inout Router) -> Void {
        { router in
            router.stream("/upload", methods: [.post]) { request, response in
                // Stall first: whatever arrives meanwhile is all the server buffers for us.
                try await Task.sleep(for: .milliseconds(300))
                probe.lock.withLock { probe.bufferedWhileStalled = request.bodyStream.bufferedBytes }
                var total = 0
                for try await chunk in request.bodyStream {
                    total += chunk.count
                    let buffered = request.bodyStream.bufferedBytes
                    probe.lock.withLock { probe.maxBuffered = max(probe.maxBuffered, buffered) }
                    if total % (256 * 1024) < chunk.count { try await Task.sleep(for: .milliseconds(5)) }
                }
                probe.lock.withLock { probe.total = total }
                try await response.write("\(total)")
            }
        }
    }

    static func makeUpload(_ bytes: Int) throws -> String {
        try makeUpload(Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
    }

    /// A temporary file to upload with `--data-binary @file` (one command-line argument tops out at 128 KiB).
    static func makeUpload(_ data: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-upload-\(UInt32.random(in: 0...UInt32.max))").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: ["--http1.1", "--http2-prior-knowledge"])
    func slowReaderBoundsWhatTheServerBuffers(_ protocolFlag: String) async throws {
        let size = 3_000_000
        let file = try Self.makeUpload(size)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let probe = UploadProbe()
        var limits = HTTP1Limits(maxBodyBytes: 10_000_000)
        limits.streamedBodyBuffer = 32 * 1024
        try await withServer(configure: { $0.limits = limits }, routes: Self.uploadRoute(probe)) { server in
            let out = try await curl([protocolFlag, "--data-binary", "@\(file)", "\(server.base)/upload"])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(String(decoding: out.stdout, as: UTF8.self) == String(size))
        }
        // HTTP/1.1 stops reading at the buffer limit (plus one socket read); HTTP/2 never opens the
        // stream window past its initial 64 KiB until the handler reads.
        let bound = protocolFlag == "--http1.1" ? 32 * 1024 + 64 * 1024 : 65_535
        probe.lock.withLock {
            #expect(probe.total == size)
            #expect(probe.bufferedWhileStalled > 0)
            #expect(probe.bufferedWhileStalled <= bound, "buffered \(probe.bufferedWhileStalled) while stalled")
            #expect(probe.maxBuffered <= bound, "buffered up to \(probe.maxBuffered)")
        }
    }

    /// The first part of an upload fills the body buffer while the handler waits, so parsing stops;
    /// the rest arrives after that, with nothing more to come. Parsing must go on once the handler
    /// takes what was buffered (the body's `roomRegained` nudge does it at once; without the nudge a
    /// later read event still got it done ~0.7 s later here, so this pins the outcome, not the nudge:
    /// `InboundBodyTests.roomRegainedAfterAnAsyncReaderTakes` pins that).
    @Test func anUploadStoppedAtTheBufferResumesAsTheHandlerTakesIt() async throws {
        let (first, rest) = (100_000, 50_000)
        var limits = HTTP1Limits(maxBodyBytes: 1_000_000)
        limits.streamedBodyBuffer = 16 * 1024
        try await withServer(configure: { $0.limits = limits }, routes: { router in
            router.stream("/upload", methods: [.post]) { request, response in
                try await Task.sleep(for: .milliseconds(400))
                var total = 0
                for try await chunk in request.bodyStream { total += chunk.count }
                try await response.write("\(total)")
            }
        }) { server in
            let answer = try await blocking {
                let client = try RawClient(port: server.port)
                let head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: \(first + rest)\r\n\r\n"
                try client.send(Array(head.utf8) + [UInt8](repeating: 0x61, count: first))
                usleep(150_000)  // the server reads the first part and stops at its buffer
                try client.send([UInt8](repeating: 0x62, count: rest))
                return try client.readResponse()
            }
            #expect(answer.status == 200)
            #expect(String(decoding: answer.body, as: UTF8.self) == String(first + rest))
        }
    }

    @Test(arguments: ["--http1.1", "--http2-prior-knowledge"])
    func plainRoutesGetTheWholeBodyWithinTheLimit(_ protocolFlag: String) async throws {
        try await withServer(configure: { $0.limits.maxBodyBytes = 100_000 }, routes: { router in
            router.post("/echo") { request in Response(body: request.body) }
        }) { server in
            let body = String(repeating: "0123456789", count: 9_000)
            let small = try Self.makeUpload(Data(body.utf8))
            let large = try Self.makeUpload(Data((body + body).utf8))
            defer { for f in [small, large] { try? FileManager.default.removeItem(atPath: f) } }
            let ok = try await curl([protocolFlag, "--data-binary", "@\(small)", "\(server.base)/echo"])
            #expect(String(decoding: ok.stdout, as: UTF8.self) == body)
            let big = try await curl([protocolFlag, "-w", "%{http_code}", "-o", "/dev/null", "--data-binary", "@\(large)", "\(server.base)/echo"])
            #expect(String(decoding: big.stdout, as: UTF8.self) == "413")
        }
    }

    @Test func unreadBodyDoesNotWedgeTheConnection() async throws {
        try await withServer(routes: { router in
            router.stream("/ignore", methods: [.post]) { _, response in try await response.write("ignored") }
            router.get("/next") { _ in Response(text: "next") }
        }) { server in
            // HTTP/1.1: the unread remainder cannot be skipped safely, so the connection closes after
            // the response; a new connection is served as usual.
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 1000))
                #expect(try client.readResponse().text == "ignored")
                #expect(try client.read().isEmpty)
            }
            // HTTP/2: the stream is answered and the client told to stop sending (RST_STREAM NO_ERROR).
            let big = try Self.makeUpload(500_000)
            defer { try? FileManager.default.removeItem(atPath: big) }
            let out = try await curl(["--http2-prior-knowledge", "--data-binary", "@\(big)", "\(server.base)/ignore"])
            #expect(String(decoding: out.stdout, as: UTF8.self) == "ignored", "\(out.stderr)")
            let next = try await curl(["--http2-prior-knowledge", "\(server.base)/next"])
            #expect(String(decoding: next.stdout, as: UTF8.self) == "next")
        }
    }
}
