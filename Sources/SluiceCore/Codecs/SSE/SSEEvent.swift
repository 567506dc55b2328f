/// One Server-Sent Event as the server sends it.
///
/// ```swift
/// let event = SSEEvent(data: "line one\nline two", event: "update", id: "42")
/// let bytes = try SSEEncoder.encode(event)   // "event: update\nid: 42\ndata: line one\ndata: line two\n\n"
/// ```
public struct SSEEvent: Sendable, Equatable {
    /// The payload; `nil` sends no `data:` line (an id- or retry-only record, which a client
    /// records without dispatching an event). Line breaks become several `data:` lines.
    public var data: String?
    /// The event type (`event:`); `nil` means the client's default, `message`.
    public var event: String?
    /// The id (`id:`) a reconnecting client sends back as `Last-Event-ID`.
    public var id: String?
    /// The reconnection time the client should use, in milliseconds (`retry:`).
    public var retry: Int?

    public init(data: String? = nil, event: String? = nil, id: String? = nil, retry: Int? = nil) {
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
    }
}

/// Why an event cannot be encoded without changing its meaning on the wire.
public enum SSEEncodingError: Error, Equatable, Sendable {
    /// The WHATWG parser ignores an id containing NUL, and CR or LF would end the field early.
    case invalidID(String)
    /// CR or LF in the event type would end the field early.
    case invalidEventType(String)
    case negativeRetry(Int)
}
