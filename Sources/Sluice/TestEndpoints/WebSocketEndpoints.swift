import SluiceCore

/// The WebSocket test endpoints of `sluice serve`.
enum WebSocketEndpoints {
    /// `/ws/echo?max_message_size=`: every message back as it came. The default bound is 32 MiB, so
    /// the Autobahn suite's 16 MiB messages fit.
    static func echoOptions(_ request: Request) throws -> WebSocketOptions {
        var options = WebSocketOptions()
        options.maxMessageSize = try QueryParameters(request).int("max_message_size", in: 1...(256 << 20), default: 32 << 20)
        return options
    }

    static func echo(_ request: Request, _ ws: WebSocket) async throws {
        for await message in ws.messages { try await ws.send(message) }
    }

    /// `/ws/ticker?interval_ms=&count=`: `{"tick":N}` text messages from the server.
    static func tickerOptions(_ request: Request) throws -> WebSocketOptions {
        let q = QueryParameters(request)
        _ = try q.int("interval_ms", in: 0...3_600_000, default: 1000)
        _ = try q.int("count", in: 1...1_000_000_000)
        return WebSocketOptions()
    }

    static func ticker(_ request: Request, _ ws: WebSocket) async throws {
        let q = QueryParameters(request)
        let interval = try q.int("interval_ms", in: 0...3_600_000, default: 1000)
        let count = try q.int("count", in: 1...1_000_000_000)
        var n = 1
        while count.map({ n <= $0 }) ?? true {
            if n > 1 && interval > 0 { try await Task.sleep(for: .milliseconds(interval)) }
            try await ws.send(text: "{\"tick\":\(n)}")
            n += 1
        }
    }
}

/// `/ws/broadcast`: every message any client sends goes to every connected client (itself too),
/// to all of them at once. A sender's next message waits until every client has taken this one, so
/// the slowest client holds senders back (its send suspends) instead of growing a queue.
final class WebSocketBroadcast: Sendable {
    private let clients = Locked<[ObjectIdentifier: WebSocket]>([:])

    func handle(_ request: Request, _ ws: WebSocket) async throws {
        let id = ObjectIdentifier(ws)
        clients.withLock { $0[id] = ws }
        defer { clients.withLock { $0[id] = nil } }
        for await message in ws.messages {
            let everyone = clients.withLock { Array($0.values) }
            await withTaskGroup(of: Void.self) { group in
                for client in everyone { group.addTask { try? await client.send(message) } }
            }
        }
    }
}
