import CHTTPParser

/// What the parser found in the bytes it was fed.
public enum HTTP1ParserEvent: Sendable, Equatable {
    case head(HTTP1RequestHead)
    case body([UInt8])
    /// The request is complete. The parser pauses here until ``HTTP1RequestParser/resume()``, so
    /// pipelined requests are taken one at a time and answered in order.
    case end
}

/// An incremental HTTP/1.1 request parser: Node's `http_parser` (Debian's libhttp-parser-dev), with
/// our own limits and request-smuggling checks on top.
///
/// Pure: it never touches a socket. Feed it bytes in any chunking; it reports how many it consumed.
///
/// ```swift
/// let parser = HTTP1RequestParser(limits: HTTP1Limits())
/// let result = bytes.withUnsafeBytes { parser.feed($0) }
/// // result.events == [.head(...), .end]; result.consumed bytes may be dropped from the input
/// parser.resume()   // ready for the next pipelined request
/// ```
public final class HTTP1RequestParser {
    public struct FeedResult: Sendable, Equatable {
        public var consumed: Int
        public var events: [HTTP1ParserEvent]
        /// Set once the input cannot be parsed further; answer with its status and close.
        public var error: HTTP1ParseError?
    }

    public let limits: HTTP1Limits
    private let parser: UnsafeMutablePointer<http_parser>
    private var settings = http_parser_settings()

    // Per-message state, filled by the C callbacks.
    private var events: [HTTP1ParserEvent] = []
    private var url: [UInt8] = []
    private var fields: [(name: [UInt8], value: [UInt8])] = []
    private var lastWasValue = false
    private var headerBytes = 0
    private var bodyBytes = 0
    private var headersDone = false
    private var failure: HTTP1ParseError?
    private var paused = false
    private var upgraded = false

    /// True between a request's first byte and its end.
    public private(set) var inMessage = false

    /// True from a request's end until ``resume()``.
    public var isPaused: Bool { paused }

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_REQUEST)
        installCallbacks()
    }

    deinit { parser.deallocate() }

    /// Parses as much of `bytes` as it can. Stops after each complete request (see ``resume()``) and at
    /// the first error. Bytes past `consumed` must be fed again later.
    public func feed(_ bytes: UnsafeRawBufferPointer) -> FeedResult {
        if let failure { return FeedResult(consumed: 0, events: [], error: failure) }
        if paused || bytes.isEmpty { return FeedResult(consumed: 0, events: [], error: nil) }
        events.removeAll(keepingCapacity: true)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let base = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
        let consumed = http_parser_execute(parser, &settings, base, bytes.count)
        let errno = http_errno(parser.pointee.http_errno)
        if errno != HPE_OK && errno != HPE_PAUSED && failure == nil {
            failure = classify(errno)
        }
        if parser.pointee.upgrade == 1 && !paused && failure == nil {
            // http_parser stops at an upgrade request's end and never reports message completion
            // for a CONNECT; treat it as complete, the connection decides what comes next.
            upgraded = true
            finishMessage()
        }
        return FeedResult(consumed: consumed, events: events, error: failure)
    }

    /// Lets the parser go on to the next pipelined request.
    public func resume() {
        guard paused else { return }
        paused = false
        if upgraded {
            upgraded = false
            http_parser_init(parser, HTTP_REQUEST)
        } else {
            http_parser_pause(parser, 0)
        }
    }

    // MARK: Callbacks (called from inside http_parser_execute)

    private func beginMessage() {
        inMessage = true
        url.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        lastWasValue = false
        headerBytes = 0
        bodyBytes = 0
        headersDone = false
    }

    private func addHeaderBytes(_ n: Int) -> Int32 {
        headerBytes += n
        if headerBytes > limits.maxHeaderBytes {
            failure = .headersTooLarge
            return 1
        }
        return 0
    }

    private func onURL(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        url.append(contentsOf: bytes)
        // Method, spaces, version and CRLF: a fixed allowance over the target itself.
        return addHeaderBytes(bytes.count + (url.count == bytes.count ? 16 : 0))
    }

    private func onHeaderField(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if headersDone { return addHeaderBytes(bytes.count) }  // trailer fields are counted, not kept
        if lastWasValue || fields.isEmpty {
            fields.append(([], []))
            lastWasValue = false
            headerBytes += 4  // ": " and CRLF
        }
        fields[fields.count - 1].name.append(contentsOf: bytes)
        return addHeaderBytes(bytes.count)
    }

    private func onHeaderValue(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if headersDone { return addHeaderBytes(bytes.count) }
        lastWasValue = true
        fields[fields.count - 1].value.append(contentsOf: bytes)
        return addHeaderBytes(bytes.count)
    }

    private func onHeadersComplete() -> Int32 {
        headersDone = true
        if parser.pointee.http_major != 1 {
            failure = .unsupportedVersion(major: Int(parser.pointee.http_major), minor: Int(parser.pointee.http_minor))
            return -1
        }
        let headers = fields.map { (name: String(decoding: $0.name, as: UTF8.self), value: String(decoding: $0.value, as: UTF8.self)) }
        if let problem = Self.framingProblem(headers) {
            failure = problem
            return -1
        }
        if parser.pointee.flags & UInt32(F_CONTENTLENGTH.rawValue) != 0,
           parser.pointee.content_length > UInt64(limits.maxBodyBytes) {
            failure = .bodyTooLarge
            return -1
        }
        let method = String(cString: http_method_str(http_method(parser.pointee.method)))
        let head = HTTP1RequestHead(
            method: method,
            target: String(decoding: url, as: UTF8.self),
            versionMajor: Int(parser.pointee.http_major),
            versionMinor: Int(parser.pointee.http_minor),
            headers: headers,
            keepAlive: http_should_keep_alive(parser) != 0,
            isUpgrade: parser.pointee.upgrade == 1)
        events.append(.head(head))
        return 0
    }

    private func onBody(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        bodyBytes += bytes.count
        if bodyBytes > limits.maxBodyBytes {
            failure = .bodyTooLarge
            return 1
        }
        events.append(.body(Array(bytes)))
        return 0
    }

    private func onMessageComplete() -> Int32 {
        // http_parser has already flagged an upgrade here; it will stop after this message, and the
        // parser must start afresh for whatever follows (found by the fuzz target).
        upgraded = parser.pointee.upgrade == 1
        finishMessage()
        http_parser_pause(parser, 1)
        return 0
    }

    private func finishMessage() {
        events.append(.end)
        inMessage = false
        paused = true
    }

    /// Request-smuggling defence (RFC 9112 §6.1, §6.3): only `chunked` is understood, and a message
    /// may not carry both framings or disagreeing lengths.
    static func framingProblem(_ headers: [(name: String, value: String)]) -> HTTP1ParseError? {
        var lengths: [String] = []
        var codings: [String] = []
        for (name, value) in headers {
            switch name.lowercased() {
            case "content-length":
                lengths += value.split(separator: ",").map { $0.trimmingSpaces }
            case "transfer-encoding":
                codings += value.split(separator: ",").map { $0.trimmingSpaces.lowercased() }
            default: break
            }
        }
        if !codings.isEmpty {
            if let other = codings.first(where: { $0 != "chunked" }) { return .unsupportedTransferEncoding(other) }
            if codings.count > 1 { return .ambiguousFraming("chunked applied more than once") }
            if !lengths.isEmpty { return .ambiguousFraming("both Content-Length and Transfer-Encoding") }
        }
        if lengths.count > 1 { return .ambiguousFraming("several Content-Length values") }
        return nil
    }

    private func classify(_ errno: http_errno) -> HTTP1ParseError {
        let name = String(cString: http_errno_name(errno))
        if errno == HPE_HEADER_OVERFLOW { return .headersTooLarge }
        // http_parser rejects some framing itself before our header check runs; report it the same way.
        let headers = fields.map { (name: String(decoding: $0.name, as: UTF8.self), value: String(decoding: $0.value, as: UTF8.self)) }
        if errno == HPE_INVALID_TRANSFER_ENCODING || errno == HPE_UNEXPECTED_CONTENT_LENGTH {
            return Self.framingProblem(headers) ?? .ambiguousFraming(name)
        }
        return .malformed(String(cString: http_errno_description(errno)))
    }

    private func installCallbacks() {
        settings.on_message_begin = { p in
            HTTP1RequestParser.from(p).beginMessage()
            return 0
        }
        settings.on_url = { p, at, n in HTTP1RequestParser.from(p).onURL(UnsafeRawBufferPointer(start: at, count: n)) }
        settings.on_header_field = { p, at, n in
            HTTP1RequestParser.from(p).onHeaderField(UnsafeRawBufferPointer(start: at, count: n))
        }
        settings.on_header_value = { p, at, n in
            HTTP1RequestParser.from(p).onHeaderValue(UnsafeRawBufferPointer(start: at, count: n))
        }
        settings.on_headers_complete = { p in HTTP1RequestParser.from(p).onHeadersComplete() }
        settings.on_body = { p, at, n in HTTP1RequestParser.from(p).onBody(UnsafeRawBufferPointer(start: at, count: n)) }
        settings.on_message_complete = { p in HTTP1RequestParser.from(p).onMessageComplete() }
    }

    private static func from(_ p: UnsafeMutablePointer<http_parser>?) -> HTTP1RequestParser {
        Unmanaged<HTTP1RequestParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
