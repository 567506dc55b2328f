import Foundation
import Testing
@testable import Sluice

/// File bodies (`BodyWriter.write(file:)`): read into the output when small, `sendfile` or a mapping
/// when large over HTTP/1.1, one `pread` per DATA frame over HTTP/2; and what happens when the file
/// cannot give what the head promised.
@Suite struct FileBodyTests {
    /// A folder with `small.bin` (1,000 bytes, read into the output) and `big.bin` (300,007 bytes, a
    /// file segment over HTTP/1.1), removed by the caller.
    static func makeFolder() throws -> (root: String, small: [UInt8], big: [UInt8]) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-files-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let small = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let big = (0..<300_007).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try Data(small).write(to: URL(fileURLWithPath: root + "/small.bin"))
        try Data(big).write(to: URL(fileURLWithPath: root + "/big.bin"))
        return (root, small, big)
    }

    /// Routes that promise `extra` bytes more than the file has: `/short/small.bin`, `/short/big.bin`.
    static func shortRoutes(_ root: String, extra: Int = 1_000) -> (inout Router) -> Void {
        { router in
            router.addTestEndpoints()
            router.stream("/short/*") { request, body in
                let name = String(request.path.dropFirst("/short/".count))
                let fd = open(root + "/" + name, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw HTTPError(.notFound) }
                var info = stat()
                fstat(fd, &info)
                let promised = Int(info.st_size) + extra
                try body.writeHead(HTTPResponse(status: .ok, headerFields: [.contentLength: String(promised)]))
                try await body.write(file: FileRegion(takingOwnershipOf: fd, count: promised))
            }
        }
    }

    @Test func filesArriveWholeOverBothProtocolsInTheClearAndOverTLS() async throws {
        let (root, small, big) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for tls in [false, true] {
            try await withServer(configure: { if tls { $0.tls = try! TLSContext.selfSigned() } }, routes: { router in
                router.addTestEndpoints()
                router.staticFiles(from: root)
            }) { server in
                let base = tls ? "https://127.0.0.1:\(server.port)" : server.base
                for (name, bytes) in [("small.bin", small), ("big.bin", big)] {
                    for version in ["--http1.1", tls ? "--http2" : "--http2-prior-knowledge"] {
                        let got = try await curl(["-k", version, "\(base)/\(name)"])
                        #expect(got.stdout.elementsEqual(bytes), "\(name) \(version) tls=\(tls): \(got.stdout.count) bytes, \(got.stderr)")
                    }
                }
                if !tls {
                    // Several at once on one HTTP/2 connection, their frames interleaved; a small file and
                    // a route between them. (curl 7.88 cannot reuse a prior-knowledge connection.)
                    let probe = try await h2Probe(["bodies", String(server.port), "/big.bin", "/small.bin", "/big.bin", "/health"])
                    let streams = try #require(probe["streams"] as? [[String: Any]])
                    let (bigSum, smallSum) = (try await Self.sha256(root + "/big.bin"), try await Self.sha256(root + "/small.bin"))
                    for (stream, (sum, count)) in zip(streams, [(bigSum, 300_007), (smallSum, 1_000), (bigSum, 300_007)]) {
                        #expect(stream["status"] as? String == "200" && stream["end"] as? String == "END_STREAM", "\(stream)")
                        #expect(stream["bytes"] as? Int == count && stream["sha256"] as? String == sum, "\(stream)")
                    }
                    #expect(streams.last?["bytes"] as? Int == 16)
                }
            }
        }
    }

    /// A region whose bytes are kept in memory is sent from them (by reference over HTTP/1.1 and as
    /// DATA frames over HTTP/2, in the clear and over TLS): the file on disk here holds other bytes, so
    /// a read from it would show. Only a large region over plain HTTP/1.1 goes by `sendfile`, from the
    /// file (cheaper than any copy here). Several at once on one HTTP/2 connection share the bytes.
    @Test func bytesKeptInMemoryAreSentInsteadOfReadFromTheFile() async throws {
        let (root, _, big) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let memory = big.map { ~$0 }
        let kept = SharedBytes(count: memory.count) { $0.copyBytes(from: memory) }
        for tls in [false, true] {
            try await withServer(configure: { if tls { $0.tls = try! TLSContext.selfSigned() } }, routes: { router in
                router.addTestEndpoints()
                router.immediate([.get], "/kept/*") { request in
                    let fd = open(root + "/big.bin", O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw HTTPError(.notFound) }
                    let offset = Int(request.path.dropFirst("/kept/".count)) ?? 0
                    return Response(file: FileRegion(takingOwnershipOf: fd, offset: offset, count: big.count - offset).keeping(kept))
                }
            }) { server in
                let base = tls ? "https://127.0.0.1:\(server.port)" : server.base
                for offset in [0, 5, 290_000] {
                    for version in ["--http1.1", tls ? "--http2" : "--http2-prior-knowledge"] {
                        let got = try await curl(["-k", version, "\(base)/kept/\(offset)"])
                        let bySendfile = !tls && version == "--http1.1" && big.count - offset > FileRegion.readIntoOutputLimit
                        let sent = got.stdout.elementsEqual(bySendfile ? big[offset...] : memory[offset...])
                        #expect(sent, "\(offset) \(version) tls=\(tls): \(got.stdout.count) bytes, \(got.stderr)")
                    }
                }
                if !tls {
                    let probe = try await h2Probe(["bodies", String(server.port), "/kept/0", "/kept/7", "/kept/0"])
                    let streams = try #require(probe["streams"] as? [[String: Any]])
                    #expect(streams.map { $0["bytes"] as? Int } == [300_007, 300_000, 300_007])
                    #expect(streams.allSatisfy { $0["end"] as? String == "END_STREAM" }, "\(streams)")
                }
            }
        }
    }

    /// A served file's descriptor is shared by every response that sends it, on every loop at once:
    /// `sendfile` and `pread` name their offset, so no response moves another's position.
    @Test func oneCachedDescriptorServesConcurrentResponsesOnEveryLoop() async throws {
        let (root, small, big) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await withServer(loops: 3, routes: { router in
            router.staticFiles(from: root)
        }) { server in
            _ = try await curl(["\(server.base)/big.bin", "-o", "/dev/null"])  // cached from here on
            let results = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for i in 0..<18 {
                    let version = i % 2 == 0 ? "--http1.1" : "--http2-prior-knowledge"
                    let (name, bytes) = i % 3 == 0 ? ("small.bin", small) : ("big.bin", big)
                    group.addTask {
                        let got = try await curl([version, "\(server.base)/\(name)"])
                        return ("\(i) \(version) \(name): \(got.stdout.count) bytes \(got.stderr)", got.stdout.elementsEqual(bytes))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 18)
            for (label, whole) in results { #expect(whole, "\(label)") }
        }
    }

    /// The file's SHA-256 as `sha256sum` (coreutils) gives it.
    static func sha256(_ path: String) async throws -> String {
        String(try await run("/usr/bin/sha256sum", [path]).stdout.prefix(64))
    }

    @Test func withoutALengthAFileIsOneChunkAndTheConnectionStaysUsable() async throws {
        let (root, small, big) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await withServer(routes: { router in
            router.addTestEndpoints()
            router.stream("/chunked/*") { request, body in
                let fd = open(root + "/" + request.path.dropFirst("/chunked/".count), O_RDONLY | O_CLOEXEC)
                var info = stat()
                fstat(fd, &info)
                try await body.write("<")
                try await body.write(file: FileRegion(takingOwnershipOf: fd, count: Int(info.st_size)))
                try await body.write(">")
            }
        }) { server in
            // HTTP/1.1 without a Content-Length: the file is one chunk between the others.
            let raw = try await curl(["--http1.1", "--raw", "\(server.base)/chunked/small.bin"])
            #expect(raw.stdout.starts(with: Array("1\r\n<\r\n3e8\r\n".utf8)), "\(raw.stderr)")
            #expect(raw.stdout.suffix(13).elementsEqual(Array("\r\n1\r\n>\r\n0\r\n\r\n".utf8)))
            // Keep-alive: a file sent by the kernel, then more requests on the same connection.
            let reused = try await curl(["--http1.1", "-w", "|%{num_connects}", "-o", "/dev/null", "-o", "/dev/null", "-o", "-",
                                         "\(server.base)/chunked/big.bin", "\(server.base)/chunked/small.bin", "\(server.base)/health"])
            #expect(String(decoding: reused.stdout, as: UTF8.self) == "|1|0{\"status\":\"ok\"}\n|0", "\(reused.stderr)")
            for (name, bytes) in [("big.bin", big), ("small.bin", small)] {
                let body = try await curl(["--http1.1", "\(server.base)/chunked/\(name)"]).stdout
                #expect(body.count == bytes.count + 2 && body.first == UInt8(ascii: "<") && body.dropFirst().prefix(bytes.count).elementsEqual(bytes))
            }
        }
    }

    /// Static files keep their descriptors, but a request never gets a file older than itself: one
    /// replaced, rewritten in place or removed right before a request is served as it is then.
    @Test func aChangedFileIsServedAsItIsWhenTheRequestArrives() async throws {
        let (root, _, _) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/page.txt"
        try await withServer(routes: { router in
            router.staticFiles(from: root)
        }) { server in
            for (round, version) in ["--http1.1", "--http2-prior-knowledge"].enumerated() {
                func get() async throws -> String {
                    let result = try await curl([version, "-s", "-w", " %{http_code}", "\(server.base)/page.txt"])
                    return String(decoding: result.stdout, as: UTF8.self)
                }
                try "first \(round)".write(toFile: path, atomically: true, encoding: .utf8)
                #expect(try await get() == "first \(round) 200")
                try "replaced \(round)".write(toFile: path, atomically: true, encoding: .utf8)  // a new inode
                #expect(try await get() == "replaced \(round) 200", "\(version)")
                let handle = try #require(FileHandle(forWritingAtPath: path))  // the same inode, longer
                handle.seekToEndOfFile()
                handle.write(Data(" and grown".utf8))
                handle.closeFile()
                #expect(try await get() == "replaced \(round) and grown 200", "\(version)")
                try FileManager.default.removeItem(atPath: path)
                #expect(try await get().hasSuffix(" 404"), "\(version)")
            }
        }
    }

    @Test func headAnswersWithTheLengthAGetWouldHave() async throws {
        let (root, _, _) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await withServer(routes: { router in
            router.addTestEndpoints()
            router.staticFiles(from: root)
        }) { server in
            for version in ["--http1.1", "--http2-prior-knowledge"] {
                let head = try await curl(["-I", version, "\(server.base)/big.bin"])
                let text = String(decoding: head.stdout, as: UTF8.self).lowercased()
                #expect(text.contains("content-length: 300007\r\n"), "\(text)")
                #expect(text.contains("content-type: application/octet-stream\r\n"))
                let missing = try await curl(["-I", version, "-w", "%{http_code}", "-o", "/dev/null", "\(server.base)/nope.bin"])
                #expect(String(decoding: missing.stdout, as: UTF8.self) == "404")
            }
        }
    }

    @Test func aFileThatEndsBeforeItsRegionCutsOnlyItsOwnResponse() async throws {
        let (root, small, big) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Over TLS the file is read into the output a piece at a time. It used to be mapped: past the
        // file's end a mapping reads as zeros to the end of its page (sent as if they were the file:
        // this test failed so) and raises SIGBUS beyond it. Now the cut is the same as in the clear.
        try await withServer(configure: { $0.tls = try! TLSContext.selfSigned() }, routes: Self.shortRoutes(root)) { server in
            let base = "https://127.0.0.1:\(server.port)"
            for (name, bytes) in [("small.bin", small), ("big.bin", big)] {
                let h1 = try await curl(["-k", "--http1.1", "\(base)/short/\(name)"])
                #expect(h1.status == 18, "TLS \(name): \(h1.status) \(h1.stderr)")
                #expect(h1.stdout.elementsEqual(bytes.prefix(h1.stdout.count)), "TLS \(name): not a prefix of the file")
            }
            #expect(try await curl(["-k", "\(base)/health"]).status == 0)
        }
        try await withServer(routes: Self.shortRoutes(root)) { server in
            // HTTP/1.1: the connection closes before the promised length (curl 18: partial file), whether
            // the file was being read into the output (small) or sent by the kernel (big).
            for (name, bytes) in [("small.bin", small), ("big.bin", big)] {
                let h1 = try await curl(["--http1.1", "\(server.base)/short/\(name)"])
                #expect(h1.status == 18, "\(name): \(h1.status) \(h1.stderr)")
                #expect(h1.stdout.elementsEqual(bytes.prefix(h1.stdout.count)), "\(name): not a prefix of the file")
            }
            // HTTP/2: that stream alone is reset; the others on the connection, before and after it, finish.
            let probe = try await h2Probe(["bodies", String(server.port), "/health", "/short/big.bin", "/short/small.bin", "/health"])
            let ends = try #require(probe["streams"] as? [[String: Any]]).map { $0["end"] as? String }
            #expect(ends == ["END_STREAM", "RST_STREAM INTERNAL_ERROR", "RST_STREAM INTERNAL_ERROR", "END_STREAM"], "\(probe)")
        }
    }

    @Test func aFaultPlanSeesAFileAsOrdinaryWrites() async throws {
        let (root, _, big) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await withServer(configure: { $0.faultInjection = true }, routes: { router in
            router.addTestEndpoints()
            router.staticFiles(from: root)
        }) { server in
            // drop_after=2: two 64 KiB writes go out, then the connection drops.
            let cut = try await curl(["--http1.1", "\(server.base)/big.bin?drop_after=2"])
            #expect(cut.status == 18, "\(cut.stderr)")
            #expect(cut.stdout.count == 2 * 64 * 1024 && cut.stdout.elementsEqual(big.prefix(cut.stdout.count)), "\(cut.stdout.count) bytes")
        }
    }
}
