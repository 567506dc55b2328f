import DequeModule
import SluiceCore

/// The receiving half of one WebSocket connection, run as the bytes arrive (inside the connection's
/// read, through ``InboundBody/deliver(to:)``): frames become messages in the handler's inbox with no
/// task switch per message.
///
/// What needs a write that may wait (a pong, the reply to a close) or the session's decision (a
/// protocol error, the end of the transport) is handed to the session's task as a ``Step``; reading
/// holds until the task has done it, so a peer that pings without reading is held back by TCP or
/// HTTP/2 flow control. Reading also holds while the inbox is full, keeping the message it has.
///
/// ```swift
/// let reader = WebSocketReader(ws, deflate: agreement.deflate, options: options)
/// reader.start(request.bodyStream)
/// while case .pong(let payload) = await reader.nextStep() { … request.bodyStream.resumeDelivery() }
/// ```
final class WebSocketReader: @unchecked Sendable {
    enum Step {
        /// A ping arrived: answer it, then resume delivery.
        case pong([UInt8])
        /// The peer has been silent (``WebSocketKeepAlive``): ping it. Delivery does not wait for it.
        case ping
        /// The peer's close frame arrived; `reply`: ours has not been sent, so echo `code`.
        case closeReceived(reply: Bool, code: WebSocketCloseCode?)
        /// The peer broke the protocol (RFC 6455 §7.1.7: fail the connection).
        case protocolError(WebSocketProtocolError)
        /// The transport ended: the peer closed the socket, the stream was reset, a timeout, or the
        /// session was cancelled.
        case transportEnded
    }

    private let ws: WebSocket
    // Used only inside deliveries, which never overlap (``InboundBody/deliver(to:)``).
    private var parser: WebSocketFrameParser
    private var assembler: WebSocketMessageAssembler
    /// The message the full inbox refused; offered again first.
    private var held: WebSocketMessage?
    // Guarded by `lock`.
    private let lock = Lock()
    private var steps = Deque<Step>()
    private var waiter: CheckedContinuation<Step, Never>?
    /// A final step was posted: later deliveries and steps are ignored.
    private var ended = false

    init(_ ws: WebSocket, deflate: PerMessageDeflateParameters?, options: WebSocketOptions) {
        self.ws = ws
        let inflater = deflate.map { MessageInflater(noContextTakeover: $0.clientNoContextTakeover) }
        parser = WebSocketFrameParser(role: .server, allowsRSV1: inflater != nil, maxFramePayload: options.maxMessageSize)
        assembler = WebSocketMessageAssembler(maxMessageSize: options.maxMessageSize, inflater: inflater)
    }

    /// Starts taking `inbound`'s bytes (those already buffered first).
    func start(_ inbound: InboundBody) {
        // Weak: the body holds this reader (its consumer), which holds the inbox.
        ws.messages.whenRoom { [weak inbound] in inbound?.resumeDelivery() }
        inbound.deliver { [self] delivery in take(delivery) }
    }

    /// The next step for the session's task. Cancelling the task ends the reading
    /// (``Step/transportEnded``).
    func nextStep() async -> Step {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Step, Never>) in
                let step = lock.withLock { () -> Step? in
                    if let step = steps.popFirst() { return step }
                    waiter = continuation
                    return nil
                }
                if let step { continuation.resume(returning: step) }
            }
        } onCancel: {
            post(.transportEnded)
        }
    }

    /// Asks the session's task to ping the peer.
    func requestPing() { post(.ping) }

    /// Ends reading now, whatever it holds (the keep-alive found the peer gone).
    func end() { post(.transportEnded) }

    // MARK: Deliveries

    private func take(_ delivery: InboundBody.Delivery) -> Bool {
        if lock.withLock({ ended }) { return false }
        switch delivery {
        case .bytes(let chunk):
            ws.state.withLock { $0.lastHeard = .now }
            parser.append(chunk)
            return readFrames()
        case .resumed:
            return readFrames()
        case .end, .failed:
            post(.transportEnded)
            return false
        }
    }

    /// Decodes what the parser holds; false when reading must hold (full inbox, a step to do first,
    /// or the end).
    private func readFrames() -> Bool {
        if let message = held {
            guard ws.messages.offer(message) else { return false }
            held = nil
        }
        do {
            while let frame = try parser.next() {
                guard let event = try assembler.push(frame) else { continue }
                switch event {
                case .text(let text):
                    if !hand(.text(text)) { return false }
                case .binary(let bytes):
                    if !hand(.binary(bytes)) { return false }
                case .ping(let payload):
                    post(.pong(payload))
                    return false
                case .pong:
                    ws.state.withLock { $0.pingOutstanding = nil }
                case .close(let code, _):
                    let reply = ws.state.withLock { s -> Bool in
                        s.closeReceived = true
                        if s.closeCode == nil { s.closeCode = code ?? .noStatus }
                        defer { s.closeSent = true }
                        return !s.closeSent
                    }
                    post(.closeReceived(reply: reply, code: code))
                    return false
                }
            }
        } catch {
            post(.protocolError(error))
            return false
        }
        return true
    }

    /// Gives a message to the handler (dropped once our close is sent); false when the inbox is
    /// full and the message is held.
    private func hand(_ message: WebSocketMessage) -> Bool {
        if ws.state.withLock({ $0.closeSent }) { return true }
        if ws.messages.offer(message) { return true }
        held = message
        return false
    }

    private func post(_ step: Step) {
        let waiter = lock.withLock { () -> CheckedContinuation<Step, Never>? in
            if ended { return nil }
            switch step {
            case .pong, .ping: break
            case .closeReceived, .protocolError, .transportEnded: ended = true
            }
            if let waiter = self.waiter {
                self.waiter = nil
                return waiter
            }
            steps.append(step)
            return nil
        }
        waiter?.resume(returning: step)
    }
}
