import COpenSSL
import Foundation
import SluiceCore

/// Settings of a ``WebSocketTransport``, with documented defaults.
public struct WebSocketTransportConfiguration: Sendable {
    public var headers: [(name: String, value: String)] = []
    /// Subprotocols to offer, most preferred first.
    public var subprotocols: [String] = []
    /// Offer permessage-deflate. Default true.
    public var compression = true
    public var reconnect = ReconnectPolicy()
    /// Connect timeout (default 10 s) and stall timeout (default none).
    public var timeouts = ConnectionTimeouts()
    /// Messages buffered for a slow consumer. Default 1,000.
    public var maxBufferSize = 1000
    /// Default `.block`: the socket is not read while the buffer is full.
    public var strategy: BufferStrategy = .block
    public var highWaterMark: Int?
    /// Ping this often; a pong missing for `pongTimeout` drops the connection (and reconnects).
    /// Default 30 s; `nil` sends none.
    public var heartbeatInterval: Duration? = .seconds(30)
    public var pongTimeout: Duration = .seconds(10)
    /// Largest message accepted (after decompression); more closes with 1009. Default 16 MiB.
    public var maxMessageSize = 16 << 20
    /// TLS for `wss` URLs; default: verify against the system trust store.
    public var tls: ClientTLS?
    /// Reads the id a message carries; the last one is sent as `Last-Event-ID` when reconnecting, so
    /// a server that replays by id (Sluice channels) resumes without loss or repeats.
    /// ``jsonIDField`` reads `{"id":"…"}` messages.
    public var resumeID: (@Sendable (WebSocketMessage) -> String?)?
    /// The id to resume after on the first connection.
    public var lastEventID: String?

    public init() {}

    /// The `id` member of a JSON text message (a string or an integer), as Sluice channels send.
    public static let jsonIDField: @Sendable (WebSocketMessage) -> String? = { message in
        guard case .text(let text) = message,
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return nil }
        if let id = object["id"] as? String { return id }
        return (object["id"] as? NSNumber).map { $0.stringValue }
    }
}

/// A WebSocket client: handshake (key, accept check, subprotocols, permessage-deflate offer),
/// masked frames, fragment reassembly and UTF-8 checks (the same codec as the server), ping
/// heartbeat with a pong timeout, close with code and reason, and reconnection with backoff.
///
/// ```swift
/// let ws = try WebSocketTransport(url: "ws://127.0.0.1:8080/ws/echo", loop: loop)
/// ws.connect()
/// try await ws.send(text: "hello")
/// for await event in ws.events { if case .message(let m) = event { print(m) } }
/// ```
public final class WebSocketTransport: Sendable {
    public let endpoint: ClientEndpoint
    public let configuration: WebSocketTransportConfiguration
    private let loop: EventLoop
    let buffer: MessageBuffer<TransportEvent>
    let recorder = TransportMetricsRecorder(kind: .webSocket)
    let handlers = TransportEventHandlers()
    let locked = Locked(State())

    struct State {
        var closed = false
        var task: Task<Void, Never>?
        var session: UnsafeSendable<WebSocketClientSession>?
        var abort: (@Sendable () -> Void)?
        var delivered = 0
        var subprotocol: String?
        var paused = false
        var lastEventID = ""
    }

    public enum SetupError: Error { case badURL(String) }
    /// Thrown by `send` while no connection is open.
    public struct NotConnectedError: Error {}

    public init(url: String, configuration: WebSocketTransportConfiguration = WebSocketTransportConfiguration(), loop: EventLoop) throws {
        guard let endpoint = ClientEndpoint(url: url) else { throw SetupError.badURL(url) }
        self.endpoint = endpoint
        self.configuration = configuration
        self.loop = loop
        buffer = .forTransport(maxSize: configuration.maxBufferSize, strategy: configuration.strategy,
                               highWaterMark: configuration.highWaterMark, metrics: recorder, handlers: handlers)
        locked.withLock { $0.lastEventID = configuration.lastEventID ?? "" }
    }

    public var events: AsyncStream<TransportEvent> { buffer.stream }

    /// Calls `handler` for every event of `kind` as it is produced (see ``TransportEventKind``); the
    /// `events` sequence is unaffected. Register before `connect()` to see every event.
    ///
    /// ```swift
    /// transport.on(.error) { event in print("error:", event) }
    /// ```
    public func on(_ kind: TransportEventKind, _ handler: @escaping @Sendable (TransportEvent) -> Void) {
        handlers.add(kind, handler)
    }

    /// Where the transport is in its life (`.connected` while a connection is open).
    public var state: TransportMetrics.State { recorder.currentState }

    /// Counters and state right now (``TransportMetrics``).
    public var metrics: TransportMetrics { recorder.snapshot(bufferSize: buffer.count, dropped: buffer.droppedCount) }

    /// The id a reconnection resumes after (see ``WebSocketTransportConfiguration/resumeID``).
    public var lastEventID: String { locked.withLock { $0.lastEventID } }

    /// The subprotocol the server chose on the current connection.
    public var subprotocol: String? { locked.withLock { $0.subprotocol } }
    public var droppedCount: Int { buffer.droppedCount }

    /// Events waiting in the buffer for the consumer.
    public var bufferedCount: Int { buffer.count }

    public func connect() {
        locked.withLock { s in
            guard s.task == nil, !s.closed else { return }
            s.task = Task {
                await ReconnectLoop.run(
                    policy: self.configuration.reconnect, buffer: self.buffer,
                    isClosed: { self.locked.withLock { $0.closed } },
                    deliveredLastAttempt: { self.locked.withLock { $0.delivered } },
                    serverRetry: { nil },
                    state: { self.state },
            attempt: { _ in await self.connectOnce() })
            }
        }
    }

    public func send(text: String) async throws { try send(.text, Array(text.utf8)) }
    public func send(binary: [UInt8]) async throws { try send(.binary, binary) }

    /// Sends a value as a JSON text message.
    public func send<T: Encodable & Sendable>(json value: T) async throws {
        try send(.text, Array(try JSONTextEncoder.encode(value).utf8))
    }

    /// Closes with a close frame (code and reason), then reports `.closed`; no reconnection.
    public func close(code: WebSocketCloseCode = .normal, reason: String = "") {
        let (session, abort) = locked.withLock { s in
            s.closed = true
            return (s.session, s.abort)
        }
        loop.execute {
            // With a connection, the close handshake ends the attempt; between attempts, stop waiting.
            if let session { session.value.closeFromClient(code: code, reason: reason) } else { abort?() }
        }
    }

    public func pause() { setPaused(true) }
    public func resume() { setPaused(false) }

    private func setPaused(_ paused: Bool) {
        let session = locked.withLock { s -> UnsafeSendable<WebSocketClientSession>? in
            s.paused = paused
            return s.session
        }
        loop.execute { session?.value.setReading(!paused) }
    }

    private func send(_ opcode: WebSocketOpcode, _ payload: [UInt8]) throws {
        guard let session = locked.withLock({ $0.session }) else { throw NotConnectedError() }
        recorder.sent(bytes: payload.count)
        // Frames are encoded on the loop, in submission order, so compression state matches the wire.
        loop.execute { session.value.sendMessage(opcode, payload) }
    }

    private func connectOnce() async -> AttemptOutcome {
        let gate = AttemptGate()
        let finish: @Sendable (AttemptOutcome) -> Void = { gate.finish($0) }
        locked.withLock { $0.abort = { finish(.failure(.transport("closed"), nil)) } }
        if locked.withLock({ $0.closed }) { return .failure(.transport("closed"), nil) }
        let loop = self.loop
        loop.execute {
            let session = WebSocketClientSession(transport: self, loop: loop, finish: finish)
            self.locked.withLock {
                $0.session = UnsafeSendable(session)
                $0.delivered = 0
            }
            session.start(paused: self.locked.withLock { $0.paused })
        }
        let outcome = await gate.wait()
        let finished = locked.withLock { s in
            defer { s.session = nil; s.abort = nil }
            return s.session
        }
        // The session owns loop resources (a timer, a bufferevent): let its last reference go there.
        loop.execute { _ = finished }
        return outcome
    }
}

/// One WebSocket connection of a transport, on the loop thread.
final class WebSocketClientSession: ClientAttempt {
    private let transport: WebSocketTransport
    private let key: String
    private var parser = WebSocketFrameParser(role: .client)
    private var assembler: WebSocketMessageAssembler
    private var deflater: MessageDeflater?
    private var open = false
    private var closeSent = false
    private let heartbeat: LoopTimer
    private var pingOutstanding = false
    /// When the outstanding ping left, for the round-trip figure in the metrics.
    private var pingSentAt: ContinuousClock.Instant?

    init(transport: WebSocketTransport, loop: EventLoop, finish: @escaping @Sendable (AttemptOutcome) -> Void) {
        self.transport = transport
        var nonce = [UInt8](repeating: 0, count: 16)
        for i in nonce.indices { nonce[i] = UInt8.random(in: 0...255) }
        var encoded = [UInt8](repeating: 0, count: 32)
        let n = EVP_EncodeBlock(&encoded, nonce, 16)
        key = String(decoding: encoded[..<Int(n)], as: UTF8.self)
        assembler = WebSocketMessageAssembler(maxMessageSize: transport.configuration.maxMessageSize)
        heartbeat = LoopTimer(loop: loop)
        super.init(loop: loop, delivery: BufferedDelivery(
            buffer: transport.buffer, loop: loop,
            userPaused: { transport.locked.withLock { $0.paused } },
            counted: { n in transport.locked.withLock { $0.delivered += n } }), finish: finish)
        recorder = transport.recorder
    }

    /// A whole message: remember its id for resuming, then hand it on.
    private func received(_ message: WebSocketMessage) {
        if let resumeID = transport.configuration.resumeID, let id = resumeID(message) {
            transport.locked.withLock { $0.lastEventID = id }
        }
        deliver([.message(message)])
    }

    func start(paused: Bool) {
        let configuration = transport.configuration
        let endpoint = transport.endpoint
        var head = "GET \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.authority)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        head += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if !configuration.subprotocols.isEmpty { head += "Sec-WebSocket-Protocol: \(configuration.subprotocols.joined(separator: ", "))\r\n" }
        if configuration.compression { head += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" }
        for (name, value) in configuration.headers { head += "\(name): \(value)\r\n" }
        let lastEventID = transport.locked.withLock { $0.lastEventID }
        if !lastEventID.isEmpty { head += "Last-Event-ID: \(lastEventID)\r\n" }
        head += "\r\n"
        let tls = configuration.tls ?? (endpoint.secure ? try? ClientTLS() : nil)
        let connection = HTTP1ClientConnection(loop: loop, endpoint: endpoint, request: Array(head.utf8), tls: tls) { [unowned self] event in
            self.handle(event)
        }
        self.connection = connection
        connection.start()
        arm(configuration.timeouts)
        if paused { connection.pauseReading() }
    }

    func setReading(_ reading: Bool) {
        // Resuming while events still wait for room would overfill; the delivery resumes it then.
        if !reading { connection?.pauseReading() } else if !delivery.isWaiting { connection?.resumeReading() }
    }

    private func handle(_ event: HTTP1ClientConnection.Event) {
        if ended { return }
        observe(event)
        switch event {
        case .connected:
            break
        case .head(let status, let headers):
            let header = { (name: String) in headers.first { $0.name.lowercased() == name }?.value }
            guard status == 101 else { return endWithStatus(status, headers: headers) }
            guard header("sec-websocket-accept") == WebSocketHandshake.acceptKey(for: key) else {
                return end(.failure(.status(400, retryAfter: nil),
                                    TransportError(message: "handshake: wrong Sec-WebSocket-Accept", statusCode: 101, recoverable: false, attempt: 0)))
            }
            if let extensions = header("sec-websocket-extensions"), transport.configuration.compression,
               let params = PerMessageDeflateParameters.negotiate(offers: extensions) {
                // Our side compresses with the client's parameters, the server's side inflates.
                deflater = MessageDeflater(windowBits: params.clientMaxWindowBits, noContextTakeover: params.clientNoContextTakeover)
                parser.allowsRSV1 = true
                assembler = WebSocketMessageAssembler(
                    maxMessageSize: transport.configuration.maxMessageSize,
                    inflater: MessageInflater(noContextTakeover: params.serverNoContextTakeover))
            }
            transport.locked.withLock { $0.subprotocol = header("sec-websocket-protocol") }
            open = true
            transport.buffer.insertOutOfBand(.connected)
            scheduleHeartbeat()
        case .body(let bytes):
            parser.append(bytes)
            do {
                while let frame = try parser.next() {
                    guard let event = try assembler.push(frame) else { continue }
                    switch event {
                    case .text(let text): received(.text(text))
                    case .binary(let bytes): received(.binary(bytes))
                    case .ping(let payload): write(WebSocketFrame(opcode: .pong, payload: payload))
                    case .pong:
                        pingOutstanding = false
                        if let sent = pingSentAt {
                            transport.recorder.roundTrip(.now - sent)
                            pingSentAt = nil
                        }
                    case .close(let code, _):
                        if !closeSent {
                            closeSent = true
                            write(WebSocketFrame(opcode: .close, payload: code.map { WebSocketFrameEncoder.closePayload($0, reason: "") } ?? []))
                        }
                        // A normal close from the server ends the stream; anything else is a drop to recover from.
                        return end(code == .normal ? .done : .failure(.ended, nil))
                    }
                }
            } catch {
                write(WebSocketFrame(opcode: .close, payload: WebSocketFrameEncoder.closePayload(error.code, reason: error.reason)))
                end(.failure(.transport(error.description), TransportError(message: "protocol error: \(error)", statusCode: nil, recoverable: false, attempt: 0)))
            }
        case .end:
            end(.failure(.ended, nil))
        case .failed(let reason):
            endWithTransportFailure(reason)
        }
    }

    func sendMessage(_ opcode: WebSocketOpcode, _ payload: [UInt8]) {
        guard open, !closeSent else { return }
        if let deflater, payload.count >= 64 {
            write(WebSocketFrame(rsv1: true, opcode: opcode, payload: deflater.compress(payload)))
        } else {
            write(WebSocketFrame(opcode: opcode, payload: payload))
        }
    }

    /// Sends our close frame; the server's answer (or a timeout) ends the attempt.
    func closeFromClient(code: WebSocketCloseCode, reason: String) {
        guard !ended else { return }
        guard open, !closeSent else { return end(.failure(.transport("closed"), nil)) }
        closeSent = true
        write(WebSocketFrame(opcode: .close, payload: WebSocketFrameEncoder.closePayload(code, reason: reason)))
        heartbeat.schedule(after: transport.configuration.pongTimeout) { [weak self] in
            self?.end(.failure(.transport("closed"), nil))
        }
    }

    private func write(_ frame: WebSocketFrame) {
        let key = (UInt8.random(in: 0...255), UInt8.random(in: 0...255), UInt8.random(in: 0...255), UInt8.random(in: 0...255))
        // WebSocket runs over HTTP/1.1 Upgrade only: the connection is always that one.
        (connection as? HTTP1ClientConnection)?.send(WebSocketFrameEncoder.encode(frame, maskingKey: key))
    }

    private func scheduleHeartbeat() {
        guard let interval = transport.configuration.heartbeatInterval else { return }
        heartbeat.schedule(after: interval) { [weak self] in
            guard let self, !self.ended else { return }
            if self.pingOutstanding { return }  // the pong timer below decides
            self.pingOutstanding = true
            self.pingSentAt = .now
            self.write(WebSocketFrame(opcode: .ping, payload: []))
            self.heartbeat.schedule(after: self.transport.configuration.pongTimeout) { [weak self] in
                guard let self, !self.ended else { return }
                if self.pingOutstanding {
                    self.end(.failure(.transport("pong timeout"), TransportError(message: "no pong within the timeout", statusCode: nil, recoverable: false, attempt: 0)))
                } else {
                    self.scheduleHeartbeat()
                }
            }
        }
    }

    override func willEnd() { heartbeat.cancel() }
}
