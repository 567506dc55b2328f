import Foundation
import Testing
@testable import Sluice

@Suite struct HTTP2Tests {
    @Test func curlWithPriorKnowledgeGetsTheSameStreams() async throws {
        try await withServer { server in
            let sse = try await curl(["--http2-prior-knowledge", "-N", "\(server.base)/sse?count=2&interval_ms=5&event=tick"])
            #expect(sse.status == 0, "\(sse.stderr)")
            #expect(String(decoding: sse.stdout, as: UTF8.self) == "event: tick\nid: 1\ndata: event 1\n\nevent: tick\nid: 2\ndata: event 2\n\n")
            let stream = try await curl(["--http2-prior-knowledge", "-w", "%{http_version}", "-o", "/dev/null", "\(server.base)/stream?bytes=3000000"])
            #expect(String(decoding: stream.stdout, as: UTF8.self) == "2")
            let body = try await curl(["--http2-prior-knowledge", "\(server.base)/stream?bytes=200000&chunk=999"]).stdout
            #expect(body.count == 200_000)
            #expect(body.enumerated().allSatisfy { $0.element == UInt8(ascii: "a") + UInt8($0.offset % 26) })
            let missing = try await curl(["--http2-prior-knowledge", "-w", "%{http_code}", "-o", "/dev/null", "\(server.base)/nope"])
            #expect(String(decoding: missing.stdout, as: UTF8.self) == "404")
        }
    }

    /// A handler on the loop asks for its stream's service from the loop's own thread (batched before
    /// the next pump); one on the concurrent pool asks from another thread (a loop job). Both answer.
    @Test(arguments: [HandlerPlacement.eventLoop, .concurrentPool])
    func responsesGoOutWhereverTheHandlerRuns(_ placement: HandlerPlacement) async throws {
        try await withServer(loops: 1, configure: { $0.handlerPlacement = placement }) { server in
            let health = try await curl(["--http2-prior-knowledge", "\(server.base)/health"])
            #expect(String(decoding: health.stdout, as: UTF8.self) == "{\"status\":\"ok\"}\n", "\(health.stderr)")
            let sse = try await curl(["--http2-prior-knowledge", "-N", "\(server.base)/sse?count=3&interval_ms=5"])
            #expect(String(decoding: sse.stdout, as: UTF8.self).components(separatedBy: "data: event").count == 4, "\(sse.stderr)")
            // Many streams of one connection at once: responses that arrive in one read go out together.
            let probe = try await h2Probe(["bodies", String(server.port)] + Array(repeating: "/health", count: 20)
                                          + ["/stream?bytes=100000"])
            let streams = try #require(probe["streams"] as? [[String: Any]])
            #expect(streams.count == 21 && streams.allSatisfy { $0["status"] as? String == "200" && $0["end"] as? String == "END_STREAM" })
            #expect(streams.last?["bytes"] as? Int == 100_000)
        }
    }

    /// A handler's own Date and Server give way to the server's; fields HTTP/2 forbids never go out,
    /// over either protocol's encoder (HTTP/1.1 keeps what it allows).
    @Test func serverFieldsReplaceTheHandlersAndConnectionFieldsStayOffHTTP2() async throws {
        try await withServer(routes: { router in
            router.get("/own") { _ in
                Response(headers: [.date: "yesterday", .server: "mine", .connection: "keep-alive",
                                   HTTPField.Name("Keep-Alive")!: "timeout=5", .upgrade: "h2c", .contentType: "text/plain"])
            }
        }) { server in
            for protocolFlag in ["--http2-prior-knowledge", "--http1.1"] {
                let result = try await curl([protocolFlag, "-s", "-D", "-", "-o", "/dev/null", "\(server.base)/own"])
                let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\r\n").map { $0.lowercased() }
                let names = lines.dropFirst().compactMap { $0.split(separator: ":", maxSplits: 1).first.map(String.init) }
                #expect(names.filter { $0 == "date" }.count == 1, "\(protocolFlag): \(lines)")
                #expect(!lines.contains("date: yesterday"), "\(protocolFlag)")
                #expect(lines.contains("server: sluice") && !lines.contains("server: mine"), "\(protocolFlag): \(lines)")
                #expect(lines.contains("content-type: text/plain"), "\(protocolFlag)")
                if protocolFlag == "--http2-prior-knowledge" {
                    #expect(!names.contains("connection") && !names.contains("keep-alive") && !names.contains("upgrade"), "\(lines)")
                }
            }
        }
    }

    @Test func tlsWithALPNPicksH2OrHTTP11AsAsked() async throws {
        let tls = try TLSContext.selfSigned()
        #expect(tls.fingerprint.split(separator: ":").count == 32)
        try await withServer(configure: { $0.tls = tls }) { server in
            let base = "https://127.0.0.1:\(server.port)"
            let h2 = try await curl(["-k", "--http2", "-w", "\n%{http_version}", "\(base)/sse?count=1"])
            #expect(String(decoding: h2.stdout, as: UTF8.self) == "id: 1\ndata: event 1\n\n\n2", "\(h2.stderr)")
            let h1 = try await curl(["-k", "--http1.1", "-w", "\n%{http_version}", "\(base)/health"])
            #expect(String(decoding: h1.stdout, as: UTF8.self) == "{\"status\":\"ok\"}\n\n1.1")
            let nghttp = try await run("/usr/bin/nghttp", ["-v", "\(base)/ndjson?count=2&interval_ms=0"])
            #expect(nghttp.stdout.contains("The negotiated protocol: h2"))
            #expect(nghttp.stdout.contains("{\"seq\":2}"))
            // TLS 1.1 is refused.
            let old = try await curl(["-k", "--tlsv1.1", "--tls-max", "1.1", "\(base)/health"])
            #expect(old.status != 0)
        }
    }

    @Test func trailersGoOutAsATrailingHeadersFrame() async throws {
        try await withServer(routes: { router in
            router.stream("/t") { _, body in
                try await body.write("data")
                body.finish(trailers: [HTTPField.Name("X-Checksum")!: "1234"])
            }
        }) { server in
            let out = try await run("/usr/bin/nghttp", ["-v", "\(server.base)/t"])
            let lines = out.stdout.split(separator: "\n")
            let trailer = try #require(lines.firstIndex { $0.contains("x-checksum: 1234") })
            let data = try #require(lines.firstIndex { $0.contains("recv DATA frame") })
            #expect(trailer > data)
            #expect(lines[trailer...].contains { $0.contains("HEADERS frame") && $0.contains("flags=0x05") })
        }
    }

    /// A reader with a 4 KiB window that opens it slowly receives every byte in order while the
    /// server holds no more than the high-water mark for it, and a second stream on the same
    /// connection runs at full speed meanwhile.
    @Test func slowStreamIsBoundedAndDoesNotStallItsNeighbour() async throws {
        let probe = Locked<OutboundQueue.Statistics?>(nil)
        let watermarks = Watermarks(high: 32 * 1024, low: 8 * 1024)
        let chunk = 16 * 1024
        let slowBytes = 200_000
        try await withServer(configure: { $0.watermarks = watermarks }, routes: { router in
            router.addTestEndpoints()
            router.stream("/slow") { _, body in
                let pattern = (0..<(chunk + 26)).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                var sent = 0
                while sent < slowBytes {
                    let n = min(chunk, slowBytes - sent)
                    try await body.write(Array(pattern[(sent % 26)..<(sent % 26 + n)]))
                    sent += n
                    probe.withLock { $0 = body.statistics }
                }
            }
        }) { server in
            // The slow reader takes 4 KiB per 100 ms (about 5 s in all); the fast one reads at once.
            let result = try await h2Probe(["flow", String(server.port), "/slow", "/stream?bytes=1000000", String(slowBytes), "100"])
            #expect(result["slow_bytes"] as? Int == slowBytes)
            #expect(result["fast_bytes"] as? Int == 1_000_000)
            #expect(result["slow_in_order"] as? Bool == true)
            #expect(result["fast_in_order"] as? Bool == true)
            let slow = try #require(result["slow_seconds"] as? Double)
            let fast = try #require(result["fast_seconds"] as? Double)
            #expect(fast < slow / 2, "fast \(fast) s, slow \(slow) s")
            let stats = try #require(probe.withLock { $0 })
            #expect(stats.suspensions > 0)
            #expect(stats.maxPendingBytes <= watermarks.high + chunk, "peak \(stats.maxPendingBytes)")
        }
    }

    @Test func manyConcurrentStreamsAllSucceed() async throws {
        try await withServer { server in
            let out = try await run("/usr/bin/h2load", ["-n", "10000", "-c", "4", "-m", "100", "\(server.base)/health"])
            #expect(out.status == 0)
            #expect(out.stdout.contains("10000 succeeded, 0 failed, 0 errored"), "\(out.stdout)")
        }
    }

    @Test func streamsPastTheLimitAreRefused() async throws {
        try await withServer(configure: { $0.http2.maxConcurrentStreams = 8 }) { server in
            let result = try await h2Probe(["refused", String(server.port), "/sse?interval_ms=1000", "10"])
            #expect(result["refused"] as? [Int] == [17, 19])
            #expect((result["answered"] as? [Int])?.count == 8)
        }
    }

    @Test func rapidResetIsCutOffAndOthersAreServed() async throws {
        // A small bucket so the limit trips however slowly a sanitizer build processes frames.
        try await withServer(configure: { $0.http2.streamResetBurst = 100; $0.http2.streamResetRatePerSecond = 1 }) { server in
            let result = try await h2Probe(["rapid-reset", String(server.port), "20000"])
            #expect(result["goaway"] as? String != nil, "\(result)")
            // Cut off long before the flood ended: the last stream the server processed is early on.
            let last = try #require(result["last_stream_id"] as? Int)
            #expect(last < 2 * 10_000, "\(result)")
            let other = try await curl(["--http2-prior-knowledge", "\(server.base)/health"])
            #expect(String(decoding: other.stdout, as: UTF8.self) == "{\"status\":\"ok\"}\n")
        }
    }

    @Test func resetStreamCancelsItsHandlerOnly() async throws {
        let probe = HandlerProbe()
        try await withServer(routes: { router in
            router.sse("/forever") { _, events in
                do {
                    try await events.send(SSEEvent(data: "first"))
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    probe.set { $0.cancelled = Task.isCancelled; $0.error = error }
                }
            }
        }) { server in
            let result = try await h2Probe(["reset", String(server.port), "/forever"])
            #expect(result["got_data"] as? Bool == true)
            #expect(result["connection_alive"] as? Bool == true)
            #expect(await eventually { probe.get { $0.error != nil } })
            #expect(probe.get { $0.cancelled })
        }
    }

    /// Two request bodies at once on one connection, their DATA frames alternating and longer than the
    /// initial window: each frame lands in its own stream's body (the connection finds a frame's stream
    /// by id, the one it found last without a lookup).
    @Test func interleavedUploadsKeepTheirOwnBodies() async throws {
        try await withServer(routes: { router in
            router.post("/echo-body") { request in Response(body: request.body) }
        }) { server in
            let result = try await h2Probe(["uploads", String(server.port), "/echo-body", "200000"])
            let streams = try #require(result["streams"] as? [[String: Any]])
            #expect(streams.count == 2)
            for stream in streams {
                #expect(stream["sent"] as? Int == 200_000 && stream["echoed"] as? Bool == true && stream["ended"] as? Bool == true,
                        "\(stream["sent"] ?? "?") sent, \(stream["received"] ?? "?") back, echoed \(stream["echoed"] ?? "?")")
            }
        }
    }

    /// The idle timeout ends a connection with GOAWAY(NO_ERROR) once no stream has been open for that
    /// long, counted from the last stream's end; never while a stream is open, however quiet.
    @Test func idleTimeoutCountsFromTheLastStreamsEnd() async throws {
        try await withServer(configure: { $0.timeouts.idle = .milliseconds(400) }) { server in
            let short = try await h2Probe(["idle", String(server.port), "/health", "5000"])
            #expect(short["goaway"] as? Bool == true && short["code"] as? String == "NO_ERROR", "\(short)")
            let afterShort = try #require(short["seconds_after_end"] as? Double)
            #expect(afterShort >= 0.35 && afterShort < 3, "\(short)")
            // A quiet stream held open for 2.5 times the timeout, then cancelled: the timeout anew, from
            // the cancel (the timer, armed at the start, waits out the rest).
            let held = try await h2Probe(["idle", String(server.port), "/channels/quiet/sse", "1000"])
            #expect(held["goaway_while_open"] as? Bool == false, "\(held)")
            #expect(held["goaway"] as? Bool == true && held["code"] as? String == "NO_ERROR", "\(held)")
            let afterHeld = try #require(held["seconds_after_end"] as? Double)
            #expect(afterHeld >= 0.35 && afterHeld < 3, "\(held)")
        }
    }

    @Test func conformanceTable() async throws {
        try await withServer { server in
            let result = try await h2Probe(["conformance", String(server.port)])
            let cases = try #require(result["cases"] as? [[String: Any]])
            #expect(cases.count >= 39)
            for entry in cases {
                #expect(entry["ok"] as? Bool == true, "\(entry["case"] ?? "?"): \(entry["detail"] ?? "")")
            }
        }
    }

    @Test func gracefulShutdownSendsGoAwayAndLetsStreamsFinish() async throws {
        let started = Locked(0)
        let server = try TestServer(routes: trackedRoutes(started))
        let reading = Task { try await curl(["--http2-prior-knowledge", "\(server.base)/tracked-ndjson?count=5&interval_ms=300"]) }
        #expect(await eventually(timeout: .seconds(20)) { started.withLock { $0 } == 1 })
        await server.stop()
        let out = try await reading.value
        #expect(out.status == 0, "\(out.stderr)")
        #expect(String(decoding: out.stdout, as: UTF8.self) == (1...5).map { "{\"seq\":\($0)}\n" }.joined())
    }

    @Test func uploadOverTheLimitGets413() async throws {
        try await withServer(configure: { $0.limits.maxBodyBytes = 1000 }, routes: { router in
            router.post("/echo") { request in Response(body: request.body) }
        }) { server in
            let small = try await curl(["--http2-prior-knowledge", "--data-binary", "hello", "\(server.base)/echo"])
            #expect(String(decoding: small.stdout, as: UTF8.self) == "hello")
            let big = try await curl(["--http2-prior-knowledge", "-w", "%{http_code}", "-o", "/dev/null", "--data-binary", String(repeating: "x", count: 5000), "\(server.base)/echo"])
            #expect(String(decoding: big.stdout, as: UTF8.self) == "413")
        }
    }

    @Test func upgradeToH2cIsDeclinedPolitely() async throws {
        try await withServer { server in
            // curl --http2 on cleartext sends `Upgrade: h2c`; the answer is plain HTTP/1.1.
            let out = try await curl(["--http2", "-w", "\n%{http_version}", "\(server.base)/health"])
            #expect(String(decoding: out.stdout, as: UTF8.self) == "{\"status\":\"ok\"}\n\n1.1")
        }
    }

    @Test func certificateAndKeyFromFiles() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tls-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try await run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", key, "-out", cert,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let tls = try TLSContext(certificateChainFile: cert, privateKeyFile: key)
        #expect(throws: TLSContext.Error.self) { try TLSContext(certificateChainFile: key, privateKeyFile: cert) }
        try await withServer(configure: { $0.tls = tls }) { server in
            // Verified against the certificate itself, not -k.
            let out = try await curl(["--cacert", cert, "--http2", "-w", "\n%{http_version}", "https://127.0.0.1:\(server.port)/health"])
            #expect(String(decoding: out.stdout, as: UTF8.self) == "{\"status\":\"ok\"}\n\n2", "\(out.stderr)")
        }
    }
}
