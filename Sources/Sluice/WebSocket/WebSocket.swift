import SluiceCore

/// One WebSocket connection as a handler sees it, over HTTP/1.1 (Upgrade) or HTTP/2 (RFC 8441).
///
/// Incoming messages arrive whole (fragments reassembled, decompressed, UTF-8 checked) through
/// ``messages``; ping, pong and the close handshake are handled below the handler. `send` suspends
/// while the peer is behind and throws once the connection is closing.
///
/// ```swift
/// router.webSocket("/echo") { request, ws in
///     for await message in ws.messages { try await ws.send(message) }
/// }
/// ```
public final class WebSocket: Sendable {
    /// The subprotocol both sides agreed on, if any.
    public let subprotocol: String?
    /// Messages from the peer; the sequence ends when the connection closes.
    public let messages: WebSocketInbox

    let sink: ResponseSink
    let options: WebSocketOptions
    private let deflater: Locked<MessageDeflater?>
    private let sendOrder = AsyncLock()
    let state = Locked(State())

    struct State {
        var closeSent = false
        var closeReceived = false
        /// Our close code, or the peer's.
        var closeCode: WebSocketCloseCode?
        var lastHeard = ContinuousClock.now
        var pingOutstanding: ContinuousClock.Instant?
        /// The peer broke the protocol: whatever closes the connection uses this code.
        var failure: WebSocketProtocolError?
        /// Data messages sent, for the `drop_after` fault.
        var sent = 0
        var dropAfter: Int?
    }

    init(sink: ResponseSink, options: WebSocketOptions, subprotocol: String?, deflate: PerMessageDeflateParameters?) {
        self.sink = sink
        self.options = options
        self.subprotocol = subprotocol
        messages = WebSocketInbox(depth: options.inboundQueueDepth)
        deflater = Locked(deflate.map {
            MessageDeflater(windowBits: $0.serverMaxWindowBits, noContextTakeover: $0.serverNoContextTakeover)
        })
    }

    /// The close code once the connection is closing: ours if we closed first, else the peer's.
    public var closeCode: WebSocketCloseCode? { state.withLock { $0.closeCode } }

    /// Thrown by `send` once the close handshake has begun.
    public struct ClosedError: Error, Sendable {}

    public func send(_ message: WebSocketMessage) async throws {
        switch message {
        case .text(let text): try await sendData(.text, Array(text.utf8))
        case .binary(let bytes): try await sendData(.binary, bytes)
        }
    }

    public func send(text: String) async throws { try await sendData(.text, Array(text.utf8)) }
    public func send(binary: [UInt8]) async throws { try await sendData(.binary, binary) }

    public func ping(_ payload: [UInt8] = []) async throws {
        try await sendControl(.ping, Array(payload.prefix(125)))
    }

    /// Starts the close handshake (if not begun) and waits, up to the close timeout, for the peer's
    /// answer. Later sends throw.
    public func close(code: WebSocketCloseCode = .normal, reason: String = "") async {
        let first = state.withLock { s -> (code: WebSocketCloseCode, reason: String)? in
            guard !s.closeSent else { return nil }
            s.closeSent = true
            let chosen = s.failure.map { ($0.code, $0.reason) } ?? (code, reason)
            if s.closeCode == nil || s.failure != nil { s.closeCode = chosen.0 }
            return chosen
        }
        guard let first else { return }
        try? await writeFrame(WebSocketFrame(opcode: .close, payload: WebSocketFrameEncoder.closePayload(first.code, reason: first.reason)))
        // Reading finishes the connection when the peer answers; this bounds the wait.
        let deadline = ContinuousClock.now + options.closeTimeout
        while !state.withLock({ $0.closeReceived }) && ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
    }

    /// Sends the close frame for a protocol error, after any data message being sent.
    func closeForFailure(_ error: WebSocketProtocolError) async {
        // A handler that just took a message runs on until its send has begun; then the send order
        // lock queues this close frame behind that message.
        for _ in 0..<4 { await Task.yield() }
        await sendOrder.withLock {
            let send = state.withLock { s -> Bool in
                defer { s.closeSent = true; s.closeCode = error.code }
                return !s.closeSent
            }
            if send {
                try? await writeFrame(WebSocketFrame(opcode: .close, payload: WebSocketFrameEncoder.closePayload(error.code, reason: error.reason)))
            }
        }
    }

    private func sendData(_ opcode: WebSocketOpcode, _ payload: [UInt8]) async throws {
        let (closed, drop) = state.withLock { s -> (Bool, Bool) in
            defer { s.sent += 1 }
            return (s.closeSent, s.sent == s.dropAfter)
        }
        if closed { throw ClosedError() }
        if drop {
            // The `drop_after` fault: the connection goes without a close frame, as a crash would.
            await InjectedDrop.letPendingOut(sink)
            sink.abort()
            throw InjectedDrop()
        }
        // Compression state and wire order must agree: one data message at a time.
        try await sendOrder.withLock {
            let compressed: [UInt8]? = payload.count >= options.compressionThreshold
                ? deflater.withLock { $0?.compress(payload) } : nil
            let frame = WebSocketFrame(rsv1: compressed != nil, opcode: opcode, payload: compressed ?? payload)
            try await writeFrame(frame)
        }
    }

    func sendControl(_ opcode: WebSocketOpcode, _ payload: [UInt8]) async throws {
        if state.withLock({ $0.closeSent }) { throw ClosedError() }
        try await writeFrame(WebSocketFrame(opcode: opcode, payload: payload))
    }

    func writeFrame(_ frame: WebSocketFrame) async throws {
        try await sink.write(WebSocketFrameEncoder.encode(frame))
    }
}
