import Foundation
import Testing
@testable import Sluice

@Suite struct HTTP1ServerTests {
    static func echoRoutes(_ router: inout Router) {
        router.addTestEndpoints()
        router.post("/echo") { request in Response(headers: [.contentType: "application/octet-stream"], body: request.body) }
        router.get("/items/{id}") { request in Response(text: "item \(request.parameters["id"] ?? "?")") }
        router.immediate([.get], "/now/{id}") { request in Response(text: "now \(request.parameters["id"] ?? "?")") }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await withServer(routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                for i in 1...3 {
                    try client.send("GET /items/\(i) HTTP/1.1\r\nHost: t\r\n\r\n")
                    let response = try client.readResponse()
                    #expect(response.status == 200)
                    #expect(response.text == "item \(i)")
                    #expect(response.header("connection") == nil)
                    #expect(response.header("date") != nil)
                    #expect(response.header("server") == "Sluice")
                }
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServer(routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                // A slow stream first: a server that answered out of order would put the fast ones first.
                let requests = "GET /ndjson?count=3&interval_ms=30 HTTP/1.1\r\nHost: t\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                    + "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    + "GET /now/1 HTTP/1.1\r\nHost: t\r\n\r\n"  // answered at once: still in its turn
                    + "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
                    + "GET /items/9 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                try client.send(requests)
                #expect(try client.readResponse().text == "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n")
                #expect(try client.readResponse().text == "hello")
                #expect(try client.readResponse().text == "abc")
                #expect(try client.readResponse().text == "now 1")
                #expect(try client.readResponse().status == 404)
                let last = try client.readResponse()
                #expect(last.text == "item 9")
                #expect(last.header("connection") == "close")
                #expect(try client.read().isEmpty)  // closed after Connection: close
            }
        }
    }

    static let badInputs: [(request: String, status: Int)] = [
        ("GARBAGE\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: t\r\nNo-Colon-Here\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nX-Big: " + String(repeating: "x", count: 17 * 1024) + "\r\nHost: t\r\n\r\n", 431),
        ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
        ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("GET /health HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        ("GET /health HTTP/1.1\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),  // RFC 9112 §3.2: one Host only
        ("GET http://other/health HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        ("GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n", 404),
        ("DELETE /health HTTP/1.1\r\nHost: t\r\n\r\n", 405),
    ]

    @Test(arguments: 0..<badInputs.count)
    func badInputGetsAClearStatus(_ index: Int) async throws {
        let (request, status) = Self.badInputs[index]
        try await withServer(routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send(request)
                let response = try client.readResponse()
                #expect(response.status == status, "\(request.prefix(50))")
                if status == 405 { #expect(response.header("allow") == "GET, HEAD") }
                if status >= 400 && status != 404 && status != 405 {
                    // Framing errors close the connection: nothing after them can be trusted.
                    #expect(response.header("connection") == "close")
                    #expect(try client.read().isEmpty)
                }
            }
            // And the server is still fine.
            let (out, _, _) = try await curl(["\(server.base)/health"])
            #expect(String(decoding: out, as: UTF8.self) == "{\"status\":\"ok\"}\n")
        }
    }

    @Test func expectContinueGetsA100BeforeTheBody() async throws {
        try await withServer(routes: Self.echoRoutes) { server in
            try await blocking {
                // A client that waits for the interim answer before sending its body (as curl does
                // for bodies over 1 KiB) must get it without sending anything more.
                let client = try RawClient(port: server.port)
                try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                let interim = String(decoding: try client.read(), as: UTF8.self)
                #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n")
                try client.send("hello")
                #expect(try client.readResponse().text == "hello")
            }
            let body = String(repeating: "z", count: 5000)
            let (out, _, _) = try await curl(["-H", "Content-Type: text/plain", "--data-binary", body, "\(server.base)/echo"])
            #expect(String(decoding: out, as: UTF8.self) == body)
        }
    }

    @Test func chunkedBodyOverTheLimitGets413() async throws {
        try await withServer(configure: { $0.limits.maxBodyBytes = 10 }, routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
                #expect(try client.readResponse().status == 413)
            }
        }
    }

    @Test func headGetsHeadersWithoutBody() async throws {
        try await withServer(routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n")
                let head = try client.readResponse(headRequest: true)
                #expect(head.status == 200)
                #expect(head.header("content-length") == "16")
                try client.send("HEAD /sse HTTP/1.1\r\nHost: t\r\n\r\n")
                let sse = try client.readResponse(headRequest: true)
                #expect(sse.header("content-type") == "text/event-stream")
                // The connection is still in step: the next response starts right here.
                try client.send("GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try client.readResponse().text == "item 1")
            }
        }
    }

    @Test func http10GetsACloseDelimitedStream() async throws {
        try await withServer(routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("GET /ndjson?count=2&interval_ms=0 HTTP/1.0\r\n\r\n")
                let raw = String(decoding: try client.readToEnd(), as: UTF8.self)
                #expect(raw.hasPrefix("HTTP/1.0 200 OK\r\n"))
                #expect(!raw.contains("chunked"))
                #expect(raw.hasSuffix("\r\n\r\n{\"seq\":1}\n{\"seq\":2}\n"))
            }
        }
    }

    @Test func ipv6Loopback() async throws {
        try await withServer(host: "::1") { server in
            let (out, err, status) = try await curl(["-g", "http://[::1]:\(server.port)/health"])
            #expect(status == 0, "\(err)")
            #expect(String(decoding: out, as: UTF8.self) == "{\"status\":\"ok\"}\n")
            #expect(server.server.addresses == ["[::1]:\(server.port)"])
        }
    }

    @Test func everyAddressOfAHostNameIsBoundOnOnePort() async throws {
        try await withServer(host: "localhost") { server in
            let addresses = server.server.addresses
            #expect(!addresses.isEmpty)
            #expect(addresses.allSatisfy { $0.hasSuffix(":\(server.port)") })
            for url in addresses.map({ "http://\($0)/health" }) {
                let (_, err, status) = try await curl(["-g", "-f", url])
                #expect(status == 0, "\(url): \(err)")
            }
        }
    }

    @Test func corsPreflightAndHeaders() async throws {
        try await withServer(configure: { $0.cors = .anyOrigin }, routes: Self.echoRoutes) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("OPTIONS /echo HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n")
                let preflight = try client.readResponse()
                #expect(preflight.status == 204)
                #expect(preflight.header("access-control-allow-origin") == "*")
                #expect(preflight.header("access-control-allow-methods") == "POST, OPTIONS")
                #expect(preflight.header("access-control-allow-headers") == "content-type")
                try client.send("GET /sse?count=1 HTTP/1.1\r\nHost: t\r\nOrigin: http://a.example\r\n\r\n")
                #expect(try client.readResponse().header("access-control-allow-origin") == "*")
            }
        }
        try await withServer(configure: { $0.cors = nil }) { server in
            let (out, _, _) = try await curl(["-i", "\(server.base)/health"])
            #expect(!String(decoding: out, as: UTF8.self).lowercased().contains("access-control"))
        }
    }

    @Test func slowHeadGets408() async throws {
        try await withServer(configure: { $0.timeouts.requestHead = .milliseconds(200) }) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("GET /health HTTP/1.1\r\nHo")  // and then nothing (slowloris)
                let response = try client.readResponse()
                #expect(response.status == 408)
                #expect(try client.read().isEmpty)
            }
        }
    }

    @Test func idleKeepAliveConnectionIsClosed() async throws {
        try await withServer(configure: { $0.timeouts.idle = .milliseconds(200) }) { server in
            try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try client.readResponse().status == 200)
                let start = ContinuousClock.now
                #expect(try client.read().isEmpty)  // closed by the server, well before the 5 s read timeout
                #expect(ContinuousClock.now - start < .seconds(3))
            }
            #expect(await eventually { server.server.connectionCount == 0 })
        }
    }

    @Test func handlerErrorsBecomeStatuses() async throws {
        struct Boom: Error {}
        try await withServer(routes: { router in
            router.get("/teapot") { _ in throw HTTPError(.init(code: 418, reasonPhrase: "I'm a teapot"), "short and stout") }
            router.get("/boom") { _ in throw Boom() }
            router.stream("/late") { _, body in
                try await body.write("partial")
                throw Boom()
            }
        }) { server in
            let (teapot, _, _) = try await curl(["-w", "%{http_code}", "\(server.base)/teapot"])
            #expect(String(decoding: teapot, as: UTF8.self) == "short and stout\n418")
            let (boom, _, _) = try await curl(["-w", "%{http_code}", "\(server.base)/boom"])
            #expect(String(decoding: boom, as: UTF8.self).hasSuffix("500"))
            // After the head went out, the only honest signal is an incomplete body.
            let (_, _, status) = try await curl(["\(server.base)/late"])
            #expect(status == 18)  // curl: partial file
        }
    }

    @Test func trailersGoOutAfterTheLastChunk() async throws {
        try await withServer(routes: { router in
            router.stream("/t") { _, body in
                try await body.write("data")
                body.finish(trailers: [HTTPField.Name("X-Checksum")!: "1234"])
            }
        }) { server in
            let raw = try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("GET /t HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nConnection: close\r\n\r\n")
                return String(decoding: try client.readToEnd(), as: UTF8.self)
            }
            #expect(raw.hasSuffix("\r\n\r\n4\r\ndata\r\n0\r\nX-Checksum: 1234\r\n\r\n"))
        }
    }

    /// On the event loop (the default) a handler that blocks holds its loop: the loop answers nothing
    /// else meanwhile, not even a malformed request (which it answers itself, without a handler). On
    /// the concurrent pool it does not. Ordering, not timing, decides; the client is a plain thread,
    /// so a busy pool cannot delay what it records.
    @Test(arguments: [HandlerPlacement.eventLoop, .concurrentPool])
    func handlerPlacementDecidesWhetherABlockingHandlerHoldsTheLoop(_ placement: HandlerPlacement) async throws {
        let events = Locked<[String]>([])
        try await withServer(loops: 1, configure: { $0.handlerPlacement = placement }, routes: { router in
            router.addTestEndpoints()
            router.get("/block") { _ in
                events.withLock { $0.append("block started") }
                usleep(2_000_000)  // blocks its thread on purpose
                events.withLock { $0.append("block ended") }
                return Response(text: "done")
            }
        }) { server in
            try await blocking {
                let blocked = try RawClient(port: server.port)
                try blocked.send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n")
                // Up to 30 s: on the concurrent pool the handler starts when a cooperative thread is free,
                // which the parallel run can hold off past 10 s.
                for _ in 0..<3000 where !events.withLock({ $0.contains("block started") }) { usleep(10_000) }
                let other = try RawClient(port: server.port)
                try other.send("GET / HTTP/1.1\r\nHost: t\r\nnot a header line\r\n\r\n")
                let refused = try other.readResponse()
                events.withLock { $0.append("loop answered") }
                #expect(refused.status == 400)
                #expect(try blocked.readResponse().text == "done")
            }
        }
        let order = events.withLock { $0 }
        switch placement {
        case .eventLoop: #expect(order == ["block started", "block ended", "loop answered"])
        case .concurrentPool: #expect(order == ["block started", "loop answered", "block ended"])
        }
    }
}
