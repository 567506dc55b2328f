import SluiceCore

/// One request on an ``HTTP2ClientSession``, reporting the same events as ``HTTP1ClientConnection``
/// so a transport's session reads either. Pausing stops acknowledging its DATA: the stream's window
/// closes and the server holds this stream back, not the connection's others. Loop thread only.
final class HTTP2ClientStream: ClientStreamConnection {
    typealias Event = HTTP1ClientConnection.Event

    let method: String
    /// The request target (path and query); the session knows only the origin.
    let path: String
    let headers: [(name: String, value: String)]
    let body: [UInt8]
    var bodySent = 0
    /// The HTTP/2 stream id, once submitted.
    var id: Int32 = -1
    private let session: HTTP2ClientSession
    /// A stream without a pool has a session of its own, closed with it.
    private let ownsSession: Bool
    private var onEvent: ((Event) -> Void)?
    private var status = 0
    private var responseHeaders: [HTTP1Header] = []
    private var finished = false
    private var paused = false
    private var unconsumed = 0

    init(session: HTTP2ClientSession, ownsSession: Bool, method: String, path: String, headers: [(name: String, value: String)],
         body: [UInt8], onEvent: @escaping (Event) -> Void) {
        self.session = session
        self.ownsSession = ownsSession
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.onEvent = onEvent
    }

    func start() {
        let alreadyOpen = session.state == .open
        session.open(self)
        if alreadyOpen { connected() }
    }

    func close() {
        finished = true
        onEvent = nil
        session.cancel(self)
        if ownsSession { session.close() }
    }

    func pauseReading() { paused = true }

    func resumeReading() {
        paused = false
        if unconsumed > 0 {
            session.consume(self, unconsumed)
            unconsumed = 0
        }
    }

    // MARK: From the session

    func connected() { if !finished { onEvent?(.connected) } }

    func header(_ name: String, _ value: String) {
        if name == ":status" {
            status = Int(value) ?? 0
            responseHeaders = []  // a final head after interim (1xx) ones starts afresh
        } else {
            responseHeaders.append(HTTP1Header(name: name, value: value))
        }
    }

    func headersComplete() {
        guard !finished, !(100..<200).contains(status) else { return }
        onEvent?(.head(status: status, headers: responseHeaders))
    }

    func data(_ bytes: [UInt8]) {
        guard !finished else { return session.consume(self, bytes.count) }
        onEvent?(.body(bytes))  // may pause this stream (a full `.block` buffer)
        if paused { unconsumed += bytes.count } else { session.consume(self, bytes.count) }
    }

    func ended() {
        guard !finished else { return }
        finished = true
        onEvent?(.end)
    }

    func failed(_ reason: String) {
        guard !finished else { return }
        finished = true
        onEvent?(.failed(reason))
    }
}

/// HTTP/2 connections shared by the transports given it: each request becomes a stream on the
/// connection already open to its origin (scheme, host, port), so many transports cost one TCP (and
/// TLS) connection. All its transports must use the pool's event loop.
///
/// ```swift
/// let pool = HTTP2ConnectionPool(loop: loop)
/// var configuration = SSETransportConfiguration()
/// configuration.httpVersion = .http2
/// configuration.http2Pool = pool     // every transport with this configuration shares connections
/// ```
public final class HTTP2ConnectionPool: Sendable {
    public let loop: EventLoop
    private let sessions = Locked<[String: UnsafeSendable<HTTP2ClientSession>]>([:])

    public init(loop: EventLoop) { self.loop = loop }

    /// Connections open (or opening) now.
    public var connectionCount: Int { sessions.withLock { $0.count } }

    /// The session for an origin, made when there is none. Loop thread.
    func session(for endpoint: ClientEndpoint, tls: ClientTLS?) -> HTTP2ClientSession {
        precondition(loop.inLoop, "a transport using an HTTP2ConnectionPool must use the pool's loop")
        let key = "\(endpoint.secure ? "https" : "http")://\(endpoint.authority)"
        if let found = sessions.withLock({ $0[key] })?.value, found.state != .closed { return found }
        let made = HTTP2ClientSession(loop: loop, endpoint: endpoint, tls: tls)
        made.onEnd = { [weak self] ended in
            self?.sessions.withLock { all in
                if all[key]?.value === ended { all.removeValue(forKey: key) }
            }
        }
        sessions.withLock { $0[key] = UnsafeSendable(made) }
        return made
    }
}
