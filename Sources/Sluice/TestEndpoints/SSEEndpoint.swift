import SluiceCore

/// `GET /sse?count=&interval_ms=&size=&event=&retry_ms=&start_id=&heartbeat_ms=`: numbered events.
///
/// Ids run from `start_id` (default 1) to `start_id + count - 1`; without `count` the stream does not
/// end. A client that reconnects with `Last-Event-ID: N` continues at N+1 toward the same last id, so
/// a resumed stream loses and repeats nothing. Data is `event N`, or exactly `size` bytes of a
/// deterministic pattern starting with the id.
enum SSEEndpoint {
    static func handle(_ request: Request, _ events: SSEWriter) async throws {
        let q = QueryParameters(request)
        let count = try q.int("count", in: 1...1_000_000_000)
        let interval = try q.int("interval_ms", in: 0...3_600_000, default: 1000)
        let size = try q.int("size", in: 0...1_048_576)
        let type = try q.token("event")
        let retry = try q.int("retry_ms", in: 0...86_400_000)
        let startID = try q.int("start_id", in: 0...(1 << 52), default: 1)
        let heartbeat = try q.int("heartbeat_ms", in: 1...3_600_000)

        let resumeAfter = request.lastEventID.flatMap { Int($0) }.flatMap { $0 >= startID - 1 ? $0 : nil }
        let next = resumeAfter.map { $0 + 1 } ?? startID
        let end = count.map { startID + $0 }  // exclusive

        let run: @Sendable () async throws -> Void = {
            try events.open()
            var id = next
            var first = true
            while end.map({ id < $0 }) ?? true {
                if !first && interval > 0 { try await Task.sleep(for: .milliseconds(interval)) }
                let event = SSEEvent(data: payload(id: id, size: size), event: type, id: String(id), retry: first ? retry : nil)
                try await events.send(event)
                first = false
                id += 1
            }
        }
        if let heartbeat {
            try await events.withHeartbeat(every: .milliseconds(heartbeat), run)
        } else {
            try await run()
        }
    }

    static func payload(id: Int, size: Int?) -> String {
        guard let size else { return "event \(id)" }
        var bytes = Array("\(id) ".utf8.prefix(size))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        while bytes.count < size { bytes.append(alphabet[bytes.count % alphabet.count]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
