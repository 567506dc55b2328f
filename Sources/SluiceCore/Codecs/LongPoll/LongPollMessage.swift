import Foundation

/// The long-poll protocol of channels, one type for the server that answers and the client that asks.
///
/// `GET /channels/{name}/poll?cursor=ID&timeout_ms=T` answers at once with the events after `cursor`,
/// or waits up to `T` ms for one; the answer is always `200` with this JSON body. The client sends
/// `next_cursor` back as the next request's `cursor`. No `cursor` means "from the oldest retained".
/// `gap` is true when events after `cursor` had already left the replay ring: `oldest` is the first
/// id still held, and the events before it are lost (never silently skipped).
///
/// ```swift
/// let page = try LongPollPage.decode(body)
/// for event in page.events { print(event.id, event.data) }
/// next = LongPollPage.query(cursor: page.nextCursor, timeoutMs: 25_000)
/// ```
public struct LongPollPage: Codable, Sendable, Equatable {
    public var events: [LongPollEvent]
    /// The cursor for the next request: the last id returned, or the request's own when none.
    public var nextCursor: String
    public var gap: Bool
    /// The oldest id the channel still holds (nil when empty).
    public var oldest: String?

    public init(events: [LongPollEvent], nextCursor: String, gap: Bool = false, oldest: String? = nil) {
        self.events = events
        self.nextCursor = nextCursor
        self.gap = gap
        self.oldest = oldest
    }

    enum CodingKeys: String, CodingKey {
        case events, nextCursor = "next_cursor", gap, oldest
    }

    public static func decode(_ body: [UInt8]) throws -> LongPollPage {
        try JSONDecoder().decode(LongPollPage.self, from: Data(body))
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [UInt8]((try? encoder.encode(self)) ?? Data("{}".utf8))
    }

    /// The query of a poll request (`cursor` omitted when empty).
    public static func query(cursor: String, timeoutMs: Int) -> String {
        let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor
        return cursor.isEmpty ? "timeout_ms=\(timeoutMs)" : "cursor=\(escaped)&timeout_ms=\(timeoutMs)"
    }
}

/// One event of a long-poll page.
public struct LongPollEvent: Codable, Sendable, Equatable {
    public var id: String
    public var event: String?
    public var data: String

    public init(id: String, event: String? = nil, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }
}
