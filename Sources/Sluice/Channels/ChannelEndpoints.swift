import Foundation
import HTTPTypes
import SluiceCore

/// The HTTP face of a ``ChannelRegistry``:
///
/// - `POST /channels/{name}` publishes the body as one event (`event` and `id` from the query or the
///   `X-Sluice-Event` / `X-Sluice-Event-Id` headers) and answers `{"id":"N"}`;
/// - `GET /channels/{name}` answers the channel's metrics as JSON;
/// - `GET /channels/{name}/sse`, `/ws`, `/stream` (NDJSON) replay after `Last-Event-ID` or
///   `?last_event_id=` (without either, from the oldest retained event; `?from=now`: live events
///   only), then follow live; `policy=` and `queue=` set this subscriber's slow-reader policy and queue;
/// - `GET /channels/{name}/poll?cursor=ID&timeout_ms=T&limit=N` is the long poll (``LongPollPage``;
///   at most `limit`, default 1,000, events a page).
///
/// A reader whose id has left the replay ring is told: `X-Sluice-Replay-Gap: true` and
/// `X-Sluice-Oldest-Id: N` on SSE, NDJSON and poll answers (also `gap` in the page), and a first
/// WebSocket message `{"gap":true,"oldest":"N"}`.
enum ChannelEndpoints {
    static let gapHeader = HTTPField.Name("X-Sluice-Replay-Gap")!
    static let oldestHeader = HTTPField.Name("X-Sluice-Oldest-Id")!

    static func publish(_ registry: ChannelRegistry, _ request: Request) async throws -> Response {
        let channel = try lookUp(registry, request)
        let headers = request.head.headerFields
        let event = request.query["event"] ?? headers[HTTPField.Name("X-Sluice-Event")!]
        let idText = request.query["id"] ?? headers[HTTPField.Name("X-Sluice-Event-Id")!]
        var id: Int?
        if let idText {
            guard let n = Int(idText), n > 0 else { throw HTTPError(.badRequest, "id must be a positive integer, got '\(idText)'") }
            id = n
        }
        if let event, event.contains(where: { $0 == "\r" || $0 == "\n" }) { throw HTTPError(.badRequest, "event must be one line") }
        let published: ChannelEvent
        do {
            published = try channel.publish(data: String(decoding: request.body, as: UTF8.self), event: event, id: id)
        } catch .idNotIncreasing(let last) {
            throw HTTPError(.conflict, "id must be greater than the last one (\(last))")
        } catch .invalidEventType {
            throw HTTPError(.badRequest, "event must be one line")
        }
        return Response(text: "{\"id\":\"\(published.id)\"}\n", contentType: "application/json")
    }

    static func info(_ registry: ChannelRegistry, _ request: Request) throws -> Response {
        let m = try lookUp(registry, request).metrics
        let oldest = m.oldestID.map { "\"\($0)\"" } ?? "null"
        let body = """
            {"name":\(JSONString.quote(request.parameters["name"] ?? "")),"published":\(m.published),"last_id":"\(m.lastID)",\
            "oldest_id":\(oldest),"retained":\(m.retained),"subscribers":\(m.subscribers),"dropped":\(m.dropped),\
            "disconnected":\(m.disconnected)}

            """
        return Response(text: body, contentType: "application/json")
    }

    static func sse(_ registry: ChannelRegistry, _ request: Request, _ events: SSEWriter) async throws {
        let (subscription, replay) = try subscribe(registry, request)
        defer { subscription.cancel() }
        var head = SSEWriter.head
        mark(&head.headerFields, replay)
        try events.sink.sendHead(head)
        // Whatever queued up while the last write was out goes as one write.
        let batchLimit = events.sink.joinsMessages ? 256 : 1
        while let batch = try await nextBatchOrEnd(subscription, max: batchLimit) {
            // Usually one event: its frame, shared by every subscriber, goes as it is.
            guard batch.count > 1 else {
                try await events.write(encoded: batch[0].sseFrame)
                continue
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(batch.reduce(0) { $0 + $1.sseFrame.count })
            for event in batch { bytes += event.sseFrame }
            try await events.write(encoded: bytes)
        }
    }

    static func stream(_ registry: ChannelRegistry, _ request: Request, _ body: BodyWriter) async throws {
        let (subscription, replay) = try subscribe(registry, request)
        defer { subscription.cancel() }
        var head = HTTPResponse(status: .ok, headerFields: [.contentType: "application/x-ndjson", .cacheControl: "no-cache"])
        mark(&head.headerFields, replay)
        try body.writeHead(head)
        let batchLimit = body.sink.joinsMessages ? 256 : 1
        while let batch = try await nextBatchOrEnd(subscription, max: batchLimit) {
            var text = ""
            for event in batch { text += event.jsonLine + "\n" }
            try await body.write(text)
        }
    }

    static func webSocket(_ registry: ChannelRegistry, _ request: Request, _ ws: WebSocket) async throws {
        let (subscription, replay) = try subscribe(registry, request)
        defer { subscription.cancel() }
        if replay.gap { try await ws.send(text: "{\"gap\":true,\"oldest\":\"\(replay.oldest.map(String.init) ?? "")\"}") }
        // Messages from the client are not part of the protocol; reading them keeps pings and the
        // close handshake going, and the client's close ends the subscription.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in ws.messages {}
                throw CancellationError()
            }
            group.addTask {
                while let event = try await nextOrEnd(subscription) { try await ws.send(text: event.jsonLine) }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    static func poll(_ registry: ChannelRegistry, _ request: Request) async throws -> Response {
        let channel = try lookUp(registry, request)
        let q = QueryParameters(request)
        let cursorText = request.query["cursor"] ?? ""
        let cursor: Int? = try cursorText.isEmpty ? nil : {
            guard let n = Int(cursorText), n >= 0 else { throw HTTPError(.badRequest, "cursor must be an event id, got '\(cursorText)'") }
            return n
        }()
        let limitMs = Int(registry.configuration.maxPollWait.components.seconds * 1000)
        let timeout = try q.int("timeout_ms", in: 0...limitMs, default: 25_000)
        let limit = try q.int("limit", in: 1...100_000, default: 1000)
        let (subscription, replay) = channel.subscribe(after: cursor)
        defer { subscription.cancel() }
        var events = subscription.drain()
        if events.isEmpty && timeout > 0 {
            // Wait for the first event or the timeout, then take whatever else came with it.
            let first = await withTaskGroup(of: ChannelEvent?.self) { group in
                group.addTask { try? await subscription.next() }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(timeout))
                    return nil
                }
                let winner = await group.next() ?? nil
                group.cancelAll()
                return winner
            }
            if let first { events = [first] + subscription.drain() }
        }
        if events.count > limit { events.removeLast(events.count - limit) }
        let page = LongPollPage(
            events: events.map { LongPollEvent(id: String($0.id), event: $0.event, data: $0.data) },
            nextCursor: events.last.map { String($0.id) } ?? cursorText, gap: replay.gap, oldest: replay.oldest.map(String.init))
        var response = Response(status: .ok, headers: [.contentType: "application/json"], body: page.encoded())
        mark(&response.head.headerFields, replay)
        response.head.headerFields[.cacheControl] = "no-store"
        return response
    }

    // MARK: Shared

    private static func lookUp(_ registry: ChannelRegistry, _ request: Request) throws -> Channel {
        let name = request.parameters["name"] ?? ""
        guard ChannelRegistry.isValid(name) else {
            throw HTTPError(.badRequest, "a channel name is 1 to 64 of A-Z a-z 0-9 _ . -")
        }
        guard let channel = registry.channel(name) else { throw HTTPError(.serviceUnavailable, "too many channels") }
        return channel
    }

    private static func subscribe(_ registry: ChannelRegistry, _ request: Request) throws -> (ChannelSubscription, Channel.Replay) {
        let channel = try lookUp(registry, request)
        let q = QueryParameters(request)
        let idText = request.lastEventID ?? request.query["last_event_id"]
        var after: Int?
        if let idText, !idText.isEmpty {
            guard let n = Int(idText), n >= 0 else { throw HTTPError(.badRequest, "last event id must be an event id, got '\(idText)'") }
            after = n
        }
        let queue = try q.int("queue", in: 1...1_000_000)
        var policy: SubscriberPolicy?
        if let name = request.query["policy"] {
            guard let chosen = SubscriberPolicy(rawValue: name) else {
                throw HTTPError(.badRequest, "policy must be one of \(SubscriberPolicy.allCases.map(\.rawValue))")
            }
            policy = chosen
        }
        let fromNow = request.query["from"] == "now"
        return channel.subscribe(after: after, fromNow: fromNow && after == nil, queue: queue, policy: policy)
    }

    /// The next event, or nil when the subscriber was cut off for being slow (the stream then ends
    /// and the client resumes by id).
    private static func nextOrEnd(_ subscription: ChannelSubscription) async throws -> ChannelEvent? {
        do { return try await subscription.next() } catch is ChannelSubscription.Overflow { return nil }
    }

    /// The events waiting (at least one, up to `max`), or nil as for ``nextOrEnd(_:)``.
    private static func nextBatchOrEnd(_ subscription: ChannelSubscription, max: Int) async throws -> [ChannelEvent]? {
        do { return try await subscription.nextBatch(max: max) } catch is ChannelSubscription.Overflow { return nil }
    }

    private static func mark(_ fields: inout HTTPFields, _ replay: Channel.Replay) {
        if let oldest = replay.oldest { fields[oldestHeader] = String(oldest) }
        if replay.gap { fields[gapHeader] = "true" }
    }
}

extension Router {
    /// The channel routes (see ``ChannelEndpoints``) over `registry`; publish from Swift with
    /// `registry.channel(name)?.publish(…)`.
    public mutating func addChannels(_ registry: ChannelRegistry) {
        post("/channels/{name}") { request in try await ChannelEndpoints.publish(registry, request) }
        get("/channels/{name}") { request in try ChannelEndpoints.info(registry, request) }
        sse("/channels/{name}/sse") { request, events in try await ChannelEndpoints.sse(registry, request, events) }
        stream("/channels/{name}/stream") { request, body in try await ChannelEndpoints.stream(registry, request, body) }
        webSocket("/channels/{name}/ws") { request, ws in try await ChannelEndpoints.webSocket(registry, request, ws) }
        get("/channels/{name}/poll") { request in try await ChannelEndpoints.poll(registry, request) }
    }
}
