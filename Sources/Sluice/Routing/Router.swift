import HTTPTypes

/// Maps method and path to a handler. Built before the server starts, then read-only.
///
/// Path patterns are `/`-separated: a literal segment, `{name}` (one segment, captured into
/// ``Request/parameters``), or a final `*` (the rest of the path, possibly empty). Literal segments
/// match the request's path (still percent-encoded) byte for byte.
///
/// ```swift
/// var router = Router()
/// router.get("/health") { _ in Response(text: "ok\n") }
/// router.sse("/events") { request, events in
///     try await events.send(SSEEvent(data: "hello", id: "1"))
/// }
/// router.stream("/download") { request, body in
///     try await body.write(Array("chunk".utf8))
/// }
/// ```
public struct Router: Sendable {
    public typealias PlainHandler = @Sendable (Request) async throws -> Response
    public typealias ImmediateHandler = @Sendable (Request) throws -> Response
    public typealias SSEHandler = @Sendable (Request, SSEWriter) async throws -> Void
    public typealias StreamHandler = @Sendable (Request, BodyWriter) async throws -> Void
    public typealias WebSocketHandler = @Sendable (Request, WebSocket) async throws -> Void

    enum Handler: Sendable {
        case plain(PlainHandler)
        case immediate(ImmediateHandler)
        case sse(SSEHandler, SSERouteOptions)
        case stream(StreamHandler)
        case webSocket(WebSocketHandler, @Sendable (Request) throws -> WebSocketOptions)
    }

    enum Segment: Sendable, Equatable {
        /// Its bytes, compared with the path's as they are.
        case literal([UInt8])
        case parameter(String)
        case rest
    }

    struct Route: Sendable {
        var methods: [HTTPRequest.Method]
        var pattern: [Segment]
        var handler: Handler
    }

    enum Match {
        case found(Handler, parameters: [String: String])
        case methodNotAllowed(allow: [HTTPRequest.Method])
        case notFound
    }

    private(set) var routes: [Route] = []
    /// Indices of the routes whose pattern starts with a given literal segment ("" for the pattern
    /// of `/`), and of those starting with a parameter or `*`; both ascending. A request is checked
    /// only against the routes its first segment can reach: the static files' `/*` sat behind every
    /// test endpoint, and scanning them all was ~5% of a small file request.
    /// A list, not a dictionary: a router has tens of first segments at most, and comparing a few
    /// lengths (then bytes) costs less than hashing the request's segment into a String key.
    private var byFirstSegment: [(segment: [UInt8], routes: [Int])] = []
    private var openFirstSegment: [Int] = []

    public init() {}

    // MARK: Registering

    /// A route answering `methods` with a complete response.
    public mutating func on(_ methods: [HTTPRequest.Method], _ path: String, _ handler: @escaping PlainHandler) {
        add(methods, path, .plain(handler))
    }

    /// A route answered at once, inside the callback that read the request, without a task: for
    /// handlers that neither wait nor block (a status, a file, a lookup in memory). The handler
    /// runs on the connection's loop unless the server places handlers on the concurrent pool or
    /// injects faults; a request with a body has it collected first, as for ``on(_:_:_:)``.
    ///
    /// ```swift
    /// router.immediate([.get], "/ping") { _ in Response(text: "pong\n") }
    /// ```
    public mutating func immediate(_ methods: [HTTPRequest.Method], _ path: String, _ handler: @escaping ImmediateHandler) {
        add(methods, path, .immediate(handler))
    }

    public mutating func get(_ path: String, _ handler: @escaping PlainHandler) { on([.get], path, handler) }
    public mutating func post(_ path: String, _ handler: @escaping PlainHandler) { on([.post], path, handler) }
    public mutating func put(_ path: String, _ handler: @escaping PlainHandler) { on([.put], path, handler) }
    public mutating func delete(_ path: String, _ handler: @escaping PlainHandler) { on([.delete], path, handler) }

    /// A Server-Sent Events route (GET). The handler's sends suspend under backpressure; it is
    /// cancelled when the client goes away. `heartbeat` sends a comment whenever the stream has been
    /// quiet that long, so proxies and idle timers keep it open.
    public mutating func sse(_ path: String, heartbeat: Duration? = nil, _ handler: @escaping SSEHandler) {
        add([.get], path, .sse(handler, SSERouteOptions(heartbeat: heartbeat)))
    }

    /// A streamed-body route (GET unless told otherwise).
    public mutating func stream(_ path: String, methods: [HTTPRequest.Method] = [.get], _ handler: @escaping StreamHandler) {
        add(methods, path, .stream(handler))
    }

    /// A WebSocket route: HTTP/1.1 Upgrade, or extended CONNECT on HTTP/2 (RFC 8441). The handler
    /// reads `ws.messages` and sends with `ws.send`; returning closes the connection with 1000.
    public mutating func webSocket(_ path: String, options: WebSocketOptions = WebSocketOptions(), _ handler: @escaping WebSocketHandler) {
        add([.get], path, .webSocket(handler, { _ in options }))
    }

    /// A WebSocket route whose options depend on the request (e.g. a query knob); a thrown
    /// ``HTTPError`` refuses the handshake with its status.
    public mutating func webSocket(
        _ path: String, options: @escaping @Sendable (Request) throws -> WebSocketOptions, _ handler: @escaping WebSocketHandler
    ) {
        add([.get], path, .webSocket(handler, options))
    }

    private mutating func add(_ methods: [HTTPRequest.Method], _ path: String, _ handler: Handler) {
        let pattern = Self.parse(path)
        switch pattern.first {
        case nil: addFirstSegment([], routes.count)
        case .literal(let bytes): addFirstSegment(bytes, routes.count)
        case .parameter, .rest: openFirstSegment.append(routes.count)
        }
        routes.append(Route(methods: methods, pattern: pattern, handler: handler))
    }

    private mutating func addFirstSegment(_ segment: [UInt8], _ route: Int) {
        if let index = byFirstSegment.firstIndex(where: { $0.segment == segment }) {
            byFirstSegment[index].routes.append(route)
        } else {
            byFirstSegment.append((segment, [route]))
        }
    }

    static func parse(_ path: String) -> [Segment] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return parts.enumerated().map { index, part in
            if part == "*" {
                precondition(index == parts.count - 1, "'*' must be the last segment of \(path)")
                return .rest
            }
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(Array(part.utf8))
        }
    }

    // MARK: Matching

    /// The first route whose pattern and method fit; HEAD is served by GET routes.
    func match(method: HTTPRequest.Method, path: Substring) -> Match {
        // Matched on the path's contiguous bytes: walking a Substring's UTF-8 view checked every index
        // it was handed (~3% of a small request).
        var path = path
        return path.withUTF8 { match(method: method, path: $0) }
    }

    private func match(method: HTTPRequest.Method, path: UnsafeBufferPointer<UInt8>) -> Match {
        var pathMatched = false
        for index in candidates(path) {
            // Fields read in place: a copy of the whole route retained its three arrays and closure.
            // The method first: it is cheaper than binding the path (static files' HEAD route sits
            // before their GET route, and is passed over by every GET).
            let methodFits = routes[index].methods.contains(method) || (method == .head && routes[index].methods.contains(.get))
            guard let parameters = Self.bind(routes[index].pattern, path, capturing: methodFits) else { continue }
            if methodFits { return .found(routes[index].handler, parameters: parameters) }
            pathMatched = true
        }
        // The methods are gathered only for a 405: a route passed over on the way to the one that
        // answers cost an array per request.
        return pathMatched ? .methodNotAllowed(allow: methods(at: path)) : .notFound
    }

    /// Methods any route answers at `path`, for OPTIONS and CORS preflight.
    func methods(at path: Substring) -> [HTTPRequest.Method] {
        var path = path
        return path.withUTF8 { methods(at: $0) }
    }

    private func methods(at path: UnsafeBufferPointer<UInt8>) -> [HTTPRequest.Method] {
        var out: [HTTPRequest.Method] = []
        for index in candidates(path) where Self.bind(routes[index].pattern, path, capturing: false) != nil {
            for m in routes[index].methods where !out.contains(m) { out.append(m) }
        }
        if out.contains(.get) && !out.contains(.head) { out.append(.head) }
        return out
    }

    /// The path's non-empty `/`-separated segments.
    static func segments(of path: Substring) -> [Substring] {
        var path = path
        let ranges = path.withUTF8 { Array(PathSegments($0)) }
        let utf8 = path.utf8
        return ranges.map { Substring(utf8[utf8.index(utf8.startIndex, offsetBy: $0.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: $0.upperBound)]) }
    }

    /// The indices of the routes that can match `path`, in registration order (the first fitting
    /// route wins, so the two lists are merged, not appended).
    private func candidates(_ path: UnsafeBufferPointer<UInt8>) -> [Int] {
        var segments = PathSegments(path)
        let first = segments.next().map { UnsafeBufferPointer(rebasing: path[$0]) } ?? UnsafeBufferPointer(start: nil, count: 0)
        let literal = byFirstSegment.first { $0.segment.count == first.count && $0.segment.elementsEqual(first) }?.routes ?? []
        if literal.isEmpty { return openFirstSegment }
        if openFirstSegment.isEmpty { return literal }
        var merged: [Int] = []
        merged.reserveCapacity(literal.count + openFirstSegment.count)
        var (i, j) = (0, 0)
        while i < literal.count || j < openFirstSegment.count {
            if j == openFirstSegment.count || (i < literal.count && literal[i] < openFirstSegment[j]) {
                merged.append(literal[i]); i += 1
            } else {
                merged.append(openFirstSegment[j]); j += 1
            }
        }
        return merged
    }

    /// The parameters `pattern` binds in `path` (decoded only when `capturing`), or nil when it does
    /// not fit. Walks the path's segments as it goes: an array of them was an allocation per request.
    private static func bind(_ pattern: [Segment], _ path: UnsafeBufferPointer<UInt8>, capturing: Bool) -> [String: String]? {
        var parameters = [String: String]()
        var segments = PathSegments(path)
        for segment in pattern {
            switch segment {
            case .rest:
                return parameters
            case .literal(let bytes):
                guard let part = segments.next(), path[part].elementsEqual(bytes) else { return nil }
            case .parameter(let name):
                guard let part = segments.next(), let value = PercentDecoding.decode(bytes: path[part]) else { return nil }
                if capturing { parameters[name] = value }
            }
        }
        return segments.next() == nil ? parameters : nil
    }
}

/// Where the non-empty `/`-separated segments of a path's bytes lie. Holds the bytes' pointer: lives
/// only inside the `withUTF8` call that gave them.
struct PathSegments: Sequence, IteratorProtocol {
    private let path: UnsafeBufferPointer<UInt8>
    private var position = 0

    init(_ path: UnsafeBufferPointer<UInt8>) { self.path = path }

    mutating func next() -> Range<Int>? {
        while position < path.count && path[position] == UInt8(ascii: "/") { position += 1 }
        guard position < path.count else { return nil }
        let start = position
        while position < path.count && path[position] != UInt8(ascii: "/") { position += 1 }
        return start..<position
    }
}

/// Options of an SSE route.
public struct SSERouteOptions: Sendable {
    /// Send a comment after this much quiet; `nil` sends none.
    public var heartbeat: Duration?
}
