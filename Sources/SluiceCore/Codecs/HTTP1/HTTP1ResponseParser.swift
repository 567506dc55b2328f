import CHTTPParser

/// What a client's response parser found.
public enum HTTP1ResponseEvent: Sendable, Equatable {
    case head(status: Int, headers: [HTTP1Header])
    case body([UInt8])
    case end
    /// A 101 switched protocols: these bytes (and all later ones) belong to the new protocol.
    case upgraded(leftover: [UInt8])
}

public struct HTTP1Header: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// An incremental HTTP/1.1 response parser for the client side (Node's `http_parser` in response
/// mode): Content-Length, chunked and close-delimited bodies. Pure: bytes in, events out.
///
/// ```swift
/// let parser = HTTP1ResponseParser()
/// let events = try parser.feed(bytes)        // [.head(status: 200, ...), .body(...)]
/// let tail = try parser.finish()             // at EOF: ends a close-delimited body
/// ```
public final class HTTP1ResponseParser {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    private let parser: UnsafeMutablePointer<http_parser>
    private var settings = http_parser_settings()
    private var events: [HTTP1ResponseEvent] = []
    private var headers: [(name: [UInt8], value: [UInt8])] = []
    private var lastWasValue = false
    private var headerBytes = 0
    private let maxHeaderBytes: Int

    public init(maxHeaderBytes: Int = 64 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_RESPONSE)
        settings.on_message_begin = { p in
            let me = HTTP1ResponseParser.from(p)
            me.headers.removeAll()
            me.lastWasValue = false
            me.headerBytes = 0
            return 0
        }
        settings.on_header_field = { p, at, n in
            let me = HTTP1ResponseParser.from(p)
            if me.lastWasValue || me.headers.isEmpty {
                me.headers.append(([], []))
                me.lastWasValue = false
            }
            me.headers[me.headers.count - 1].name.append(contentsOf: UnsafeRawBufferPointer(start: at, count: n))
            me.headerBytes += n
            return me.headerBytes > me.maxHeaderBytes ? 1 : 0
        }
        settings.on_header_value = { p, at, n in
            let me = HTTP1ResponseParser.from(p)
            me.lastWasValue = true
            me.headers[me.headers.count - 1].value.append(contentsOf: UnsafeRawBufferPointer(start: at, count: n))
            me.headerBytes += n
            return me.headerBytes > me.maxHeaderBytes ? 1 : 0
        }
        settings.on_headers_complete = { p in
            let me = HTTP1ResponseParser.from(p)
            let status = Int(me.parser.pointee.status_code)
            let headers = me.headers.map { HTTP1Header(name: String(decoding: $0.name, as: UTF8.self), value: String(decoding: $0.value, as: UTF8.self)) }
            me.events.append(.head(status: status, headers: headers))
            return 0
        }
        settings.on_body = { p, at, n in
            HTTP1ResponseParser.from(p).events.append(.body(Array(UnsafeRawBufferPointer(start: at, count: n))))
            return 0
        }
        settings.on_message_complete = { p in
            HTTP1ResponseParser.from(p).events.append(.end)
            return 0
        }
    }

    deinit { parser.deallocate() }

    /// Parses a chunk of the response stream.
    public func feed<C: Collection>(_ bytes: C) throws(Failure) -> [HTTP1ResponseEvent] where C.Element == UInt8 {
        let array = Array(bytes)
        return try run(array)
    }

    /// The peer closed the connection: ends a close-delimited body; an incomplete message is an error.
    public func finish() throws(Failure) -> [HTTP1ResponseEvent] { try run([]) }

    private func run(_ bytes: [UInt8]) throws(Failure) -> [HTTP1ResponseEvent] {
        events.removeAll(keepingCapacity: true)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let consumed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { http_parser_execute(parser, &settings, $0.baseAddress, $0.count) }
        }
        let errno = http_errno(parser.pointee.http_errno)
        if errno == HPE_OK && parser.pointee.upgrade == 1 {
            // The 101's "message" is only its head: what follows is not an HTTP body.
            events.removeAll { $0 == .end }
            events.append(.upgraded(leftover: Array(bytes[consumed...])))
            return events
        }
        if errno != HPE_OK || consumed != bytes.count {
            throw Failure(description: String(cString: http_errno_description(errno)))
        }
        return events
    }

    private static func from(_ p: UnsafeMutablePointer<http_parser>?) -> HTTP1ResponseParser {
        Unmanaged<HTTP1ResponseParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }
}
