import Testing
@testable import Sluice

@Suite struct SSEEndpointTests {
    @Test func curlReceivesTheExactBytes() async throws {
        try await withServer { server in
            let (out, err, status) = try await curl(["-N", "\(server.base)/sse?count=3&interval_ms=5&event=tick&retry_ms=2500"])
            #expect(status == 0, "\(err)")
            #expect(String(decoding: out, as: UTF8.self) == """
                event: tick
                id: 1
                retry: 2500
                data: event 1

                event: tick
                id: 2
                data: event 2

                event: tick
                id: 3
                data: event 3


                """)
        }
    }

    @Test func headersAreTheSSEDefaults() async throws {
        try await withServer { server in
            let response = try await blocking {
                let client = try RawClient(port: server.port)
                try client.send("GET /sse?count=1 HTTP/1.1\r\nHost: t\r\n\r\n")
                return try client.readResponse()
            }
            #expect(response.status == 200)
            #expect(response.header("content-type") == "text/event-stream")
            #expect(response.header("cache-control") == "no-cache")
            #expect(response.header("x-accel-buffering") == "no")
            #expect(response.header("transfer-encoding") == "chunked")
            #expect(response.text == "id: 1\ndata: event 1\n\n")
        }
    }

    @Test func resumesAfterLastEventIDWithoutLossOrRepeat() async throws {
        try await withServer { server in
            let (out, _, _) = try await curl(["-N", "-H", "Last-Event-ID: 7", "\(server.base)/sse?count=10&interval_ms=0&start_id=1"])
            let ids = String(decoding: out, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("id: ") }
            #expect(ids == ["id: 8", "id: 9", "id: 10"])
        }
    }

    @Test func sizeGivesExactPayloadLength() async throws {
        try await withServer { server in
            let (out, _, _) = try await curl(["-N", "\(server.base)/sse?count=2&interval_ms=0&size=100"])
            let data = String(decoding: out, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("data: ") }
            #expect(data.count == 2)
            #expect(data.allSatisfy { $0.utf8.count == 100 + 6 })
            #expect(data[1].hasPrefix("data: 2 "))
        }
    }

    @Test func heartbeatCommentsFillQuietStretches() async throws {
        try await withServer { server in
            let (out, _, _) = try await curl(["-N", "\(server.base)/sse?count=2&interval_ms=400&heartbeat_ms=100"])
            let text = String(decoding: out, as: UTF8.self)
            #expect(text.contains(": heartbeat\n"))
            #expect(text.hasSuffix("id: 2\ndata: event 2\n\n"))
        }
    }

    @Test(arguments: ["count=0", "count=x", "interval_ms=-1", "size=9999999", "retry_ms=abc", "heartbeat_ms=0", "event=a%0Ab"])
    func parametersOutOfRangeGet400NamingThem(_ query: String) async throws {
        try await withServer { server in
            let (out, _, _) = try await curl(["-w", "\n%{http_code}", "\(server.base)/sse?\(query)"])
            let text = String(decoding: out, as: UTF8.self)
            let name = String(query.split(separator: "=")[0])
            #expect(text.hasSuffix("\n400"))
            #expect(text.contains("'\(name)'"))
        }
    }

    @Test func streamAndNDJSONAreDeterministic() async throws {
        try await withServer { server in
            let (bytes, _, _) = try await curl(["\(server.base)/stream?bytes=100000&chunk=777"])
            #expect(bytes.count == 100_000)
            #expect(bytes.enumerated().allSatisfy { $0.element == UInt8(ascii: "a") + UInt8($0.offset % 26) })
            let (ndjson, _, _) = try await curl(["\(server.base)/ndjson?count=3&interval_ms=0"])
            #expect(String(decoding: ndjson, as: UTF8.self) == "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n")
        }
    }

    @Test func encoderPayloadHelper() {
        #expect(SSEEndpoint.payload(id: 12, size: nil) == "event 12")
        #expect(SSEEndpoint.payload(id: 12, size: 5) == "12 de")
        #expect(SSEEndpoint.payload(id: 12345, size: 2) == "12")
    }
}
