import HTTPTypes

/// `GET /stream?bytes=&chunk=&interval_ms=`: a chunked body of `bytes` deterministic bytes (byte i is
/// `a` + i mod 26), written `chunk` bytes at a time, `interval_ms` apart.
enum StreamEndpoint {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz".utf8)

    static func handle(_ request: Request, _ body: BodyWriter) async throws {
        let q = QueryParameters(request)
        let total = try q.int("bytes", in: 0...(1 << 40), default: 1 << 20)
        let chunk = try q.int("chunk", in: 1...(16 << 20), default: 16 * 1024)
        let interval = try q.int("interval_ms", in: 0...3_600_000, default: 0)
        try body.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "application/octet-stream"]))
        // One pattern buffer, one chunk plus a period long, sliced at the right phase for each chunk.
        let pattern = (0..<(chunk + alphabet.count)).map { alphabet[$0 % alphabet.count] }
        var sent = 0
        while sent < total {
            if sent > 0 && interval > 0 { try await Task.sleep(for: .milliseconds(interval)) }
            let n = min(chunk, total - sent)
            let phase = sent % alphabet.count
            try await body.write(Array(pattern[phase..<(phase + n)]))
            sent += n
        }
    }
}

/// `GET /ndjson?count=&interval_ms=`: newline-delimited JSON records `{"seq":N}`, N from 1.
enum NDJSONEndpoint {
    static func handle(_ request: Request, _ body: BodyWriter) async throws {
        let q = QueryParameters(request)
        let count = try q.int("count", in: 1...1_000_000_000)
        let interval = try q.int("interval_ms", in: 0...3_600_000, default: 1000)
        try body.writeHead(HTTPResponse(status: .ok, headerFields: [.contentType: "application/x-ndjson"]))
        var seq = 1
        while count.map({ seq <= $0 }) ?? true {
            if seq > 1 && interval > 0 { try await Task.sleep(for: .milliseconds(interval)) }
            try await body.write("{\"seq\":\(seq)}\n")
            seq += 1
        }
    }
}
